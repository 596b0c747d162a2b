import pytest

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker_without_login(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert "broker" in body


def test_healthz_answers_503_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    from iamreview.celery import app

    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = None
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")


def test_healthz_with_a_real_redis_broker_is_ok(client, settings, redis_url):
    settings.CELERY_BROKER_URL = redis_url
    from iamreview.celery import app

    app.conf.broker_url = redis_url
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = None
    assert response.status_code == 200
    assert response.json()["broker"] == "ok"


def test_healthz_reports_the_filesystem_broker_that_make_run_starts(
    client, settings, tmp_path, monkeypatch
):
    # `make run` leaves settings.CELERY_BROKER_URL empty and points the Celery app at its
    # broker at run time: /healthz said "not configured (tasks run in-process)" there.
    from findings.management.commands.rundemo import use_filesystem_broker
    from iamreview.celery import app

    settings.CELERY_BROKER_URL = ""
    # use_filesystem_broker sets these for the worker; monkeypatch puts them back afterwards.
    monkeypatch.setenv("CELERY_BROKER_URL", "")
    monkeypatch.setenv("CELERY_BROKER_FOLDER", "")
    names = ("broker_url", "broker_transport_options", "result_backend", "task_always_eager")
    before = {name: app.conf[name] for name in names}
    try:
        use_filesystem_broker(tmp_path / "celery-broker")
        response = client.get("/healthz")
    finally:
        app.conf.update(before)
    assert response.status_code == 200
    assert response.json()["broker"] == "ok"
