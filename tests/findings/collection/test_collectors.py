"""Collection: AWS (moto for IAM, STS and Organizations; Stubber for the rest) into Postgres."""

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection, transaction
from django.urls import reverse
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count
from moto.iam.models import AccessKeyLastUsed, iam_backends

from findings.aws.access_analyzer import fetch_access_analyzer
from findings.aws.authorization_details import fetch_authorization_details
from findings.aws.service_last_accessed import fetch_service_last_accessed
from findings.aws.session import client
from findings.collection.collectors import run_collection
from findings.collection.registry import add_account
from findings.collection.runs import claim_run
from findings.collection.store import (
    store_access_analyzer,
    store_authorization_details,
    store_service_last_accessed,
)
from findings.models import (
    AccessAnalyzerFinding,
    Analyzer,
    AwsAccount,
    CollectionRun,
    CredentialReport,
    CredentialReportEntry,
    Finding,
    FindingRecommendation,
    IamGroup,
    IamRole,
    IamUser,
    ManagedPolicy,
    PolicyAttachment,
    ServiceLastAccessed,
    Source,
)

pytestmark = pytest.mark.django_db

HUB = "123456789012"  # moto's default account: the collector's own credentials act here
MOTO_GENERATED_TIME = datetime(2015, 2, 2, 20, 2, 2, tzinfo=UTC)
TRUST_EC2 = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
TRUST_HUB = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{HUB}:root"}, "Action": "sts:*"}
    ],
}


def allow(*actions: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def aws():
    with mock_aws():
        yield


def organization(size: int = 3) -> list[str]:
    """A moto organization run from the hub account, with `size` member accounts."""
    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    return [
        org.create_account(Email=f"member{i}@example.com", AccountName=f"member-{i}")[
            "CreateAccountStatus"
        ]["AccountId"]
        for i in range(size)
    ]


def iam_in(account_id: str):
    """An IAM client acting in a member account, to set the scene (not the code under test)."""
    if account_id == HUB:
        return boto3.client("iam")
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName="test-setup",
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    ).client("iam")


def register(account_id: str, *, own_credentials: bool = False, **extra):
    role_arn = "" if own_credentials else f"arn:aws:iam::{account_id}:role/IAMReviewReadOnly"
    return add_account(account_id=account_id, name=f"acct-{account_id}", role_arn=role_arn, **extra)


def collect(account, source: str, **kwargs) -> CollectionRun:
    run = claim_run(account=account, source=source, trigger=CollectionRun.Trigger.MANUAL)
    return run_collection(run=run, **kwargs)


def stored(model, account, **filters) -> list[dict]:
    return list(model.objects.filter(account=account, **filters).order_by("pk").values())


# --- Credential report (moto) -------------------------------------------------------------------


def test_credential_report_of_every_account_is_collected_through_assume_role(aws):
    members = organization(3)
    for index, account_id in enumerate(members):
        iam = iam_in(account_id)
        for name in (f"alice-{index}", f"bob-{index}"):
            iam.create_user(UserName=name)
        iam.generate_credential_report()  # ready, so that no test waits for it
    accounts = [register(account_id) for account_id in members]

    runs = [collect(account, Source.CREDENTIAL_REPORT) for account in accounts]

    assert [run.status for run in runs] == ["succeeded"] * 3
    for index, (account, run) in enumerate(zip(accounts, runs, strict=True)):
        users = set(
            CredentialReportEntry.objects.filter(account=account).values_list("user", flat=True)
        )
        assert users == {f"alice-{index}", f"bob-{index}"}
        assert run.counts["rows"] == 2
        # AWS's GeneratedTime is what users must see, on the run and on the kept report.
        assert run.data_generated_at == MOTO_GENERATED_TIME
        report = CredentialReport.objects.get(account=account)
        assert report.generated_at == MOTO_GENERATED_TIME
        raw = iam_in(account.account_id).get_credential_report()["Content"]
        assert bytes(report.content) == raw
        assert report.row_count == 2


def test_credential_report_values_and_moto_special_tokens_are_stored(aws):
    iam = iam_in(HUB)
    iam.create_user(UserName="console-user")
    iam.create_login_profile(UserName="console-user", Password="Correct-horse-9!")
    iam.create_user(UserName="never-logged-in")
    iam.create_login_profile(UserName="never-logged-in", Password="Correct-horse-9!")
    iam.create_user(UserName="ci")
    key_id = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    backend = iam_backends[HUB]["aws"]
    backend.users["console-user"].password_last_used = utc(2026, 10, 1, 8, 0)
    backend.access_keys[key_id].last_used = AccessKeyLastUsed(
        timestamp=utc(2026, 10, 2, 9, 30), service="s3", region="eu-west-1"
    )
    iam.generate_credential_report()
    account = register(HUB, own_credentials=True)

    run = collect(account, Source.CREDENTIAL_REPORT)

    assert run.status == "succeeded", run.error
    entries = {e.user: e for e in CredentialReportEntry.objects.filter(account=account)}
    assert entries["console-user"].password_enabled is True
    assert entries["console-user"].password_last_used == utc(2026, 10, 1, 8, 0)
    assert entries["never-logged-in"].password_last_used is None
    assert entries["never-logged-in"].password_last_used_reason == "no_information"
    ci = entries["ci"]
    assert ci.password_enabled is False
    # moto writes not_supported where AWS writes N/A: kept as the reason, never as a date.
    assert (ci.password_last_used, ci.password_last_used_reason) == (None, "not_supported")
    assert ci.access_key_1_active is True
    assert ci.access_key_1_last_used_date == utc(2026, 10, 2, 9, 30)
    assert ci.access_key_1_last_used_region == ""
    assert (ci.access_key_2_last_used_date, ci.access_key_2_last_used_date_reason) == (None, "N/A")


# --- Users, groups, roles and policies (moto) ---------------------------------------------------


def build_iam_estate(iam) -> dict:
    """A user in a group, roles with inline, managed, trust and boundary policies."""
    boundary = iam.create_policy(PolicyName="boundary", PolicyDocument=json.dumps(allow("s3:*")))
    deploy = iam.create_policy(
        PolicyName="deploy", Path="/app/", PolicyDocument=json.dumps(allow("cloudformation:*"))
    )
    iam.create_group(GroupName="developers")
    iam.put_group_policy(
        GroupName="developers",
        PolicyName="read-logs",
        PolicyDocument=json.dumps(allow("logs:Get*")),
    )
    iam.create_user(UserName="alice", Tags=[{"Key": "team", "Value": "payments"}])
    iam.add_user_to_group(GroupName="developers", UserName="alice")
    iam.attach_user_policy(UserName="alice", PolicyArn=deploy["Policy"]["Arn"])
    iam.put_user_policy(
        UserName="alice", PolicyName="own-bucket", PolicyDocument=json.dumps(allow("s3:GetObject"))
    )
    iam.create_role(
        RoleName="app",
        AssumeRolePolicyDocument=json.dumps(TRUST_EC2),
        PermissionsBoundary=boundary["Policy"]["Arn"],
        Tags=[{"Key": "owner", "Value": "payments"}],
    )
    iam.attach_role_policy(RoleName="app", PolicyArn=deploy["Policy"]["Arn"])
    iam.put_role_policy(
        RoleName="app", PolicyName="queue", PolicyDocument=json.dumps(allow("sqs:SendMessage"))
    )
    iam.create_instance_profile(InstanceProfileName="app-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="app-profile", RoleName="app")
    iam.create_role(RoleName="forgotten", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    return {"deploy": deploy["Policy"]["Arn"], "boundary": boundary["Policy"]["Arn"]}


def test_authorization_details_store_users_groups_roles_policies_and_attachments(aws):
    iam = iam_in(HUB)
    arns = build_iam_estate(iam)
    account = register(HUB, own_credentials=True)

    run = collect(account, Source.AUTHORIZATION_DETAILS)

    assert run.status == "succeeded", run.error
    assert run.counts["users"] == 1 and run.counts["roles"] == 2 and run.counts["groups"] == 1
    alice = IamUser.objects.get(account=account, name="alice")
    assert alice.arn == f"arn:aws:iam::{HUB}:user/alice"
    assert alice.groups == ["developers"]
    assert alice.tags == {"team": "payments"}
    assert IamGroup.objects.get(account=account).name == "developers"
    app = IamRole.objects.get(account=account, name="app")
    assert app.trust_policy == TRUST_EC2
    assert app.permissions_boundary_arn == arns["boundary"]
    assert app.tags == {"owner": "payments"}
    assert app.instance_profile_arns == [f"arn:aws:iam::{HUB}:instance-profile/app-profile"]
    deploy = ManagedPolicy.objects.get(arn=arns["deploy"])
    assert deploy.account == account and not deploy.is_aws_managed
    assert deploy.document.document == allow("cloudformation:*")

    attachments = {
        (a.principal_arn.rsplit("/", 1)[-1], a.kind, a.policy_name): a.document.document
        for a in PolicyAttachment.objects.filter(account=account).select_related("document")
    }
    assert attachments == {
        ("developers", "inline", "read-logs"): allow("logs:Get*"),
        ("alice", "managed", "deploy"): allow("cloudformation:*"),
        ("alice", "inline", "own-bucket"): allow("s3:GetObject"),
        ("app", "managed", "deploy"): allow("cloudformation:*"),
        ("app", "inline", "queue"): allow("sqs:SendMessage"),
        ("app", "boundary", "boundary"): allow("s3:*"),
        ("app", "trust", "Trust policy"): TRUST_EC2,
        ("forgotten", "trust", "Trust policy"): TRUST_EC2,
    }


def test_role_last_used_is_stored_and_an_unused_role_has_no_date(aws):
    iam = iam_in(HUB)
    build_iam_estate(iam)
    role = iam_backends[HUB]["aws"].get_role("app")
    role.last_used = utc(2026, 11, 20, 7, 45)
    role.last_used_region = "eu-central-1"
    account = register(HUB, own_credentials=True)

    collect(account, Source.AUTHORIZATION_DETAILS)

    app = IamRole.objects.get(account=account, name="app")
    assert app.last_used_at == utc(2026, 11, 20, 7, 45)
    assert app.last_used_region == "eu-central-1"
    # Not used within AWS's tracking window: NULL, which does not mean "never used".
    forgotten = IamRole.objects.get(account=account, name="forgotten")
    assert forgotten.last_used_at is None
    assert forgotten.last_used_region == ""


def test_a_changed_policy_document_is_a_new_attachment_and_the_old_one_goes(aws):
    iam = iam_in(HUB)
    arns = build_iam_estate(iam)
    account = register(HUB, own_credentials=True)
    first = collect(account, Source.AUTHORIZATION_DETAILS)

    iam.put_role_policy(
        RoleName="app", PolicyName="queue", PolicyDocument=json.dumps(allow("sqs:*"))
    )
    iam.create_policy_version(
        PolicyArn=arns["deploy"],
        PolicyDocument=json.dumps(allow("cloudformation:Describe*")),
        SetAsDefault=True,
    )
    second = collect(account, Source.AUTHORIZATION_DETAILS)

    app_arn = f"arn:aws:iam::{HUB}:role/app"
    queue = PolicyAttachment.objects.filter(principal_arn=app_arn, policy_ref="queue").order_by(
        "pk"
    )
    assert [(a.document.document, a.gone_at is None) for a in queue] == [
        (allow("sqs:SendMessage"), False),
        (allow("sqs:*"), True),
    ]
    old, new = queue
    assert old.gone_at == new.first_seen_at
    assert old.last_seen_at == first.finished_at
    # A new managed policy version is a new attachment on every principal that uses it.
    deploy_rows = PolicyAttachment.objects.filter(policy_ref=arns["deploy"], gone_at=None)
    assert {a.document.document["Statement"][0]["Action"][0] for a in deploy_rows} == {
        "cloudformation:Describe*"
    }
    assert deploy_rows.count() == 2
    assert second.counts["attachments_created"] == 3
    assert second.counts["attachments_gone"] == 3
    # The unchanged attachments were not touched.
    assert second.counts["attachments_unchanged"] == 5


def test_service_linked_and_sso_roles_are_flagged(aws):
    iam = iam_in(HUB)
    iam.create_service_linked_role(AWSServiceName="elasticbeanstalk.amazonaws.com")
    iam.create_role(
        RoleName="AWSReservedSSO_AdministratorAccess_0123456789abcdef",
        Path="/aws-reserved/sso.amazonaws.com/",
        AssumeRolePolicyDocument=json.dumps(TRUST_HUB),
    )
    iam.create_role(RoleName="plain", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    # A customer's own role merely named like Identity Center's is reviewed like any other.
    iam.create_role(
        RoleName="AWSReservedSSO_Lookalike_0123", AssumeRolePolicyDocument=json.dumps(TRUST_EC2)
    )
    account = register(HUB, own_credentials=True)

    collect(account, Source.AUTHORIZATION_DETAILS)

    flags = {
        role.name: (role.is_service_linked, role.is_sso)
        for role in IamRole.objects.filter(account=account)
    }
    linked = [name for name, (service_linked, _) in flags.items() if service_linked]
    assert len(linked) == 1 and linked[0].startswith("AWSServiceRoleFor")
    assert flags["AWSReservedSSO_AdministratorAccess_0123456789abcdef"] == (False, True)
    assert flags["plain"] == (False, False)
    assert flags["AWSReservedSSO_Lookalike_0123"] == (False, False)


# --- Failures -----------------------------------------------------------------------------------


def test_access_denied_in_one_account_fails_only_its_run_and_keeps_its_previous_data(
    aws, monkeypatch
):
    """moto enforces IAM policies once authorization is switched on: a real AccessDenied."""
    members = organization(3)
    denied = members[1]
    for account_id in members:
        iam = iam_in(account_id)
        iam.create_role(
            RoleName="IAMReviewReadOnly", AssumeRolePolicyDocument=json.dumps(TRUST_HUB)
        )
        policy = allow("iam:List*") if account_id == denied else allow("*")
        iam.put_role_policy(
            RoleName="IAMReviewReadOnly", PolicyName="read", PolicyDocument=json.dumps(policy)
        )
        iam.create_user(UserName=f"user-{account_id}")
    hub = iam_in(HUB)
    hub.create_user(UserName="collector")
    hub.put_user_policy(
        UserName="collector", PolicyName="assume", PolicyDocument=json.dumps(allow("*"))
    )
    key = hub.create_access_key(UserName="collector")["AccessKey"]
    accounts = {account_id: register(account_id) for account_id in members}
    for account in accounts.values():  # before authorization is enforced: every account works
        assert collect(account, Source.AUTHORIZATION_DETAILS).status == "succeeded"
    before = stored(IamUser, accounts[denied]), stored(PolicyAttachment, accounts[denied])
    for account_id in members:
        iam_in(account_id).create_user(UserName="added-later")

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.delenv("AWS_SECURITY_TOKEN")

    @set_initial_no_auth_action_count(0)
    def collect_all():
        return {
            account_id: collect(account, Source.AUTHORIZATION_DETAILS)
            for account_id, account in accounts.items()
        }

    runs = collect_all()

    assert runs[denied].status == "failed"
    assert runs[denied].error == (
        "Access denied: the role lacks iam:GetAccountAuthorizationDetails "
        "(check the role's policy and trust)"
    )
    assert runs[denied].finished_at is not None
    for account_id in members:
        if account_id != denied:
            assert runs[account_id].status == "succeeded", runs[account_id].error
            assert IamUser.objects.filter(account=accounts[account_id], name="added-later").exists()
    assert (stored(IamUser, accounts[denied]), stored(PolicyAttachment, accounts[denied])) == before


def test_a_malformed_role_arn_fails_the_run_as_a_configuration_error(aws):
    account = register(HUB)
    type(account).objects.filter(pk=account.pk).update(role_arn="arn:aws:iam::12345:role/reader")
    account.refresh_from_db()

    run = collect(account, Source.CREDENTIAL_REPORT)

    assert run.status == "failed"
    assert run.error.startswith("Configuration error:")
    assert "12-digit account id" in run.error
    assert run.progress_message == "Failed"


def test_a_role_in_another_account_fails_the_run_before_any_aws_call(aws):
    """A role reads its own account's IAM: one of another account (saved before the model
    refused it) would have stored that account's users as this one's."""
    account = register(HUB)
    other = "arn:aws:iam::210987654321:role/IAMReviewReadOnly"
    type(account).objects.filter(pk=account.pk).update(role_arn=other)
    account.refresh_from_db()

    run = collect(account, Source.CREDENTIAL_REPORT)

    assert run.status == "failed"
    assert run.error == (
        f"Configuration error: {other} is a role in account 210987654321, not in {HUB}: "
        "the role to assume must be in the account it reads"
    )
    assert not CredentialReportEntry.objects.exists()


@pytest.mark.parametrize("source", [Source.CREDENTIAL_REPORT, Source.AUTHORIZATION_DETAILS])
def test_without_a_role_the_data_of_another_account_is_refused_and_nothing_stored(aws, source):
    """No role to assume: the collector's own credentials read the account they are in (the
    hub), whatever account id was typed. Its users must not be stored as that account's."""
    iam_in(HUB).create_user(UserName="alice")
    iam_in(HUB).generate_credential_report()
    typed = "111122223333"
    account = register(typed, own_credentials=True)

    run = collect(account, source)

    assert run.status == "failed"
    assert run.error.startswith(
        f"Configuration error: AWS answered with account {HUB}'s data (it lists arn:aws:iam::{HUB}:"
    )
    assert run.error.endswith(
        f"not {typed}'s, through iamreview's own credentials (no role to assume is set): set the "
        f"role to assume in {typed}; nothing was stored"
    )
    assert not CredentialReportEntry.objects.exists()
    assert not IamUser.objects.exists()


def test_progress_reaches_the_run_and_the_caller(aws):
    iam_in(HUB).create_user(UserName="alice")
    iam_in(HUB).generate_credential_report()
    account = register(HUB, own_credentials=True)
    seen = []

    run = collect(account, Source.CREDENTIAL_REPORT, on_progress=lambda *a: seen.append(a))

    assert seen[0][:2] == (0, 2)
    assert seen[-1] == (1, 2, "Storing 1 credential report rows")
    assert (run.progress_done, run.progress_total, run.progress_message) == (2, 2, "Done")
    assert run.started_at <= run.finished_at


# --- GAAD pagination (Stubber) ------------------------------------------------------------------


def role_detail(index: int) -> dict:
    return {
        "Path": "/batch/",
        "RoleName": f"batch-{index:04d}",
        "RoleId": f"AROA{index:016d}",
        "Arn": f"arn:aws:iam::111122223333:role/batch/batch-{index:04d}",
        "CreateDate": utc(2024, 1, 1),
        "AssumeRolePolicyDocument": json.dumps(TRUST_EC2),
        "InstanceProfileList": [],
        "RolePolicyList": [],
        "AttachedManagedPolicies": [],
        "Tags": [],
        "RoleLastUsed": {"LastUsedDate": utc(2026, 11, 1), "Region": "us-east-1"}
        if index % 2
        else {},
    }


def test_authorization_details_over_a_thousand_roles_follow_the_marker():
    account = add_account(account_id="111122223333", name="Big")
    iam = client(boto3.Session(), "iam")
    request = {"Filter": ["User", "Role", "Group", "LocalManagedPolicy"], "MaxItems": 1000}
    with Stubber(iam) as stubber:
        stubber.add_response(
            "get_account_authorization_details",
            {
                "RoleDetailList": [role_detail(i) for i in range(1000)],
                "IsTruncated": True,
                "Marker": "page-2",
            },
            request,
        )
        stubber.add_response(
            "get_account_authorization_details",
            {"RoleDetailList": [role_detail(i) for i in range(1000, 1150)], "IsTruncated": False},
            {**request, "Marker": "page-2"},
        )
        details = fetch_authorization_details(iam)
        stubber.assert_no_pending_responses()

    with transaction.atomic():
        counts = store_authorization_details(
            account=account,
            details=details,
            aws_managed_policies=(),
            now=datetime.now(UTC),
            previous_seen_at=None,
        )

    assert details.pages == 2
    assert counts["roles_created"] == 1150
    assert IamRole.objects.filter(account=account).count() == 1150
    assert IamRole.objects.filter(account=account, last_used_at__isnull=False).count() == 575
    # Every role's trust policy is one stored document, attached 1,150 times.
    trust = PolicyAttachment.objects.filter(account=account, kind="trust")
    assert trust.count() == 1150
    assert trust.values("document").distinct().count() == 1


# --- Which organization an account added by hand is in (moto; Stubber for a denial) ------------


def organization_id_in_moto() -> str:
    return boto3.client("organizations").describe_organization()["Organization"]["Id"]


def test_an_account_added_by_hand_learns_its_organization_from_its_own_role(aws):
    (member,) = organization(1)
    in_organization = register(member)
    standalone = register("210987654321")

    for account in (in_organization, standalone):
        assert collect(account, Source.AUTHORIZATION_DETAILS).status == "succeeded"

    in_organization.refresh_from_db()
    standalone.refresh_from_db()
    assert in_organization.organization_id == organization_id_in_moto()
    assert standalone.organization_id == AwsAccount.NO_ORGANIZATION
    assert standalone.in_no_organization
    run = CollectionRun.objects.get(account=standalone)
    assert run.counts["organization"] == "none"


def test_a_discovered_account_is_not_asked_which_organization_it_is_in(aws, stubbed_boto3_clients):
    org = stubbed_boto3_clients("organizations")  # no answer queued: a call would fail
    account = register("210987654321", origin=AwsAccount.Origin.ORGANIZATIONS)
    AwsAccount.objects.filter(pk=account.pk).update(organization_id="o-discovered1")

    run = collect(account, Source.AUTHORIZATION_DETAILS)

    assert run.status == "succeeded" and "organization" not in run.counts
    assert AwsAccount.objects.get(pk=account.pk).organization_id == "o-discovered1"
    org.assert_no_pending_responses()


@pytest.mark.parametrize("known", ["", "o-a1b2c3d4e5"])
def test_a_denied_describe_organization_keeps_what_was_known_and_the_run_succeeds(
    aws, stubbed_boto3_clients, known
):
    org = stubbed_boto3_clients("organizations")
    org.add_client_error("describe_organization", "AccessDeniedException", "denied", 403)
    account = register("210987654321")
    AwsAccount.objects.filter(pk=account.pk).update(organization_id=known)

    run = collect(account, Source.AUTHORIZATION_DETAILS)

    assert run.status == "succeeded" and not run.error
    assert run.counts["organization"].startswith("unknown: Access denied")
    assert "organizations:DescribeOrganization" in run.counts["organization"]
    assert AwsAccount.objects.get(pk=account.pk).organization_id == known
    org.assert_no_pending_responses()


# --- Access Analyzer (Stubber) ------------------------------------------------------------------

MEMBER = "111122223333"
OTHER_MEMBER = "444455556666"
ORG_ANALYZER = f"arn:aws:access-analyzer:us-east-1:{MEMBER}:analyzer/org"
UNUSED_ANALYZER = f"arn:aws:access-analyzer:eu-west-1:{MEMBER}:analyzer/unused"
ANALYZED = utc(2026, 11, 20, 6, 0)


def analyzer(arn: str, type_: str) -> dict:
    return {
        "arn": arn,
        "name": arn.rsplit("/", 1)[1],
        "type": type_,
        "status": "ACTIVE",
        "createdAt": utc(2025, 1, 1),
    }


def finding(finding_id: str, finding_type: str, resource: str, **extra) -> dict:
    return {
        "id": finding_id,
        "findingType": finding_type,
        "resource": resource,
        "resourceType": "AWS::IAM::Role" if ":role/" in resource else "AWS::S3::Bucket",
        "resourceOwnerAccount": MEMBER,
        "status": "ACTIVE",
        "createdAt": utc(2026, 6, 2),
        "updatedAt": ANALYZED,
        "analyzedAt": ANALYZED,
        **extra,
    }


PUBLIC_BUCKET = finding("f-bucket", "ExternalAccess", "arn:aws:s3:::acme-public")
OTHER_ACCOUNT_BUCKET = finding(
    "f-other", "ExternalAccess", "arn:aws:s3:::partner-drop", resourceOwnerAccount=OTHER_MEMBER
)
UNUSED_ROLE_PERMISSIONS = finding(
    "f-unused", "UnusedPermission", f"arn:aws:iam::{MEMBER}:role/legacy-batch"
)
BUCKET_DETAIL = {
    "externalAccessDetails": {
        "action": ["s3:GetObject"],
        "condition": {},
        "isPublic": True,
        "principal": {"AWS": "*"},
        "sources": [{"type": "POLICY"}],
    }
}


def unused(namespace: str) -> dict:
    return {
        "unusedPermissionDetails": {"serviceNamespace": namespace, "actions": [{"action": "Scan"}]}
    }


def stub_region(stubber, analyzers: list[dict], findings_by_analyzer: dict[str, list[list[dict]]]):
    """ListAnalyzers, GetAnalyzer, then ListFindingsV2 pages and GetFindingV2 per finding.

    A finding given as (summary, [details page, details page]) has findingDetails over pages.
    """
    stubber.add_response("list_analyzers", {"analyzers": analyzers}, {})
    for item in analyzers:
        stubber.add_response("get_analyzer", {"analyzer": item}, {"analyzerName": item["name"]})
    for item in analyzers:
        pages = findings_by_analyzer.get(item["arn"], [[]])
        for number, page in enumerate(pages):
            response = {"findings": [summary for summary, _ in page]}
            params = {"analyzerArn": item["arn"]}
            if number:
                params["nextToken"] = f"list-{number}"
            if number < len(pages) - 1:
                response["nextToken"] = f"list-{number + 1}"
            stubber.add_response("list_findings_v2", response, params)
            for summary, detail_pages in page:
                for index, details in enumerate(detail_pages):
                    params = {"analyzerArn": item["arn"], "id": summary["id"]}
                    if index:
                        params["nextToken"] = f"{summary['id']}-{index}"
                    body = {**summary, "findingDetails": details}
                    if index < len(detail_pages) - 1:
                        body["nextToken"] = f"{summary['id']}-{index + 1}"
                    stubber.add_response("get_finding_v2", body, params)


@pytest.fixture
def analyzer_clients():
    clients = {
        region: client(boto3.Session(), "accessanalyzer", region)
        for region in ("us-east-1", "eu-west-1")
    }
    stubbers = {region: Stubber(c) for region, c in clients.items()}
    for stubber in stubbers.values():
        stubber.activate()
    yield clients, stubbers
    for stubber in stubbers.values():
        stubber.deactivate()


def collect_analyzer(account, clients, stubbers, *, regions=("us-east-1",)) -> dict:
    snapshot = fetch_access_analyzer(lambda region: clients[region], regions=regions)
    for region in regions:
        stubbers[region].assert_no_pending_responses()
    with transaction.atomic():
        return store_access_analyzer(
            account=account,
            snapshot=snapshot,
            regions=[r for r in regions if r not in snapshot.region_errors],
            now=datetime.now(UTC),
            previous_seen_at=None,
        )


def test_access_analyzer_findings_follow_next_tokens_for_an_organization_analyzer(
    analyzer_clients,
):
    clients, stubbers = analyzer_clients
    account = add_account(account_id=MEMBER, name="Security tooling", regions=["us-east-1"])
    stub_region(
        stubbers["us-east-1"],
        [analyzer(ORG_ANALYZER, "ORGANIZATION")],
        {
            ORG_ANALYZER: [
                [(PUBLIC_BUCKET, [[BUCKET_DETAIL]]), (OTHER_ACCOUNT_BUCKET, [[BUCKET_DETAIL]])],
                [(UNUSED_ROLE_PERMISSIONS, [[unused("dynamodb")], [unused("s3")]])],
            ]
        },
    )

    counts = collect_analyzer(account, clients, stubbers)

    assert counts["findings"] == 3 and counts["created"] == 3
    findings = {f.finding_id: f for f in AccessAnalyzerFinding.objects.filter(account=account)}
    assert set(findings) == {"f-bucket", "f-other", "f-unused"}
    # An organization analyzer reports other accounts' resources: kept under the analyzer's
    # account, with the owner recorded.
    assert findings["f-other"].resource_owner_account == OTHER_MEMBER
    assert findings["f-bucket"].resource_owner_account == MEMBER
    # One UnusedPermission finding over two GetFindingV2 pages: both pages' details kept.
    namespaces = [
        d["unusedPermissionDetails"]["serviceNamespace"] for d in findings["f-unused"].details
    ]
    assert namespaces == ["dynamodb", "s3"]
    assert findings["f-bucket"].region == "us-east-1"
    assert findings["f-bucket"].analyzer_arn == ORG_ANALYZER
    assert Analyzer.objects.get(account=account).type == "ORGANIZATION"


def test_a_status_change_is_appended_to_the_history_and_a_finding_aws_drops_is_kept(
    analyzer_clients,
):
    clients, stubbers = analyzer_clients
    account = add_account(account_id=MEMBER, name="Security tooling")
    org = [analyzer(ORG_ANALYZER, "ORGANIZATION")]
    stub_region(
        stubbers["us-east-1"],
        org,
        {
            ORG_ANALYZER: [
                [(PUBLIC_BUCKET, [[BUCKET_DETAIL]]), (OTHER_ACCOUNT_BUCKET, [[BUCKET_DETAIL]])]
            ]
        },
    )
    collect_analyzer(account, clients, stubbers)
    resolved = {**PUBLIC_BUCKET, "status": "RESOLVED", "updatedAt": ANALYZED + timedelta(days=1)}
    stub_region(stubbers["us-east-1"], org, {ORG_ANALYZER: [[(resolved, [[BUCKET_DETAIL]])]]})

    counts = collect_analyzer(account, clients, stubbers)

    assert counts["updated"] == 1 and counts["gone"] == 1
    bucket = AccessAnalyzerFinding.objects.get(account=account, finding_id="f-bucket")
    assert bucket.status == "RESOLVED"
    assert [entry["status"] for entry in bucket.status_history] == ["ACTIVE", "RESOLVED"]
    # AWS stopped returning it (it deletes RESOLVED findings after 90 days): our copy stays.
    other = AccessAnalyzerFinding.objects.get(account=account, finding_id="f-other")
    assert other.gone_at is not None
    assert other.status == "ACTIVE"
    assert other.details == [BUCKET_DETAIL]

    # Same status again: no new history entry.
    stub_region(stubbers["us-east-1"], org, {ORG_ANALYZER: [[(resolved, [[BUCKET_DETAIL]])]]})
    counts = collect_analyzer(account, clients, stubbers)
    assert counts["unchanged"] == 1
    bucket.refresh_from_db()
    assert len(bucket.status_history) == 2


@pytest.fixture
def stubbed_boto3_clients(monkeypatch):
    """Make boto3 hand out pre-stubbed clients for the services moto does not implement.

    Patched at the boto3 boundary only; our collectors build their clients as usual.
    """
    stubbed = {}
    original = boto3.session.Session.client

    def stub(service: str, region: str | None = None):
        made = original(boto3.Session(), service, region_name=region)
        stubber = Stubber(made)
        stubber.activate()
        stubbed[(service, region)] = made
        return stubber

    def client_for(self, service_name, region_name=None, **kwargs):
        # A client stubbed without a region serves every region of that service.
        for key in ((service_name, region_name), (service_name, None)):
            if key in stubbed:
                return stubbed[key]
        return original(self, service_name, region_name=region_name, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", client_for)
    return stub


def test_a_region_that_fails_keeps_its_findings_and_all_regions_failing_fails_the_run(
    stubbed_boto3_clients,
):
    us = stubbed_boto3_clients("accessanalyzer", "us-east-1")
    eu = stubbed_boto3_clients("accessanalyzer", "eu-west-1")
    account = add_account(
        account_id=MEMBER, name="Security tooling", regions=["us-east-1", "eu-west-1"]
    )
    stub_region(
        us,
        [analyzer(ORG_ANALYZER, "ORGANIZATION")],
        {ORG_ANALYZER: [[(PUBLIC_BUCKET, [[BUCKET_DETAIL]])]]},
    )
    stub_region(
        eu,
        [analyzer(UNUSED_ANALYZER, "ACCOUNT_UNUSED_ACCESS")],
        {UNUSED_ANALYZER: [[(UNUSED_ROLE_PERMISSIONS, [[unused("dynamodb")]])]]},
    )
    assert collect(account, Source.ACCESS_ANALYZER).status == "succeeded"
    before = stored(AccessAnalyzerFinding, account)

    # eu-west-1 denies; us-east-1 no longer shows the bucket finding.
    stub_region(us, [analyzer(ORG_ANALYZER, "ORGANIZATION")], {})
    eu.add_client_error("list_analyzers", "AccessDeniedException", "no", 403)
    partial = collect(account, Source.ACCESS_ANALYZER)

    assert partial.status == "succeeded"
    assert "eu-west-1: Access denied" in partial.error
    assert partial.counts["region_errors"] == 1
    findings = {f.finding_id: f for f in AccessAnalyzerFinding.objects.filter(account=account)}
    assert findings["f-bucket"].gone_at is not None
    # The region that failed is unknown, not resolved: its finding is untouched.
    assert [row for row in before if row["finding_id"] == "f-unused"] == stored(
        AccessAnalyzerFinding, account, finding_id="f-unused"
    )

    after_partial = stored(AccessAnalyzerFinding, account)
    us.add_client_error("list_analyzers", "AccessDeniedException", "no", 403)
    eu.add_client_error("list_analyzers", "AccessDeniedException", "no", 403)
    failed = collect(account, Source.ACCESS_ANALYZER)

    assert failed.status == "failed"
    assert "us-east-1: Access denied: the role lacks access-analyzer:ListAnalyzers" in failed.error
    assert stored(AccessAnalyzerFinding, account) == after_partial
    us.assert_no_pending_responses()
    eu.assert_no_pending_responses()


def test_a_region_that_could_not_be_read_keeps_its_analyzer_verdict_and_gets_none_invented(
    stubbed_boto3_clients,
):
    """An SCP denying a region, an opt-in region switched off: nothing is known of its
    analyzers, so CIS 1.20's "no analyzer in a region" is not opened for it; one already open
    (from a read that showed no analyzer) stays open rather than being resolved."""
    us = stubbed_boto3_clients("accessanalyzer", "us-east-1")
    eu = stubbed_boto3_clients("accessanalyzer", "eu-west-1")
    ap = stubbed_boto3_clients("accessanalyzer", "ap-southeast-2")
    account = add_account(
        account_id=MEMBER, name="Payments", regions=["us-east-1", "eu-west-1", "ap-southeast-2"]
    )

    def missing_in() -> dict[str, str]:
        rows = Finding.objects.filter(account=account, check_id="access-analyzer-missing")
        return {f.evidence["region"]: f.status for f in rows}

    stub_region(us, [analyzer(ORG_ANALYZER, "ORGANIZATION")], {})
    stub_region(eu, [], {})  # read: no analyzer
    ap.add_client_error("list_analyzers", "AccessDeniedException", "denied by an SCP", 403)
    first = collect(account, Source.ACCESS_ANALYZER)

    assert first.status == "succeeded" and first.counts["unread_regions"] == ["ap-southeast-2"]
    assert missing_in() == {"eu-west-1": "open"}

    stub_region(us, [analyzer(ORG_ANALYZER, "ORGANIZATION")], {})
    eu.add_client_error("list_analyzers", "ThrottlingException", "slow down", 400)
    stub_region(ap, [], {})  # read at last: no analyzer
    second = collect(account, Source.ACCESS_ANALYZER)

    assert second.status == "succeeded" and second.counts["unread_regions"] == ["eu-west-1"]
    assert missing_in() == {"eu-west-1": "open", "ap-southeast-2": "open"}
    for stubber in (us, eu, ap):
        stubber.assert_no_pending_responses()


def test_analyzers_of_another_account_fail_the_run_and_keep_what_was_stored(
    stubbed_boto3_clients,
):
    """Without a role, the collector reads the account its own credentials are in: its
    analyzers' ARNs say so, and its findings must not replace this account's."""
    us = stubbed_boto3_clients("accessanalyzer", "us-east-1")
    account = add_account(account_id=MEMBER, name="Security tooling", regions=["us-east-1"])
    stub_region(
        us,
        [analyzer(ORG_ANALYZER, "ORGANIZATION")],
        {ORG_ANALYZER: [[(PUBLIC_BUCKET, [[BUCKET_DETAIL]])]]},
    )
    assert collect(account, Source.ACCESS_ANALYZER).status == "succeeded"
    before = stored(AccessAnalyzerFinding, account)

    elsewhere = f"arn:aws:access-analyzer:us-east-1:{OTHER_MEMBER}:analyzer/theirs"
    stub_region(us, [analyzer(elsewhere, "ACCOUNT")], {elsewhere: [[]]})
    run = collect(account, Source.ACCESS_ANALYZER)

    assert run.status == "failed"
    assert run.error.startswith(
        f"Configuration error: AWS answered with account {OTHER_MEMBER}'s data (it lists "
        f"{elsewhere})"
    )
    assert stored(AccessAnalyzerFinding, account) == before
    us.assert_no_pending_responses()


UNUSED_ACCESS_ANALYZER = f"arn:aws:access-analyzer:us-east-1:{MEMBER}:analyzer/unused"
UNUSED_OTHER_ROLE = finding(
    "f-unused-2", "UnusedPermission", f"arn:aws:iam::{MEMBER}:role/nightly-report"
)


def two_unused_permission_findings(stubber) -> AwsAccount:
    account = add_account(account_id=MEMBER, name="Security tooling", regions=["us-east-1"])
    stub_region(
        stubber,
        [analyzer(UNUSED_ACCESS_ANALYZER, "ACCOUNT_UNUSED_ACCESS")],
        {
            UNUSED_ACCESS_ANALYZER: [
                [
                    (UNUSED_ROLE_PERMISSIONS, [[unused("dynamodb")]]),
                    (UNUSED_OTHER_ROLE, [[unused("sqs")]]),
                ]
            ]
        },
    )
    return account


def test_the_soft_time_limit_during_recommendations_fails_the_run_and_keeps_what_was_fetched(
    stubbed_boto3_clients,
):
    """Celery's soft time limit was taken for one more failed extra: the run succeeded, and
    the recommendation AWS had already given was thrown away."""
    us = stubbed_boto3_clients("accessanalyzer", "us-east-1")
    account = two_unused_permission_findings(us)
    us.add_response("generate_finding_recommendation", {})
    us.add_response(
        "get_finding_recommendation",
        {
            "startedAt": ANALYZED,
            "resourceArn": UNUSED_ROLE_PERMISSIONS["resource"],
            "recommendationType": "UnusedPermissionRecommendation",
            "status": "SUCCEEDED",
            "recommendedSteps": [],
        },
    )
    us.add_response("generate_finding_recommendation", {})
    asked = []

    def soft_time_limit_on_the_second(**kwargs):
        # Celery raises SoftTimeLimitExceeded in the task, wherever it is: here, in a call.
        asked.append(kwargs["params"]["id"])
        if len(asked) == 2:
            raise SoftTimeLimitExceeded()

    boto3.Session().client("accessanalyzer", "us-east-1").meta.events.register(
        "provide-client-params.accessanalyzer.GetFindingRecommendation",
        soft_time_limit_on_the_second,
    )

    run = collect(account, Source.ACCESS_ANALYZER)

    assert run.status == "failed"
    assert run.error.startswith("Ran out of time: the task's soft time limit")
    us.assert_no_pending_responses()
    assert AccessAnalyzerFinding.objects.filter(account=account).count() == 2
    [kept] = FindingRecommendation.objects.filter(account=account)
    assert (kept.finding_id, kept.status) == (asked[0], "SUCCEEDED")


def test_the_soft_time_limit_during_detection_ends_the_task_and_the_run_says_so(aws):
    """detect_after took Celery's soft time limit for one more failed detection: it logged
    it and went on to right-sizing (until the hard limit killed the worker), and the run
    said nothing of findings left as they were."""
    iam = iam_in(HUB)
    iam.create_user(UserName="ci")
    iam.create_access_key(UserName="ci")
    iam.generate_credential_report()
    account = register(HUB, own_credentials=True)
    statements = []

    def soft_time_limit_in_detection(execute, sql, params, many, context):
        # Celery raises SoftTimeLimitExceeded in the task, wherever it is: here, as detection
        # takes its turn on the account (findings.detection.detect._account_turn).
        statements.append(sql)
        if "pg_advisory_xact_lock" in sql:
            raise SoftTimeLimitExceeded()
        return execute(sql, params, many, context)

    with (
        connection.execute_wrapper(soft_time_limit_in_detection),
        pytest.raises(SoftTimeLimitExceeded),
    ):
        collect(account, Source.CREDENTIAL_REPORT)

    run = CollectionRun.objects.get(account=account)
    # What was collected is stored: the run succeeded, and says what it did not do.
    assert run.status == "succeeded"
    assert CredentialReportEntry.objects.filter(account=account, user="ci").exists()
    assert run.error.startswith("Collected and stored, but detection ran out of time")
    assert "detection" not in run.counts
    assert not Finding.objects.filter(account=account).exists()
    # Nothing after detection ran (no right-sizing): only the run was read and written since.
    lock = next(i for i, sql in enumerate(statements) if "pg_advisory_xact_lock" in sql)
    after = [sql for sql in statements[lock + 1 :] if "SAVEPOINT" not in sql]
    assert after and all(CollectionRun._meta.db_table in sql for sql in after), after


def test_recommendations_are_not_started_when_the_task_has_too_little_time_left(
    stubbed_boto3_clients, settings
):
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 60  # a recommendation may take 90 s: none fits
    us = stubbed_boto3_clients("accessanalyzer", "us-east-1")
    account = two_unused_permission_findings(us)

    run = collect(account, Source.ACCESS_ANALYZER)

    assert run.status == "succeeded" and run.counts["recommendations"] == 0
    us.assert_no_pending_responses()  # nothing asked of AWS: the next run will
    assert not FindingRecommendation.objects.exists()


# --- Service last accessed (Stubber) ------------------------------------------------------------

ALICE = f"arn:aws:iam::{MEMBER}:user/alice"
BATCH = f"arn:aws:iam::{MEMBER}:role/legacy-batch"
JOB_ALICE = "a1a1a1a1-0000-4000-8000-000000000001"
JOB_BATCH = "b2b2b2b2-0000-4000-8000-000000000002"
USED = utc(2026, 10, 30, 17, 2, 11)


def job(status: str, services=(), **extra) -> dict:
    return {
        "JobStatus": status,
        "JobType": "ACTION_LEVEL",
        "JobCreationDate": USED,
        "JobCompletionDate": USED,
        "ServicesLastAccessed": list(services),
        **extra,
    }


def service(namespace: str, used: datetime | None = None, actions=()) -> dict:
    item = {
        "ServiceName": namespace.upper(),
        "ServiceNamespace": namespace,
        "TotalAuthenticatedEntities": 1 if used else 0,
        "TrackedActionsLastAccessed": list(actions),
    }
    if used:
        item.update(LastAuthenticated=used, LastAuthenticatedRegion="eu-west-1")
    return item


def collect_sla(account, stubber, iam, jobs: dict[str, list[dict]]) -> dict:
    """Generate one job per principal, then read each (each given as its response pages)."""
    for arn, job_id in ((ALICE, JOB_ALICE), (BATCH, JOB_BATCH)):
        stubber.add_response(
            "generate_service_last_accessed_details",
            {"JobId": job_id},
            {"Arn": arn, "Granularity": "ACTION_LEVEL"},
        )
    for job_id, pages in jobs.items():
        for index, page in enumerate(pages):
            params = {"JobId": job_id} if index == 0 else {"JobId": job_id, "Marker": f"m{index}"}
            stubber.add_response("get_service_last_accessed_details", page, params)
    results = fetch_service_last_accessed(
        iam, principal_arns=[ALICE, BATCH], max_concurrency=1, sleep=lambda seconds: None
    )
    stubber.assert_no_pending_responses()
    with transaction.atomic():
        return store_service_last_accessed(
            account=account, results=results, now=datetime.now(UTC), previous_seen_at=None
        )


def test_service_last_accessed_is_stored_per_principal_and_service():
    account = add_account(account_id=MEMBER, name="Payments")
    iam = client(boto3.Session(), "iam")
    get_object = {
        "ActionName": "GetObject",
        "LastAccessedTime": USED,
        "LastAccessedRegion": "eu-west-1",
    }
    with Stubber(iam) as stubber:
        counts = collect_sla(
            account,
            stubber,
            iam,
            {
                JOB_ALICE: [
                    job(
                        "COMPLETED",
                        [service("s3", USED, [get_object])],
                        IsTruncated=True,
                        Marker="m1",
                    ),
                    job("COMPLETED", [service("dynamodb")], IsTruncated=False),
                ],
                JOB_BATCH: [job("COMPLETED", [service("sqs", USED)])],
            },
        )

    assert counts["principals_read"] == 2 and counts["services"] == 3
    rows = {
        (r.principal_arn, r.service_namespace): r
        for r in ServiceLastAccessed.objects.filter(account=account)
    }
    assert set(rows) == {(ALICE, "s3"), (ALICE, "dynamodb"), (BATCH, "sqs")}
    assert rows[(ALICE, "s3")].last_authenticated_at == USED
    assert rows[(ALICE, "s3")].actions == [
        {
            "action": "GetObject",
            "last_accessed_at": USED.isoformat(),
            "region": "eu-west-1",
            "entity": None,
        }
    ]
    assert rows[(ALICE, "dynamodb")].last_authenticated_at is None


def test_a_failed_job_keeps_that_principals_previous_rows():
    account = add_account(account_id=MEMBER, name="Payments")
    iam = client(boto3.Session(), "iam")
    with Stubber(iam) as stubber:
        collect_sla(
            account,
            stubber,
            iam,
            {
                JOB_ALICE: [job("COMPLETED", [service("s3", USED)])],
                JOB_BATCH: [job("COMPLETED", [service("sqs", USED)])],
            },
        )
        batch_before = stored(ServiceLastAccessed, account, principal_arn=BATCH)
        failure = {"Message": "internal", "Code": "InternalFailure"}
        counts = collect_sla(
            account,
            stubber,
            iam,
            {
                JOB_ALICE: [job("COMPLETED", [service("ec2", USED)])],
                JOB_BATCH: [job("FAILED", Error=failure)],
            },
        )

    assert counts["principals_failed"] == 1
    assert stored(ServiceLastAccessed, account, principal_arn=BATCH) == batch_before
    alice = {
        r.service_namespace: r.gone_at
        for r in ServiceLastAccessed.objects.filter(principal_arn=ALICE)
    }
    assert alice["ec2"] is None
    assert alice["s3"] is not None


def test_service_last_accessed_without_stored_principals_fails_saying_what_comes_first():
    """It read nothing: a success would have counted the source as fresh."""
    account = add_account(account_id=MEMBER, name="Payments")

    run = collect(account, Source.SERVICE_LAST_ACCESSED)

    assert run.status == "failed"
    assert "Collect users, roles and policies first" in run.error


def test_service_last_accessed_collection_reads_the_stored_principals(aws, stubbed_boto3_clients):
    iam_in(HUB).create_user(UserName="alice")
    account = register(HUB, own_credentials=True)
    assert collect(account, Source.AUTHORIZATION_DETAILS).status == "succeeded"
    stubber = stubbed_boto3_clients("iam", None)
    alice = f"arn:aws:iam::{HUB}:user/alice"
    stubber.add_response(
        "generate_service_last_accessed_details",
        {"JobId": JOB_ALICE},
        {"Arn": alice, "Granularity": "ACTION_LEVEL"},
    )
    stubber.add_response(
        "get_service_last_accessed_details",
        job("COMPLETED", [service("s3", USED)]),
        {"JobId": JOB_ALICE},
    )

    run = collect(account, Source.SERVICE_LAST_ACCESSED)

    assert run.status == "succeeded", run.error
    assert run.counts["principals_read"] == 1
    row = ServiceLastAccessed.objects.get(account=account)
    assert (row.principal_arn, row.service_namespace) == (alice, "s3")
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("organization_id", "shown"),
    [
        ("", "Not known yet: collecting users, roles and policies asks the account"),
        ("o-a1b2c3d4e5", "In o-a1b2c3d4e5, as the account itself says"),
        (AwsAccount.NO_ORGANIZATION, "In no organization, as the account itself says"),
    ],
)
def test_the_account_page_says_which_organization_a_hand_added_account_is_in(
    client, reviewer, organization_id, shown
):
    account = register("210987654321")
    AwsAccount.objects.filter(pk=account.pk).update(organization_id=organization_id)
    client.force_login(reviewer)

    page = client.get(reverse("aws_account", args=[account.pk])).content.decode()

    assert shown in page
