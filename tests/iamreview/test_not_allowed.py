"""A form's address reopened from the address bar shows a page in the app's layout, not a blank
405; the API's answers and every other response stay as the views wrote them."""

import pytest
from django.http import HttpResponseNotAllowed

from accounts.tokens import create_token
from findings.collection.registry import add_account
from findings.reviews.services import open_cycle
from iamreview.not_allowed import NotAllowedPageMiddleware, allowed_methods, form_page

pytestmark = pytest.mark.django_db

PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def cycle(db):
    add_account(account_id="111122223333", name="Production", regions=["us-east-1"])
    return open_cycle(kind="quarterly", opened_by=None, period="2026-Q4")


def test_reopening_a_refused_sign_off_shows_a_page_with_the_navigation_and_the_way_back(
    client, approver, cycle
):
    client.force_login(approver)
    response = client.get(f"/review/cycles/{cycle.pk}/sign-off/", headers=PAGE)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    assert 'class="topbar"' in page and 'aria-label="Main"' in page
    assert "This page is reached by a form" in page
    assert "It takes <code>POST</code> only." in page
    assert f'href="/review/cycles/{cycle.pk}/">Back to the form</a>' in page
    assert "Go to the dashboard" in page


def test_reopening_a_created_token_leads_back_to_the_profile(client, reviewer):
    client.force_login(reviewer)
    response = client.get("/accounts/profile/tokens/", headers=PAGE)
    assert response.status_code == 405 and response["Allow"] == "POST"
    page = response.content.decode()
    assert 'href="/accounts/profile/">Back to the form</a>' in page
    # never_cache on the view: the page keeps the headers the view set.
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize(
    ("path", "back"),
    [
        ("/review/items/7/decide/", "/review/items/7/"),
        ("/review/cycles/7/bulk/", "/review/cycles/7/"),
        ("/review/open/", "/review/"),
        # /accounts/profile/tokens/ takes POST only: the way back skips it.
        ("/accounts/profile/tokens/7/revoke/", "/accounts/profile/"),
        ("/accounts/profile/identities/7/remove/", "/accounts/profile/"),
        ("/accounts/logout/", None),
    ],
)
def test_the_way_back_is_the_nearest_page_above_that_a_browser_can_open(path, back):
    assert form_page(path) == back


def test_the_methods_a_view_takes_are_read_through_its_decorators():
    from accounts import profile_views
    from findings.reviews import views

    assert allowed_methods(views.review_sign_off) == ["POST"]
    assert allowed_methods(views.review) == ["GET"]
    assert allowed_methods(profile_views.token_create) == ["POST"]
    assert allowed_methods(lambda request: None) is None


def test_a_head_request_gets_the_405_and_its_allow_header(client, approver, cycle):
    client.force_login(approver)
    response = client.head(f"/review/cycles/{cycle.pk}/sign-off/", headers=PAGE)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.content == b""


def test_a_page_that_takes_get_only_explains_a_post_too(client, reviewer):
    client.force_login(reviewer)
    response = client.post("/accounts/profile/", headers=PAGE)
    assert response.status_code == 405
    assert "It takes <code>GET</code> only." in response.content.decode()


def test_the_api_keeps_its_json_405(client, reviewer):
    _, raw = create_token(user=reviewer, name="tests")
    response = client.get("/api/releases", headers={**PAGE, "Authorization": f"Bearer {raw}"})
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response["Content-Type"].startswith("application/json")
    assert "error" in response.json()


def test_an_empty_405_under_the_api_or_for_a_client_that_wants_no_html_stays_empty(rf, reviewer):
    def blank(request):
        return HttpResponseNotAllowed(["POST"])

    middleware = NotAllowedPageMiddleware(blank)
    for request in (
        rf.get("/api/docs", headers=PAGE),
        rf.get("/review/open/", headers={"Accept": "application/json"}),
    ):
        request.user = reviewer
        response = middleware(request)
        assert response.status_code == 405 and response["Allow"] == "POST"
        assert response.content == b""


def test_what_is_shown_is_escaped(rf, reviewer):
    def odd(request):
        return HttpResponseNotAllowed(["<script>alert(1)</script>"])

    request = rf.get("/review/open/", headers=PAGE)
    request.user = reviewer
    page = NotAllowedPageMiddleware(odd)(request).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
