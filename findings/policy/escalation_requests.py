"""An escalation's requests as IAM's conditions read them, and whether a grant admits one.

Pure: a method (or an ARN) in, the condition context of its request out: the keys IAM sets for
the action, with the values an escalation would give them (no boundary or one that bounds
nothing, a broad AWS-managed policy, the service a role is passed to, named as the ARN's
partition names them). `admitted` weighs such a request against a decision's statements;
`may_name_service` tells whether a statement reaches the service's resources at all.
"""

from __future__ import annotations

from functools import cache
from itertools import product

from findings.policy.conditions import (
    Request,
    condition_admits,
    condition_surely_holds,
    wildcard_match,
)
from findings.policy.documents import Statement
from findings.policy.effective import Decision
from findings.policy.escalation_methods import Method

# Condition keys that keep a delegated grant within bounds (AWS IAM User Guide, "Condition keys
# for IAM"): the target must carry a given boundary, or only given policies may be attached.
BOUNDARY_KEY = "iam:permissionsboundary"
POLICY_ARN_KEY = "iam:policyarn"
PASSED_TO_SERVICE_KEY = "iam:passedtoservice"
# AWS-managed policies that give a principal far more access: what an escalation attaches, or
# sets as a "boundary" that bounds nothing. A condition that lets one of them through does not
# scope the grant.
BROAD_AWS_POLICIES = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess")


def partition(*, arn: str) -> str:
    """The partition an ARN names (aws, aws-cn, aws-us-gov); aws when it names none."""
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"


def principal_kind(*, arn: str) -> str:
    """user or role, as a principal's ARN says."""
    return arn.split(":", 5)[-1].partition("/")[0]


@cache
def broad_policy_arns(partition: str) -> tuple[str, ...]:
    return tuple(f"arn:{partition}:iam::aws:policy/{name}" for name in BROAD_AWS_POLICIES)


@cache
def without_boundary(partition: str) -> dict[str, tuple[str | None, ...]]:
    """The iam:PermissionsBoundary a request that escapes a boundary carries: none, or one
    that bounds nothing."""
    return {BOUNDARY_KEY: (None, *broad_policy_arns(partition))}


@cache
def escalation_request(*, method: Method, partition: str) -> Request:
    """The condition context of the request the method makes on a target that gives more
    access: the keys IAM sets for its action, with the values an escalation would use (None:
    IAM does not set the key for that action)."""
    request: dict[str, tuple[str | None, ...]] = {
        BOUNDARY_KEY: (None,),
        POLICY_ARN_KEY: (None,),
        PASSED_TO_SERVICE_KEY: (None,),
    }
    if method.rule in ("unbounded", "unbounded-attach"):  # the target user's or role's boundary
        request |= without_boundary(partition)
    if method.rule == "own-boundary" and method.target_action.startswith("iam:Put"):
        # A new boundary that bounds nothing; removing one sets no boundary key at all.
        request[BOUNDARY_KEY] = broad_policy_arns(partition)
    if method.rule in ("unbounded-attach", "group-attach"):
        request[POLICY_ARN_KEY] = broad_policy_arns(partition)
    if method.service:
        request[PASSED_TO_SERVICE_KEY] = tuple(
            service_names(service=method.service, partition=partition)
        )
    return request


def service_names(*, service: str, partition: str) -> tuple[str, ...]:
    """How a partition names a service principal: the China partition adds ".cn" (and also
    knows the plain name). Elsewhere the ".cn" name is no name at all: trying it got past a
    Deny of the plain name, a false escalation."""
    return (service, f"{service}.cn") if partition == "aws-cn" else (service,)


def admitted(*, decision: Decision, request: Request) -> bool:
    """Whether some request of the kind `request` describes gets through: one of the Allow
    statements that match the action admits it (IAM allows what any one of them allows,
    whatever conditions the others carry), and no Deny whose condition surely holds for it
    stops it (the delegated-administrator pattern: Deny iam:CreateRole unless the boundary is
    set). A Deny whose condition names other keys may be avoided, so it stops nothing here."""
    keys = sorted(request)
    for chosen in product(*(tuple(request[key]) for key in keys)):
        values = dict(zip(keys, chosen, strict=True))
        single = {key: (value,) for key, value in values.items()}
        if not any(condition_admits(statement=s, request=single) for s in decision.grants):
            continue
        if not any(
            condition_surely_holds(statement=d, values=values) for d in decision.conditional_denies
        ):
            return True
    return False


def may_name_service(*, statement: Statement, service: str) -> bool:
    """Whether a statement may name some resource of the service: a NotResource may, and so
    does a pattern whose service part matches it ("*", or `arn:aws:*:...`); one on a bucket
    names no Glue or EC2 resource."""
    if statement.not_resources:
        return True
    for pattern in statement.resources:
        parts = pattern.split(":")
        if len(parts) < 3 or wildcard_match(value=service, pattern=parts[2].lower()):
            return True
    return False
