"""AWS-managed policies are downloaded once a day for all accounts, and every account keeps
their documents: the second account collected within the day must see AdministratorAccess as
admin, and must not download them again, whichever of them it uses."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from moto import mock_aws

from findings.collection.collectors import run_collection
from findings.collection.registry import add_account
from findings.collection.runs import claim_run
from findings.collection.status import counts_summary
from findings.detection.detect import detect_account
from findings.models import (
    AwsManagedPolicyDownload,
    CollectionRun,
    Finding,
    ManagedPolicy,
    PolicyAttachment,
    Source,
)
from tests.findings.collection.test_collectors import (  # noqa: F401
    iam_in,
    organization,
    stubbed_boto3_clients,
)

pytestmark = pytest.mark.django_db

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
POWER_USER = "arn:aws:iam::aws:policy/PowerUserAccess"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:*"}
    ],
}


def give_roles_aws_managed_policies(iam) -> None:
    """An admin role through AdministratorAccess only (nothing inline that looks like it), a
    reader, and a role whose permissions boundary is an AWS-managed policy."""
    trust = json.dumps(TRUST)
    iam.create_role(RoleName="platform-admin", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="platform-admin", PolicyArn=ADMIN)
    iam.create_role(RoleName="auditor", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="auditor", PolicyArn=READ_ONLY)
    iam.create_role(
        RoleName="bounded-builder", AssumeRolePolicyDocument=trust, PermissionsBoundary=POWER_USER
    )


def collect(account) -> CollectionRun:
    run = claim_run(
        account=account, source=Source.AUTHORIZATION_DETAILS, trigger=CollectionRun.Trigger.MANUAL
    )
    return run_collection(run=run)


def row_versions(table: str) -> dict[int, str]:
    """Each row's xmin: the transaction that last wrote it. Any UPDATE changes it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, xmin::text FROM {table}")  # noqa: S608 - fixed names
        return dict(cursor.fetchall())


def attachment_versions() -> dict[int, str]:
    return row_versions("findings_policyattachment")


@pytest.fixture
def two_accounts_with_aws_managed_policies():
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        ids = organization(2)
        for account_id in ids:
            give_roles_aws_managed_policies(iam_in(account_id))
        yield [
            add_account(
                account_id=account_id,
                name=f"member-{account_id}",
                role_arn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
            )
            for account_id in ids
        ]


def test_every_account_collected_within_the_day_keeps_aws_managed_documents(
    two_accounts_with_aws_managed_policies,
):
    first, second = two_accounts_with_aws_managed_policies
    assert collect(first).status == "succeeded"
    assert {ADMIN, READ_ONLY, POWER_USER} <= set(
        ManagedPolicy.objects.values_list("arn", flat=True)
    )
    download = AwsManagedPolicyDownload.objects.get()
    policies = row_versions("findings_managedpolicy")

    run = collect(second)

    assert run.status == "succeeded", run.error
    # The second account did not read AWS's policies again: they were fresh from the first.
    assert "aws_managed_policies" not in run.counts
    assert download.downloaded_at == AwsManagedPolicyDownload.objects.get().downloaded_at
    assert row_versions("findings_managedpolicy") == policies
    for account in (first, second):
        aws_managed = PolicyAttachment.objects.filter(
            account=account, policy_ref__startswith="arn:aws:iam::aws:policy/"
        )
        by_kind = {(a.principal_arn.rsplit("/", 1)[-1], a.kind): a for a in aws_managed}
        assert set(by_kind) == {
            ("platform-admin", "managed"),
            ("auditor", "managed"),
            ("bounded-builder", "boundary"),
        }
        for (_, _), attachment in by_kind.items():
            stored = ManagedPolicy.objects.get(arn=attachment.policy_ref)
            assert attachment.document_id == stored.document_id is not None
            assert attachment.document_sha256 == stored.document.sha256


def test_an_admin_through_administratoraccess_is_reported_in_every_account(
    two_accounts_with_aws_managed_policies,
):
    accounts = two_accounts_with_aws_managed_policies
    for account in accounts:
        assert collect(account).status == "succeeded"
    for account in accounts:
        detect_account(account=account)

    for account in accounts:
        admins = Finding.objects.filter(
            account=account, check_id="full-admin", status=Finding.Status.OPEN
        ).values_list("resource_key", flat=True)
        assert [key.rsplit("/", 1)[-1] for key in admins] == ["platform-admin"], account


def test_recollecting_both_accounts_unchanged_writes_no_attachment_row(
    two_accounts_with_aws_managed_policies,
):
    accounts = two_accounts_with_aws_managed_policies
    for account in accounts:
        collect(account)
    before = attachment_versions()
    assert len(before) >= 2 * 6  # three AWS-managed attachments and three trust policies each

    for account in accounts:
        run = collect(account)
        assert run.status == "succeeded"
        assert run.counts["attachments_created"] == run.counts["attachments_updated"] == 0

    assert attachment_versions() == before


# --- One download for every account (botocore Stubber: it fails any call it was not given) ------

ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
VIEW_ONLY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
WRITTEN = datetime(2024, 1, 1, tzinfo=UTC)


def user_with(account_id: str, *policy_arns: str) -> dict:
    return {
        "Path": "/",
        "UserName": "alice",
        "UserId": f"AIDA{account_id}",
        "Arn": f"arn:aws:iam::{account_id}:user/alice",
        "CreateDate": WRITTEN,
        "GroupList": [],
        "AttachedManagedPolicies": [
            {"PolicyName": arn.rsplit("/", 1)[1], "PolicyArn": arn} for arn in policy_arns
        ],
    }


def aws_policy(arn: str, action: str, *, version: int = 1, attachments: int = 1) -> dict:
    """A ManagedPolicyDetail as GAAD sends it: every version, the default one last here."""
    name = arn.rsplit("/", 1)[1]
    return {
        "PolicyName": name,
        "PolicyId": "ANPA" + name.upper()[:16].ljust(16, "X"),
        "Arn": arn,
        "Path": "/job-function/" if "job-function" in arn else "/",
        "DefaultVersionId": f"v{version}",
        "AttachmentCount": attachments,
        "IsAttachable": True,
        "CreateDate": WRITTEN,
        "UpdateDate": WRITTEN + timedelta(days=version),
        "PolicyVersionList": [
            {
                "Document": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": f"{action}{n}", "Resource": "*"}
                        ],
                    }
                ),
                "VersionId": f"v{n}",
                "IsDefaultVersion": n == version,
                "CreateDate": WRITTEN + timedelta(days=n),
            }
            for n in range(1, version + 1)
        ],
    }


ACCOUNT_CALL = {"Filter": ["User", "Role", "Group", "LocalManagedPolicy"], "MaxItems": 1000}
DOWNLOAD = {"Filter": ["AWSManagedPolicy"], "MaxItems": 100}


def answer_account(iam, *users: dict) -> None:
    iam.add_response(
        "get_account_authorization_details",
        {"UserDetailList": list(users), "IsTruncated": False},
        ACCOUNT_CALL,
    )


def answer_download(iam, *policies: dict) -> None:
    iam.add_response(
        "get_account_authorization_details",
        {"Policies": list(policies), "IsTruncated": False},
        DOWNLOAD,
    )


def by_hand(account_id: str, org) -> object:
    """An account added by hand, read with the collector's own credentials (the stubbed
    client), which asks DescribeOrganization once after storing."""
    org.add_client_error(
        "describe_organization", "AWSOrganizationsNotInUseException", "not in one", 400
    )
    return add_account(account_id=account_id, name=f"acct-{account_id}")


def document_of(arn: str) -> dict:
    return ManagedPolicy.objects.get(arn=arn).document.document


def test_one_download_of_aws_managed_policies_serves_every_account_for_a_day(
    stubbed_boto3_clients,  # noqa: F811
):
    """The download holds every AWS-managed policy: the next account, using another one than
    the first, finds it stored and fresh. It downloaded everything again (some 1,300 policies
    with their versions) for every account that used a policy the previous ones did not."""
    iam = stubbed_boto3_clients("iam")
    org = stubbed_boto3_clients("organizations")
    answer_account(iam, user_with(ACCOUNT_A, READ_ONLY))
    answer_download(iam, aws_policy(READ_ONLY, "s3:Get"), aws_policy(VIEW_ONLY, "s3:List"))
    answer_account(iam, user_with(ACCOUNT_B, VIEW_ONLY))  # and no second download
    a, b = by_hand(ACCOUNT_A, org), by_hand(ACCOUNT_B, org)

    first = collect(a)
    second = collect(b)

    iam.assert_no_pending_responses()
    assert (first.status, second.status) == ("succeeded", "succeeded"), second.error
    assert first.counts["aws_managed_policies"] == 2
    assert first.counts["api_pages"] == 2
    assert "aws_managed_policies" not in second.counts and second.counts["api_pages"] == 1
    assert ManagedPolicy.objects.filter(is_aws_managed=True, account=None).count() == 2
    attached = PolicyAttachment.objects.get(account=b, policy_ref=VIEW_ONLY)
    assert attached.document.document == document_of(VIEW_ONLY)
    assert document_of(VIEW_ONLY)["Statement"][0]["Action"] == "s3:List1"
    assert "no_document" not in second.counts


def test_a_day_later_they_are_downloaded_again_and_only_changed_policies_are_written(
    stubbed_boto3_clients,  # noqa: F811
):
    """An unchanged policy is not written again, although the account that downloads them
    now has them attached elsewhere (AttachmentCount is the count in the account read)."""
    iam = stubbed_boto3_clients("iam")
    org = stubbed_boto3_clients("organizations")
    answer_account(iam, user_with(ACCOUNT_A, READ_ONLY))
    answer_download(iam, aws_policy(READ_ONLY, "s3:Get"), aws_policy(VIEW_ONLY, "s3:List"))
    answer_account(iam, user_with(ACCOUNT_B, READ_ONLY, VIEW_ONLY))
    answer_download(
        iam,
        aws_policy(READ_ONLY, "s3:Get", version=2, attachments=7),
        aws_policy(VIEW_ONLY, "s3:List", attachments=3),
    )
    a, b = by_hand(ACCOUNT_A, org), by_hand(ACCOUNT_B, org)
    assert collect(a).status == "succeeded"
    before = row_versions("findings_managedpolicy")
    day_ago = datetime.now(UTC) - timedelta(hours=24, minutes=1)
    AwsManagedPolicyDownload.objects.update(downloaded_at=day_ago)

    run = collect(b)

    iam.assert_no_pending_responses()
    assert run.status == "succeeded", run.error
    assert run.counts["aws_managed_policies"] == 2
    assert run.counts["aws_managed_written"] == 1
    after = row_versions("findings_managedpolicy")
    changed = ManagedPolicy.objects.get(arn=READ_ONLY)
    assert [pk for pk in before if after[pk] != before[pk]] == [changed.pk]
    assert (changed.default_version_id, document_of(READ_ONLY)["Statement"][0]["Action"]) == (
        "v2",
        "s3:Get2",
    )
    assert AwsManagedPolicyDownload.objects.get().downloaded_at > day_ago


def test_an_account_using_no_aws_managed_policy_downloads_none(
    stubbed_boto3_clients,  # noqa: F811
):
    iam = stubbed_boto3_clients("iam")
    org = stubbed_boto3_clients("organizations")
    answer_account(iam, user_with(ACCOUNT_A))

    run = collect(by_hand(ACCOUNT_A, org))

    iam.assert_no_pending_responses()
    assert run.status == "succeeded", run.error
    assert not AwsManagedPolicyDownload.objects.exists()


# --- Policies AWS withdraws ----------------------------------------------------------------------


def downloaded_a_day_ago_with_view_only_attached(iam, org):
    """Account A uses ViewOnlyAccess; the day's download lists it with two others."""
    answer_account(iam, user_with(ACCOUNT_A, VIEW_ONLY))
    answer_download(
        iam,
        aws_policy(READ_ONLY, "s3:Get"),
        aws_policy(VIEW_ONLY, "s3:List"),
        aws_policy(POWER_USER, "ec2:"),
    )
    a = by_hand(ACCOUNT_A, org)
    assert collect(a).status == "succeeded"
    day_ago = datetime.now(UTC) - timedelta(hours=24, minutes=1)
    AwsManagedPolicyDownload.objects.update(downloaded_at=day_ago)
    return a, day_ago


def test_a_policy_aws_no_longer_lists_is_marked_gone_and_kept_for_who_still_has_it(
    stubbed_boto3_clients,  # noqa: F811
):
    """AWS withdraws managed policies now and then: they stayed current here for ever. A
    complete download that no longer lists one marks it gone (since when, and last seen by
    the previous download); the principals that still have it keep its document."""
    iam = stubbed_boto3_clients("iam")
    org = stubbed_boto3_clients("organizations")
    a, day_ago = downloaded_a_day_ago_with_view_only_attached(iam, org)
    answer_account(iam, user_with(ACCOUNT_B, READ_ONLY))
    answer_download(iam, aws_policy(READ_ONLY, "s3:Get"), aws_policy(POWER_USER, "ec2:"))

    run = collect(by_hand(ACCOUNT_B, org))

    iam.assert_no_pending_responses()
    assert run.status == "succeeded", run.error
    assert run.counts["aws_managed_withdrawn"] == 1
    assert counts_summary(counts=run.counts).endswith(
        "1 AWS-managed policy no longer listed by AWS (withdrawn): marked gone, its document "
        "kept for the principals that still have it"
    )
    withdrawn = ManagedPolicy.objects.get(arn=VIEW_ONLY)
    assert withdrawn.gone_at is not None and withdrawn.last_seen_at == day_ago
    assert set(
        ManagedPolicy.objects.filter(is_aws_managed=True, gone_at=None).values_list(
            "arn", flat=True
        )
    ) == {READ_ONLY, POWER_USER}
    attached = PolicyAttachment.objects.get(account=a, policy_ref=VIEW_ONLY)
    assert attached.gone_at is None and attached.document.document == document_of(VIEW_ONLY)

    # Listed again by a later download: current again.
    AwsManagedPolicyDownload.objects.update(downloaded_at=day_ago)
    answer_account(iam, user_with(ACCOUNT_A, VIEW_ONLY))
    answer_download(
        iam,
        aws_policy(READ_ONLY, "s3:Get"),
        aws_policy(VIEW_ONLY, "s3:List"),
        aws_policy(POWER_USER, "ec2:"),
    )
    assert collect(a).status == "succeeded"
    assert ManagedPolicy.objects.get(arn=VIEW_ONLY).gone_at is None


def test_a_download_that_fails_half_way_marks_nothing_gone(
    stubbed_boto3_clients,  # noqa: F811
):
    iam = stubbed_boto3_clients("iam")
    org = stubbed_boto3_clients("organizations")
    downloaded_a_day_ago_with_view_only_attached(iam, org)
    answer_account(iam, user_with(ACCOUNT_B, READ_ONLY))
    iam.add_response(
        "get_account_authorization_details",
        {"Policies": [aws_policy(READ_ONLY, "s3:Get")], "IsTruncated": True, "Marker": "page-2"},
        DOWNLOAD,
    )
    iam.add_client_error(
        "get_account_authorization_details",
        "Throttling",
        "Rate exceeded",
        400,
        expected_params={**DOWNLOAD, "Marker": "page-2"},
    )

    run = collect(by_hand(ACCOUNT_B, org))

    iam.assert_no_pending_responses()
    assert run.status == "failed"
    assert not ManagedPolicy.objects.exclude(gone_at=None).exists()


def test_a_download_listing_far_fewer_policies_than_stored_marks_nothing_gone(
    stubbed_boto3_clients,  # noqa: F811
):
    """AWS withdraws a few at a time: a download listing one of three says more about the
    download than about AWS."""
    iam = stubbed_boto3_clients("iam")
    org = stubbed_boto3_clients("organizations")
    downloaded_a_day_ago_with_view_only_attached(iam, org)
    answer_account(iam, user_with(ACCOUNT_B, READ_ONLY))
    answer_download(iam, aws_policy(READ_ONLY, "s3:Get"))

    run = collect(by_hand(ACCOUNT_B, org))

    assert run.status == "succeeded", run.error
    assert "aws_managed_withdrawn" not in run.counts
    assert not ManagedPolicy.objects.exclude(gone_at=None).exists()
