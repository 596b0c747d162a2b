"""``suggest``, the engine's entry point: judges the principal's use, reduces each policy to
what it keeps, and puts together the JSON-ready suggestion (services and their verdicts, the
changes, the notes that explain what was kept or removed and why, the totals, the validation
and the comparison with Access Analyzer)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from findings.policy import actions
from findings.policy.documents import find_admin_grants, statements
from findings.policy.grants import (
    GrantedPolicy,
    GrantsCache,
    document_actions,
    granted_services,
    statement_actions,
)
from findings.rightsizing.engine.access_analyzer import _beside_access_analyzer
from findings.rightsizing.engine.action_database import (
    _granted_service_names,
    _narrows_open_ended,
    _unknown_to_database,
)
from findings.rightsizing.engine.changes import _change, _distinctly_labelled, _removed
from findings.rightsizing.engine.judging import (
    NO_DATA,
    NOT_TRACKED,
    STALE,
    TOO_NEW,
    UNUSED,
    USED,
    _group_keeper,
    _has_other_members,
    _Judge,
)
from findings.rightsizing.engine.patterns import _partly_excluded, _statement_grants_service
from findings.rightsizing.engine.usage import MemberUse, Principal, ServiceUsage
from findings.rightsizing.undocumented import UndocumentedPolicy
from findings.rightsizing.validation import validate

# Actions AWS's service last-accessed data never records, at the service's level or its own:
# a role passed to EC2 or Lambda leaves no trace on `iam`, so `iam` looking unused is no
# evidence (AWS_NOTES §3). Named in a policy, they are kept whatever the service's verdict;
# granted only through a wildcard (`*`, `iam:*`), they follow it, with a note.
NEVER_RECORDED = frozenset({"iam:passrole"})


def suggest(
    *,
    principal: Principal,
    policies: Iterable[GrantedPolicy | UndocumentedPolicy],
    usage: Mapping[str, ServiceUsage] | None,
    now: datetime,
    unused_days: int,
    read_only_buffer: bool = False,
    analyzer_findings: Iterable[Mapping[str, Any]] = (),
    read_at: datetime | None = None,
    stale_after: timedelta | None = None,
    groups: Mapping[str, MemberUse] | None = None,
    shared: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``usage`` is None when no service last-accessed data exists for the principal.
    ``read_at``: when that data was read (None: judged as of ``now``); older than
    ``stale_after``, nothing is removed. ``groups``: by group name, the combined use of all
    its members (``combined_use``): a group's policy keeps what any of them used; a group
    missing here keeps all of it. ``shared``: a dict kept across the calls for one account, so
    that each group is judged once, not once per member.
    ``analyzer_findings``: its active Access Analyzer unused-access findings (type, id, details),
    shown beside the suggestion with the differences."""
    policies = list(policies)
    unjudged = [p for p in policies if isinstance(p, UndocumentedPolicy)]
    policies = _distinctly_labelled([p for p in policies if isinstance(p, GrantedPolicy)])
    groups = groups or {}
    shared = {} if shared is None else shared
    notes: list[str] = []
    if unjudged:
        notes.append(
            "Not judged, its document unknown: "
            + ", ".join(p.label for p in unjudged)
            + " (an authorization-details file imported with --filter names a policy without "
            "it). It stays attached as it is; whatever it grants is beyond this suggestion."
        )
    named = {
        a.lower()
        for policy in policies
        for s in statements(document=policy.document)
        if s.is_allow and not s.not_actions
        for a in s.actions
    } & NEVER_RECORDED
    judge = _Judge(
        created=principal.created,
        usage=usage,
        read_at=read_at,
        now=now,
        unused_days=unused_days,
        stale_after=stale_after,
        read_only_buffer=read_only_buffer,
        named=named,
    )
    if judge.note:
        notes.append(judge.note)
    verdict, usage = judge.verdict, judge.usage
    # Used services newer than the action database, granted through a wildcard.
    unknown_used = [
        service
        for service in judge.keep.unknown_services
        if any(
            _statement_grants_service(statement, service)
            for policy in policies
            for statement in statements(document=policy.document)
            if statement.is_allow
        )
    ]
    services = []
    # The same documents for every member of the same groups: expanded once per account run.
    grants = shared.setdefault("grants", GrantsCache())
    for service, granted_by in granted_services(policies=policies, cache=grants).items():
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
    services += [
        {
            "service": service,
            "granted_by": [
                policy.label
                for policy in policies
                if any(
                    _statement_grants_service(statement, service)
                    for statement in statements(document=policy.document)
                    if statement.is_allow
                )
            ],
            "last_accessed": _iso(usage[service].last_accessed),
            "verdict": USED,
            "reason": _reason(USED, usage[service], unused_days),
            "action_level": False,
        }
        for service in unknown_used
    ]
    untracked = [s["service"] for s in services if s["verdict"] == NOT_TRACKED]
    if untracked and usage:
        notes.append(
            "Not tracked by AWS's service last-accessed data, so kept: " + ", ".join(untracked)
        )

    keepers = {
        policy.label: _group_keeper(policy, principal, groups, judge, shared) for policy in policies
    }
    changes = [_change(policy=policy, keep=keepers[policy.label]) for policy in policies]
    if unknown_used:
        notes.append(
            f"Used, and not in the IAM action database ({actions.database_version()}): "
            + ", ".join(unknown_used)
            + ". A wildcard rewritten as a list keeps what it reached of them (service:*)."
        )
    if partly_excluded := sorted(
        {
            service
            for policy in policies
            for service in getattr(keepers[policy.label], "unknown_services", ())
            for statement in statements(document=policy.document)
            if statement.is_allow and _partly_excluded(statement, service)
        }
    ):
        notes.append(
            "A NotAction statement excluding part of "
            + ", ".join(partly_excluded)
            + " (not in the IAM action database) is kept as written: as an Action list it "
            "would lose what was used of it or grant what it excludes."
        )
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
    # Gone unless some policy still grants it (a group's, kept for another member).
    still_granted = [
        document_actions(document=c["after"], cache=grants) for c in changes if c["after"]
    ]
    if dropped := [
        a
        for a in unrecorded
        if a.lower() not in named and not any(a in granted for granted in still_granted)
    ]:
        notes.append(
            "Removed with a wildcard, although service last-accessed data never records it: "
            + ", ".join(dropped)
            + ". If this principal passes roles to a service (EC2, Lambda, ECS…), add it back "
            "for those roles only."
        )
    removed_actions = sorted(
        {a for policy in policies for a in _removed(policy.document, keepers[policy.label])},
        key=str.lower,
    )
    for policy in policies:
        if not _has_other_members(policy, principal):
            continue
        changed = any(c["action"] != "keep" for c in changes if c["policy"] == policy.label)
        count = len(policy.members)
        notes.append(
            f"{policy.label} is a group policy: "
            + (
                f"the change keeps what any of its {count} members used, and changes "
                f"it for all of them; removing {principal.name} from the group may be the "
                "smaller change."
                if changed
                else f"kept as it is for its {count} members while any of them may "
                "use it (a member too new to judge, or without usage data, keeps all of it)."
            )
        )
    unknown_kept, unknown_removed = _unknown_to_database(policies, changes)
    if unknown_kept:
        notes.append(
            f"Not in the IAM action database ({actions.database_version()}), kept as written: "
            + ", ".join(unknown_kept)
        )
    if unknown_removed:
        notes.append(
            f"Not in the IAM action database ({actions.database_version()}), removed with their "
            "unused service: " + ", ".join(unknown_removed)
        )
    if open_ended := [
        c["policy"] for c in changes if c["action"] != "keep" and _narrows_open_ended(c)
    ]:
        notes.append(
            "Granting services by no name (NotAction, `*`, `*:Get*`), narrowed to the "
            "services it names: " + ", ".join(open_ended) + ". Those are the services known "
            f"to the IAM action database ({actions.database_version()}) or to AWS's service "
            "last-accessed data; a service newer than both loses its grant, and must be added "
            "back if this principal uses it."
        )
    removed_services = _granted_service_names(
        [c["before"] for c in changes], grants, shared
    ) - _granted_service_names([c["after"] for c in changes if c["after"]], grants, shared)
    return {
        "arn": principal.arn,
        "name": principal.name,
        "kind": principal.kind,
        "unused_days": unused_days,
        "read_only_buffer": read_only_buffer,
        "generated_at": now.isoformat(),
        "action_database": actions.database_version(),
        "services": services,
        "removed_services": sorted(removed_services),
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
            removed_services=removed_services,
            changes=changes,
            policy_ids={p.ref: p.policy_id for p in policies if p.policy_id},
        ),
    }


def _reason(state: str, row: ServiceUsage | None, unused_days: int) -> str:
    if state == TOO_NEW:
        return f"the principal exists for less than {unused_days} days"
    if state == NO_DATA:
        return "no service last-accessed data collected for it yet"
    if state == STALE:
        return "its service last-accessed data is too old to judge"
    if state == NOT_TRACKED:
        return "not tracked by AWS's service last-accessed data"
    if state == UNUSED:
        if row and row.last_accessed:
            return f"last used {row.last_accessed:%Y-%m-%d}, more than {unused_days} days ago"
        return "never used within AWS's tracking window"
    return f"used within {unused_days} days"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
