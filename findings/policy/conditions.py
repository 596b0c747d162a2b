"""Conditions of a policy statement, evaluated as IAM does for the keys a caller can foresee.

Only text-comparing operators are judged (String*, Arn*, with IfExists, ForAllValues,
ForAnyValue, Null); a condition on any other key or operator is taken as one the requester can
meet. Escalation uses this for iam:PermissionsBoundary, iam:PolicyARN and iam:PassedToService.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from findings.policy.documents import Statement

# Condition operators that compare text (IAM User Guide, "Condition operators"). The Arn ones
# take wildcards in each of an ARN's six parts; ArnEquals matches as ArnLike does.
_TEXT_EXACT = {"stringequals", "stringnotequals"}
_TEXT_IGNORE_CASE = {"stringequalsignorecase", "stringnotequalsignorecase"}
_TEXT_LIKE = {"stringlike", "stringnotlike"}
_ARN_LIKE = {"arnequals", "arnlike", "arnnotequals", "arnnotlike"}
_NEGATED = {
    "stringnotequals",
    "stringnotequalsignorecase",
    "stringnotlike",
    "arnnotequals",
    "arnnotlike",
}
_SET_PREFIXES = ("forallvalues:", "foranyvalue:")
_TEXT_OPERATORS = _TEXT_EXACT | _TEXT_IGNORE_CASE | _TEXT_LIKE | _ARN_LIKE

# A request's condition context for the keys a caller can foresee: key (lower-cased) -> the
# values it may take, None for "not in the request".
Request = Mapping[str, Iterable[str | None]]


def condition_keys(*, statement: Statement) -> set[str]:
    """The lower-cased condition keys a statement names (none in a block that is not a map)."""
    return {
        key.lower()
        for block in (statement.condition or {}).values()
        if isinstance(block, Mapping)
        for key in block
        if isinstance(key, str)
    }


def condition_admits(*, statement: Statement, request: Request) -> bool:
    """Whether the statement's Condition can hold for the request: for each key of `request`
    the statement names, some value the key may take meets every operator on it.

    Only those keys are judged: a condition on any other key (aws:MultiFactorAuthPresent,
    aws:SourceIp) is taken as one the requester can meet, and so is an operator that does not
    compare text (Bool, Numeric, Date, IpAddress, Binary). Values that are not text (a number,
    true) are compared as their JSON text, as IAM reads them.
    """
    constraints: dict[str, list[tuple[str, list[str]]]] = {}
    for operator, block in (statement.condition or {}).items():
        if not isinstance(operator, str) or not isinstance(block, Mapping):
            continue
        for key, values in block.items():
            if isinstance(key, str) and key.lower() in request:
                constraints.setdefault(key.lower(), []).append(
                    (operator.lower(), _condition_values(values))
                )
    return all(
        any(all(_holds(op, values, value) for op, values in found) for value in request[key])
        for key, found in constraints.items()
    )


def condition_surely_holds(*, statement: Statement, values: Mapping[str, str | None]) -> bool:
    """Whether the statement's Condition holds for sure when each key of `values` has that
    value (None: absent): every operator compares text and names one of those keys. For a
    Deny: one whose condition names anything else (aws:MultiFactorAuthPresent), or compares
    otherwise, may be avoided by the requester, so it is not counted on."""
    found = False
    for operator, block in (statement.condition or {}).items():
        if not isinstance(operator, str) or not isinstance(block, Mapping):
            return False
        for key, wanted in block.items():
            name = key.lower() if isinstance(key, str) else None
            if name not in values or not _compares_text(operator.lower()):
                return False
            if not _holds(operator.lower(), _condition_values(wanted), values[name]):
                return False
            found = True
    return found


def _compares_text(operator: str) -> bool:
    if operator.startswith(_SET_PREFIXES):
        operator = operator.partition(":")[2]
    operator = operator.removesuffix("ifexists")
    return (
        operator == "null" or operator in _TEXT_EXACT | _TEXT_IGNORE_CASE | _TEXT_LIKE | _ARN_LIKE
    )


def _condition_values(values: Any) -> list[str]:
    items = values if isinstance(values, list) else [values]
    return [
        item if isinstance(item, str) else json.dumps(item, default=str, sort_keys=True)
        for item in items
    ]


def _holds(operator: str, values: list[str], value: str | None) -> bool:
    """One operator on one key, for the key's value in the request (None: absent)."""
    for_all = operator.startswith("forallvalues:")
    if operator.startswith(_SET_PREFIXES):
        operator = operator.partition(":")[2]
    if_exists = operator.endswith("ifexists")
    operator = operator.removesuffix("ifexists")
    if operator == "null":
        return any((wanted.lower() == "true") == (value is None) for wanted in values)
    if operator not in _TEXT_OPERATORS:
        return True
    negated = operator in _NEGATED
    if value is None:
        # An absent key matches no value: a negated operator holds, and so does one that
        # asks only if it exists or only of every value there is.
        return negated or if_exists or for_all
    matched = any(_text_matches(operator, value, wanted) for wanted in values)
    return not matched if negated else matched


def _text_matches(operator: str, value: str, wanted: str) -> bool:
    if operator in _TEXT_EXACT:
        return value == wanted
    if operator in _TEXT_IGNORE_CASE:
        return value.lower() == wanted.lower()
    if operator in _ARN_LIKE:
        value_parts, wanted_parts = value.split(":", 5), wanted.split(":", 5)
        if len(value_parts) == len(wanted_parts) == 6:
            return all(
                wildcard_match(value=v, pattern=w)
                for v, w in zip(value_parts, wanted_parts, strict=True)
            )
    return wildcard_match(value=value, pattern=wanted)


def wildcard_match(*, value: str, pattern: str) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` one character; nothing else is special."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(body, value, re.DOTALL) is not None
