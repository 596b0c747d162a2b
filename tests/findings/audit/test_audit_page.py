"""The audit page's verdict: green only when every entry is keyed; an intact chain with
unkeyed entries is a warning, because their integrity rests on the database alone."""

import pytest

from accounts.permissions import Role
from findings.audit.services import record
from findings.audit.verify import forget_verification
from tests.conftest import make_person

pytestmark = pytest.mark.django_db


def some_entries(count: int) -> None:
    for n in range(count):
        record(actor=None, action="test.recorded", target_type="thing", target_id=n)


def verdict(client) -> str:
    forget_verification()
    page = client.get("/review/audit/").content.decode()
    return page[page.index('chain-result"') - 80 : page.index("</section>")]


def test_a_keyed_intact_chain_is_green(client, settings):
    settings.AUDIT_LOG_KEY = "the-key"
    some_entries(2)
    client.force_login(make_person("otto.auditor@example.com", Role.AUDITOR))

    shown = verdict(client)

    assert "callout-ok" in shown and '<span class="badge status-ok">Chain intact</span>' in shown
    assert "not keyed" not in shown and "status-warning" not in shown


def test_entries_written_before_the_key_make_the_verdict_a_warning(client, settings):
    settings.AUDIT_LOG_KEY = ""
    some_entries(3)
    settings.AUDIT_LOG_KEY = "the-new-key"
    client.force_login(make_person("otto.auditor@example.com", Role.AUDITOR))

    shown = verdict(client)

    assert "callout-warning" in shown and "callout-ok" not in shown
    assert '<span class="badge status-warning">Chain intact, not keyed</span>' in shown
    assert "status-ok" not in shown
    assert "the first 3 entries are not keyed (written without AUDIT_LOG_KEY)" in shown
    assert "their integrity rests on the database alone" in shown


def test_a_log_written_without_any_key_says_no_entry_is_keyed(client, settings):
    settings.AUDIT_LOG_KEY = ""
    some_entries(2)
    client.force_login(make_person("otto.auditor@example.com", Role.AUDITOR))

    shown = verdict(client)

    assert '<span class="badge status-warning">Chain intact, not keyed</span>' in shown
    assert "no entry is keyed: AUDIT_LOG_KEY was not set when they were written" in shown
    assert "Set <code>AUDIT_LOG_KEY</code>" in shown


def test_a_broken_chain_is_still_red(client, settings, postgres):
    settings.AUDIT_LOG_KEY = "the-key"
    some_entries(2)
    client.force_login(make_person("otto.auditor@example.com", Role.AUDITOR))
    settings.AUDIT_LOG_KEY = ""  # keyed entries, and no key here to check them

    shown = verdict(client)

    assert "Chain broken" in shown and "is keyed, but AUDIT_LOG_KEY is not set here" in shown
