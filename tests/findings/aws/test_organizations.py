from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from findings.aws.errors import AwsError, ParseError
from findings.aws.organizations import list_organization_accounts, own_organization
from findings.aws.session import client

JOINED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def account(number: int, **fields) -> dict:
    return {
        "Id": f"{number:012d}",
        "Arn": f"arn:aws:organizations::111122223333:account/o-example123/{number:012d}",
        "Email": f"account-{number}@example.com",
        "Name": f"account-{number}",
        "JoinedMethod": "CREATED",
        "JoinedTimestamp": JOINED,
        **fields,
    }


@pytest.fixture
def stubbed_org():
    org = client(boto3.Session(), "organizations")
    with Stubber(org) as stubber:
        yield org, stubber
        stubber.assert_no_pending_responses()


@mock_aws
def test_accounts_created_in_the_organization_are_listed_with_their_state():
    org = client(boto3.Session(), "organizations")
    org.create_organization(FeatureSet="ALL")
    created = org.create_account(AccountName="workloads", Email="workloads@example.com")
    member_id = created["CreateAccountStatus"]["AccountId"]

    accounts = {a.account_id: a for a in list_organization_accounts(org)}

    assert set(accounts) == {"123456789012", member_id}
    member = accounts[member_id]
    assert (member.name, member.email, member.state) == (
        "workloads",
        "workloads@example.com",
        "ACTIVE",
    )
    assert member.joined_at.tzinfo is UTC


def test_an_account_outside_any_organization_gets_a_readable_error(stubbed_org):
    org, stubber = stubbed_org
    stubber.add_client_error(
        "list_accounts", "AWSOrganizationsNotInUseException", "not in use", 400
    )
    with pytest.raises(AwsError) as raised:
        list_organization_accounts(org)
    assert raised.value.readable() == "This account is not a member of an AWS Organization"


def test_empty_pages_do_not_end_the_listing_while_a_next_token_remains(stubbed_org):
    org, stubber = stubbed_org
    stubber.add_response(
        "list_accounts", {"Accounts": [account(1, State="ACTIVE")], "NextToken": "a"}, {}
    )
    stubber.add_response("list_accounts", {"Accounts": [], "NextToken": "b"}, {"NextToken": "a"})
    stubber.add_response("list_accounts", {"Accounts": [], "NextToken": "c"}, {"NextToken": "b"})
    stubber.add_response(
        "list_accounts", {"Accounts": [account(2, State="SUSPENDED")]}, {"NextToken": "c"}
    )

    accounts = list_organization_accounts(org)

    assert [(a.account_id, a.state) for a in accounts] == [
        ("000000000001", "ACTIVE"),
        ("000000000002", "SUSPENDED"),
    ]
    assert accounts[0].joined_at == JOINED


def test_state_wins_over_the_retiring_status_which_is_only_a_fallback(stubbed_org):
    org, stubber = stubbed_org
    stubber.add_response(
        "list_accounts",
        {
            "Accounts": [
                account(1, State="PENDING_CLOSURE", Status="ACTIVE"),
                account(2, Status="SUSPENDED"),
            ]
        },
    )
    closing, old_style = list_organization_accounts(org)
    assert closing.state == "PENDING_CLOSURE"
    assert old_style.state == "SUSPENDED"


def test_listing_from_a_member_account_is_access_denied(stubbed_org):
    org, stubber = stubbed_org
    stubber.add_client_error(
        "list_accounts",
        "AccessDeniedException",
        "You don't have permissions to access this resource.",
        400,
    )
    with pytest.raises(AwsError) as raised:
        list_organization_accounts(org)
    assert "lacks organizations:ListAccounts" in raised.value.readable()


# --- Which organization the calling account is in (DescribeOrganization) --------------------


def organization_answer(organization_id: str) -> dict:
    return {
        "Organization": {
            "Id": organization_id,
            "Arn": f"arn:aws:organizations::111122223333:organization/{organization_id}",
            "FeatureSet": "ALL",
            "MasterAccountId": "111122223333",
        }
    }


def test_the_organization_an_account_is_in_is_its_describe_organization_id(stubbed_org):
    org, stubber = stubbed_org
    stubber.add_response("describe_organization", organization_answer("o-a1b2c3d4e5"), {})

    assert own_organization(org) == "o-a1b2c3d4e5"


def test_an_account_in_no_organization_is_none_not_an_error(stubbed_org):
    org, stubber = stubbed_org
    stubber.add_client_error(
        "describe_organization", "AWSOrganizationsNotInUseException", "not a member", 400
    )

    assert own_organization(org) is None


def test_a_denied_describe_organization_names_the_permission(stubbed_org):
    org, stubber = stubbed_org
    stubber.add_client_error("describe_organization", "AccessDeniedException", "denied", 403)

    with pytest.raises(AwsError) as raised:
        own_organization(org)

    assert "organizations:DescribeOrganization" in str(raised.value)


@pytest.mark.parametrize("odd", ["", "o-", "O-A1B2C3D4E5", "o-a1b2c3d4e5\x00", "x" * 500])
def test_an_answer_without_an_organization_id_is_a_parse_error(stubbed_org, odd):
    org, stubber = stubbed_org
    stubber.add_response("describe_organization", organization_answer(odd), {})

    with pytest.raises(ParseError):
        own_organization(org)


@mock_aws
def test_the_management_account_is_in_its_own_organization():
    management = client(boto3.Session(), "organizations")
    organization_id = management.create_organization(FeatureSet="ALL")["Organization"]["Id"]

    assert own_organization(management) == organization_id
