"""Review populations and frozen evidence: what each kind of cycle contains, and what changed since.

The builders at the top write evidence and findings directly (as storage and detection would)
and are shared by the other review test modules.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from findings.collection.registry import add_account
from findings.models import (
    AccessAnalyzerFinding,
    CollectionRun,
    CredentialReportEntry,
    Decision,
    Finding,
    IamRole,
    IamUser,
    PolicyAttachment,
    PolicyDocument,
    ReviewCycle,
    ServiceLastAccessed,
    Source,
)
from findings.models.findings import SEVERITY_RANK
from findings.policy.documents import document_hash
from findings.reviews.evidence import (
    CLEAN_RANK,
    current_specs,
    evidence_hash,
    population_hash,
)
from findings.reviews.releases import open_release_cycle
from findings.reviews.services import (
    DecisionInput,
    decide_item,
    open_cycle,
    sign_off_cycle,
)
from findings.reviews.summary import sign_off_summary

PRODUCTION = "111122223333"
STAGING = "444455556666"
READ_OBJECTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
READ_AND_WRITE_OBJECTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}],
}


# --- Builders ---------------------------------------------------------------------------------


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def observed() -> dict:
    now = timezone.now()
    return {"fingerprint": "x", "first_seen_at": now, "changed_at": now}


def make_account(account_id: str = PRODUCTION, name: str = "Production"):
    return add_account(account_id=account_id, name=name, regions=["us-east-1"])


def user_arn(account, name: str) -> str:
    return f"arn:aws:iam::{account.account_id}:user/{name}"


def credential_entry(
    account, user: str = "alice", *, password=False, key=False, mfa=False, **overrides
) -> CredentialReportEntry:
    """A credential-report row. `password`/`key`: a console password or access key in use."""
    root = user == "<root_account>"
    fields = {
        "user": user,
        "arn": f"arn:aws:iam::{account.account_id}:root" if root else user_arn(account, user),
        "user_creation_time": days_ago(400),
        "password_enabled": None if root else password,
        "password_enabled_reason": "not_supported" if root else "",
        "mfa_active": mfa,
        "access_key_1_active": key,
        "access_key_2_active": False,
        "cert_1_active": False,
        "cert_2_active": False,
    }
    if password:
        fields.update(password_last_used=days_ago(2), password_last_changed=days_ago(100))
    if key:
        fields.update(
            access_key_1_last_rotated=days_ago(30),
            access_key_1_last_used_date=days_ago(1),
            access_key_1_last_used_service="s3",
            access_key_1_last_used_region="us-east-1",
        )
    fields.update(overrides)
    return CredentialReportEntry.objects.create(account=account, **observed(), **fields)


def iam_user(account, name: str = "alice", *, groups=("developers",)) -> IamUser:
    return IamUser.objects.create(
        account=account,
        arn=user_arn(account, name),
        name=name,
        user_id=f"AIDA{name.upper()}",
        path="/",
        create_date=days_ago(400),
        groups=list(groups),
        tags={"team": "payments"},
        **observed(),
    )


def iam_role(account, name: str = "api", *, last_used_days: float | None = 1) -> IamRole:
    return IamRole.objects.create(
        account=account,
        arn=f"arn:aws:iam::{account.account_id}:role/{name}",
        name=name,
        role_id=f"AROA{name.upper()}",
        path="/",
        create_date=days_ago(400),
        tags={"app": "shop"},
        last_used_at=None if last_used_days is None else days_ago(last_used_days),
        last_used_region="" if last_used_days is None else "eu-west-1",
        **observed(),
    )


def attach_policy(account, role, document: dict, *, name: str = "app-policy") -> PolicyAttachment:
    sha = document_hash(document=document)
    stored, _ = PolicyDocument.objects.get_or_create(
        sha256=sha, defaults={"document": document, "first_seen_at": timezone.now()}
    )
    return PolicyAttachment.objects.create(
        account=account,
        principal_arn=role.arn,
        principal_type="role",
        kind="inline",
        policy_ref=name,
        policy_name=name,
        document_sha256=sha,
        document=stored,
        **observed(),
    )


def replace_policy(account, role, document: dict, *, name: str = "app-policy"):
    """A re-collection that finds a changed document: the old row goes, a new one appears."""
    PolicyAttachment.objects.filter(principal_arn=role.arn, policy_ref=name, gone_at=None).update(
        gone_at=timezone.now()
    )
    return attach_policy(account, role, document, name=name)


def service_row(account, role, namespace: str, *, used_days: float | None):
    return ServiceLastAccessed.objects.create(
        account=account,
        principal_arn=role.arn,
        service_namespace=namespace,
        service_name=namespace.upper(),
        last_authenticated_at=None if used_days is None else days_ago(used_days),
        **observed(),
    )


def aa_row(account, finding_id: str, resource: str, *, finding_type="ExternalAccess"):
    """An Access Analyzer finding as collection stores it."""
    return AccessAnalyzerFinding.objects.create(
        account=account,
        finding_id=finding_id,
        analyzer_arn=f"arn:aws:access-analyzer:us-east-1:{account.account_id}:analyzer/account",
        region="us-east-1",
        finding_type=finding_type,
        status="ACTIVE",
        resource=resource,
        resource_type="AWS::S3::Bucket",
        resource_owner_account=account.account_id,
        aws_created_at=days_ago(3),
        aws_updated_at=days_ago(3),
        analyzed_at=days_ago(3),
        details=[{"externalAccessDetails": {"isPublic": False, "principal": {"AWS": "999"}}}],
        **observed(),
    )


def make_finding(
    account,
    check_id: str,
    resource_arn: str,
    *,
    severity: str = "high",
    status: str = Finding.Status.OPEN,
    resource_key: str = "",
    resource_type: str = "user",
    **extra,
) -> Finding:
    now = timezone.now()
    return Finding.objects.create(
        account=account,
        check_id=check_id,
        resource_key=resource_key or resource_arn,
        resource_arn=resource_arn,
        resource_type=resource_type,
        resource_name=resource_arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1],
        title=check_id.replace("-", " ").capitalize(),
        severity=severity,
        severity_rank=SEVERITY_RANK[severity],
        severity_reason="Because the test says so",
        evidence={"note": "built by hand"},
        evidence_fingerprint="x",
        rule_version="test",
        thresholds={},
        first_seen_at=now,
        last_seen_at=now,
        status=status,
        **extra,
    )


def external_access(account, bucket: str, **kwargs) -> Finding:
    return make_finding(
        account,
        "access-analyzer:ExternalAccess",
        f"arn:aws:s3:::{bucket}",
        resource_key=f"aa-{bucket}",
        resource_type="AWS::S3::Bucket",
        **kwargs,
    )


def succeeded_run(account, source: str, *, at=None) -> CollectionRun:
    at = at or timezone.now()
    return CollectionRun.objects.create(
        account=account,
        source=source,
        trigger=CollectionRun.Trigger.MANUAL,
        status=CollectionRun.Status.SUCCEEDED,
        started_at=at,
        finished_at=at,
    )


def keep(reason: str = "Needed by the nightly export") -> DecisionInput:
    return DecisionInput(kind="keep", justification=reason)


def subject_keys(cycle) -> list[str]:
    return list(cycle.items.values_list("subject_key", flat=True))


pytestmark = pytest.mark.django_db


@pytest.fixture
def production(db):
    return make_account()


@pytest.fixture
def staging(db):
    return make_account(STAGING, "Staging")


# --- Monthly ----------------------------------------------------------------------------------


def test_monthly_cycle_has_one_item_per_open_access_analyzer_access_finding_in_scope(
    production, staging, administrator
):
    shared = external_access(production, "shared-reports")
    internal = make_finding(
        production,
        "access-analyzer:InternalAccess",
        "arn:aws:kms:us-east-1:111122223333:key/k1",
        severity="medium",
        resource_key="aa-k1",
    )
    external_access(production, "old-bucket", status=Finding.Status.RESOLVED)
    external_access(production, "partner-bucket", status=Finding.Status.EXCLUDED)
    make_finding(production, "access-analyzer:UnusedIAMRole", "arn:aws:iam::1:role/x")
    make_finding(production, "console-user-without-mfa", user_arn(production, "alice"))
    external_access(staging, "staging-bucket")

    cycle = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])

    assert sorted(subject_keys(cycle)) == [
        "finding:111122223333:aa-k1",
        "finding:111122223333:aa-shared-reports",
    ]
    assert cycle.population_count == 2
    item = cycle.items.get(subject_arn="arn:aws:s3:::shared-reports")
    assert list(item.findings.all()) == [shared]
    assert item.severity == "high"
    assert item.frozen_evidence["facts"]["finding_type"] == "ExternalAccess"
    assert cycle.items.get(subject_key__endswith="aa-k1").findings.get() == internal
    assert list(cycle.scope_accounts.all()) == [production]


def test_monthly_cycle_without_a_scope_covers_every_enabled_account(
    production, staging, administrator
):
    external_access(production, "shared-reports")
    external_access(staging, "staging-bucket")

    cycle = open_cycle(kind="monthly", opened_by=administrator)

    assert cycle.items.count() == 2
    assert not cycle.scope_accounts.exists()


def test_monthly_evidence_comes_from_the_access_analyzer_row(production, administrator):
    row = aa_row(production, "f-1", "arn:aws:s3:::shared-reports")
    external_access(production, "shared-reports", aws_finding=row, aws_status="ACTIVE")

    cycle = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])

    facts = cycle.items.get().frozen_evidence["facts"]
    assert facts["aws_status"] == "ACTIVE"
    assert facts["resource_owner_account"] == PRODUCTION
    assert facts["details"][0]["externalAccessDetails"]["principal"] == {"AWS": "999"}


# --- Quarterly --------------------------------------------------------------------------------


def test_quarterly_cycle_has_every_user_with_a_password_or_an_active_key_root_included(
    production, administrator
):
    credential_entry(production, "<root_account>", mfa=True)
    credential_entry(production, "alice", password=True)
    iam_user(production, "alice")
    credential_entry(production, "bob", key=True)
    credential_entry(production, "erin", key=True, password=True, mfa=True)
    credential_entry(production, "carol")  # neither password nor key: nothing to review
    credential_entry(production, "dave", password=True, gone_at=timezone.now())
    make_finding(production, "console-user-without-mfa", user_arn(production, "alice"))
    make_finding(
        production, "access-key-not-rotated", user_arn(production, "erin"), severity="medium"
    )
    make_finding(
        production,
        "password-unused",
        user_arn(production, "bob"),
        severity="critical",
        status=Finding.Status.RESOLVED,
    )

    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])

    items = list(cycle.items.all())
    assert [item.title for item in items] == [
        "alice (Production)",
        "erin (Production)",
        "bob (Production)",
        "root user (Production)",
    ]
    assert [item.severity_rank for item in items] == [1, 2, CLEAN_RANK, CLEAN_RANK]
    assert cycle.population_count == 4
    assert cycle.population_hash == population_hash(items=items)
    alice, _, bob, root = items
    assert alice.frozen_evidence["facts"]["groups"] == ["developers"]
    assert [f["check"] for f in alice.frozen_evidence["findings"]] == ["console-user-without-mfa"]
    assert bob.frozen_evidence["findings"] == [] and not bob.findings.exists()
    assert root.frozen_evidence["facts"]["root"] is True
    assert root.subject_key == "user:arn:aws:iam::111122223333:root"


def test_access_analyzers_credential_findings_are_reviewed_with_their_user(
    production, administrator
):
    """Access Analyzer's unused-key and unused-password findings were reviewed in no cycle:
    the quarterly item of the user they are about takes them (and decides them), as ours."""
    credential_entry(production, "bob", key=True)
    bob = user_arn(production, "bob")
    unused_key = make_finding(
        production, "access-analyzer:UnusedIAMUserAccessKey", bob, resource_key="aa-key"
    )
    unused_role = make_finding(
        production,
        "access-analyzer:UnusedIAMRole",
        f"arn:aws:iam::{production.account_id}:role/old",
        resource_key="aa-role",
    )
    external_access(production, "shared-reports")

    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])

    item = cycle.items.get()
    assert item.subject_arn == bob
    assert list(item.findings.all()) == [unused_key]
    assert [f["check"] for f in item.frozen_evidence["findings"]] == [unused_key.check_id]
    assert not cycle.items.filter(findings=unused_role).exists()


def test_root_without_mfa_is_reviewed_with_its_finding(production, administrator):
    root = credential_entry(production, "<root_account>")
    make_finding(production, "root-mfa", root.arn, severity="critical", resource_type="root")

    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])

    item = cycle.items.get()
    assert item.subject_arn == root.arn
    assert item.severity == "critical"


# --- Per release ------------------------------------------------------------------------------


def test_release_cycle_has_one_item_per_role_and_reports_unknown_arns(production, reviewer):
    api = iam_role(production, "api")
    worker = iam_role(production, "worker", last_used_days=None)
    attach_policy(production, api, READ_OBJECTS)
    service_row(production, api, "s3", used_days=1)
    service_row(production, api, "dynamodb", used_days=200)
    unknown = "arn:aws:iam::111122223333:role/ghost"

    cycle, _, _ = open_release_cycle(
        application="shop",
        version=" 2.4.0 ",
        role_arns=[api.arn, worker.arn, api.arn, unknown, "  "],
        notes="new checkout",
        opened_by=reviewer,
    )

    assert cycle.kind == ReviewCycle.Kind.RELEASE
    assert cycle.title == "Release shop 2.4.0"
    assert sorted(subject_keys(cycle)) == [f"role:{api.arn}", f"role:{worker.arn}"]
    assert cycle.unknown_role_arns == [unknown]
    assert list(cycle.scope_accounts.all()) == [production]
    evidence = cycle.items.get(subject_arn=api.arn).frozen_evidence
    assert evidence["policies"] == {"inline: app-policy": READ_OBJECTS}
    assert [s["service"] for s in evidence["unused_services"]] == ["dynamodb"]
    assert evidence["changes"]["first_review"] is True
    assert evidence["changes"]["policies"] == []
    worker_facts = cycle.items.get(subject_arn=worker.arn).frozen_evidence["facts"]
    assert worker_facts["last_used"] is None
    assert "tracking window" in worker_facts["last_used_note"]


def test_a_release_items_unused_services_are_judged_as_of_when_the_usage_was_read(
    production, reviewer
):
    """dynamodb used 100 days ago, read 30 days ago (its collection failing since): used within
    90 days of the read. Judged against today, it crossed the line by the calendar alone, and
    the item was marked as changed with no new data."""
    api = iam_role(production, "api")
    attach_policy(production, api, READ_OBJECTS)
    service_row(production, api, "dynamodb", used_days=100)
    service_row(production, api, "sqs", used_days=None)
    succeeded_run(production, Source.SERVICE_LAST_ACCESSED, at=days_ago(30))

    cycle, _, _ = open_release_cycle(
        application="shop", version="2.5.0", role_arns=[api.arn], notes="", opened_by=reviewer
    )

    evidence = cycle.items.get().frozen_evidence
    assert [s["service"] for s in evidence["unused_services"]] == ["sqs"]


def approve(cycle, *, reviewer, approver, decision: DecisionInput | None = None):
    for item in cycle.items.all():
        decide_item(item=item, actor=reviewer, decision=decision or keep(), expected_latest_id=None)
    return sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation="Reviewed in full.",
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )


def test_a_later_release_shows_the_policy_diff_since_the_approved_review(
    production, reviewer, approver
):
    api = iam_role(production, "api")
    attach_policy(production, api, READ_OBJECTS)
    first, _, _ = open_release_cycle(
        application="shop", version="1.0", role_arns=[api.arn], notes="", opened_by=reviewer
    )
    approve(first, reviewer=reviewer, approver=approver)
    replace_policy(production, api, READ_AND_WRITE_OBJECTS)

    later, _, _ = open_release_cycle(
        application="shop", version="1.1", role_arns=[api.arn], notes="", opened_by=reviewer
    )

    changes = later.items.get().frozen_evidence["changes"]
    assert changes["first_review"] is False
    assert changes["since_cycle"] == first.pk
    [change] = changes["policies"]
    assert change["policy"] == "inline: app-policy"
    assert change["kind"] == "changed"
    assert change["added_actions"] == ["s3:PutObject"]
    assert change["removed_actions"] == []
    assert any("s3:PutObject" in line for line in change["diff"])


def test_a_release_review_that_was_not_signed_off_is_no_baseline(production, reviewer):
    api = iam_role(production, "api")
    attach_policy(production, api, READ_OBJECTS)
    open_release_cycle(
        application="shop", version="1.0", role_arns=[api.arn], notes="", opened_by=reviewer
    )
    replace_policy(production, api, READ_AND_WRITE_OBJECTS)

    later, _, _ = open_release_cycle(
        application="shop", version="1.1", role_arns=[api.arn], notes="", opened_by=reviewer
    )

    assert later.items.get().frozen_evidence["changes"]["first_review"] is True


def test_a_role_sent_to_remediation_is_no_approved_baseline_for_the_next_release(
    production, reviewer, approver
):
    """Version 1.0 approved the role with s3:GetObject; 1.1's reviewer sent it, now with
    s3:PutObject too, to remediation, and 1.1 was signed off (remediation pending). Version 1.2
    names the unchanged role: what changed is counted from 1.0, the review that approved it,
    not from 1.1, which refused what it saw."""
    api = iam_role(production, "api")
    attach_policy(production, api, READ_OBJECTS)
    approved, _, _ = open_release_cycle(
        application="shop", version="1.0", role_arns=[api.arn], notes="", opened_by=reviewer
    )
    approve(approved, reviewer=reviewer, approver=approver)
    replace_policy(production, api, READ_AND_WRITE_OBJECTS)
    refused, _, _ = open_release_cycle(
        application="shop", version="1.1", role_arns=[api.arn], notes="", opened_by=reviewer
    )
    remediate = DecisionInput(kind="remediate", justification="s3:PutObject is not needed")
    approve(refused, reviewer=reviewer, approver=approver, decision=remediate)

    later, _, _ = open_release_cycle(
        application="shop", version="1.2", role_arns=[api.arn], notes="", opened_by=reviewer
    )

    changes = later.items.get().frozen_evidence["changes"]
    assert changes["since_cycle"] == approved.pk
    [change] = changes["policies"]
    assert change["added_actions"] == ["s3:PutObject"]


def test_a_role_only_ever_sent_to_remediation_has_its_first_review_next_release(
    production, reviewer, approver
):
    api = iam_role(production, "api")
    attach_policy(production, api, READ_AND_WRITE_OBJECTS)
    refused, _, _ = open_release_cycle(
        application="shop", version="1.0", role_arns=[api.arn], notes="", opened_by=reviewer
    )
    remediate = DecisionInput(kind="remediate", justification="s3:PutObject is not needed")
    approve(refused, reviewer=reviewer, approver=approver, decision=remediate)

    later, _, _ = open_release_cycle(
        application="shop", version="1.1", role_arns=[api.arn], notes="", opened_by=reviewer
    )

    assert later.items.get().frozen_evidence["changes"]["first_review"] is True


# --- Frozen evidence --------------------------------------------------------------------------


def test_frozen_release_evidence_stays_when_the_role_policy_changes(production, reviewer):
    api = iam_role(production, "api")
    attach_policy(production, api, READ_OBJECTS)
    cycle, _, _ = open_release_cycle(
        application="shop", version="1.0", role_arns=[api.arn], notes="", opened_by=reviewer
    )
    item = cycle.items.get()
    frozen, frozen_hash = item.frozen_evidence, item.evidence_hash
    assert current_specs(cycle=cycle)[item.subject_key].evidence_hash == frozen_hash

    replace_policy(production, api, READ_AND_WRITE_OBJECTS)

    item.refresh_from_db()
    assert item.frozen_evidence == frozen
    assert item.evidence_hash == frozen_hash
    now = current_specs(cycle=cycle)[item.subject_key]
    assert now.evidence_hash != frozen_hash
    assert now.evidence["policies"] == {"inline: app-policy": READ_AND_WRITE_OBJECTS}


def test_frozen_credential_evidence_stays_when_the_user_turns_on_mfa(production, administrator):
    entry = credential_entry(production, "alice", password=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    item = cycle.items.get()
    frozen, frozen_hash = item.frozen_evidence, item.evidence_hash
    assert current_specs(cycle=cycle)[item.subject_key].evidence_hash == frozen_hash

    CredentialReportEntry.objects.filter(pk=entry.pk).update(mfa_active=True)

    item.refresh_from_db()
    assert item.frozen_evidence == frozen
    assert item.frozen_evidence["facts"]["mfa_active"] is False
    assert item.evidence_hash == frozen_hash
    assert current_specs(cycle=cycle)[item.subject_key].evidence_hash != frozen_hash
    cycle.refresh_from_db()
    assert cycle.population_hash == population_hash(items=cycle.items.all())


def test_a_subject_gone_since_opening_is_missing_from_the_current_population(
    production, administrator
):
    entry = credential_entry(production, "alice", password=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])

    CredentialReportEntry.objects.filter(pk=entry.pk).update(gone_at=timezone.now())

    assert current_specs(cycle=cycle) == {}
    assert cycle.items.count() == 1


# --- Hashes -----------------------------------------------------------------------------------


def test_evidence_hash_ignores_the_diff_and_finding_wording_but_not_the_facts():
    evidence = {
        "facts": {"mfa_active": False},
        "findings": [
            {"check": "c", "resource_key": "k", "severity": "high", "title": "14 days unused"}
        ],
        "policies": {"inline: p": READ_OBJECTS},
        "changes": {"first_review": True},
    }
    reworded = {
        **evidence,
        "findings": [
            {"check": "c", "resource_key": "k", "severity": "high", "title": "15 days unused"}
        ],
        "changes": {"first_review": False},
    }

    assert evidence_hash(evidence=reworded) == evidence_hash(evidence=evidence)
    assert evidence_hash(evidence={**evidence, "facts": {"mfa_active": True}}) != evidence_hash(
        evidence=evidence
    )
    assert evidence_hash(evidence={**evidence, "policies": {}}) != evidence_hash(evidence=evidence)


def test_population_hash_covers_every_subject_in_any_order(production, administrator):
    credential_entry(production, "alice", password=True)
    credential_entry(production, "bob", key=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    items = list(cycle.items.all())

    assert population_hash(items=reversed(items)) == population_hash(items=items)
    assert population_hash(items=items[:1]) != population_hash(items=items)
    items[0].evidence_hash = "0" * 64
    assert population_hash(items=items) != cycle.population_hash


def test_decisions_do_not_change_the_frozen_population(production, administrator, reviewer):
    credential_entry(production, "alice", password=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    item = cycle.items.get()

    decide_item(item=item, actor=reviewer, decision=keep(), expected_latest_id=None)

    assert Decision.objects.count() == 1
    assert population_hash(items=cycle.items.all()) == cycle.population_hash
