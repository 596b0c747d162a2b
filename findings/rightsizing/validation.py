"""A local check of suggested documents: IAM's policy grammar and AWS's size limits.

Used when Access Analyzer's ValidatePolicy is out of reach (and always for sizes). Sizes are
counted as IAM does: characters excluding whitespace.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from findings.policy import actions

VERSIONS = ("2012-10-17", "2008-10-17")
EFFECTS = ("Allow", "Deny")
MANAGED_POLICY_LIMIT = 6144
# Inline policies: all of one principal's inline documents together.
INLINE_LIMITS = {"user": 2048, "group": 5120, "role": 10240}
# Action names may have hyphens too (vpc-lattice:AssociateViaAWSService-EventsAndStates).
ACTION = re.compile(r"^(\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?-]+)$")

CHECKED_BY = "access-analyzer"  # data["validation"]["checked_by"] once AWS checked it


def size(*, document: Mapping[str, Any]) -> int:
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return len(re.sub(r"\s", "", text))


def grammar_issues(*, document: Mapping[str, Any]) -> list[str]:
    issues = []
    if document.get("Version") not in VERSIONS:
        issues.append(f"Version must be one of {', '.join(VERSIONS)}")
    raw = document.get("Statement")
    raw = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(raw, list) or not raw:
        return [*issues, "Statement must be a non-empty list"]
    for index, statement in enumerate(raw):
        where = f"statement {index + 1}"
        if not isinstance(statement, Mapping):
            issues.append(f"{where} is not an object")
            continue
        if statement.get("Effect") not in EFFECTS:
            issues.append(f"{where}: Effect must be Allow or Deny")
        if ("Action" in statement) == ("NotAction" in statement):
            issues.append(f"{where}: exactly one of Action and NotAction")
        if ("Resource" in statement) == ("NotResource" in statement):
            issues.append(f"{where}: exactly one of Resource and NotResource")
        for key in ("Action", "NotAction"):
            value = statement.get(key, [])
            for action in [value] if isinstance(value, str) else value:
                if not isinstance(action, str) or not ACTION.match(action):
                    issues.append(f"{where}: {action!r} is not an action")
                elif (
                    "*" not in action and "?" not in action and not actions.is_known(action=action)
                ):
                    issues.append(f"{where}: {action} is not in the IAM action database")
    return issues


def validate(*, changes: Iterable[Mapping[str, Any]], principal_kind: str) -> dict[str, Any]:
    """The check's result for every suggested document (``after``) of a suggestion.

    Only what iamreview writes is judged: a document kept as it is (an AWS-managed policy far
    over 6,144 characters, one naming an action newer than the action database) is counted in
    its principal's inline total, never checked again. The managed policy limit applies to the
    customer-managed policies iamreview writes: a replacement, a rewritten managed policy (and
    the CloudFormation download's `-least-privilege` policy made of it)."""
    results = []
    inline_total = 0
    group_totals: dict[str, int] = defaultdict(int)
    for change in changes:
        after = change.get("after")
        if after is None:
            continue
        chars = size(document=after)
        written = change["action"] != "keep"
        limit = (
            MANAGED_POLICY_LIMIT
            if written and (change.get("managed") or change["action"] == "replace")
            else None
        )
        issues = grammar_issues(document=after) if written else []
        if limit and chars > limit:
            issues.append(f"{chars} characters, over the managed policy limit of {limit}")
        if not change.get("managed") and change.get("kind") == "inline":
            inline_total += chars
        elif not change.get("managed") and change.get("kind") == "group":
            group_totals[change.get("group", "")] += chars
        results.append({"policy": change["policy"], "characters": chars, "issues": issues})
    inline_limit = INLINE_LIMITS.get(principal_kind)
    problems = [i for r in results for i in r["issues"]]
    if inline_limit and inline_total > inline_limit:
        problems.append(
            f"inline policies total {inline_total} characters, over the {principal_kind} "
            f"limit of {inline_limit}"
        )
    # A group's inline policies have a limit of their own, whoever they are suggested for.
    problems += [
        f"group {group}: its inline policies total {total} characters, over the group limit of "
        f"{INLINE_LIMITS['group']}"
        for group, total in sorted(group_totals.items())
        if total > INLINE_LIMITS["group"]
    ]
    return {
        "checked_by": "local",
        "note": "IAM grammar and size limits checked locally: Access Analyzer ValidatePolicy "
        "was not reachable from here",
        "valid": not problems,
        "problems": problems,
        "documents": results,
    }


def document_key(*, document: dict) -> str:
    return json.dumps(document, sort_keys=True)


def aws_validation(
    *, data: dict[str, Any], findings_of: Callable[[dict], list[dict[str, Any]]]
) -> dict[str, Any]:
    """A suggestion's check by Access Analyzer's ValidatePolicy: `findings_of` answers
    ValidatePolicy's findings for one suggested document. The size limits, which AWS does not
    check here, come from the suggestion's own local check (data["validation"])."""
    local = data.get("validation") or {}
    local = local.get("local", local)  # checked by AWS before: its local part
    documents, problems = [], []
    for change in data["changes"]:
        if change["action"] == "keep" or not change.get("after"):
            continue
        findings = findings_of(change["after"])
        documents.append({"policy": change["policy"], "findings": findings})
        problems += [
            f"{change['policy']}: {f['finding_type']} {f['issue_code']}: {f['details']}"
            for f in findings
            if f.get("blocks")
        ]
    problems += [p for p in local.get("problems", []) if "characters" in p]
    return {
        "checked_by": CHECKED_BY,
        "note": "checked with Access Analyzer ValidatePolicy (no ERROR or SECURITY_WARNING "
        "allowed) and the size limits",
        "valid": not problems,
        "problems": problems,
        "documents": documents,
        "local": local,
    }
