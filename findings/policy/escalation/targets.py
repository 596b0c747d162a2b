"""A method's candidate targets: the account's users, roles, groups or policies that some
Allow of its action names, and the new ones the principal may create."""

from __future__ import annotations

from bisect import bisect_left

from findings.policy.effective import WILDCARDS, EffectivePermissions, pattern_names
from findings.policy.escalation.account import Account
from findings.policy.escalation.names import in_account, made_up_name
from findings.policy.escalation_methods import Method


def _named_by_grants(
    method: Method, perms: EffectivePermissions, new_too: bool, account: Account
) -> list[str]:
    """The candidates some Allow of the method's action names, in their order: only those can
    `decide` allow it on. A set look-up for a grant on one ARN, and for one whose last part
    has no wildcard (`user/${aws:username}`, AWS's manage-your-own-credentials policy given
    to every user); only a grant like `user/*` reads every candidate. Asking `decide` of
    every user for every user took 4 s at 500 users and grew with their square."""
    kind = method.target_kind
    hits = _named_targets(perms, method.target_action, kind, account)
    if hits is None:  # every target (shared lists: read, never changed)
        return account.targets(kind) if new_too else account._sorted_known[kind]
    named = sorted(hits - {account.unknown(kind)})
    if new_too:  # under any name it may create: `_risky` tries them
        named.append(account.unknown(kind))
    return named


def _named_targets(
    perms: EffectivePermissions, action: str, kind: str, account: Account
) -> set[str] | None:
    """The account's targets of a kind (and the one yet to be created) that some Allow of the
    action names; None when the grants cannot narrow them (a NotResource)."""
    found = perms.grant_patterns(action=action)
    if found is None:
        return None
    literal, patterns = found
    known = account._known_targets[kind]
    unknown = account.unknown(kind)
    ordered = account._sorted_known[kind]
    hits = {arn for arn in literal if arn in known or arn == unknown}
    for pattern in patterns:
        tail = pattern.rpartition("/")[2]
        if "/" in pattern and not WILDCARDS.search(tail):
            pool = account._by_name[kind].get(tail, ())
        else:
            # Every target it names starts with what comes before its first wildcard (the
            # account's id for a "*" account: a name holds no colon): a range of the sorted
            # targets. `role/team-3-*` reads the team's roles, not every role.
            narrowed = in_account(pattern=pattern, account_id=account.account_id)
            prefix = narrowed[: WILDCARDS.search(narrowed).start()]
            pool = ordered[
                bisect_left(ordered, prefix) : bisect_left(ordered, prefix + "\U0010ffff")
            ]
        hits.update(arn for arn in pool if pattern_names(pattern=pattern, resource=arn))
        if pattern_names(pattern=pattern, resource=unknown):
            hits.add(unknown)
    return hits


CREATE_ACTIONS = {
    "user": "iam:CreateUser",
    "role": "iam:CreateRole",
    "group": "iam:CreateGroup",
    "policy": "iam:CreatePolicy",
}


def _may_create(perms: EffectivePermissions, method: Method, account: Account) -> bool:
    """Whether the principal may create a target of the method's kind (a role to pass, a
    group to join), which its grant would then reach."""
    return bool(new_names(perms=perms, kind=method.target_kind, account=account))


def new_names(*, perms: EffectivePermissions, kind: str, account: Account) -> tuple[str, ...]:
    """ARNs the principal may create a new target of the kind under: the placeholder, and a
    name made up from each pattern its create grant names (`role/app-*`: `role/app-iamreview-
    new`), the delegated administrator's usual scope, which the placeholder never matched.
    Empty: it may create none."""
    key = (perms.principal_arn, kind)
    known = account._new_names.get(key)
    if known is not None:
        return known
    create = CREATE_ACTIONS.get(kind)
    found: list[str] = []
    if create is not None and perms.allows(action=create):
        names = [account.unknown(kind)]
        grants = perms.grant_patterns(action=create)
        for pattern in grants[1] if grants else ():
            name = made_up_name(
                pattern=pattern,
                kind=kind,
                account_id=account.account_id,
                placeholder=account.unknown(kind),
            )
            if name is not None and name not in names:
                names.append(name)
        found = [n for n in names if perms.decide(action=create, resource=n).allowed]
    account._new_names[key] = tuple(found)
    return account._new_names[key]
