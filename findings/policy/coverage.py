"""Whether one set of policy documents allows anything another does not, grant by grant.

A grant is an action (expanded through the IAM action database) on a Resource pattern under a
Condition. A grant is covered by another with the same action, a Resource pattern that matches
every resource its own does, and a Condition whose every clause (operator, key, values) it has
too: more clauses only narrow a statement. Anything this cannot prove covered counts as
beyond, so "nothing beyond" can be trusted while "beyond" may be a false alarm:

- a NotAction or NotResource statement is covered only by the same statement, or by one that
  allows every action (`*`) on every resource (`*`); on the covering side it covers only the
  same statement, except that a NotAction statement covers what it expands to;
- condition clauses compare as written (same operator, key in any case, same values in any
  order): a clause with fewer values, though narrower for most operators, is not recognised;
- a Deny counts on the covered side only where the covering side has the same one (another
  one, a quarantine DenyAll say, must not make a grant look covered), and narrows either side
  only when it applies to every resource without a condition, as findings.policy.effective
  reads it; a Deny of the covering side that the other lacks puts its actions beyond.

Wildcard actions (`s3:Get*`) are expanded through the action database on both sides, so a
policy rewritten in other words compares the same; actions newer than the database are compared
as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from typing import Any

from findings.policy import actions
from findings.policy.documents import Statement, statements
from findings.policy.effective import covered_actions

ALL = "*"
# One clause of a Condition block: operator, lower-cased key, its values as text.
Clause = tuple[str, str, frozenset[str]]
# Policy variables (`${aws:username}`) are read as one character each, taken from Unicode's
# private use area, so that a `?` never stands for one and a `*` may.
_VARIABLE = re.compile(r"\$\{[^}]*\}")
_PRIVATE_USE = 0xE000


def pattern_covers(*, pattern: str, covered: str) -> bool:
    """Whether every resource `covered` matches, `pattern` matches too (IAM's wildcards: `*`
    any run of characters, `?` one). A `?` of `pattern` never stands for a `*` of `covered`.
    """
    return pattern == covered or _covers(pattern, covered)


@lru_cache(maxsize=4096)
def _covers(pattern: str, covered: str) -> bool:
    variables: dict[str, str] = {}

    def tokens(text: str) -> str:
        def token(match: re.Match[str]) -> str:
            return variables.setdefault(match[0], chr(_PRIVATE_USE + len(variables)))

        return _VARIABLE.sub(token, text)

    pattern, covered = tokens(pattern), tokens(covered)
    last = chr(_PRIVATE_USE + len(variables))
    one = f"[^*{chr(_PRIVATE_USE)}-{last}]" if variables else "[^*]"
    body = "".join(".*" if c == "*" else one if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(body, covered, re.DOTALL) is not None


def condition_clauses(*, condition: Any) -> frozenset[Clause] | None:
    """A Condition as a set of clauses (no Condition: none); None when it cannot be read."""
    if not condition:
        return frozenset()
    if not isinstance(condition, Mapping):
        return None
    clauses = set()
    for operator, block in condition.items():
        if not isinstance(operator, str) or not isinstance(block, Mapping) or not block:
            return None
        for key, values in block.items():
            if not isinstance(key, str):
                return None
            items = values if isinstance(values, list) else [values]
            texts = frozenset(
                v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
                for v in items
            )
            clauses.add((operator, key.lower(), texts))
    return frozenset(clauses)


def allowed_beyond(
    *, documents: Iterable[Mapping[str, Any]], within: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """What `documents` allow that `within` may not: each lower-cased action with an example
    of it, as the action database spells it: alone when `within` allows the action nowhere,
    else with the resource, and why it is not covered there."""
    mine = [s for d in documents for s in statements(document=d)]
    theirs = [s for d in within for s in statements(document=d)]
    their_denies = {_key(s) for s in theirs if s.effect == "Deny"}
    my_denies = [s for s in mine if s.effect == "Deny" and _key(s) in their_denies]
    their_killed = _killed(s for s in theirs if s.effect == "Deny")
    my_killed = _killed(my_denies)
    # Denies `within` has and `documents` lack: what they deny is beyond wherever it is allowed.
    shared = {_key(s) for s in my_denies}
    missing = [s for s in theirs if s.effect == "Deny" and _key(s) not in shared]
    at_risk = (their_killed - my_killed) | {
        a for s in missing if not _kills(s) for a in covered_actions(statement=s)
    }
    index, universal, same = _coverage(theirs, killed=their_killed)

    beyond: dict[str, str] = {}
    for statement in mine:
        if not statement.is_allow:
            continue
        granted = _granted(statement) - my_killed
        spelled = {a.lower(): a for a in statement.actions}
        clauses = condition_clauses(condition=statement.condition) or frozenset()
        risky = granted & at_risk
        for action in sorted(risky):
            beyond.setdefault(
                action, _example(action, spelled, statement, index, missing_deny=True)
            )
        whole = _key(statement) in same or any(c <= clauses for c in universal)
        if whole or not granted - risky:
            continue
        if statement.not_actions:
            text = f"every action but {', '.join(statement.not_actions)} on {_shown(statement)}"
            for action in granted - risky:
                beyond.setdefault(action, text)
            continue
        resources = statement.resources if not statement.not_resources else (ALL,)
        for action in sorted(granted - risky):
            for resource in resources or (ALL,):
                if not _covered(index.get(action, ()), resource, clauses):
                    beyond.setdefault(
                        action, _example(action, spelled, statement, index, resource=resource)
                    )
                    break
    return beyond


def _granted(statement: Statement) -> frozenset[str]:
    """The lower-cased actions an Allow statement grants; an action unknown to the database,
    or a pattern matching none of its actions (`newservice:*`), as written."""
    if statement.not_actions:
        return covered_actions(statement=statement)
    return frozenset(a for p in statement.actions for a in (_expanded(p) or {p.lower()}))


@cache
def _expanded(pattern: str) -> frozenset[str]:
    return frozenset(a.lower() for a in actions.expand(pattern=pattern))


def _coverage(
    statements_: list[Statement], *, killed: frozenset[str]
) -> tuple[dict[str, list[tuple[str, frozenset[Clause]]]], list[frozenset[Clause]], set[str]]:
    """The covering side's Allows: action -> (Resource pattern, clauses); the clauses of its
    statements allowing everything; and its statements as comparable text."""
    index: dict[str, list[tuple[str, frozenset[Clause]]]] = {}
    universal = []
    same = set()
    for statement in statements_:
        if not statement.is_allow:
            continue
        same.add(_key(statement))
        clauses = condition_clauses(condition=statement.condition)
        if clauses is None or statement.not_resources:
            continue
        if ALL in statement.resources and any(_all_actions(a) for a in statement.actions):
            universal.append(clauses)
        for action in _granted(statement) - killed:
            index.setdefault(action, []).extend((r, clauses) for r in statement.resources)
    return index, universal, same


def _covered(
    grants: Iterable[tuple[str, frozenset[Clause]]], resource: str, clauses: frozenset[Clause]
) -> bool:
    return any(
        theirs <= clauses and pattern_covers(pattern=pattern, covered=resource)
        for pattern, theirs in grants
    )


def _example(
    action: str,
    spelled: Mapping[str, str],
    statement: Statement,
    index: Mapping[str, list[tuple[str, frozenset[Clause]]]],
    *,
    missing_deny: bool = False,
    resource: str = ALL,
) -> str:
    name = actions.spelling(action=spelled.get(action, action))
    if action not in index:
        return name
    if missing_deny:
        return f"{name} on {_shown(statement)} (a Deny is missing)"
    shown = _shown(statement) if statement.not_resources else resource
    if any(pattern_covers(pattern=p, covered=resource) for p, _ in index[action]):
        return f"{name} on {shown} under fewer conditions"
    return f"{name} on {shown}"


def _shown(statement: Statement) -> str:
    if statement.not_resources:
        return f"every resource but {', '.join(statement.not_resources)}"
    return ", ".join(statement.resources) or ALL


def _kills(statement: Statement) -> bool:
    """A Deny on every resource without a condition (as findings.policy.effective reads one)."""
    return (
        statement.effect == "Deny"
        and not statement.has_condition
        and not statement.not_resources
        and ALL in statement.resources
    )


def _killed(denies: Iterable[Statement]) -> frozenset[str]:
    return frozenset(a for s in denies if _kills(s) for a in covered_actions(statement=s))


def _all_actions(action: str) -> bool:
    return set(action.replace(":", "")) == {"*"} and action.count(":") <= 1


def _key(statement: Statement) -> str:
    """The statement as comparable text: Sid aside, lists in any order, actions in any case."""
    clauses = condition_clauses(condition=statement.condition)
    condition = (
        json.dumps(statement.condition, sort_keys=True, default=str)
        if clauses is None
        else sorted([operator, key, sorted(values)] for operator, key, values in clauses)
    )
    return json.dumps(
        [
            statement.effect,
            sorted({a.lower() for a in statement.actions}),
            sorted({a.lower() for a in statement.not_actions}),
            sorted(set(statement.resources)),
            sorted(set(statement.not_resources)),
            condition,
        ]
    )
