"""A reviewer narrows the findings list in place (htmx) and opens a finding, under a strict CSP."""

import re

import pytest
from playwright.sync_api import expect

from tests.findings.detection.test_detect import make_account
from tests.findings.detection.test_views import make_finding

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def findings():
    production = make_account()
    staging = make_account("444455556666", "Staging")
    return [
        make_finding(production, "legacy-batch", severity="critical", check_id="full-admin"),
        make_finding(production, "legacy-reports", severity="medium"),
        make_finding(production, "checkout-api", severity="critical", check_id="full-admin"),
        make_finding(staging, "legacy-etl", severity="low"),
        make_finding(staging, "search-indexer", severity="high", check_id="service-wildcard"),
    ]


def resource_names(page) -> list[str]:
    return page.locator("#findings-table tbody .resource-name").all_inner_texts()


def test_reviewer_filters_the_list_in_place_and_opens_a_finding(
    page, live_server, reviewer, findings, log_in, csp_violations
):
    log_in(reviewer)
    page.goto(f"{live_server.url}/findings/")
    assert page.get_by_role("heading", name="Findings").is_visible()
    assert len(resource_names(page)) == 5
    # Set on this document only: still there after filtering means no full reload happened.
    page.evaluate("window.sameDocument = true")

    page.get_by_role("combobox", name="Severity").select_option("critical")
    page.wait_for_url(re.compile(r"severity=critical"))
    expect(page.locator("#findings-table tbody tr")).to_have_count(2)
    assert sorted(resource_names(page)) == ["checkout-api", "legacy-batch"]

    page.get_by_role("searchbox", name="Resource").press_sequentially("legacy")
    page.wait_for_url(re.compile(r"q=legacy"))
    expect(page.locator("#findings-table tbody tr")).to_have_count(1)
    assert resource_names(page) == ["legacy-batch"]
    assert "severity=critical" in page.url
    assert (
        page.get_by_role("status")
        .filter(has_text="finding")
        .inner_text()
        .startswith("1 open finding")
    )
    assert page.evaluate("window.sameDocument") is True

    # The URL is shareable: loading it afresh shows the same table and filters.
    page.goto(page.url)
    assert resource_names(page) == ["legacy-batch"]
    assert page.get_by_role("combobox", name="Severity").input_value() == "critical"
    assert page.get_by_role("searchbox", name="Resource").input_value() == "legacy"

    page.locator("#findings-table tbody a").first.click()
    page.wait_for_url(re.compile(rf"/findings/{findings[0].pk}/$"))
    assert page.get_by_role("heading", name="What this means").is_visible()
    assert page.get_by_text("legacy-batch").first.is_visible()
    assert csp_violations == []


def test_sorting_by_a_column_header_keeps_the_filters(
    page, live_server, reviewer, findings, log_in, csp_violations
):
    log_in(reviewer)
    page.goto(f"{live_server.url}/findings/?account=111122223333")
    page.evaluate("window.sameDocument = true")

    page.get_by_role("link", name="Resource").click()
    page.wait_for_url(re.compile(r"sort=resource"))
    expect(page.locator("#findings-table th[aria-sort]")).to_contain_text("Resource")
    assert resource_names(page) == ["checkout-api", "legacy-batch", "legacy-reports"]

    # A later filter change keeps the sort the header chose.
    page.get_by_role("combobox", name="Severity").select_option("critical")
    page.wait_for_url(re.compile(r"severity=critical"))
    expect(page.locator("#findings-table tbody tr")).to_have_count(2)
    assert resource_names(page) == ["checkout-api", "legacy-batch"]
    assert "sort=resource" in page.url
    assert page.evaluate("window.sameDocument") is True
    assert csp_violations == []


def test_a_chip_clicked_while_a_filter_change_loads_leaves_one_consistent_view(
    page, live_server, reviewer, findings, log_in, csp_violations
):
    """The account changed, and a severity chip clicked before the table came back: the
    address, the form and the rows must all say the same thing, with both filters (two
    requests raced, and the address showed one while the rows and the form showed the other)."""
    log_in(reviewer)
    page.goto(f"{live_server.url}/findings/?q=e")
    page.evaluate(
        """() => {
          const select = document.getElementById("filter-account");
          select.value = "444455556666";
          select.dispatchEvent(new Event("change", {bubbles: true}));
          document.querySelector("#findings-table a.chip-low").click();
        }"""
    )
    page.wait_for_url(re.compile(r"severity=low"))
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    query = page.url.split("?", 1)[1]
    form = page.locator("#findings-filters")
    assert form.get_by_role("combobox", name="Severity").input_value() == "low"
    # Both asks are kept: the chip's severity and the account chosen just before.
    assert form.get_by_role("combobox", name="Account").input_value() == "444455556666"
    assert "account=444455556666" in query
    assert resource_names(page) == ["legacy-etl"]
    expect(page.locator("#findings-table a.chip-low")).to_have_attribute("aria-current", "true")
    assert csp_violations == []
