"""Single sign-on's claims, as the backend reads them (the whole flow runs in the browser tests
against a real OpenID provider): who a login may be, and what a new person is created with."""

import pytest

from accounts.models import User
from accounts.permissions import Role
from accounts.sso import SingleSignOnBackend
from tests.conftest import make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def backend(settings):
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example.com/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.example.com/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.example.com/jwks"
    settings.OIDC_RP_CLIENT_ID = "iamreview"
    settings.OIDC_RP_CLIENT_SECRET = "not-a-secret"
    settings.OIDC_ROLE_MAP = {"admins": ["administrator"]}
    return SingleSignOnBackend()


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"email": "ada@example.com", "email_verified": True}, True),
        ({"email": "ada@example.com", "email_verified": "true"}, True),
        ({"email": "ada@example.com"}, True),  # many providers send no email_verified
        ({"email": "ada@example.com", "email_verified": False}, False),
        ({"email": "ada@example.com", "email_verified": "false"}, False),
        ({"email": "ada@example.com", "email_verified": None}, False),
        ({"email": ["ada@example.com"]}, False),
        ({"email": "  "}, False),
        ({}, False),
    ],
)
def test_a_login_needs_an_email_the_provider_has_not_called_unverified(backend, claims, accepted):
    assert backend.verify_claims(claims) is accepted


def test_an_unverified_email_never_reaches_an_existing_administrator(backend):
    """An identity provider that lets people set their own address ("nOAuth")."""
    make_person("ada@example.com", Role.ADMINISTRATOR)
    claims = {"email": "ADA@example.com", "email_verified": False, "groups": ["admins"]}
    assert not backend.verify_claims(claims)
    claims = {"email": " ADA@example.com ", "email_verified": True}
    assert backend.filter_users_by_claims(claims).get().email == "ada@example.com"


@pytest.mark.parametrize("name", [None, 42, "", "Grace Hopper"])
def test_a_new_person_is_created_whatever_the_name_claim_holds(backend, name):
    user = backend.create_user({"email": "Grace@Example.com", "name": name, "groups": []})
    assert User.objects.get(pk=user.pk).email == "grace@example.com"
    assert user.full_name == (name if isinstance(name, str) else "")


@pytest.mark.parametrize(
    "claims",
    [
        {"email": "ada@example.com\x00"},
        {"email": "a" * 250 + "@example.com"},
        {"email": "not-an-email"},
        {"email": "ada@exa\u202emple.com"},
        {"email": "ada@example.com", "groups": 1.5},
        {"email": "ada@example.com", "groups": True},
        {"email": "ada@example.com", "groups": {"admins": 1}},
        {"email": "ada@example.com", "groups": ["admins", 7]},
        # Microsoft Entra ID's "groups overage": in over 200 groups, the person's groups are
        # left out for a Graph call (a distributed claim), not "none".
        {
            "email": "ada@example.com",
            "_claim_names": {"groups": "src1"},
            "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/me"}},
        },
    ],
)
def test_claims_that_are_not_an_email_or_a_list_of_groups_refuse_the_login(backend, claims):
    """Each was a 500 (a NUL, 264 characters, a number for groups) or an account named
    `not-an-email`; a groups claim read as no groups would take every role away."""
    assert backend.verify_claims(claims) is False


def test_refused_single_sign_ons_do_not_lock_single_sign_on_for_everyone_at_the_address(
    settings,
):
    """A callback names no account: five refused ones were one pair (no account, this
    address) and locked single sign-on for everybody behind it for 15 minutes."""
    from axes.handlers.proxy import AxesProxyHandler
    from django.test import RequestFactory

    def callback():
        request = RequestFactory().get("/accounts/sso/callback/", REMOTE_ADDR="10.0.0.7")
        AxesProxyHandler.update_request(request)
        return request

    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        AxesProxyHandler.user_login_failed(sender=None, credentials={}, request=callback())

    assert AxesProxyHandler.is_allowed(callback(), credentials={})
    settings.AXES_ADDRESS_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT
    assert not AxesProxyHandler.is_allowed(callback(), credentials={})  # spraying still stops
