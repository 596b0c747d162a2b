"""A real Celery worker on the real Redis runs a task and returns its result."""

import uuid

import pytest

from iamreview.celery import app, heartbeat
from tests.conftest import solo_worker


@pytest.mark.services
def test_a_real_worker_runs_the_heartbeat_task(celery_on_redis):
    queue = f"iamreview-test-{uuid.uuid4().hex[:8]}"  # no other test run's worker takes it
    with solo_worker(celery_on_redis, queue=queue):
        result = celery_on_redis.send_task(heartbeat.name, queue=queue)
        assert result.get(timeout=30) == "ok"


def test_without_a_broker_tasks_run_in_process(settings):
    assert app.conf.task_always_eager is (not settings.CELERY_BROKER_URL)
    if not settings.CELERY_BROKER_URL:
        assert app.tasks[heartbeat.name].delay().get(timeout=10) == "ok"


def test_beat_schedule_and_reliability_settings_come_from_settings():
    assert {"heartbeat", "schedule-collections", "open-scheduled-cycles"} <= set(
        app.conf.beat_schedule
    )
    assert app.conf.task_acks_late is True
    assert app.conf.task_time_limit > app.conf.task_soft_time_limit > 0
