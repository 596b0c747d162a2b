import dataclasses
from datetime import UTC, datetime

import pytest

from findings.aws.records import ManagedPolicyDetail, OrgAccount, RoleDetail


def role(name: str, path: str = "/") -> RoleDetail:
    return RoleDetail(
        name=name,
        role_id="AROAEXAMPLE",
        arn=f"arn:aws:iam::111122223333:role{path}{name}",
        path=path,
        create_date=datetime(2024, 1, 1, tzinfo=UTC),
        assume_role_policy=None,
        inline_policies=(),
        attached_policies=(),
        permissions_boundary_arn=None,
        tags={},
        last_used_at=None,
        last_used_region=None,
        instance_profile_arns=(),
        max_session_duration=None,
        description=None,
    )


def policy(arn: str) -> ManagedPolicyDetail:
    return ManagedPolicyDetail(
        name=arn.rsplit("/", 1)[1],
        policy_id=None,
        arn=arn,
        path="/",
        default_version_id="v1",
        document=None,
        attachment_count=0,
        create_date=None,
        update_date=None,
    )


def test_service_linked_roles_are_those_under_the_aws_service_role_path():
    assert role(
        "AWSServiceRoleForSupport", "/aws-service-role/support.amazonaws.com/"
    ).is_service_linked
    assert not role("aws-service-role-lookalike").is_service_linked


def test_identity_center_roles_are_recognised_by_their_path_not_their_name():
    assert role("AWSReservedSSO_Admin_0123abcd", "/aws-reserved/sso.amazonaws.com/").is_sso
    # Anyone may name a role of their own so; only AWS creates roles under its reserved path.
    assert not role("AWSReservedSSO_Admin_0123abcd").is_sso
    assert role("sso-admin", "/aws-reserved/sso.amazonaws.com/eu-west-1/").is_sso
    assert not role("AdminSSO").is_sso


@pytest.mark.parametrize(
    ("arn", "aws_managed"),
    [
        ("arn:aws:iam::aws:policy/ReadOnlyAccess", True),
        ("arn:aws:iam::aws:policy/service-role/AWSConfigRole", True),
        ("arn:aws-cn:iam::aws:policy/ReadOnlyAccess", True),
        ("arn:aws:iam::111122223333:policy/aws", False),
    ],
)
def test_aws_managed_policies_are_owned_by_the_aws_account(arn, aws_managed):
    assert policy(arn).is_aws_managed is aws_managed


def test_records_are_frozen_and_keyword_only():
    account = OrgAccount(
        account_id="111122223333",
        name="prod",
        email="p@example.com",
        state="ACTIVE",
        joined_at=None,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        account.state = "CLOSED"
    with pytest.raises(TypeError):
        OrgAccount("111122223333", "prod", "p@example.com", "ACTIVE", None)
    assert not hasattr(account, "__dict__")  # slots
