"""Detection: findings open, resolve, reopen and get excluded as collections bring new evidence.

The small builders at the top write evidence rows directly (as storage would) and are shared by
the other findings test modules.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from findings.collection.activity import refresh_user_activity
from findings.collection.imports import import_file
from findings.collection.registry import add_account
from findings.detection.checks import RULES_VERSION
from findings.detection.detect import detect_account
from findings.models import (
    AccessAnalyzerFinding,
    Analyzer,
    CollectionRun,
    CredentialReportEntry,
    Finding,
    FindingEvent,
    IamGroup,
    IamRole,
    IamUser,
    PolicyAttachment,
    PolicyDocument,
    ServiceLastAccessed,
    Source,
)
from findings.policy.documents import document_hash
from tests.findings.history import (
    analyze,
    assert_bounded,
    make_accounts,
    reads,
    rows_read_at_two_sizes,
)

DATA = Path(__file__).parents[1] / "data"
ACCOUNT_ID = "111122223333"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def days_ago(days: float, *, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days)


# --- Builders ---------------------------------------------------------------------------------


def make_account(account_id: str = ACCOUNT_ID, name: str = "Production", regions=None):
    return add_account(account_id=account_id, name=name, regions=regions or ["us-east-1"])


def succeeded_run(account, source: str, *, at: datetime = NOW) -> CollectionRun:
    return CollectionRun.objects.create(
        account=account,
        source=source,
        trigger=CollectionRun.Trigger.MANUAL,
        status=CollectionRun.Status.SUCCEEDED,
        started_at=at,
        finished_at=at,
    )


def observed(at: datetime = NOW) -> dict:
    return {"fingerprint": "x", "first_seen_at": at, "changed_at": at}


def credential_fields(user: str = "alice", account_id: str = ACCOUNT_ID, **overrides) -> dict:
    """One credential-report row: a user with no password and no keys, unless overridden."""
    root = user == "<root_account>"
    fields = {
        "user": user,
        "arn": f"arn:aws:iam::{account_id}:root"
        if root
        else f"arn:aws:iam::{account_id}:user/{user}",
        "user_creation_time": days_ago(400),
        "password_enabled": None if root else False,
        "password_enabled_reason": "not_supported" if root else "",
        "password_last_used": None,
        "password_last_used_reason": "N/A",
        "password_last_changed": None,
        "password_last_changed_reason": "not_supported" if root else "N/A",
        "password_next_rotation": None,
        "password_next_rotation_reason": "not_supported" if root else "N/A",
        "mfa_active": False,
        "access_key_1_active": False,
        "access_key_1_last_rotated": None,
        "access_key_1_last_rotated_reason": "N/A",
        "access_key_1_last_used_date": None,
        "access_key_1_last_used_date_reason": "N/A",
        "access_key_1_last_used_region": "",
        "access_key_1_last_used_service": "",
        "access_key_2_active": False,
        "access_key_2_last_rotated": None,
        "access_key_2_last_rotated_reason": "N/A",
        "access_key_2_last_used_date": None,
        "access_key_2_last_used_date_reason": "N/A",
        "access_key_2_last_used_region": "",
        "access_key_2_last_used_service": "",
        "cert_1_active": False,
        "cert_1_last_rotated": None,
        "cert_1_last_rotated_reason": "N/A",
        "cert_2_active": False,
        "cert_2_last_rotated": None,
        "cert_2_last_rotated_reason": "N/A",
    }
    fields.update(overrides)
    return fields


def active_key(n: int = 1, *, created_days: float, used_days: float | None) -> dict:
    """The credential-report columns of one active key (never used when used_days is None)."""
    return {
        f"access_key_{n}_active": True,
        f"access_key_{n}_last_rotated": days_ago(created_days),
        f"access_key_{n}_last_rotated_reason": "",
        f"access_key_{n}_last_used_date": None if used_days is None else days_ago(used_days),
        f"access_key_{n}_last_used_date_reason": "N/A" if used_days is None else "",
        f"access_key_{n}_last_used_service": "" if used_days is None else "s3",
        f"access_key_{n}_last_used_region": "" if used_days is None else "us-east-1",
    }


def console_password(*, used_days: float | None, changed_days: float = 300) -> dict:
    return {
        "password_enabled": True,
        "password_last_used": None if used_days is None else days_ago(used_days),
        "password_last_used_reason": "no_information" if used_days is None else "",
        "password_last_changed": days_ago(changed_days),
        "password_last_changed_reason": "",
    }


def credential_entry(account, user: str = "alice", **overrides) -> CredentialReportEntry:
    entry = CredentialReportEntry.objects.create(
        account=account, **observed(), **credential_fields(user, account.account_id, **overrides)
    )
    refresh_user_activity(account=account)  # as storing a credential report does
    return entry


def iam_user(account, name: str = "alice", *, groups=(), tags=None, created_days: float = 400):
    user = IamUser.objects.create(
        account=account,
        arn=f"arn:aws:iam::{account.account_id}:user/{name}",
        name=name,
        user_id=f"AIDA{name.upper()}",
        path="/",
        create_date=days_ago(created_days),
        groups=list(groups),
        tags=tags or {},
        **observed(),
    )
    refresh_user_activity(account=account)  # as storing users does
    user.refresh_from_db(fields=["last_activity"])
    return user


def iam_group(account, name: str) -> IamGroup:
    return IamGroup.objects.create(
        account=account,
        arn=f"arn:aws:iam::{account.account_id}:group/{name}",
        name=name,
        group_id=f"AGPA{name.upper()}",
        path="/",
        create_date=days_ago(500),
        **observed(),
    )


def iam_role(
    account,
    name: str = "app",
    *,
    last_used_days: float | None = None,
    created_days: float = 400,
    path: str = "/",
    tags=None,
    **overrides,
) -> IamRole:
    return IamRole.objects.create(
        account=account,
        arn=f"arn:aws:iam::{account.account_id}:role{path}{name}",
        name=name,
        role_id=f"AROA{name.upper()}"[:128],
        path=path,
        create_date=days_ago(created_days),
        trust_policy=EC2_TRUST,
        tags=tags or {},
        last_used_at=None if last_used_days is None else days_ago(last_used_days),
        last_used_region="" if last_used_days is None else "eu-west-1",
        **overrides,
        **observed(),
    )


def attach(
    account,
    principal,
    document: dict,
    *,
    kind: str = "inline",
    name: str = "policy",
    ref: str = "",
    principal_type: str = "",
) -> PolicyAttachment:
    sha = document_hash(document=document)
    stored, _ = PolicyDocument.objects.get_or_create(
        sha256=sha, defaults={"document": document, "first_seen_at": NOW}
    )
    return PolicyAttachment.objects.create(
        account=account,
        principal_arn=principal.arn,
        principal_type=principal_type or type(principal).__name__.removeprefix("Iam").lower(),
        kind=kind,
        policy_ref=ref or name,
        policy_name=name,
        document_sha256=sha,
        document=stored,
        **observed(),
    )


def service_row(account, principal, namespace: str, *, used_days: float | None):
    return ServiceLastAccessed.objects.create(
        account=account,
        principal_arn=principal.arn,
        service_namespace=namespace,
        service_name=namespace.upper(),
        last_authenticated_at=None if used_days is None else days_ago(used_days),
        **observed(),
    )


def analyzer(account, region: str, kind: str = "ACCOUNT") -> Analyzer:
    return Analyzer.objects.create(
        account=account,
        arn=f"arn:aws:access-analyzer:{region}:{account.account_id}:analyzer/{kind.lower()}",
        name=kind.lower(),
        type=kind,
        status="ACTIVE",
        region=region,
        **observed(),
    )


def findings_of(account, check_id: str | None = None):
    rows = Finding.objects.filter(account=account)
    return rows.filter(check_id=check_id) if check_id else rows


# --- Lifecycle --------------------------------------------------------------------------------

pytestmark = pytest.mark.django_db


@pytest.fixture
def production():
    return make_account()


def test_stale_key_opens_a_finding_with_the_rules_and_thresholds_that_produced_it(production):
    succeeded_run(production, Source.CREDENTIAL_REPORT)
    credential_entry(production, **active_key(created_days=300, used_days=100))

    counts = detect_account(account=production, now=NOW)

    finding = findings_of(production, "access-key-unused").get()
    assert counts.opened >= 1
    assert finding.status == Finding.Status.OPEN
    assert finding.rule_version == RULES_VERSION
    assert finding.thresholds["unused_credential_days"] == 45
    assert finding.thresholds["grace_days"] == 14
    assert finding.evidence["why"] == f"last used {days_ago(100).date()}"
    assert [e.kind for e in finding.events.all()] == ["opened"]


def test_thresholds_come_from_settings_and_are_recorded(production, settings):
    settings.DETECT_UNUSED_CREDENTIAL_DAYS = 120
    succeeded_run(production, Source.CREDENTIAL_REPORT)
    credential_entry(production, **active_key(created_days=300, used_days=100))

    detect_account(account=production, now=NOW)

    assert not findings_of(production, "access-key-unused").exists()
    rotated = findings_of(production, "access-key-not-rotated").get()
    assert rotated.thresholds["unused_credential_days"] == 120


def test_running_detection_twice_changes_nothing(production):
    succeeded_run(production, Source.CREDENTIAL_REPORT)
    succeeded_run(production, Source.AUTHORIZATION_DETAILS)
    credential_entry(production, **active_key(created_days=300, used_days=100))
    role = iam_role(production, "legacy", last_used_days=None)
    attach(production, role, ADMIN_POLICY)
    detect_account(account=production, now=NOW)
    before = list(Finding.objects.order_by("pk").values())
    events = FindingEvent.objects.count()

    counts = detect_account(account=production, now=NOW)

    assert counts.opened == counts.reopened == counts.resolved == 0
    assert counts.still_open == len(before)
    assert list(Finding.objects.order_by("pk").values()) == before
    assert FindingEvent.objects.count() == events


def test_a_fixed_problem_resolves_with_the_run_that_showed_it_and_reopens_when_it_returns(
    production,
):
    succeeded_run(production, Source.CREDENTIAL_REPORT, at=days_ago(2))
    # Used 60 days ago: unused (over 45 days) but the user is not inactive (under 90).
    entry = credential_entry(production, **active_key(created_days=300, used_days=60))
    detect_account(account=production, now=days_ago(2))
    finding = findings_of(production, "access-key-unused").get()

    # The next collection shows the key in use again.
    fixing_run = succeeded_run(production, Source.CREDENTIAL_REPORT, at=days_ago(1))
    CredentialReportEntry.objects.filter(pk=entry.pk).update(
        access_key_1_last_used_date=days_ago(1)
    )
    counts = detect_account(account=production, now=days_ago(1))

    finding.refresh_from_db()
    assert counts.resolved >= 1
    assert finding.status == Finding.Status.RESOLVED
    assert finding.resolved_by_run == fixing_run
    resolved = finding.events.get(kind="resolved")
    assert resolved.run == fixing_run

    # Then it goes unused again: the same finding comes back, never a new one.
    succeeded_run(production, Source.CREDENTIAL_REPORT)
    CredentialReportEntry.objects.filter(pk=entry.pk).update(
        access_key_1_last_used_date=days_ago(60)
    )
    counts = detect_account(account=production, now=NOW)

    finding.refresh_from_db()
    assert counts.reopened == 1
    assert finding.status == Finding.Status.OPEN
    assert finding.times_reopened == 1
    assert finding.resolved_at is None
    assert findings_of(production, "access-key-unused").count() == 1
    assert [e.kind for e in finding.events.all()] == ["opened", "resolved", "reopened"]


def test_findings_are_never_deleted_when_their_resource_disappears(production):
    succeeded_run(production, Source.AUTHORIZATION_DETAILS)
    role = iam_role(production, "old-batch", last_used_days=None)
    detect_account(account=production, now=NOW)
    IamRole.objects.filter(pk=role.pk).update(gone_at=NOW)

    detect_account(account=production, now=NOW)

    finding = findings_of(production, "role-unused").get()
    assert finding.status == Finding.Status.RESOLVED


def test_checks_without_a_successful_collection_of_their_source_do_not_run(production):
    CollectionRun.objects.create(
        account=production,
        source=Source.CREDENTIAL_REPORT,
        trigger=CollectionRun.Trigger.MANUAL,
        status=CollectionRun.Status.FAILED,
    )
    credential_entry(production, **active_key(created_days=300, used_days=100))

    detect_account(account=production, now=NOW)

    assert not findings_of(production).exists()


def test_tag_iamreview_exclude_excludes_with_the_tag_value_as_reason(production):
    succeeded_run(production, Source.AUTHORIZATION_DETAILS)
    iam_role(production, "break-glass", tags={"iamreview:exclude": "Break-glass role, SEC-12"})

    detect_account(account=production, now=NOW)

    finding = findings_of(production, "role-unused").get()
    assert finding.status == Finding.Status.EXCLUDED
    assert finding.exclusion is None
    assert finding.exclusion_reason == "Tagged iamreview:exclude: Break-glass role, SEC-12"
    assert [e.kind for e in finding.events.all()] == ["opened", "excluded"]


def test_a_tag_never_sets_a_critical_finding_aside(production, administrator):
    """Whoever may tag a principal sets its tags, the principal itself included: a full
    administrator tagged itself out of its own full-admin finding. Tags still set its other
    findings aside; an exclusion by ARN still sets the critical one aside."""
    from findings.detection.exclusions import create_exclusion

    succeeded_run(production, Source.AUTHORIZATION_DETAILS)
    role = iam_role(production, "self-made", tags={"iamreview:exclude": "trust me", "team": "x"})
    attach(production, role, ADMIN_POLICY)
    create_exclusion(
        kind="tag",
        tag_key="team",
        reason="Team x batch roles, ticket SEC-7",
        owner=administrator,
        # Validated against the real date, whatever the frozen NOW of the detection.
        expires_on=timezone.localdate() + timedelta(days=30),
        created_by=administrator,
    )

    detect_account(account=production, now=NOW)

    admin = findings_of(production, "full-admin").get()
    assert admin.severity == "critical" and admin.status == Finding.Status.OPEN
    assert findings_of(production, "role-unused").get().status == Finding.Status.EXCLUDED


def test_removing_the_exclude_tag_brings_the_finding_back(production):
    succeeded_run(production, Source.AUTHORIZATION_DETAILS)
    role = iam_role(production, "break-glass", tags={"iamreview:exclude": "SEC-12"})
    detect_account(account=production, now=NOW)
    IamRole.objects.filter(pk=role.pk).update(tags={})

    detect_account(account=production, now=NOW)

    finding = findings_of(production, "role-unused").get()
    assert finding.status == Finding.Status.OPEN
    assert finding.exclusion_reason == ""
    assert finding.events.last().kind == "included"


def test_a_finding_set_aside_later_was_still_last_seen_by_its_collection(production):
    """An exclusion changes the finding at the next detection, not when AWS last showed it."""
    collected = succeeded_run(production, Source.AUTHORIZATION_DETAILS, at=NOW)
    role = iam_role(production, "break-glass")
    detect_account(account=production, now=NOW)
    IamRole.objects.filter(pk=role.pk).update(tags={"iamreview:exclude": "SEC-12"})

    detect_account(account=production, now=NOW + timedelta(hours=5))

    finding = findings_of(production, "role-unused").get()
    assert finding.status == Finding.Status.EXCLUDED
    assert finding.last_seen_at == collected.finished_at


# --- Access Analyzer --------------------------------------------------------------------------


def import_analyzer_findings(account, data: bytes | None = None):
    data = data if data is not None else (DATA / "access-analyzer-get-finding-v2.json").read_bytes()
    return import_file(account=account, kind="access-analyzer-findings", data=data)


def aa_sample(**changes_by_id) -> bytes:
    """The get-finding-v2 sample, with some findings changed (by finding id)."""
    items = json.loads((DATA / "access-analyzer-get-finding-v2.json").read_bytes())
    for item in items:
        item.update(changes_by_id.get(item["id"], {}))
    return json.dumps(items).encode()


PUBLIC_BUCKET = "0d1f3c6e-2b3a-4e55-9a10-6f1d2a3b4c01"
UNUSED_PERMISSIONS = "5a6b7c8d-1e2f-4a3b-8c9d-0e1f2a3b4c02"


def test_access_analyzer_samples_map_to_findings_with_public_access_critical(production):
    import_analyzer_findings(production)

    by_check = {f.check_id: f for f in findings_of(production)}
    public = by_check["access-analyzer:ExternalAccess"]
    assert public.severity == "critical"
    assert public.severity_reason == "Public access: anyone on the internet"
    assert public.title == "External access (public)"
    assert public.resource_arn == "arn:aws:s3:::acme-public-assets"
    assert public.resource_name == "acme-public-assets"
    assert public.aws_status == "ACTIVE"
    assert public.aws_finding.finding_id == PUBLIC_BUCKET
    unused = by_check["access-analyzer:UnusedPermission"]
    assert unused.severity == "low"
    assert unused.evidence["details"][0]["unusedPermissionDetails"]["serviceNamespace"] == (
        "dynamodb"
    )
    assert "access-analyzer:UnusedIAMUserAccessKey" in by_check


def test_details_that_make_a_finding_public_change_its_title_and_reason_too(production):
    """The list file has no details: external, high, and not known to be public or another
    account's (its reason said "Shared with another account", which the file does not say).
    The details then say public: severity, title and reason move together, and the timeline
    says so."""
    import_analyzer_findings(
        production, (DATA / "access-analyzer-list-findings-v2.json").read_bytes()
    )
    before = findings_of(production, "access-analyzer:ExternalAccess").get()
    assert (before.severity, before.title) == ("high", "External access")
    assert "public or another account is not known" in before.severity_reason
    assert "import get-finding-v2 output" in before.severity_reason
    last_seen = before.last_seen_at

    import_analyzer_findings(production)

    public = findings_of(production, "access-analyzer:ExternalAccess").get()
    assert public.pk == before.pk
    assert (public.severity, public.title, public.severity_reason) == (
        "critical",
        "External access (public)",
        "Public access: anyone on the internet",
    )
    changed = public.events.get(kind="changed")
    assert changed.note == "Severity high → critical: Public access: anyone on the internet"
    assert public.last_seen_at >= last_seen


def test_archived_in_aws_stays_ours_to_decide_with_aws_status_beside_it(production):
    import_analyzer_findings(production)

    import_analyzer_findings(production, aa_sample(**{PUBLIC_BUCKET: {"status": "ARCHIVED"}}))

    public = findings_of(production, "access-analyzer:ExternalAccess").get()
    assert public.status == Finding.Status.OPEN
    assert public.aws_status == "ARCHIVED"


def test_resolved_in_aws_resolves_ours(production):
    import_analyzer_findings(production)

    import_analyzer_findings(production, aa_sample(**{PUBLIC_BUCKET: {"status": "RESOLVED"}}))

    public = findings_of(production, "access-analyzer:ExternalAccess").get()
    assert public.status == Finding.Status.RESOLVED
    assert public.events.last().kind == "resolved"
    assert AccessAnalyzerFinding.objects.filter(finding_id=PUBLIC_BUCKET).exists()
    unused = findings_of(production, "access-analyzer:UnusedPermission").get()
    assert unused.status == Finding.Status.OPEN


# --- Regions no longer monitored -----------------------------------------------------------


def aa_row_in(account, region: str, finding_id: str, bucket: str) -> AccessAnalyzerFinding:
    return AccessAnalyzerFinding.objects.create(
        account=account,
        finding_id=finding_id,
        analyzer_arn=f"arn:aws:access-analyzer:{region}:{account.account_id}:analyzer/account",
        region=region,
        finding_type="ExternalAccess",
        status="ACTIVE",
        resource=f"arn:aws:s3:::{bucket}",
        resource_type="AWS::S3::Bucket",
        resource_owner_account=account.account_id,
        details=[{"externalAccessDetails": {"isPublic": False, "principal": {"AWS": "999"}}}],
        **observed(),
    )


def test_a_region_taken_off_the_account_closes_its_findings_as_no_longer_monitored():
    """Its Access Analyzer findings stayed open for ever (nothing reads the region to say
    they are gone), and its no-analyzer finding was resolved as if fixed. Both are closed,
    with the reason on their timeline, and not claimed fixed by any run."""
    account = make_account(regions=["us-east-1", "eu-west-1"])
    succeeded_run(account, Source.ACCESS_ANALYZER)
    analyzer(account, "us-east-1")
    aa_row_in(account, "us-east-1", "us-finding", "kept-bucket")
    aa_row_in(account, "eu-west-1", "eu-finding", "eu-bucket")
    detect_account(account=account, now=NOW)
    eu_missing = findings_of(account, "access-analyzer-missing").get()
    assert eu_missing.evidence["region"] == "eu-west-1"
    assert findings_of(account, "access-analyzer:ExternalAccess").count() == 2

    account.regions = ["us-east-1"]
    account.save()
    counts = detect_account(account=account, now=NOW + timedelta(hours=1))

    assert counts.resolved == 2
    closed = [eu_missing.pk, Finding.objects.get(resource_key="eu-finding").pk]
    for finding in Finding.objects.filter(pk__in=closed):
        assert finding.status == Finding.Status.RESOLVED
        assert finding.resolution == Finding.Resolution.REGION_NOT_MONITORED
        assert finding.resolved_by_run is None
        event = finding.events.last()
        assert (event.kind, event.run) == ("resolved", None)
        assert event.note.startswith("Region eu-west-1 is no longer monitored")
        assert "closed without evidence that it was fixed" in event.note
    kept = Finding.objects.get(resource_key="us-finding")
    assert kept.status == Finding.Status.OPEN and kept.resolution == ""
    # The evidence itself is not called gone: AWS never said so.
    assert AccessAnalyzerFinding.objects.get(finding_id="eu-finding").gone_at is None
    # Running again changes nothing.
    assert detect_account(account=account, now=NOW + timedelta(hours=2)).resolved == 0

    # Monitored again: what it last showed is open again, and no longer "not monitored".
    account.regions = ["us-east-1", "eu-west-1"]
    account.save()
    assert detect_account(account=account, now=NOW + timedelta(hours=3)).reopened == 2
    for finding in Finding.objects.filter(pk__in=closed):
        assert finding.status == Finding.Status.OPEN and finding.resolution == ""


def test_a_finding_fixed_in_a_monitored_region_is_resolved_as_no_longer_seen(production):
    analyzer(production, "us-east-1")
    run = succeeded_run(production, Source.ACCESS_ANALYZER)
    row = aa_row_in(production, "us-east-1", "us-finding", "bucket")
    detect_account(account=production, now=NOW)
    AccessAnalyzerFinding.objects.filter(pk=row.pk).update(status="RESOLVED")

    detect_account(account=production, now=NOW + timedelta(hours=1))

    finding = Finding.objects.get(resource_key="us-finding")
    assert finding.status == Finding.Status.RESOLVED
    assert (finding.resolution, finding.resolved_by_run) == ("", run)
    assert finding.events.last().note == ""


def test_a_finding_aws_resolved_before_its_region_was_taken_off_stays_resolved_by_aws():
    account = make_account(regions=["us-east-1", "eu-west-1"])
    analyzer(account, "us-east-1")
    analyzer(account, "eu-west-1")
    run = succeeded_run(account, Source.ACCESS_ANALYZER)
    row = aa_row_in(account, "eu-west-1", "eu-finding", "eu-bucket")
    detect_account(account=account, now=NOW)
    AccessAnalyzerFinding.objects.filter(pk=row.pk).update(status="RESOLVED")
    account.regions = ["us-east-1"]
    account.save()

    detect_account(account=account, now=NOW + timedelta(hours=1))

    finding = Finding.objects.get(resource_key="eu-finding")
    assert (finding.status, finding.resolution) == (Finding.Status.RESOLVED, "")
    assert finding.resolved_by_run == run


def test_a_finding_closed_as_not_monitored_and_resolved_in_aws_meanwhile_is_fixed_when_read_again():
    """It stayed 'region not monitored' for ever: resolved findings were skipped, so the run
    that showed it fixed never said so, and its remediation could never verify."""
    account = make_account(regions=["us-east-1", "eu-west-1"])
    analyzer(account, "us-east-1")
    analyzer(account, "eu-west-1")
    succeeded_run(account, Source.ACCESS_ANALYZER)
    row = aa_row_in(account, "eu-west-1", "eu-finding", "eu-bucket")
    detect_account(account=account, now=NOW)
    account.regions = ["us-east-1"]
    account.save()
    detect_account(account=account, now=NOW + timedelta(hours=1))
    finding = Finding.objects.get(resource_key="eu-finding")
    assert finding.resolution == Finding.Resolution.REGION_NOT_MONITORED

    # The region is read again; AWS says the finding was resolved meanwhile.
    account.regions = ["us-east-1", "eu-west-1"]
    account.save()
    AccessAnalyzerFinding.objects.filter(pk=row.pk).update(status="RESOLVED")
    run = succeeded_run(account, Source.ACCESS_ANALYZER, at=NOW + timedelta(hours=2))
    counts = detect_account(account=account, now=NOW + timedelta(hours=3))

    assert (counts.resolved, counts.reopened) == (1, 0)
    finding.refresh_from_db()
    assert finding.status == Finding.Status.RESOLVED
    assert (finding.resolution, finding.resolved_by_run) == ("", run)
    assert finding.resolved_at == NOW + timedelta(hours=3)
    assert finding.last_seen_at < NOW + timedelta(hours=1)  # still when it was last shown
    event = finding.events.last()
    assert (event.kind, event.run) == ("resolved", run)
    assert "no longer shown: fixed" in event.note
    # Running again changes nothing.
    assert detect_account(account=account, now=NOW + timedelta(hours=4)).resolved == 0
    assert finding.events.count() == 3  # opened, closed as not monitored, fixed


def test_a_region_monitored_again_with_an_analyzer_now_closes_its_no_analyzer_finding_as_fixed():
    account = make_account(regions=["us-east-1", "eu-west-1"])
    analyzer(account, "us-east-1")
    succeeded_run(account, Source.ACCESS_ANALYZER)
    detect_account(account=account, now=NOW)
    missing = findings_of(account, "access-analyzer-missing").get()
    account.regions = ["us-east-1"]
    account.save()
    detect_account(account=account, now=NOW + timedelta(hours=1))
    missing.refresh_from_db()
    assert missing.resolution == Finding.Resolution.REGION_NOT_MONITORED

    # Monitored again, and an analyzer was created there meanwhile: the problem is fixed.
    account.regions = ["us-east-1", "eu-west-1"]
    account.save()
    analyzer(account, "eu-west-1")
    run = succeeded_run(account, Source.ACCESS_ANALYZER, at=NOW + timedelta(hours=2))
    detect_account(account=account, now=NOW + timedelta(hours=3))

    missing.refresh_from_db()
    assert missing.status == Finding.Status.RESOLVED
    assert (missing.resolution, missing.resolved_by_run) == ("", run)
    event = missing.events.last()
    assert (event.kind, event.run) == ("resolved", run)
    assert event.note.startswith("Region eu-west-1 is monitored again and has a working analyzer")


def test_a_region_monitored_again_but_unread_keeps_its_no_analyzer_finding_not_monitored():
    """The collection could not read it (an SCP, an opt-in region switched off): nothing is
    known of its analyzers, so nothing says the problem is fixed."""
    account = make_account(regions=["us-east-1", "eu-west-1"])
    analyzer(account, "us-east-1")
    succeeded_run(account, Source.ACCESS_ANALYZER)
    detect_account(account=account, now=NOW)
    account.regions = ["us-east-1"]
    account.save()
    detect_account(account=account, now=NOW + timedelta(hours=1))

    account.regions = ["us-east-1", "eu-west-1"]
    account.save()
    run = succeeded_run(account, Source.ACCESS_ANALYZER, at=NOW + timedelta(hours=2))
    CollectionRun.objects.filter(pk=run.pk).update(counts={"unread_regions": ["eu-west-1"]})
    counts = detect_account(account=account, now=NOW + timedelta(hours=3))

    assert (counts.resolved, counts.reopened, counts.opened) == (0, 0, 0)
    missing = findings_of(account, "access-analyzer-missing").get()
    assert missing.status == Finding.Status.RESOLVED
    assert missing.resolution == Finding.Resolution.REGION_NOT_MONITORED
    assert missing.resolved_by_run is None


def test_detection_does_not_load_every_successful_run_of_the_account():
    """Detection runs after every collection; per source it needs the latest successful run
    and the one before it, not every run the account ever had."""
    short, long = rows_read_at_two_sizes(lambda accounts: detect_account(account=accounts[0]))
    assert_bounded(short, long)


# --- Years of Access Analyzer history ----------------------------------------------------------


def test_the_newest_row_of_a_finding_collected_twice_is_the_one_detection_believes():
    """Collected by two accounts (an organization analyzer read from its delegated
    administrator, and a file imported into the member), a finding is what its newest row says:
    resolved there, an older active row elsewhere does not keep it open."""
    member = make_account()
    administrator = make_account("444455556666", "Security")
    succeeded_run(member, Source.ACCESS_ANALYZER)
    old = aa_row_in(administrator, "us-east-1", "shared-finding", "bucket")
    new = aa_row_in(member, "us-east-1", "shared-finding", "bucket")
    AccessAnalyzerFinding.objects.filter(pk=old.pk).update(
        resource_owner_account=member.account_id, changed_at=NOW - timedelta(days=1)
    )
    AccessAnalyzerFinding.objects.filter(pk=new.pk).update(status="RESOLVED")
    detect_account(account=member, now=NOW)
    assert not findings_of(member, "access-analyzer:ExternalAccess").exists()

    # The other way round: the newest row is active again.
    AccessAnalyzerFinding.objects.filter(pk=old.pk).update(changed_at=NOW + timedelta(days=1))
    detect_account(account=member, now=NOW + timedelta(hours=1))
    (finding,) = findings_of(member, "access-analyzer:ExternalAccess")
    assert finding.aws_finding_id == old.pk and finding.status == Finding.Status.OPEN


def add_analyzer_findings(account, *, count: int, start: int, resolved: bool) -> None:
    now = timezone.now()
    at = now - timedelta(days=400) if resolved else now
    AccessAnalyzerFinding.objects.bulk_create(
        (
            AccessAnalyzerFinding(
                account=account,
                fingerprint="x",
                first_seen_at=at,
                changed_at=at,
                last_seen_at=at if resolved else None,
                gone_at=at + timedelta(days=90) if resolved else None,
                finding_id=f"f-{n:08d}",
                analyzer_arn="arn:aws:access-analyzer:us-east-1:100000000000:analyzer/unused",
                region="us-east-1",
                finding_type="UnusedPermission",
                status="RESOLVED" if resolved else "ACTIVE",
                resource=f"arn:aws:iam::{account.account_id}:role/r{n}",
                resource_type="AWS::IAM::Role",
                resource_owner_account=account.account_id,
                details=[{"unusedPermissionDetails": {"serviceNamespace": "s3"}}] * 5,
            )
            for n in range(start, start + count)
        ),
        batch_size=5000,
    )


def test_detection_does_not_load_years_of_resolved_access_analyzer_findings():
    """Access Analyzer findings are kept for ever (after AWS deletes them, and once resolved);
    detection, after every collection of every account, reads only those still unresolved."""
    (account,) = make_accounts(1)
    add_analyzer_findings(account, count=50, start=0, resolved=False)
    analyze(AccessAnalyzerFinding)
    with reads(AccessAnalyzerFinding) as short:
        detect_account(account=account)
    # Two years of unused-access findings AWS resolved and then deleted.
    add_analyzer_findings(account, count=5_000, start=50, resolved=True)
    analyze(AccessAnalyzerFinding)
    with reads(AccessAnalyzerFinding) as long:
        detect_account(account=account)
    assert long.of(AccessAnalyzerFinding) <= 2 * short.of(AccessAnalyzerFinding), (
        f"read {short.of(AccessAnalyzerFinding)} rows for 50 active findings, "
        f"{long.of(AccessAnalyzerFinding)} once 5,000 resolved and gone ones were kept"
    )
