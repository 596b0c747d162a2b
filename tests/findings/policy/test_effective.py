"""Effective permissions, table by table: boundaries cap, explicit denies win, exclusions."""

import pytest

from findings.policy.effective import Policy, effective_permissions

ARN = "arn:aws:iam::111122223333:user/dev"
ADMIN = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
S3_ONLY = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def allow(action, resource="*", **extra) -> dict:
    return {"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}]}


def deny(action, resource="*", **extra) -> dict:
    return {"Statement": [{"Effect": "Deny", "Action": action, "Resource": resource, **extra}]}


def effective(*documents, boundary=None):
    return effective_permissions(
        principal_arn=ARN,
        principal_name="dev",
        policies=[Policy(f"policy{i}", "inline", d) for i, d in enumerate(documents)],
        boundary=Policy("s3-boundary", "boundary", boundary) if boundary else None,
    )


def test_a_boundary_caps_an_administrator_to_what_it_allows():
    admin = effective(ADMIN, boundary=S3_ONLY)
    assert not admin.is_admin
    assert admin.allows(action="s3:GetObject")
    assert not admin.allows(action="iam:CreateUser")
    assert "iam:createuser" in admin.capped
    decision = admin.decide(action="iam:CreateUser", resource="*")
    assert not decision.allowed
    assert decision.reason == "outside the permissions boundary s3-boundary"
    assert admin.summary()["boundary"] == "s3-boundary"


def test_without_a_boundary_the_administrator_is_one():
    assert effective(ADMIN).is_admin


@pytest.mark.parametrize(
    "documents, action, resource, allowed, reason",
    [
        # explicit deny wins over any allow
        ((ADMIN, deny("iam:*")), "iam:CreateUser", "*", False, "explicit deny in policy1"),
        ((ADMIN, deny("iam:*")), "s3:GetObject", "*", True, "allowed"),
        # NotAction: everything but the excluded actions
        (({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]},),
         "iam:PassRole", "*", False, "not allowed by any identity policy"),
        (({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]},),
         "ec2:RunInstances", "*", True, "allowed"),
        # NotResource: every resource but the excluded ones
        (({"Statement": [{"Effect": "Allow", "Action": "s3:*",
                          "NotResource": "arn:aws:s3:::secrets/*"}]},),
         "s3:GetObject", "arn:aws:s3:::secrets/key", False, "not allowed by any identity policy"),
        (({"Statement": [{"Effect": "Allow", "Action": "s3:*",
                          "NotResource": "arn:aws:s3:::secrets/*"}]},),
         "s3:GetObject", "arn:aws:s3:::public/key", True, "allowed"),
        # a deny on other resources leaves this one alone
        ((ADMIN, deny("s3:*", "arn:aws:s3:::secrets/*")),
         "s3:GetObject", "arn:aws:s3:::public/key", True, "allowed"),
        # policy variables
        ((allow("iam:CreateAccessKey", "arn:aws:iam::111122223333:user/${aws:username}"),),
         "iam:CreateAccessKey", ARN, True, "allowed"),
        ((allow("iam:CreateAccessKey", "arn:aws:iam::111122223333:user/${aws:username}"),),
         "iam:CreateAccessKey", "arn:aws:iam::111122223333:user/other", False,
         "not allowed by any identity policy"),
        # names are case-insensitive; a variable we cannot resolve may be anything in an Allow
        ((allow("iam:CreateAccessKey", "arn:aws:iam::111122223333:user/${AWS:UserName}"),),
         "iam:CreateAccessKey", ARN, True, "allowed"),
        ((allow("iam:PassRole", "arn:aws:iam::111122223333:role/${aws:PrincipalTag/team}-*"),),
         "iam:PassRole", "arn:aws:iam::111122223333:role/dev-admin", True, "allowed"),
        # ... and nothing in a Deny, or in an Allow's NotResource
        ((ADMIN, deny("iam:PassRole", "arn:aws:iam::111122223333:role/${aws:PrincipalTag/t}")),
         "iam:PassRole", "arn:aws:iam::111122223333:role/admin", True, "allowed"),
        (({"Statement": [{"Effect": "Allow", "Action": "s3:*",
                          "NotResource": "arn:aws:s3:::${aws:PrincipalTag/t}"}]},),
         "s3:GetObject", "arn:aws:s3:::payroll", True, "allowed"),
        # ${*} is a literal asterisk
        ((allow("s3:GetObject", "arn:aws:s3:::odd${*}name"),),
         "s3:GetObject", "arn:aws:s3:::odd*name", True, "allowed"),
        ((allow("s3:GetObject", "arn:aws:s3:::odd${*}name"),),
         "s3:GetObject", "arn:aws:s3:::oddXname", False, "not allowed by any identity policy"),
    ],
)  # fmt: skip
def test_decisions(documents, action, resource, allowed, reason):
    decision = effective(*documents).decide(action=action, resource=resource)
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_conditions_are_carried_as_conditional():
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    decision = effective(allow("ec2:TerminateInstances", Condition=mfa)).decide(
        action="ec2:TerminateInstances"
    )
    assert decision.allowed and decision.conditional
    guarded = effective(ADMIN, deny("ec2:TerminateInstances", Condition=mfa))
    assert guarded.decide(action="ec2:TerminateInstances", resource="*").conditional
    assert guarded.allows(action="ec2:TerminateInstances")


def test_an_unconditional_deny_on_everything_removes_the_action():
    assert not effective(ADMIN, deny("iam:PassRole")).allows(action="iam:PassRole")


def test_a_role_has_no_aws_username_so_a_resource_naming_it_matches_nothing():
    # AWS sets aws:username for IAM users only: a role named "dev" is not user/dev.
    self_service = allow("iam:CreateAccessKey", "arn:aws:iam::111122223333:user/${aws:username}")
    role = effective_permissions(
        principal_arn="arn:aws:iam::111122223333:role/dev",
        principal_name="dev",
        policies=[Policy("self-service", "inline", self_service)],
    )
    decision = role.decide(action="iam:CreateAccessKey", resource=ARN)
    assert not decision.allowed
