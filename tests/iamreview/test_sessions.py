"""Sessions are Django's database sessions, read as one plain statement (iamreview/sessions.py)."""

from datetime import timedelta
from importlib import import_module
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from iamreview.celery import clear_expired_sessions
from iamreview.sessions import CLEAR_BATCH, SessionStore

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def test_a_saved_session_reads_back_and_an_expired_or_unknown_one_is_empty():
    store = SessionStore()
    store["person"] = 7
    store.save()
    assert SessionStore(store.session_key).load() == {"person": 7}
    Session.objects.filter(pk=store.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    expired = SessionStore(store.session_key)
    assert expired.load() == {} and expired.session_key is None
    assert SessionStore("nosuchsessionkey").load() == {}


def test_logging_out_ends_the_session_on_the_server(client, reviewer):
    client.force_login(reviewer)
    assert client.get("/review/").status_code == 200
    key = client.session.session_key
    client.post("/accounts/logout/")
    assert not Session.objects.filter(pk=key).exists()
    assert SessionStore(key).load() == {}


def scheduled_code() -> str:
    """The source of every task the beat schedule names, and the deployment files."""
    from celery import current_app

    import iamreview.celery  # noqa: F401  (registers the tasks)

    current_app.loader.import_default_modules()
    texts = []
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        task = current_app.tasks[entry["task"]]
        module = import_module(task.run.__module__)
        texts.append(Path(module.__file__).read_text())
    for path in [ROOT / "docker-compose.yml", ROOT / "Makefile", *ROOT.glob("deploy/**/*")]:
        if path.is_file():
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def test_expired_sessions_are_cleared_by_something_scheduled():
    """Django deletes a database session only in `clearsessions` (clear_expired): without a
    scheduled run every sign-in's row stays for ever after it expires."""
    code = scheduled_code()
    assert "clear_expired" in code or "clearsessions" in code


def test_the_daily_task_clears_every_expired_session_in_batches_and_keeps_live_ones():
    now = timezone.now()
    Session.objects.bulk_create(
        Session(session_key=f"expired{n:025d}", session_data="", expire_date=now - timedelta(n))
        for n in range(1, 2 * CLEAR_BATCH + 500)
    )
    live = SessionStore()
    live["person"] = 7
    live.save()

    assert clear_expired_sessions.apply().get() == 2 * CLEAR_BATCH + 499
    assert list(Session.objects.values_list("pk", flat=True)) == [live.session_key]
    assert SessionStore(live.session_key).load() == {"person": 7}
    # Nothing left to do: running it again deletes nothing.
    assert clear_expired_sessions.apply().get() == 0
