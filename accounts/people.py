"""Write functions for people and their roles."""

import secrets

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import User
from accounts.permissions import Role


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
    from findings.audit.services import record

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
    group = role_group(role)
    if not user.groups.filter(pk=group.pk).exists():
        return False
    user.groups.remove(group)
    if role is Role.ADMINISTRATOR and user.is_staff and not user.is_superuser:
        user.is_staff = False
        user.save(update_fields=["is_staff"])
    audit_role_change(user=user, role=role, granted=False, actor=actor, source=source)
    return True


@transaction.atomic
def set_roles(*, user: User, roles: set[Role], source: str) -> tuple[list[Role], list[Role]]:
    """Make the person's roles exactly ``roles`` (single sign-on: the claim decides).

    Returns (granted, revoked); each change goes to the audit log with its source.
    """
    held = set(roles_of_user(user=user))
    granted = [r for r in Role if r in roles - held]
    revoked = [r for r in Role if r in held - roles]
    for role in granted:
        grant_role(user=user, role=role, source=source)
    for role in revoked:
        revoke_role(user=user, role=role, source=source)
    return granted, revoked


def roles_of_user(*, user: User) -> list[Role]:
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in Role if role.value in names]


def deactivate_person(*, user: User) -> bool:
    """Returns False when already inactive. The audit entry comes from accounts.access_audit."""
    if not user.is_active:
        return False
    user.is_active = False
    user.save(update_fields=["is_active"])
    return True


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
