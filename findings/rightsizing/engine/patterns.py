"""IAM action patterns read as IAM reads them: wildcard matching (case-insensitive, `*` and
`?`), and what a statement's Action or NotAction grants of a service the action database does
not know (wholly, in part, or with part of it excluded), for the statements the engine reduces."""

from __future__ import annotations

import re
from functools import cache

from findings.policy import actions


def _opaque_patterns(statement) -> set[str]:
    """An Allow statement's Action wildcards that match nothing in the action database: a
    service newer than it (`newsvc:*`) or actions of a known one newer than it (`sqs:ZzzNew*`).
    Literal names need no such care: unknown, they expand to themselves."""
    if not statement.is_allow or statement.not_actions:
        return set()
    return {p for p in statement.actions if _is_wildcard(p) and not actions.expand(pattern=p)}


def _is_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def _statement_grants_service(statement, service: str) -> bool:
    """Whether an Allow statement's Action (or NotAction) reaches some action of a service
    the action database does not know."""
    if statement.not_actions:
        return not any(_pattern_covers(p, service) for p in statement.not_actions)
    return bool(_unknown_service_patterns(statement, service))


def _unknown_service_patterns(statement, service: str) -> set[str]:
    """What of a service unknown to the action database a statement grants, as it would be
    written again: `service:*` where a wider pattern covers it (`*`, `*:*`, `new*`, a NotAction
    naming none of it), the part of it a pattern reaches otherwise (`newsvc:Get*` from
    `*:Get*`). Nothing for a NotAction that excludes part of it: no Action list says that."""
    whole = f"{service}:*"
    if statement.not_actions:
        return {whole} if _grants_whole_service(statement, service) else set()
    found = set()
    for pattern in statement.actions:
        service_part, colon, name = pattern.strip().partition(":")
        if _pattern_covers(pattern, service):
            found.add(whole)
        elif colon and _glob(service_part).fullmatch(service):
            found.add(f"{service}:{name}")
    return found


def _grants_whole_service(statement, service: str) -> bool:
    """Whether an Allow statement grants every action of a service, those missing from the
    action database included: only then may a list of its actions become `service:*`."""
    if statement.not_actions:
        return not any(_pattern_touches(p, service) for p in statement.not_actions)
    return any(_pattern_covers(p, service) for p in statement.actions)


def _partly_excluded(statement, service: str) -> bool:
    return (
        bool(statement.not_actions)
        and not any(_pattern_covers(p, service) for p in statement.not_actions)
        and any(_pattern_touches(p, service) for p in statement.not_actions)
    )


def _statement_grants(statement, action: str) -> bool:
    if statement.not_actions:
        return not any(_matches(p, action) for p in statement.not_actions)
    return any(_matches(p, action) for p in statement.actions)


def _pattern_covers(pattern: str, service: str) -> bool:
    """`*`, `*:*`, `new*`, `n?wsvc:*` and `newsvc:*` match every action of newsvc;
    `newsvc:Get*` only part of it. A pattern ending in `*` that matches `newsvc:` matches it
    followed by any name."""
    pattern = pattern.strip()
    return pattern.endswith("*") and _glob(pattern).fullmatch(f"{service}:") is not None


def _pattern_touches(pattern: str, service: str) -> bool:
    """Whether a pattern may match some action of a service: its service part matches the
    service (`*:Delete*`, `newsvc:Delete*`). IAM requires a service before the colon; a
    pattern without one is said to touch every service, erring on the side that keeps an
    exclusion."""
    service_part, colon, _ = pattern.strip().partition(":")
    return not colon or _glob(service_part).fullmatch(service) is not None


def _matches(pattern: str, action: str) -> bool:
    return _glob(pattern.strip()).fullmatch(action) is not None


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    """An IAM wildcard pattern as IAM matches it: case-insensitive, `*` any run, `?` one."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL)
