"""A principal's methods: each published method weighed against the targets its grants
name, then the organization's SCPs applied."""

from __future__ import annotations

from findings.policy.effective import EffectivePermissions
from findings.policy.escalation.account import Account, Escalation
from findings.policy.escalation.reach import _risky
from findings.policy.escalation.service_roles import _allowed_in_service
from findings.policy.escalation.targets import CREATE_ACTIONS, _may_create, _named_by_grants
from findings.policy.escalation_methods import METHODS, METHODS_BY_ID, Method
from findings.policy.escalation_requests import principal_kind


def _methods(
    perms: EffectivePermissions, account: Account, only: str | None = None
) -> list[Escalation]:
    """The principal's methods (those of rule `only`, when given)."""
    found = []
    for method in METHODS:
        if only is not None and method.rule != only:
            continue
        if not perms.allows(action=method.target_action) or not all(
            perms.allows(action=a) for a in method.also
        ):
            continue
        if not all(_allowed_in_service(perms, a) for a in method.also):
            continue
        if method.runs_as and not _allowed_in_service(perms, method.target_action):
            continue
        if method.target_kind == "group" and principal_kind(arn=perms.principal_arn) != "user":
            continue  # a role is in no group: joining one, or a group's policy, gives it nothing
        removes: tuple[str, ...] = ()
        attaches_only: tuple[str, ...] = ()
        if method.rule == "own-deny":
            if method.target_kind != principal_kind(arn=perms.principal_arn):
                continue  # a user's methods for users, a role's for roles
            removes, blocked_by = account.own_denies.removable(perms, method.target_action)
            if not removes:
                continue
            targets = [perms.principal_arn]
        else:
            # Another user's credentials, a role existing code runs as, or one the principal
            # cannot create: only what exists. A grant reaching roles yet to be made is no
            # escalation while none exists to reach (it was a critical finding naming none).
            new_too = not (
                method.rule == "other" or method.runs_as or not _may_create(perms, method, account)
            )
            kind = method.target_kind
            if method.runs_as:
                candidates = account.runs_as_roles(method.runs_as)
            else:
                candidates = _named_by_grants(method, perms, new_too, account)
                if method.service:
                    # Roles whose trust policy refuses the service are of no use passed to
                    # it, whatever the principal's grant (a set look-up before `decide`).
                    ordered, usable = account.passable_roles(method.service)
                    unknown = account.unknown(kind)
                    if candidates is account.targets(kind):  # every role, and a new one
                        candidates = [*ordered, unknown]
                    elif candidates is account._sorted_known[kind]:  # every role
                        candidates = ordered
                    else:
                        candidates = [t for t in candidates if t in usable or t == unknown]
            reach = {
                t: reached
                for t in candidates
                if (reached := _risky(method, perms, t, account)) is not None
            }
            targets = list(reach)
            if method.alternative_to:
                # Another way to the same roles: those the first way reaches are named once.
                reached = {
                    t
                    for e in found
                    if e.method == method.alternative_to and not e.blocked_by
                    for t in e.targets
                }
                targets = [t for t in targets if t not in reached]
            if not targets:
                continue
            targets, blocked_by = _through_guardrails(method, perms, targets, account)
            admitted_by = [reach[t].through for t in targets]
            if admitted_by and all(admitted_by):  # no target takes any policy
                attaches_only = tuple(dict.fromkeys(p for ps in admitted_by for p in ps))
        decisions = [perms.decide(action=a) for a in (method.target_action, *method.also)]
        found.append(
            Escalation(
                method.id,
                method.source,
                (method.target_action, *method.also),
                tuple(
                    f"(any new {method.target_kind} it creates)"
                    if t == account.unknown(method.target_kind)
                    else t
                    for t in targets
                ),
                any(d.conditional for d in decisions),
                blocked_by,
                removes,
                attaches_only,
            )
        )
    return found


def _through_guardrails(
    method: Method, perms: EffectivePermissions, targets: list[str], account: Account
) -> tuple[list[str], str]:
    """The targets the organization's SCPs let the method reach, and, when they let it reach
    none, why. The method's other actions are needed on some resource; its own action on the
    target (for a service running as a role, on the service's resource: any); creating the
    target, for one not made yet."""
    if account.guardrails is None:
        return targets, ""
    who = perms.principal_arn
    for action in method.also:
        reason = account.permitted(action=action, resource=None, principal_arn=who)
        if reason:
            return [], reason
    through, reasons = [], []
    for target in targets:
        # A target yet to be created may take any name the SCPs leave open: judged on some
        # resource, not on our placeholder's name (a Deny of all but role/app-* leaves app-x).
        new = target == account.unknown(method.target_kind)
        reason = account.permitted(
            action=method.target_action,
            resource=None if method.runs_as or new else target,
            principal_arn=who,
        )
        create = CREATE_ACTIONS.get(method.target_kind)
        if not reason and new and create:
            reason = account.permitted(action=create, resource=None, principal_arn=who)
        if reason:
            reasons.append(reason)
        else:
            through.append(target)
    return through, ("" if through else reasons[0])


def _methods_of(account: Account, arn: str) -> list[Escalation]:
    """A principal's methods, worked out when first asked: nobody asks for an
    administrator's (it has everything already), which weighed every target of every
    method for each administrator role."""
    known = account._escalations.get(arn)
    if known is None:
        perms = account.principals.get(arn)
        known = [] if perms is None else _methods(perms, account)
        account._escalations[arn] = known
    return known


def escalation_methods(*, principal_arn: str, account: Account) -> list[Escalation]:
    """The methods open to the principal (the SCPs let them through)."""
    return [m for m in _methods_of(account, principal_arn) if not m.blocked_by]


def own_deny_methods(*, principal_arn: str, account: Account) -> list[Escalation]:
    """Its methods that take off a Deny of its own (the SCPs' blocked ones too, marked
    `blocked_by`), without weighing the others: all an administrator but for what its own
    Deny takes away (Allow * beside a Deny on the security role) may gain. Weighing every
    method for every administrator role was what `_methods_of` avoids."""
    known = account._escalations.get(principal_arn)
    if known is not None:
        return [m for m in known if METHODS_BY_ID[m.method].rule == "own-deny"]
    perms = account.principals.get(principal_arn)
    return [] if perms is None else _methods(perms, account, only="own-deny")


def blocked_methods(*, principal_arn: str, account: Account) -> list[Escalation]:
    """Methods its own policies allow that the organization's SCPs block, each with why."""
    return [m for m in _methods_of(account, principal_arn) if m.blocked_by]
