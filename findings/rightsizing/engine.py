"""The suggestion: from what a principal is granted and what it used, a least-privilege version.

Pure: policies and usage in, the suggestion (a JSON-ready dict, the shape of
``manage.py suggest_policy --format json``) out. Statements keep their resources and
conditions; only Action/NotAction change, and statements left with nothing are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from findings.policy import actions
from findings.policy.documents import find_admin_grants, statements
from findings.policy.grants import GrantedPolicy, granted_services, statement_actions
from findings.rightsizing.plans import compare_documents
from findings.rightsizing.validation import validate

USED, UNUSED, TOO_NEW, NOT_TRACKED = "used", "unused", "too-new", "not-tracked"
NO_DATA = "no-data"  # no service last-accessed data collected for the principal at all

# Actions AWS's service last-accessed data never records, at the service's level or its own:
# a role passed to EC2 or Lambda leaves no trace on `iam`, so `iam` looking unused is no
# evidence (AWS_NOTES §3). Named in a policy, they are kept whatever the service's verdict;
# granted only through a wildcard (`*`, `iam:*`), they follow it, with a note.
NEVER_RECORDED = frozenset({"iam:passrole"})


@dataclass(frozen=True)
class ServiceUsage:
    """Service last accessed for one service. ``actions`` is None where AWS tracks the
    service only as a whole; otherwise action name (lower case, `s3:getobject`) -> last use."""

    service: str
    last_accessed: datetime | None
    actions: Mapping[str, datetime | None] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class Principal:
    arn: str
    name: str
    kind: str  # user or role
    created: datetime


def suggest(
    *,
    principal: Principal,
    policies: Iterable[GrantedPolicy],
    usage: Mapping[str, ServiceUsage] | None,
    now: datetime,
    unused_days: int,
    read_only_buffer: bool = False,
    analyzer_findings: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """``usage`` is None when no service last-accessed data exists for the principal.
    ``analyzer_findings``: its active Access Analyzer unused-access findings (type, id, details),
    shown beside the suggestion with the differences."""
    policies = list(policies)
    cutoff = now - timedelta(days=unused_days)
    too_new = principal.created > cutoff
    notes: list[str] = []
    if too_new:
        notes.append(
            f"Too new to judge: created {principal.created:%Y-%m-%d}, less than {unused_days} "
            "days ago; everything is kept."
        )
    elif usage is None:
        notes.append("No service last-accessed data has been collected for it; everything is kept.")
    collected = usage is not None
    usage = usage or {}

    def verdict(service: str) -> str:
        if too_new:
            return TOO_NEW
        if not collected:
            return NO_DATA  # not "not tracked": AWS tracks it, we have not asked yet
        row = usage.get(service)
        if row is None:
            return NOT_TRACKED
        used = row.last_accessed is not None and row.last_accessed >= cutoff
        return USED if used else UNUSED

    named = {
        a.lower()
        for policy in policies
        for s in statements(document=policy.document)
        if s.is_allow and not s.not_actions
        for a in s.actions
    } & NEVER_RECORDED

    def keep(action: str) -> bool:
        if action.lower() in named:
            return True
        service = actions.service_of(action=action)
        state = verdict(service)
        if state == UNUSED:
            return False
        if state != USED or usage[service].actions is None:
            return True
        tracked = usage[service].actions
        key = action.lower()
        if key not in tracked:
            return True  # AWS does not track this action: no evidence it is unused
        last = tracked[key]
        if last is not None and last >= cutoff:
            return True
        return read_only_buffer and action in actions.read_only_actions(service=service)

    keep = cache(keep)  # tens of thousands of calls for an admin policy: once per action
    services = []
    for service, granted_by in granted_services(policies=policies).items():
        row = usage.get(service)
        state = verdict(service)
        services.append(
            {
                "service": service,
                "granted_by": granted_by,
                "last_accessed": _iso(row.last_accessed if row else None),
                "verdict": state,
                "reason": _reason(state, row, unused_days),
                "action_level": bool(row and row.actions is not None),
            }
        )
    untracked = [s["service"] for s in services if s["verdict"] == NOT_TRACKED]
    if untracked and usage:
        notes.append(
            "Not tracked by AWS's service last-accessed data, so kept: " + ", ".join(untracked)
        )

    changes = [_change(policy=policy, keep=keep) for policy in policies]
    unused = {s["service"] for s in services if s["verdict"] == UNUSED}
    unrecorded = sorted(
        {
            a
            for policy in policies
            for s in statements(document=policy.document)
            if s.is_allow
            for a in statement_actions(statement=s)
            if a.lower() in NEVER_RECORDED and actions.service_of(action=a) in unused
        },
        key=str.lower,
    )
    kept_anyway = [a for a in unrecorded if a.lower() in named]
    if kept_anyway:
        notes.append(
            "Kept although its service looks unused, because service last-accessed data never "
            "records it: " + ", ".join(kept_anyway)
        )
        unused -= {actions.service_of(action=a) for a in kept_anyway}
    if dropped := [a for a in unrecorded if a.lower() not in named]:
        notes.append(
            "Removed with a wildcard, although service last-accessed data never records it: "
            + ", ".join(dropped)
            + ". If this principal passes roles to a service (EC2, Lambda, ECS…), add it back "
            "for those roles only."
        )
    removed_actions = sorted(
        {a for policy in policies for a in _removed(policy.document, keep)}, key=str.lower
    )
    for policy in policies:
        if policy.group and any(
            c["action"] != "keep" for c in changes if c["policy"] == policy.label
        ):
            others = [m for m in policy.members if m != principal.arn]
            if others:
                notes.append(
                    f"{policy.label} is a group policy: changing it also changes "
                    f"{len(others)} other member(s); removing {principal.name} from the group "
                    "may be the smaller change."
                )
    unknown = sorted(
        {
            a
            for policy in policies
            for s in statements(document=policy.document)
            for a in s.actions
            if "*" not in a and "?" not in a and not actions.is_known(action=a)
        }
    )
    if unknown:
        notes.append(
            f"Not in the IAM action database ({actions.database_version()}), kept as written: "
            + ", ".join(unknown)
        )
    return {
        "arn": principal.arn,
        "name": principal.name,
        "kind": principal.kind,
        "unused_days": unused_days,
        "read_only_buffer": read_only_buffer,
        "generated_at": now.isoformat(),
        "action_database": actions.database_version(),
        "services": services,
        "removed_services": sorted(unused),
        "removed_actions": len(removed_actions),
        "removed_write_actions": sum(
            1
            for a in removed_actions
            if a in actions.write_actions(service=actions.service_of(action=a))
        ),
        "removes_admin": any(
            find_admin_grants(document=c["before"])
            and not (c["after"] and find_admin_grants(document=c["after"]))
            for c in changes
        ),
        "changes": changes,
        "notes": notes,
        "validation": validate(changes=changes, principal_kind=principal.kind),
        "access_analyzer": _beside_access_analyzer(
            analyzer_findings,
            removed_services=unused,
            changes=changes,
        ),
    }


def _beside_access_analyzer(
    findings: Iterable[Mapping[str, Any]],
    *,
    removed_services: set[str],
    changes: list[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Access Analyzer's unused-access findings, and where they and we disagree."""
    result = []
    for finding in findings:
        entry = {
            "finding_id": finding["finding_id"],
            "type": finding["finding_type"],
            "status": finding["status"],
        }
        if finding["finding_type"] == "UnusedPermission":
            theirs = {
                (detail.get("unusedPermissionDetails") or {}).get("serviceNamespace", "").lower()
                for detail in finding["details"]
            } - {""}
            entry.update(
                unused_services=sorted(theirs),
                only_access_analyzer=sorted(theirs - removed_services),
                only_iamreview=sorted(removed_services - theirs),
            )
        if finding.get("recommendation"):
            recommendation = dict(finding["recommendation"])
            if recommendation.get("status") == "SUCCEEDED":
                recommendation["comparison"] = compare_documents(
                    ours=[c["after"] for c in changes if c["after"]],
                    theirs=_recommended_documents(recommendation["steps"], changes),
                )
            entry["recommendation"] = recommendation
        result.append(entry)
    return result


def _recommended_documents(
    steps: Iterable[Mapping[str, Any]], changes: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The principal's documents once Access Analyzer's steps are applied: a policy it names is
    detached or replaced by its recommended policy; the others stay as they are."""
    named = {step.get("existing_policy_id") for step in steps}
    documents = [step["policy"] for step in steps if step.get("policy")]
    documents += [c["before"] for c in changes if c["ref"] not in named]
    return documents


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
    if kept == granted:
        return raw
    if not kept:
        return None
    patterns: list[str] = []
    if not statement.not_actions:
        # A pattern whose every action is kept stays as written (`s3:Get*`).
        patterns = [p for p in statement.actions if actions.expand(pattern=p) <= kept]
    covered = {a for p in patterns for a in actions.expand(pattern=p)}
    patterns = sorted({*patterns, *compact(action_names=kept - covered)}, key=str.lower)
    reduced = {key: value for key, value in raw.items() if key not in ("Action", "NotAction")}
    reduced["Action"] = patterns[0] if len(patterns) == 1 else patterns
    # Keep AWS's usual key order: Sid, Effect, Action, Resource, Condition.
    order = ["Sid", "Effect", "Action", "NotResource", "Resource", "Condition"]
    return {k: reduced[k] for k in sorted(reduced, key=lambda k: (order + [k]).index(k))}


def compact(*, action_names: Iterable[str]) -> list[str]:
    """Sorted actions, with `service:*` where every action of a service is there."""
    by_service: dict[str, set[str]] = {}
    for action in action_names:
        by_service.setdefault(actions.service_of(action=action), set()).add(action)
    result = []
    for service in sorted(by_service):
        names = by_service[service]
        every = set(actions.actions_of(service=service))
        if every and every <= names:
            result.append(f"{service}:*")
            names = names - every
        result.extend(sorted(names, key=str.lower))
    return result


def _removed(document: Mapping[str, Any], keep: Callable[[str], bool]) -> set[str]:
    return {
        a
        for statement in statements(document=document)
        for a in statement_actions(statement=statement)
        if not keep(a)
    }


def _change(*, policy: GrantedPolicy, keep: Callable[[str], bool]) -> dict[str, Any]:
    after = reduce_document(document=policy.document, keep=keep)
    new_name = None
    if after == policy.document:
        action = "keep"
    elif after is None:
        action = "detach"
    elif policy.is_managed and policy.is_shared:
        # Never edit an AWS-managed or shared policy in place: a new policy with the used part.
        action = "replace"
        new_name = f"{policy.name}-least-privilege"[:128]
    else:
        action = "rewrite"
    change = {
        "policy": policy.label,
        "ref": policy.ref,
        "kind": policy.kind,
        "managed": policy.is_managed,
        "aws_managed": policy.is_aws_managed,
        "action": action,
        "before": policy.document,
        "after": after,
        "affects": list(policy.members) if policy.group else [],
    }
    if new_name:
        change["new_policy_name"] = new_name
    if policy.group:
        change["group"] = policy.group
    return change


def _reason(state: str, row: ServiceUsage | None, unused_days: int) -> str:
    if state == TOO_NEW:
        return f"the principal exists for less than {unused_days} days"
    if state == NO_DATA:
        return "no service last-accessed data collected for it yet"
    if state == NOT_TRACKED:
        return "not tracked by AWS's service last-accessed data"
    if state == UNUSED:
        if row and row.last_accessed:
            return f"last used {row.last_accessed:%Y-%m-%d}, more than {unused_days} days ago"
        return "never used within AWS's tracking window"
    return f"used within {unused_days} days"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
