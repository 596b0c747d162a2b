"""The audit log for investigations: readable actions, targets as links, filters, CSV export."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

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
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["action_words"] for row in rows] == ["Recorded a decision"]
    assert rows[0]["actor"] == "rita.reviewer@example.com" and len(rows[0]["entry_hash"]) == 64
    page = client.get("/review/audit/", {"actor": "rita."}).content.decode()
    assert 'href="/review/audit/export.csv?actor=rita."' in page
