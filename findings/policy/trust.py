"""Role trust policies: who a role's trust policy lets assume it, and what naming a principal
grants it.

Pure: a trust policy (a dict as IAM returns it) in, the services and principals it trusts out
(and whether it trusts its account: anyone in it whose own policies allow it); `with_trust_of`
gives a principal's permissions what the trust policies naming it grant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from findings.policy.documents import statements
from findings.policy.effective import (
    EffectivePermissions,
    Policy,
    covered_actions,
    effective_permissions,
)


def _strings(value) -> list[str]:
    """A principal or service list as written: one string or a list; anything else, none."""
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def services_trusted_by(*, trust: Mapping | None) -> frozenset[str]:
    """The AWS services a role's trust policy lets assume it ("*": any principal at all)."""
    services: set[str] = set()
    for statement in statements(document=trust or {}):
        if not statement.is_allow or "sts:assumerole" not in covered_actions(statement=statement):
            continue
        principal = statement.raw.get("Principal")
        if principal == "*":
            services.add("*")
            continue
        services.update(
            _strings(principal.get("Service")) if isinstance(principal, Mapping) else []
        )
    return frozenset(services)


def _is_account(value: str, account_id: str) -> bool:
    """The account itself as a trust policy names it: its id, or its root user's ARN in any
    partition (arn:aws:, arn:aws-cn:, arn:aws-us-gov:)."""
    return (
        value == account_id
        or re.fullmatch(rf"arn:aws[a-z-]*:iam::{re.escape(account_id)}:root", value) is not None
    )


# A trust policy's `"*"` (or `{"AWS": "*"}`) names every principal, as naming one does: in the
# same account no Allow of its own is needed (unlike trust in the account, which delegates the
# decision to the principal's own policies).
EVERY_PRINCIPAL = "*"


def principals_trusted_by(*, trust: Mapping | None, account_id: str) -> tuple[bool, frozenset[str]]:
    """Who a role's trust policy lets assume it: whether it trusts the account (anyone in it
    whose own policies allow it), and the principal ARNs it names (EVERY_PRINCIPAL for every
    one)."""
    anyone, named = False, set()
    for statement in statements(document=trust or {}):
        if not statement.is_allow or "sts:assumerole" not in covered_actions(statement=statement):
            continue
        principal = statement.raw.get("Principal")
        if principal == "*":
            named.add(EVERY_PRINCIPAL)
            continue
        for value in _strings(principal.get("AWS")) if isinstance(principal, Mapping) else []:
            if value == "*":
                named.add(EVERY_PRINCIPAL)
            elif _is_account(value, account_id):
                anyone = True
            else:
                named.add(value)
    return anyone, frozenset(named)


def with_trust_of(
    *, perms: EffectivePermissions, roles: tuple[str, ...], bounded: bool = True
) -> EffectivePermissions:
    """The principal's permissions with what the roles' trust policies grant it by name: in
    the same account that is enough to assume them without an Allow of its own, though an
    explicit Deny still wins and a permissions boundary must allow it, except for an IAM user
    that the trust policy names by its own ARN: a boundary does not limit what a resource
    policy grants such a user (IAM User Guide, "Policy evaluation logic"; "Permissions
    boundaries for IAM entities")."""
    trust = {
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": list(roles)}]
    }
    return effective_permissions(
        principal_arn=perms.principal_arn,
        principal_name=perms.principal_name,
        policies=[*perms.policies, Policy("trust policies naming it", "trust", trust)],
        boundary=perms.boundary if bounded else None,
    )
