"""Importing files saved with the AWS CLI: same parsers and storage as live collection."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from django.utils import timezone
from moto import mock_aws

from findings.collection.collectors import run_collection
from findings.collection.imports import ImportRejected, import_file
from findings.collection.registry import add_account
from findings.collection.runs import claim_run
from findings.collection.status import counts_summary
from findings.collection.store import fixed_aws_document
from findings.detection.detect import detect_account
from findings.models import (
    AccessAnalyzerFinding,
    AuditEntry,
    CollectionRun,
    CredentialReport,
    CredentialReportEntry,
    Finding,
    IamRole,
    IamUser,
    PolicyAttachment,
    Source,
)

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parents[1] / "data"
ACCOUNT = "111122223333"
MOTO_ACCOUNT = "123456789012"  # moto's default account: iamreview's own credentials act here


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def production():
    return add_account(account_id=ACCOUNT, name="Production")


def entries(account) -> dict[str, CredentialReportEntry]:
    return {e.user: e for e in CredentialReportEntry.objects.filter(account=account)}


def import_report(account, data: bytes | None = None, filename="credential-report.csv"):
    data = sample("credential-report.csv") if data is None else data
    return import_file(account=account, kind="credential-report", data=data, filename=filename)


def gaad_file(role_policy: dict) -> bytes:
    """`aws iam get-account-authorization-details` output with one role and one user."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:*"}
        ],
    }
    return json.dumps(
        {
            "UserDetailList": [
                {
                    "Path": "/",
                    "UserName": "alice",
                    "UserId": "AIDAALICE",
                    "Arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                    "CreateDate": "2021-05-03T10:00:00+00:00",
                    "GroupList": [],
                    "AttachedManagedPolicies": [],
                }
            ],
            "GroupDetailList": [],
            "RoleDetailList": [
                {
                    "Path": "/",
                    "RoleName": "legacy-batch",
                    "RoleId": "AROALEGACY",
                    "Arn": f"arn:aws:iam::{ACCOUNT}:role/legacy-batch",
                    "CreateDate": "2020-01-01T00:00:00+00:00",
                    "AssumeRolePolicyDocument": trust,
                    "InstanceProfileList": [],
                    "RolePolicyList": [{"PolicyName": "batch", "PolicyDocument": role_policy}],
                    "AttachedManagedPolicies": [],
                    "Tags": [],
                    "RoleLastUsed": {},
                }
            ],
            "Policies": [],
        }
    ).encode()


# --- Credential report ------------------------------------------------------------------------


def test_importing_the_credential_report_stores_every_row_with_the_root_row(production):
    run = import_report(production)

    assert run.status == CollectionRun.Status.SUCCEEDED
    assert run.trigger == CollectionRun.Trigger.IMPORT
    assert run.detail == "credential-report.csv"
    assert run.counts["rows"] == 6
    assert run.counts["created"] == 6
    stored = entries(production)
    assert set(stored) == {
        "<root_account>",
        "alice",
        "bob",
        "ci-deployer",
        "new-hire",
        "former-contractor",
    }
    root = stored["<root_account>"]
    assert root.is_root
    assert root.arn == f"arn:aws:iam::{ACCOUNT}:root"
    assert root.password_last_used == utc(2026, 10, 30, 17, 2, 11)
    assert root.mfa_active is True


def test_every_special_value_is_stored_as_null_with_its_reason(production):
    import_report(production)
    stored = entries(production)

    root = stored["<root_account>"]
    assert (root.password_enabled, root.password_enabled_reason) == (None, "not_supported")
    assert (root.password_last_changed, root.password_last_changed_reason) == (
        None,
        "not_supported",
    )
    assert (root.password_next_rotation, root.password_next_rotation_reason) == (
        None,
        "not_supported",
    )
    assert (root.access_key_1_last_rotated, root.access_key_1_last_rotated_reason) == (None, "N/A")

    # Never used (no_information) and no credential at all (N/A) stay distinguishable.
    bob = stored["bob"]
    assert (bob.password_last_used, bob.password_last_used_reason) == (None, "no_information")
    ci = stored["ci-deployer"]
    assert ci.password_enabled is False
    assert (ci.password_last_used, ci.password_last_used_reason) == (None, "N/A")

    # A key used by a global service: a service but no region.
    assert bob.access_key_1_last_used_service == "s3"
    assert bob.access_key_1_last_used_region == ""
    # An active key that was never used: a rotation date, and N/A as its last use.
    assert bob.access_key_2_active is True
    assert bob.access_key_2_last_rotated == utc(2024, 3, 1)
    assert (bob.access_key_2_last_used_date, bob.access_key_2_last_used_date_reason) == (
        None,
        "N/A",
    )

    alice = stored["alice"]
    assert alice.password_last_used == utc(2026, 10, 31, 8, 44, 2)
    assert alice.password_last_used_reason == ""
    assert alice.access_key_1_last_used_region == "eu-west-1"
    assert stored["former-contractor"].cert_1_active is True


def test_the_raw_csv_is_kept_as_evidence(production):
    run = import_report(production)

    report = CredentialReport.objects.get(account=production)
    assert bytes(report.content) == sample("credential-report.csv")
    assert report.row_count == 6
    assert run.data_generated_at == report.generated_at


def test_reimporting_the_same_report_keeps_one_copy_and_changes_nothing(production):
    import_report(production)
    second = import_report(production)

    assert second.counts["unchanged"] == 6
    assert second.counts["created"] == second.counts["updated"] == 0
    assert CredentialReport.objects.filter(account=production).count() == 1


def test_a_user_missing_from_a_later_report_is_marked_gone(production):
    first = import_report(production)
    without_bob = b"".join(
        line
        for line in sample("credential-report.csv").splitlines(True)
        if b"user/bob," not in line
    )
    second = import_report(production, without_bob)

    bob = CredentialReportEntry.objects.get(account=production, user="bob")
    assert second.counts["gone"] == 1
    assert bob.gone_at is not None
    assert bob.last_seen_at == first.finished_at


def test_a_report_without_the_root_row_keeps_root_as_it_was(production):
    """AWS's report always has the root row: one without it (a simulator, an edited file) says
    nothing about root, whose row and findings must not read as gone (resolved)."""
    import_report(production)
    without_root = b"".join(
        line
        for line in sample("credential-report.csv").splitlines(True)
        if not line.startswith(b"<root_account>,")
    )
    second = import_report(production, without_root)

    root = CredentialReportEntry.objects.get(account=production, user="<root_account>")
    assert root.gone_at is None
    assert second.counts["gone"] == 0


# --- Rejected files ------------------------------------------------------------------------------


def test_a_malformed_file_is_rejected_whole_naming_the_line_and_nothing_is_stored(production):
    good = import_report(production)
    before = list(CredentialReportEntry.objects.values())
    lines = sample("credential-report.csv").splitlines(True)
    lines[3] = lines[3].replace(b",true,", b",", 1)  # bob's row loses a column
    with pytest.raises(ImportRejected, match="line 4") as rejected:
        import_report(production, b"".join(lines), filename="broken.csv")

    assert "nothing was stored" in str(rejected.value)
    run = CollectionRun.objects.exclude(pk=good.pk).get()
    assert run.status == CollectionRun.Status.FAILED
    assert "broken.csv" in run.error
    assert "line 4" in run.error
    assert list(CredentialReportEntry.objects.values()) == before
    assert CredentialReport.objects.count() == 1


@pytest.mark.parametrize("cut", ["header only", "a user twice"])
def test_a_cut_or_merged_report_is_rejected_and_no_user_is_marked_gone(production, cut):
    import_report(production)
    before = list(CredentialReportEntry.objects.values())
    lines = sample("credential-report.csv").splitlines(True)
    bad = lines[0] if cut == "header only" else b"".join([*lines, lines[3]])

    with pytest.raises(ImportRejected, match="line"):
        import_report(production, bad, filename="cut.csv")

    assert list(CredentialReportEntry.objects.values()) == before


def test_a_rejected_import_is_an_import_problem_not_a_failing_collection(production):
    from django.utils import timezone

    from findings.collection.status import collection_status
    from findings.models import AwsAccount

    good = import_report(production)
    with pytest.raises(ImportRejected):
        import_report(production, b"not a credential report", filename="wrong.csv")

    [status] = collection_status(accounts=AwsAccount.objects.all(), now=timezone.now())
    report = next(s for s in status.sources if s.source == "credential-report")
    assert report.latest.pk == good.pk and report.latest.status == "succeeded"


def test_a_file_that_fails_while_storing_leaves_the_previous_state_and_fails_the_run(production):
    import_report(production)
    before = list(CredentialReportEntry.objects.values())
    lines = sample("credential-report.csv").splitlines(True)
    # Parses fine, but the database refuses a 200-character user name half-way through.
    lines[4] = lines[4].replace(b"ci-deployer,", b"x" * 200 + b",", 1)
    with pytest.raises(ImportRejected):
        import_report(production, b"".join(lines), filename="too-long.csv")

    failed = CollectionRun.objects.order_by("-pk").first()
    assert failed.status == CollectionRun.Status.FAILED
    assert failed.error
    assert list(CredentialReportEntry.objects.values()) == before
    assert CredentialReport.objects.count() == 1
    # The claim was released: the next import may run.
    assert import_report(production).status == CollectionRun.Status.SUCCEEDED


def test_an_unknown_kind_is_rejected_before_anything_runs(production):
    with pytest.raises(ImportRejected, match="Unknown kind"):
        import_file(account=production, kind="passwords", data=b"{}")
    assert not CollectionRun.objects.exists()


def test_a_file_over_the_size_limit_is_rejected(production, settings):
    settings.IAMREVIEW_IMPORT_MAX_BYTES = 100
    with pytest.raises(ImportRejected, match="IAMREVIEW_IMPORT_MAX_BYTES"):
        import_report(production)
    assert not CollectionRun.objects.exists()


def test_an_import_while_the_same_source_is_being_collected_is_refused(production):
    from findings.collection.runs import AlreadyRunning

    claim_run(account=production, source=Source.CREDENTIAL_REPORT, trigger="manual")
    with pytest.raises(AlreadyRunning):
        import_report(production)
    assert not CredentialReportEntry.objects.exists()


# --- Other kinds --------------------------------------------------------------------------------


def test_importing_access_analyzer_findings_stores_them_without_region(production):
    run = import_file(
        account=production,
        kind="access-analyzer-findings",
        data=sample("access-analyzer-get-finding-v2.json"),
        filename="findings.json",
    )

    assert run.status == CollectionRun.Status.SUCCEEDED
    findings = {f.finding_id: f for f in AccessAnalyzerFinding.objects.filter(account=production)}
    assert len(findings) == run.counts["findings"] >= 3
    bucket = findings["0d1f3c6e-2b3a-4e55-9a10-6f1d2a3b4c01"]
    assert bucket.region == ""
    assert bucket.finding_type == "ExternalAccess"
    assert bucket.details[0]["externalAccessDetails"]["isPublic"] is True
    assert bucket.status_history == [
        {"status": "ACTIVE", "seen_at": bucket.first_seen_at.isoformat()}
    ]


def findings_file(*, kinds: set[str]) -> bytes:
    """The sample listing cut to some finding types, as one analyzer of that kind lists."""
    data = json.loads(sample("access-analyzer-list-findings-v2.json"))
    data["findings"] = [f for f in data["findings"] if f["findingType"] in kinds]
    return json.dumps(data).encode()


def open_checks(account) -> set[str]:
    return set(
        Finding.objects.filter(
            account=account, status="open", check_id__startswith="access-"
        ).values_list("check_id", flat=True)
    )


def test_a_second_analyzers_file_leaves_the_first_ones_findings_open(production):
    """One file per analyzer (list-findings-v2 --analyzer-arn): the unused-access analyzer's
    file resolved every finding of the external-access analyzer's file."""
    external = findings_file(kinds={"ExternalAccess"})
    unused = findings_file(kinds={"UnusedPermission", "UnusedIAMUserAccessKey"})
    import_file(account=production, kind="access-analyzer-findings", data=external)
    import_file(account=production, kind="access-analyzer-findings", data=unused)

    assert open_checks(production) == {
        "access-analyzer:ExternalAccess",
        "access-analyzer:UnusedPermission",
        "access-analyzer:UnusedIAMUserAccessKey",
    }
    assert not AccessAnalyzerFinding.objects.filter(gone_at__isnull=False).exists()

    # The external-access analyzer's next file no longer lists the bucket: that one goes.
    import_file(
        account=production,
        kind="access-analyzer-findings",
        data=json.dumps({"findings": []}).encode(),
    )
    assert len(open_checks(production)) == 3  # an empty file speaks for no analyzer
    data = json.loads(external)
    data["findings"][0].update(id="another-finding", resource="arn:aws:s3:::other-bucket")
    import_file(account=production, kind="access-analyzer-findings", data=json.dumps(data).encode())
    gone = AccessAnalyzerFinding.objects.filter(gone_at__isnull=False)
    assert [f.resource for f in gone] == ["arn:aws:s3:::acme-public-assets"]


def test_an_organization_analyzers_finding_reaches_the_member_it_is_about(production, reviewer):
    """Imported into the management account, a finding about a member's bucket waited for the
    member's own next collection, for ever if that kept failing; and so did the check of the
    member's "remediate" decision."""
    from findings.reviews.services import DecisionInput, decide_item, open_cycle

    member = add_account(account_id="444455556666", name="Member")
    data = json.loads(sample("access-analyzer-list-findings-v2.json"))
    data["findings"][0]["resourceOwnerAccount"] = member.account_id  # the public bucket

    import_file(account=production, kind="access-analyzer-findings", data=json.dumps(data).encode())

    assert open_checks(member) == {"access-analyzer:ExternalAccess"}
    assert "access-analyzer:ExternalAccess" not in open_checks(production)
    cycle = open_cycle(kind="monthly", opened_by=None, period="2026-11")
    item = cycle.items.get(account=member)
    decide_item(
        item=item,
        actor=reviewer,
        decision=DecisionInput(kind="remediate"),
        expected_latest_id=None,
    )

    # AWS resolves it: the member's finding resolves with the management account's next file,
    # and the member's remediation is verified.
    data["findings"][0]["status"] = "RESOLVED"
    import_file(account=production, kind="access-analyzer-findings", data=json.dumps(data).encode())
    assert open_checks(member) == set()
    item.refresh_from_db()
    assert item.remediation == "verified"


def test_a_findings_file_missing_a_field_is_rejected_naming_it(production):
    data = json.loads(sample("access-analyzer-list-findings-v2.json"))
    del data["findings"][1]["resourceOwnerAccount"]
    with pytest.raises(ImportRejected, match=r"findings\[1\]\.resourceOwnerAccount"):
        import_file(
            account=production, kind="access-analyzer-findings", data=json.dumps(data).encode()
        )
    assert not AccessAnalyzerFinding.objects.exists()


def test_importing_authorization_details_stores_principals_and_policy_history(production):
    first = import_file(
        account=production,
        kind="authorization-details",
        data=gaad_file(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    assert first.status == CollectionRun.Status.SUCCEEDED
    assert IamUser.objects.get(account=production).name == "alice"
    role = IamRole.objects.get(account=production)
    assert role.last_used_at is None
    inline = PolicyAttachment.objects.get(principal_arn=role.arn, kind="inline")
    assert inline.document.document["Statement"][0]["Action"] == "s3:*"

    import_file(
        account=production,
        kind="authorization-details",
        data=gaad_file(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    history = PolicyAttachment.objects.filter(principal_arn=role.arn, kind="inline").order_by("pk")
    assert [
        (a.gone_at is None, a.document.document["Statement"][0]["Action"]) for a in history
    ] == [
        (False, "s3:*"),
        (True, "s3:GetObject"),
    ]
    assert history[0].last_seen_at == first.finished_at


# --- AWS-managed policies the file does not hold ------------------------------------------------


def with_attached(*arns: str) -> bytes:
    """The file as `--filter User Role Group LocalManagedPolicy` writes it: alice has AWS's
    policies attached, and their documents are not in it."""
    document = json.loads(gaad_file(ALLOW_S3))
    document["UserDetailList"][0]["AttachedManagedPolicies"] = [
        {"PolicyName": arn.rsplit("/", 1)[-1], "PolicyArn": arn} for arn in arns
    ]
    return json.dumps(document).encode()


def test_administrator_access_is_judged_without_its_document_in_the_file(production):
    """It gave no finding at all: the attachment was stored with no document."""
    run = import_file(
        account=production,
        kind="authorization-details",
        data=with_attached("arn:aws:iam::aws:policy/AdministratorAccess"),
    )

    assert "no_document" not in run.counts
    admin = Finding.objects.get(account=production, check_id="full-admin")
    assert admin.resource_arn == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert admin.severity == "critical"


def test_other_policies_without_a_document_are_named_in_the_imports_message(production):
    arns = [f"arn:aws:iam::aws:policy/Policy{n}" for n in range(7)]
    run = import_file(account=production, kind="authorization-details", data=with_attached(*arns))

    assert run.counts["no_document"] == arns[:5]
    assert run.counts["no_document_total"] == 7
    summary = counts_summary(counts=run.counts)
    assert "7 attached managed policies have no document" in summary
    assert "arn:aws:iam::aws:policy/Policy4 and 2 more" in summary
    assert "not judged" in summary

    # Once a collection (or a file) holds the documents, nothing is unknown.
    document = json.loads(with_attached(*arns))
    document["Policies"] = [
        {
            "PolicyName": arn.rsplit("/", 1)[-1],
            "PolicyId": f"ANPA{n}",
            "Arn": arn,
            "Path": "/",
            "DefaultVersionId": "v1",
            "AttachmentCount": 1,
            "IsAttachable": True,
            "CreateDate": "2020-01-01T00:00:00+00:00",
            "UpdateDate": "2020-01-01T00:00:00+00:00",
            "PolicyVersionList": [
                {
                    "Document": ALLOW_S3,
                    "VersionId": "v1",
                    "IsDefaultVersion": True,
                    "CreateDate": "2020-01-01T00:00:00+00:00",
                }
            ],
        }
        for n, arn in enumerate(arns)
    ]
    again = import_file(
        account=production, kind="authorization-details", data=json.dumps(document).encode()
    )
    assert "no_document" not in again.counts


@pytest.mark.parametrize(
    ("arn", "fixed"),
    [
        ("arn:aws:iam::aws:policy/AdministratorAccess", True),
        ("arn:aws-cn:iam::aws:policy/AdministratorAccess", True),
        ("arn:aws-us-gov:iam::aws:policy/AdministratorAccess", True),
        ("arn:aws:iam::aws:policy/job-function/AdministratorAccess", False),
        ("arn:aws:iam::111122223333:policy/AdministratorAccess", False),
        ("arn:aws:iam::aws:policy/AdministratorAccess-Amplify", False),
        ("AdministratorAccess", False),
    ],
)
def test_only_awss_own_administrator_access_has_a_fixed_document(arn, fixed):
    assert (fixed_aws_document(arn=arn) is not None) is fixed


# --- Output made with --filter -----------------------------------------------------------------

ALLOW_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}


def full_details() -> dict:
    """Every type: a user with an inline policy, a group, a role, one of the account's policies."""
    document = json.loads(gaad_file(ALLOW_S3))
    document["UserDetailList"][0]["UserPolicyList"] = [
        {"PolicyName": "own", "PolicyDocument": ALLOW_S3}
    ]
    document["GroupDetailList"] = [
        {
            "Path": "/",
            "GroupName": "ops",
            "GroupId": "AGPAOPS",
            "Arn": f"arn:aws:iam::{ACCOUNT}:group/ops",
            "CreateDate": "2021-01-01T00:00:00+00:00",
            "GroupPolicyList": [],
            "AttachedManagedPolicies": [],
        }
    ]
    document["Policies"] = [
        {
            "PolicyName": "deploy",
            "PolicyId": "ANPADEPLOY",
            "Arn": f"arn:aws:iam::{ACCOUNT}:policy/deploy",
            "Path": "/",
            "DefaultVersionId": "v1",
            "AttachmentCount": 0,
            "IsAttachable": True,
            "CreateDate": "2021-01-01T00:00:00+00:00",
            "UpdateDate": "2021-01-01T00:00:00+00:00",
            "PolicyVersionList": [
                {"Document": ALLOW_S3, "VersionId": "v1", "IsDefaultVersion": True}
            ],
        }
    ]
    return document


def import_details(account, document: dict, *, complete: bool = False):
    data = json.dumps(document).encode()
    return import_file(
        account=account,
        kind="authorization-details",
        data=data,
        filename="d.json",
        complete=complete,
    )


def current(model, account) -> list[str]:
    return sorted(model.objects.filter(account=account, gone_at=None).values_list("arn", flat=True))


def test_a_file_made_with_filter_leaves_the_types_it_does_not_list_as_they_were(production):
    from findings.collection.status import counts_summary
    from findings.models import IamGroup, ManagedPolicy

    import_details(production, full_details())
    user_attachments = PolicyAttachment.objects.filter(principal_type="user", gone_at=None)
    assert user_attachments.count() == 1
    # `aws iam get-account-authorization-details --filter Role`: the role list alone, and the
    # role since renamed (the old one deleted).
    roles_only = {"RoleDetailList": full_details()["RoleDetailList"]}
    roles_only["RoleDetailList"][0]["RoleName"] = "batch"
    roles_only["RoleDetailList"][0]["Arn"] = f"arn:aws:iam::{ACCOUNT}:role/batch"
    run = import_details(production, roles_only)

    assert run.status == CollectionRun.Status.SUCCEEDED
    assert current(IamUser, production) == [f"arn:aws:iam::{ACCOUNT}:user/alice"]
    assert current(IamGroup, production) == [f"arn:aws:iam::{ACCOUNT}:group/ops"]
    kept = ManagedPolicy.objects.filter(account=production, gone_at=None)
    assert list(kept.values_list("name", flat=True)) == ["deploy"]
    assert user_attachments.count() == 1  # the user's inline policy is not read as detached
    # The type it lists still shows what was deleted.
    assert current(IamRole, production) == [f"arn:aws:iam::{ACCOUNT}:role/batch"]
    assert PolicyAttachment.objects.get(
        principal_arn=f"arn:aws:iam::{ACCOUNT}:role/legacy-batch", kind="inline"
    ).gone_at
    assert run.counts["not_in_file"] == ["users", "groups", "policies"]
    assert "users" not in run.counts and run.counts["roles"] == 1
    assert counts_summary(counts=run.counts).endswith(
        "no users, groups and policies in the file: the stored ones kept as they were (to "
        "record that none are left, import it as a complete snapshot)"
    )


def test_filtered_output_with_empty_lists_keeps_the_other_types(production):
    """`--filter Role` output may hold the other types' lists empty (moto's does): read as
    "none left", it marked every user, group and policy gone and resolved their findings."""
    from findings.models import IamGroup, ManagedPolicy

    import_details(production, full_details())
    roles_only = full_details() | {"UserDetailList": [], "GroupDetailList": [], "Policies": []}
    run = import_details(production, roles_only)

    assert current(IamUser, production) == [f"arn:aws:iam::{ACCOUNT}:user/alice"]
    assert current(IamGroup, production) == [f"arn:aws:iam::{ACCOUNT}:group/ops"]
    assert ManagedPolicy.objects.filter(account=production, gone_at=None).count() == 1
    assert run.counts["not_in_file"] == ["users", "groups", "policies"]
    assert PolicyAttachment.objects.filter(principal_type="user", gone_at=None).count() == 1


def test_a_complete_snapshot_with_an_empty_list_means_none_are_left(production):
    from findings.models import IamGroup, ManagedPolicy

    import_details(production, full_details())
    emptied = full_details() | {"GroupDetailList": [], "Policies": []}
    run = import_details(production, emptied, complete=True)

    assert current(IamGroup, production) == []
    assert not ManagedPolicy.objects.filter(account=production, gone_at=None).exists()
    assert "not_in_file" not in run.counts and run.counts["groups"] == 0
    assert current(IamUser, production) == [f"arn:aws:iam::{ACCOUNT}:user/alice"]
    entry = AuditEntry.objects.filter(action="evidence.imported").latest("pk")
    assert entry.after["complete"] is True


def test_a_type_with_nothing_stored_is_not_named_as_kept(production):
    import_details(production, full_details() | {"GroupDetailList": []}, complete=True)
    run = import_details(production, full_details() | {"GroupDetailList": []})

    assert "not_in_file" not in run.counts


def test_aws_managed_policies_only_keep_this_accounts_own(production):
    """`--filter AWSManagedPolicy`: AWS's policies alone. This account's own are not in it,
    not deleted; and an AWS policy's new version reaches the principals it is attached to."""
    from findings.models import ManagedPolicy

    read_only = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    document = full_details()
    document["RoleDetailList"][0]["AttachedManagedPolicies"] = [
        {"PolicyName": "ReadOnlyAccess", "PolicyArn": read_only}
    ]
    aws_policy = {
        "PolicyName": "ReadOnlyAccess",
        "PolicyId": "ANPAREADONLY",
        "Arn": read_only,
        "Path": "/",
        "DefaultVersionId": "v1",
        "AttachmentCount": 1,
        "IsAttachable": True,
        "CreateDate": "2015-02-06T18:39:48+00:00",
        "UpdateDate": "2015-02-06T18:39:48+00:00",
        "PolicyVersionList": [{"Document": ALLOW_S3, "VersionId": "v1", "IsDefaultVersion": True}],
    }
    document["Policies"].append(aws_policy)
    import_details(production, document)
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]}
    aws_policy |= {
        "DefaultVersionId": "v2",
        "PolicyVersionList": [{"Document": admin, "VersionId": "v2", "IsDefaultVersion": True}],
    }
    aws_only = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": []}
    run = import_details(production, aws_only | {"Policies": [aws_policy]})

    own = ManagedPolicy.objects.filter(account=production, gone_at=None)
    assert list(own.values_list("name", flat=True)) == ["deploy"]
    assert run.counts["not_in_file"] == ["users", "groups", "roles", "policies"]
    attached = PolicyAttachment.objects.get(policy_ref=read_only, gone_at=None)
    assert attached.document.document == admin


def test_a_null_list_counts_as_not_in_the_file(production):
    from findings.models import IamGroup

    import_details(production, full_details())
    run = import_details(production, full_details() | {"GroupDetailList": None})

    assert current(IamGroup, production) == [f"arn:aws:iam::{ACCOUNT}:group/ops"]
    assert run.counts["not_in_file"] == ["groups"]


def test_a_policies_only_file_gives_their_attachments_the_new_version(production):
    """`--filter LocalManagedPolicy`: the principals are not listed, but a policy's new default
    version must reach those it is attached to (detection reads the attachments), with the old
    version kept as history, as a full import would."""
    from findings.models import ManagedPolicy

    deploy = f"arn:aws:iam::{ACCOUNT}:policy/deploy"
    document = full_details()
    document["UserDetailList"][0]["AttachedManagedPolicies"] = [
        {"PolicyName": "deploy", "PolicyArn": deploy}
    ]
    import_details(production, document)
    inline_before = PolicyAttachment.objects.get(principal_type="user", kind="inline")
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]}
    policies = {"Policies": document["Policies"]}
    policies["Policies"][0]["DefaultVersionId"] = "v2"
    policies["Policies"][0]["PolicyVersionList"] = [
        {"Document": admin, "VersionId": "v2", "IsDefaultVersion": True}
    ]
    run = import_details(production, policies)

    assert ManagedPolicy.objects.get(arn=deploy).document.document == admin
    managed = PolicyAttachment.objects.filter(policy_ref=deploy, kind="managed").order_by("pk")
    assert [a.document.document for a in managed if a.gone_at is None] == [admin]
    assert [a.document.document for a in managed if a.gone_at] == [ALLOW_S3]
    # The user's other attachments are carried over untouched (not rewritten).
    inline_after = PolicyAttachment.objects.get(principal_type="user", kind="inline")
    assert inline_after.pk == inline_before.pk and inline_after.gone_at is None
    assert run.counts["attachments_created"] == 1 and run.counts["attachments_gone"] == 1

    # The same file again: nothing changes.
    again = import_details(production, policies)
    assert again.counts.get("attachments_created", 0) == 0
    assert again.counts.get("attachments_gone", 0) == 0


def test_a_users_only_file_does_not_redate_the_roles_last_use(production):
    """Roles last read 70 days ago, a role used 100 days ago: not unused as of that read. A
    later `--filter User` file keeps the roles as stored; the role was judged as of that file,
    today, and reported unused."""
    import_details(production, full_details())
    now = timezone.now()
    long_ago = now - timedelta(days=70)
    CollectionRun.objects.filter(account=production).update(
        finished_at=long_ago, started_at=long_ago
    )
    IamRole.objects.filter(account=production).update(
        last_used_at=now - timedelta(days=100), create_date=now - timedelta(days=400)
    )
    detect_account(account=production)
    assert not Finding.objects.filter(
        account=production, check_id="role-unused", status="open"
    ).exists()

    users_only = full_details() | {"RoleDetailList": [], "GroupDetailList": [], "Policies": []}
    run = import_details(production, users_only)

    assert "roles" in run.counts["not_in_file"]
    assert not Finding.objects.filter(
        account=production, check_id="role-unused", status="open"
    ).exists()
    # Three weeks of daily users-only files: the roles' read is beyond the runs looked at; it
    # is at least as old as the oldest of them, not today.
    for _ in range(21):
        import_details(production, users_only)
    assert not Finding.objects.filter(
        account=production, check_id="role-unused", status="open"
    ).exists()


# --- AWS-managed policies: one copy for every account, never taken back by an old file ---------

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
SANDBOX = "444455556666"


def with_read_only(account_id: str, version: str, updated: str, actions: list[str]) -> dict:
    """Output made without --filter: alice has ReadOnlyAccess, and the file lists AWS's
    ReadOnlyAccess as it was when the file was made."""
    document = json.loads(gaad_file(ALLOW_S3).replace(ACCOUNT.encode(), account_id.encode()))
    document["UserDetailList"][0]["AttachedManagedPolicies"] = [
        {"PolicyName": "ReadOnlyAccess", "PolicyArn": READ_ONLY}
    ]
    document["Policies"] = [
        {
            "PolicyName": "ReadOnlyAccess",
            "PolicyId": "ANPAILL3HVNFSB6DCOWYQ",
            "Arn": READ_ONLY,
            "Path": "/",
            "DefaultVersionId": version,
            "AttachmentCount": 1,
            "IsAttachable": True,
            "CreateDate": "2015-02-06T18:39:48+00:00",
            "UpdateDate": updated,
            "PolicyVersionList": [
                {
                    "Document": allow(*actions),
                    "VersionId": version,
                    "IsDefaultVersion": True,
                    "CreateDate": updated,
                }
            ],
        }
    ]
    return document


def allow(*actions: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }


def stored_read_only() -> tuple[str, dict]:
    from findings.models import ManagedPolicy

    policy = ManagedPolicy.objects.get(arn=READ_ONLY)
    return policy.default_version_id, policy.document.document


def test_an_old_export_does_not_take_aws_managed_policies_back_for_every_account(production):
    """AWS's ReadOnlyAccess is stored once, for every account: a sandbox's 2024 export wrote
    its v90 over the v130 read since, and every account was judged against it."""
    sandbox = add_account(account_id=SANDBOX, name="Sandbox")
    today = allow("s3:Get*", "bedrock:Get*")
    import_details(
        production,
        with_read_only(ACCOUNT, "v130", "2026-10-01T00:00:00+00:00", ["s3:Get*", "bedrock:Get*"]),
    )

    run = import_details(
        sandbox, with_read_only(SANDBOX, "v90", "2024-01-01T00:00:00+00:00", ["s3:Get*"])
    )

    assert run.status == CollectionRun.Status.SUCCEEDED
    assert stored_read_only() == ("v130", today)
    # The sandbox's alice is judged against it too, as every account's principals are.
    attached = PolicyAttachment.objects.get(account=sandbox, policy_ref=READ_ONLY, gone_at=None)
    assert attached.document.document == today
    assert run.counts["aws_managed_older"] == [READ_ONLY]
    assert counts_summary(counts=run.counts).endswith(
        "1 AWS-managed policy in the file (ReadOnlyAccess) is older than the stored version, "
        "which every account is judged against: it was not stored"
    )


@pytest.mark.parametrize(
    ("stored", "in_file", "taken"),
    [
        (("v7", "2024-01-01"), ("v12", "2024-06-01"), True),  # v12 is after v7, not before
        (("v12", "2024-06-01"), ("v7", "2024-01-01"), False),
        (("v12", "2024-06-01"), ("v12", "2024-06-01"), False),  # the same version: no write
        (("", "2024-01-01"), ("", "2024-06-01"), True),  # no version ids: the later update
        (("", "2024-06-01"), ("", "2024-01-01"), False),
    ],
)
def test_a_file_replaces_a_stored_aws_managed_policy_only_with_a_later_version(
    production, stored, in_file, taken
):
    from findings.models import ManagedPolicy

    (stored_version, stored_date), (file_version, file_date) = stored, in_file
    import_details(
        production, with_read_only(ACCOUNT, stored_version, f"{stored_date}T00:00:00Z", ["a:A"])
    )
    before = ManagedPolicy.objects.get(arn=READ_ONLY)

    run = import_details(
        production, with_read_only(ACCOUNT, file_version, f"{file_date}T00:00:00Z", ["b:B"])
    )

    after = ManagedPolicy.objects.get(arn=READ_ONLY)
    assert after.document.document == allow("b:B" if taken else "a:A")
    assert (after.changed_at != before.changed_at) is taken
    assert ("aws_managed_older" in run.counts) is (not taken and stored != in_file)


def withdrawn_read_only(production) -> datetime:
    """ReadOnlyAccess v130 is stored, then a complete download no longer lists it."""
    from findings.models import ManagedPolicy

    import_details(
        production,
        with_read_only(ACCOUNT, "v130", "2026-10-01T00:00:00+00:00", ["s3:Get*", "bedrock:Get*"]),
    )
    withdrawn_at = timezone.now()
    ManagedPolicy.objects.filter(arn=READ_ONLY).update(
        gone_at=withdrawn_at, last_seen_at=withdrawn_at - timedelta(days=1)
    )
    return withdrawn_at


def test_an_old_export_does_not_bring_a_withdrawn_aws_managed_policy_back(production):
    """A policy a download marked withdrawn counted as not stored: a 2024 export wrote its v90
    over the v130 and took it back as current."""
    from findings.models import ManagedPolicy

    withdrawn_at = withdrawn_read_only(production)
    sandbox = add_account(account_id=SANDBOX, name="Sandbox")

    run = import_details(
        sandbox, with_read_only(SANDBOX, "v90", "2024-01-01T00:00:00+00:00", ["s3:Get*"])
    )

    assert run.status == CollectionRun.Status.SUCCEEDED
    assert stored_read_only() == ("v130", allow("s3:Get*", "bedrock:Get*"))
    policy = ManagedPolicy.objects.get(arn=READ_ONLY)
    assert policy.gone_at == withdrawn_at  # a file says nothing of AWS listing it again
    assert run.counts["aws_managed_older"] == [READ_ONLY]
    attached = PolicyAttachment.objects.get(account=sandbox, policy_ref=READ_ONLY, gone_at=None)
    assert attached.document.document == allow("s3:Get*", "bedrock:Get*")


def test_a_later_version_of_a_withdrawn_aws_managed_policy_is_stored_and_stays_withdrawn(
    production,
):
    from findings.models import ManagedPolicy

    withdrawn_at = withdrawn_read_only(production)
    last_seen_at = ManagedPolicy.objects.get(arn=READ_ONLY).last_seen_at

    import_details(
        production, with_read_only(ACCOUNT, "v131", "2026-10-15T00:00:00+00:00", ["s3:Get*"])
    )

    assert stored_read_only() == ("v131", allow("s3:Get*"))
    policy = ManagedPolicy.objects.get(arn=READ_ONLY)
    assert (policy.gone_at, policy.last_seen_at) == (withdrawn_at, last_seen_at)
    # The same file again writes nothing.
    changed_at = policy.changed_at
    import_details(
        production, with_read_only(ACCOUNT, "v131", "2026-10-15T00:00:00+00:00", ["s3:Get*"])
    )
    assert ManagedPolicy.objects.get(arn=READ_ONLY).changed_at == changed_at


def test_an_aws_managed_policy_only_a_file_holds_is_stored_but_still_read_from_aws(production):
    """A policy the store lacks is taken from a file, which may be old, so it does not count as
    read from AWS: the next live collection downloads AWS's (an import marked the file's copy
    freshly read, and no account's collection asked AWS for a day)."""
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        hub = add_account(account_id=MOTO_ACCOUNT, name="Hub")  # iamreview's own credentials
        iam = boto3.client("iam")
        iam.create_user(UserName="alice")
        iam.attach_user_policy(UserName="alice", PolicyArn=READ_ONLY)
        old = allow("s3:Get*")
        import_details(hub, with_read_only(MOTO_ACCOUNT, "v1", "2016-01-01T00:00:00Z", ["s3:Get*"]))
        assert stored_read_only() == ("v1", old)

        run = run_collection(
            run=claim_run(
                account=hub,
                source=Source.AUTHORIZATION_DETAILS,
                trigger=CollectionRun.Trigger.MANUAL,
            )
        )

    assert run.status == CollectionRun.Status.SUCCEEDED, run.error
    version, document = stored_read_only()
    assert version != "v1" and document != old
    assert run.counts["aws_managed_policies"] > 1000
    attached = PolicyAttachment.objects.get(account=hub, policy_ref=READ_ONLY, gone_at=None)
    assert attached.document.document == document
