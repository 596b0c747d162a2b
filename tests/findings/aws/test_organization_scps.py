"""Reading an organization's service control policies: each account's chain of levels, root
first, with the policies attached at each."""

import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from findings.aws.errors import AwsError
from findings.aws.organizations import read_service_control_policies
from findings.aws.session import client

DENY_IAM_WRITES = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "iam:CreatePolicyVersion", "Resource": "*"}],
}


def organization(*, enable: bool = True):
    org = client(boto3.Session(), "organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    if enable:
        org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    return org, root


@mock_aws
def test_each_account_gets_its_chain_from_the_root_with_the_policies_at_each_level():
    org, root = organization()
    workloads = org.create_organizational_unit(ParentId=root, Name="Workloads")
    prod = org.create_organizational_unit(
        ParentId=workloads["OrganizationalUnit"]["Id"], Name="Prod"
    )
    prod_id = prod["OrganizationalUnit"]["Id"]
    member = org.create_account(AccountName="shop", Email="shop@example.com")
    member_id = member["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=member_id, SourceParentId=root, DestinationParentId=prod_id)
    policy = org.create_policy(
        Content=json.dumps(DENY_IAM_WRITES),
        Description="no new policy versions",
        Name="ProtectIAM",
        Type="SERVICE_CONTROL_POLICY",
    )["Policy"]["PolicySummary"]
    org.attach_policy(PolicyId=policy["Id"], TargetId=prod_id)

    scps = read_service_control_policies(org)

    assert scps.enabled
    chain = scps.chains[member_id]
    assert [(level.kind, level.name) for level in chain] == [
        ("root", "Root"),
        ("ou", "Workloads"),
        ("ou", "Prod"),
        ("account", "shop"),
    ]
    assert chain[2].policy_ids == tuple(sorted(["p-FullAWSAccess", policy["Id"]]))
    assert scps.policies[policy["Id"]].document == DENY_IAM_WRITES
    assert scps.policies[policy["Id"]].name == "ProtectIAM"
    assert scps.policies["p-FullAWSAccess"].aws_managed
    management = scps.chains["123456789012"]
    assert [level.kind for level in management] == ["root", "account"]


@mock_aws
def test_an_organization_without_scps_enabled_reports_so_and_lists_nothing_more():
    org, _ = organization(enable=False)
    scps = read_service_control_policies(org)
    assert (scps.enabled, scps.policies, scps.chains) == (False, {}, {})


ROOT = {
    "Id": "r-ab12",
    "Arn": "arn:aws:organizations::111122223333:root/o-example123/r-ab12",
    "Name": "Root",
    "PolicyTypes": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}],
}


@pytest.fixture
def stubbed_org():
    org = client(boto3.Session(), "organizations")
    with Stubber(org) as stubber:
        yield org, stubber
        stubber.assert_no_pending_responses()


def test_every_page_is_read_even_after_an_empty_one(stubbed_org):
    org, stubber = stubbed_org
    stubber.add_response("list_roots", {"Roots": [ROOT]})
    stubber.add_response(
        "list_policies",
        {"Policies": [], "NextToken": "more"},
        {"Filter": "SERVICE_CONTROL_POLICY"},
    )
    stubber.add_response(
        "list_policies",
        {"Policies": [{"Id": "p-full", "Name": "FullAWSAccess", "AwsManaged": True}]},
        {"Filter": "SERVICE_CONTROL_POLICY", "NextToken": "more"},
    )
    content = json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    stubber.add_response(
        "describe_policy", {"Policy": {"Content": content}}, {"PolicyId": "p-full"}
    )
    stubber.add_response(
        "list_targets_for_policy",
        {"Targets": [{"TargetId": "r-ab12", "Type": "ROOT"}], "NextToken": "t2"},
        {"PolicyId": "p-full"},
    )
    stubber.add_response(
        "list_targets_for_policy",
        {"Targets": [{"TargetId": "111122223333", "Type": "ACCOUNT"}]},
        {"PolicyId": "p-full", "NextToken": "t2"},
    )
    stubber.add_response(
        "list_accounts_for_parent",
        {"Accounts": [{"Id": "111122223333", "Name": "management"}]},
        {"ParentId": "r-ab12"},
    )
    stubber.add_response(
        "list_organizational_units_for_parent",
        {"OrganizationalUnits": []},
        {"ParentId": "r-ab12"},
    )

    scps = read_service_control_policies(org)

    (root, account) = scps.chains["111122223333"]
    assert root.policy_ids == account.policy_ids == ("p-full",)


def test_a_missing_permission_names_the_action_to_grant(stubbed_org):
    org, stubber = stubbed_org
    stubber.add_response("list_roots", {"Roots": [ROOT]})
    stubber.add_client_error("list_policies", "AccessDeniedException", "no", 400)
    with pytest.raises(AwsError) as raised:
        read_service_control_policies(org)
    assert "organizations:ListPolicies" in raised.value.readable()


def test_content_that_is_not_a_policy_is_a_clear_error(stubbed_org):
    org, stubber = stubbed_org
    stubber.add_response("list_roots", {"Roots": [ROOT]})
    stubber.add_response(
        "list_policies",
        {"Policies": [{"Id": "p-bad", "Name": "Bad"}]},
        {"Filter": "SERVICE_CONTROL_POLICY"},
    )
    stubber.add_response("describe_policy", {"Policy": {"Content": "[1]"}}, {"PolicyId": "p-bad"})
    with pytest.raises(ValueError, match="p-bad: the SCP's content is not a policy document"):
        read_service_control_policies(org)
