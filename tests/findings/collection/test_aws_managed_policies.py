"""AWS-managed policies are read once a day for all accounts, and every account keeps their
documents: the second account collected within the day must see AdministratorAccess as admin."""

import json

import pytest
from django.db import connection
from moto import mock_aws

from findings.collection.collectors import run_collection
from findings.collection.registry import add_account
from findings.collection.runs import claim_run
from findings.detection.detect import detect_account
from findings.models import CollectionRun, Finding, ManagedPolicy, PolicyAttachment, Source
from tests.findings.collection.test_collectors import iam_in, organization

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


def attachment_versions() -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text FROM findings_policyattachment")
        return dict(cursor.fetchall())


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
    checked_at = dict(ManagedPolicy.objects.values_list("arn", "checked_at"))
    assert {ADMIN, READ_ONLY, POWER_USER} <= set(checked_at)

    run = collect(second)

    assert run.status == "succeeded", run.error
    # The second account did not read AWS's policies again: they were fresh from the first.
    assert dict(ManagedPolicy.objects.values_list("arn", "checked_at")) == checked_at
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
