"""A quarterly cycle from first decision to sign-off, in Chromium, under the strict CSP.

Set IAMREVIEW_SCREENSHOTS=<directory> to keep screenshots of the pages along the way.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def screenshot(page, name: str) -> None:
    directory = os.environ.get("IAMREVIEW_SCREENSHOTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True, caret="initial")


def quarterly_cycle():
    from findings.collection.registry import add_account
    from findings.models import CredentialReportEntry, Finding
    from findings.reviews.services import open_cycle

    account = add_account(account_id="111122223333", name="Production", regions=["us-east-1"])
    now = timezone.now()
    for name in ("alice", "bob", "carol"):
        arn = f"arn:aws:iam::111122223333:user/{name}"
        CredentialReportEntry.objects.create(
            account=account,
            fingerprint="x",
            first_seen_at=now,
            changed_at=now,
            user=name,
            arn=arn,
            user_creation_time=now - timedelta(days=400),
            password_enabled=True,
            password_last_used=now - timedelta(days=3),
            mfa_active=name != "alice",
            access_key_1_active=False,
            access_key_2_active=False,
            cert_1_active=False,
            cert_2_active=False,
        )
        if name == "alice":
            Finding.objects.create(
                account=account,
                check_id="mfa-missing",
                resource_key=arn,
                resource_arn=arn,
                resource_type="user",
                resource_name=name,
                title="Console password without MFA",
                severity="high",
                severity_rank=1,
                severity_reason="Console access without a second factor",
                evidence={"why": "alice signs in with a password and no MFA device."},
                evidence_fingerprint="x",
                rule_version="1",
                thresholds={},
                first_seen_at=now,
                last_seen_at=now,
            )
    return open_cycle(kind="quarterly", opened_by=None, period="2026-Q4")


def test_a_reviewer_decides_and_bulk_decides_then_an_approver_signs_off(
    page, live_server, reviewer, approver, log_in, csp_violations
):
    cycle = quarterly_cycle()
    alice = cycle.items.get(subject_arn__endswith="/alice")

    log_in(reviewer)
    page.get_by_role("link", name="Review", exact=True).click()
    page.wait_for_url(f"{live_server.url}/review/")
    assert page.get_by_text("0 / 3 decided").is_visible()
    screenshot(page, "1-review-list")
    page.get_by_role("link", name=cycle.title).click()
    page.wait_for_url(f"{live_server.url}/review/cycles/{cycle.pk}/")

    # One item, decided through its own form, in place.
    title = page.locator(f"#item-{alice.pk}-row .item-title")
    title.click()
    panel = page.locator(f"#item-{alice.pk}")
    panel.get_by_text("alice signs in with a password and no MFA device.").wait_for()
    expect(title).to_have_attribute("aria-expanded", "true")
    panel.get_by_label("Keep").check()
    panel.get_by_label("Justification").fill("Break-glass account; MFA device being replaced")
    screenshot(page, "2-queue-with-expanded-item")
    panel.get_by_label("Justification").press("Control+Enter")
    page.locator("#cycle-progress").get_by_text("1 / 3 decided").wait_for()
    expect(page.locator(f"#item-{alice.pk}-row .badge.decision-keep")).to_be_visible()
    # Its evidence closes and the next undecided item opens, ready for a decision.
    expect(page.locator(f"#item-{alice.pk}-detail")).to_be_hidden()
    expect(page.locator("tr.item-detail:not([hidden]) form.decision-form")).to_have_count(1)
    assert alice.decisions.get().justification.startswith("Break-glass account")

    # The rest at once: only the undecided ones, all selected, one comment.
    page.get_by_label("Status", exact=True).select_option("undecided")
    page.get_by_text("2 items match these filters").wait_for()
    assert "status=undecided" in page.url
    page.get_by_label("Select every item on this page").check()
    expect(page.get_by_text("2 items selected.")).to_be_visible()
    page.locator("#bulk-decision").select_option("keep")
    page.get_by_label("Comment").fill("Users confirmed with their managers")
    page.get_by_role("button", name="Decide selected").click()
    page.get_by_text("Decided 2 items: Keep.").wait_for()
    assert page.locator("#cycle-progress").get_by_text("Waiting for sign-off").is_visible()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")

    log_in(approver)
    page.goto(f"{live_server.url}/review/cycles/{cycle.pk}/")
    sign_off = page.locator("#sign-off")
    assert (
        "I have reviewed this cycle"
        in sign_off.get_by_label("Attestation", exact=True).input_value()
    )
    screenshot(page, "3-ready-for-sign-off")
    sign_off.get_by_label("I confirm this attestation and sign the cycle off").check()
    sign_off.get_by_role("button", name="Sign off cycle").click()
    page.get_by_text("It is now locked.").wait_for()
    assert page.locator("#sign-off").get_by_text(approver.email).is_visible()
    assert page.locator(".decision-form").count() == 0
    screenshot(page, "4-signed-off")

    cycle.refresh_from_db()
    assert cycle.state == "signed_off" and cycle.signed_off_by == approver
    assert csp_violations == []


def test_the_decision_form_works_from_the_keyboard_and_explains_a_late_refusal(
    page, live_server, reviewer, log_in, csp_violations
):
    from accounts.models import LinkedIdentity

    cycle = quarterly_cycle()
    bob, carol = (cycle.items.get(subject_arn__endswith=f"/{n}") for n in ("bob", "carol"))
    log_in(reviewer)

    # A radio button chosen with Space; Enter submits.
    page.goto(f"{live_server.url}/review/items/{bob.pk}/")
    page.get_by_label("Justification").fill("Service desk account")
    page.get_by_label("Keep").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    page.get_by_text("Decision recorded.").wait_for()
    assert "Service desk account" in page.locator(".decision-history").inner_text()

    # Ctrl+Enter in the justification submits as well; the refusal, which only the server can
    # know here (carol became the reviewer's own identity meanwhile), replaces the form.
    page.goto(f"{live_server.url}/review/items/{carol.pk}/")
    LinkedIdentity.objects.create(user=reviewer, arn=carol.subject_arn)
    page.get_by_label("False positive").check()
    page.get_by_label("Justification").fill("Not hers")
    page.get_by_label("Justification").press("Control+Enter")
    page.get_by_text("Segregation of duties: this item concerns your own IAM identity").wait_for()
    assert page.locator(".decision-form").count() == 0
    assert not carol.decisions.exists()
    # The browser reports the 403 itself; nothing else may be logged.
    assert [e for e in csp_violations if "status of 403" not in e] == []
