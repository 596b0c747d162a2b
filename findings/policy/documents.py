"""Read IAM policy documents: normalise, hash, spot broad grants and diff them for reviews.

Pure: plain dicts in (as boto3 returns them, already URL-decoded), frozen dataclasses out.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

GrantKind = Literal["full_admin", "service_wildcard", "not_action_allow"]
ChangeKind = Literal["added", "removed", "changed", "unchanged"]

# IAM's Effect value is case sensitive: only the exact string "Allow" grants anything.
ALLOW = "Allow"
ALL_RESOURCES = "*"
ALL_SERVICES = "*"


@dataclass(frozen=True)
class Statement:
    index: int
    sid: str | None
    effect: str | None
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    condition: dict | None = field(hash=False)
    raw: dict = field(hash=False)

    @property
    def is_allow(self) -> bool:
        return self.effect == ALLOW

    @property
    def has_condition(self) -> bool:
        return bool(self.condition)

    @property
    def on_all_resources(self) -> bool:
        return any(_every_resource(r) for r in self.resources)


@dataclass(frozen=True)
class Grant:
    kind: GrantKind
    statement_index: int
    sid: str | None
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    has_condition: bool
    statement: dict = field(hash=False)
    services: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()  # NotResource: every resource but these


@dataclass(frozen=True)
class PolicyDiff:
    unified: tuple[str, ...]
    added_actions: frozenset[str]
    removed_actions: frozenset[str]
    is_first_review: bool
    old_hash: str | None
    new_hash: str | None

    @property
    def changed(self) -> bool:
        return self.old_hash != self.new_hash


@dataclass(frozen=True)
class PolicyChange:
    name: str
    kind: ChangeKind
    diff: PolicyDiff


def canonical_json(*, document: Mapping[str, Any]) -> str:
    """Sorted keys and no whitespace; list order (e.g. of statements) is kept as written."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def document_hash(*, document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document=document).encode("utf-8")).hexdigest()


def pretty(*, document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


def statements(*, document: Mapping[str, Any]) -> list[Statement]:
    raw_statements = document.get("Statement")
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        return []
    return [
        _statement(index=index, raw=raw)
        for index, raw in enumerate(raw_statements)
        if isinstance(raw, Mapping)
    ]


def find_admin_grants(*, document: Mapping[str, Any]) -> list[Grant]:
    """Allow statements that grant every action on every resource, or all but a few (NotAction),
    or on every resource but a few (NotResource: the statement's `NotResource` says which).

    A NotResource that excludes every resource (`*`) grants nothing.
    """
    grants = []
    for statement in statements(document=document):
        all_but_some_resources = bool(statement.not_resources) and not any(
            _only_stars(r) for r in statement.not_resources
        )
        if not statement.is_allow or not (statement.on_all_resources or all_but_some_resources):
            continue
        all_actions = tuple(a for a in statement.actions if _is_all_actions(a))
        if all_actions:
            grants.append(_grant("full_admin", statement, all_actions, (ALL_SERVICES,)))
        elif statement.not_actions:
            grants.append(
                _grant("not_action_allow", statement, statement.not_actions, (ALL_SERVICES,))
            )
    return grants


def find_service_wildcards(*, document: Mapping[str, Any]) -> list[Grant]:
    """Allow statements granting every action of a service (`s3:*`), on any resource.

    `*` on something narrower than every resource is reported here with the service `*`;
    on every resource it is full admin and left to find_admin_grants.
    """
    admin_indexes = {grant.statement_index for grant in find_admin_grants(document=document)}
    grants = []
    for statement in statements(document=document):
        if not statement.is_allow or statement.index in admin_indexes:
            continue
        wildcards = tuple(
            a for a in statement.actions if _is_all_actions(a) or _service_wildcard(a)
        )
        if wildcards:
            services = sorted({_service_wildcard(a) or ALL_SERVICES for a in wildcards})
            grants.append(_grant("service_wildcard", statement, wildcards, tuple(services)))
    return grants


def granted_services(*, documents: Iterable[Mapping[str, Any]]) -> set[str]:
    """Lower-case service namespaces that Allow statements grant; `*` when all may be.

    A NotAction Allow grants every service but a few, so it counts as `*`. A namespace
    written with a wildcard (`s*:Get*`) is returned as written, lower-cased.
    """
    services: set[str] = set()
    for document in documents:
        for statement in statements(document=document):
            if not statement.is_allow:
                continue
            if statement.not_actions:
                services.add(ALL_SERVICES)
            for action in statement.actions:
                if _is_all_actions(action):
                    services.add(ALL_SERVICES)
                elif (service := _service_of(action)) is not None:
                    services.add(service)
    return services


def diff_documents(*, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> PolicyDiff:
    """What changed between the approved document (`old`) and the current one (`new`).

    Actions are compared case-insensitively, as IAM matches them; each is reported as
    spelled in the document it comes from.
    """
    old_actions = _allowed_actions(old)
    new_actions = _allowed_actions(new)
    unified = difflib.unified_diff(
        _diff_lines(old), _diff_lines(new), fromfile="before", tofile="after", lineterm=""
    )
    return PolicyDiff(
        unified=tuple(unified),
        added_actions=frozenset(new_actions[k] for k in new_actions.keys() - old_actions.keys()),
        removed_actions=frozenset(old_actions[k] for k in old_actions.keys() - new_actions.keys()),
        is_first_review=old is None,
        old_hash=None if old is None else document_hash(document=old),
        new_hash=None if new is None else document_hash(document=new),
    )


def diff_policy_sets(
    *, old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> list[PolicyChange]:
    """Compare two sets of documents keyed by policy name or ARN, sorted by that key."""
    changes = []
    for name in sorted(old.keys() | new.keys()):
        diff = diff_documents(old=old.get(name), new=new.get(name))
        if name not in old:
            kind: ChangeKind = "added"
        elif name not in new:
            kind = "removed"
        else:
            kind = "changed" if diff.changed else "unchanged"
        changes.append(PolicyChange(name=name, kind=kind, diff=diff))
    return changes


def _statement(*, index: int, raw: Mapping[str, Any]) -> Statement:
    sid = raw.get("Sid")
    effect = raw.get("Effect")
    condition = raw.get("Condition")
    return Statement(
        index=index,
        sid=sid if isinstance(sid, str) else None,
        effect=effect if isinstance(effect, str) else None,
        actions=_strings(raw.get("Action")),
        not_actions=_strings(raw.get("NotAction")),
        resources=_strings(raw.get("Resource")),
        not_resources=_strings(raw.get("NotResource")),
        condition=dict(condition) if isinstance(condition, Mapping) else None,
        raw=dict(raw),
    )


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


def _grant(
    kind: GrantKind, statement: Statement, actions: tuple[str, ...], services: tuple[str, ...]
) -> Grant:
    return Grant(
        kind=kind,
        statement_index=statement.index,
        sid=statement.sid,
        actions=actions,
        resources=statement.resources,
        has_condition=statement.has_condition,
        statement=statement.raw,
        services=services,
        not_resources=statement.not_resources,
    )


def _only_stars(text: str) -> bool:
    return bool(text) and set(text) == {"*"}


def _every_resource(resource: str) -> bool:
    """`*`, or an ARN pattern with nothing but wildcards after its partition: `arn:*`,
    `arn:aws:*:*:*:*` (a wildcard matches an empty segment, and any characters)."""
    if _only_stars(resource):
        return True
    if not isinstance(resource, str) or not resource.startswith("arn:"):
        return False
    partition, *rest = resource[len("arn:") :].split(":")
    if not (_only_stars(partition) or (partition.startswith("aws") and rest)):
        return False
    return all(_only_stars(part) for part in rest)


def _is_all_actions(action: str) -> bool:
    """`*`, `*:*` (and the equivalent `**`, `*:**`)."""
    service, colon, name = action.partition(":")
    if not colon:
        return _only_stars(action)
    return _only_stars(service) and _only_stars(name)


def _service_of(action: str) -> str | None:
    service, colon, name = action.partition(":")
    if not colon or not service or not name:
        return None
    return service.lower()


def _service_wildcard(action: str) -> str | None:
    """The service of `s3:*`; None for `s3:Get*`, `*:Get*` or anything else."""
    service = _service_of(action)
    if service is None or "*" in service or "?" in service:
        return None
    return service if _only_stars(action.partition(":")[2]) else None


def _allowed_actions(document: Mapping[str, Any] | None) -> dict[str, str]:
    """Actions of Allow statements, keyed by their lower-cased form."""
    if document is None:
        return {}
    actions: dict[str, str] = {}
    for statement in statements(document=document):
        if statement.is_allow:
            for action in statement.actions:
                actions.setdefault(action.lower(), action)
    return actions


def _diff_lines(document: Mapping[str, Any] | None) -> list[str]:
    if document is None:
        return []
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
