"""What a principal is granted: its policies (own and its groups'), expanded to concrete actions.

Pure, and meant to be built on (effective permissions, escalation paths): policies in as plain
records, actions out, with wildcards and NotAction expanded through the IAM action database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from findings.policy import actions
from findings.policy.documents import Statement, statements

PolicyKind = Literal["inline", "managed", "group"]


@dataclass(frozen=True)
class GrantedPolicy:
    """One policy in effect on a principal.

    ``kind`` is "group" for a group's policy (inline or managed: ``is_managed`` says which);
    ``members`` are every user the policy reaches through that group.
    """

    name: str
    ref: str  # the managed policy's ARN, or the inline policy's name
    kind: PolicyKind
    document: dict = field(hash=False)
    is_managed: bool = False
    is_aws_managed: bool = False
    attachment_count: int = 1
    group: str = ""
    members: tuple[str, ...] = ()
    # A managed policy some principal has as its permissions boundary (AWS's AttachmentCount
    # does not count that use).
    used_as_boundary: bool = False
    policy_id: str = ""  # a managed policy's id (ANPA...), as Access Analyzer may name it

    # Set where another policy of the same principal has the same name (an inline and a
    # managed policy both called "app"): labels key the suggestion's changes and checks.
    distinct: str = ""

    @property
    def label(self) -> str:
        label = f"{self.name} (group {self.group})" if self.group else self.name
        return f"{label} ({self.distinct})" if self.distinct else label

    @property
    def is_shared(self) -> bool:
        """Editing it in place would change what others may do."""
        return (
            self.is_aws_managed
            or self.attachment_count > 1
            or self.used_as_boundary
            or bool(self.group)
        )


def statement_actions(*, statement: Statement) -> frozenset[str]:
    """The concrete actions an Allow statement grants (NotAction: every other action)."""
    if not statement.is_allow:
        return frozenset()
    if statement.not_actions:
        excluded = {a.lower() for p in statement.not_actions for a in actions.expand(pattern=p)}
        return frozenset(a for a in actions.expand(pattern="*") if a.lower() not in excluded)
    return frozenset(a for pattern in statement.actions for a in actions.expand(pattern=pattern))


def document_actions(*, document: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(
        a
        for statement in statements(document=document)
        for a in statement_actions(statement=statement)
    )


def granted_actions(*, policies: Iterable[GrantedPolicy]) -> dict[str, list[str]]:
    """Every action Allowed by any of the policies -> the labels of the policies granting it.

    Deny statements and permissions boundaries are not subtracted here: this is what the
    policies grant, not yet what the principal may effectively do.
    """
    granted: dict[str, list[str]] = {}
    for policy in policies:
        for action in sorted(document_actions(document=policy.document)):
            granted.setdefault(action, []).append(policy.label)
    return granted


def granted_services(*, policies: Iterable[GrantedPolicy]) -> dict[str, list[str]]:
    """Service prefix -> labels of the policies granting some action of it."""
    services: dict[str, list[str]] = {}
    for action, labels in granted_actions(policies=policies).items():
        entry = services.setdefault(actions.service_of(action=action), [])
        entry.extend(label for label in labels if label not in entry)
    return dict(sorted(services.items()))
