"""Error pages in Chromium: styled, with the navigation and a way back, under the strict CSP;
a non-staff person opening /admin/ gets an explanation, not ERR_TOO_MANY_REDIRECTS."""

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_styled_error_pages_and_the_admin_for_a_non_staff_person(
    page, live_server, reviewer, log_in, csp_violations, settings
):
    settings.DEBUG = True
    log_in(reviewer)

    response = page.goto(f"{live_server.url}/findings/987654/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.get_by_role("link", name="Go back").click()
    page.wait_for_url(f"{live_server.url}/")

    response = page.goto(f"{live_server.url}/review/audit/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="You may not open this page")).to_be_visible()

    response = page.goto(f"{live_server.url}/admin/")
    assert response.status == 403
    expect(page.get_by_text("The Django admin is for administrators.")).to_be_visible()
    page.get_by_role("link", name="Go to the dashboard").click()
    page.wait_for_url(f"{live_server.url}/")
    assert [e for e in csp_violations if "status of 40" not in e] == []


def test_a_crafted_rightsizing_export_link_shows_its_tag_as_text_and_goes_nowhere(
    page, live_server, auditor, log_in
):
    # A link another site sends a logged-in auditor: as HTML, the 400 that repeats the tag
    # would run its meta refresh (CSP stops scripts, not that) from our own origin.
    log_in(auditor)
    elsewhere = f"{live_server.url}/phished-from-iamreview"
    tag = f'=<meta http-equiv="refresh" content="0;url={elsewhere}">'
    url = f"{live_server.url}/rightsizing/export.csv?tag={quote(tag)}"

    response = page.goto(url)

    assert response.status == 400
    expect(page.locator("body")).to_contain_text('<meta http-equiv="refresh"')
    assert page.locator("meta[http-equiv]").count() == 0
    assert page.url == url
