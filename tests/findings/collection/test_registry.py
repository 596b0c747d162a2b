"""The account registry: accounts added by hand, and discovered in an AWS Organization."""

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from django.core.exceptions import ValidationError
from moto import mock_aws

from findings.aws.errors import AwsError
from findings.collection.registry import add_account, discover_organization_accounts, parse_regions
from findings.models import AwsAccount

pytestmark = pytest.mark.django_db

MANAGEMENT = "123456789012"  # moto's default account, which creates the organization


@pytest.fixture
def moto_organization():
    """An organization with three member accounts (moto lists the management account too)."""
    with mock_aws():
        org = boto3.client("organizations")
        org.create_organization(FeatureSet="ALL")
        members = [
            org.create_account(Email=f"team{i}@example.com", AccountName=f"team-{i}")[
                "CreateAccountStatus"
            ]["AccountId"]
            for i in range(3)
        ]
        yield org, members


def discover(**extra):
    return discover_organization_accounts(
        role_arn=f"arn:aws:iam::{MANAGEMENT}:role/OrganizationReader",
        member_role_name="IAMReviewReadOnly",
        **extra,
    )


def test_discovery_registers_every_account_with_its_member_role(moto_organization):
    _, members = moto_organization

    result = discover(external_id="iamreview-7f3a", regions=["us-east-1", "eu-west-1"])

    assert result.seen == 4
    assert {a.account_id for a in result.added} == {MANAGEMENT, *members}
    for account_id in members:
        account = AwsAccount.objects.get(account_id=account_id)
        assert account.role_arn == f"arn:aws:iam::{account_id}:role/IAMReviewReadOnly"
        assert account.origin == AwsAccount.Origin.ORGANIZATIONS
        assert account.org_state == "ACTIVE"
        assert account.enabled
        assert account.external_id == "iamreview-7f3a"
        assert account.regions == ["us-east-1", "eu-west-1"]
        assert account.org_joined_at is not None
    assert AwsAccount.objects.get(account_id=members[0]).name == "team-0"


def test_a_second_discovery_adds_nothing(moto_organization):
    discover()
    before = list(AwsAccount.objects.values())

    result = discover()

    assert result.seen == 4
    assert (result.added, result.updated, result.deactivated) == ([], [], [])
    assert list(AwsAccount.objects.values()) == before


def test_a_closed_account_is_disabled_and_no_longer_collected(moto_organization):
    org, members = moto_organization
    discover()
    org.close_account(AccountId=members[1])

    result = discover()

    assert [a.account_id for a in result.deactivated] == [members[1]]
    closed = AwsAccount.objects.get(account_id=members[1])
    assert closed.org_state == "SUSPENDED"
    assert not closed.enabled
    assert AwsAccount.objects.filter(enabled=True).count() == 3


def test_discovery_with_the_collectors_own_credentials(moto_organization):
    result = discover_organization_accounts(role_arn="", member_role_name="/IAMReviewReadOnly/")
    account = next(a for a in result.added if a.account_id != MANAGEMENT)
    assert account.role_arn.endswith(":role/IAMReviewReadOnly")


# --- ListAccounts pages and states (Stubber) ----------------------------------------------------


def org_account(
    account_id: str, state: str = "ACTIVE", name: str = "", organization: str = "o-abc"
) -> dict:
    return {
        "Id": account_id,
        "Arn": f"arn:aws:organizations::{MANAGEMENT}:account/{organization}/{account_id}",
        "Email": f"{account_id}@example.com",
        "Name": name or f"acct-{account_id}",
        "State": state,
        "JoinedMethod": "CREATED",
        "JoinedTimestamp": datetime(2024, 5, 1, tzinfo=UTC),
    }


@pytest.fixture
def stubbed_organizations(monkeypatch):
    """boto3 hands our code a stubbed Organizations client; everything else is untouched."""
    original = boto3.session.Session.client
    org = original(boto3.Session(), "organizations", region_name="us-east-1")
    stubber = Stubber(org)
    stubber.activate()

    def client_for(self, service_name, *args, **kwargs):
        if service_name == "organizations":
            return org
        return original(self, service_name, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", client_for)
    yield stubber
    stubber.assert_no_pending_responses()
    stubber.deactivate()


def test_empty_pages_do_not_end_discovery_and_inactive_states_are_disabled(stubbed_organizations):
    stubber = stubbed_organizations
    add_account(account_id="222233334444", name="Legacy (added by hand)")
    stubber.add_response("list_accounts", {"Accounts": [], "NextToken": "t1"}, {})
    stubber.add_response(
        "list_accounts",
        {
            "Accounts": [
                org_account("111122223333", "ACTIVE"),
                org_account("555566667777", "SUSPENDED"),
            ],
            "NextToken": "t2",
        },
        {"NextToken": "t1"},
    )
    stubber.add_response("list_accounts", {"Accounts": [], "NextToken": "t3"}, {"NextToken": "t2"})
    stubber.add_response(
        "list_accounts",
        {
            "Accounts": [
                org_account("888899990000", "PENDING_CLOSURE"),
                org_account("222233334444", "CLOSED", name="legacy"),
            ]
        },
        {"NextToken": "t3"},
    )

    result = discover_organization_accounts(role_arn="", member_role_name="IAMReviewReadOnly")

    assert result.seen == 4
    assert {a.account_id for a in result.added} == {"111122223333", "555566667777", "888899990000"}
    states = {a.account_id: (a.org_state, a.enabled) for a in AwsAccount.objects.all()}
    assert states == {
        "111122223333": ("ACTIVE", True),
        "555566667777": ("SUSPENDED", False),
        "888899990000": ("PENDING_CLOSURE", False),
        "222233334444": ("CLOSED", False),
    }
    assert [a.account_id for a in result.deactivated] == ["222233334444"]
    legacy = AwsAccount.objects.get(account_id="222233334444")
    assert legacy.name == "legacy"
    assert legacy.origin == AwsAccount.Origin.MANUAL


def test_access_denied_listing_accounts_is_a_readable_error(stubbed_organizations):
    stubbed_organizations.add_client_error(
        "list_accounts", "AccessDeniedException", "You don't have permissions", 400
    )
    with pytest.raises(AwsError, match="organizations:ListAccounts"):
        discover_organization_accounts(role_arn="", member_role_name="IAMReviewReadOnly")
    assert not AwsAccount.objects.exists()


# --- Adding by hand -----------------------------------------------------------------------------


def test_an_account_is_added_with_its_role_and_regions():
    account = add_account(
        account_id=" 111122223333 ",
        name="",
        role_arn="arn:aws:iam::111122223333:role/IAMReviewReadOnly",
        regions=parse_regions(value="us-east-1, eu-west-1,us-east-1"),
    )
    assert account.account_id == "111122223333"
    assert account.name == "111122223333"
    assert account.regions == ["us-east-1", "eu-west-1"]
    assert account.origin == AwsAccount.Origin.MANUAL and account.enabled


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"account_id": "1234"}, "12 digits"),
        ({"role_arn": "arn:aws:iam::111122223333:user/alice"}, "role ARN"),
    ],
)
def test_an_invalid_account_is_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        add_account(**{"account_id": "111122223333", "name": "x", **fields})
    assert not AwsAccount.objects.exists()


def test_the_same_account_cannot_be_added_twice():
    add_account(account_id="111122223333", name="Production")
    with pytest.raises(ValidationError):
        add_account(account_id="111122223333", name="Again")


def test_a_region_name_must_look_like_one():
    with pytest.raises(ValidationError, match="eu-west"):
        parse_regions(value="us-east-1,eu-west")
    assert parse_regions(value="") == []
    # Shaped like one, but no region: it was saved, and only the next collection failed.
    with pytest.raises(ValidationError, match="'moon-base-9' is not an AWS region"):
        parse_regions(value="us-east-1, moon-base-9")
    assert parse_regions(value="ap-southeast-2, us-gov-west-1, cn-north-1") == [
        "ap-southeast-2",
        "us-gov-west-1",
        "cn-north-1",
    ]


def test_the_role_to_assume_must_be_in_the_account_it_reads(db):
    with pytest.raises(ValidationError) as refused:
        add_account(
            account_id="111122223333",
            name="Production",
            role_arn="arn:aws:iam::444455556666:role/IAMReviewReadOnly",
        )
    assert refused.value.message_dict == {
        "role_arn": [
            "This role is in account 444455556666, not 111122223333: the role to assume must "
            "be in the account it reads."
        ]
    }
    assert not AwsAccount.objects.exists()


def test_members_of_an_organization_in_another_partition_get_roles_in_that_partition(
    moto_organization,
):
    """arn:aws:iam::... was built for every member: in aws-cn each collection then failed."""
    _, members = moto_organization

    discover_organization_accounts(
        role_arn=f"arn:aws-cn:iam::{MANAGEMENT}:role/OrganizationReader",
        member_role_name="IAMReviewReadOnly",
    )

    account = AwsAccount.objects.get(account_id=members[0])
    assert account.role_arn == f"arn:aws-cn:iam::{members[0]}:role/IAMReviewReadOnly"
