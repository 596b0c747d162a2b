"""Taking off one's own Deny: a principal that may delete or detach its own policy, or leave
its group, whose Deny takes away something its other policies allow."""

import pytest

from findings.policy.effective import Policy, effective_permissions
from findings.policy.escalation import Account, blocked_methods, escalation_methods
from findings.policy.escalation_methods import METHODS
from findings.policy.guardrails import guardrails_from

ACCOUNT = "111122223333"
IAM = f"arn:aws:iam::{ACCOUNT}"
DEV = f"{IAM}:user/dev"
ALICE = f"{IAM}:user/alice"
APP = f"{IAM}:role/app"
DEVELOPERS = f"{IAM}:group/teams/developers"  # a group with a path: named by its ARN
GUARD = f"{IAM}:policy/guard"
S3_ALL = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
NO_BUCKET_DELETION = {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}


def allow(action, resource="*", condition=None) -> dict:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    return {**statement, "Condition": condition} if condition else statement


def doc(*statements) -> dict:
    return {"Statement": list(statements)}


def principal(arn: str, *policies: Policy, boundary: dict | None = None):
    return effective_permissions(
        principal_arn=arn,
        principal_name=arn.rpartition("/")[2],
        policies=policies,
        boundary=Policy("boundary", "boundary", boundary) if boundary else None,
    )


def methods_of(arn: str, *policies: Policy, boundary: dict | None = None, **extra) -> dict:
    """method -> (targets, policies whose Deny it removes), for the principal with `policies`
    in an account that also has alice and the developers group (as detection builds it)."""
    account = Account(
        account_id=ACCOUNT,
        principals={
            arn: principal(arn, *policies, boundary=boundary),
            ALICE: principal(ALICE, Policy("work", "inline", doc(S3_ALL))),
        },
        groups={DEVELOPERS: principal(DEVELOPERS)},
        group_members={DEVELOPERS: ("dev",)},
        policies_in_use=frozenset({GUARD, f"{IAM}:policy/other"}),
        customer_policies=(GUARD, f"{IAM}:policy/other"),
        **extra,
    )
    return {
        e.method: (e.targets, e.removes)
        for e in escalation_methods(principal_arn=arn, account=account)
    }


def work(*statements) -> Policy:
    """What the principal's job needs: all of S3, and the IAM action under test."""
    return Policy("work", "inline", doc(S3_ALL, *statements))


def via_developers(name: str, kind: str, *statements) -> Policy:
    """A policy of the developers group, as detection labels it on each member."""
    return Policy(f"{name} (via group developers)", kind, doc(*statements))


# method -> (principal, the policy holding the Deny, the Allow that removes it)
CASES = {
    "DeleteOwnUserPolicyWithDeny": (
        DEV,
        Policy("guard", "inline", doc(NO_BUCKET_DELETION)),
        allow("iam:DeleteUserPolicy", f"{IAM}:user/${{aws:username}}"),
    ),
    "DetachOwnUserPolicyWithDeny": (
        DEV,
        Policy("guard", "managed", doc(NO_BUCKET_DELETION)),
        allow("iam:DetachUserPolicy", DEV),
    ),
    "RemoveSelfFromGroupWithDeny": (
        DEV,
        via_developers("guard", "inline", NO_BUCKET_DELETION),
        allow("iam:RemoveUserFromGroup", DEVELOPERS),
    ),
    "DeleteOwnGroupPolicyWithDeny": (
        DEV,
        via_developers("guard", "inline", NO_BUCKET_DELETION),
        allow("iam:DeleteGroupPolicy", f"{IAM}:group/teams/*"),
    ),
    "DetachOwnGroupPolicyWithDeny": (
        DEV,
        via_developers("guard", "managed", NO_BUCKET_DELETION),
        allow("iam:DetachGroupPolicy", DEVELOPERS),
    ),
    "DeleteOwnRolePolicyWithDeny": (
        APP,
        Policy("guard", "inline", doc(NO_BUCKET_DELETION)),
        allow("iam:DeleteRolePolicy", APP),
    ),
    "DetachOwnRolePolicyWithDeny": (
        APP,
        Policy("guard", "managed", doc(NO_BUCKET_DELETION), GUARD),
        allow("iam:DetachRolePolicy", APP),
    ),
}


def test_every_own_deny_method_has_a_case_and_a_source():
    assert set(CASES) == {m.id for m in METHODS if m.rule == "own-deny"}
    assert all(m.source.startswith("AWS IAM User Guide") for m in METHODS if m.rule == "own-deny")


@pytest.mark.parametrize("method", sorted(CASES))
def test_taking_off_ones_own_deny_of_what_one_is_allowed_escalates(method):
    """A Deny of s3:DeleteBucket beside an Allow of s3:*, which the principal may take off:
    no method reported it."""
    arn, guard, removing = CASES[method]

    found = methods_of(arn, work(removing), guard)

    assert found[method] == ((arn,), (guard.label,))


@pytest.mark.parametrize("method", sorted(CASES))
def test_a_deny_of_nothing_the_principal_has_is_no_escalation(method):
    """It denies ec2:* and the principal has only S3: taking it off gives back nothing."""
    arn, guard, removing = CASES[method]
    ec2 = Policy(guard.label, guard.kind, doc({**NO_BUCKET_DELETION, "Action": "ec2:*"}), guard.ref)

    assert method not in methods_of(arn, work(removing), ec2)


@pytest.mark.parametrize("method", sorted(CASES))
def test_a_deny_with_a_condition_is_no_escalation(method):
    """A Deny whose condition may be avoided takes nothing away as detection reads it (the
    action stays allowed, as "conditional"): taking it off gives back nothing more."""
    arn, guard, removing = CASES[method]
    mfa = {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
    conditional = Policy(
        guard.label, guard.kind, doc({**NO_BUCKET_DELETION, "Condition": mfa}), guard.ref
    )

    assert method not in methods_of(arn, work(removing), conditional)


def test_removing_a_policy_only_on_another_user_is_no_escalation():
    guard = CASES["DeleteOwnUserPolicyWithDeny"][1]

    assert "DeleteOwnUserPolicyWithDeny" not in methods_of(
        DEV, work(allow("iam:DeleteUserPolicy", ALICE)), guard
    )


def test_a_policy_holding_both_the_allow_and_the_deny_gives_back_nothing():
    """Deleting it takes off the Allow with the Deny."""
    both = Policy("s3", "inline", doc(S3_ALL, NO_BUCKET_DELETION))
    removing = Policy("iam", "inline", doc(allow("iam:DeleteUserPolicy", DEV)))

    assert "DeleteOwnUserPolicyWithDeny" not in methods_of(DEV, both, removing)


def test_a_deny_another_of_its_policies_repeats_gives_back_nothing():
    guard = Policy("guard", "inline", doc({**NO_BUCKET_DELETION, "Resource": "arn:aws:s3:::prod"}))
    again = via_developers(
        "guard", "inline", {**NO_BUCKET_DELETION, "Resource": "arn:aws:s3:::prod"}
    )

    assert "DeleteOwnUserPolicyWithDeny" not in methods_of(
        DEV, work(allow("iam:DeleteUserPolicy", DEV)), guard, again
    )


def test_detaching_a_role_policy_only_other_policies_may_be_detached_from_is_no_escalation():
    """An iam:PolicyARN condition naming another policy: the Deny stays on."""
    guard = CASES["DetachOwnRolePolicyWithDeny"][1]

    def detaching(policy_arn: str) -> dict:
        only = {"ArnEquals": {"iam:PolicyARN": policy_arn}}
        return methods_of(APP, work(allow("iam:DetachRolePolicy", APP, condition=only)), guard)

    assert "DetachOwnRolePolicyWithDeny" not in detaching(f"{IAM}:policy/other")
    assert detaching(GUARD)["DetachOwnRolePolicyWithDeny"] == ((APP,), ("guard",))


def test_a_managed_policy_labelled_by_name_is_known_by_the_arn_of_the_policy_in_use():
    """Detection labels a managed policy by its name, without its ARN: the account's policies
    in use name it."""
    by_name = Policy("guard", "managed", doc(NO_BUCKET_DELETION))

    def detaching(policy_arn: str) -> dict:
        only = {"ArnEquals": {"iam:PolicyARN": policy_arn}}
        return methods_of(APP, work(allow("iam:DetachRolePolicy", APP, condition=only)), by_name)

    assert "DetachOwnRolePolicyWithDeny" in detaching(GUARD)
    assert "DetachOwnRolePolicyWithDeny" not in detaching(f"{IAM}:policy/other")


def test_leaving_a_group_is_a_request_on_the_group_not_on_oneself():
    """iam:RemoveUserFromGroup is allowed or not on the group's ARN: granted on one's own
    user ARN, it removes nobody from anything."""
    guard = CASES["RemoveSelfFromGroupWithDeny"][1]

    assert "RemoveSelfFromGroupWithDeny" not in methods_of(
        DEV, work(allow("iam:RemoveUserFromGroup", DEV)), guard
    )
    assert "RemoveSelfFromGroupWithDeny" not in methods_of(
        DEV, work(allow("iam:RemoveUserFromGroup", f"{IAM}:group/admins")), guard
    )


def test_leaving_a_group_that_also_grants_what_the_deny_takes_gives_back_nothing():
    """The group allows S3 and denies deleting buckets: leaving it takes both away."""
    group_only = via_developers("s3", "inline", S3_ALL, NO_BUCKET_DELETION)
    leaving = Policy("iam", "inline", doc(allow("iam:RemoveUserFromGroup", DEVELOPERS)))

    assert "RemoveSelfFromGroupWithDeny" not in methods_of(DEV, leaving, group_only)


def test_a_deny_on_named_resources_counts_for_what_the_principal_has_on_them():
    """A Deny of deleting the prod bucket takes away what s3:* on every bucket gives; a Deny
    of everything on it takes no EC2 action away, and one on a bucket the principal's grant
    does not reach takes nothing."""
    removing = allow("iam:DeleteUserPolicy", DEV)

    def guarded_by(statement: dict, *grants: dict) -> dict:
        guard = Policy("guard", "inline", doc(statement))
        own = Policy("work", "inline", doc(*grants, removing))
        return methods_of(DEV, own, guard)

    prod = {**NO_BUCKET_DELETION, "Resource": "arn:aws:s3:::prod"}
    everything_on_prod = {"Effect": "Deny", "Action": "*", "Resource": "arn:aws:s3:::prod*"}
    ec2 = allow("ec2:*")
    dev_buckets = allow("s3:*", "arn:aws:s3:::dev-*")

    assert "DeleteOwnUserPolicyWithDeny" in guarded_by(prod, S3_ALL)
    assert "DeleteOwnUserPolicyWithDeny" in guarded_by(everything_on_prod, ec2, S3_ALL)
    assert "DeleteOwnUserPolicyWithDeny" not in guarded_by(everything_on_prod, ec2)
    assert "DeleteOwnUserPolicyWithDeny" not in guarded_by(prod, dev_buckets)
    assert "DeleteOwnUserPolicyWithDeny" in guarded_by(
        {**prod, "Resource": "arn:aws:s3:::dev-*"}, allow("s3:*", "arn:aws:s3:::dev-data")
    )


def test_a_deny_of_what_the_boundary_leaves_out_takes_nothing_away():
    """The boundary allows reading only: deleting buckets stays out after the Deny is gone."""
    guard, removing = CASES["DeleteOwnUserPolicyWithDeny"][1:]
    reading = {"Statement": [allow(["s3:Get*", "iam:DeleteUserPolicy"])]}
    deleting = {"Statement": [allow(["s3:*", "iam:DeleteUserPolicy"])]}

    assert "DeleteOwnUserPolicyWithDeny" not in methods_of(
        DEV, work(removing), guard, boundary=reading
    )
    assert "DeleteOwnUserPolicyWithDeny" in methods_of(
        DEV, work(removing), guard, boundary=deleting
    )


def test_a_deny_of_removing_the_policy_keeps_it_on():
    """The delegated-administrator pattern: the guard also denies deleting itself."""
    guard = Policy(
        "guard",
        "inline",
        doc(NO_BUCKET_DELETION, {"Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"}),
    )

    assert "DeleteOwnUserPolicyWithDeny" not in methods_of(
        DEV, work(allow("iam:DeleteUserPolicy", DEV)), guard
    )


def test_a_user_method_is_not_a_roles_and_a_group_is_never_a_roles():
    """A role has no group: a policy labelled as a group's is its own."""
    guard = via_developers("guard", "inline", NO_BUCKET_DELETION)
    everything = work(allow([*(m.target_action for m in METHODS if m.rule == "own-deny")]))

    assert set(methods_of(APP, everything, guard)) == {"DeleteOwnRolePolicyWithDeny"}


def test_an_scp_denying_the_removal_blocks_it_and_says_which():
    guard, removing = CASES["RemoveSelfFromGroupWithDeny"][1:]
    full = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    keep_groups = {"Effect": "Deny", "Action": "iam:RemoveUserFromGroup", "Resource": DEVELOPERS}
    levels = [
        {
            "id": "r-ab12",
            "kind": "root",
            "policies": [{"name": "KeepGroups", "document": doc(full, keep_groups)}],
        }
    ]
    account = Account(
        account_id=ACCOUNT,
        principals={DEV: principal(DEV, work(removing), guard)},
        groups={DEVELOPERS: principal(DEVELOPERS)},
        group_members={DEVELOPERS: ("dev",)},
        guardrails=guardrails_from(account_id=ACCOUNT, levels=levels),
    )

    assert escalation_methods(principal_arn=DEV, account=account) == []
    (blocked,) = blocked_methods(principal_arn=DEV, account=account)
    assert blocked.method == "RemoveSelfFromGroupWithDeny"
    assert "KeepGroups" in blocked.blocked_by


def test_a_deny_naming_the_user_in_any_case_of_the_variable_is_its_own():
    """IAM reads `${aws:UserName}` as `${aws:username}`: the Deny takes away creating its own
    keys, which deleting the policy gives back."""
    guard = Policy(
        "guard",
        "inline",
        doc(
            {
                "Effect": "Deny",
                "Action": "iam:CreateAccessKey",
                "Resource": f"{IAM}:user/${{aws:UserName}}",
            },
            allow("iam:DeleteUserPolicy", DEV),
        ),
    )
    found = methods_of(DEV, Policy("work", "inline", doc(allow("iam:*"))), guard)
    assert found["DeleteOwnUserPolicyWithDeny"] == ((DEV,), ("guard",))
