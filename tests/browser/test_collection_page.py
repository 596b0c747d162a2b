import pytest
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_administrator_adds_an_account_with_the_keyboard_and_sees_it_on_the_collection_page(
    page, live_server, administrator, log_in, csp_violations
):
    log_in(administrator)
    page.goto(f"{live_server.url}/collection/")
    assert page.get_by_text("No AWS account is connected yet").is_visible()

    page.get_by_role("link", name="Add an AWS account").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/collection/accounts/new/")
    # The first field has the focus; Tab walks the fields in order; Enter submits.
    assert page.evaluate("document.activeElement.name") == "account_id"
    page.keyboard.type("123456789012")
    page.keyboard.press("Tab")
    page.keyboard.type("Production")
    page.keyboard.press("Tab")
    page.keyboard.type("arn:aws:iam::123456789012:role/IAMReviewReadOnly")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # no external ID
    assert page.evaluate("document.activeElement.name") == "regions"
    page.keyboard.type("us-east-1, eu-west-1")
    page.keyboard.press("Enter")

    page.wait_for_url(f"{live_server.url}/collection/")
    assert page.get_by_role("status").inner_text().startswith("Added Production (123456789012)")
    assert page.get_by_role("link", name="Production").is_visible()
    assert page.get_by_role("button", name="Collect now: every source of Production").is_visible()
    assert page.get_by_text("Never collected").count() == 4
    assert csp_violations == []


def test_a_wrong_account_id_is_explained_next_to_the_field(
    page, live_server, administrator, log_in, csp_violations
):
    log_in(administrator)
    page.goto(f"{live_server.url}/collection/accounts/new/")
    page.get_by_label("Account ID").fill("12345678901x")
    page.get_by_label("Name").fill("Typo")
    page.get_by_role("button", name="Add account").click()
    # The click only starts the form's submission: wait for the answer's page.
    expect(page.locator("#id_account_id_error")).to_have_text("An AWS account id is 12 digits.")
    assert page.get_by_role("alert").is_visible()
    assert page.get_by_label("Name").input_value() == "Typo"
    assert csp_violations == []


def test_the_status_table_follows_a_running_collection_until_it_ends(
    page, live_server, reviewer, log_in, csp_violations
):
    from findings.collection.registry import add_account
    from findings.models import CollectionRun

    account = add_account(account_id="123456789012", name="Production")
    run = CollectionRun.objects.create(
        account=account,
        source="authorization-details",
        trigger="schedule",
        status="running",
        started_at=timezone.now(),
        progress_done=1,
        progress_total=3,
        progress_message="Reading users, groups, roles and policies",
    )
    log_in(reviewer)
    page.goto(f"{live_server.url}/collection/")
    status = page.locator("#collection-status")
    assert status.get_attribute("hx-trigger") == "every 2s"
    assert page.get_by_text("Reading users, groups, roles and policies").first.is_visible()

    CollectionRun.objects.filter(pk=run.pk).update(
        progress_done=2, progress_message="Storing 3 users and 12 roles"
    )
    page.get_by_text("Storing 3 users and 12 roles").first.wait_for(timeout=5000)

    CollectionRun.objects.filter(pk=run.pk).update(
        status="succeeded", finished_at=timezone.now(), counts={"users": 3, "roles": 12}
    )
    page.get_by_text("3 users, 12 roles").first.wait_for(timeout=5000)
    assert status.get_attribute("hx-trigger") is None  # polling stopped by itself
    assert csp_violations == []
