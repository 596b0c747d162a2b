"""Where the keyboard goes on from: Ctrl+Enter from any field of a decision, the queue's current
row through a refused decision and back from an item, a phone-sized item with long policy
names, relative times that keep counting, and no inline style anywhere. Real Chromium, strict
CSP."""

import re
from datetime import date, timedelta
from unittest import mock

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.test_review_keyboard import five_user_cycle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CURRENT = re.compile(r"\bis-current\b")


def test_ctrl_enter_in_the_expiry_date_records_an_accepted_risk_and_goes_on(
    page, live_server, reviewer, log_in, csp_violations
):
    from findings.models import Decision

    cycle = five_user_cycle()
    first, second = cycle.items.order_by("pk")[:2]
    until = date.today() + timedelta(days=30)
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/items/{first.pk}/")

    page.keyboard.press("3")
    page.keyboard.type("Vendor migration until spring")
    page.keyboard.press("Tab")
    expiry = page.get_by_label("Risk accepted until")
    expect(expiry).to_be_focused()
    expiry.fill(until.isoformat())
    page.keyboard.press("Control+Enter")

    page.wait_for_url(f"{live_server.url}/review/items/{second.pk}/**")
    decision = Decision.objects.get(item=first)
    assert (decision.kind, decision.expires_on) == ("accept_risk", until)
    assert csp_violations == []


def test_ctrl_enter_in_the_delegate_list_records_the_delegation_in_the_queue(
    page, live_server, reviewer, second_reviewer, log_in, csp_violations
):
    from findings.models import Decision

    cycle = five_user_cycle()
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/cycles/{cycle.pk}/")

    page.keyboard.press("n")
    form = page.locator("tr.item-detail:not([hidden]) form.decision-form")
    expect(form).to_have_count(1)
    page.keyboard.press("5")
    page.keyboard.type("Owns the billing team's users")
    page.keyboard.press("Tab")
    delegate = form.get_by_label("Delegate to")
    expect(delegate).to_be_focused()
    delegate.select_option(str(second_reviewer.pk))
    page.keyboard.press("Control+Enter")

    # A delegated item waits for its new reviewer: not decided, but its row says to whom.
    expect(page.locator("tr.item-row .badge.decision-delegate")).to_have_count(1)
    decision = Decision.objects.get()
    assert (decision.kind, decision.delegate_to) == ("delegate", second_reviewer)
    assert csp_violations == []


def test_a_refused_ctrl_enter_keeps_the_row_the_keys_go_on_from(
    page, live_server, reviewer, log_in, csp_violations
):
    cycle = five_user_cycle()
    cleo, dev = (cycle.items.get(subject_arn__endswith=f"/{name}") for name in ("cleo", "dev"))
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/cycles/{cycle.pk}/")

    for key in "jjj":
        page.keyboard.press(key)
    expect(page.locator(f"#item-{cleo.pk}-row")).to_have_class(CURRENT)
    page.keyboard.press("o")
    form = page.locator(f"#item-{cleo.pk}-detail form.decision-form")
    form.get_by_label("Justification").fill("Checked with the team")  # no decision chosen
    page.keyboard.press("Control+Enter")

    expect(form.get_by_text("This field is required.")).to_be_visible()
    expect(page.locator(f"#item-{cleo.pk}-row")).to_have_class(CURRENT)
    page.keyboard.press("Escape")  # out of the text box: keys are keys again
    page.keyboard.press("j")
    expect(page.locator(f"#item-{dev.pk}-row")).to_have_class(CURRENT)
    expect(page.locator(f"#item-{dev.pk}-row .item-title")).to_be_focused()
    assert csp_violations == []


def test_back_to_the_queue_with_q_focuses_the_items_row(
    page, live_server, reviewer, log_in, csp_violations
):
    cycle = five_user_cycle()
    cleo = cycle.items.get(subject_arn__endswith="/cleo")
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/items/{cleo.pk}/")
    page.keyboard.press("q")
    page.wait_for_url(
        re.compile(rf"/review/cycles/{cycle.pk}/\?item={cleo.pk}#item-{cleo.pk}-row$")
    )
    page.wait_for_load_state("load")

    title = page.locator(f"#item-{cleo.pk}-row .item-title")
    expect(title).to_be_focused()
    page.wait_for_timeout(300)  # the page has settled: nothing took the focus away
    expect(title).to_be_focused()
    page.keyboard.press("Enter")  # opens its evidence, as Enter on the title does
    expect(page.locator(f"#item-{cleo.pk}-detail form.decision-form")).to_be_visible()
    assert csp_violations == []


def test_policies_with_long_names_wrap_on_a_phone_and_show_that_they_open(
    page, live_server, reviewer, log_in, csp_violations
):
    from findings.models import ReviewItem

    cycle = five_user_cycle()
    item = cycle.items.order_by("pk").first()
    arn = "arn:aws:iam::111122223333:policy/DeveloperAccessForTheDataPlatformTeamsPipelines"
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{arn}/*"}],
    }
    evidence = {
        **item.frozen_evidence,
        "policies": {f"managed: {arn} (via group Developers)": document},
    }
    ReviewItem.objects.filter(pk=item.pk).update(frozen_evidence=evidence)
    page.set_viewport_size({"width": 375, "height": 800})
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/items/{item.pk}/")

    summary = page.locator("details.policy > summary")
    expect(summary).to_contain_text("DeveloperAccessForTheDataPlatformTeamsPipelines")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    marker = summary.evaluate(
        "s => [getComputedStyle(s).display, getComputedStyle(s).listStyleType]"
    )
    assert marker == ["list-item", "disclosure-closed"]
    summary.click()
    expect(page.locator("details.policy pre")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert csp_violations == []


def naturaltime_at(value, now) -> str:
    """Django's naturaltime as the server would have said it at `now`."""
    from django.contrib.humanize.templatetags.humanize import naturaltime

    with mock.patch("django.contrib.humanize.templatetags.humanize.datetime") as clock:
        clock.now.return_value = now
        return naturaltime(value)


def test_relative_times_on_the_collection_page_keep_counting_without_polling(
    page, live_server, reviewer, log_in, csp_violations
):
    from findings.collection.registry import add_account
    from findings.models import CollectionRun

    account = add_account(account_id="123456789012", name="Production")
    now = timezone.now()
    failed = CollectionRun.objects.create(
        account=account,
        source="authorization-details",
        trigger="schedule",
        status="failed",
        started_at=now - timedelta(seconds=9),
        finished_at=now - timedelta(seconds=7),
        error="AccessDenied: not authorized to perform iam:GetAccountAuthorizationDetails",
    )
    # Earlier runs, far from a unit's boundary: the page's words must be Django's, counted on.
    ages = [
        timedelta(minutes=30, seconds=30),
        timedelta(hours=1, minutes=30),
        timedelta(hours=5, minutes=30),
        timedelta(days=1, hours=2, minutes=30),
        timedelta(days=9, hours=3),
        timedelta(days=45, hours=6),
        timedelta(days=400, hours=3),
        timedelta(days=800, hours=12),
    ]
    earlier = []
    for age in ages:
        run = CollectionRun.objects.create(
            account=account,
            source="credential-report",
            trigger="schedule",
            status="succeeded",
            started_at=now - age,
            finished_at=now - age,
        )
        CollectionRun.objects.filter(pk=run.pk).update(created_at=now - age)
        earlier.append(now - age)
    log_in(reviewer)
    page.clock.install()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    loaded_at = timezone.now()
    page.goto(f"{live_server.url}/collection/")

    status = page.locator(f"#collection-status time[datetime='{failed.finished_at.isoformat()}']")
    expect(status.first).to_contain_text("seconds ago")
    requests.clear()
    page.clock.fast_forward("02:00")
    expect(status.first).to_have_text("2\u00a0minutes ago")
    page.clock.fast_forward("01:00:00")
    expect(status.first).to_have_text("an hour ago")

    then = loaded_at + timedelta(hours=1, minutes=2)
    started = page.locator(".runs-table time[data-relative]")
    expected = [naturaltime_at(failed.created_at, then)]
    expected += [naturaltime_at(value, then) for value in earlier]
    assert started.all_inner_texts() == expected
    assert [url for url in requests if "/collection/" in url] == []  # no polling
    assert csp_violations == []


def test_the_keyboard_walkthrough_of_a_queue_applies_no_inline_style(
    page, live_server, reviewer, log_in, csp_violations
):
    """?, Esc, j j k o 1, a justification, Ctrl+Enter: nothing the app or htmx does sets an
    inline style (the strict CSP refuses them). Playwright's screenshots hide the caret with
    one, which is what logged such errors once: this takes none."""
    cycle = five_user_cycle()
    log_in(reviewer)
    page.goto(f"{live_server.url}/review/cycles/{cycle.pk}/")
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False

    for key in ["?", "Escape", "j", "j", "k", "o"]:
        page.keyboard.press(key)
    form = page.locator("tr.item-detail:not([hidden]) form.decision-form")
    expect(form).to_have_count(1)
    page.keyboard.press("1")
    page.keyboard.type("Checked with the team")
    page.keyboard.press("Control+Enter")
    page.locator("#cycle-progress").get_by_text("1 / 5 decided").wait_for()

    assert page.locator("[style], style").count() == 0
    assert csp_violations == []
