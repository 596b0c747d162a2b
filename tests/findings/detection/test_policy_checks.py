"""The checks on effective permissions: small Evidence in, problems out."""

import pytest

from findings.detection.checks import CHECKS_BY_ID, Evidence, Principal, Thresholds
from findings.models import CredentialReportEntry
from tests.findings.detection.test_detect import NOW, credential_fields, days_ago

ACCOUNT = "111122223333"
MFA_DENY = {
    "Effect": "Deny",
    "Action": "ec2:TerminateInstances",
    "Resource": "*",
    "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
}


def allow(action, resource="*", condition=None) -> dict:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    return {**statement, "Condition": condition} if condition else statement


def user(*statements, boundary=None) -> Principal:
    return Principal(
        arn=f"arn:aws:iam::{ACCOUNT}:user/alice",
        name="alice",
        kind="user",
        create_date=days_ago(400),
        tags={},
        documents=[("app", "inline", {"Statement": list(statements)})],
        boundary=("limit", {"Statement": [boundary]}) if boundary else None,
    )


def evidence(*principals, console=True) -> Evidence:
    entries = [CredentialReportEntry(**credential_fields("alice", password_enabled=console))]
    return Evidence(ACCOUNT, NOW, entries, list(principals), [], {}, [], set(), set())


def found(check_id, *statements, boundary=None, console=True) -> list:
    ev = evidence(user(*statements, boundary=boundary), console=console)
    return list(CHECKS_BY_ID[check_id].run(ev=ev, t=Thresholds()))


def test_a_boundary_caps_an_administrator_to_what_it_allows():
    admin = allow("*")
    assert found("privilege-escalation", allow("iam:PutUserPolicy"))
    capped = found("privilege-escalation", admin, boundary=allow("s3:*"))
    assert capped == []
    unscoped = found("principal-creation-without-boundary", admin, boundary=allow("s3:*"))
    assert unscoped == []


def test_an_escalation_finding_names_the_method_its_source_and_the_library():
    (item,) = found("privilege-escalation", allow(["iam:PassRole", "ec2:RunInstances"]))
    methods = {m["method"]: m for m in item.evidence["methods"]}
    assert "Rhino Security Labs" in methods["CreateEC2WithExistingInstanceProfile"]["source"]
    assert item.evidence["library"].startswith("policy_sentry ")


def test_an_explicit_deny_removes_the_escalation():
    deny = {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}
    assert found("privilege-escalation", allow("iam:PutUserPolicy"), deny) == []


@pytest.mark.parametrize(
    "statement, reported",
    [
        (allow(["ec2:DescribeInstances", "s3:ListAllMyBuckets"]), []),
        (allow(["ec2:DescribeInstances", "s3:GetObject"]), ["s3:GetObject"]),
        (allow("s3:GetObject", "arn:aws:s3:::bucket/*"), []),
        (allow("s3:*"), []),  # service-wildcard reports it
    ],
)
def test_unscoped_resource_reports_only_actions_that_could_be_scoped(statement, reported):
    items = found("unscoped-resource", statement)
    assert [a for i in items for s in i.evidence["statements"] for a in s["actions"]] == reported
    if items:
        assert items[0].evidence["statements"][0]["resource_types"]
        assert items[0].severity == "low"


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"},
    ],
)
def test_an_allow_by_exclusion_is_reported(statement):
    assert found("broad-allow-by-exclusion", statement)


@pytest.mark.parametrize(
    "statements, console, reported",
    [
        ([allow("ec2:TerminateInstances")], True, ["ec2:TerminateInstances"]),
        ([allow("ec2:TerminateInstances")], False, []),  # no password: not a console user
        ([allow("ec2:TerminateInstances"), MFA_DENY], True, []),
        (
            [
                allow(
                    "ec2:TerminateInstances",
                    condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                )
            ],
            True,
            [],
        ),
        ([allow("ec2:DescribeInstances")], True, []),
    ],
)
def test_destructive_actions_need_mfa_for_console_users(statements, console, reported):
    items = found("destructive-without-mfa", *statements, console=console)
    assert [a for i in items for a in i.evidence["actions"]] == reported


def test_a_boundary_condition_on_create_role_is_respected():
    condition = {
        "StringEquals": {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/limit"}
    }
    assert (
        found("principal-creation-without-boundary", allow("iam:CreateRole", condition=condition))
        == []
    )
    (item,) = found("principal-creation-without-boundary", allow("iam:CreateRole"))
    assert item.evidence["actions"] == ["iam:CreateRole"]


# --- Through the database: what collection stores, detection finds ----------------------------


@pytest.mark.django_db
def test_detection_reports_a_two_hop_assume_role_path_and_respects_a_stored_boundary():
    from findings.detection.detect import detect_account
    from findings.models import Source
    from tests.findings.detection.test_detect import (
        attach,
        findings_of,
        iam_role,
        iam_user,
        make_account,
        succeeded_run,
    )

    account = make_account()
    succeeded_run(account, Source.AUTHORIZATION_DETAILS)
    dev = iam_user(account, "dev")

    def trusts(role, arn: str) -> None:
        statement = {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "sts:AssumeRole"}
        document = {"Version": "2012-10-17", "Statement": [statement]}
        attach(account, role, document, kind="trust", name="Trust policy", ref="trust")

    hop = iam_role(account, "hop")
    deployer = iam_role(account, "deployer")
    trusts(hop, dev.arn)
    trusts(deployer, hop.arn)
    attach(account, dev, {"Statement": [allow("sts:AssumeRole", hop.arn)]}, name="dev")
    attach(account, hop, {"Statement": [allow("sts:AssumeRole", deployer.arn)]}, name="hop")
    attach(account, deployer, {"Statement": [allow("*")]}, name="admin")
    capped = iam_role(account, "capped")
    attach(account, capped, {"Statement": [allow("iam:PutRolePolicy")]}, name="own")
    attach(
        account,
        capped,
        {"Statement": [allow("s3:*")]},
        kind="boundary",
        name="s3-only",
        ref="arn:aws:iam::111122223333:policy/s3-only",
    )

    detect_account(account=account, now=NOW)

    escalations = {f.resource_name: f for f in findings_of(account, "privilege-escalation")}
    assert "capped" not in escalations  # the stored boundary caps iam:PutRolePolicy away
    assert escalations["dev"].evidence["path"] == "user/dev -> role/hop -> role/deployer -> admin"
    assert escalations["hop"].evidence["path"] == "role/hop -> role/deployer -> admin"
    assert "deployer" not in escalations  # an administrator already: full-admin reports it
    assert findings_of(account, "full-admin").filter(resource_name="deployer").exists()
