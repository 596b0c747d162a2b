"""An approver reads the sign-off summary, downloads the evidence pack and signs, in Chromium."""

import zipfile

import pytest
from playwright.sync_api import expect

from tests.browser.test_review_keyboard import five_user_cycle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_approver_reads_the_summary_downloads_the_evidence_and_signs(
    page, live_server, reviewer, approver, log_in, csp_violations, tmp_path
):
    from datetime import timedelta

    from django.utils import timezone

    from findings.reviews.services import DecisionInput, decide_item

    cycle = five_user_cycle()
    items = list(cycle.items.order_by("title"))
    until = timezone.localdate() + timedelta(days=90)
    for index, item in enumerate(items):
        decision = (
            DecisionInput(
                kind="accept_risk", justification="Contractor leaves in March", expires_on=until
            )
            if index == 0
            else DecisionInput(kind="keep", justification="Needed")
        )
        decide_item(item=item, actor=reviewer, decision=decision, expected_latest_id=None)

    log_in(approver)
    page.goto(f"{live_server.url}/review/cycles/{cycle.pk}/")
    summary = page.locator(".sign-off-summary")
    expect(summary).to_contain_text("Contractor leaves in March")
    expect(summary).to_contain_text(until.isoformat())
    expect(summary.locator(".deciders")).to_contain_text("rita.reviewer@example.com: 5 items")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download evidence pack (.zip)").click()
    path = tmp_path / "pack.zip"
    download.value.save_as(path)
    assert "manifest.json" in zipfile.ZipFile(path).namelist()

    page.get_by_label("I confirm this attestation and sign the cycle off").check()
    page.get_by_role("button", name="Sign off cycle").click()
    page.get_by_text("It is now locked.").wait_for()
    cycle.refresh_from_db()
    assert cycle.state == "signed_off" and cycle.signed_summary_hash
    assert csp_violations == []
