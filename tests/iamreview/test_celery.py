"""A real Celery worker on the real Redis runs a task and returns its result."""

import pytest
from celery.backends.redis import RedisBackend
from celery.contrib.testing.worker import start_worker
from celery.result import AsyncResult

from iamreview.celery import app, heartbeat


@pytest.fixture
def celery_on_redis(redis_url):
    saved = {key: app.conf[key] for key in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=redis_url, result_backend=redis_url, task_always_eager=False)
    try:
        yield app
    finally:
        app.conf.update(saved)


@pytest.mark.services
def test_a_real_worker_runs_the_heartbeat_task(celery_on_redis):
    # This thread's result backend was made before the fixture pointed the app at Redis.
    backend = RedisBackend(app=celery_on_redis, url=celery_on_redis.conf.result_backend)
    with start_worker(celery_on_redis, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        sent = heartbeat.delay()
        assert AsyncResult(sent.id, backend=backend).get(timeout=30) == "ok"


def test_without_a_broker_tasks_run_in_process(settings):
    assert app.conf.task_always_eager is (not settings.CELERY_BROKER_URL)
    if not settings.CELERY_BROKER_URL:
        assert heartbeat.delay().get() == "ok"


def test_beat_schedule_and_reliability_settings_come_from_settings():
    assert "heartbeat" in app.conf.beat_schedule
    assert app.conf.task_acks_late is True
    assert app.conf.task_time_limit > app.conf.task_soft_time_limit > 0
