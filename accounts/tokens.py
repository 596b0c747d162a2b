"""Personal API tokens: shown once, stored as SHA-256, revocable, audited."""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, User

TOKEN_PREFIX = "iamr_"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def create_token(*, user: User, name: str, actor: User | None = None) -> tuple[ApiToken, str]:
    from findings.audit.services import record

    name = name.strip()
    if not name:
        raise ValueError("A token needs a name (what it is for, e.g. 'release pipeline')")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=raw[:12], token_hash=hash_token(raw)
    )
    record(
        actor=actor or user,
        action="token.created",
        target_type="api_token",
        target_id=token.pk,
        target_label=f"{token.name} of {user.email}",
        after={"name": token.name, "prefix": token.prefix, "user": user.email},
    )
    return token, raw


@transaction.atomic
def revoke_token(*, token: ApiToken, actor: User) -> None:
    from findings.audit.services import record

    if token.revoked_at:
        return
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    record(
        actor=actor,
        action="token.revoked",
        target_type="api_token",
        target_id=token.pk,
        target_label=f"{token.name} of {token.user.email}",
        before={"active": True},
        after={"active": False},
    )


def user_for_token(raw: str) -> User | None:
    """The active user a bearer token belongs to, or None."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_token(raw), revoked_at=None, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
