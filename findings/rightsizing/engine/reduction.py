"""Rewriting a policy document to keep only what is kept: each Allow statement's
Action/NotAction becomes the kept actions (patterns kept whole, lists compacted to
`service:*`, services and actions newer than the action database carried over), Deny
statements, resources and conditions stay as written, and statements left empty are dropped."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from findings.policy import actions
from findings.policy.documents import statements
from findings.policy.grants import statement_actions
from findings.rightsizing.engine.patterns import (
    _grants_whole_service,
    _matches,
    _opaque_patterns,
    _partly_excluded,
    _statement_grants,
    _unknown_service_patterns,
)


def reduce_document(
    *, document: Mapping[str, Any], keep: Callable[[str], bool]
) -> dict[str, Any] | None:
    """The document with only kept actions; None when no statement is left."""
    kept_statements = []
    for statement in statements(document=document):
        reduced = _reduce_statement(statement, keep)
        if reduced is not None:
            kept_statements.append(reduced)
    if not kept_statements:
        return None
    result = {key: value for key, value in document.items() if key != "Statement"}
    result["Statement"] = kept_statements
    return result


def _reduce_statement(statement, keep: Callable[[str], bool]) -> dict | None:
    raw = statement.raw
    if not statement.is_allow:
        return raw
    granted = statement_actions(statement=statement)
    kept = {a for a in granted if keep(a)}
    # Patterns the action database cannot expand (`newsvc:*`, `sqs:ZzzNew*`): judged by their
    # service, as written; only a service known to be unused removes them.
    opaque = _opaque_patterns(statement)
    kept_opaque = {p for p in opaque if keep(p)}
    if kept == granted and kept_opaque == opaque:
        return raw
    used_unknown = [s for s in getattr(keep, "unknown_services", ()) if keep(f"{s}:*")]
    # Part of a used service newer than the action database excluded (`newsvc:Delete*`): an
    # Action list would either drop the service or grant what was excluded (`newsvc:*`), and
    # Action and NotAction cannot share a statement. Only the statement as written does both.
    if any(_partly_excluded(statement, service) for service in used_unknown):
        return raw
    # Services newer than the action database: a wildcard granted them, and the list it
    # becomes would not. Kept whole where their use keeps them (`newsvc:*`).
    unknown = {p for service in used_unknown for p in _unknown_service_patterns(statement, service)}
    # Actions newer than the database that usage shows as used: no expansion lists them, yet
    # the original granted them (`s3:*` grants every s3 action, known or not).
    named = {a.lower() for a in kept}
    newer = {
        a
        for a in getattr(keep, "unknown_actions", ())
        if a.lower() not in named and keep(a) and _statement_grants(statement, a)
    }
    if not kept and not newer and not unknown and not kept_opaque:
        return None
    patterns: list[str] = [*kept_opaque]
    if not statement.not_actions:
        # A pattern whose every action is kept stays as written (`s3:Get*`).
        patterns += [
            p for p in statement.actions if p not in opaque and actions.expand(pattern=p) <= kept
        ]
    covered = {a for p in patterns for a in actions.expand(pattern=p)}
    rest = (kept - covered) | {a for a in newer if not any(_matches(p, a) for p in patterns)}
    compacted = compact(
        action_names=rest, widen=lambda service: _grants_whole_service(statement, service)
    )
    written = {*patterns, *compacted, *unknown}
    # `newsvc:*` makes `newsvc:GetThing` beside it redundant.
    whole = {actions.service_of(action=p) for p in written if p.endswith(":*")}
    patterns = sorted(
        (p for p in written if p.endswith(":*") or actions.service_of(action=p) not in whole),
        key=str.lower,
    )
    reduced = {key: value for key, value in raw.items() if key not in ("Action", "NotAction")}
    reduced["Action"] = patterns[0] if len(patterns) == 1 else patterns
    # Keep AWS's usual key order: Sid, Effect, Action, Resource, Condition.
    order = ["Sid", "Effect", "Action", "NotResource", "Resource", "Condition"]
    return {k: reduced[k] for k in sorted(reduced, key=lambda k: (order + [k]).index(k))}


def compact(
    *, action_names: Iterable[str], widen: Callable[[str], bool] | None = None
) -> list[str]:
    """Sorted actions, with `service:*` where every action of a service is there and
    ``widen(service)`` allows it: `service:*` also grants actions newer than the action
    database, which a statement that excluded some of them (NotAction) never granted."""
    by_service: dict[str, set[str]] = {}
    for action in action_names:
        by_service.setdefault(actions.service_of(action=action), set()).add(action)
    result = []
    for service in sorted(by_service):
        names = by_service[service]
        every = set(actions.actions_of(service=service))
        if every and every <= names and (widen is None or widen(service)):
            result.append(f"{service}:*")
            continue  # it covers the rest of the service's names too
        result.extend(sorted(names, key=str.lower))
    return result
