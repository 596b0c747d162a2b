"""What a principal is granted: its policies (own and its groups'), expanded to concrete actions.

Pure, and meant to be built on (effective permissions, escalation paths): policies in as plain
records, actions out, with wildcards and NotAction expanded through the IAM action database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from findings.policy import actions
from findings.policy.documents import Statement, document_hash, statements

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


class GrantsCache:
    """What documents grant, worked out once for a run (one account's suggestions): a group's
    members share its documents, copies of a managed policy share their content, and a
    NotAction statement is thousands of actions. Documents are known by their content, hashed
    once per document object. Made by the caller for the run and let go with it: it keeps
    every document it has seen."""

    def __init__(self) -> None:
        # id(document) -> (the document, its hash): kept beside its hash, the document stays
        # alive as long as this does, so no other document can take its id meanwhile.
        self._hashes: dict[int, tuple[Mapping[str, Any], str]] = {}
        self._actions: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {}
        # ((label, hash) of each policy, in order) -> granted_services of those policies
        self.services: dict[tuple[tuple[str, str], ...], dict[str, list[str]]] = {}

    def digest(self, document: Mapping[str, Any]) -> str:
        if id(document) not in self._hashes:
            self._hashes[id(document)] = (document, document_hash(document=document))
        return self._hashes[id(document)][1]

    def expanded(self, document: Mapping[str, Any]) -> tuple[frozenset[str], tuple[str, ...]]:
        """The document's actions, and the same sorted."""
        digest = self.digest(document)
        if digest not in self._actions:
            found = _document_actions(document)
            self._actions[digest] = (found, tuple(sorted(found)))
        return self._actions[digest]


def _document_actions(document: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(
        a
        for statement in statements(document=document)
        for a in statement_actions(statement=statement)
    )


def document_actions(
    *, document: Mapping[str, Any], cache: GrantsCache | None = None
) -> frozenset[str]:
    return _document_actions(document) if cache is None else cache.expanded(document)[0]


def granted_actions(
    *, policies: Iterable[GrantedPolicy], cache: GrantsCache | None = None
) -> dict[str, list[str]]:
    """Every action Allowed by any of the policies -> the labels of the policies granting it.

    Deny statements and permissions boundaries are not subtracted here: this is what the
    policies grant, not yet what the principal may effectively do. ``cache``: the run's, when
    many principals are asked about.
    """
    granted: dict[str, list[str]] = {}
    for policy in policies:
        label = policy.label
        in_order = (
            sorted(_document_actions(policy.document))
            if cache is None
            else cache.expanded(policy.document)[1]
        )
        for action in in_order:
            granted.setdefault(action, []).append(label)
    return granted


def granted_services(
    *, policies: Iterable[GrantedPolicy], cache: GrantsCache | None = None
) -> dict[str, list[str]]:
    """Service prefix -> labels of the policies granting some action of it.

    With the run's ``cache``, worked out once per set of policies (the members of the same
    groups have the same), each caller getting lists of its own.
    """
    policies = list(policies)
    if cache is None:
        return _granted_services(policies, None)
    key = tuple((policy.label, cache.digest(policy.document)) for policy in policies)
    if key not in cache.services:
        cache.services[key] = _granted_services(policies, cache)
    return {service: list(labels) for service, labels in cache.services[key].items()}


def _granted_services(
    policies: list[GrantedPolicy], cache: GrantsCache | None
) -> dict[str, list[str]]:
    services: dict[str, list[str]] = {}
    for action, labels in granted_actions(policies=policies, cache=cache).items():
        entry = services.setdefault(actions.service_of(action=action), [])
        entry.extend(label for label in labels if label not in entry)
    return dict(sorted(services.items()))
