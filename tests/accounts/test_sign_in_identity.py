"""Who a sign-in is: an address matches only the person it spells (no look-alike folding), an
identity provider's subject stays with the person it first signed in, an existing account is
linked only on an email the provider verified, the ID token is checked for this client and
this provider, and the groups claim decides a superuser's powers too."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import PermissionDenied, SuspiciousOperation

from accounts.models import User
from accounts.permissions import Capability, Role, can
from accounts.sso import SingleSignOnBackend
from findings.models import AuditEntry
from tests.conftest import PASSWORD, make_person

pytestmark = pytest.mark.django_db

ISSUER = "https://idp.example.com"


@pytest.fixture
def backend(settings):
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{ISSUER}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{ISSUER}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{ISSUER}/jwks"
    settings.OIDC_OP_ISSUER = ISSUER
    settings.OIDC_RP_CLIENT_ID = "iamreview"
    settings.OIDC_RP_CLIENT_SECRET = "not-a-secret"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_TRUST_EMAIL_CLAIM = False
    settings.OIDC_ROLE_MAP = {"admins": ["administrator"], "security": ["reviewer"]}
    return SingleSignOnBackend()


def sso_login(backend, monkeypatch, claims):
    """What the callback does once the code is exchanged and the ID token checked: None when
    the sign-in is refused (Django's authenticate() ends on PermissionDenied)."""
    monkeypatch.setattr(backend, "get_userinfo", lambda *args: claims)
    try:
        return backend.get_or_create_user("access-token", "id-token", {})
    except (SuspiciousOperation, PermissionDenied):
        return None


@pytest.mark.parametrize(
    ("address", "target"),
    [
        ("ada.adm\u0131n@example.com", "ada.admin@example.com"),  # dotless i: UPPER() is I
        ("ada.admin@\u017fecure.example.com", "ada.admin@secure.example.com"),  # long s: S
        ("ada.admin@\u212araken.com", "ada.admin@kraken.com"),  # Kelvin sign: lower() is k
    ],
)
def test_a_look_alike_sso_address_does_not_sign_in_as_the_administrator(
    backend, monkeypatch, address, target
):
    """A *verified* address at a look-alike domain, or a mailbox the attacker holds, matched
    the administrator through SQL's case-insensitive comparison."""
    admin = make_person(target, Role.ADMINISTRATOR)
    claims = {"sub": "x-1", "email": address, "email_verified": True, "groups": ["admins"]}

    user = sso_login(backend, monkeypatch, claims)

    assert user is None or user.pk != admin.pk, f"{address!r} signed in as {admin.email}"


def test_a_look_alike_address_does_not_log_in_with_that_persons_password(client):
    """Django's login form normalizes the address (NFKC: the Kelvin sign is K again); the
    dotless i stays, and SQL's case-insensitive match had folded it into an i."""
    make_person("ada.admin@example.com", Role.ADMINISTRATOR)
    response = client.post(
        "/accounts/login/",
        {"username": "ada.adm\u0131n@example.com", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
    )
    assert "_auth_user_id" not in client.session
    assert response.status_code == 200


def test_the_same_address_in_another_case_still_logs_in(client):
    make_person("ada.admin@example.com", Role.ADMINISTRATOR)
    client.post(
        "/accounts/login/",
        {"username": " Ada.Admin@Example.COM ", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
    )
    assert "_auth_user_id" in client.session


def test_a_look_alike_spelling_is_no_way_around_a_lock(client, settings):
    """The lock is keyed by the address lowered as login matches it: another spelling names
    another (unknown) account, so it cannot guess at the locked one."""
    admin = make_person("ada.admin@example.com", Role.ADMINISTRATOR)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/accounts/login/",
            {"username": admin.email, "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
        )
    locked = {"username": admin.email, "password": PASSWORD}
    assert client.post("/accounts/login/", locked, REMOTE_ADDR="10.0.0.1").status_code == 429
    client.post(
        "/accounts/login/",
        {"username": "ada.adm\u0131n@example.com", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
    )
    assert "_auth_user_id" not in client.session


def test_without_email_verified_an_existing_password_account_is_not_taken_over(
    backend, monkeypatch
):
    """Entra ID sends no `email_verified`, and a guest tenant's administrator may set `email`:
    linking on the email alone signed in as the password administrator ("nOAuth")."""
    admin = make_person("ada.admin@example.com", Role.ADMINISTRATOR)
    claims = {"sub": "entra-1", "email": "ada.admin@example.com", "groups": ["admins"]}

    assert sso_login(backend, monkeypatch, claims) is None
    admin.refresh_from_db()
    assert admin.sso_subject == ""


def test_a_provider_trusted_for_its_addresses_links_without_email_verified(
    backend, monkeypatch, settings
):
    settings.OIDC_TRUST_EMAIL_CLAIM = True
    admin = make_person("ada.admin@example.com", Role.ADMINISTRATOR)
    claims = {"sub": "entra-1", "email": "ada.admin@example.com", "groups": ["admins"]}

    assert sso_login(backend, monkeypatch, claims).pk == admin.pk


def test_a_new_person_without_email_verified_is_created_with_their_subject(backend, monkeypatch):
    claims = {"sub": "entra-7", "email": "Grace@Example.com", "groups": ["security"]}

    user = sso_login(backend, monkeypatch, claims)

    assert (user.email, user.sso_subject) == ("grace@example.com", "entra-7")


def test_the_first_sign_in_links_the_subject_and_the_audit_log_says_so(backend, monkeypatch):
    person = make_person("rita@example.com", Role.REVIEWER)
    claims = {"sub": "okta-42", "email": "rita@example.com", "email_verified": True}
    claims["groups"] = ["security"]

    assert sso_login(backend, monkeypatch, claims).pk == person.pk

    person.refresh_from_db()
    assert person.sso_subject == "okta-42"
    entry = AuditEntry.objects.filter(action="user.changed", target_id=str(person.pk)).get()
    assert entry.after == {"sso_issuer": ISSUER, "sso_subject": "okta-42"}


def test_another_identity_with_a_linked_persons_email_is_refused(backend, monkeypatch):
    person = make_person("rita@example.com", Role.REVIEWER)
    first = {"sub": "okta-42", "email": "rita@example.com", "email_verified": True}
    assert sso_login(backend, monkeypatch, {**first, "groups": ["security"]}).pk == person.pk

    other = {"sub": "okta-99", "email": "rita@example.com", "email_verified": True}
    assert sso_login(backend, monkeypatch, {**other, "groups": ["admins"]}) is None
    assert not User.objects.get(pk=person.pk).groups.filter(name="Administrator").exists()
    assert User.objects.count() == 1


def test_a_linked_person_is_found_by_subject_after_the_provider_changes_their_email(
    backend, monkeypatch
):
    person = make_person("rita@example.com", Role.REVIEWER)
    claims = {"sub": "okta-42", "email": "rita@example.com", "email_verified": True}
    sso_login(backend, monkeypatch, {**claims, "groups": ["security"]})

    renamed = {"sub": "okta-42", "email": "rita.new@example.com", "groups": ["security"]}
    assert sso_login(backend, monkeypatch, renamed).pk == person.pk


def test_the_userinfo_must_be_about_the_id_tokens_subject(backend, monkeypatch):
    import requests

    class Answer:  # the provider's userinfo answer, as requests gives it
        status_code = 200
        headers = {"content-type": "application/json"}

        def raise_for_status(self):
            return None

        def json(self):
            return {"sub": "someone-else", "email": "ada@example.com"}

    monkeypatch.setattr(requests, "get", lambda *args, **kwargs: Answer())
    with pytest.raises(SuspiciousOperation):
        backend.get_userinfo("access-token", "id-token", {"sub": "ada-1"})


def signed_id_token(key, **claims):
    now = int(time.time())
    body = {"sub": "1", "nonce": "n", "iat": now, "exp": now + 300, **claims}
    body = {name: value for name, value in body.items() if value is not None}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"iss": ISSUER, "aud": "iamreview"}, True),
        ({"iss": ISSUER, "aud": ["iamreview", "other"]}, True),
        ({"iss": ISSUER, "aud": "some-other-client"}, False),
        ({"iss": "https://attacker.example.net", "aud": "iamreview"}, False),
        ({"aud": "iamreview"}, False),
        ({"iss": ISSUER, "aud": "iamreview", "exp": None}, False),
        ({"iss": ISSUER, "aud": "iamreview", "exp": int(time.time()) - 600}, False),
    ],
    ids=["ok", "ok-audiences", "other-client", "other-issuer", "no-issuer", "no-expiry", "expired"],
)
def test_an_id_token_is_checked_for_this_client_and_this_provider(
    backend, monkeypatch, claims, accepted
):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    monkeypatch.setattr(backend, "retrieve_matching_jwk", lambda token: key.public_key())
    token = signed_id_token(key, **claims)
    if accepted:
        assert backend.verify_token(token, nonce="n")["sub"] == "1"
    else:
        with pytest.raises(SuspiciousOperation):
            backend.verify_token(token, nonce="n")


def test_sso_takes_administrator_away_from_a_superuser_the_claim_no_longer_maps(
    backend, monkeypatch
):
    boss = User.objects.create_superuser("boss@example.com", PASSWORD)
    claims = {"sub": "b-1", "email": "boss@example.com", "email_verified": True, "groups": []}

    user = sso_login(backend, monkeypatch, claims)

    assert user.pk == boss.pk
    boss.refresh_from_db()
    assert not boss.is_superuser and not boss.is_staff
    assert not can(boss, Capability.MANAGE_PEOPLE)
    entry = AuditEntry.objects.filter(action="user.changed", target_id=str(boss.pk)).last()
    assert entry.after["is_superuser"] is False
    revoked = AuditEntry.objects.get(action="role.revoked", target_id=str(boss.pk))
    assert revoked.after == {"role": Role.ADMINISTRATOR.value, "held": False, "source": "sso"}


def test_a_superuser_the_claim_makes_an_administrator_stays_one(backend, monkeypatch):
    boss = User.objects.create_superuser("boss@example.com", PASSWORD)
    claims = {"sub": "b-1", "email": "boss@example.com", "email_verified": True}

    sso_login(backend, monkeypatch, {**claims, "groups": ["admins"]})

    boss.refresh_from_db()
    assert boss.is_superuser


def test_a_subject_of_another_provider_does_not_sign_in_as_the_person_the_old_one_linked(
    backend, monkeypatch, settings
):
    """A `sub` is unique only within its issuer: after a move to another provider (with
    numeric subjects, say), its "1001" is not whoever the old provider's "1001" was."""
    admin = make_person("ada.admin@example.com", Role.ADMINISTRATOR)
    first = {"sub": "1001", "email": admin.email, "email_verified": True, "groups": ["admins"]}
    assert sso_login(backend, monkeypatch, first).pk == admin.pk

    settings.OIDC_OP_ISSUER = "https://new-idp.example.org"
    bob = {"sub": "1001", "email": "bob@example.com", "email_verified": True, "groups": []}
    user = sso_login(backend, monkeypatch, bob)
    assert user is not None and user.pk != admin.pk and user.email == "bob@example.com"

    # The administrator, at the new provider, is linked again by a verified email.
    again = {"sub": "77", "email": admin.email, "email_verified": True, "groups": ["admins"]}
    assert sso_login(backend, monkeypatch, again).pk == admin.pk
    admin.refresh_from_db()
    assert (admin.sso_issuer, admin.sso_subject) == ("https://new-idp.example.org", "77")


def test_an_administrator_sees_and_clears_a_persons_sso_link(backend, monkeypatch, admin_client):
    """Someone re-created at the provider has a new `sub`: refused until the link is cleared."""
    person = make_person("rita@example.com", Role.REVIEWER)
    claims = {"sub": "okta-42", "email": person.email, "email_verified": True, "groups": []}
    sso_login(backend, monkeypatch, claims)
    assert sso_login(backend, monkeypatch, {**claims, "sub": "okta-43"}) is None

    page = admin_client.get(f"/admin/accounts/user/{person.pk}/change/").content.decode()
    assert "okta-42" in page
    response = admin_client.post(
        "/admin/accounts/user/",
        {"action": "clear_sso_link", "_selected_action": [person.pk]},
    )
    assert response.status_code == 302

    person.refresh_from_db()
    assert (person.sso_issuer, person.sso_subject) == ("", "")
    cleared = AuditEntry.objects.filter(action="user.changed", target_id=str(person.pk)).last()
    assert cleared.after == {"sso_issuer": "", "sso_subject": ""}
    assert sso_login(backend, monkeypatch, {**claims, "sub": "okta-43"}).pk == person.pk


def test_a_person_sso_made_before_links_were_kept_signs_in_without_email_verified(
    backend, monkeypatch
):
    """Single sign-on made them, by this email, with no password: there is nothing else to
    take over, and refusing them would lock every such person out of an Entra ID sign-in."""
    person = User.objects.create_user("grace@example.com", None)
    claims = {"sub": "entra-7", "email": "grace@example.com", "groups": ["security"]}

    assert sso_login(backend, monkeypatch, claims).pk == person.pk
    person.refresh_from_db()
    assert person.sso_subject == "entra-7"


def test_a_signed_userinfo_needs_no_expiry(backend, monkeypatch):
    """A signed userinfo is read through the ID token's check; OIDC Core 5.3.2 asks it for an
    issuer and an audience only."""
    import requests

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    monkeypatch.setattr(backend, "retrieve_matching_jwk", lambda token: key.public_key())
    body = {"iss": ISSUER, "aud": "iamreview", "sub": "ada-1", "email": "ada@example.com"}
    signed = jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})

    class Answer:  # the provider's userinfo answer, as requests gives it
        status_code = 200
        headers = {"content-type": "application/jwt"}
        text = signed

        def raise_for_status(self):
            return None

    monkeypatch.setattr(requests, "get", lambda *args, **kwargs: Answer())
    claims = backend.get_userinfo("access-token", "id-token", {"sub": "ada-1"})
    assert claims["email"] == "ada@example.com"
    forged = jwt.encode({**body, "aud": "another-client"}, key, algorithm="RS256")
    Answer.text = forged
    with pytest.raises(SuspiciousOperation):
        backend.get_userinfo("access-token", "id-token", {"sub": "ada-1"})


def test_an_id_token_signed_with_the_client_secret_or_a_configured_key_is_checked_too(
    backend, settings
):
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "iamreview", "sub": "1", "nonce": "n", "iat": now}
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    settings.OIDC_RP_CLIENT_SECRET = "a-client-secret-of-at-least-32-bytes!"
    secret = settings.OIDC_RP_CLIENT_SECRET
    token = jwt.encode({**body, "exp": now + 300}, secret, algorithm="HS256")
    assert SingleSignOnBackend().verify_token(token, nonce="n")["sub"] == "1"
    forged = jwt.encode({**body, "exp": now + 300, "iss": "https://evil.example"}, secret)
    with pytest.raises(SuspiciousOperation):
        SingleSignOnBackend().verify_token(forged, nonce="n")

    settings.OIDC_RP_SIGN_ALGO = "RS256"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings.OIDC_RP_IDP_SIGN_KEY = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    token = jwt.encode({**body, "exp": now + 300}, key, algorithm="RS256")
    assert SingleSignOnBackend().verify_token(token, nonce="n")["sub"] == "1"
