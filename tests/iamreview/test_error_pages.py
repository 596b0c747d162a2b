"""Error pages in the app's layout, with a way back; the admin never loops for non-staff."""

import pytest
from django.template.loader import render_to_string

pytestmark = pytest.mark.django_db


def test_a_missing_finding_shows_the_styled_404_even_with_debug_on(client, reviewer, settings):
    settings.DEBUG = True
    client.force_login(reviewer)
    response = client.get("/findings/999999/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Nothing here" in page and 'class="topbar"' in page
    assert 'href="/">Go to the dashboard' in page.replace("\n", "")
    assert "Traceback" not in page and "URLconf" not in page


def test_a_forbidden_page_is_styled_and_says_why(client, reviewer):
    client.force_login(reviewer)
    response = client.get("/review/audit/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You may not open this page" in page and 'class="topbar"' in page
    assert "ask an administrator" in page


def test_a_non_staff_person_on_the_admin_gets_a_403_not_a_redirect_loop(client, reviewer):
    client.force_login(reviewer)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert len(response.redirect_chain) == 1
    assert "The Django admin is for administrators." in response.content.decode()


def test_an_administrator_reaches_the_admin_and_anonymous_visitors_log_in(client, administrator):
    assert client.get("/admin/login/?next=/admin/").url.startswith("/accounts/login/?next=")
    client.force_login(administrator)
    assert client.get("/admin/", follow=True).status_code == 200
    assert client.get("/admin/login/?next=https://evil.example/").url == "/admin/"


def test_the_500_page_stands_alone_with_navigation_and_a_way_back():
    page = render_to_string("500.html")
    assert "Something went wrong on our side" in page
    assert 'href="/review/"' in page and "data-history-back" in page
