"""Inventory read functions: users (the root row too) and roles, as plain rows."""

import json
from pathlib import Path

import pytest

from findings.collection.imports import import_file
from findings.collection.registry import add_account
from findings.inventory.selectors import role_rows, user_rows

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parents[1] / "data"
ACCOUNT = "111122223333"
OTHER = "444455556666"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:*"}
    ],
}
READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}],
}


def user(name: str, account: str = ACCOUNT, **extra) -> dict:
    return {
        "Path": "/",
        "UserName": name,
        "UserId": f"AIDA{name.upper()}",
        "Arn": f"arn:aws:iam::{account}:user/{name}",
        "CreateDate": "2021-05-03T10:00:00+00:00",
        "GroupList": [],
        "AttachedManagedPolicies": [],
        **extra,
    }


def role(name: str, path: str = "/", last_used: dict | None = None, **extra) -> dict:
    return {
        "Path": path,
        "RoleName": name,
        "RoleId": f"AROA{name.upper()}",
        "Arn": f"arn:aws:iam::{ACCOUNT}:role{path}{name}",
        "CreateDate": "2022-01-01T00:00:00+00:00",
        "AssumeRolePolicyDocument": TRUST,
        "InstanceProfileList": [],
        "RolePolicyList": [],
        "AttachedManagedPolicies": [],
        "Tags": [],
        "RoleLastUsed": last_used or {},
        **extra,
    }


def authorization_details(users: list[dict], roles: list[dict], account: str = ACCOUNT) -> bytes:
    reader = f"arn:aws:iam::{account}:policy/reader"
    return json.dumps(
        {
            "UserDetailList": users,
            "GroupDetailList": [],
            "RoleDetailList": roles,
            "Policies": [
                {
                    "PolicyName": "reader",
                    "PolicyId": "ANPAREADER",
                    "Arn": reader,
                    "Path": "/",
                    "DefaultVersionId": "v1",
                    "AttachmentCount": 1,
                    "PolicyVersionList": [
                        {"Document": READ, "VersionId": "v1", "IsDefaultVersion": True}
                    ],
                }
            ],
        }
    ).encode()


@pytest.fixture
def production():
    account = add_account(account_id=ACCOUNT, name="Production")
    import_file(
        account=account,
        kind="credential-report",
        data=(DATA / "credential-report.csv").read_bytes(),
    )
    reader = {"PolicyName": "reader", "PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/reader"}
    import_file(
        account=account,
        kind="authorization-details",
        data=authorization_details(
            users=[
                user("alice", GroupList=["developers"], Tags=[{"Key": "team", "Value": "pay"}]),
                user("just-created"),
            ],
            roles=[
                role(
                    "app",
                    last_used={"LastUsedDate": "2026-11-20T07:45:00+00:00", "Region": "eu-west-1"},
                    AttachedManagedPolicies=[reader],
                    RolePolicyList=[{"PolicyName": "queue", "PolicyDocument": READ}],
                ),
                role("idle"),
                role("AWSServiceRoleForSupport", path="/aws-service-role/support.amazonaws.com/"),
            ],
        ),
    )
    return account


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {row["name"]: row for row in rows}


def test_user_rows_start_with_the_root_row_and_include_every_reported_user(production):
    rows = user_rows()

    assert rows[0]["name"] == "<root_account>"
    assert rows[0]["arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert rows[0]["password_enabled"] is None
    assert rows[0]["password_last_changed_reason"] == "not_supported"
    assert rows[0]["mfa_active"] is True
    assert set(by_name(rows)) == {
        "<root_account>",
        "alice",
        "bob",
        "ci-deployer",
        "new-hire",
        "former-contractor",
        "just-created",
    }


def test_never_used_and_no_credential_are_told_apart(production):
    rows = by_name(user_rows())

    assert (rows["bob"]["password_last_used"], rows["bob"]["password_last_used_reason"]) == (
        None,
        "no_information",
    )
    ci = rows["ci-deployer"]
    assert (ci["password_last_used"], ci["password_last_used_reason"]) == (None, "N/A")
    assert rows["alice"]["password_last_used"] == "2026-10-31T08:44:02+00:00"
    assert rows["alice"]["password_last_used_reason"] is None
    # An active key never used: no date, N/A as the reason, and still active.
    assert rows["bob"]["access_key_2_active"] is True
    assert rows["bob"]["access_key_2_last_used_date_reason"] == "N/A"


def test_iam_facts_and_credential_report_facts_are_joined_per_user(production):
    rows = by_name(user_rows(account_id=ACCOUNT))

    alice = rows["alice"]
    assert alice["groups"] == ["developers"]
    assert alice["tags"] == {"team": "pay"}
    assert alice["in_credential_report"] is True
    assert alice["access_key_1_last_used_service"] == "ec2"
    # In IAM already, not yet in a credential report (AWS regenerates it at most every 4 h).
    assert rows["just-created"]["in_credential_report"] is False
    assert "password_last_used" not in rows["just-created"]
    # In the report only: no IAM path to show.
    assert rows["bob"]["path"] is None


def test_user_rows_filter_by_account_and_leave_out_users_that_are_gone(production):
    other = add_account(account_id=OTHER, name="Staging")
    import_file(
        account=other,
        kind="authorization-details",
        data=authorization_details(users=[user("carol", account=OTHER)], roles=[], account=OTHER),
    )
    assert [r["name"] for r in user_rows(account_id=OTHER)] == ["carol"]

    nothing = authorization_details([], [], account=OTHER)
    import_file(account=other, kind="authorization-details", data=nothing, complete=True)
    assert user_rows(account_id=OTHER) == []
    assert "carol" not in by_name(user_rows())


def test_role_rows_show_last_use_or_why_there_is_none(production):
    rows = by_name(role_rows(account_id=ACCOUNT))

    app = rows["app"]
    assert app["arn"] == f"arn:aws:iam::{ACCOUNT}:role/app"
    assert (app["last_used"], app["last_used_region"]) == ("2026-11-20T07:45:00+00:00", "eu-west-1")
    assert app["last_used_note"] is None
    assert app["policies"] == ["queue", "reader"]
    idle = rows["idle"]
    assert idle["last_used"] is None
    assert idle["last_used_note"] == "not used within AWS's tracking window (about 400 days)"
    assert idle["policies"] == []
    assert rows["AWSServiceRoleForSupport"]["service_linked"] is True
    assert app["service_linked"] is False and app["sso"] is False
