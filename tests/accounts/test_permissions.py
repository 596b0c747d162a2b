"""Walks every URL pattern: anonymous visitors get no page; each role gets exactly its own."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.permissions import Capability, Role, can

PUBLIC_URL_NAMES = {"login", "healthz", "api-schema", "sso_login", "sso_callback", "metrics"}
# Public pages that still answer an anonymous visitor with a refusal: single sign-on is not
# configured in tests (404), and /metrics needs its token or an allowed address (403).
ANONYMOUS_STATUS = {"sso_login": {404}, "sso_callback": {404}, "metrics": {403}}


def walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue  # Django admin: covered by its own test below.
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def all_patterns():
    return list(walk(get_resolver().url_patterns))


def sample_path(route: str) -> str:
    """Fill route converters with values that resolve (objects may not exist: 404 is fine)."""
    import re

    route = re.sub(r"<int:[^>]+>", "1", route)
    route = re.sub(r"<(str:)?[^>]+>", "x", route)
    route = route.replace("^", "").replace("$", "")
    return "/" + route


def test_every_view_declares_who_may_use_it():
    undeclared = []
    for route, pattern in all_patterns():
        callback = pattern.callback
        view = getattr(callback, "view_class", None)
        declared = hasattr(callback, "required_capabilities") or pattern.name in PUBLIC_URL_NAMES
        if view is not None or pattern.name in {"logout", "password_change"}:
            continue  # Django's class-based auth views: login-only, covered below.
        if not declared:
            undeclared.append(route)
    assert undeclared == []


def is_api(pattern) -> bool:
    """API views (findings/api.py) answer JSON and authenticate by bearer token, not session."""
    return getattr(pattern.callback, "api", False)


def api_call(client, pattern, path: str, **headers):
    """The view's first declared method; POSTs carry an empty JSON object."""
    method = pattern.callback.http_methods[0]
    if method == "GET":
        return client.get(path, headers=headers)
    return client.generic(method, path, "{}", content_type="application/json", headers=headers)


@pytest.mark.django_db
def test_anonymous_visitor_never_gets_a_page_except_login_and_healthz(client):
    for route, pattern in all_patterns():
        if is_api(pattern):
            continue  # API: 401, not a redirect (below).
        response = client.get(sample_path(route))
        if pattern.name in PUBLIC_URL_NAMES:
            expected = ANONYMOUS_STATUS.get(pattern.name, {200, 503})
            assert response.status_code in expected, (route, response.status_code)
        else:
            for answer in (response, client.post(sample_path(route))):
                assert answer.status_code == 302, (route, answer.status_code)
                assert answer.url.startswith("/accounts/login/"), route


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role) + [None])
def test_each_role_gets_exactly_the_pages_meant_for_it(client, role):
    from tests.conftest import make_person

    user = make_person(f"{role or 'none'}@example.com".lower(), *([role] if role else []))
    client.force_login(user)
    for route, pattern in all_patterns():
        required = getattr(pattern.callback, "required_capabilities", None)
        if required is None or is_api(pattern):
            continue
        allowed = all(can(user, capability) for capability in required)
        if allowed:
            if "<" in route:
                continue  # the sample ids name nothing: a 404 says nothing about the role
            response = client.get(sample_path(route))
            assert response.status_code in (200, 302, 405), (role, route, response.status_code)
            continue
        # Refused before anything else, whatever the method or the id: a 403, never a 405 or
        # 404 that tells which methods or objects exist.
        for method in (client.get, client.post):
            response = method(sample_path(route))
            assert response.status_code == 403, (role, route, method, response.status_code)


@pytest.mark.django_db
def test_anonymous_api_calls_get_401_json_except_the_public_schema(client):
    api = [(route, pattern) for route, pattern in all_patterns() if is_api(pattern)]
    assert api, "the API routes are included under /api/"
    for route, pattern in api:
        response = api_call(client, pattern, sample_path(route))
        assert pattern.callback.api_public == (pattern.name in PUBLIC_URL_NAMES), route
        if pattern.callback.api_public:
            assert response.status_code == 200, route
            continue
        assert response.status_code == 401, (route, response.status_code)
        assert response["WWW-Authenticate"].startswith("Bearer"), route
        assert "error" in response.json(), route


@pytest.mark.django_db
def test_a_browser_session_never_authenticates_an_api_call(client, administrator):
    client.force_login(administrator)
    for route, pattern in all_patterns():
        if is_api(pattern) and not pattern.callback.api_public:
            response = api_call(client, pattern, sample_path(route))
            assert response.status_code == 401, (route, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role) + [None])
def test_each_role_gets_exactly_the_api_calls_meant_for_it(client, role):
    """Allowed: an answer about the request itself (200/201, 400 for the empty body, 404 for
    an object that does not exist). Not allowed: 403 with the reason, before anything else."""
    from accounts.tokens import create_token
    from tests.conftest import make_person

    user = make_person(f"{role or 'none'}@example.com".lower(), *([role] if role else []))
    _, raw = create_token(user=user, name="url walk")
    for route, pattern in all_patterns():
        if not is_api(pattern) or pattern.callback.api_public:
            continue
        callback = pattern.callback
        allowed = all(can(user, c) for c in callback.required_capabilities) and (
            not callback.any_capabilities or any(can(user, c) for c in callback.any_capabilities)
        )
        response = api_call(client, pattern, sample_path(route), Authorization=f"Bearer {raw}")
        assert response["Content-Type"].startswith("application/json"), route
        if allowed:
            assert response.status_code in (200, 201, 400, 404), (role, route, response.status_code)
        else:
            assert response.status_code == 403, (role, route, response.status_code)
            assert response.json()["error"].startswith("Requires the"), route


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            Role.ADMINISTRATOR,
            {
                Capability.VIEW,
                Capability.EXPORT,
                Capability.MANAGE_ACCOUNTS,
                Capability.MANAGE_PEOPLE,
            },
        ),
        (Role.REVIEWER, {Capability.VIEW, Capability.DECIDE}),
        (Role.APPROVER, {Capability.VIEW, Capability.SIGN_OFF}),
        (Role.AUDITOR, {Capability.VIEW, Capability.EXPORT}),
    ],
)
@pytest.mark.django_db
def test_role_groups_hold_their_named_permissions(role, expected):
    from tests.conftest import make_person

    user = make_person("x@example.com", role)
    assert {c for c in Capability if can(user, c)} == expected


@pytest.mark.django_db
def test_a_user_may_hold_several_roles():
    from tests.conftest import make_person

    user = make_person("both@example.com", Role.REVIEWER, Role.APPROVER)
    assert can(user, Capability.DECIDE) and can(user, Capability.SIGN_OFF)
    assert not can(user, Capability.MANAGE_ACCOUNTS)


@pytest.mark.django_db
def test_django_admin_is_for_administrators_only(client, administrator, reviewer):
    client.force_login(reviewer)
    assert client.get("/admin/").status_code == 302
    client.force_login(administrator)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200


@pytest.mark.django_db
def test_admin_login_redirects_to_the_one_login_page(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_unknown_role_name_is_a_clear_error():
    with pytest.raises(ValueError, match="choose from administrator, reviewer"):
        Role.parse("superhero")
