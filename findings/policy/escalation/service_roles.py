"""Roles and AWS services: a role passed to a service must be of use there, and a role a
service already runs as (an ECS task's) must be one a principal can take over; an action
counts only where its own service's resources are named."""

from __future__ import annotations

from findings.policy.effective import EffectivePermissions
from findings.policy.escalation.account import Account, _trusts_service
from findings.policy.escalation_methods import Method
from findings.policy.escalation_requests import may_name_service

# What the ECS agent needs of a task's execution role (AWS's AmazonECSTaskExecutionRolePolicy):
# a shell opened by ecs:ExecuteCommand has the task role's credentials, never these.
ECS_EXECUTION_ACTIONS = frozenset(
    {
        "ecr:getauthorizationtoken",
        "ecr:batchchecklayeravailability",
        "ecr:getdownloadurlforlayer",
        "ecr:batchgetimage",
        "logs:createlogstream",
        "logs:putlogevents",
    }
)


def _execution_role_only(account: Account, role: str) -> bool:
    """Whether the role allows nothing but what AmazonECSTaskExecutionRolePolicy gives (that
    policy, or a copy of it): a task's execution role, as `ecsTaskExecutionRole` is in every
    account using ECS. Task definitions are not collected, so which role is a task's is
    known only from this."""
    perms = account.principals.get(role)
    return perms is not None and bool(perms.allowed) and perms.allowed <= ECS_EXECUTION_ACTIONS


# What ECS Exec needs of the task role (AWS ECS Developer Guide, 'Monitor Amazon ECS
# containers with ECS Exec'): the SSM Session Manager channels, on "*". A task whose role
# lacks them takes no `execute-command` session.
ECS_EXEC_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)


def _allows_ecs_exec(account: Account, role: str) -> bool:
    """Whether the role's effective permissions (its Denies and boundary applied) allow
    every channel action ECS Exec needs on "*": a task role without them cannot be exec'd
    into. A role not known is given the benefit of the doubt."""
    perms = account.principals.get(role)
    return perms is None or all(
        perms.decide(action=action, resource="*").allowed for action in ECS_EXEC_ACTIONS
    )


def _usable_by_service(
    method: Method, perms: EffectivePermissions, target: str, account: Account
) -> bool:
    """Whether a role passed to `method.service` is of use there: the service must be trusted
    to assume it, and EC2 takes a role only through an instance profile (one the role is in,
    or one the principal may add it to). What is not known (a role not yet created, a trust
    policy not collected) counts as usable."""
    if target == account.unknown("role") or target not in account.trust:
        return True
    if not _trusts_service(account, target, method.service):
        return False
    if method.service == "ec2.amazonaws.com" and account.in_instance_profile is not None:
        return target in account.in_instance_profile or perms.allows(
            action="iam:AddRoleToInstanceProfile"
        )
    return True


def _allowed_in_service(perms: EffectivePermissions, action: str) -> bool:
    """Whether the action is allowed on some resource of its own service: glue:* granted on an
    S3 bucket's ARN allows no Glue action at all."""
    decision = perms.decide(action=action)
    if not decision.allowed:
        return False
    service = action.partition(":")[0].lower()
    return any(may_name_service(statement=s, service=service) for s in decision.grants)
