"""Escalation weighs only the targets some Allow names: the same answer as asking `decide` of
every candidate, without the square of the users (AWS's manage-your-own-credentials policy,
given to every user, made 500 users take 4 s)."""

import pytest

from findings.policy import escalation
from findings.policy.effective import Policy, effective_permissions
from findings.policy.escalation import Account, escalation_methods, principal_methods
from findings.policy.escalation.reach import _risky
from findings.policy.escalation.service_roles import _allowed_in_service
from findings.policy.escalation.targets import _may_create
from findings.policy.escalation_methods import METHODS

ACCOUNT = "111122223333"
IAM = f"arn:aws:iam::{ACCOUNT}"
USERS = ["alice", "bob", "ops/carol", "ops/dave", "build-1", "build-2"]
ROLES = ["admin", "app/deployer", "app-reader"]
ADMIN = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def arn(kind: str, name: str) -> str:
    return f"{IAM}:{kind}/{name}"


def perms(principal: str, *statements):
    return effective_permissions(
        principal_arn=principal,
        principal_name=principal.rpartition("/")[2],
        policies=[Policy("p", "inline", {"Statement": list(statements)})],
    )


def account(grant: dict) -> Account:
    principals = {arn("user", u): perms(arn("user", u), grant) for u in USERS}
    principals[arn("user", "alice")] = perms(arn("user", "alice"), grant, ADMIN)  # someone to reach
    principals |= {arn("role", r): perms(arn("role", r), ADMIN) for r in ROLES}
    return Account(account_id=ACCOUNT, principals=principals)


def brute_force(
    acct: Account, principal: str, *, runs_as: bool = False
) -> dict[str, tuple[str, ...]]:
    """Each method's targets as `_risky` judges every candidate, with no narrowing."""
    found = {}
    perms_ = acct.principals[principal]
    for method in METHODS:
        if method.rule == "own-deny" or (method.runs_as and not runs_as):
            continue
        if not perms_.allows(action=method.target_action) or not all(
            perms_.allows(action=a) and _allowed_in_service(perms_, a) for a in method.also
        ):
            continue
        if method.runs_as and not _allowed_in_service(perms_, method.target_action):
            continue
        candidates = list(acct.targets(method.target_kind))
        if method.rule == "other" or method.runs_as or not _may_create(perms_, method, acct):
            candidates = candidates[:-1]
        targets = [t for t in candidates if _risky(method, perms_, t, acct)]
        # Another way to the same roles names only those the first way does not reach.
        targets = [t for t in targets if t not in found.get(method.alternative_to, ())]
        if targets:
            found[method.id] = tuple(
                f"(any new {method.target_kind} it creates)"
                if t == acct.unknown(method.target_kind)
                else t
                for t in targets
            )
    return found


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        f"{IAM}:user/*",
        "arn:aws:iam::*:user/${aws:username}",
        f"{IAM}:user/ops/*",
        f"{IAM}:user/alice",
        f"{IAM}:user/ghost",
        "arn:aws:iam::*:user/*/carol",
        f"{IAM}:user/build-?",
        f"{IAM}:user/${{aws:PrincipalTag/team}}-*",
        f"{IAM}:user/${{*}}",
        [f"{IAM}:user/bob", f"{IAM}:role/app/*"],
        f"{IAM}:role/*",
        f"{IAM}:role/app-reader",
    ],
)
def test_the_narrowed_targets_are_those_every_candidate_gives(resource):
    actions = [
        "iam:CreateAccessKey",
        "iam:CreateLoginProfile",
        "iam:UpdateLoginProfile",
        "iam:AttachUserPolicy",
        "iam:PutUserPolicy",
        "iam:PassRole",
        "lambda:CreateFunction",
        "lambda:InvokeFunction",
        "iam:UpdateAssumeRolePolicy",
        "iam:CreateUser",
    ]
    grant = {"Effect": "Allow", "Action": actions, "Resource": resource}
    acct = account(grant)
    for user in USERS:
        if user == "alice":
            continue
        principal = arn("user", user)
        found = {
            m.method: m.targets
            for m in escalation_methods(principal_arn=principal, account=acct)
            if m.method in {x.id for x in METHODS if x.rule != "own-deny" and not x.runs_as}
        }
        assert found == brute_force(acct, principal), (user, resource)


def test_a_grant_not_on_a_resource_list_is_not_narrowed():
    grant = {"Effect": "Allow", "Action": "iam:CreateAccessKey", "NotResource": f"{IAM}:user/bob"}
    acct = account(grant)
    principal = arn("user", "build-1")
    found = {m.method: m.targets for m in escalation_methods(principal_arn=principal, account=acct)}
    assert found["CreateAccessKey"] == (arn("user", "alice"),)


def test_the_self_service_policy_weighs_each_user_once_not_every_user(monkeypatch):
    """Work counted, not timed: how many (principal, method, target) triples are weighed.
    Before, each user's three credential methods weighed every user: 3 x 500 x 501."""
    self_service = {
        "Effect": "Allow",
        "Action": ["iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile"],
        "Resource": "arn:aws:iam::*:user/${aws:username}",
    }
    weighed = []
    risky = _risky

    def counting(method, perms_, target, acct):
        weighed.append(target)
        return risky(method, perms_, target, acct)

    monkeypatch.setattr(principal_methods, "_risky", counting)
    principals = {
        arn("user", f"u{n}"): perms(arn("user", f"u{n}"), self_service) for n in range(500)
    }
    acct = Account(account_id=ACCOUNT, principals=principals)
    for principal in principals:
        escalation_methods(principal_arn=principal, account=acct)

    assert len(weighed) == 3 * 500  # each method, its own user only


ROOT_TRUST = {
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"{IAM}:root"}, "Action": "sts:AssumeRole"}
    ]
}


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        f"{IAM}:role/*",
        f"{IAM}:role/app/*",
        f"{IAM}:role/admin",
        "arn:aws:iam::*:role/app-reader",
        f"{IAM}:role/${{aws:PrincipalTag/team}}",
        f"{IAM}:role/ghost",
    ],
)
@pytest.mark.parametrize(
    ("extra", "boundary"),
    [
        ([], None),
        ([{"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": f"{IAM}:role/admin"}], None),
        (
            [
                {
                    "Effect": "Deny",
                    "Action": "sts:*",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
                }
            ],
            None,
        ),
        ([], {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"{IAM}:role/app/*"}),
        ([], {"Effect": "Allow", "Action": "*", "Resource": "*"}),
    ],
)
def test_the_roles_a_principal_may_assume_are_those_asking_every_role_gives(
    resource, extra, boundary
):
    grant = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": resource}

    def bounded(principal: str):
        return effective_permissions(
            principal_arn=principal,
            principal_name=principal.rpartition("/")[2],
            policies=[Policy("p", "inline", {"Statement": [grant, *extra]})],
            boundary=Policy("b", "boundary", {"Statement": [boundary]}) if boundary else None,
        )

    principals = {arn("user", u): bounded(arn("user", u)) for u in USERS}
    principals |= {arn("role", r): perms(arn("role", r), ADMIN) for r in ROLES}
    acct = Account(
        account_id=ACCOUNT,
        principals=principals,
        trust={arn("role", r): ROOT_TRUST for r in ROLES},
    )
    for user in USERS:
        principal = arn("user", user)
        expected = [
            arn("role", r)
            for r in sorted(ROLES)
            if principals[principal]
            .decide(action="sts:AssumeRole", resource=arn("role", r))
            .allowed
        ]
        assert sorted(escalation.assumable_roles(principal_arn=principal, account=acct)) == sorted(
            expected
        ), resource


def trusting(*services: str) -> dict:
    return {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": list(services)},
                "Action": "sts:AssumeRole",
            }
        ]
    }


@pytest.mark.parametrize(
    "resource", ["*", f"{IAM}:role/*", f"{IAM}:role/svc-*", f"{IAM}:role/svc-lambda"]
)
def test_roles_passed_to_or_run_by_a_service_are_those_every_role_gives(resource):
    """Only roles the service is trusted by (EC2's in an instance profile) are weighed."""
    services = {
        "svc-lambda": trusting("lambda.amazonaws.com"),
        "svc-ec2": trusting("ec2.amazonaws.com"),
        "svc-ec2-no-profile": trusting("ec2.amazonaws.com"),
        "svc-any": {
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]
        },
        "svc-glue-ecs": trusting("glue.amazonaws.com", "ecs-tasks.amazonaws.com"),
        "app/deployer": trusting("cloudformation.amazonaws.com"),
    }
    actions = [
        "iam:PassRole",
        "lambda:*",
        "ec2:RunInstances",
        "glue:*",
        "ecs:*",
        "cloudformation:*",
        "ssm:SendCommand",
        "iam:CreateRole",
    ]
    grant = {"Effect": "Allow", "Action": actions, "Resource": "*"}
    passrole = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": resource}
    principals = {
        arn("user", u): perms(arn("user", u), grant | {"Action": actions[1:]}, passrole)
        for u in USERS
    }
    principals |= {arn("role", r): perms(arn("role", r), ADMIN) for r in [*services, "orphan"]}
    acct = Account(
        account_id=ACCOUNT,
        principals=principals,
        trust={arn("role", r): t for r, t in services.items()},
        in_instance_profile=frozenset({arn("role", "svc-ec2")}),
    )
    for user in USERS:
        principal = arn("user", user)
        found = {
            m.method: m.targets
            for m in escalation_methods(principal_arn=principal, account=acct)
            if m.method in {x.id for x in METHODS if x.rule != "own-deny"}
        }
        assert found == brute_force(acct, principal, runs_as=True), (user, resource)
        assert found  # something to compare


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_a_role_it_may_create_and_pass_counts_in_every_partition(partition):
    """The placeholder for a role yet to be created was an `arn:aws:` one: in aws-cn and
    aws-us-gov a grant on `role/*` never reached it."""
    iam = f"arn:{partition}:iam::{ACCOUNT}"
    grant = {
        "Effect": "Allow",
        "Action": [
            "iam:CreateRole",
            "iam:PassRole",
            "lambda:CreateFunction",
            "lambda:InvokeFunction",
        ],
        "Resource": "*",
    }
    attach = {"Effect": "Allow", "Action": "iam:AttachRolePolicy", "Resource": f"{iam}:role/*"}
    dev = f"{iam}:user/dev"
    acct = Account(account_id=ACCOUNT, principals={dev: perms(dev, grant, attach)})
    found = {m.method: m.targets for m in escalation_methods(principal_arn=dev, account=acct)}
    assert found["AttachRolePolicy"] == ("(any new role it creates)",)


@pytest.mark.parametrize(
    ("create", "use", "reported"),
    [
        (f"{IAM}:role/app-*", f"{IAM}:role/app-*", True),
        ("arn:aws:iam::*:role/app/*", "arn:aws:iam::*:role/app/*", True),
        (f"{IAM}:role/app-?", f"{IAM}:role/app-*", True),
        (f"{IAM}:role/a-*", f"{IAM}:role/b-*", False),  # no one name fits both
        (f"{IAM}:role/app-*", f"{IAM}:user/*", False),
        ("arn:aws:iam::999988887777:role/app-*", f"{IAM}:role/app-*", False),  # elsewhere
    ],
)
def test_a_role_it_may_create_only_under_a_name_pattern_is_a_target(create, use, reported):
    """The delegated administrator's scope: CreateRole and AttachRolePolicy on role/app-*,
    and no app-* role yet. It creates app-x, attaches an administrator's policy and assumes
    it; the placeholder name matched no such pattern, so nothing was reported."""
    grants = [
        {"Effect": "Allow", "Action": "iam:CreateRole", "Resource": create},
        {"Effect": "Allow", "Action": "iam:AttachRolePolicy", "Resource": use},
    ]
    dev = arn("user", "dev")
    acct = Account(account_id=ACCOUNT, principals={dev: perms(dev, *grants)})
    found = {m.method: m.targets for m in escalation_methods(principal_arn=dev, account=acct)}
    assert (found.get("AttachRolePolicy") == ("(any new role it creates)",)) is reported
