"""The suggestion: from what a principal is granted and what it used, a least-privilege version.

Pure: policies and usage in, the suggestion (a JSON-ready dict, the shape of
``manage.py suggest_policy --format json``) out. Statements keep their resources and
conditions; only Action/NotAction change, and statements left with nothing are dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache
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
from findings.rightsizing.plans import compare_documents
from findings.rightsizing.undocumented import UndocumentedPolicy
from findings.rightsizing.validation import validate

USED, UNUSED, TOO_NEW, NOT_TRACKED = "used", "unused", "too-new", "not-tracked"
NO_DATA = "no-data"  # no service last-accessed data collected for the principal at all
STALE = "stale"  # its data was read too long ago to remove anything
# The members of a group a change names (with how many there are in all).
AFFECTS_SHOWN = 10

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


@dataclass(frozen=True)
class MemberUse:
    """What is known of another member of a group whose policy is suggested: a group's policy
    keeps what any member used."""

    created: datetime
    usage: Mapping[str, ServiceUsage] | None = field(default=None, hash=False)
    read_at: datetime | None = None


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


def _distinctly_labelled(policies: list[GrantedPolicy]) -> list[GrantedPolicy]:
    """Policies whose labels clash (an inline and a managed policy of one name) told apart by
    their kind: each change, check and export names one policy."""
    counts = Counter(policy.label for policy in policies)
    kinds = [
        replace(policy, distinct=_kind_word(policy)) if counts[policy.label] > 1 else policy
        for policy in policies
    ]
    # Still the same (two AWS-managed of one name under different paths): numbered.
    counts, seen = Counter(p.label for p in kinds), Counter()
    numbered = []
    for policy in kinds:
        if counts[policy.label] > 1:
            seen[policy.label] += 1
            distinct = ", ".join(filter(None, [policy.distinct, str(seen[policy.label])]))
            policy = replace(policy, distinct=distinct)
        numbered.append(policy)
    return numbered


def _kind_word(policy: GrantedPolicy) -> str:
    if not policy.is_managed:
        return "inline"
    return "AWS managed" if policy.is_aws_managed else "customer managed"


def _beside_access_analyzer(
    findings: Iterable[Mapping[str, Any]],
    *,
    removed_services: set[str],
    changes: list[dict[str, Any]] = (),
    policy_ids: Mapping[str, str] | None = None,
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
                    theirs=_recommended_documents(
                        recommendation["steps"], changes, policy_ids or {}
                    ),
                )
            entry["recommendation"] = recommendation
        result.append(entry)
    return result


def _recommended_documents(
    steps: Iterable[Mapping[str, Any]],
    changes: Iterable[Mapping[str, Any]],
    policy_ids: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The principal's documents once Access Analyzer's steps are applied: a policy it names is
    detached or replaced by its recommended policy; the others stay as they are. AWS calls
    what it names the policy's "ID": matched against the ARN, the policy id (ANPA...) and the
    name, whichever it gives."""
    named = {step.get("existing_policy_id") for step in steps} - {None, ""}

    def is_named(change: Mapping[str, Any]) -> bool:
        ref = change["ref"]
        return bool({ref, ref.rpartition("/")[2], policy_ids.get(ref)} & named)

    documents = [step["policy"] for step in steps if step.get("policy")]
    documents += [c["before"] for c in changes if not is_named(c)]
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


class _Judge:
    """Whether one principal's use keeps an action: its service used within ``unused_days``
    before its data was read, and where AWS tracks actions, the action itself."""

    def __init__(
        self,
        *,
        created: datetime,
        usage: Mapping[str, ServiceUsage] | None,
        read_at: datetime | None,
        now: datetime,
        unused_days: int,
        stale_after: timedelta | None,
        read_only_buffer: bool,
        named: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        # Old enough to judge when its data was read, not today.
        self.too_new = created > (read_at or now) - timedelta(days=unused_days)
        self.stale = (
            usage is not None
            and read_at is not None
            and stale_after is not None
            and now - read_at > stale_after
        )
        self.note = ""
        if self.too_new:
            self.note = (
                f"Too new to judge: created {created:%Y-%m-%d}, less than {unused_days} "
                + ("days before its usage data was read" if read_at else "days ago")
                + "; everything is kept."
            )
        elif usage is None:
            self.note = (
                "No service last-accessed data has been collected for it; everything is kept."
            )
        elif self.stale:
            self.note = (
                f"Its service last-accessed data was last read {read_at:%Y-%m-%d %H:%M} UTC, "
                f"{(now - read_at).days} days ago (its collection has failed since): too old "
                "to remove anything; everything is kept until it is read again."
            )
        self.collected = usage is not None and not self.stale
        self.usage = usage or {}
        # Unused for so many days before the data was read, not before today.
        self.cutoff = (read_at or now) - timedelta(days=unused_days)
        self.read_only_buffer = read_only_buffer
        self.named = named
        self.now, self.unused_days, self.stale_after = now, unused_days, stale_after
        self.keep = cache(self._keep)  # tens of thousands of calls for an admin policy
        self.keep.unknown_services = _used_unknown_services(self.usage, self.verdict)
        self.keep.unknown_actions = _tracked_unknown_actions(self.usage, self.verdict)

    def verdict(self, service: str) -> str:
        if self.too_new:
            return TOO_NEW
        if self.stale:
            return STALE
        if not self.collected:
            return NO_DATA  # not "not tracked": AWS tracks it, we have not asked yet
        row = self.usage.get(service)
        if row is None:
            return NOT_TRACKED
        used = row.last_accessed is not None and row.last_accessed >= self.cutoff
        return USED if used else UNUSED

    def _keep(self, action: str) -> bool:
        if action.lower() in self.named:
            return True
        service = actions.service_of(action=action)
        state = self.verdict(service)
        if state == UNUSED:
            return False
        if state != USED or self.usage[service].actions is None:
            return True
        tracked = self.usage[service].actions
        key = action.lower()
        if key not in tracked:
            return True  # AWS does not track this action: no evidence it is unused
        last = tracked[key]
        if last is not None and last >= self.cutoff:
            return True
        return self.read_only_buffer and action in actions.read_only_actions(service=service)


def _used_unknown_services(
    usage: Mapping[str, ServiceUsage], verdict: Callable[[str], str]
) -> list[str]:
    return sorted(s for s in usage if verdict(s) == USED and not actions.actions_of(service=s))


def _tracked_unknown_actions(
    usage: Mapping[str, ServiceUsage], verdict: Callable[[str], str]
) -> list[str]:
    """Actions AWS tracks for a used service that the action database does not know (newer
    than it): `keep` judges them like any other, but no expansion of a wildcard lists them."""
    return sorted(
        action
        for service, row in usage.items()
        if verdict(service) == USED and row.actions
        for action in row.actions
        if not actions.is_known(action=action)
    )


def _group_keeper(
    policy: GrantedPolicy,
    principal: Principal,
    groups: Mapping[str, MemberUse],
    judge: _Judge,
    shared: dict[str, Any],
) -> Callable[[str], bool]:
    """A group's policy keeps what any member keeps (its members' combined use, judged once per
    group); a group without it here keeps all of it. Another policy keeps what this
    principal's use keeps."""
    if not _has_other_members(policy, principal):
        return judge.keep
    use = groups.get(policy.group)
    if use is None:
        return _keep_all
    key = f"group:{policy.group}"
    if key not in shared:
        shared[key] = _Judge(
            created=use.created,
            usage=use.usage,
            read_at=use.read_at,
            now=judge.now,
            unused_days=judge.unused_days,
            stale_after=judge.stale_after,
            read_only_buffer=judge.read_only_buffer,
        )
    group_judge, named = shared[key], judge.named

    @cache
    def keep(action: str) -> bool:
        return action.lower() in named or group_judge.keep(action)

    keep.unknown_services = group_judge.keep.unknown_services
    keep.unknown_actions = group_judge.keep.unknown_actions
    return keep


def _has_other_members(policy: GrantedPolicy, principal: Principal) -> bool:
    """Whether a group's policy reaches someone besides the principal. Counted, not scanned:
    a group every user is in (AWS's manage-your-own-credentials policy) has thousands of
    members, and this is asked for each of them."""
    members = policy.members
    if not policy.group or not members:
        return False
    return len(members) > 1 or members[0] != principal.arn


def combined_use(*, uses: Iterable[MemberUse | None]) -> MemberUse | None:
    """What a group's members used, as one: a service's latest use by any of them, each
    action's latest, the newest member's creation (too new if any is) and the oldest read
    (stale if any is). None (keep everything) when a member is unknown; no usage when one has
    none. An action list is merged only where every member has one for the service."""
    uses = list(uses)
    if not uses or any(u is None for u in uses):
        return None
    created = max(u.created for u in uses)
    reads = [u.read_at for u in uses if u.read_at is not None]
    read_at = min(reads) if reads else None
    if any(u.usage is None for u in uses):
        return MemberUse(created=created, usage=None, read_at=read_at)
    merged: dict[str, ServiceUsage] = {}
    for use in uses:
        for service, row in use.usage.items():
            seen = merged.get(service)
            if seen is None:
                merged[service] = row
                continue
            lasts = [t for t in (seen.last_accessed, row.last_accessed) if t is not None]
            if seen.actions is None or row.actions is None:
                actions_seen = None
            else:
                actions_seen = dict(seen.actions)
                for action, at in row.actions.items():
                    before = actions_seen.get(action)
                    actions_seen[action] = (
                        max(t for t in (before, at) if t) if (before or at) else None
                    )
            merged[service] = ServiceUsage(
                service=service,
                last_accessed=max(lasts) if lasts else None,
                actions=actions_seen,
            )
    return MemberUse(created=created, usage=merged, read_at=read_at)


def _keep_all(action: str) -> bool:
    return True


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
        # How many principals a change to a group's policy reaches, and the first few of them:
        # never the whole list, which every member's suggestion would carry (a group of all
        # the account's users made storage grow with the square of them). The files that list
        # every member resolve them when they are made (selectors.group_members).
        "affects_count": len(policy.members) if policy.group else 0,
        "affects_first": list(policy.members[:AFFECTS_SHOWN]) if policy.group else [],
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
