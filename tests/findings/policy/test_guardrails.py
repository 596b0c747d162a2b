"""Service control policies as a cap on escalation: each level must allow, any Deny wins, and
only a condition on the principal's own ARN or account is judged."""

from dataclasses import replace

from findings.policy.escalation import (
    blocked_methods,
    escalation_methods,
    escalation_path,
)
from findings.policy.guardrails import guardrails_from, level_label
from tests.findings.policy.test_escalation import ACCOUNT, DEV, IAM, ROOT_TRUST, account, allow

FULL_ACCESS = {
    "id": "p-FullAWSAccess",
    "name": "FullAWSAccess",
    "document": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
}
ROOT = {"id": "r-ab12", "kind": "root", "name": "Root", "policies": [FULL_ACCESS]}
OU = {"id": "ou-ab12-workload", "kind": "ou", "name": "Workloads", "policies": [FULL_ACCESS]}
MEMBER = {"id": ACCOUNT, "kind": "account", "name": "dev", "policies": [FULL_ACCESS]}


def scp(name: str, *statements) -> dict:
    return {"id": f"p-{name.lower()}", "name": name, "document": {"Statement": list(statements)}}


def at(level: dict, *policies) -> dict:
    return {**level, "policies": [*level["policies"], *policies]}


def guarded(*levels):
    return guardrails_from(account_id=ACCOUNT, levels=levels)


def with_scps(acct, *levels):
    return replace(acct, guardrails=guarded(*levels))


def methods(acct, who=DEV) -> list[str]:
    return [m.method for m in escalation_methods(principal_arn=who, account=acct)]


CREATE_VERSION = allow("iam:CreatePolicyVersion")
# PassExistingRoleToNewLambdaThenInvoke's grants.
PASS_ROLE_TO_LAMBDA = [
    allow("iam:PassRole"),
    allow("lambda:CreateFunction"),
    allow("lambda:InvokeFunction"),
]


def test_full_access_at_every_level_changes_nothing():
    plain = account(CREATE_VERSION)
    assert "CreateNewPolicyVersion" in methods(plain)
    assert methods(with_scps(account(CREATE_VERSION), ROOT, OU, MEMBER)) == methods(plain)


def test_a_deny_at_any_level_blocks_the_method_and_says_which_scp():
    deny = scp(
        "ProtectIAM", {"Effect": "Deny", "Action": "iam:CreatePolicyVersion", "Resource": "*"}
    )
    acct = with_scps(account(CREATE_VERSION), ROOT, at(OU, deny), MEMBER)
    assert "CreateNewPolicyVersion" not in methods(acct)
    (blocked,) = [
        m
        for m in blocked_methods(principal_arn=DEV, account=acct)
        if m.method == "CreateNewPolicyVersion"
    ]
    assert blocked.blocked_by == "denied by SCP ProtectIAM (OU Workloads (ou-ab12-workload))"
    assert blocked.targets == ()


def test_a_level_that_allows_only_some_services_blocks_the_rest():
    only_s3 = scp("OnlyS3", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    ou = {**OU, "policies": [only_s3]}  # FullAWSAccess detached from the OU
    acct = with_scps(account(CREATE_VERSION), ROOT, ou, MEMBER)
    assert methods(acct) == []
    (blocked,) = blocked_methods(principal_arn=DEV, account=acct)
    assert blocked.blocked_by == (
        "not allowed by any SCP attached to the OU Workloads (ou-ab12-workload)"
    )


def test_a_deny_on_some_roles_keeps_the_method_for_the_others():
    roles = {f"{IAM}:role/platform-admin": account().principals[f"{IAM}:role/admin"]}
    pass_role = PASS_ROLE_TO_LAMBDA
    deny = scp(
        "ProtectPlatform",
        {"Effect": "Deny", "Action": "iam:PassRole", "Resource": f"{IAM}:role/platform-*"},
    )
    acct = with_scps(account(*pass_role, roles=roles), at(ROOT, deny))
    (found,) = [
        m
        for m in escalation_methods(principal_arn=DEV, account=acct)
        if m.method == "PassExistingRoleToNewLambdaThenInvoke"
    ]
    assert f"{IAM}:role/platform-admin" not in found.targets
    assert f"{IAM}:role/admin" in found.targets


def test_a_deny_unless_the_platform_role_blocks_everyone_else_only():
    deny = scp(
        "OnlyPlatformWritesIAM",
        {
            "Effect": "Deny",
            "Action": "iam:CreatePolicyVersion",
            "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalARN": f"{IAM}:role/platform-*"}},
        },
    )
    platform = f"{IAM}:role/platform-ci"
    base = account(CREATE_VERSION)
    roles = {platform: replace(base.principals[DEV], principal_arn=platform)}
    acct = with_scps(account(CREATE_VERSION, roles=roles), at(ROOT, deny))
    assert "CreateNewPolicyVersion" not in methods(acct)
    assert "CreateNewPolicyVersion" in methods(acct, who=platform)


def test_a_deny_with_a_condition_on_anything_else_blocks_nothing():
    deny = scp(
        "RegionLock",
        {
            "Effect": "Deny",
            "Action": "iam:CreatePolicyVersion",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}},
        },
    )
    acct = with_scps(account(CREATE_VERSION), at(ROOT, deny))
    assert "CreateNewPolicyVersion" in methods(acct)


def test_the_method_is_blocked_when_its_other_action_is_denied():
    pass_role = PASS_ROLE_TO_LAMBDA
    deny = scp("NoLambda", {"Effect": "Deny", "Action": "lambda:*", "Resource": "*"})
    assert "PassExistingRoleToNewLambdaThenInvoke" in methods(account(*pass_role))
    acct = with_scps(account(*pass_role), at(ROOT, deny))
    assert "PassExistingRoleToNewLambdaThenInvoke" not in methods(acct)
    assert any(
        m.blocked_by == "denied by SCP NoLambda (organization root)"
        for m in blocked_methods(principal_arn=DEV, account=acct)
    )


def test_a_role_chain_stops_where_an_scp_denies_assuming_the_role():
    trust = {f"{IAM}:role/admin": ROOT_TRUST}
    assume = allow("sts:AssumeRole")
    assert escalation_path(principal_arn=DEV, account=account(assume, trust=trust))
    deny = scp(
        "ProtectAdmin",
        {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": f"{IAM}:role/admin"},
    )
    acct = with_scps(account(assume, trust=trust), at(ROOT, deny))
    assert escalation_path(principal_arn=DEV, account=acct) == []


def test_level_labels_read_as_the_console_names_them():
    assert level_label(level=ROOT) == "organization root"
    assert level_label(level=OU) == "OU Workloads (ou-ab12-workload)"
    assert level_label(level=MEMBER) == f"account {ACCOUNT}"
    assert level_label(level={"id": "ou-x", "kind": "ou", "name": ""}) == "OU ou-x"


def test_a_level_with_no_readable_policy_stops_nothing():
    """AWS keeps at least one SCP on every level: one that reads as none is not known, and a
    security review does not hide escalations on a guess."""
    guard = guardrails_from(
        account_id=ACCOUNT,
        levels=[{"id": "r-1", "kind": "root", "policies": [{"document": 7}]}, "junk"],
    )
    assert guard.decide(action="iam:PassRole", resource=None, principal_arn=DEV).allowed
    assert guardrails_from(account_id=ACCOUNT, levels=None) is None


def test_a_role_yet_to_be_created_may_take_any_name_the_scps_leave_open():
    """Deny CreateRole on all but role/app-*: the principal creates app-x, attaches an
    administrator's policy and escalates. Judged on our placeholder's name, it was hidden."""
    names = scp(
        "RoleNames",
        {"Effect": "Deny", "Action": "iam:CreateRole", "NotResource": "arn:aws:iam::*:role/app-*"},
    )
    grants = [allow("iam:CreateRole"), allow("iam:AttachRolePolicy"), allow("iam:PassRole")]
    plain = methods(account(*grants))
    assert "AttachRolePolicy" in plain
    assert methods(with_scps(account(*grants), at(ROOT, names))) == plain


def test_a_principal_variable_in_a_condition_value_is_filled_in():
    """AWS fills ${aws:PrincipalAccount} in before comparing: the admin role is exempt."""
    deny = scp(
        "OnlyAdminWritesIAM",
        {
            "Effect": "Deny",
            "Action": "iam:CreatePolicyVersion",
            "Resource": "*",
            "Condition": {
                "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:role/ops"}
            },
        },
    )
    ops = f"{IAM}:role/ops"
    base = account(CREATE_VERSION)
    roles = {ops: replace(base.principals[DEV], principal_arn=ops)}
    acct = with_scps(account(CREATE_VERSION, roles=roles), at(ROOT, deny))
    assert "CreateNewPolicyVersion" in methods(acct, who=ops)
    assert "CreateNewPolicyVersion" not in methods(acct)


def test_a_condition_naming_a_variable_not_known_here_blocks_nothing():
    deny = scp(
        "TagGate",
        {
            "Effect": "Deny",
            "Action": "iam:CreatePolicyVersion",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": "${aws:PrincipalTag/team}"}},
        },
    )
    assert "CreateNewPolicyVersion" in methods(with_scps(account(CREATE_VERSION), at(ROOT, deny)))


def test_odd_statements_never_block_what_they_may_not_block():
    """A Deny whose Condition is no map of maps may not hold; an Allow naming no resource
    (older SCPs) allows; a level one of whose policies reads as nothing is not known."""
    odd_deny = scp(
        "Odd",
        {"Effect": "Deny", "Action": "iam:CreatePolicyVersion", "Resource": "*", "Condition": [1]},
    )
    bare_allow = {
        "id": "p-bare",
        "name": "Bare",
        "document": {"Statement": [{"Effect": "Allow", "Action": "*"}]},
    }
    unreadable = {"id": "p-x", "name": "Unreadable", "document": {"Statement": 7}}
    deny_only = scp("DenyOnly", {"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    for levels in (
        [at(ROOT, odd_deny)],
        [{**ROOT, "policies": [bare_allow]}],
        [{**ROOT, "policies": [unreadable, deny_only]}],
    ):
        assert "CreateNewPolicyVersion" in methods(with_scps(account(CREATE_VERSION), *levels))


def test_an_scp_resource_naming_the_principals_account_is_filled_in():
    """`arn:aws:iam::${aws:PrincipalAccount}:role/Platform*` names the platform roles of the
    account itself: a Deny of passing them blocks that, and nothing else."""
    roles = {f"{IAM}:role/Platform-admin": account().principals[f"{IAM}:role/admin"]}
    pass_role = PASS_ROLE_TO_LAMBDA
    deny = scp(
        "ProtectPlatform",
        {
            "Effect": "Deny",
            "Action": "iam:PassRole",
            "Resource": "arn:aws:iam::${aws:PrincipalAccount}:role/Platform*",
        },
    )
    acct = with_scps(account(*pass_role, roles=roles), at(ROOT, deny))
    (found,) = [
        m
        for m in escalation_methods(principal_arn=DEV, account=acct)
        if m.method == "PassExistingRoleToNewLambdaThenInvoke"
    ]
    assert f"{IAM}:role/Platform-admin" not in found.targets
    assert f"{IAM}:role/admin" in found.targets
