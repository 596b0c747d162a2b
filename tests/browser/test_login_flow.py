import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_anonymous_visitor_is_sent_to_the_login_page(page, live_server):
    page.goto(f"{live_server.url}/findings/")
    assert page.url == f"{live_server.url}/accounts/login/?next=/findings/"
    assert page.get_by_role("button", name="Log in").is_visible()


def test_reviewer_logs_in_sees_the_dashboard_and_logs_out(
    page, live_server, reviewer, log_in, csp_violations
):
    log_in(reviewer)
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert page.get_by_role("link", name="Findings").is_visible()
    assert page.get_by_role("link", name="Admin").count() == 0
    # htmx loaded from our own static files, under our CSP.
    assert page.evaluate("typeof window.htmx") == "object"
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    assert csp_violations == []


def test_wrong_password_is_refused_with_a_message(page, live_server, reviewer):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(reviewer.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    # The click only starts the form's submission: wait for the answer's page.
    expect(page.get_by_role("alert")).to_contain_text("correct email and password")
