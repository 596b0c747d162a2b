"""Sessions are Django's database sessions, read as one plain statement (iamreview/sessions.py)."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from iamreview.sessions import SessionStore

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
