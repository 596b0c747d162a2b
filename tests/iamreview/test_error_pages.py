"""Error pages in the app's layout, with a way back; the admin never loops for non-staff."""

import ast
from pathlib import Path

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


ERROR_RESPONSES = {
    "HttpResponseBadRequest",
    "HttpResponseForbidden",
    "HttpResponseNotFound",
    "HttpResponseGone",
    "HttpResponseServerError",
}


def error_responses_without_a_content_type():
    """Every error response built from a message (`HttpResponseBadRequest(message)`,
    `HttpResponse(message, status=400)`) that does not say what the message is."""
    root = Path(__file__).resolve().parents[2]
    for package in ("findings", "accounts", "iamreview"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                keywords = {keyword.arg for keyword in node.keywords}
                is_error = name in ERROR_RESPONSES or (
                    name == "HttpResponse" and "status" in keywords
                )
                if is_error and "content_type" not in keywords:
                    yield f"{path.relative_to(root)}:{node.lineno}"


def test_every_error_message_is_sent_as_plain_text():
    # As text/html, a message that repeats what a link asked for (a `tag`, a page number)
    # writes the link's markup into our origin: CSP stops scripts, not a meta refresh.
    assert list(error_responses_without_a_content_type()) == []
