"""Write functions for people and their roles."""

import secrets
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.access_audit import acting_as, current_actor
from accounts.models import User
from accounts.permissions import ROLE_CAPABILITIES, Capability, Role, can
from accounts.tokens import revoke_token
from findings.audit.services import record
from findings.reviews.services import hand_back_items, items_to_hand_back


def generate_password() -> str:
    return secrets.token_urlsafe(15)


@transaction.atomic
def create_person(
    *, email: str, roles: list[Role], password: str | None = None, full_name: str = ""
) -> tuple[User, str | None]:
    """Create a user with roles. Returns the user and the generated password, if one was made."""
    email = email.strip().lower()
    validate_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError(f"A user with the email {email} already exists")
    generated = None
    if not password:
        password = generated = generate_password()
    user = User.objects.create_user(email, password, full_name=full_name)
    for role in roles:
        grant_role(user=user, role=role)
    return user, generated


def role_group(role: Role) -> Group:
    """The role's group. A migration creates them; recreate them if something removed them."""
    group = Group.objects.filter(name=role.value).first()
    if group is None:
        from django.apps import apps

        from accounts.roles import sync_role_groups

        sync_role_groups(apps)
        group = Group.objects.get(name=role.value)
    return group


def audit_role_change(
    *, user: User, role: Role, granted: bool, actor: User | None, source: str = "manual"
) -> None:
    record(
        actor=actor,
        action="role.granted" if granted else "role.revoked",
        target_type="user",
        target_id=user.pk,
        target_label=user.email,
        before={"role": role.value, "held": not granted},
        after={"role": role.value, "held": granted, "source": source},
    )


@transaction.atomic
def grant_role(
    *, user: User, role: Role, actor: User | None = None, source: str = "manual"
) -> bool:
    """Give a role. Returns False when the user already had it."""
    group = role_group(role)
    if user.groups.filter(pk=group.pk).exists():
        return False
    user.groups.add(group)
    if role is Role.ADMINISTRATOR and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    audit_role_change(user=user, role=role, granted=True, actor=actor, source=source)
    return True


@transaction.atomic
def revoke_role(
    *, user: User, role: Role, actor: User | None = None, source: str = "manual"
) -> bool:
    """Take a role away, and what it let the person do: Administrator takes the Django admin
    and a superuser's every power with it (as single sign-on does; a superuser holds it without
    the group), and someone who may then no longer decide hands their undecided items back.
    Returns False when the person did not hold it."""
    group = role_group(role)
    in_group = user.groups.filter(pk=group.pk).exists()
    superuser = role is Role.ADMINISTRATOR and user.is_superuser
    if not (in_group or superuser):
        return False
    # A superuser may decide without the Reviewer role.
    may_stop_deciding = superuser or Capability.DECIDE in ROLE_CAPABILITIES[role]
    assigned = items_to_hand_back(user=user) if may_stop_deciding else []
    if in_group:
        user.groups.remove(group)
    if role is Role.ADMINISTRATOR and (user.is_staff or user.is_superuser):
        user.is_staff = user.is_superuser = False
        user.save(update_fields=["is_staff", "is_superuser"])
    audit_role_change(user=user, role=role, granted=False, actor=actor, source=source)
    if assigned and not can(User.objects.get(pk=user.pk), Capability.DECIDE):
        hand_back_items(user=user, item_ids=assigned, actor=actor, reason=f"{role.value} revoked")
    return True


@transaction.atomic
def set_roles(
    *, user: User, roles: set[Role], source: str, actor: User | None = None
) -> tuple[list[Role], list[Role]]:
    """Make the person's roles exactly ``roles`` (single sign-on: the claim decides; the
    Django admin: the groups ticked).

    Returns (granted, revoked); each change goes to the audit log with its source.
    """
    held = set(roles_of_user(user=user))
    granted = [r for r in Role if r in roles - held]
    revoked = [r for r in Role if r in held - roles]
    if revoked:
        items_to_hand_back(user=user)  # before the grants write to the audit log
    for role in granted:
        grant_role(user=user, role=role, actor=actor, source=source)
    for role in revoked:
        revoke_role(user=user, role=role, actor=actor, source=source)
    return granted, revoked


def roles_of_user(*, user: User) -> list[Role]:
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in Role if role.value in names]


@transaction.atomic
def deactivate_person(*, user: User, actor: User | None = None) -> bool:
    """Take every way in away, so that reactivating the person later brings none of it back:
    signing in, their API tokens (revoked) and browser sessions (ended); and hand back their
    undecided items. Returns False when already inactive. The deactivation's own audit entry
    comes from accounts.access_audit, each token's from revoke_token."""
    if not user.is_active:
        return False
    actor = actor or current_actor()
    assigned = items_to_hand_back(user=user)
    with acting_as(actor):
        user.is_active = False
        user.save(update_fields=["is_active"])
    for token in user.api_tokens.filter(revoked_at=None, expires_at__gt=timezone.now()):
        revoke_token(token=token, actor=actor)
    end_sessions(user=user, actor=actor)
    hand_back_items(user=user, item_ids=assigned, actor=actor, reason="deactivated")
    return True


def end_sessions(*, user: User, actor: User | None) -> int:
    """Delete the person's browser sessions (audited). A session names its person only inside
    its signed data, so every unexpired one is read: they last SESSION_COOKIE_AGE, so those
    are the sign-ins of the last hours."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    sessions = store.get_model_class().objects.filter(expire_date__gt=timezone.now())
    theirs = [
        key
        for key, data in sessions.values_list("session_key", "session_data").iterator(
            chunk_size=1000
        )
        if store().decode(data).get(SESSION_KEY) == str(user.pk)
    ]
    if not theirs:
        return 0
    sessions.filter(session_key__in=theirs).delete()
    record(
        actor=actor,
        action="user.sessions_ended",
        target_type="user",
        target_id=user.pk,
        target_label=user.email,
        after={"sessions_ended": len(theirs)},
    )
    return len(theirs)


@transaction.atomic
def reset_demo_person(*, email: str, roles: list[Role], full_name: str = "") -> tuple[User, str]:
    """Create or refresh a demo login with a new password (for `make run`). Returns the password."""
    password = generate_password()
    user = User.objects.with_email(email).first()
    if user is None:
        user, _ = create_person(email=email, roles=roles, password=password, full_name=full_name)
    else:
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
        for role in roles:
            grant_role(user=user, role=role)
    return user, password
