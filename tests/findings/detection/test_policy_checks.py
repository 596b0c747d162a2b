"""The checks on effective permissions: small Evidence in, problems out."""

import pytest

from findings.detection.checks import CHECKS_BY_ID, Evidence, Principal, Thresholds
from findings.detection.detect import detect_account
from findings.models import CredentialReportEntry, Source
from tests.findings.detection.test_detect import (
    NOW,
    attach,
    credential_fields,
    days_ago,
    findings_of,
    iam_role,
    iam_user,
    make_account,
    succeeded_run,
)

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
    # A lone user: the role it passes is one it may create.
    (item,) = found(
        "privilege-escalation", allow(["iam:PassRole", "ec2:RunInstances", "iam:CreateRole"])
    )
    methods = {m["method"]: m for m in item.evidence["methods"]}
    assert "Rhino Security Labs" in methods["CreateEC2WithExistingInstanceProfile"]["source"]
    assert item.evidence["library"].startswith("policy_sentry ")


def test_taking_off_its_own_deny_is_reported_with_the_policy_and_its_own_reason():
    guarded = Principal(
        arn=f"arn:aws:iam::{ACCOUNT}:user/alice",
        name="alice",
        kind="user",
        create_date=days_ago(400),
        tags={},
        documents=[
            ("app", "inline", {"Statement": [allow("s3:*")]}),
            (
                "guard",
                "inline",
                {
                    "Statement": [
                        {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"},
                        allow("iam:DeleteUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/alice"),
                    ]
                },
            ),
        ],
    )
    (item,) = CHECKS_BY_ID["privilege-escalation"].run(ev=evidence(guarded), t=Thresholds())

    (method,) = item.evidence["methods"]
    assert method["removes"] == ["guard"]
    assert method["targets"] == [f"arn:aws:iam::{ACCOUNT}:user/alice"]
    assert item.severity == "high"
    assert item.severity_reason == (
        "Can remove a Deny of its own and regain what the Deny takes away"
    )


def test_an_escalation_reaching_many_roles_lists_the_first_and_how_many():
    """A role passing any role names every role of the account in each of some twenty
    methods: a finding of megabytes at a few thousand roles, frozen in every review item."""
    ci = user(
        allow(["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"]),
    )
    roles = [
        Principal(
            arn=f"arn:aws:iam::{ACCOUNT}:role/app-{n:03d}",
            name=f"app-{n:03d}",
            kind="role",
            create_date=days_ago(400),
            tags={},
            documents=[("admin", "inline", {"Statement": [allow("*")]})],
        )
        for n in range(60)
    ]
    (item,) = CHECKS_BY_ID["privilege-escalation"].run(ev=evidence(ci, *roles), t=Thresholds())

    (method,) = [
        m
        for m in item.evidence["methods"]
        if m["method"] == "PassExistingRoleToNewLambdaThenInvoke"
    ]
    assert len(method["targets"]) == 40
    assert method["targets_total"] == 60
    assert method["targets"][0] == f"arn:aws:iam::{ACCOUNT}:role/app-000"


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
        # ... and only it: the statement's other actions are this check's
        (allow(["s3:*", "dynamodb:GetItem"]), ["dynamodb:GetItem"]),
        (allow(["s3:*", "s3:GetObject"]), []),  # within the wildcard, reported there
    ],
)
def test_unscoped_resource_reports_only_actions_that_could_be_scoped(statement, reported):
    items = found("unscoped-resource", statement)
    assert [a for i in items for s in i.evidence["statements"] for a in s["actions"]] == reported
    if items:
        assert items[0].evidence["statements"][0]["resource_types"]
        assert items[0].severity == "low"


def test_unscoped_resource_lists_the_first_actions_of_a_long_statement_and_counts_them():
    """`s3:Get*` and `ec2:Describe*` on "*" named hundreds of actions and formats: a quarter of
    a megabyte per finding, frozen in every review item and evidence pack."""
    [item] = found("unscoped-resource", allow(["s3:Get*", "s3:Put*", "ec2:Describe*"]))
    [statement] = item.evidence["statements"]
    assert len(statement["actions"]) == 40 < statement["actions_total"]
    assert len(statement["resource_types"]) <= 40
    assert statement.get("resource_types_total", 0) in (0, *range(41, 1000))
    assert item.severity == "medium"  # s3:Put* writes


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
        (
            [
                allow(
                    "ec2:TerminateInstances",
                    condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
                )
            ],
            True,
            [],
        ),
        # Guards that guard nothing (each was taken as MFA-guarded): a Deny of one instance,
        # a Deny when MFA is present, a Deny that needs another condition too, an Allow
        # without MFA, and an Allow that holds when the key is absent (access keys).
        (
            [
                allow("ec2:TerminateInstances"),
                {**MFA_DENY, "Resource": "arn:aws:ec2:*:*:instance/i-1"},
            ],
            True,
            ["ec2:TerminateInstances"],
        ),
        (
            [
                allow("ec2:TerminateInstances"),
                {**MFA_DENY, "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
            ],
            True,
            ["ec2:TerminateInstances"],
        ),
        (
            [
                allow("ec2:TerminateInstances"),
                {
                    **MFA_DENY,
                    "Condition": {
                        "BoolIfExists": {"aws:MultiFactorAuthPresent": "false"},
                        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                    },
                },
            ],
            True,
            ["ec2:TerminateInstances"],
        ),
        (
            [
                allow(
                    "ec2:TerminateInstances",
                    condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}},
                )
            ],
            True,
            ["ec2:TerminateInstances"],
        ),
        (
            [
                allow(
                    "ec2:TerminateInstances",
                    condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}},
                )
            ],
            True,
            ["ec2:TerminateInstances"],
        ),
        (
            [
                allow("ec2:TerminateInstances"),
                {**MFA_DENY, "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": False}}},
            ],
            True,
            [],
        ),
        # A plain Bool Deny holds nothing for a request with access keys (no such key)
        (
            [
                allow("ec2:TerminateInstances"),
                {**MFA_DENY, "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}},
            ],
            True,
            ["ec2:TerminateInstances"],
        ),
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


def test_an_unconditional_create_role_beside_one_requiring_a_boundary_is_a_finding():
    """IAM allows a request that any one Allow matches: the boundary condition of one statement
    does not bind another that has none."""
    condition = {"StringEquals": {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/b"}}
    (item,) = found(
        "principal-creation-without-boundary",
        allow("iam:CreateRole", condition=condition),
        allow("iam:CreateRole"),
    )
    assert item.evidence["actions"] == ["iam:CreateRole"]


@pytest.mark.parametrize(
    "condition",
    [
        {"StringLike": {"iam:PermissionsBoundary": "*"}},
        {"StringNotEquals": {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/b"}},
        {"StringEqualsIfExists": {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/b"}},
    ],
)
def test_a_boundary_condition_that_any_boundary_or_none_meets_is_a_finding(condition):
    assert found(
        "principal-creation-without-boundary", allow("iam:CreateUser", condition=condition)
    )


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"iam:PermissionsBoundary": 5}},
        {"Bool": {"aws:MultiFactorAuthPresent": True}},
        {"Bool": 7},
        {"StringEquals": ["iam:PermissionsBoundary"]},
    ],
)
def test_a_condition_value_that_is_not_text_never_stops_the_checks(condition):
    for check in ("principal-creation-without-boundary", "destructive-without-mfa"):
        found(check, allow(["iam:CreateUser", "ec2:TerminateInstances"], condition=condition))
    found("privilege-escalation", allow(["iam:PassRole", "iam:PutUserPolicy"], condition=condition))


def test_the_reviewers_escalation_reproductions_are_findings():
    """Conditions read per statement and by what they let through; a trust naming the user."""
    attach_any = allow("iam:AttachUserPolicy", condition={"ArnLike": {"iam:PolicyARN": "*"}})
    assert found("privilege-escalation", attach_any)
    all_but_admin = {
        "ArnNotEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}
    }
    assert found("privilege-escalation", allow("iam:AttachUserPolicy", condition=all_but_admin))
    to_ec2 = {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    (item,) = found(
        "privilege-escalation",
        allow("iam:PassRole", condition=to_ec2),
        allow("iam:PassRole"),
        allow(["lambda:CreateFunction", "lambda:InvokeFunction", "iam:CreateRole"]),
    )
    assert "PassExistingRoleToNewLambdaThenInvoke" in {
        m["method"] for m in item.evidence["methods"]
    }


def test_a_role_whose_trust_names_the_user_is_a_path_without_the_users_own_allow():
    alice = user(allow("s3:GetObject", "arn:aws:s3:::b/*"))
    admin = Principal(
        arn=f"arn:aws:iam::{ACCOUNT}:role/admin",
        name="admin",
        kind="role",
        create_date=days_ago(400),
        tags={},
        documents=[("AdministratorAccess", "managed", {"Statement": [allow("*")]})],
        trust={
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": alice.arn}, "Action": "sts:AssumeRole"}
            ]
        },
    )
    ev = Evidence(ACCOUNT, NOW, [], [alice, admin], [], {}, [], set(), set())
    (item,) = CHECKS_BY_ID["privilege-escalation"].run(ev=ev, t=Thresholds())
    assert item.resource_arn == alice.arn
    assert item.evidence["path"] == "user/alice -> role/admin -> admin"


def test_creating_access_keys_when_no_other_user_exists_is_not_escalation():
    assert found("privilege-escalation", allow("iam:CreateAccessKey")) == []


# --- Through the database: what collection stores, detection finds ----------------------------


@pytest.mark.django_db
def test_detection_reports_a_two_hop_assume_role_path_and_respects_a_stored_boundary():
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


def lambda_trust() -> dict:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    return {"Version": "2012-10-17", "Statement": [statement]}


@pytest.mark.django_db
def test_editing_lambda_code_is_escalation_only_towards_a_role_lambda_runs_as_with_more_access():
    """As in the demo: developers may update any function's code (lambda:*). That reaches the
    roles Lambda may run as; with none giving more access there is nothing to report, and a
    finding never says "critical" with no target and no path."""
    account = make_account()
    succeeded_run(account, Source.AUTHORIZATION_DETAILS)
    dev = iam_user(account, "dev")
    attach(account, dev, {"Statement": [allow(["lambda:*", "logs:*", "s3:GetObject"])]}, name="dev")
    worker = iam_role(account, "worker-lambda")
    attach(account, worker, lambda_trust(), kind="trust", name="Trust policy", ref="trust")
    attach(account, worker, {"Statement": [allow(["logs:PutLogEvents"])]}, name="logs")
    data = iam_user(account, "data")
    glue_on_a_bucket = allow("glue:*", "arn:aws:s3:::data-lake/*")
    attach(account, data, {"Statement": [glue_on_a_bucket]}, name="data")

    detect_account(account=account, now=NOW)
    assert not findings_of(account, "privilege-escalation").exists()

    attach(account, worker, {"Statement": [allow("secretsmanager:GetSecretValue")]}, name="s")
    detect_account(account=account, now=NOW)
    (finding,) = findings_of(account, "privilege-escalation")
    # A role reading secrets is more access, not an administrator's: high, not critical.
    assert finding.resource_name == "dev" and finding.severity == "high"
    assert "none of them an administrator" in finding.severity_reason
    (method,) = finding.evidence["methods"]
    assert method["method"] == "EditExistingLambdaFunctionWithRole"
    assert method["targets"] == [worker.arn]

    attach(account, worker, {"Statement": [allow("*")]}, name="admin")
    detect_account(account=account, now=NOW)
    (finding,) = findings_of(account, "privilege-escalation")
    assert (finding.severity, finding.severity_reason) == ("critical", "Reaches an administrator")


BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/DeveloperBoundary"


def deny(actions, condition) -> dict:
    return {"Effect": "Deny", "Action": actions, "Resource": "*", "Condition": condition}


@pytest.mark.parametrize(
    ("condition", "reported"),
    [
        # AWS's delegated administration: creation denied unless the boundary is the one set.
        ({"StringNotEquals": {"iam:PermissionsBoundary": BOUNDARY_ARN}}, False),
        ({"StringNotLike": {"iam:PermissionsBoundary": f"{BOUNDARY_ARN[:-8]}*"}}, False),
        ({"Null": {"iam:PermissionsBoundary": "true"}}, True),  # any other boundary gets in
        # A Deny the requester can avoid (with MFA) stops nothing.
        ({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, True),
        (
            {
                "StringNotEquals": {"iam:PermissionsBoundary": BOUNDARY_ARN},
                "Bool": {"aws:MultiFactorAuthPresent": "false"},
            },
            True,
        ),
    ],
)
def test_a_deny_unless_the_boundary_is_set_bounds_principal_creation(condition, reported):
    creation = ["iam:CreateUser", "iam:CreateRole"]
    result = found(
        "principal-creation-without-boundary", allow(creation), deny(creation, condition)
    )
    assert bool(result) is reported


@pytest.mark.parametrize(
    ("condition", "reported"),
    [
        # Only AdministratorAccess denied: IAMFullAccess and PowerUserAccess still attach.
        ({"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}}, True),
        # Everything but the team's own policies denied.
        ({"ArnNotLike": {"iam:PolicyARN": f"arn:aws:iam::{ACCOUNT}:policy/team-*"}}, False),
    ],
)
def test_a_conditional_deny_on_the_policy_arn_is_judged_for_attaching(condition, reported):
    result = found(
        "privilege-escalation",
        allow("iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/alice"),
        deny("iam:AttachUserPolicy", condition),
    )
    assert bool(result) is reported
