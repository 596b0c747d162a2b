"""What the action database cannot say about a suggestion's changes, for its notes and
totals: the action names and wildcards it does not know that a change keeps or removes, the
open-ended grants (NotAction, `*`, `*:Get*`) narrowed to the services it names, and every
service a set of documents grants, those only a wildcard names included."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from findings.policy import actions
from findings.policy.documents import statements
from findings.policy.grants import GrantedPolicy, GrantsCache
from findings.rightsizing.engine.patterns import _is_wildcard, _matches, _opaque_patterns


def _unknown_to_database(
    policies: list[GrantedPolicy], changes: list[dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """Action names and wildcards the action database knows nothing of (`newsvc:DoThing`,
    `newsvc:*`, `sqs:ZzzNew*`): those the suggestion still names (or covers, with the same
    effect), and those it removed with their unused service."""
    kept, removed = set(), set()
    for policy, change in zip(policies, changes, strict=True):
        names = {
            (statement.effect, name)
            for statement in statements(document=policy.document)
            for name in statement.actions
            if not (
                actions.expand(pattern=name)
                if _is_wildcard(name)
                else actions.is_known(action=name)
            )
        }
        if change["action"] == "keep":
            kept.update(name for _, name in names)
            continue
        # What the suggestion writes, by effect and service (`*` where a wildcard names none).
        written: dict[tuple[str | None, str], set[str]] = {}
        for statement in statements(document=change["after"] or {}):
            for name in statement.actions:
                service = name.partition(":")[0]
                key = "*" if _is_wildcard(service) or ":" not in name else service.lower()
                written.setdefault((statement.effect, key), set()).add(name)
        for effect, name in names:
            candidates = [
                *written.get((effect, actions.service_of(action=name)), ()),
                *written.get((effect, "*"), ()),
            ]
            still = name in candidates or any(_matches(w, name) for w in candidates)
            (kept if still else removed).add(name)
    return sorted(kept), sorted(removed)


def _narrows_open_ended(change: Mapping[str, Any]) -> bool:
    """Whether a change rewrites or drops an Allow statement granting services by no name
    (NotAction, `*`, `*:Get*`): what is left names only the services iamreview knows of."""
    kept = [s.raw for s in statements(document=change["after"] or {})]
    return any(
        statement.is_allow
        and statement.raw not in kept
        and (
            bool(statement.not_actions)
            or any(_is_wildcard(p.partition(":")[0]) or ":" not in p for p in statement.actions)
        )
        for statement in statements(document=change["before"])
    )


def _granted_service_names(
    documents: Iterable[Mapping[str, Any]], grants: GrantsCache, shared: dict[str, Any]
) -> set[str]:
    """Every service some Allow of the documents grants: through the action database, and by
    the name of a wildcard it cannot expand (`newsvc:*`). Worked out once per document text."""
    known: dict[str, frozenset[str]] = shared.setdefault("service_names", {})
    found: set[str] = set()
    for document in documents:
        digest = grants.digest(document)
        if digest not in known:
            known[digest] = frozenset(
                {actions.service_of(action=a) for a in grants.expanded(document)[1]}
                | {
                    actions.service_of(action=p)
                    for statement in statements(document=document)
                    for p in _opaque_patterns(statement)
                    if not _is_wildcard(p.partition(":")[0])
                }
            )
        found |= known[digest]
    return found
