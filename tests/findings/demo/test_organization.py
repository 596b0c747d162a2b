"""The demo organization: a simulated AWS Organization that the real collectors can read.

Everything is checked the way a collector sees it: through the read-only role in each account,
with GetAccountAuthorizationDetails, ListAccessKeys and the credential report.
"""

import contextlib
import csv
import io
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import botocore.session
import pytest
from botocore.validate import validate_parameters
from moto import mock_aws

from findings.demo.analyzer_findings import access_analyzer_findings_document
from findings.demo.organization import DemoOrganization, build_demo_organization

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SMALL_SCALE = 0.05
DAYS = timedelta(days=1)

USER_VARIETIES = {
    "console user with MFA",
    "console user without MFA",
    "stale key",
    "never-used key older than 45 days",
    "user with two active keys",
    "key not rotated for 90 days",
    "new hire with an unused key",
    "inactive user",
    "service user whose key was used yesterday",
    "deactivated key",
    "user under /engineering/",
    "user under /ci/",
}
ROLE_VARIETIES = {
    "role used within a week",
    "role unused for 13 to 15 months",
    "role unused within the tracking window, created two years ago",
    "service-linked role",
    "SSO role",
    "tagged application role",
    "inline Action * on Resource *",
    "s3:* policy",
    "customer-managed policy attached",
    "admin policy attached",
    "role trusting an outside account",
    "group with policies and members",
}
FINDING_TYPES = {
    "ExternalAccess",
    "InternalAccess",
    "UnusedIAMRole",
    "UnusedIAMUserAccessKey",
    "UnusedIAMUserPassword",
    "UnusedPermission",
}


def use_fake_credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("MOTO_IAM_LOAD_MANAGED_POLICIES", raising=False)


@pytest.fixture(autouse=True)
def simulated_aws(monkeypatch):
    use_fake_credentials(monkeypatch)
    aws = mock_aws()
    aws.start()
    yield aws
    aws.stop()


@contextlib.contextmanager
def organization_in_moto(*, scale):
    """A class-wide organization. The per-test mock_aws nests inside it and resets nothing."""
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        use_fake_credentials(monkeypatch)
        started = time.perf_counter()
        organization = build_demo_organization(now=NOW, scale=scale)
        yield organization, time.perf_counter() - started


# --- Reading the organization as a collector would ----------------------------------------------


@dataclass
class AccountView:
    account_id: str
    caller_account: str
    users: list[dict]
    roles: list[dict]
    groups: list[dict]
    policies: list[dict]
    keys: dict[str, list[dict]]  # user name -> access key metadata plus LastUsedDate
    report: dict[str, dict[str, str]]  # user name -> credential report row


def as_collector(organization: DemoOrganization, role_arn: str, service: str, *, aws=None):
    """A client acting as the collector role: AssumeRole with the organization's ExternalId."""
    aws = aws or boto3.session.Session(region_name="us-east-1")
    credentials = aws.client("sts").assume_role(
        RoleArn=role_arn,
        RoleSessionName="iamreview-test",
        ExternalId=organization.external_id,
    )["Credentials"]
    return aws.client(
        service,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def read_organization(organization: DemoOrganization) -> list[AccountView]:
    aws = boto3.session.Session(region_name="us-east-1")  # shared: clients load models once
    views = []
    for account in organization.accounts:
        iam = as_collector(organization, account.role_arn, "iam", aws=aws)
        sts = as_collector(organization, account.role_arn, "sts", aws=aws)
        details = {
            "UserDetailList": [],
            "RoleDetailList": [],
            "GroupDetailList": [],
            "Policies": [],
        }
        for page in iam.get_paginator("get_account_authorization_details").paginate():
            for key, items in details.items():
                items += page[key]
        keys = {}
        for user in details["UserDetailList"]:
            metadata = iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]
            for key in metadata:
                last_used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
                key["LastUsedDate"] = last_used["AccessKeyLastUsed"].get("LastUsedDate")
            keys[user["UserName"]] = metadata
        assert iam.generate_credential_report()["State"] in {"STARTED", "INPROGRESS", "COMPLETE"}
        report = iam.get_credential_report()
        content = report["Content"].decode()
        # As AWS dates it (moto alone says 2015): generated just now, not years ago.
        assert datetime.now(UTC) - report["GeneratedTime"] < timedelta(minutes=10)
        views.append(
            AccountView(
                account_id=account.account_id,
                caller_account=sts.get_caller_identity()["Account"],
                users=details["UserDetailList"],
                roles=details["RoleDetailList"],
                groups=details["GroupDetailList"],
                policies=details["Policies"],
                keys=keys,
                report={row["user"]: row for row in csv.DictReader(io.StringIO(content))},
            )
        )
    return views


def report_date(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def user_varieties(view: AccountView, now: datetime) -> set[str]:
    found = set()
    for user in view.users:
        name, row = user["UserName"], view.report[user["UserName"]]
        keys = view.keys[name]
        active = [key for key in keys if key["Status"] == "Active"]
        console = row["password_enabled"] == "true"
        if console:
            found.add(f"console user {'with' if row['mfa_active'] == 'true' else 'without'} MFA")
        if len(active) == 2:
            found.add("user with two active keys")
        for key in active:
            last_used, age = key["LastUsedDate"], now - key["CreateDate"]
            if last_used and now - last_used > 90 * DAYS:
                found.add("stale key")
            if last_used is None and age > 45 * DAYS:
                found.add("never-used key older than 45 days")
            if last_used and now - last_used < 7 * DAYS and age > 90 * DAYS:
                found.add("key not rotated for 90 days")
        new_hire = now - user["CreateDate"] < 14 * DAYS
        if new_hire and active and all(key["LastUsedDate"] is None for key in active):
            found.add("new hire with an unused key")
        password_used = report_date(row["password_last_used"])
        keys_idle = all(
            key["LastUsedDate"] and now - key["LastUsedDate"] > 90 * DAYS for key in keys
        )
        if console and password_used and now - password_used > 90 * DAYS and keys and keys_idle:
            found.add("inactive user")
        if user["Path"] in {"/ci/", "/service/"} and any(
            key["LastUsedDate"] and now - key["LastUsedDate"] < 2 * DAYS for key in active
        ):
            found.add("service user whose key was used yesterday")
        if any(key["Status"] == "Inactive" for key in keys):
            found.add("deactivated key")
        if user["Path"] in {"/engineering/", "/ci/"}:
            found.add(f"user under {user['Path']}")
    return found


def statements(document: dict) -> list[dict]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def actions_of(statement: dict) -> list[str]:
    actions = statement.get("Action", [])
    return actions if isinstance(actions, list) else [actions]


def role_varieties(view: AccountView, now: datetime, org_account_ids: set[str]) -> set[str]:
    found = set()
    for role in view.roles:
        last_used = role["RoleLastUsed"].get("LastUsedDate")
        if last_used and now - last_used <= 7 * DAYS:
            found.add("role used within a week")
        if last_used and 390 * DAYS <= now - last_used <= 460 * DAYS:
            found.add("role unused for 13 to 15 months")
        if not last_used and now - role["CreateDate"] > 700 * DAYS:
            found.add("role unused within the tracking window, created two years ago")
        if role["Path"].startswith("/aws-service-role/"):
            found.add("service-linked role")
        if role["RoleName"].startswith("AWSReservedSSO_"):
            assert role["Path"] == "/aws-reserved/sso.amazonaws.com/"
            found.add("SSO role")
        tags = {tag["Key"] for tag in role.get("Tags", [])}
        if {"app", "team"} <= tags:
            found.add("tagged application role")
        for policy in role["RolePolicyList"]:
            for statement in statements(policy["PolicyDocument"]):
                if statement["Action"] == "*" and statement["Resource"] == "*":
                    found.add("inline Action * on Resource *")
                if "s3:*" in actions_of(statement):
                    found.add("s3:* policy")
        for attached in role["AttachedManagedPolicies"]:
            if f":{view.account_id}:policy/" in attached["PolicyArn"]:
                found.add("customer-managed policy attached")
            if attached["PolicyName"] in {"AdministratorAccess", "LegacyAdmin"}:
                found.add("admin policy attached")
        for statement in statements(role["AssumeRolePolicyDocument"]):
            principal = statement["Principal"].get("AWS", "")
            if principal.startswith("arn:aws:iam::") and principal[13:25] not in org_account_ids:
                found.add("role trusting an outside account")
    members = {group for user in view.users for group in user["GroupList"]}
    for group in view.groups:
        has_policies = group["GroupPolicyList"] or group["AttachedManagedPolicies"]
        if has_policies and group["GroupName"] in members:
            found.add("group with policies and members")
    return found


def varieties(organization: DemoOrganization, views: list[AccountView]) -> set[str]:
    org_account_ids = {account.account_id for account in organization.accounts}
    found = set()
    for view in views:
        found |= user_varieties(view, NOW) | role_varieties(view, NOW, org_account_ids)
    return found


def assert_nothing_used_before_it_was_created(views: list[AccountView]):
    for view in views:
        for user in view.users:
            password_used = report_date(view.report[user["UserName"]]["password_last_used"])
            assert password_used is None or password_used >= user["CreateDate"]
            for key in view.keys[user["UserName"]]:
                assert key["CreateDate"] >= user["CreateDate"]
                assert key["LastUsedDate"] is None or key["LastUsedDate"] >= key["CreateDate"]
        for role in view.roles:
            last_used = role["RoleLastUsed"].get("LastUsedDate")
            assert last_used is None or last_used >= role["CreateDate"], role["RoleName"]


# --- A small organization -----------------------------------------------------------------------


@pytest.fixture(scope="class")
def small_organization():
    with organization_in_moto(scale=SMALL_SCALE) as (organization, _seconds):
        findings = access_analyzer_findings_document(organization=organization, now=NOW)
        yield organization, read_organization(organization), findings


class TestSmallDemoOrganization:
    def test_has_a_management_account_and_at_least_three_named_members(self, small_organization):
        organization, _, _ = small_organization
        management, *members = organization.accounts
        assert management.account_id == organization.management_account_id == "123456789012"
        assert len(members) >= 3
        assert [member.name for member in members] == [
            "Production",
            "Staging",
            "Data Platform",
            "Sandbox",
        ]
        assert len({account.account_id for account in organization.accounts}) == len(
            organization.accounts
        )
        assert organization.regions == ("us-east-1", "eu-west-1")

    def test_management_role_lists_every_account_in_the_organization(self, small_organization):
        organization, _, _ = small_organization
        organizations = as_collector(
            organization, organization.management_role_arn, "organizations"
        )
        pages = organizations.get_paginator("list_accounts").paginate()
        listed = {account["Id"]: account for page in pages for account in page["Accounts"]}
        assert set(listed) == {account.account_id for account in organization.accounts}
        assert all(account["State"] == "ACTIVE" for account in listed.values())
        for account in organization.accounts:
            assert listed[account.account_id]["Name"] == account.name

    def test_every_account_has_the_read_only_role_trusting_management_with_the_external_id(
        self, small_organization
    ):
        organization, views, _ = small_organization
        for account, view in zip(organization.accounts, views, strict=True):
            assert account.role_arn.endswith(f":role/{organization.member_role_name}")
            assert view.caller_account == account.account_id
            role = next(r for r in view.roles if r["RoleName"] == organization.member_role_name)
            (statement,) = statements(role["AssumeRolePolicyDocument"])
            assert statement["Principal"] == {
                "AWS": f"arn:aws:iam::{organization.management_account_id}:root"
            }
            assert statement["Condition"] == {
                "StringEquals": {"sts:ExternalId": organization.external_id}
            }

    def test_every_user_and_role_variety_appears_even_at_a_small_scale(self, small_organization):
        organization, views, _ = small_organization
        found = varieties(organization, views)
        assert USER_VARIETIES - found == set()
        assert ROLE_VARIETIES - found == set()

    def test_nothing_is_used_before_it_was_created(self, small_organization):
        _, views, _ = small_organization
        assert_nothing_used_before_it_was_created(views)

    def test_every_finding_matches_the_get_finding_v2_output_shape(self, small_organization):
        _, _, document = small_organization
        model = botocore.session.get_session().get_service_model("accessanalyzer")
        output = model.operation_model("GetFindingV2").output_shape
        enums = {name: set(output.members[name].enum) for name in ("status", "resourceType")}
        findings = [finding for account in document.values() for finding in account]
        assert findings
        for finding in findings:
            validate_parameters(finding, output)  # unknown keys, unions, required members
            assert finding["status"] in enums["status"]
            assert finding["resourceType"] in enums["resourceType"]
            assert finding["findingType"] in FINDING_TYPES
            for name in ("analyzedAt", "createdAt", "updatedAt"):
                stamp = datetime.fromisoformat(finding[name])
                assert finding[name].endswith("+00:00")
                assert stamp <= NOW
            assert finding["createdAt"] <= finding["updatedAt"] <= finding["analyzedAt"]

    def test_findings_cover_every_type_and_every_status_in_every_account(self, small_organization):
        organization, _, document = small_organization
        assert set(document) == {account.account_id for account in organization.accounts}
        for account_id, findings in document.items():
            assert {finding["resourceOwnerAccount"] for finding in findings} == {account_id}
            assert {finding["status"] for finding in findings} == {"ACTIVE", "ARCHIVED", "RESOLVED"}
            assert len({finding["id"] for finding in findings}) == len(findings)
        every_type = {finding["findingType"] for f in document.values() for finding in f}
        assert every_type == FINDING_TYPES

    def test_unused_access_key_findings_name_real_keys_left_unused_for_90_days(
        self, small_organization
    ):
        _, views, document = small_organization
        for view in views:
            keys = {key["AccessKeyId"]: key for keys in view.keys.values() for key in keys}
            unused_key_findings = [
                finding
                for finding in document[view.account_id]
                if finding["findingType"] == "UnusedIAMUserAccessKey"
                and finding["status"] != "RESOLVED"
            ]
            assert unused_key_findings
            for finding in unused_key_findings:
                (detail,) = finding["findingDetails"]
                key = keys[detail["unusedIamUserAccessKeyDetails"]["accessKeyId"]]
                assert finding["resource"].endswith(f"/{key['UserName']}")
                idle_since = key["LastUsedDate"] or key["CreateDate"]
                assert NOW - idle_since > 90 * DAYS

    def test_unused_role_findings_name_real_roles_and_never_service_linked_ones(
        self, small_organization
    ):
        _, views, document = small_organization
        for view in views:
            roles = {role["Arn"]: role for role in view.roles}
            for finding in document[view.account_id]:
                if finding["findingType"] != "UnusedIAMRole" or finding["status"] == "RESOLVED":
                    continue
                role = roles[finding["resource"]]
                assert not role["Path"].startswith("/aws-service-role/")
                last_used = role["RoleLastUsed"].get("LastUsedDate")
                assert last_used is None or NOW - last_used > 90 * DAYS

    def test_external_access_includes_a_public_bucket_and_a_role_trusting_an_outside_account(
        self, small_organization
    ):
        _, _, document = small_organization
        external = [
            finding["findingDetails"][0]["externalAccessDetails"]
            | {"type": finding["resourceType"]}
            for findings in document.values()
            for finding in findings
            if finding["findingType"] == "ExternalAccess"
        ]
        assert any(d["isPublic"] and d["type"] == "AWS::S3::Bucket" for d in external)
        assert any(
            d["type"] == "AWS::IAM::Role" and "sts:externalid" in d["condition"] for d in external
        )
        assert any(d["type"] == "AWS::KMS::Key" and not d["isPublic"] for d in external)

    def test_findings_document_is_plain_json_and_repeats_for_the_same_seed(
        self, small_organization
    ):
        organization, _, document = small_organization
        again = access_analyzer_findings_document(organization=organization, now=NOW)
        assert json.loads(json.dumps(document)) == document
        assert again == document


# --- Building -----------------------------------------------------------------------------------


def fingerprint(organization: DemoOrganization) -> str:
    views = read_organization(organization)
    for view in views:
        for role in view.roles:
            if role["RoleName"] == organization.member_role_name:
                role["RoleLastUsed"] = "stamped by moto when the test assumed it"
    return json.dumps([organization.__repr__(), [view.__dict__ for view in views]], default=str)


def test_the_same_seed_and_now_build_the_same_organization(simulated_aws):
    first = fingerprint(build_demo_organization(seed=11, now=NOW, scale=SMALL_SCALE))
    simulated_aws.stop()
    simulated_aws.start()
    second = fingerprint(build_demo_organization(seed=11, now=NOW, scale=SMALL_SCALE))
    assert first == second


def test_a_different_seed_builds_different_people(simulated_aws):
    def people(seed):
        organization = build_demo_organization(seed=seed, now=NOW, scale=SMALL_SCALE)
        return {user["UserName"] for view in read_organization(organization) for user in view.users}

    first = people(1)
    simulated_aws.stop()
    simulated_aws.start()
    assert people(2) != first


def test_scale_must_be_positive():
    with pytest.raises(ValueError, match="scale"):
        build_demo_organization(scale=0)


def test_without_aws_managed_policies_a_customer_managed_legacy_admin_stands_in():
    organization = build_demo_organization(now=NOW, scale=SMALL_SCALE)
    for view in read_organization(organization):
        attached = {a["PolicyArn"] for role in view.roles for a in role["AttachedManagedPolicies"]}
        assert f"arn:aws:iam::{view.account_id}:policy/LegacyAdmin" in attached
        assert "arn:aws:iam::aws:policy/AdministratorAccess" not in attached


def test_aws_managed_admin_and_read_only_policies_are_attached_when_moto_loads_them(
    simulated_aws, monkeypatch
):
    simulated_aws.stop()
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # read when backends are made
    simulated_aws.start()
    organization = build_demo_organization(now=NOW, scale=SMALL_SCALE)
    for account in organization.accounts:
        iam = as_collector(organization, account.role_arn, "iam")
        details = iam.get_account_authorization_details(Filter=["Role", "LocalManagedPolicy"])
        roles, policies = details["RoleDetailList"], details["Policies"]
        attached = {a["PolicyArn"] for role in roles for a in role["AttachedManagedPolicies"]}
        assert "arn:aws:iam::aws:policy/AdministratorAccess" in attached
        assert "arn:aws:iam::aws:policy/ReadOnlyAccess" in attached
        assert not any(policy["Arn"].endswith("/LegacyAdmin") for policy in policies)
    # moto rebuilds every backend when the mock stops; without the variable that takes no time.
    monkeypatch.delenv("MOTO_IAM_LOAD_MANAGED_POLICIES")


# --- The full-size organization the demo shows --------------------------------------------------


@pytest.fixture(scope="class")
def full_organization():
    with organization_in_moto(scale=1.0) as (organization, seconds):
        yield organization, read_organization(organization), seconds


class TestFullScaleDemoOrganization:
    def test_builds_in_well_under_thirty_seconds(self, full_organization):
        _, _, seconds = full_organization
        assert seconds < 30

    def test_holds_at_least_150_users_and_300_roles_across_accounts(self, full_organization):
        _, views, _ = full_organization
        assert sum(len(view.users) for view in views) >= 150
        assert sum(len(view.roles) for view in views) >= 300

    def test_every_user_and_role_variety_appears(self, full_organization):
        organization, views, _ = full_organization
        found = varieties(organization, views)
        assert USER_VARIETIES - found == set()
        assert ROLE_VARIETIES - found == set()

    def test_nothing_is_used_before_it_was_created(self, full_organization):
        _, views, _ = full_organization
        assert_nothing_used_before_it_was_created(views)

    def test_assuming_each_accounts_role_reads_that_accounts_own_iam(self, full_organization):
        organization, views, _ = full_organization
        aws = boto3.session.Session(region_name="us-east-1")
        role_ids = set()
        for account, view in zip(organization.accounts, views, strict=True):
            sts = as_collector(organization, account.role_arn, "sts", aws=aws)
            iam = as_collector(organization, account.role_arn, "iam", aws=aws)
            assert sts.get_caller_identity()["Account"] == account.account_id
            role = iam.get_role(RoleName=organization.member_role_name)["Role"]
            assert role["Arn"] == account.role_arn
            role_ids.add(role["RoleId"])
            assert all(f"::{account.account_id}:" in user["Arn"] for user in view.users)
        assert len(role_ids) == len(organization.accounts)

    def test_gaad_returns_role_last_used_for_a_used_role(self, full_organization):
        organization, views, _ = full_organization
        used = [
            role["RoleLastUsed"]
            for view in views
            for role in view.roles
            # moto stamps a role assumed through STS with a date but no Region.
            if role["RoleName"] != organization.member_role_name
            and role["RoleLastUsed"].get("LastUsedDate")
        ]
        assert len(used) >= 100
        assert {last_used["Region"] for last_used in used} == {"us-east-1", "eu-west-1"}

    def test_credential_report_lists_every_user(self, full_organization):
        _, views, _ = full_organization
        for view in views:
            assert set(view.report) == {user["UserName"] for user in view.users}
            for user in view.users:
                assert view.report[user["UserName"]]["arn"] == user["Arn"]
