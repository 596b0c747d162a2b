"""Token creation and opening a cycle, sent twice as fast as a double click: one token, one
cycle. The page sends such a form once (data-submit-once), and the server refuses the same form
sent again; two requests truly at once would get past the server's check alone."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_double_click_creates_one_token(page, live_server, reviewer, log_in, csp_violations):
    from accounts.models import ApiToken

    log_in(reviewer)
    page.goto(f"{live_server.url}/accounts/profile/")
    page.get_by_label("Token name").fill("release pipeline")
    # Two sends as fast as a double click can make them, before the first page comes back.
    page.evaluate(
        "() => { const form = document.querySelector('form[action$=\"/tokens/\"]');"
        " form.requestSubmit(); setTimeout(() => form.requestSubmit(), 60); }"
    )
    page.get_by_text("Copy it now: it is shown this once.").wait_for()
    assert ApiToken.objects.filter(user=reviewer).count() == 1
    assert csp_violations == []


def test_a_double_click_opens_one_cycle(page, live_server, administrator, log_in):
    from findings.collection.registry import add_account
    from findings.models import ReviewCycle

    add_account(account_id="111122223333", name="Production", regions=["us-east-1"])
    log_in(administrator)
    page.goto(f"{live_server.url}/review/")
    page.get_by_label("Monthly: external access").check()
    page.evaluate(
        "() => { const form = document.querySelector('form.open-cycle-form');"
        " form.requestSubmit(); setTimeout(() => form.requestSubmit(), 60); }"
    )
    page.wait_for_url("**/review/cycles/*/")
    assert ReviewCycle.objects.count() == 1
