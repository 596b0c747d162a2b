"""Single sign-on through OpenID Connect (mozilla-django-oidc).

People are matched by email, created on first login, and their roles set from the groups claim
through OIDC_ROLE_MAP on every login: a role the claim no longer maps to is removed.
"""

import unicodedata

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts.backends import OneQueryPermissions
from accounts.models import User
from accounts.people import set_roles
from accounts.permissions import Role

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
    rather than read as "no groups", which would take every role away from the person."""
    values = claims.get(claim)
    return (
        values is None
        or isinstance(values, str)
        or (isinstance(values, list) and all(isinstance(v, str) for v in values))
    )


def _email(claims: dict) -> str:
    """The claim's email if it is one: a NUL, 300 characters or `not-an-email` made a 500 or
    an account named after it."""
    email = claims.get("email")
    if not isinstance(email, str):
        return ""
    email = email.strip()
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in email):
        return ""  # control and format characters (NUL, right-to-left override)
    try:
        validate_email(email)
    except ValidationError:
        return ""
    return email if len(email) <= EMAIL_MAX_LENGTH else ""


def _verified(value) -> bool:
    """`email_verified` as providers send it: a boolean, or (some) the text "true"."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


class SingleSignOnBackend(OneQueryPermissions, OIDCAuthenticationBackend):
    """Logs people in from the identity provider's claims; never by password."""

    def verify_claims(self, claims):
        """An email to match people by, and not one the provider says it has not verified:
        where people may set their own address, an unverified one would sign in as whoever
        holds it here, administrators included. A provider that sends no `email_verified`
        (many do not) is trusted for the addresses it issues."""
        return (
            bool(_email(claims))
            and _verified(claims.get("email_verified", True))
            and groups_claim_is_readable(claims=claims, claim=settings.OIDC_GROUPS_CLAIM)
            and super().verify_claims(claims)
        )

    def filter_users_by_claims(self, claims):
        email = _email(claims)
        if not email:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(email__iexact=email)

    def create_user(self, claims):
        name = claims.get("name")
        user = User.objects.create_user(
            _email(claims).lower(), None, full_name=(name if isinstance(name, str) else "")[:200]
        )
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        if not user.is_active:
            raise PermissionDenied("This account is disabled")
        roles = roles_from_claims(
            claims=claims, claim=settings.OIDC_GROUPS_CLAIM, role_map=settings.OIDC_ROLE_MAP
        )
        set_roles(user=user, roles=roles, source=SOURCE)
        return user
