"""Whether one method reaches one target, by the method's rule: the principal may make the
method's request on it (its conditions read as IAM reads them), and the target gives it more."""

from __future__ import annotations

from dataclasses import dataclass

from findings.policy.conditions import Request
from findings.policy.effective import EffectivePermissions
from findings.policy.escalation.account import Account, _trusts_service, _usable_on_an_instance
from findings.policy.escalation.service_roles import (
    _allows_ecs_exec,
    _execution_role_only,
    _usable_by_service,
)
from findings.policy.escalation.targets import new_names
from findings.policy.escalation_methods import Method
from findings.policy.escalation_requests import (
    BOUNDARY_KEY,
    POLICY_ARN_KEY,
    admitted,
    escalation_request,
    partition,
)


@dataclass(frozen=True)
class Reach:
    """A target a method reaches; `through`: the managed policies in use that alone admit
    its attachment (an iam:PolicyARN condition naming them), empty for any policy."""

    through: tuple[str, ...] = ()


ANY_POLICY = Reach()


def _risky(
    method: Method, perms: EffectivePermissions, target: str, account: Account
) -> Reach | None:
    """Whether (and how) the method reaches the target: None when it does not."""
    if target == account.unknown(method.target_kind) and not method.runs_as:
        # A target yet to be created: any name the principal may create it under.
        through: dict[str, None] = {}
        for name in new_names(perms=perms, kind=method.target_kind, account=account):
            found = _risky_at(method, perms, target, account, resource=name)
            if found == ANY_POLICY:
                return found
            if found is not None:
                through.update(dict.fromkeys(found.through))
        return Reach(tuple(through)) if through else None
    return _risky_at(method, perms, target, account, resource=target)


def _risky_at(
    method: Method, perms: EffectivePermissions, target: str, account: Account, *, resource: str
) -> Reach | None:
    """_risky for the target, the request made on `resource` (a new target's made-up name)."""
    if method.runs_as:
        # The action is on the service's existing resource (checked once, in _methods); the
        # target is a role the service is trusted to run as, known from its trust policy.
        reached = (
            target in account.trust
            and _trusts_service(account, target, method.runs_as)
            and _usable_on_an_instance(account, target, method.runs_as)
            and not (
                method.task_role_only
                and (_execution_role_only(account, target) or not _allows_ecs_exec(account, target))
            )
            and account.more_privileged(target, perms)
        )
        return ANY_POLICY if reached else None
    if target in account.protected and not method.service:
        return None  # IAM refuses any change to the role (its policies, boundary, trust)
    decision = perms.decide(action=method.target_action, resource=resource)
    if not decision.allowed:
        return None
    new = target == account.unknown(method.target_kind)
    request = _with_policies_it_writes(method, perms, new, account)
    through: tuple[str, ...] = ()
    if not admitted(decision=decision, request=request):
        if method.rule not in ATTACH_RULES:
            return None
        through = account.attachable_granting_more(decision, request, perms)
        if not through:
            return None
    return Reach(through) if _reaches(method, perms, target, account, resource, new) else None


def _reaches(
    method: Method,
    perms: EffectivePermissions,
    target: str,
    account: Account,
    resource: str,
    new: bool,
) -> bool:
    """Whether the target, on which the principal may make the method's request, gives it
    more, by the method's rule."""
    if method.service and not _usable_by_service(method, perms, target, account):
        return False
    rule = method.rule
    if rule == "other":  # another user's credentials: worth having only with more access
        other = account.permissions(target)
        return (
            target != perms.principal_arn
            and other is not None
            and account.more_privileged(target, perms)
        )
    if rule in ("group-attach", "has-members"):
        # A policy on a group gives its members more: the principal, if it is in the group or
        # may add itself, or a member whose credentials it controls (it signs in as it).
        return (
            account.is_member(target, perms)
            or perms.decide(action="iam:AddUserToGroup", resource=resource).allowed
            or account.member_controlled(target, perms)
        )
    if rule == "in-use":
        # A new version, or another default, of a policy someone uses; a policy that does not
        # exist yet has no version to replace and nobody using it.
        return target in account.policies_in_use
    if rule == "more-privileged":
        return account.more_privileged(target, perms)
    if rule == "own-boundary":  # its own boundary, and one that takes something away
        return target == perms.principal_arn and bool(perms.capped or perms.bounded_resources)
    # "unbounded", "unbounded-attach": whatever policy it writes, an existing target's own
    # boundary caps (its own boundary, for a principal writing itself a policy).
    return new or account.boundary_gives_more(target, perms)


ATTACH_RULES = ("unbounded-attach", "group-attach")


def _with_policies_it_writes(
    method: Method, perms: EffectivePermissions, new: bool, account: Account
) -> Request:
    """The method's request, with the customer-managed policies the principal may write
    (`writable_policies`) among the values of the keys naming a policy it chooses: the policy
    it attaches, and the boundary of a target it creates or its own new boundary. Such a
    policy is as broad as it likes: a condition admitting `policy/*` bounds nothing."""
    request = escalation_request(method=method, partition=partition(arn=perms.principal_arn))
    attaches = method.rule in ATTACH_RULES
    bounds = (new and method.rule in ("unbounded", "unbounded-attach")) or (
        method.rule == "own-boundary" and method.target_action.startswith("iam:Put")
    )
    if not (attaches or bounds):
        return request
    writable = account.writable_policies(perms)
    if not writable:
        return request
    request = dict(request)
    if attaches:
        request[POLICY_ARN_KEY] = (*request[POLICY_ARN_KEY], *writable)
    if bounds:
        request[BOUNDARY_KEY] = (*request[BOUNDARY_KEY], *writable)
    return request
