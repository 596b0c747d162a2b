"""The one place role checks live.

Roles are Django groups holding named permissions (created by a migration). Views declare the
capability they need with `@requires(...)`; templates ask through the `can` context variable.
"""

from collections.abc import Callable
from enum import StrEnum
from functools import wraps

from django.core.exceptions import PermissionDenied


class Role(StrEnum):
    ADMINISTRATOR = "Administrator"
    REVIEWER = "Reviewer"
    APPROVER = "Approver"
    AUDITOR = "Auditor"

    @classmethod
    def parse(cls, value: str) -> "Role":
        for role in cls:
            if role.value.lower() == value.strip().lower():
                return role
        names = ", ".join(r.value.lower() for r in cls)
        raise ValueError(f"Unknown role {value!r}; choose from {names}")


class Capability(StrEnum):
    """What a person may do. Each maps to one named permission of the accounts app."""

    VIEW = "view_evidence"
    EXPORT = "export_evidence"
    DECIDE = "decide_review_items"
    SIGN_OFF = "sign_off_cycles"
    MANAGE_ACCOUNTS = "manage_aws_accounts"
    MANAGE_PEOPLE = "manage_people"


ROLE_CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.ADMINISTRATOR: frozenset(
        {Capability.VIEW, Capability.EXPORT, Capability.MANAGE_ACCOUNTS, Capability.MANAGE_PEOPLE}
    ),
    Role.REVIEWER: frozenset({Capability.VIEW, Capability.DECIDE}),
    Role.APPROVER: frozenset({Capability.VIEW, Capability.SIGN_OFF}),
    Role.AUDITOR: frozenset({Capability.VIEW, Capability.EXPORT}),
}

# Django admin model permissions Administrators hold (app_label, model).
ADMINISTRATOR_MODEL_PERMISSIONS = [
    ("accounts", "user"),
    ("accounts", "linkedidentity"),
    ("auth", "group"),
    ("findings", "webhook"),
    ("findings", "webhookdelivery"),
]


def can(user, capability: Capability | str) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.has_perm(f"accounts.{Capability(capability).value}")


def roles_of(user) -> list[Role]:
    if not user.is_authenticated:
        return []
    # Read with the person on each request (accounts.backends), else from their groups.
    names = getattr(user, "role_names", None)
    if names is None:
        names = {group.name for group in user.groups.all()}
    return [role for role in Role if role.value in names]


def has_role(user, role: Role) -> bool:
    return user.is_authenticated and user.groups.filter(name=role.value).exists()


def requires(*capabilities: Capability) -> Callable:
    """View decorator: the user needs every listed capability, or gets a 403.

    With no capability the view only needs a logged-in user (LoginRequiredMiddleware).
    The URL-walking test reads `required_capabilities` to know who may see each page.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            for capability in capabilities:
                if not can(request.user, capability):
                    raise PermissionDenied(f"Requires the {capability.value} permission")
            return view(request, *args, **kwargs)

        wrapper.required_capabilities = frozenset(capabilities)
        return wrapper

    return decorator


def capabilities_of(user) -> dict[str, bool]:
    """For templates: {"view_evidence": True, ...}."""
    return {capability.value: can(user, capability) for capability in Capability}
