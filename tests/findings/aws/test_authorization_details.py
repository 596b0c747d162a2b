import json
from datetime import UTC, datetime
from urllib.parse import quote

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.iam.models import iam_backends

from findings.aws.authorization_details import (
    attached_aws_managed_policy_arns,
    fetch_authorization_details,
    fetch_aws_managed_policies,
    parse_authorization_details,
    parse_authorization_details_file,
)
from findings.aws.errors import AwsError, ParseError
from findings.aws.session import client

ACCOUNT = "123456789012"
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
S3_READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


def encoded(document: dict) -> str:
    """A policy document as it travels on the wire: URL-encoded JSON."""
    return quote(json.dumps(document))


def role_item(number: int) -> dict:
    """A RoleDetail as the Stubber must be given it (documents are strings in the model)."""
    return {
        "Path": "/",
        "RoleName": f"role-{number}",
        "RoleId": f"AROAEXAMPLE{number:010d}",
        "Arn": f"arn:aws:iam::{ACCOUNT}:role/role-{number}",
        "CreateDate": datetime(2024, 1, 1, tzinfo=UTC),
        "AssumeRolePolicyDocument": encoded(TRUST_EC2),
        "InstanceProfileList": [],
        "RolePolicyList": [],
        "AttachedManagedPolicies": [],
        "Tags": [],
        "RoleLastUsed": {},
    }


def aws_managed_policy_item(name: str) -> dict:
    return {
        "PolicyName": name,
        "PolicyId": f"ANPA{name.upper()[:16]:0<16}",
        "Arn": f"arn:aws:iam::aws:policy/{name}",
        "Path": "/",
        "DefaultVersionId": "v3",
        "AttachmentCount": 1,
        "IsAttachable": True,
        "CreateDate": datetime(2015, 2, 6, tzinfo=UTC),
        "UpdateDate": datetime(2024, 6, 1, tzinfo=UTC),
        "PolicyVersionList": [
            {"Document": encoded(S3_READ), "VersionId": "v3", "IsDefaultVersion": True}
        ],
    }


@pytest.fixture
def stubbed_iam():
    iam = client(boto3.Session(), "iam")
    with Stubber(iam) as stubber:
        yield iam, stubber
        stubber.assert_no_pending_responses()


# --- Fetching from moto -------------------------------------------------------------------------


@mock_aws
def test_fetch_reads_users_groups_roles_and_local_policies_from_moto():
    iam = client(boto3.Session(), "iam")
    policy_arn = iam.create_policy(PolicyName="read-s3", PolicyDocument=json.dumps(S3_READ))[
        "Policy"
    ]["Arn"]
    iam.create_group(GroupName="readers")
    iam.attach_group_policy(GroupName="readers", PolicyArn=policy_arn)
    iam.create_user(UserName="alice", Tags=[{"Key": "owner", "Value": "security"}])
    iam.add_user_to_group(GroupName="readers", UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="inline", PolicyDocument=json.dumps(S3_READ))
    iam.create_role(
        RoleName="batch",
        AssumeRolePolicyDocument=json.dumps(TRUST_EC2),
        PermissionsBoundary=policy_arn,
        Tags=[{"Key": "team", "Value": "data"}],
    )
    iam.attach_role_policy(RoleName="batch", PolicyArn=policy_arn)
    iam.create_instance_profile(InstanceProfileName="batch")
    iam.add_role_to_instance_profile(InstanceProfileName="batch", RoleName="batch")
    iam.create_role(RoleName="idle", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    batch = next(r for r in iam_backends[ACCOUNT]["aws"].roles.values() if r.name == "batch")
    batch.last_used = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    batch.last_used_region = "eu-west-1"

    details = fetch_authorization_details(iam)

    (alice,) = details.users
    assert alice.arn == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert alice.groups == ("readers",)
    assert alice.inline_policies[0].name == "inline"
    assert alice.inline_policies[0].document == S3_READ
    assert alice.tags == {"owner": "security"}
    assert alice.create_date.tzinfo is UTC
    (readers,) = details.groups
    assert [p.arn for p in readers.attached_policies] == [policy_arn]
    roles = {role.name: role for role in details.roles}
    assert roles["batch"].assume_role_policy == TRUST_EC2
    assert roles["batch"].permissions_boundary_arn == policy_arn
    assert roles["batch"].tags == {"team": "data"}
    assert roles["batch"].last_used_at == datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    assert roles["batch"].last_used_region == "eu-west-1"
    assert roles["batch"].instance_profile_arns == (
        f"arn:aws:iam::{ACCOUNT}:instance-profile/batch",
    )
    assert roles["batch"].max_session_duration == 3600  # read from the instance profile's role
    assert (roles["idle"].last_used_at, roles["idle"].last_used_region) == (None, None)
    (policy,) = details.policies
    assert policy.name == "read-s3"  # moto omits PolicyName: taken from the ARN
    assert policy.document == S3_READ
    assert policy.is_aws_managed is False
    assert details.pages == 1


@mock_aws
def test_every_aws_managed_policy_is_fetched_from_moto_not_only_the_attached_ones(monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    iam = client(boto3.Session(), "iam")
    iam.create_role(RoleName="auditor", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    iam.attach_role_policy(RoleName="auditor", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")

    details = fetch_authorization_details(iam)
    assert details.policies == ()  # the account call leaves AWS-managed policies out
    assert attached_aws_managed_policy_arns(details) == {"arn:aws:iam::aws:policy/ReadOnlyAccess"}
    downloaded = fetch_aws_managed_policies(iam)

    policies = {policy.name: policy for policy in downloaded.policies}
    assert len(policies) > 1000  # the same for every account: downloaded once for all of them
    assert {"ReadOnlyAccess", "AdministratorAccess", "ViewOnlyAccess"} <= set(policies)
    assert all(policy.is_aws_managed for policy in policies.values())
    assert policies["ReadOnlyAccess"].document["Statement"]
    assert (downloaded.users, downloaded.groups, downloaded.roles) == ((), (), ())


# --- Fetching: pagination and errors (Stubber) --------------------------------------------------


def test_fetch_follows_markers_over_more_than_a_thousand_roles(stubbed_iam):
    iam, stubber = stubbed_iam
    filters = ["User", "Role", "Group", "LocalManagedPolicy"]
    stubber.add_response(
        "get_account_authorization_details",
        {
            "RoleDetailList": [role_item(n) for n in range(1000)],
            "IsTruncated": True,
            "Marker": "m1",
        },
        {"Filter": filters, "MaxItems": 1000},
    )
    stubber.add_response(
        "get_account_authorization_details",
        {"RoleDetailList": [role_item(n) for n in range(1000, 1234)], "IsTruncated": False},
        {"Filter": filters, "MaxItems": 1000, "Marker": "m1"},
    )

    details = fetch_authorization_details(iam)

    assert len(details.roles) == 1234
    assert details.roles[-1].name == "role-1233"
    assert details.roles[0].assume_role_policy == TRUST_EC2  # boto3 decoded the wire string
    assert details.pages == 2


def test_aws_managed_policies_come_in_pages_of_100_keeping_only_the_default_version(
    stubbed_iam,
):
    """AWS sends every version of each policy; only the default one's document is needed."""
    iam, stubber = stubbed_iam
    s3_list = {**S3_READ, "Statement": [{**S3_READ["Statement"][0], "Action": "s3:List*"}]}
    read_only = aws_managed_policy_item("ReadOnlyAccess") | {
        "DefaultVersionId": "v2",
        "PolicyVersionList": [
            {"Document": encoded(S3_READ), "VersionId": "v1", "IsDefaultVersion": False},
            {"Document": encoded(s3_list), "VersionId": "v2", "IsDefaultVersion": True},
            {"Document": encoded(S3_READ), "VersionId": "v3", "IsDefaultVersion": False},
        ],
    }
    stubber.add_response(
        "get_account_authorization_details",
        {
            "Policies": [read_only, aws_managed_policy_item("A")],
            "IsTruncated": True,
            "Marker": "p2",
        },
        {"Filter": ["AWSManagedPolicy"], "MaxItems": 100},
    )
    stubber.add_response(
        "get_account_authorization_details",
        {"Policies": [aws_managed_policy_item("AdministratorAccess")], "IsTruncated": False},
        {"Filter": ["AWSManagedPolicy"], "MaxItems": 100, "Marker": "p2"},
    )

    downloaded = fetch_aws_managed_policies(iam)

    policies = {policy.name: policy for policy in downloaded.policies}
    assert sorted(policies) == ["A", "AdministratorAccess", "ReadOnlyAccess"]
    assert (policies["ReadOnlyAccess"].default_version_id, policies["ReadOnlyAccess"].document) == (
        "v2",
        s3_list,
    )
    assert policies["A"].document == S3_READ and policies["A"].default_version_id == "v3"
    assert downloaded.pages == 2


def test_access_denied_names_the_missing_permission(stubbed_iam):
    iam, stubber = stubbed_iam
    stubber.add_client_error(
        "get_account_authorization_details",
        "AccessDenied",
        "User: arn:aws:sts::123456789012:assumed-role/iamreview/x is not authorized to "
        "perform: iam:GetAccountAuthorizationDetails on resource: *",
        403,
    )
    with pytest.raises(AwsError) as raised:
        fetch_authorization_details(iam)
    assert "lacks iam:GetAccountAuthorizationDetails" in raised.value.readable()


# --- Parsing the AWS CLI's JSON -----------------------------------------------------------------


@pytest.fixture
def cli_details(sample):
    return parse_authorization_details_file(sample("gaad-cli.json"))


def test_cli_file_users_keep_groups_inline_and_attached_policies_and_tags(cli_details):
    alice, ci_deployer = cli_details.users
    assert alice.name == "alice"
    assert alice.user_id == "AIDAEXAMPLEALICE00001"
    assert alice.create_date == datetime(2021, 5, 3, 10, 0, tzinfo=UTC)
    assert alice.groups == ("admins",)
    assert alice.inline_policies[0].document["Statement"][0]["Action"] == [
        "s3:GetObject",
        "s3:ListBucket",
    ]
    assert alice.attached_policies[0].arn == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert alice.tags == {"owner": "security"}
    assert alice.permissions_boundary_arn is None
    assert ci_deployer.path == "/automation/"
    assert ci_deployer.create_date == datetime(2022, 7, 7, 7, 7, 7, tzinfo=UTC)  # "Z" form
    assert ci_deployer.permissions_boundary_arn == "arn:aws:iam::aws:policy/PowerUserAccess"


def test_cli_file_url_encoded_documents_are_decoded(cli_details):
    (admins,) = cli_details.groups
    statement = admins.inline_policies[0].document["Statement"][0]
    assert statement["Effect"] == "Deny"
    # The literal "%" survives: decoding happened exactly once.
    assert statement["Condition"] == {"StringLike": {"aws:PrincipalTag/team": "100%"}}
    batch = cli_details.roles[0]
    assert batch.assume_role_policy["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert batch.inline_policies[0].document["Statement"][0]["Action"] == "s3:*"


def test_cli_file_roles_carry_last_use_profiles_and_embedded_settings(cli_details):
    batch, support, sso = cli_details.roles
    assert batch.last_used_at == datetime(2025, 9, 1, 10, 0, tzinfo=UTC)
    assert batch.last_used_region == "eu-west-1"
    assert batch.instance_profile_arns == (
        "arn:aws:iam::111122223333:instance-profile/legacy-batch",
    )
    assert (batch.max_session_duration, batch.description) == (7200, "Nightly batch jobs")
    assert batch.tags == {"team": "data", "cost-centre": ""}
    # An empty RoleLastUsed means "not used within the tracking period".
    assert (support.last_used_at, support.last_used_region) == (None, None)
    assert (support.max_session_duration, support.description) == (None, None)


def test_service_linked_and_identity_center_roles_are_recognised(cli_details):
    batch, support, sso = cli_details.roles
    assert (batch.is_service_linked, batch.is_sso) == (False, False)
    assert (support.is_service_linked, support.is_sso) == (True, False)
    assert (sso.is_service_linked, sso.is_sso) == (False, True)


def test_cli_file_policies_use_the_default_version_document(cli_details):
    deploy, percent = cli_details.policies
    assert deploy.default_version_id == "v2"
    assert deploy.document["Statement"][0]["Action"] == "s3:*"  # v2, not v1
    assert deploy.attachment_count == 2
    assert deploy.update_date == datetime(2024, 1, 1, tzinfo=UTC)
    assert deploy.is_aws_managed is False
    # No IsDefaultVersion flag: the version matching DefaultVersionId is the default.
    assert percent.document["Statement"][0]["Effect"] == "Deny"
    assert cli_details.pages == 1


def test_attached_aws_managed_policies_include_boundaries_but_not_local_ones(cli_details):
    assert attached_aws_managed_policy_arns(cli_details) == {
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "arn:aws:iam::aws:policy/PowerUserAccess",
        "arn:aws:iam::aws:policy/aws-service-role/AWSSupportServiceRolePolicy",
    }


def test_boto3_style_pages_with_datetimes_parse_like_the_cli_file():
    page = {
        "RoleDetailList": [
            {**role_item(1), "AssumeRolePolicyDocument": TRUST_EC2},
        ],
        "IsTruncated": False,
    }
    (role,) = parse_authorization_details([page, {"UserDetailList": []}]).roles
    assert role.create_date == datetime(2024, 1, 1, tzinfo=UTC)
    assert role.assume_role_policy == TRUST_EC2


def test_policy_without_a_matching_version_has_no_document():
    policy = {**aws_managed_policy_item("Old"), "DefaultVersionId": "v9"}
    policy["PolicyVersionList"] = [{"Document": encoded(S3_READ), "VersionId": "v1"}]
    (parsed,) = parse_authorization_details([{"Policies": [policy]}]).policies
    assert parsed.document is None


# --- Malformed input ----------------------------------------------------------------------------


def test_missing_role_arn_names_the_role_by_its_position_across_pages():
    first = {"RoleDetailList": [role_item(0), role_item(1)]}
    broken = role_item(3)
    del broken["Arn"]
    second = {"RoleDetailList": [role_item(2), broken]}
    with pytest.raises(ParseError) as raised:
        parse_authorization_details([first, second])
    assert str(raised.value) == "RoleDetailList[3].Arn: missing"
    assert raised.value.field == "RoleDetailList[3].Arn"


def test_a_role_listed_twice_across_pages_is_refused_naming_both_places():
    """A hand-merged file: which of the two entries is true is not ours to guess."""
    again = {**role_item(1), "MaxSessionDuration": 43200}
    with pytest.raises(ParseError) as raised:
        parse_authorization_details([{"RoleDetailList": [role_item(0), role_item(1)]},
                                     {"RoleDetailList": [again]}])  # fmt: skip
    assert str(raised.value) == (
        f"RoleDetailList[2].Arn: arn:aws:iam::{ACCOUNT}:role/role-1 is listed again (first as "
        "RoleDetailList[1]): each is listed once"
    )


def test_undecodable_policy_document_names_its_field():
    user = {
        "UserName": "alice",
        "UserId": "AIDA1",
        "Arn": "arn:aws:iam::1:user/alice",
        "CreateDate": "2021-01-01T00:00:00Z",
        "UserPolicyList": [{"PolicyName": "broken", "PolicyDocument": "%7Bnot json"}],
    }
    with pytest.raises(ParseError) as raised:
        parse_authorization_details([{"UserDetailList": [user]}])
    assert raised.value.field == "UserDetailList[0].UserPolicyList[0].PolicyDocument"


def test_bad_create_date_names_its_field():
    role = {**role_item(0), "CreateDate": "last tuesday"}
    with pytest.raises(ParseError, match=r"^RoleDetailList\[0\]\.CreateDate: expected a date"):
        parse_authorization_details([{"RoleDetailList": [role]}])


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-14:00", 1e20, -1e20, float("inf"), float("nan"), -1]
)
def test_a_create_date_no_aws_output_has_names_its_field(value):
    """ISO or epoch seconds at the edges of the calendar, infinite or NaN: were 500s."""
    role = {**role_item(0), "CreateDate": value}
    with pytest.raises(ParseError, match=r"^RoleDetailList\[0\]\.CreateDate: .*outside the dates"):
        parse_authorization_details([{"RoleDetailList": [role]}])


def test_an_integer_longer_than_python_reads_is_a_parse_error():
    with pytest.raises(ParseError, match="unreadable JSON: a number of more than 4,300 digits"):
        parse_authorization_details_file(b'{"UserDetailList": [], "x": ' + b"9" * 5000 + b"}")


def test_invalid_json_file_reports_line_and_column():
    with pytest.raises(ParseError) as raised:
        parse_authorization_details_file(b'{\n  "UserDetailList": [,]\n}')
    assert (raised.value.line, raised.value.column) == (2, 22)
    assert str(raised.value).startswith("line 2, column 22: invalid JSON")


def test_a_json_value_that_is_not_an_object_is_rejected():
    with pytest.raises(ParseError, match="expected a JSON object"):
        parse_authorization_details_file(b'"hello"')
