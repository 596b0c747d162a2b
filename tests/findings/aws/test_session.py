import boto3
import pytest
from moto import mock_aws

from findings.aws.errors import AwsError
from findings.aws.session import (
    account_id_from_role_arn,
    assume_role_session,
    client,
    client_config,
    hub_session,
)

HUB_ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture
def member_account():
    """An organization with one member account, made the way moto supports cross-account."""
    with mock_aws():
        org = client(boto3.Session(), "organizations")
        org.create_organization(FeatureSet="ALL")
        status = org.create_account(AccountName="workloads", Email="workloads@example.com")
        yield status["CreateAccountStatus"]["AccountId"]


def spy_on_assume_role(session: boto3.Session) -> list[dict]:
    """Capture the AssumeRole parameters through botocore's own event hooks."""
    calls = []
    session.events.register(
        "provide-client-params.sts.AssumeRole", lambda params, **_: calls.append(dict(params))
    )
    return calls


def test_clients_use_adaptive_retries_and_timeouts():
    config = client_config()
    assert config.retries == {"mode": "adaptive", "max_attempts": 10}
    assert config.connect_timeout and config.read_timeout
    iam = client(boto3.Session(), "iam")
    assert iam.meta.config.retries["mode"] == "adaptive"


def test_clients_keep_the_endpoint_from_aws_endpoint_url(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:5000")
    assert client(hub_session(), "iam").meta.endpoint_url == "http://localhost:5000"
    assert client(hub_session(), "accessanalyzer", "eu-west-1").meta.region_name == "eu-west-1"


def test_assumed_role_acts_in_the_member_account(member_account):
    base = boto3.Session()
    calls = spy_on_assume_role(base)
    role_arn = f"arn:aws:iam::{member_account}:role/OrganizationAccountAccessRole"

    session = assume_role_session(role_arn=role_arn, base_session=base)

    identity = client(session, "sts").get_caller_identity()
    assert identity["Account"] == member_account
    assert identity["Arn"].endswith("/iamreview")
    assert calls == [{"RoleArn": role_arn, "RoleSessionName": "iamreview", "DurationSeconds": 3600}]
    # IAM in the member account is separate from the hub's.
    client(session, "iam").create_user(UserName="only-in-member")
    hub_users = client(base, "iam").list_users()["Users"]
    assert "only-in-member" not in [user["UserName"] for user in hub_users]


def test_external_id_and_session_settings_are_sent_when_given(member_account):
    base = boto3.Session()
    calls = spy_on_assume_role(base)
    role_arn = f"arn:aws:iam::{member_account}:role/iamreview-readonly"

    assume_role_session(
        role_arn=role_arn,
        external_id="c0ffee-tenant-7",
        session_name="iamreview-collect",
        base_session=base,
        duration_seconds=900,
    )

    assert calls == [
        {
            "RoleArn": role_arn,
            "RoleSessionName": "iamreview-collect",
            "DurationSeconds": 900,
            "ExternalId": "c0ffee-tenant-7",
        }
    ]


def test_malformed_role_arn_is_refused_before_calling_aws():
    with pytest.raises(ValueError, match="not a role"):
        assume_role_session(role_arn="arn:aws:iam::123456789012:user/alice")


def test_missing_credentials_are_a_readable_aws_error(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_SECURITY_TOKEN")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(AwsError) as raised:
        assume_role_session(role_arn=f"arn:aws:iam::{HUB_ACCOUNT}:role/iamreview")
    assert raised.value.code == "NoCredentials"
    assert raised.value.operation == "AssumeRole"
    assert raised.value.readable().startswith("No AWS credentials found")


@pytest.mark.parametrize(
    ("arn", "account"),
    [
        ("arn:aws:iam::111122223333:role/iamreview", "111122223333"),
        ("arn:aws:iam::111122223333:role/path/to/iamreview-readonly", "111122223333"),
        ("arn:aws-us-gov:iam::111122223333:role/iamreview", "111122223333"),
        ("arn:aws-cn:iam::111122223333:role/a.b@c=d,e+f", "111122223333"),
        ("  arn:aws:iam::111122223333:role/iamreview\n", "111122223333"),
    ],
)
def test_account_id_is_read_from_a_role_arn(arn, account):
    assert account_id_from_role_arn(arn) == account


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        ("iamreview", "is not an ARN"),
        ("arn:aws:sts::111122223333:assumed-role/x/y", "is not an IAM ARN"),
        ("arn:aws:iam::11112222333:role/iamreview", "no 12-digit account id"),
        ("arn:aws:iam::111122223333:user/alice", "names a 'user', not a role"),
        ("arn:aws:iam::111122223333:role/", "is not a valid role ARN"),
        ("arn:aws:iam::111122223333:role/with space", "is not a valid role ARN"),
    ],
)
def test_malformed_role_arns_say_what_is_wrong(arn, message):
    with pytest.raises(ValueError, match=message) as raised:
        account_id_from_role_arn(arn)
    assert "arn:aws:iam::<12-digit account id>:role/<role name>" in str(raised.value)
