"""Whether one principal's effective permissions give more than another's: what makes a
target worth reaching."""

from __future__ import annotations

import re
from functools import lru_cache

from findings.policy.effective import (
    SELF,
    EffectivePermissions,
    has_self,
    patterns_overlap,
    patterns_within,
)


def more_privileged(*, target: EffectivePermissions | None, than: EffectivePermissions) -> bool:
    """Whether the target may do something the principal may not (unknown targets may): an
    action, or an action on resources beyond those the principal has it on. Comparing actions
    alone missed a user who may read every bucket, seen from one who may read one bucket."""
    # A subset test stops at the first action the principal lacks; a difference built every
    # action of every pair (principals x users, three times each: detection took 3x as long).
    if target is None or not target.allowed <= than.allowed:
        return True
    if (than.excluded or than.confined) and _left_out_by(than, not_by=target):
        return True
    if not than.scoped_actions:  # the principal has each of its actions on every resource
        return False
    # An action a NotResource Deny keeps to a few resources is the target's on those only.
    if not (target.everywhere - target.confined_actions).isdisjoint(than.scoped_actions):
        return True
    for theirs, their_actions in (*target.scoped_groups.items(), *target.confined.items()):
        for mine, my_actions in than.scoped_groups.items():
            if not their_actions.isdisjoint(my_actions) and not patterns_within(
                patterns=theirs, within=mine
            ):
                return True
    return False


def _left_out_by(principal: EffectivePermissions, *, not_by: EffectivePermissions) -> bool:
    """Whether the target may use an action the principal has on every resource but some
    (a Deny of the payroll bucket beside `s3:*`) on some of those, or one the principal has
    only on a few (a Deny with a NotResource) beyond them. Left out: the target has the action
    with none left out, leaves out less, or names some of them in a grant of its own. Kept to
    a few: the target has it on any other. A target with the same Deny has no more.

    `${aws:username}` is each user's own name here: a Deny on one's own user leaves out the
    principal's user, not the target's (a helpdesk user denied its own credentials still
    manages alice's, so alice's grant on her own user is no more than it has)."""
    target = not_by
    theirs_named = [
        (_as_seen(theirs, target), their_actions)
        for theirs, their_actions in (*target.scoped_groups.items(), *target.confined.items())
    ]
    for mine, actions_ in principal.excluded.items():
        mine = _not_own_user(mine, principal.principal_arn)
        if not mine:
            continue  # left out on its own user only: another's grant there gives it nothing
        if not actions_.isdisjoint(target.unexcluded):
            return True
        mine = _as_seen(mine, principal)
        for theirs, their_actions in target.excluded.items():
            if not actions_.isdisjoint(their_actions) and not patterns_within(
                patterns=mine, within=_as_seen(theirs, target)
            ):
                return True
        for theirs, their_actions in theirs_named:
            if not actions_.isdisjoint(their_actions) and patterns_overlap(
                patterns=theirs, others=mine
            ):
                return True
    for mine, actions_ in principal.confined.items():
        if not actions_.isdisjoint(target.unexcluded) or any(
            not actions_.isdisjoint(their_actions) for their_actions in target.excluded.values()
        ):
            return True  # on every resource (but a few): beyond the principal's few
        mine = _as_seen(mine, principal)
        for theirs, their_actions in theirs_named:
            if not actions_.isdisjoint(their_actions) and not patterns_within(
                patterns=theirs, within=mine
            ):
                return True
    return False


_OWN_USER = re.compile(r"user/(?:[^*?]*/)?" + re.escape(SELF))


@lru_cache(maxsize=10_000)
def _not_own_user(patterns: frozenset[str], principal_arn: str) -> frozenset[str]:
    """The comparable patterns but those naming the principal's own user alone
    (`user/${aws:username}`, or its ARN): what a Deny leaves out there, a target allowed it
    gives back only the principal's own credentials, whose access it has (helpdesk users,
    each denied its own, are no escalation of each other)."""
    return frozenset(
        p for p in patterns if p != principal_arn and not _OWN_USER.fullmatch(p.split(":", 5)[-1])
    )


def _as_seen(patterns: frozenset[str], perms: EffectivePermissions) -> frozenset[str]:
    """Comparable patterns with "the principal itself" (`${aws:username}`) read as its name:
    compared with another principal's, one's own user is not the other's."""
    if not has_self(patterns=patterns):
        return patterns
    return frozenset(p.replace(SELF, perms.principal_name) for p in patterns)
