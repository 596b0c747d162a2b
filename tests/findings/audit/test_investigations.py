"""The audit log for investigations: readable actions, targets as links, filters, CSV export."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from findings.audit.selectors import audit_actions
from findings.audit.services import record
from findings.models import AuditEntry
from tests.findings.history import analyze, reads
from tests.findings.reviews.test_views import decide, item_of, login, quarterly_cycle

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(reviewer, second_reviewer):
    cycle = quarterly_cycle()
    decide(item_of(cycle, "alice"), reviewer, justification="Rita decided: on-call needs it")
    decide(item_of(cycle, "bob"), second_reviewer, justification="Sam decided: the batch needs it")
    return cycle


def test_actions_read_as_words_and_targets_link_to_their_pages(client, history, auditor):
    login(client, auditor)
    page = client.get("/review/audit/").content.decode()
    assert "Recorded a decision" in page and "Opened a review cycle" in page
    assert f'<a href="/review/cycles/{history.pk}/">' in page
    assert f'<a href="/review/items/{item_of(history, "alice").pk}/">' in page


def test_the_log_filters_by_actor_action_target_and_date_range(
    client, history, auditor, django_assert_max_num_queries
):
    login(client, auditor)
    with django_assert_max_num_queries(12):
        page = client.get(
            "/review/audit/", {"actor": "sam.", "action": "decision.recorded"}
        ).content.decode()
    assert "1 entry matches these filters" in page and "Sam decided" in page
    page = client.get("/review/audit/", {"target": "alice"}).content.decode()
    assert "Rita decided" in page and "Sam decided" not in page
    today = timezone.localdate()
    yesterday = (today - timedelta(days=1)).isoformat()
    since_today = client.get("/review/audit/", {"since": today.isoformat()}).content.decode()
    assert "Rita decided" in since_today
    empty = client.get("/review/audit/", {"until": yesterday}).content.decode()
    assert "0 entries match these filters" in empty


@pytest.mark.parametrize("url", ["/review/audit/", "/review/audit/export.csv"])
def test_the_first_and_last_days_of_the_calendar_are_open_ends(
    client, history, auditor, url, settings
):
    """The day after 9999-12-31 and the start of 0001-01-01 east of UTC are no datetimes:
    such a range was a 500 (OverflowError); it means "from the start" or "to the end"."""
    settings.TIME_ZONE = "Asia/Tokyo"
    login(client, auditor)
    response = client.get(url, {"since": "0001-01-01", "until": "9999-12-31"})
    assert response.status_code == 200
    assert (
        "Rita decided"
        in b"".join(
            response.streaming_content if response.streaming else [response.content]
        ).decode()
    )


def test_an_unreadable_date_is_a_400_that_says_why(client, history, auditor):
    login(client, auditor)
    response = client.get("/review/audit/", {"since": "last tuesday"})
    assert response.status_code == 400
    assert "is not a date: use YYYY-MM-DD." in response.content.decode()
    response = client.get(
        "/review/audit/export.csv", {"since": "2026-12-01", "until": "2026-01-01"}
    )
    assert response.status_code == 400
    assert "before its start" in response.content.decode()
    # On the page, the end is left out, as the message says: the entries still show.
    page = client.get("/review/audit/", {"since": "2020-01-01", "until": "2019-01-01"})
    assert "That filter is left out below." in page.content.decode()
    assert "Rita decided" in page.content.decode()


def test_the_filtered_log_exports_as_csv_for_auditors_only(client, history, auditor, reviewer):
    login(client, reviewer)
    assert client.get("/review/audit/export.csv").status_code == 403
    login(client, auditor)
    response = client.get("/review/audit/export.csv", {"actor": "rita."})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["action_words"] for row in rows] == ["Recorded a decision"]
    assert rows[0]["actor"] == "rita.reviewer@example.com" and len(rows[0]["entry_hash"]) == 64
    page = client.get("/review/audit/", {"actor": "rita."}).content.decode()
    assert 'href="/review/audit/export.csv?actor=rita."' in page


def test_the_streamed_export_keeps_cells_from_running_as_formulas(client, auditor):
    record(
        actor=None,
        action="exclusion.created",
        target_type="exclusion",
        target_id=1,
        target_label='=HYPERLINK("https://evil.example")',
    )
    login(client, auditor)
    response = client.get("/review/audit/export.csv", {"action": "exclusion.created"})
    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert row["target_label"] == '\'=HYPERLINK("https://evil.example")'


def test_the_list_of_actions_names_each_action_in_the_log_once_in_order():
    for action in ["role.granted", "decision.recorded", "aws_account.added", "role.granted"]:
        record(actor=None, action=action, target_type="thing", target_id=1)
    assert audit_actions() == [
        ("aws_account.added", "Added an AWS account"),
        ("decision.recorded", "Recorded a decision"),
        ("role.granted", "Granted a role"),
    ]


# --- A log of years ---------------------------------------------------------------------------


def add_audit(count: int, *, start: int) -> None:
    now = timezone.now()
    actions = ["decision.recorded", "cycle.opened", "account.added", "person.changed"]
    AuditEntry.objects.bulk_create(
        (
            AuditEntry(
                at=now,
                actor_label="system",
                action=actions[n % len(actions)],
                target_type="item",
                target_id=str(n),
                previous_hash=f"{n - 1:064d}",
                entry_hash=f"{n:064d}",
            )
            for n in range(start, start + count)
        ),
        batch_size=5000,
    )


def test_the_audit_pages_list_of_actions_does_not_read_the_whole_log():
    """Every view of the audit page (every filter, every page) fills its action drop-down: a
    year of 10,000-item cycles is hundreds of thousands of entries (README), and the list
    must not read them all on each view."""
    add_audit(1_000, start=0)
    analyze(AuditEntry)
    with reads(AuditEntry) as short:
        assert len(audit_actions()) == 4
    add_audit(30_000, start=1_000)
    analyze(AuditEntry)
    with reads(AuditEntry) as long:
        assert len(audit_actions()) == 4
    assert long.of(AuditEntry) <= 2 * short.of(AuditEntry), (
        f"read {short.of(AuditEntry)} entries for 4 actions in a log of 1,000, "
        f"{long.of(AuditEntry)} in a log of 31,000"
    )


def test_the_audit_csv_export_streams_rather_than_building_the_whole_log_in_memory(client, auditor):
    """The audit log is never purged; its CSV export (no filter: the whole log) is streamed
    from a server-side cursor, as the findings export is, not built at once in the web
    worker."""
    login(client, auditor)
    add_audit(20_000, start=10_000_000)
    response = client.get("/review/audit/export.csv")
    assert response.status_code == 200
    assert response.streaming
    rows = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert sum(row["target_type"] == "item" for row in rows) == 20_000
