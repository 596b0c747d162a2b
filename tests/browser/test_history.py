"""Back after filtering restores the filters with the results, without any console error."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_review_keyboard import five_user_cycle
from tests.findings.detection.test_detect import make_account
from tests.findings.detection.test_views import make_finding

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def five_findings():
    production = make_account()
    for name, severity in (
        ("legacy-batch", "critical"),
        ("checkout-api", "critical"),
        ("legacy-reports", "medium"),
        ("search-indexer", "high"),
        ("legacy-etl", "low"),
    ):
        make_finding(production, name, severity=severity)


def test_back_on_findings_restores_the_filters_and_the_results(
    page,
    live_server,
    reviewer,
    five_findings,
    log_in,
    csp_violations,
):
    log_in(reviewer)
    page.goto(f"{live_server.url}/findings/")
    severity = page.get_by_role("combobox", name="Severity")
    severity.select_option("critical")
    page.wait_for_url(re.compile(r"severity=critical"))
    expect(page.locator("#findings-table tbody tr")).to_have_count(2)
    severity.select_option("low")
    page.wait_for_url(re.compile(r"severity=low"))
    expect(page.locator("#findings-table tbody tr")).to_have_count(1)

    page.go_back()
    page.wait_for_url(re.compile(r"severity=critical"))
    expect(page.locator("#findings-table tbody tr")).to_have_count(2)
    expect(severity).to_have_value("critical")
    page.go_back()
    expect(page.locator("#findings-table tbody tr")).to_have_count(5)
    expect(severity).to_have_value("")
    assert csp_violations == []


def test_back_on_the_queue_restores_the_filters_and_the_results(
    page, live_server, reviewer, log_in, csp_violations
):
    cycle = five_user_cycle()
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/cycles/{cycle.pk}/")
    status = page.get_by_label("Status", exact=True)
    sort = page.get_by_label("Sort by")
    status.select_option("undecided")
    page.wait_for_url(re.compile(r"status=undecided"))
    sort.select_option("title")
    page.wait_for_url(re.compile(r"sort=title"))

    page.go_back()
    page.wait_for_url(re.compile(r"sort=severity"))
    expect(status).to_have_value("undecided")
    expect(sort).to_have_value("severity")
    page.go_back()
    expect(status).to_have_value("")
    assert csp_violations == []
