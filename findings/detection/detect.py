"""Detection: turn one account's stored evidence into findings, and keep their life up to date.

Open -> resolved (the evidence no longer shows it, with the run that showed it) -> reopened when
it comes back. Findings are never deleted. Running detection twice leaves the same state.
"""

import fnmatch
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from findings.detection.checks import (
    CHECKS,
    CHECKS_BY_ID,
    RULES_VERSION,
    Detected,
    Evidence,
    Principal,
    Thresholds,
)
from findings.detection.writes import (
    add_events,
    insert_findings,
    resolve_findings,
    update_seen_findings,
)
from findings.models import (
    AccessAnalyzerFinding,
    Analyzer,
    AwsAccount,
    CollectionRun,
    CredentialReportEntry,
    Exclusion,
    Finding,
    IamGroup,
    IamRole,
    IamUser,
    PolicyAttachment,
    ServiceLastAccessed,
    Source,
)
from findings.models.bulk import json_text
from findings.models.evidence import AA_UNRESOLVED
from findings.models.findings import SEVERITY_RANK
from findings.models.fingerprints import fingerprinted
from findings.policy.guardrails import guardrails_from

EXCLUDE_TAG = "iamreview:exclude"
AA_PREFIX = "access-analyzer:"


@dataclass(frozen=True)
class AccessAnalyzerType:
    title: str
    severity: str
    severity_reason: str
    risk: str
    fix: str


AA_TYPES = {
    "ExternalAccess": AccessAnalyzerType(
        "External access",
        "high",
        "Shared with another account",
        "IAM Access Analyzer found a resource policy that grants access from outside the zone of "
        "trust (another account, or the public).",
        "If the access is intended, archive it in Access Analyzer and keep it with a reason; "
        "otherwise tighten the resource policy.",
    ),
    "InternalAccess": AccessAnalyzerType(
        "Internal access",
        "medium",
        "Reachable by principals inside the organization",
        "IAM Access Analyzer found principals inside your organization that can reach a "
        "critical resource.",
        "Check that each principal needs the access; narrow the policies that grant it.",
    ),
    "UnusedIAMRole": AccessAnalyzerType(
        "Unused role (Access Analyzer)",
        "medium",
        "Unused roles keep permissions nobody needs",
        "IAM Access Analyzer reports this role as unused within its tracking period.",
        "Confirm with the owning team, then delete the role.",
    ),
    "UnusedIAMUserAccessKey": AccessAnalyzerType(
        "Unused access key (Access Analyzer)",
        "medium",
        "Unused keys are risk without benefit",
        "IAM Access Analyzer reports this access key as unused.",
        "Deactivate, then delete the key.",
    ),
    "UnusedIAMUserPassword": AccessAnalyzerType(
        "Unused password (Access Analyzer)",
        "medium",
        "Unused credentials are risk without benefit",
        "IAM Access Analyzer reports this console password as unused.",
        "Remove the console password.",
    ),
    "UnusedPermission": AccessAnalyzerType(
        "Unused permissions (Access Analyzer)",
        "low",
        "Permissions nobody uses",
        "IAM Access Analyzer reports services or actions this principal is granted but does "
        "not use.",
        "Remove the unused permissions (Access Analyzer can suggest a tighter policy).",
    ),
}


def thresholds() -> Thresholds:
    return Thresholds(
        unused_credential_days=settings.DETECT_UNUSED_CREDENTIAL_DAYS,
        key_rotation_days=settings.DETECT_KEY_ROTATION_DAYS,
        inactive_user_days=settings.DETECT_INACTIVE_USER_DAYS,
        unused_role_days=settings.DETECT_UNUSED_ROLE_DAYS,
        unused_service_days=settings.DETECT_UNUSED_SERVICE_DAYS,
        root_use_days=settings.DETECT_ROOT_USE_DAYS,
        grace_days=settings.DETECT_GRACE_DAYS,
    )


# --- Loading evidence (a fixed number of queries per account) ---------------------------------


def _latest_successes(
    account: AwsAccount,
) -> tuple[dict[str, CollectionRun], dict[str, CollectionRun]]:
    """Per source, the latest successful run and the one before it."""
    successes = CollectionRun.objects.filter(account=account, status=CollectionRun.Status.SUCCEEDED)
    # Two ids per source, each found down run_latest_success (account, status, -finished_at),
    # then those runs: never every run the account ever had.
    wanted = [
        Subquery(successes.filter(source=source).order_by("-finished_at").values("pk")[n : n + 1])
        for source in Source.values
        for n in (0, 1)
    ]
    latest: dict[str, CollectionRun] = {}
    previous: dict[str, CollectionRun] = {}
    for run in successes.filter(pk__in=wanted).order_by("source", "-finished_at"):
        if run.source not in latest:
            latest[run.source] = run
        else:
            previous.setdefault(run.source, run)
    return latest, previous


def _load_principals(account: AwsAccount) -> tuple[list[Principal], list[IamRole], dict]:
    documents: dict[str, list[tuple[str, str, dict]]] = defaultdict(list)
    boundaries: dict[str, tuple[str, dict]] = {}
    trusts: dict[str, dict] = {}
    in_use: set[str] = set()
    for attachment in PolicyAttachment.objects.filter(
        account=account,
        gone_at=None,
        kind__in=["inline", "managed", "boundary", "trust"],
        document__isnull=False,
    ).select_related("document"):
        if attachment.kind == "boundary":
            boundaries[attachment.principal_arn] = (
                attachment.policy_name,
                attachment.document.document,
            )
            # In use too: a new version of a boundary policy lifts the boundary.
            in_use.add(attachment.policy_ref)
            continue
        if attachment.kind == "trust":
            trusts[attachment.principal_arn] = attachment.document.document
            continue
        if attachment.kind == "managed":
            in_use.add(attachment.policy_ref)
        documents[attachment.principal_arn].append(
            (attachment.policy_name, attachment.kind, attachment.document.document)
        )
    group_arns = dict(
        IamGroup.objects.filter(account=account, gone_at=None).values_list("name", "arn")
    )
    members: dict[str, list[str]] = defaultdict(list)
    principals = []
    for user in IamUser.objects.filter(account=account, gone_at=None):
        user_documents = list(documents.get(user.arn, []))
        for group in user.groups:
            members[group_arns.get(group, "")].append(user.name)
            for label, kind, document in documents.get(group_arns.get(group, ""), []):
                user_documents.append((f"{label} (via group {group})", kind, document))
        principals.append(
            Principal(
                user.arn,
                user.name,
                "user",
                user.create_date,
                user.tags,
                documents=user_documents,
                boundary=boundaries.get(user.arn),
            )
        )
    roles = list(IamRole.objects.filter(account=account, gone_at=None))
    for role in roles:
        principals.append(
            Principal(
                role.arn,
                role.name,
                "role",
                role.create_date,
                role.tags,
                is_service_linked=role.is_service_linked,
                is_sso=role.is_sso,
                last_used_at=role.last_used_at,
                documents=documents.get(role.arn, []),
                boundary=boundaries.get(role.arn),
                trust=trusts.get(role.arn) or role.trust_policy,
            )
        )
    groups = {
        "group_documents": {arn: documents.get(arn, []) for arn in group_arns.values()},
        "group_members": {arn: tuple(names) for arn, names in members.items() if arn},
        "policies_in_use": frozenset(in_use),
    }
    return principals, roles, groups


# An analyzer analyses only when ACTIVE. CREATING counts too: it turns ACTIVE (or FAILED, and
# is then reported) within minutes, and a finding opened meanwhile would be resolved by the next
# collection, noise in a review. FAILED and DISABLED analyse nothing.
WORKING_ANALYZER = ("ACTIVE", "CREATING")


def _external_access_analyzers(account: AwsAccount) -> list[Analyzer]:
    """External-access analyzers for this account: its own, or an organization's.

    An organization analyzer covers the accounts of its own organization only. Where both
    organizations are known (from discovery, or from a hand-added account's own
    DescribeOrganization) and they differ, it covers nothing here: with two organizations
    registered, the other one's analyzer used to hide this region's gap. An account in no
    organization is covered by none. Where this account's organization is not known yet (added
    by hand, its role may not call DescribeOrganization), any organization analyzer is taken to
    cover it, as one whose own organization is unknown is taken to cover every account.
    """
    theirs = Q(type="ORGANIZATION")
    if account.organization_id == AwsAccount.NO_ORGANIZATION:
        theirs = Q(pk__in=[])
    elif account.organization_id:
        theirs &= Q(account__organization_id__in=["", account.organization_id])
    return list(
        Analyzer.objects.filter(gone_at=None, type__in=["ACCOUNT", "ORGANIZATION"])
        .filter(Q(account=account) | theirs)
        .order_by("region", "arn")
    )


def _covered_regions(analyzers: list[Analyzer]) -> set[str]:
    return {a.region for a in analyzers if a.status in WORKING_ANALYZER}


def _with_analyzers_not_working(
    detected: list[Detected], analyzers: list[Analyzer]
) -> list[Detected]:
    """A region reported without an analyzer may have one that FAILED or was DISABLED: its
    access-analyzer-missing finding names it. (AWS's statusReason is not collected.)"""
    idle: dict[str, list[Analyzer]] = defaultdict(list)
    for analyzer in analyzers:
        if analyzer.status not in WORKING_ANALYZER:
            idle[analyzer.region].append(analyzer)
    for item in detected:
        region = item.evidence.get("region")
        if item.check_id != "access-analyzer-missing" or not idle.get(region):
            continue
        statuses = " or ".join(sorted({a.status for a in idle[region]}))
        item.evidence = {
            **item.evidence,
            "why": f"an analyzer exists but is {statuses}: it analyses nothing",
            "analyzers": [
                {"name": a.name, "arn": a.arn, "type": a.type, "status": a.status}
                for a in idle[region]
            ],
        }
    return detected


def _judging_no_unread_region(
    detected: list[tuple[Detected, AccessAnalyzerFinding | None]],
    *,
    existing: dict,
    aa_latest: CollectionRun | None,
) -> list[tuple[Detected, AccessAnalyzerFinding | None]]:
    """A region the last Access Analyzer collection could not read (an SCP denying it, an
    opt-in region switched off, throttling) keeps its previous verdict: an open "no analyzer"
    finding stays open, and none is opened where nothing is known."""
    unread = _unread_regions(aa_latest)
    if not unread:
        return detected
    kept = []
    for item, row in detected:
        if item.check_id == "access-analyzer-missing" and item.evidence.get("region") in unread:
            finding = existing.get((item.check_id, item.resource_key))
            if finding is None or finding.status == Finding.Status.RESOLVED:
                continue
        kept.append((item, row))
    return kept


def _unread_regions(aa_latest: CollectionRun | None) -> set[str]:
    return set((aa_latest.counts or {}).get("unread_regions", ())) if aa_latest else set()


def _read_at(run: CollectionRun | None) -> datetime | None:
    """When a run's data was read: AWS's own time where it gives one (the report's)."""
    return (run.data_generated_at or run.finished_at) if run else None


def _load_evidence(
    account: AwsAccount,
    *,
    now: datetime,
    latest: dict[str, CollectionRun],
    analyzers: list[Analyzer],
) -> Evidence:
    principals, roles, groups = _load_principals(account)
    service_access: dict[str, list] = defaultdict(list)
    for row in ServiceLastAccessed.objects.filter(account=account, gone_at=None):
        service_access[row.principal_arn].append(row)
    return Evidence(
        account_id=account.account_id,
        now=now,
        credential_entries=list(
            CredentialReportEntry.objects.filter(account=account, gone_at=None)
        ),
        principals=principals,
        roles=roles,
        service_access=service_access,
        service_read_at=CollectionRun.objects.service_access_read_at(
            account_id=account.pk, principal_arns=service_access.keys()
        ),
        regions=account.regions or ["us-east-1"],
        analyzer_regions=_covered_regions(analyzers),
        sources=set(latest),
        credentials_read_at=_read_at(latest.get(Source.CREDENTIAL_REPORT)),
        principals_read_at=CollectionRun.objects.roles_read_at(account_id=account.pk),
        guardrails=guardrails_from(
            account_id=account.account_id, levels=account.scp_levels_in_effect
        ),
        **groups,
    )


# --- Access Analyzer findings -----------------------------------------------------------------


def _access_analyzer_findings_for(account: AwsAccount) -> list[AccessAnalyzerFinding]:
    """The findings about this account's resources, wherever they were collected from, whose
    newest row AWS still shows unresolved: all detection reads. Every other one (resolved, or
    gone from AWS) is neither detected (resolved in AWS resolves ours) nor closed as not
    monitored, so its rows, years of them and their details, are not loaded at each detection;
    a resolved newest row still hides the older rows of its finding (collected by another
    account)."""
    registered = set(AwsAccount.objects.values_list("account_id", flat=True))
    about = Q(resource_owner_account=account.account_id) | (
        Q(account=account) & ~Q(resource_owner_account__in=registered)
    )
    newer = AccessAnalyzerFinding.objects.filter(about, finding_id=OuterRef("finding_id")).filter(
        Q(changed_at__gt=OuterRef("changed_at"))
        | Q(changed_at=OuterRef("changed_at"), pk__gt=OuterRef("pk"))
    )
    return list(
        AccessAnalyzerFinding.objects.filter(about, AA_UNRESOLVED)
        .filter(~Exists(newer))
        .only(*AA_DETECTED_FIELDS)
        .order_by("finding_id")
    )


# What detection reads of an Access Analyzer finding (not its status history).
AA_DETECTED_FIELDS = (
    "account_id",
    "finding_id",
    "analyzer_arn",
    "region",
    "finding_type",
    "status",
    "gone_at",
    "resource",
    "resource_type",
    "resource_owner_account",
    "details",
    "aws_created_at",
    "aws_updated_at",
)


def _is_public(details: list) -> bool:
    return any((d.get("externalAccessDetails") or {}).get("isPublic") for d in details or [])


def _unmonitored_regions(rows: list[AccessAnalyzerFinding]) -> dict[str, tuple[str, str]]:
    """Finding id -> (region, account ID) for the rows collected in a region their collecting
    account no longer reads (taken off its regions): nobody will tell whether they are fixed,
    so they are closed as no longer monitored, not kept open for ever nor called fixed."""
    regions = {
        pk: (account_id, set(configured or ["us-east-1"]))
        for pk, account_id, configured in AwsAccount.objects.filter(
            pk__in={row.account_id for row in rows}
        ).values_list("pk", "account_id", "regions")
    }
    unmonitored = {}
    for row in rows:
        account_id, monitored = regions[row.account_id]
        if row.region and row.region not in monitored:  # "": a file's, which names none
            unmonitored[row.finding_id] = (row.region, account_id)
    return unmonitored


def _detect_access_analyzer(
    rows: list[AccessAnalyzerFinding], *, unmonitored: dict[str, tuple[str, str]]
) -> list[tuple[Detected, AccessAnalyzerFinding]]:
    detected = []
    for row in rows:
        if row.finding_id in unmonitored:
            continue
        kind = AA_TYPES.get(row.finding_type)
        if kind is None:
            continue
        severity, reason = kind.severity, kind.severity_reason
        if row.finding_type == "ExternalAccess" and _is_public(row.details):
            severity, reason = "critical", "Public access: anyone on the internet"
        elif row.finding_type == "ExternalAccess" and not row.details:
            # list-findings-v2 output names no principal: another account, or the public.
            reason = (
                "Reachable from outside the zone of trust; public or another account is not "
                "known (the finding's details were not read: collect live, or import "
                "get-finding-v2 output)"
            )
        detected.append(
            (
                Detected(
                    AA_PREFIX + row.finding_type,
                    row.finding_id,
                    row.resource,
                    row.resource_type,
                    row.resource.rsplit(":", 1)[-1].rsplit("/", 1)[-1] or row.resource,
                    {
                        "finding_id": row.finding_id,
                        "analyzer": row.analyzer_arn or None,
                        "region": row.region or None,
                        "aws_status": row.status,
                        "resource_owner_account": row.resource_owner_account,
                        "details": row.details,
                        "created_at": row.aws_created_at.isoformat()
                        if row.aws_created_at
                        else None,
                        "updated_at": row.aws_updated_at.isoformat()
                        if row.aws_updated_at
                        else None,
                    },
                    severity=severity,
                    severity_reason=reason,
                    title=kind.title + (" (public)" if severity == "critical" else ""),
                ),
                row,
            )
        )
    return detected


# --- Exclusions -------------------------------------------------------------------------------


def active_exclusions(*, today: date) -> list[Exclusion]:
    return list(
        Exclusion.objects.filter(ended_at=None, expires_on__gte=today).select_related("account")
    )


def _matching_exclusion(
    exclusions: list[Exclusion],
    *,
    account: AwsAccount,
    check_id: str,
    arn: str,
    tags: dict,
    finding_id: int | None,
    severity: str = "",
) -> tuple[Exclusion | None, str]:
    # Tags are set in AWS by whoever may tag the principal, the principal itself included: an
    # administrator could tag itself out of its own full-admin finding. So a tag never sets a
    # critical finding aside; an exclusion by ARN, account or finding still can.
    tags_count = severity != "critical"
    if tags_count and EXCLUDE_TAG in tags:
        return None, f"Tagged {EXCLUDE_TAG}: {tags[EXCLUDE_TAG] or '(no reason given)'}"
    for exclusion in exclusions:
        if exclusion.check_id and exclusion.check_id != check_id:
            continue
        kind = exclusion.kind
        if (
            (kind == Exclusion.Kind.ACCOUNT and exclusion.account_id == account.pk)
            or (
                kind == Exclusion.Kind.ARN_PATTERN
                and fnmatch.fnmatchcase(arn, exclusion.arn_pattern)
            )
            or (
                kind == Exclusion.Kind.TAG
                and tags_count
                and exclusion.tag_key in tags
                and (not exclusion.tag_value or tags[exclusion.tag_key] == exclusion.tag_value)
            )
            or (
                kind == Exclusion.Kind.FINDING and finding_id and exclusion.finding_id == finding_id
            )
        ):
            return exclusion, exclusion.reason
    return None, ""


# --- Synchronizing findings -------------------------------------------------------------------


@dataclass
class DetectionCounts:
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    excluded: int = 0
    still_open: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# The columns detection compares, read as plain rows: no model instance per finding.
TITLE_MAX = Finding._meta.get_field("title").max_length
REASON_MAX = Finding._meta.get_field("severity_reason").max_length
EXISTING_FIELDS = (
    "check_id",
    "resource_key",
    "id",
    "status",
    "evidence_fingerprint",
    "exclusion_id",
    "severity",
    "title",
    "severity_reason",
    "aws_status",
    "times_reopened",
    "resolved_at",
    "resolved_by_run_id",
    "last_seen_at",
    "resolution",
)


DETECTION_LOCK = 731_120_261  # with the account's id: one detection of an account at a time


def detect_account(*, account: AwsAccount, now: datetime | None = None) -> DetectionCounts:
    """Run every check whose evidence exists and bring the account's findings up to date.

    Unchanged findings are not written at all; new, changed and resolved ones are written in
    bulk (findings.detection.writes). Two detections of one account (two runs finishing
    together) take turns: both read the findings before either wrote, and the second's new
    findings failed on the first's (one_finding_per_problem), lost until the next detection."""
    with ExitStack() as turn:
        return _detect_account(account=account, now=now, turn=turn)


@contextmanager
def _account_turn(account: AwsAccount) -> Iterator[None]:
    """On Postgres, a transaction holding the account's lock, from the read of its findings to
    the last write (the checks themselves run before, outside it). SQLite (`make run`) writes
    one at a time anyway, and a transaction over the reads would make any other write fail the
    detection with "database is locked"."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [DETECTION_LOCK, account.pk % 2**31]
            )
        yield


def _detect_account(
    *, account: AwsAccount, now: datetime | None, turn: ExitStack
) -> DetectionCounts:
    now = now or timezone.now()
    rules = thresholds()
    latest, previous_successes = _latest_successes(account)
    analyzers = _external_access_analyzers(account)
    evidence = _load_evidence(account, now=now, latest=latest, analyzers=analyzers)
    checks_run = [check for check in CHECKS if all(s in latest for s in check.sources)]
    aa_latest = latest.get("access-analyzer")
    if aa_latest is not None and aa_latest.trigger == CollectionRun.Trigger.IMPORT:
        # A findings file says nothing about which analyzers exist: no verdict on them.
        checks_run = [c for c in checks_run if c.id != "access-analyzer-missing"]

    found = [item for check in checks_run for item in check.run(ev=evidence, t=rules)]
    detected: list[tuple[Detected, AccessAnalyzerFinding | None]] = [
        (item, None) for item in _with_analyzers_not_working(found, analyzers)
    ]
    run_ids = {check.id: latest[check.sources[0]] for check in checks_run}
    if (
        "access-analyzer" in latest
        or AccessAnalyzerFinding.objects.filter(resource_owner_account=account.account_id).exists()
    ):
        aa_rows = _access_analyzer_findings_for(account)
        unmonitored = _unmonitored_regions(aa_rows)
        detected += _detect_access_analyzer(aa_rows, unmonitored=unmonitored)
        aa_run = latest.get("access-analyzer")
        scope_aa = True
    else:
        aa_run, scope_aa, unmonitored = None, False, {}

    tags_by_arn = {p.arn: p.tags for p in evidence.principals}
    exclusions = active_exclusions(today=now.date())
    in_scope = Q(check_id__in=[c.id for c in checks_run])
    if scope_aa:
        in_scope |= Q(check_id__startswith=AA_PREFIX)
    turn.enter_context(_account_turn(account))
    existing = {
        (row.check_id, row.resource_key): row
        for row in Finding.objects.filter(account=account)
        .filter(in_scope)
        .order_by()
        .values_list(*EXISTING_FIELDS, named=True)
    }
    detected = _judging_no_unread_region(detected, existing=existing, aa_latest=aa_latest)
    # The same for every finding written by this detection: encoded once.
    thresholds_text = json_text(field=Finding._meta.get_field("thresholds"), value=rules.as_dict())
    counts = DetectionCounts()
    new: list[tuple] = []  # writes.NEW_FINDING_FIELDS
    seen_changed: list[tuple] = []  # id, *writes.SEEN_FINDING_FIELDS
    resolved: list[tuple] = []  # id, *writes.RESOLVED_FINDING_FIELDS
    events: list[tuple] = []  # writes.EVENT_FIELDS
    seen = set()

    for item, aa_row in detected:
        key = (item.check_id, item.resource_key)
        if key in seen:
            continue
        seen.add(key)
        check = CHECKS_BY_ID.get(item.check_id)
        severity = item.severity or check.severity
        # Cut to their columns before comparing: a reason naming a 128-character boundary
        # policy overflowed, failing the account's whole detection; cut only when written, it
        # would differ from the stored one at every detection.
        title = (item.title or check.title)[:TITLE_MAX]
        severity_reason = (item.severity_reason or check.severity_reason)[:REASON_MAX]
        finding = existing.get(key)
        exclusion, reason = _matching_exclusion(
            exclusions,
            account=account,
            check_id=item.check_id,
            arn=item.resource_arn,
            tags=tags_by_arn.get(item.resource_arn, {}),
            finding_id=finding.id if finding else None,
            severity=severity,
        )
        target = Finding.Status.EXCLUDED if reason else Finding.Status.OPEN
        exclusion_id = exclusion.pk if exclusion else None
        aws_status = aa_row.status if aa_row else ""
        evidence_text, print_ = fingerprinted(item.evidence)
        if finding is None:
            new.append(
                (
                    account.pk,
                    item.check_id,
                    item.resource_key,
                    item.resource_arn,
                    item.resource_type,
                    item.resource_name,
                    title,
                    severity,
                    SEVERITY_RANK[severity],
                    severity_reason,
                    target,
                    evidence_text,
                    print_,
                    RULES_VERSION,
                    thresholds_text,
                    exclusion_id,
                    reason,
                    aa_row.pk if aa_row else None,
                    aws_status,
                    now,
                    now,
                    0,
                )
            )
            continue
        if (
            finding.status,
            finding.evidence_fingerprint,
            finding.exclusion_id,
            finding.severity,
            finding.title,
            finding.severity_reason,
            finding.aws_status,
        ) == (target, print_, exclusion_id, severity, title, severity_reason, aws_status):
            counts.still_open += 1
            continue
        resolved_at, resolved_by_run_id = finding.resolved_at, finding.resolved_by_run_id
        times_reopened = finding.times_reopened
        if finding.status == Finding.Status.RESOLVED:
            times_reopened += 1
            resolved_at = resolved_by_run_id = None
            events.append((finding.id, "reopened", now, None, ""))
            counts.reopened += 1
        elif finding.status != target:
            kind = "excluded" if target == Finding.Status.EXCLUDED else "included"
            events.append((finding.id, kind, now, None, reason[:500]))
        if finding.severity != severity:
            note = f"Severity {finding.severity} → {severity}: {severity_reason}"
            events.append((finding.id, "changed", now, None, note[:500]))
        # Seen by the run that collected its evidence, not by this detection (an exclusion
        # made now changes the finding, not when AWS last showed it).
        source_run = aa_run if item.check_id.startswith(AA_PREFIX) else run_ids.get(item.check_id)
        collected = source_run.finished_at if source_run and source_run.finished_at else now
        seen_changed.append(
            (
                finding.id,
                target,
                exclusion_id,
                reason,
                evidence_text,
                print_,
                severity,
                SEVERITY_RANK[severity],
                title,
                severity_reason,
                aws_status,
                RULES_VERSION,
                thresholds_text,
                resolved_at,
                resolved_by_run_id,
                times_reopened,
                max(collected, finding.last_seen_at),
                NO_LONGER_SEEN,  # not resolved (any more): no reason for it
            )
        )

    unread = _unread_regions(aa_latest)
    for key, finding in existing.items():
        if key in seen or (
            finding.status == Finding.Status.RESOLVED and finding.resolution != REGION_NOT_MONITORED
        ):
            continue
        region_gone = _region_no_longer_monitored(finding, evidence=evidence, aa=unmonitored)
        run = aa_run if finding.check_id.startswith(AA_PREFIX) else run_ids.get(finding.check_id)
        run_id = run.pk if run else None
        if finding.status == Finding.Status.RESOLVED:
            fixed = "" if region_gone else _fixed_since_not_monitored(finding, unread=unread)
            if fixed:
                # Closed while nobody looked; looked at again, the problem is not there: now
                # fixed, by the run that shows it. Still last seen when it was.
                resolved.append((finding.id, run_id, finding.last_seen_at, NO_LONGER_SEEN))
                events.append((finding.id, "resolved", now, run_id, fixed[:500]))
                counts.resolved += 1
            continue
        if region_gone:
            # Closed, not fixed: no run showed it gone, and it is last seen when it was.
            resolved.append((finding.id, None, finding.last_seen_at, REGION_NOT_MONITORED))
            events.append((finding.id, "resolved", now, None, region_gone[:500]))
            counts.resolved += 1
            continue
        # Last seen by the success before the run that showed it fixed (unchanged findings
        # are not rewritten at each detection, so their own column can be older).
        last_seen_at = finding.last_seen_at
        before_fix = previous_successes.get(run.source) if run else None
        if before_fix and before_fix.finished_at and before_fix.finished_at > last_seen_at:
            last_seen_at = before_fix.finished_at
        resolved.append((finding.id, run_id, last_seen_at, NO_LONGER_SEEN))
        events.append((finding.id, "resolved", now, run_id, ""))
        counts.resolved += 1

    with transaction.atomic():
        update_seen_findings(rows=seen_changed)
        resolve_findings(rows=resolved, at=now)
        # Events of existing findings first, then the new findings' own: the same order as
        # the findings were met.
        add_events(rows=events)
        insert_findings(rows=new, at=now)
    counts.opened = len(new)
    counts.excluded = Finding.objects.filter(
        account=account, status=Finding.Status.EXCLUDED
    ).count()
    return counts


NO_LONGER_SEEN = Finding.Resolution.NO_LONGER_SEEN
REGION_NOT_MONITORED = Finding.Resolution.REGION_NOT_MONITORED
MISSING_ANALYZER = "access-analyzer-missing"


def _region_no_longer_monitored(
    finding, *, evidence: Evidence, aa: dict[str, tuple[str, str]]
) -> str:
    """Why a finding no longer detected is closed rather than fixed, when its region was
    taken off the account's regions (an Access Analyzer finding: off the regions of the
    account that collected it); "" for one that is fixed as far as the evidence shows."""
    if finding.check_id == MISSING_ANALYZER:
        # Keyed by the region's analyzer ARN: arn:<partition>:access-analyzer:<region>:...
        region = finding.resource_key.split(":")[3]
        if region in evidence.regions:
            return ""
        account_id = evidence.account_id
    elif finding.check_id.startswith(AA_PREFIX) and finding.resource_key in aa:
        region, account_id = aa[finding.resource_key]
    else:
        return ""
    return (
        f"Region {region} is no longer monitored (taken off the regions of account "
        f"{account_id}): closed without evidence that it was fixed. It opens again if the "
        "region is monitored again and the problem is still there."
    )


def _fixed_since_not_monitored(finding, *, unread: set[str]) -> str:
    """Why a finding closed as no longer monitored, no longer detected and no longer in a region
    nobody monitors (monitored again, or AWS has said meanwhile that it is resolved), is now
    fixed; "" if nothing says so. A region the last Access Analyzer collection could not read
    says nothing of its analyzers: its no-analyzer finding stays as it was."""
    if finding.check_id == MISSING_ANALYZER:
        region = finding.resource_key.split(":")[3]
        if region in unread:
            return ""
        return (
            f"Region {region} is monitored again and has a working analyzer: fixed (it had "
            "been closed when the region was no longer monitored)."
        )
    return (
        "Read again since its region was no longer monitored, and no longer shown: fixed (it "
        "had been closed when the region was no longer monitored)."
    )


def detect_all(*, account_ids: list[str] | None = None) -> dict[str, DetectionCounts]:
    accounts = AwsAccount.objects.all()
    if account_ids:
        accounts = accounts.filter(account_id__in=account_ids)
    return {account.account_id: detect_account(account=account) for account in accounts}
