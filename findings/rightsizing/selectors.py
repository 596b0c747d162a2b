"""Read functions: the policies and usage of stored principals, and the stored suggestions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from findings.models import (
    AccessAnalyzerFinding,
    AwsAccount,
    CollectionRun,
    FindingRecommendation,
    IamGroup,
    IamRole,
    IamUser,
    ManagedPolicy,
    PolicyAttachment,
    PolicySuggestion,
    ServiceLastAccessed,
)
from findings.models.tags import with_tag
from findings.policy.grants import GrantedPolicy
from findings.rightsizing.engine import (
    MemberUse,
    Principal,
    ServiceUsage,
    combined_use,
    suggest,
)
from findings.rightsizing.undocumented import UndocumentedPolicy
from findings.rightsizing.validation import CHECKED_BY, aws_validation, document_key

GRANTING_KINDS = ("inline", "managed")


def granted_policies_by_principal(
    *, account: AwsAccount, principals: Iterable[IamUser | IamRole]
) -> dict[str, list[GrantedPolicy | UndocumentedPolicy]]:
    """Principal ARN -> every inline and managed policy in effect on it, its groups' included.
    One attached without a known document (an authorization-details file imported with
    ``--filter``) is there as an ``UndocumentedPolicy``: what it grants is not judged, and no
    caller may take it as granting nothing.

    Five queries whatever the number of principals.
    """
    principals = list(principals)
    groups = {g.name: g for g in IamGroup.objects.filter(account=account, gone_at=None)}
    members: dict[str, list[str]] = defaultdict(list)
    for user_arn, user_groups in IamUser.objects.filter(account=account, gone_at=None).values_list(
        "arn", "groups"
    ):
        for name in user_groups or []:
            members[name].append(user_arn)
    # One tuple per group, shared by every member's policies: not a sorted copy per member.
    sorted_members = {name: tuple(sorted(arns)) for name, arns in members.items()}
    wanted = {p.arn for p in principals} | {g.arn for g in groups.values()}
    attachments = list(
        PolicyAttachment.objects.filter(
            account=account, gone_at=None, kind__in=GRANTING_KINDS, principal_arn__in=wanted
        ).select_related("document")
    )
    managed_refs = {a.policy_ref for a in attachments if a.kind == "managed"}
    managed = {
        m.arn: m
        for m in ManagedPolicy.objects.filter(arn__in=managed_refs).only(
            "arn", "is_aws_managed", "attachment_count", "policy_id"
        )
    }
    # Rewriting a policy someone has as a boundary would change that boundary too.
    boundaries = set(
        PolicyAttachment.objects.filter(
            account=account, gone_at=None, kind="boundary", policy_ref__in=managed_refs
        ).values_list("policy_ref", flat=True)
    )
    by_arn: dict[str, list[PolicyAttachment]] = defaultdict(list)
    for attachment in attachments:
        by_arn[attachment.principal_arn].append(attachment)
    result = {}
    for principal in principals:
        policies = [
            _granted(a, managed.get(a.policy_ref), boundaries=boundaries)
            for a in by_arn[principal.arn]
        ]
        for group_name in getattr(principal, "groups", None) or []:
            group = groups.get(group_name)
            if group is None:
                continue
            policies += [
                _granted(
                    a,
                    managed.get(a.policy_ref),
                    group=group_name,
                    members=sorted_members.get(group_name, ()),
                    boundaries=boundaries,
                )
                for a in by_arn[group.arn]
            ]
        result[principal.arn] = sorted(policies, key=lambda p: (p.group, p.kind, p.name.lower()))
    return result


def _granted(
    attachment: PolicyAttachment,
    managed: ManagedPolicy | None,
    *,
    group: str = "",
    members: tuple[str, ...] = (),
    boundaries: set[str] = frozenset(),
) -> GrantedPolicy | UndocumentedPolicy:
    """``members``: the group's, sorted."""
    if attachment.document is None:
        return UndocumentedPolicy(
            name=attachment.policy_name,
            ref=attachment.policy_ref,
            kind="group" if group else attachment.kind,
            group=group,
        )
    is_managed = attachment.kind == "managed"
    return GrantedPolicy(
        name=attachment.policy_name,
        ref=attachment.policy_ref,
        kind="group" if group else attachment.kind,
        document=attachment.document.document,
        is_managed=is_managed,
        is_aws_managed=bool(managed and managed.is_aws_managed)
        or _names_an_aws_managed_policy(attachment.policy_ref),
        attachment_count=managed.attachment_count if managed else 1,
        group=group,
        members=members,
        used_as_boundary=is_managed and attachment.policy_ref in boundaries,
        policy_id=managed.policy_id if managed else "",
    )


def usage_by_principal(
    *, account: AwsAccount, principal_arns: Iterable[str]
) -> dict[str, dict[str, ServiceUsage]]:
    usage: dict[str, dict[str, ServiceUsage]] = defaultdict(dict)
    for row in ServiceLastAccessed.objects.filter(
        account=account, gone_at=None, principal_arn__in=list(principal_arns)
    ):
        usage[row.principal_arn][row.service_namespace.lower()] = ServiceUsage(
            service=row.service_namespace.lower(),
            last_accessed=row.last_authenticated_at,
            actions={
                _action_key(row.service_namespace, a["action"]): _parse(a.get("last_accessed_at"))
                for a in row.actions
            }
            if row.actions
            else None,
        )
    return usage


def recent_usage_by_principal(
    *, account: AwsAccount, principal_arns: Iterable[str], since: datetime
) -> dict[str, dict[str, ServiceUsage]]:
    """Like ``usage_by_principal``, reading action lists only of services used since
    ``since``: an older use is unused to any judgement whose cutoff is later, whatever its
    actions. Two queries."""
    rows = ServiceLastAccessed.objects.filter(
        account=account, gone_at=None, principal_arn__in=list(principal_arns)
    )
    usage: dict[str, dict[str, ServiceUsage]] = defaultdict(dict)
    for arn, namespace, last in rows.values_list(
        "principal_arn", "service_namespace", "last_authenticated_at"
    ):
        usage[arn][namespace.lower()] = ServiceUsage(
            service=namespace.lower(), last_accessed=last, actions={}
        )
    for arn, namespace, last, tracked in rows.filter(last_authenticated_at__gte=since).values_list(
        "principal_arn", "service_namespace", "last_authenticated_at", "actions"
    ):
        usage[arn][namespace.lower()] = ServiceUsage(
            service=namespace.lower(),
            last_accessed=last,
            actions={
                _action_key(namespace, a["action"]): _parse(a.get("last_accessed_at"))
                for a in tracked
            }
            if tracked
            else None,
        )
    return usage


UNUSED_ACCESS_TYPES = (
    "UnusedPermission",
    "UnusedIAMRole",
    "UnusedIAMUserAccessKey",
    "UnusedIAMUserPassword",
)


def unused_access_findings(
    *, account: AwsAccount, principal_arns: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """Principal ARN -> its active Access Analyzer unused-access findings, as plain dicts."""
    principal_arns = list(principal_arns)
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    # Stored under the account whose analyzer reported the finding (an organization analyzer
    # reports for members), like the findings below.
    recommendations = {
        r.finding_id: {"status": r.status, "steps": r.steps, "error": r.error}
        for r in FindingRecommendation.objects.filter(principal_arn__in=principal_arns)
    }
    for finding in AccessAnalyzerFinding.objects.filter(
        resource__in=principal_arns, finding_type__in=UNUSED_ACCESS_TYPES, status="ACTIVE"
    ).filter(Q(account=account) | Q(resource_owner_account=account.account_id)):
        found[finding.resource].append(
            {
                "finding_id": finding.finding_id,
                "finding_type": finding.finding_type,
                "status": finding.status,
                "details": finding.details,
                "recommendation": recommendations.get(finding.finding_id),
            }
        )
    return found


def _action_key(namespace: str, action: str) -> str:
    """AWS names tracked actions without their service (`GetObject`); accept both spellings."""
    return (action if ":" in action else f"{namespace}:{action}").lower()


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def compute_suggestions(
    *,
    account: AwsAccount,
    principals: Iterable[IamUser | IamRole],
    now: datetime | None = None,
    unused_days: int | None = None,
    read_only_buffer: bool | None = None,
) -> dict[str, dict[str, Any]]:
    """Principal ARN -> its suggestion, computed now from stored evidence (a fixed number of
    queries whatever the number of principals)."""
    principals = [p for p in principals if not getattr(p, "is_service_linked", False)]
    now = now or timezone.now()
    days = unused_days if unused_days is not None else settings.RIGHTSIZING_UNUSED_DAYS
    buffer = (
        read_only_buffer if read_only_buffer is not None else settings.RIGHTSIZING_READ_ONLY_BUFFER
    )
    policies = granted_policies_by_principal(account=account, principals=principals)
    arns = [p.arn for p in principals]
    # A group's policy keeps what any member used: the members' combined use, per group.
    groups = {
        g.group: g.members
        for granted in policies.values()
        for g in granted
        if g.group and isinstance(g, GrantedPolicy)
    }
    created = {p.arn: p.create_date for p in principals}
    others = {m for members in groups.values() for m in members} - set(arns)
    created.update(
        IamUser.objects.filter(account=account, gone_at=None, arn__in=others).values_list(
            "arn", "create_date"
        )
    )
    read_at = CollectionRun.objects.service_access_read_at(
        account_id=account.pk, principal_arns=list(created)
    )
    usage = usage_by_principal(account=account, principal_arns=arns)
    if others:
        # Only what the group judgement needs of the others: their lasts, and action lists
        # where used since the earliest cutoff (never an administrator's 400 services each).
        reads = [read_at.get(arn) or now for arn in others | set(arns)]
        usage.update(
            recent_usage_by_principal(
                account=account,
                principal_arns=others,
                since=min(reads) - timedelta(days=days),
            )
        )
    group_uses = {
        name: combined_use(
            uses=[
                MemberUse(created=created[m], usage=usage.get(m), read_at=read_at.get(m))
                if m in created
                else None
                for m in members
            ]
        )
        for name, members in groups.items()
    }
    known_uses = {name: use for name, use in group_uses.items() if use is not None}
    shared: dict[str, Any] = {}
    analyzer = unused_access_findings(account=account, principal_arns=arns)
    # Older than the dashboard calls stale (twice the collection interval): nothing removed.
    stale_after = 2 * timedelta(hours=settings.COLLECT_SERVICE_LAST_ACCESSED_HOURS)
    return {
        p.arn: suggest(
            principal=Principal(
                arn=p.arn,
                name=p.name,
                kind="user" if isinstance(p, IamUser) else "role",
                created=p.create_date,
            ),
            policies=policies[p.arn],
            usage=usage.get(p.arn),
            now=now,
            unused_days=days,
            read_only_buffer=buffer,
            analyzer_findings=analyzer.get(p.arn, ()),
            read_at=read_at.get(p.arn),
            stale_after=stale_after,
            groups=known_uses,
            shared=shared,
        )
        for p in principals
    }


def group_members(*, account: AwsAccount, groups: Iterable[str]) -> dict[str, list[str]]:
    """Group name -> the ARN of each of its present users, sorted. A suggestion says how many
    members a change to a group's policy reaches, and names the first few; what must list
    every one of them (the CloudFormation download) reads them here. One query."""
    wanted = set(groups)
    found: dict[str, list[str]] = {name: [] for name in wanted}
    if not wanted:
        return found
    # Read and matched here: a JSON containment lookup is PostgreSQL's only (SQLite, `make
    # run`, refused it), and a download reads one account's users once.
    users = IamUser.objects.filter(account=account, gone_at=None)
    for arn, names in users.values_list("arn", "groups").iterator():
        if not isinstance(names, list):
            continue
        for name in wanted.intersection(names or ()):
            found[name].append(arn)
    return {name: sorted(arns) for name, arns in found.items()}


def find_principal(*, arn: str) -> IamUser | IamRole:
    """The present user or role with this ARN; LookupError when there is none."""
    for model in (IamRole, IamUser):
        found = model.objects.filter(arn=arn, gone_at=None).select_related("account").first()
        if found is not None:
            return found
    raise LookupError(f"No user or role with ARN {arn} has been collected")


def suggestion_for(
    *, arn: str, unused_days: int | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The suggestion for one principal, computed fresh: the object of
    ``manage.py suggest_policy`` and of ``GET /api/principals/suggestion?arn=ARN``."""
    principal = find_principal(arn=arn)
    if getattr(principal, "is_service_linked", False):
        raise LookupError(f"{arn} is service-linked: AWS owns its policies")
    fresh = compute_suggestions(
        account=principal.account, principals=[principal], now=now, unused_days=unused_days
    )[arn]
    return with_stored_validation(
        fresh=fresh, stored=stored_suggestion(account=principal.account, arn=arn)
    )


def with_stored_validation(
    *, fresh: dict[str, Any], stored: PolicySuggestion | None
) -> dict[str, Any]:
    """A suggestion computed now is checked locally (grammar and sizes): Access Analyzer's
    ValidatePolicy runs with collection, on the stored suggestion. When AWS checked every
    document this one suggests (the same text), its findings are this one's too; the size
    limits, which depend on all of the principal's documents, come from this one's own check."""
    if stored is None:
        return fresh
    checked = stored.data.get("validation") or {}
    if checked.get("checked_by") != CHECKED_BY:
        return fresh
    by_policy = {d["policy"]: d["findings"] for d in checked.get("documents") or []}
    known = {
        document_key(document=change["after"]): by_policy[change["policy"]]
        for change in stored.data.get("changes") or []
        if change.get("action") != "keep" and change.get("after") and change["policy"] in by_policy
    }
    wanted = [
        document_key(document=change["after"])
        for change in fresh.get("changes") or []
        if change.get("action") != "keep" and change.get("after")
    ]
    if not wanted or any(key not in known for key in wanted):
        return fresh
    validation = aws_validation(
        data=fresh, findings_of=lambda document: known[document_key(document=document)]
    )
    validation["note"] += (
        f", ValidatePolicy on the stored suggestion of "
        f"{stored.computed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, which suggests these documents"
    )
    fresh["validation"] = validation
    return fresh


def stored_suggestion(*, account: AwsAccount, arn: str) -> PolicySuggestion | None:
    return PolicySuggestion.objects.filter(account=account, principal_arn=arn).first()


def rightsizing_rows(
    *, account_id: str = "", kind: str = "", tag: str = "", only_changes: bool = True
) -> QuerySet[PolicySuggestion]:
    """Stored suggestions, those removing admin and write access first.

    ``tag`` is ``key`` or ``key=value``.
    """
    rows = PolicySuggestion.objects.select_related("account")
    if account_id:
        rows = rows.filter(account__account_id=account_id)
    if kind in ("user", "role"):
        rows = rows.filter(principal_type=kind)
    if only_changes:
        rows = rows.filter(changed_policies__gt=0)
    if tag:
        key, has_value, value = tag.partition("=")
        if not key:
            raise ValueError(f"{tag!r} is not a tag: write key or key=value")
        rows = with_tag(rows=rows, key=key, value=value if has_value else None)
    return rows.order_by(
        "-removes_admin", "-removed_write_actions", "-removed_actions", "principal_name", "pk"
    )


def _names_an_aws_managed_policy(ref: str) -> bool:
    """arn:<partition>:iam::aws:policy/..., in any partition (aws-cn, aws-us-gov, ...)."""
    partition, separator, _ = ref.partition(":iam::aws:policy/")
    return bool(separator) and partition.startswith("arn:aws")
