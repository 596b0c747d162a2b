"""Shared fixtures: named personas, real-service guards, fake AWS credentials.

No test may reach AWS: credentials are fake and endpoints untouched (moto or Stubber serve).
Under IAMREVIEW_REQUIRE_SERVICES=1 (CI), a test that would skip for a missing service fails.
"""

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db.backends.signals import connection_created

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)
os.environ.pop("AWS_PROFILE", None)
# Playwright's sync API runs an event loop in the test thread; Django's ORM guard would refuse.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _allow_the_test_flush(sender, connection, **kwargs) -> None:
    """pytest-django empties tables with TRUNCATE between transactional tests; the audit log's
    trigger refuses TRUNCATE except in a session with this setting (findings migration 0009).
    Only the test runner's connections set it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET iamreview.test_flush = 'on'")


connection_created.connect(_allow_the_test_flush)


def services_required() -> bool:
    return os.environ.get("IAMREVIEW_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def missing_service(reason: str):
    """Skip for a missing service, or fail when CI requires every service."""
    if services_required():
        pytest.fail(f"Required service unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def audit_checkpoints_of_this_test(settings, tmp_path):
    """Checkpoints go to a directory of the test's own (never var/ of a `make run`)."""
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "audit-checkpoints")
    settings.AUDIT_CHECKPOINT_S3_BUCKET = ""


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache: cached counts and pages are keyed by the state of
    the findings, which repeats from test to test (an empty table, the same first ids)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def postgres(settings):
    """For tests that prove Postgres-only behaviour (locks, triggers)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        missing_service("needs DATABASE_URL pointing at PostgreSQL")
    return connection


@pytest.fixture
def committed_db(transactional_db, postgres):
    """Real commits on PostgreSQL, seen by other connections (threads, a Celery worker)."""
    return


def redis_url_of_this_worker(url: str, worker: str) -> str:
    """Under pytest-xdist each worker (gw0, gw1, ...) takes a Redis database of its own, counting
    down from the one given, so that one worker's broker queues and keys never meet another's."""
    if not worker.startswith("gw"):
        return url
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    database = parts.path.strip("/")
    number = int(database) if database.isdigit() else 0
    return parts._replace(path=f"/{(number - int(worker[2:])) % 16}").geturl()


@pytest.fixture(scope="session")
def redis_url():
    url = redis_url_of_this_worker(
        os.environ.get("IAMREVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        os.environ.get("PYTEST_XDIST_WORKER", ""),
    )
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.exceptions.RedisError as exc:
        missing_service(f"Redis at {url} unreachable: {exc}")
    return url


def make_person(email: str, *roles):
    from accounts.people import create_person

    user, _ = create_person(email=email, roles=list(roles), password="correct horse battery 9")
    return user


@pytest.fixture
def administrator(db):
    from accounts.permissions import Role

    return make_person("ada.admin@example.com", Role.ADMINISTRATOR)


@pytest.fixture
def reviewer(db):
    from accounts.permissions import Role

    return make_person("rita.reviewer@example.com", Role.REVIEWER)


@pytest.fixture
def second_reviewer(db):
    from accounts.permissions import Role

    return make_person("sam.reviewer@example.com", Role.REVIEWER)


@pytest.fixture
def approver(db):
    from accounts.permissions import Role

    return make_person("paula.approver@example.com", Role.APPROVER)


@pytest.fixture
def auditor(db):
    from accounts.permissions import Role

    return make_person("otto.auditor@example.com", Role.AUDITOR)


@pytest.fixture
def outsider(db):
    """Logged in, but holds no role."""
    return make_person("nina.norole@example.com")


PASSWORD = "correct horse battery 9"


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


@pytest.fixture
def celery_on_redis(redis_url):
    """A Celery app of its own on the real Redis, configured like the project's.

    The project's app has run tasks in-process in other tests, which caches a producer pool
    for the broker-less configuration; an app of its own avoids that state.
    """
    from celery import Celery

    worker_app = Celery("iamreview-test", set_as_current=False)
    worker_app.config_from_object("django.conf:settings", namespace="CELERY")
    worker_app.conf.update(broker_url=redis_url, result_backend=redis_url, task_always_eager=False)
    try:
        yield worker_app
    finally:
        worker_app.close()
        # A test may make this app the current one of its thread, to send through it.
        from iamreview.celery import app as project_app

        project_app.set_current()


@pytest.fixture
def broker_down():
    """Tasks are sent through a Celery app whose broker, and result backend (as in production:
    the broker's URL), is a closed port: Redis is down. No worker, no mock: kombu itself fails.
    """
    from celery import Celery

    from iamreview.celery import app as project_app

    closed = "redis://127.0.0.1:1/0"
    down = Celery("iamreview-broker-down", set_as_current=False)
    down.config_from_object("django.conf:settings", namespace="CELERY")
    down.conf.update(broker_url=closed, result_backend=closed, task_always_eager=False)
    down.set_current()
    try:
        yield down
    finally:
        down.close()
        project_app.set_current()


@contextmanager
def solo_worker(app, *, queue: str | None = None):
    """A real Celery worker for `app` in this process (solo pool), on `queue` when given: a
    queue of its own, so that no other test run's worker takes its tasks.

    Starting it makes `app` Celery's current app of this thread and its default app, the one
    every other thread falls back on: both are given back when it stops. Else a later test's
    requests (served in threads of their own) would send their tasks through this app, to this
    worker's broker, where no worker listens any more."""
    from celery import _state
    from celery.contrib.testing.worker import start_worker

    default_app, current_app = _state.default_app, _state._tls.current_app
    try:
        with start_worker(
            app,
            pool="solo",
            perform_ping_check=False,
            shutdown_timeout=10,
            **({"queues": [queue]} if queue else {}),
        ) as worker:
            yield worker
    finally:
        _state.set_default_app(default_app)
        _state._set_current_app(current_app)


ROOT = Path(__file__).resolve().parents[1]
# What a child Python needs before its own code: Django set up on a migrated database.
SQLITE_CHILD_PROLOGUE = f"""
import json, os, sys
sys.path.insert(0, {str(ROOT)!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "iamreview.settings"
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
"""


def run_on_sqlite(code: str, tmp_path):
    """Run `code` in a child Python whose database is a new SQLite file (the `make run`
    defaults), after the migrations; return the JSON its last line of output prints."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "AUDIT_LOG_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'child.sqlite3'}"
    child = subprocess.run(
        [sys.executable, "-c", SQLITE_CHILD_PROLOGUE + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])
