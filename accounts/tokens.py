"""Personal API tokens: shown once, stored as SHA-256, expiring, revocable, audited."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from accounts.backends import user_with_permissions
from accounts.models import ApiToken, User

TOKEN_PREFIX = "iamr_"
# How long a new token may work.
TOKEN_DAYS = (30, 90, 180, 365)
DEFAULT_TOKEN_DAYS = 90


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def create_token(
    *,
    user: User,
    name: str,
    actor: User | None = None,
    form_id: str = "",
    days: int = DEFAULT_TOKEN_DAYS,
    scope: str = ApiToken.Scope.FULL,
) -> tuple[ApiToken, str]:
    """A new token for `user`, working for `days` (one of TOKEN_DAYS), and the token itself
    (shown once). `actor`: who made it, None for the system (a command). `form_id`: the profile
    form it comes from; a second token from the same form is an IntegrityError. `scope`: what
    it may do within its owner's capabilities (ApiToken.Scope; never more than the owner)."""
    from findings.audit.services import record

    name = name.strip()
    if not name:
        raise ValueError("A token needs a name (what it is for, e.g. 'release pipeline')")
    if days not in TOKEN_DAYS:
        raise ValueError(f"A token works for {', '.join(map(str, sorted(TOKEN_DAYS)))} days")
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"A token's scope is one of {', '.join(ApiToken.Scope.values)}")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=raw[:12],
        token_hash=hash_token(raw),
        form_id=form_id,
        expires_at=timezone.now() + timedelta(days=days),
        scope=ApiToken.Scope(scope),
    )
    record(
        actor=actor,
        action="token.created",
        target_type="api_token",
        target_id=token.pk,
        target_label=f"{token.name} of {user.email}",
        after={
            "name": token.name,
            "prefix": token.prefix,
            "user": user.email,
            "expires_at": token.expires_at.isoformat(),
            "scope": token.scope,
        },
    )
    return token, raw


@transaction.atomic
def revoke_token(*, token: ApiToken, actor: User | None) -> None:
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


@dataclass(frozen=True)
class TokenCaller:
    """Who a bearer token speaks for, and the scope that narrows what it may do for them."""

    user: User
    scope: ApiToken.Scope


def caller_for_token(*, raw: str) -> TokenCaller | None:
    """The active owner of the bearer token and its scope, or None."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(raw)
    now = timezone.now()
    if connection.vendor == "postgresql":
        # The owner, their permissions and the token in one statement (every API request).
        user, token = user_with_permissions(token_hash=digest)
        if user is None:
            return None
        token_id, last_used_at, scope = token
    else:
        token = (
            ApiToken.objects.select_related("user")
            .filter(token_hash=digest, revoked_at=None, expires_at__gt=now, user__is_active=True)
            .first()
        )
        if token is None:
            return None
        user, token_id, last_used_at, scope = token.user, token.pk, token.last_used_at, token.scope
    if last_used_at is None or (now - last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
    return TokenCaller(user=user, scope=ApiToken.Scope(scope))


def user_for_token(raw: str) -> User | None:
    """The active user a bearer token belongs to, or None (whatever the token's scope)."""
    caller = caller_for_token(raw=raw)
    return caller.user if caller else None
