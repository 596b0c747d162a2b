"""Single sign-on through OpenID Connect (mozilla-django-oidc).

A person is found by the provider's subject (`sub`) kept from their first sign-in, else by
email (linking an existing account needs an email the provider says it verified), created on
first login otherwise, and their roles set from the groups claim through OIDC_ROLE_MAP on every
login: a role the claim no longer maps to is removed, a superuser's powers too.
"""

import logging
import unicodedata

import jwt
from django.conf import settings
from django.core.exceptions import PermissionDenied, SuspiciousOperation, ValidationError
from django.core.validators import validate_email
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts.backends import OneQueryPermissions
from accounts.models import User, email_key
from accounts.people import revoke_role, set_roles
from accounts.permissions import Role

log = logging.getLogger(__name__)

SOURCE = "sso"
EMAIL_MAX_LENGTH = 254  # the email column's, and RFC 5321's


def roles_from_claims(*, claims: dict, claim: str, role_map: dict[str, list[str]]) -> set[Role]:
    """The roles the claim's values map to. A claim may be a list or one string."""
    values = claims.get(claim) or []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return set()
    return {
        Role.parse(name)
        for value in values
        if isinstance(value, str)
        for name in role_map.get(value, [])
    }


def groups_claim_is_readable(*, claims: dict, claim: str) -> bool:
    """Absent, one string, or a list of strings. Anything else (a number, an object) is refused
    rather than read as "no groups", which would take every role away from the person. So is
    a claim left out for another source to give (OIDC Core 5.6.2's distributed claims: what
    Microsoft Entra ID sends instead of `groups` for someone in over 200 groups): its absence
    says nothing of the person's groups."""
    values = claims.get(claim)
    sources = claims.get("_claim_names")
    if values is None and isinstance(sources, dict) and claim in sources:
        log.warning(
            "sso: %r is given elsewhere (_claim_names), not in the claims: refused; have the "
            "identity provider send the groups assigned to the application instead",
            claim,
        )
        return False
    return (
        values is None
        or isinstance(values, str)
        or (isinstance(values, list) and all(isinstance(v, str) for v in values))
    )


def _has_control_characters(text: str) -> bool:
    """Control and format characters (NUL, a right-to-left override): in no address or id."""
    return any(unicodedata.category(c) in ("Cc", "Cf") for c in text)


def _email(claims: dict) -> str:
    """The claim's email if it is one: a NUL, 300 characters or `not-an-email` made a 500 or
    an account named after it."""
    email = claims.get("email")
    if not isinstance(email, str):
        return ""
    email = email.strip()
    if _has_control_characters(email):
        return ""  # control and format characters (NUL, right-to-left override)
    try:
        validate_email(email)
    except ValidationError:
        return ""
    if not email_key(email):
        return ""  # a look-alike of an ASCII address ("K", the Kelvin sign)
    return email if len(email) <= EMAIL_MAX_LENGTH else ""


def _verified(value) -> bool:
    """`email_verified` as providers send it: a boolean, or (some) the text "true"."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _subject(claims: dict) -> str:
    """The provider's stable id for the person (`sub`, required by OpenID Connect), or ""."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > 255:
        return ""
    if _has_control_characters(sub):
        return ""
    return sub


class SingleSignOnBackend(OneQueryPermissions, OIDCAuthenticationBackend):
    """Logs people in from the identity provider's claims; never by password."""

    def _verify_jws(self, payload, key):
        """The ID token, checked as OpenID Connect Core 3.1.3.7 asks: the signature with the
        configured algorithm, and issued by the configured provider (`OIDC_OP_ISSUER`) for this
        client (`aud`), with an expiry. The library checks neither issuer nor audience."""
        try:
            algorithm = jwt.get_unverified_header(payload).get("alg")
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"ID token unreadable: {exc}") from None
        if algorithm != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(
                f"ID token signed with {algorithm!r}, not {self.OIDC_RP_SIGN_ALGO!r}"
            )
        issuer = settings.OIDC_OP_ISSUER or None
        # A signed userinfo (a JWT too) needs only its issuer and audience; an ID token also
        # its subject, issue time and expiry.
        required = ["aud", *(["iss"] if issuer else [])]
        if self._reading_id_token:
            required += ["exp", "iat", "sub"]
        try:
            return jwt.decode(
                payload,
                key,
                algorithms=[algorithm],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=issuer,
                options={"require": required},
            )
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"ID token refused: {exc}") from None

    _reading_id_token = False

    def verify_token(self, token, **kwargs):
        """The library verifies the ID token with its nonce, and a signed userinfo without."""
        self._reading_id_token = "nonce" in kwargs
        try:
            return super().verify_token(token, **kwargs)
        finally:
            self._reading_id_token = False

    def get_userinfo(self, access_token, id_token, payload):
        """The userinfo claims, which must be about the ID token's subject (OIDC Core 5.3.2)."""
        claims = super().get_userinfo(access_token, id_token, payload)
        if isinstance(claims, dict) and payload.get("sub") and claims.get("sub") != payload["sub"]:
            raise SuspiciousOperation("The userinfo is about another subject than the ID token")
        return claims

    def verify_claims(self, claims):
        """An email to match people by, and not one the provider says it has not verified:
        where people may set their own address, an unverified one would sign in as whoever
        holds it here, administrators included. A provider that sends no `email_verified`
        (many do not) is trusted for new people and for those it signed in before (matched by
        `sub`), not to link an existing account (`filter_users_by_claims`)."""
        return (
            bool(_email(claims))
            and _verified(claims.get("email_verified", True))
            and groups_claim_is_readable(claims=claims, claim=settings.OIDC_GROUPS_CLAIM)
            and super().verify_claims(claims)
        )

    def filter_users_by_claims(self, claims):
        """The person this identity is: the one this provider's `sub` was linked to; else the
        one with its email, exactly (lowered as stored: SQL's case-insensitive match folds
        look-alikes such as "ı" into "i"), if this provider linked no other identity to them and
        either the provider verified the email, OIDC_TRUST_EMAIL_CLAIM says its addresses
        cannot be set by their holders, or the account has no password (single sign-on made it,
        by this same email: there is nothing else to take over). A link made by another issuer
        (a provider moved from) is no link here: it is replaced, and audited.
        PermissionDenied, which ends the sign-in, when an account exists but may not be
        linked: creating another with the same address is no answer."""
        email = _email(claims)
        if not email:
            return self.UserModel.objects.none()
        issuer = settings.OIDC_OP_ISSUER
        if subject := _subject(claims):
            linked = self.UserModel.objects.filter(sso_issuer=issuer, sso_subject=subject)
            if linked.exists():
                return linked
        users = self.UserModel.objects.with_email(email)
        person = users.first()
        if person is None:
            return users
        if person.sso_subject and person.sso_issuer == issuer:
            log.warning("sso: %s is linked to another identity than %r", person.email, subject)
            raise PermissionDenied("Another single sign-on identity is linked to this account")
        if not (
            _verified(claims.get("email_verified"))
            or settings.OIDC_TRUST_EMAIL_CLAIM
            or not person.has_usable_password()
        ):
            log.warning("sso: %s exists; the provider did not say the email is verified", email)
            raise PermissionDenied(
                "An account with this email exists, and the identity provider did not say the "
                "email is verified"
            )
        return users

    def create_user(self, claims):
        name = claims.get("name")
        user = User.objects.create_user(
            email_key(_email(claims)),
            None,
            full_name=(name if isinstance(name, str) else "")[:200],
            sso_issuer=settings.OIDC_OP_ISSUER if _subject(claims) else "",
            sso_subject=_subject(claims),
        )
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        if not user.is_active:
            raise PermissionDenied("This account is disabled")
        roles = roles_from_claims(
            claims=claims, claim=settings.OIDC_GROUPS_CLAIM, role_map=settings.OIDC_ROLE_MAP
        )
        changed = []
        issuer, subject = settings.OIDC_OP_ISSUER, _subject(claims)
        if subject and (user.sso_issuer, user.sso_subject) != (issuer, subject):
            # Linked from now on (audited as a change of access): never linked before, or linked
            # by a provider moved from.
            user.sso_issuer, user.sso_subject = issuer, subject
            changed += ["sso_issuer", "sso_subject"]
        if changed:
            user.save(update_fields=changed)
        if user.is_superuser and Role.ADMINISTRATOR not in roles:
            # The claim decides every power: a superuser it no longer makes an administrator
            # keeps none (revoke_role clears the flags, and hands back what they may no longer
            # decide; audited).
            revoke_role(user=user, role=Role.ADMINISTRATOR, source=SOURCE)
        set_roles(user=user, roles=roles, source=SOURCE)
        return user
