"""The population of a review cycle and each item's evidence, as it is at this moment.

Opening a cycle freezes what these functions return; later, the same functions tell whether
fresh data has changed since. Every builder loads in bulk: a fixed number of queries per call.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from findings.detection.detect import AA_PREFIX
from findings.inventory.selectors import CREDENTIAL_DATES
from findings.models import (
    AwsAccount,
    CollectionRun,
    CredentialReportEntry,
    Decision,
    Finding,
    IamGroup,
    IamRole,
    IamUser,
    PolicyAttachment,
    ReviewCycle,
    ReviewItem,
    ServiceLastAccessed,
    Source,
)
from findings.models.findings import SEVERITY_RANK
from findings.policy.documents import diff_policy_sets
from findings.reviews.substance import substance_hash

EXTERNAL_ACCESS_CHECKS = [AA_PREFIX + "ExternalAccess", AA_PREFIX + "InternalAccess"]
# Access Analyzer's own findings about a user's credentials: reviewed in the quarterly cycle
# with the user they are about, as ours are (they were reviewed in no cycle at all). Others
# of its findings are the monthly review's (external access) or a release's (roles).
CREDENTIAL_AA_CHECKS = [AA_PREFIX + "UnusedIAMUserAccessKey", AA_PREFIX + "UnusedIAMUserPassword"]


def _not_quarterly_aa() -> Q:
    """Access Analyzer's findings a quarterly item leaves out."""
    return Q(check_id__startswith=AA_PREFIX) & ~Q(check_id__in=CREDENTIAL_AA_CHECKS)


CLEAN_RANK = 9  # items without findings sort after every severity


@dataclass
class ItemSpec:
    account: AwsAccount
    subject_type: str
    subject_arn: str
    subject_key: str
    title: str
    evidence: dict
    finding_ids: list[int] = field(default_factory=list)
    severity: str = ""

    @property
    def severity_rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, CLEAN_RANK) if self.severity else CLEAN_RANK

    @property
    def evidence_hash(self) -> str:
        return evidence_hash(evidence=self.evidence)

    @property
    def substance_hash(self) -> str:
        return substance_hash(evidence=self.evidence)


def is_clean(*, item: ReviewItem) -> bool:
    """Whether the item froze no finding at all: none open, and none set aside by an exclusion
    or an earlier decision (an excluded critical finding is still a finding to decide on)."""
    return not item.severity and not item.frozen_evidence.get("set_aside")


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def evidence_hash(*, evidence: dict) -> str:
    """Hash of what a reviewer decides on. The diff against an earlier review is context, and
    day counts in finding explanations move daily, so neither is part of it."""
    facts = dict(evidence.get("facts") or {})
    facts.pop("analyzed_at", None)  # Access Analyzer re-analyses without anything changing
    comparable = {
        "facts": facts,
        "unused_services": sorted(s["service"] for s in evidence.get("unused_services", [])),
        "findings": sorted(
            (f["check"], f["resource_key"], f["severity"]) for f in evidence.get("findings", [])
        ),
        "policies": evidence.get("policies"),
    }
    return hashlib.sha256(_canonical(comparable).encode()).hexdigest()


def population_hash(*, items: Iterable[ItemSpec | ReviewItem]) -> str:
    """One hash over the whole population: every subject and its evidence hash."""
    lines = sorted(f"{item.subject_key}:{item.evidence_hash}" for item in items)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _finding_summary(finding: Finding) -> dict:
    return {
        "id": finding.pk,
        "check": finding.check_id,
        "resource_key": finding.resource_key,
        "title": finding.title,
        "severity": finding.severity,
        "status": finding.status,
        "evidence": finding.evidence,
    }


def _worst(findings: list[Finding]) -> str:
    if not findings:
        return ""
    return min(findings, key=lambda f: f.severity_rank).severity


def _iso(value):
    return value.isoformat() if value else None


# --- Monthly: Access Analyzer external and internal access -----------------------------------


def _in_review(decided: Collection[int]) -> Q:
    """Open findings, and the `decided` ones: excluded by a decision on a review item (risk
    accepted, false positive). For whether fresh data still shows what a cycle froze, a
    reviewer's own decision is no change in AWS: those findings count as they were."""
    if not decided:
        return Q(status=Finding.Status.OPEN)
    return Q(status=Finding.Status.OPEN) | Q(pk__in=decided, status=Finding.Status.EXCLUDED)


def monthly_population(
    *, accounts: list[AwsAccount], decided: Collection[int] = ()
) -> list[ItemSpec]:
    findings = Finding.objects.filter(
        _in_review(decided), account__in=accounts, check_id__in=EXTERNAL_ACCESS_CHECKS
    ).select_related("account", "aws_finding")
    specs = []
    for finding in findings:
        aws = finding.aws_finding
        specs.append(
            ItemSpec(
                account=finding.account,
                subject_type="finding",
                subject_arn=finding.resource_arn,
                subject_key=f"finding:{finding.account.account_id}:{finding.resource_key}",
                title=f"{finding.title}: {finding.resource_name}",
                severity=finding.severity,
                finding_ids=[finding.pk],
                evidence={
                    "facts": {
                        "resource": finding.resource_arn,
                        "resource_type": finding.resource_type,
                        "finding_type": finding.check_id[len(AA_PREFIX) :],
                        "aws_status": aws.status if aws else finding.aws_status,
                        "resource_owner_account": aws.resource_owner_account if aws else None,
                        "details": aws.details if aws else finding.evidence.get("details"),
                        "analyzed_at": _iso(aws.analyzed_at) if aws else None,
                    },
                    "findings": [_finding_summary(finding)],
                },
            )
        )
    return specs


# --- Quarterly: every user with a password or an active key ----------------------------------


def _open_findings_by_arn(
    accounts: list[AwsAccount], decided: Collection[int] = ()
) -> dict[tuple[int, str], list[Finding]]:
    grouped: dict[tuple[int, str], list[Finding]] = defaultdict(list)
    for finding in Finding.objects.filter(_in_review(decided), account__in=accounts).exclude(
        _not_quarterly_aa()
    ):
        grouped[(finding.account_id, finding.resource_arn)].append(finding)
    return grouped


def _set_aside_by_arn(
    decided: Collection[int] = (),
    *,
    accounts: list[AwsAccount] | None = None,
    arns: list[str] | None = None,
) -> dict[tuple[int, str], list[dict]]:
    """Findings an exclusion or an earlier accepted risk sets aside (not those a decision in
    this review did: they are in it), by principal: shown beside the item, so that a
    clean-looking one says so. Quarterly items (`accounts`) leave out Access Analyzer's, but
    for those about credentials, as their findings do; release items (`arns`) keep them."""
    rows = Finding.objects.filter(status=Finding.Status.EXCLUDED).exclude(pk__in=list(decided))
    if accounts is not None:
        rows = rows.filter(account__in=accounts).exclude(_not_quarterly_aa())
    if arns is not None:
        rows = rows.filter(resource_arn__in=arns)
    grouped: dict[tuple[int, str], list[dict]] = defaultdict(list)
    rows = rows.values_list(
        "account_id", "resource_arn", "id", "title", "severity", "exclusion_reason"
    )
    for account_id, arn, pk, title, severity, reason in rows:
        grouped[(account_id, arn)].append(
            {"id": pk, "title": title, "severity": severity, "reason": reason}
        )
    return grouped


def _active_certificates(entry: CredentialReportEntry) -> list[dict]:
    """Active X.509 signing certificates: a credential too, whose use AWS does not record.
    Kept out of the facts (and so of the evidence hash), which they were never part of."""
    return [
        {
            "name": f"Signing certificate {n}",
            "uploaded": _iso(getattr(entry, f"cert_{n}_last_rotated")),
        }
        for n in (1, 2)
        if getattr(entry, f"cert_{n}_active")
    ]


def _accounts_with_principals(accounts: list[AwsAccount]) -> set[int]:
    return CollectionRun.objects.filter(account__in=accounts).accounts_collected(
        source=Source.AUTHORIZATION_DETAILS
    )


def _credential_facts(entry: CredentialReportEntry) -> dict:
    facts = {
        "user": entry.user,
        "arn": entry.arn,
        "root": entry.is_root,
        "created": _iso(entry.user_creation_time),
        "password_enabled": entry.password_enabled,
        "mfa_active": entry.mfa_active,
        "access_key_1_active": entry.access_key_1_active,
        "access_key_2_active": entry.access_key_2_active,
    }
    for name in CREDENTIAL_DATES:
        facts[name] = _iso(getattr(entry, name))
        facts[f"{name}_reason"] = getattr(entry, f"{name}_reason") or None
    return facts


def _user_policies(accounts: list[AwsAccount], users: list[IamUser]) -> dict[str, dict]:
    """{user ARN: {label: document}}: the user's own policies and those of its groups."""
    group_arns = {
        (account_id, name): arn
        for account_id, name, arn in IamGroup.objects.filter(
            account__in=accounts, gone_at=None
        ).values_list("account_id", "name", "arn")
    }
    documents: dict[str, dict[str, dict | None]] = defaultdict(dict)
    for attachment in PolicyAttachment.objects.filter(
        account__in=accounts, gone_at=None, principal_type__in=["user", "group"]
    ).select_related("document"):
        documents[attachment.principal_arn][f"{attachment.kind}: {attachment.policy_ref}"] = (
            attachment.document.document if attachment.document else None
        )
    policies: dict[str, dict] = {}
    for user in users:
        own = dict(documents.get(user.arn, {}))
        for group in user.groups:
            for label, document in documents.get(
                group_arns.get((user.account_id, group)), {}
            ).items():
                own[f"{label} (via group {group})"] = document
        policies[user.arn] = own
    return policies


def quarterly_population(
    *, accounts: list[AwsAccount], decided: Collection[int] = ()
) -> list[ItemSpec]:
    entries = (
        CredentialReportEntry.objects.filter(account__in=accounts, gone_at=None)
        .filter(
            # The root row says password_enabled "not_supported" (None): root is always in.
            Q(password_enabled=True)
            | Q(access_key_1_active=True)
            | Q(access_key_2_active=True)
            | Q(user="<root_account>")
            | Q(arn__endswith=":root")
        )
        .select_related("account")
    )
    users = {
        (u.account_id, u.arn): u for u in IamUser.objects.filter(account__in=accounts, gone_at=None)
    }
    findings = _open_findings_by_arn(accounts, decided)
    set_aside = _set_aside_by_arn(decided, accounts=accounts)
    policies = _user_policies(accounts, list(users.values()))
    with_principals = _accounts_with_principals(accounts)
    specs = []
    for entry in entries:
        user = users.get((entry.account_id, entry.arn))
        user_findings = findings.get((entry.account_id, entry.arn), [])
        facts = _credential_facts(entry)
        if user is not None:
            facts.update(groups=user.groups, tags=user.tags, path=user.path)
        evidence = {"facts": facts, "findings": [_finding_summary(f) for f in user_findings]}
        if user is not None:  # the root user has no IAM policies to show
            evidence["policies"] = policies.get(user.arn, {})
        elif not entry.is_root:
            # Kept out of the evidence hash: what is unknown is not a change in AWS.
            evidence["policies_unknown"] = (
                "Not in the latest users, roles and policies collected for this account"
                if entry.account_id in with_principals
                else "Users, roles and policies were never collected for this account"
            )
        if excluded := set_aside.get((entry.account_id, entry.arn)):
            evidence["set_aside"] = excluded
        if certificates := _active_certificates(entry):
            evidence["signing_certificates"] = certificates
        label = "root user" if entry.is_root else entry.user
        specs.append(
            ItemSpec(
                account=entry.account,
                subject_type="user",
                subject_arn=entry.arn,
                subject_key=f"user:{entry.arn}",
                title=f"{label} ({entry.account.name})",
                severity=_worst(user_findings),
                finding_ids=[f.pk for f in user_findings],
                evidence=evidence,
            )
        )
    return specs


# --- Per release: the roles an application uses ---------------------------------------------


def _policies_in_effect(role_arns: list[str]) -> dict[str, dict[str, dict]]:
    """{role ARN: {"inline: name" | "managed: arn" | "boundary: arn" | "trust": document}}"""
    policies: dict[str, dict[str, dict]] = defaultdict(dict)
    for attachment in PolicyAttachment.objects.filter(
        principal_arn__in=role_arns, gone_at=None
    ).select_related("document"):
        label = (
            "trust" if attachment.kind == "trust" else f"{attachment.kind}: {attachment.policy_ref}"
        )
        policies[attachment.principal_arn][label] = (
            attachment.document.document if attachment.document else None
        )
    return policies


# Decisions that let a role stay as it was: what remediation was asked of is no baseline.
APPROVING_DECISIONS = (
    Decision.Kind.KEEP,
    Decision.Kind.ACCEPT_RISK,
    Decision.Kind.FALSE_POSITIVE,
)


def _last_approved_policies(role_arns: list[str]) -> dict[str, dict]:
    """Each role's policies as frozen in its latest signed-off per-release review that let it
    stay as it was (its latest decision keep, accept risk or false positive): one that sent it
    to remediation, or marked it unanswered, approved nothing to compare with."""

    approved: dict[str, dict] = {}
    for item in (
        ReviewItem.objects.filter(
            subject_type="role",
            subject_arn__in=role_arns,
            cycle__kind="release",
            cycle__state="signed_off",
            latest_decision__kind__in=APPROVING_DECISIONS,
        )
        .select_related("cycle")
        .order_by("-cycle__signed_off_at")
    ):
        approved.setdefault(
            item.subject_arn,
            {
                "policies": item.frozen_evidence.get("policies", {}),
                "cycle": item.cycle_id,
                "signed_off_at": _iso(item.cycle.signed_off_at),
            },
        )
    return approved


def _service_access_read_at(*, roles: list[IamRole]) -> dict[str, datetime]:
    """Role ARN -> when its service last-accessed data was read (one look per account)."""
    by_account: dict[int, list[str]] = defaultdict(list)
    for role in roles:
        by_account[role.account_id].append(role.arn)
    read_at: dict[str, datetime] = {}
    for account_id, arns in by_account.items():
        read_at |= CollectionRun.objects.service_access_read_at(
            account_id=account_id, principal_arns=arns
        )
    return read_at


def _unused_services_of(rows: list[ServiceLastAccessed], now) -> list[dict]:
    days = settings.DETECT_UNUSED_SERVICE_DAYS
    return [
        {
            "service": row.service_namespace,
            "last_accessed": _iso(row.last_authenticated_at),
        }
        for row in rows
        if row.last_authenticated_at is None or (now - row.last_authenticated_at).days > days
    ]


def release_population(
    *, role_arns: list[str], decided: Collection[int] = ()
) -> tuple[list[ItemSpec], list[str]]:
    """Items for the given role ARNs, and the ARNs we do not know (reported, not ignored)."""
    wanted = list(dict.fromkeys(arn.strip() for arn in role_arns if arn.strip()))
    roles = {
        role.arn: role
        for role in IamRole.objects.filter(arn__in=wanted, gone_at=None).select_related("account")
    }
    unknown = [arn for arn in wanted if arn not in roles]
    known = [arn for arn in wanted if arn in roles]
    policies = _policies_in_effect(known)
    approved = _last_approved_policies(known)
    services: dict[str, list] = defaultdict(list)
    for row in ServiceLastAccessed.objects.filter(principal_arn__in=known, gone_at=None):
        services[row.principal_arn].append(row)
    findings: dict[str, list[Finding]] = defaultdict(list)
    for finding in Finding.objects.filter(_in_review(decided), resource_arn__in=known):
        findings[finding.resource_arn].append(finding)
    set_aside = _set_aside_by_arn(decided, arns=known)
    now = timezone.now()
    read_at = _service_access_read_at(roles=[roles[arn] for arn in known])
    specs = []
    for arn in known:
        role = roles[arn]
        current = policies.get(arn, {})
        previous = approved.get(arn)
        changes = (
            [
                {
                    "policy": change.name,
                    "kind": change.kind,
                    "diff": list(change.diff.unified),
                    "added_actions": sorted(change.diff.added_actions),
                    "removed_actions": sorted(change.diff.removed_actions),
                }
                for change in diff_policy_sets(old=previous["policies"], new=current)
                if change.kind != "unchanged"
            ]
            if previous
            else []
        )
        role_findings = findings.get(arn, [])
        extra = {}
        if excluded := set_aside.get((role.account_id, arn)):
            extra["set_aside"] = excluded  # outside the evidence hash, as for users
        specs.append(
            ItemSpec(
                account=role.account,
                subject_type="role",
                subject_arn=arn,
                subject_key=f"role:{arn}",
                title=f"{role.name} ({role.account.name})",
                severity=_worst(role_findings),
                finding_ids=[f.pk for f in role_findings],
                evidence={
                    "facts": {
                        "arn": arn,
                        "name": role.name,
                        "path": role.path,
                        "created": _iso(role.create_date),
                        "last_used": _iso(role.last_used_at),
                        "last_used_region": role.last_used_region or None,
                        "last_used_note": None
                        if role.last_used_at
                        else "not used within AWS's tracking window (about 400 days)",
                        "tags": role.tags,
                        "service_linked": role.is_service_linked,
                    },
                    "policies": current,
                    # As of when the usage was read: with no new data, the list (and so the
                    # evidence hash, and the item's freshness) does not change by the calendar.
                    "unused_services": _unused_services_of(
                        services.get(arn, []), read_at.get(arn, now)
                    ),
                    "findings": [_finding_summary(f) for f in role_findings],
                    "changes": {
                        "first_review": previous is None,
                        "since_cycle": previous["cycle"] if previous else None,
                        "since": previous["signed_off_at"] if previous else None,
                        "policies": changes,
                    },
                    **extra,
                },
            )
        )
    return specs, unknown


def current_specs(*, cycle: ReviewCycle) -> dict[str, ItemSpec]:
    """The cycle's population as it would be frozen now, by subject key."""
    accounts = list(cycle.scope_accounts.all()) or list(AwsAccount.objects.all())
    if cycle.kind == "monthly":
        specs = monthly_population(accounts=accounts)
    elif cycle.kind == "quarterly":
        specs = quarterly_population(accounts=accounts)
    else:
        specs, _ = release_population(
            role_arns=list(cycle.items.values_list("subject_arn", flat=True))
        )
    return {spec.subject_key: spec for spec in specs}
