"""Paths across principals: the roles a principal may assume, and the shortest chain of them
to an administrator or to a role that can escalate."""

from __future__ import annotations

from collections import deque

from findings.policy.escalation.account import Account
from findings.policy.escalation.principal_methods import escalation_methods
from findings.policy.escalation.targets import _named_targets
from findings.policy.trust import EVERY_PRINCIPAL, with_trust_of


def _label(arn: str) -> str:
    return arn.rpartition(":")[2]


def assumable_roles(*, principal_arn: str, account: Account) -> list[str]:
    """Roles whose trust policy names the principal, or trusts its account and the principal's
    own policies allow it to assume them."""
    known = account._assumable.get(principal_arn)
    if known is not None:
        return known
    perms = account.principals[principal_arn]
    anyone, named = account._trusting
    found: set[str] = set()
    mine = tuple(
        dict.fromkeys(
            role
            for role in (*named.get(principal_arn, ()), *named.get(EVERY_PRINCIPAL, ()))
            if role != principal_arn
        )
    )
    if mine:
        trusted = with_trust_of(perms=perms, roles=mine)
        found.update(
            role for role in mine if trusted.decide(action="sts:AssumeRole", resource=role).allowed
        )
    by_arn = tuple(r for r in named.get(principal_arn, ()) if r != principal_arn and r not in found)
    if by_arn and perms.boundary is not None and ":user/" in principal_arn:
        unbounded = with_trust_of(perms=perms, roles=by_arn, bounded=False)
        found.update(
            r for r in by_arn if unbounded.decide(action="sts:AssumeRole", resource=r).allowed
        )
    # Allowed on no resource at all (most principals): no role trusting the account to look
    # at. On some resource covers every resource it could be allowed on, so this never hides
    # a role.
    if perms.decide(action="sts:AssumeRole").allowed:
        # Only the roles its grants name: a set look-up, not `decide` of every role trusting
        # the account for every principal.
        if perms.allows_everywhere(action="sts:AssumeRole"):
            # Allowed on "*" and denied nowhere: every one of them, with no `decide` each.
            found.update(role for role in anyone if role != principal_arn)
        else:
            named = _named_targets(perms, "sts:AssumeRole", "role", account)
            pool = anyone if named is None else [r for r in named if r in account._anyone]
            found.update(
                role
                for role in pool
                if role != principal_arn
                and role not in found
                and perms.decide(action="sts:AssumeRole", resource=role).allowed
            )
    # The organization's SCPs may deny assuming a role (a Deny of sts:AssumeRole on the
    # platform team's roles, for everyone but them).
    result = sorted(
        (
            role
            for role in found
            if not account.permitted(
                action="sts:AssumeRole", resource=role, principal_arn=principal_arn
            )
        ),
        key=account._role_order.__getitem__,
    )
    account._assumable[principal_arn] = result
    return result


def escalation_path(*, principal_arn: str, account: Account, max_hops: int = 4) -> list[str]:
    """The shortest chain of roles to an administrator or to a role that can escalate.

    Returned as labels ending with what is reached (`user/dev`, `role/deployer`, `admin`);
    empty when there is none.
    """
    seen = {principal_arn}
    queue = deque([[principal_arn]])
    while queue:
        chain = queue.popleft()
        if len(chain) > max_hops:
            break
        for role in assumable_roles(principal_arn=chain[-1], account=account):
            if role in seen:
                continue
            seen.add(role)
            hops = [*chain, role]
            reached = account.principals[role]
            if reached.is_admin:
                return [*map(_label, hops), "admin"]
            methods = escalation_methods(principal_arn=role, account=account)
            if methods:
                return [*map(_label, hops), f"escalation ({methods[0].method})"]
            queue.append(hops)
    return []
