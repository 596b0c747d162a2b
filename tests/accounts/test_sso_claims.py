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
    assert backend.filter_users_by_claims({"email": " ADA@example.com "}).get().email == (
        "ada@example.com"
    )


@pytest.mark.parametrize("name", [None, 42, "", "Grace Hopper"])
def test_a_new_person_is_created_whatever_the_name_claim_holds(backend, name):
    user = backend.create_user({"email": "Grace@Example.com", "name": name, "groups": []})
    assert User.objects.get(pk=user.pk).email == "grace@example.com"
    assert user.full_name == (name if isinstance(name, str) else "")
