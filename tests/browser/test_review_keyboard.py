"""A reviewer works through a queue with the keyboard alone, and a refused bulk decision keeps
everything they entered. Real Chromium, strict CSP."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAMES = ("ana", "ben", "cleo", "dev", "eli")


def five_user_cycle():
    from findings.collection.registry import add_account
    from findings.models import CredentialReportEntry
    from findings.reviews.services import open_cycle

    account = add_account(account_id="111122223333", name="Production", regions=["us-east-1"])
    now = timezone.now()
    CredentialReportEntry.objects.bulk_create(
        CredentialReportEntry(
            account=account,
            fingerprint="x",
            first_seen_at=now,
            changed_at=now,
            user=name,
            arn=f"arn:aws:iam::111122223333:user/{name}",
            user_creation_time=now - timedelta(days=400),
            password_enabled=True,
            password_last_used=now - timedelta(days=3),
            mfa_active=True,
            access_key_1_active=False,
            access_key_2_active=False,
            cert_1_active=False,
            cert_2_active=False,
        )
        for name in NAMES
    )
    return open_cycle(kind="quarterly", opened_by=None, period="2026-Q4")


def keep_the_open_item(page, number: int, *, total: int = 5) -> None:
    """With the keys only: Keep the item whose evidence is open, with a justification, and
    wait until the cycle counts it and its evidence closes (the next item then opens)."""
    form = page.locator("tr.item-detail:not([hidden]) form.decision-form")
    expect(form).to_have_count(1)
    detail_id = page.locator("tr.item-detail:not([hidden])").get_attribute("id")
    page.keyboard.press("1")
    expect(form.get_by_label("Justification")).to_be_focused()
    page.keyboard.type(f"Checked with the team ({number})")
    page.keyboard.press("Control+Enter")
    page.locator("#cycle-progress").get_by_text(f"{number} / {total} decided").wait_for()
    expect(page.locator(f"#{detail_id}")).to_be_hidden()


def test_a_reviewer_decides_five_items_with_the_keyboard_only(
    page, live_server, reviewer, log_in, csp_violations
):
    from findings.models import Decision

    cycle = five_user_cycle()
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/cycles/{cycle.pk}/")

    page.keyboard.press("?")
    expect(page.locator("#keys-help")).to_be_visible()
    expect(page.locator("#keys-help")).to_contain_text("Next undecided item")
    page.keyboard.press("Escape")
    expect(page.locator("#keys-help")).to_be_hidden()

    page.keyboard.press("n")
    for number in range(1, 6):
        keep_the_open_item(page, number)

    assert Decision.objects.filter(kind="keep", decided_by=reviewer).count() == 5
    assert set(Decision.objects.values_list("item__subject_arn", flat=True)) == {
        f"arn:aws:iam::111122223333:user/{name}" for name in NAMES
    }
    expect(page.locator("tr.item-detail:not([hidden])")).to_have_count(0)
    # The last decision says so, and shows where the cycle goes from here.
    expect(page.locator("#queue")).to_contain_text(
        "Every item of this cycle is decided: it waits for an approver's sign-off."
    )
    expect(page.locator("#sign-off")).to_be_in_viewport()
    assert csp_violations == []


def test_a_decision_typed_before_htmx_settles_the_panel_stays_in_the_queue(
    page, live_server, reviewer, log_in, csp_violations
):
    """htmx wires swapped-in content when it settles: a reviewer quicker than that (Ctrl+Enter
    as the panel appears) still records the decision in place, not by posting the page."""
    from findings.models import Decision

    cycle = five_user_cycle()
    log_in(reviewer)
    queue = f"{live_server.url}/review/cycles/{cycle.pk}/"
    page.goto(queue)
    page.evaluate("htmx.config.defaultSettleDelay = 3000")  # a wide window, every time

    page.keyboard.press("n")
    form = page.locator("tr.item-detail:not([hidden]) form.decision-form")
    expect(form).to_have_count(1)
    page.keyboard.press("1")
    page.keyboard.type("Checked with the team")
    page.keyboard.press("Control+Enter")
    page.locator("#cycle-progress").get_by_text("1 / 5 decided").wait_for()
    assert page.url == queue
    assert Decision.objects.filter(kind="keep", decided_by=reviewer).count() == 1
    assert csp_violations == []


def test_on_an_items_own_page_ctrl_enter_goes_on_to_the_next_undecided_item(
    page, live_server, reviewer, log_in, csp_violations
):
    """As the keys' help says: the decision is recorded and the next undecided item opens; on
    the last one, the text box lets go so that the next keys are not typed into it."""
    from findings.models import Decision
    from findings.reviews.services import DecisionInput, decide_item

    cycle = five_user_cycle()
    items = list(cycle.items.order_by("pk"))
    for item in items[2:]:  # three already decided: two wait
        decide_item(
            item=item,
            actor=reviewer,
            decision=DecisionInput(kind="keep", justification="Fine"),
            expected_latest_id=None,
        )
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/items/{items[0].pk}/")
    page.keyboard.press("1")
    page.keyboard.type("Checked with the team")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"{live_server.url}/review/items/{items[1].pk}/**")
    assert Decision.objects.filter(item=items[0], decided_by=reviewer).exists()

    page.keyboard.press("1")
    page.keyboard.type("Checked too")
    page.keyboard.press("Control+Enter")
    expect(page.locator("form.decision-form textarea")).not_to_be_focused()
    expect(page.get_by_role("status").filter(has_text="Decision recorded.")).to_be_visible()
    assert Decision.objects.filter(item=items[1], decided_by=reviewer).count() == 1
    assert page.url.startswith(f"{live_server.url}/review/items/{items[1].pk}/")
    expect(page.get_by_text("No other item waits for a decision").first).to_be_visible()
    assert csp_violations == []


def test_accepting_a_risk_with_the_keyboard_alone_takes_the_proposed_expiry(
    page, live_server, reviewer, log_in, csp_violations
):
    """3, the justification, Ctrl+Enter: the expiry an accepted risk needs is filled in (90
    days from today), as the keys' help says, so the first Ctrl+Enter records it."""
    from findings.models import Decision

    cycle = five_user_cycle()
    first, second = cycle.items.order_by("pk")[:2]
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/items/{first.pk}/")
    page.keyboard.press("?")
    expect(page.locator("#keys-help")).to_contain_text("the expiry is filled in 90 days")
    page.keyboard.press("Escape")

    page.keyboard.press("3")
    expect(page.get_by_label("Justification")).to_be_focused()
    until = timezone.localdate() + timedelta(days=90)
    expect(page.get_by_label("Risk accepted until")).to_have_value(until.isoformat())
    page.keyboard.type("Vendor migration until spring")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"{live_server.url}/review/items/{second.pk}/**")
    decision = Decision.objects.get(item=first)
    assert (decision.kind, decision.expires_on) == ("accept_risk", until)
    assert csp_violations == []


def test_a_ctrl_enter_sent_back_to_be_completed_does_not_move_on_after_a_mouse_decision(
    page, live_server, reviewer, log_in, csp_violations
):
    """Ctrl+Enter without the justification a decision needs comes back as the form with its
    error; the decision then recorded with the mouse stays on the item, to be read."""
    from findings.models import Decision

    cycle = five_user_cycle()
    first = cycle.items.order_by("pk").first()
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/items/{first.pk}/")
    page.keyboard.press("1")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_text("The decision was not recorded").first).to_be_visible()
    expect(page.get_by_text("A justification is required for this decision.")).to_be_visible()

    page.get_by_label("Justification").fill("Vendor migration")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status").filter(has_text="Decision recorded.")).to_be_visible()
    page.wait_for_timeout(300)  # a click on "next" would have navigated by now
    assert page.url.startswith(f"{live_server.url}/review/items/{first.pk}/")
    assert Decision.objects.get(item=first).kind == "keep"
    assert csp_violations == []


def test_back_to_the_queue_with_q_the_keys_go_on_from_that_item(
    page, live_server, reviewer, log_in, csp_violations
):
    cycle = five_user_cycle()
    cleo = cycle.items.get(subject_arn__endswith="/cleo")
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/items/{cleo.pk}/")
    page.keyboard.press("q")
    page.wait_for_url(f"**/review/cycles/{cycle.pk}/**")
    expect(page.locator(f"#item-{cleo.pk}-row")).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("j")
    dev = cycle.items.get(subject_arn__endswith="/dev")
    expect(page.locator(f"#item-{dev.pk}-row")).to_have_class(re.compile(r"\bis-current\b"))
    assert csp_violations == []


def test_a_refused_bulk_decision_keeps_every_input(
    page, live_server, reviewer, log_in, csp_violations
):
    cycle = five_user_cycle()
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/cycles/{cycle.pk}/")
    assert page.locator("#bulk-decision").input_value() == ""

    first, second = (cycle.items.get(subject_arn__endswith=f"/{n}") for n in ("ana", "ben"))
    page.get_by_label(f"Select {first.title}").check()
    page.get_by_label(f"Select {second.title}").check()
    page.locator("#bulk-decision").select_option("accept_risk")
    page.get_by_label("Comment").fill("Vendor migration until spring")
    # The expiry is proposed 90 days ahead; emptied, the decision is refused.
    assert page.locator("#bulk-expires").input_value() != ""
    page.locator("#bulk-expires").fill("")
    page.get_by_role("button", name="Decide selected").click()

    page.get_by_text("Accepted risk needs an expiry date").wait_for()
    # Refused, then redirected to the queue: a reload sends nothing again.
    assert page.url.startswith(f"{live_server.url}/review/cycles/{cycle.pk}/")
    expect(page.get_by_label(f"Select {first.title}")).to_be_checked()
    expect(page.get_by_label(f"Select {second.title}")).to_be_checked()
    expect(page.locator("#bulk-decision")).to_have_value("accept_risk")
    expect(page.get_by_label("Comment")).to_have_value("Vendor migration until spring")
    assert page.get_by_text("2 items selected.").is_visible()
    assert [e for e in csp_violations if "400" not in e] == []


def test_under_the_undecided_filter_the_keys_go_through_every_item_page_by_page(
    page, live_server, reviewer, second_reviewer, log_in, csp_violations
):
    """Deciding a page of the Undecided filter moves the next items up onto it: the keys took
    the Next link made before (page 2), and skipped them. An item delegated to someone else
    is theirs: the keys pass it by. At the end the reviewer is told the cycle is decided."""
    from findings.models import Decision
    from findings.reviews.services import DecisionInput, decide_item

    cycle = five_user_cycle()
    queue_order = list(cycle.items.order_by("severity_rank", "title", "pk"))
    delegated = queue_order[1]
    decide_item(
        item=delegated,
        actor=reviewer,
        decision=DecisionInput(
            kind="delegate", justification="Billing's", delegate_to=second_reviewer
        ),
        expected_latest_id=None,
    )
    log_in(reviewer)
    with mock.patch("findings.reviews.queue.PER_PAGE", 2):
        page.goto(f"{live_server.url}/review/cycles/{cycle.pk}/?status=undecided")
        page.keyboard.press("n")
        for number in range(1, 5):
            keep_the_open_item(page, number)
        expect(page.locator("#queue")).to_contain_text("Nothing left for you in this queue")
        expect(page.locator(".result-count")).to_contain_text("1 item matches these filters")

    decided = set(Decision.objects.filter(kind="keep").values_list("item_id", flat=True))
    assert decided == {item.pk for item in queue_order if item != delegated}
    assert csp_violations == []


def test_a_refresh_that_fails_does_not_open_an_item_later_unasked(
    page, live_server, reviewer, log_in
):
    """The page done, the keys ask for it again; when that fails (an expired session, the
    network), a later change of page must not open an item by itself."""
    cycle = five_user_cycle()
    log_in(reviewer)
    with mock.patch("findings.reviews.queue.PER_PAGE", 2):
        page.goto(f"{live_server.url}/review/cycles/{cycle.pk}/")

        def refuse_refresh(route):
            if route.request.headers.get("hx-request") and "?" not in route.request.url:
                route.fulfill(status=500, body="down")
            else:
                route.continue_()

        page.route(re.compile(r".*/review/cycles/\d+/(\?.*)?$"), refuse_refresh)
        page.keyboard.press("n")
        for number in (1, 2):
            keep_the_open_item(page, number)
        page.wait_for_timeout(300)  # the refresh is refused

        page.locator('.pagination a[rel="next"]').click()
        expect(page.locator(".result-count")).to_contain_text("showing 3–4")
        page.wait_for_timeout(300)
        expect(page.locator("tr.item-detail:not([hidden])")).to_have_count(0)
