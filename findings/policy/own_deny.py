"""Taking off one's own Deny (rule "own-deny"): a principal that may delete or detach its own
policy, or leave a group it is in, where that policy's Deny takes away something its other
policies allow.

Pure, over effective permissions and what the account holds, handed in as plain values (its
group and managed policy ARNs, and why its SCPs stop a request): findings.policy.escalation
keeps one OwnDenies per account and asks it, for each own-deny method, which of a principal's
own policies the method's action takes off.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from findings.policy.conditions import Request
from findings.policy.documents import Statement, statements
from findings.policy.effective import (
    DENY,
    EffectivePermissions,
    Policy,
    covered_actions,
    matches_resource,
)
from findings.policy.escalation_requests import (
    BOUNDARY_KEY,
    PASSED_TO_SERVICE_KEY,
    POLICY_ARN_KEY,
    admitted,
    may_name_service,
    partition,
    principal_kind,
)

# A group's policies come to a user labelled "<policy> (via group <group>)" (findings.detection
# builds them so; IAM names have no parentheses).
_VIA_GROUP = re.compile(r" \(via group ([^()]+)\)$")


class Permitted(Protocol):
    """Why the organization's SCPs stop a request; "" when they let it through (or there are
    none)."""

    def __call__(self, *, action: str, resource: str | None, principal_arn: str) -> str: ...


@dataclass(frozen=True)
class Removal:
    """One request that takes policies off the principal: its action, the resource it is on
    (the principal, or a group it is in), the policies it takes off (indexes into the
    principal's `policies`) and the condition context IAM gives it."""

    action: str
    resource: str
    policies: tuple[int, ...]
    request: Request = field(hash=False, compare=False)


@dataclass
class OwnDenies:
    """What taking off its own Deny needs to know about one account, keyed by ARN, and what
    has been worked out from it: each principal's removals once for every own-deny method,
    each policy document's statements once for every principal that has it."""

    account_id: str
    groups: tuple[str, ...]  # the account's group ARNs (those known only by their members too)
    # The managed policies in use and the account's own: the ARNs a policy may go by.
    managed_policies: frozenset[str]
    permitted: Permitted
    # Roles only AWS may change (IAM Identity Center's): none of their policies comes off.
    protected: frozenset[str] = frozenset()

    def removable(self, perms: EffectivePermissions, action: str) -> tuple[tuple[str, ...], str]:
        """The principal's own policies holding a Deny it may take off with the action (an
        own-deny method's), labelled as in its effective permissions; and, when the SCPs block
        each such request, why.

        The action must be allowed on the request's resource (its own ARN; the group's, for a
        group's policy or for leaving the group), with the iam:PolicyARN of the policy it
        detaches, and the Deny must take away something its other policies allow
        (_denies_given_back)."""
        found: list[str] = []
        blocked: list[str] = []
        reasons: list[str] = []
        for removal in self.removals(perms):
            if removal.action != action:
                continue
            decision = perms.decide(action=removal.action, resource=removal.resource)
            if not decision.allowed or not admitted(decision=decision, request=removal.request):
                continue
            labels = self.denies_given_back(perms, removal.policies)
            if not labels:
                continue
            reason = self.permitted(
                action=removal.action, resource=removal.resource, principal_arn=perms.principal_arn
            )
            if reason:
                reasons.append(reason)
                blocked.extend(labels)
            else:
                found.extend(labels)
        if found or not reasons:
            return tuple(dict.fromkeys(found)), ""
        return tuple(dict.fromkeys(blocked)), reasons[0]

    def removals(self, perms: EffectivePermissions) -> tuple[Removal, ...]:
        """The principal's own policies it could take off, read once for every own-deny
        method; none for a protected role (IAM refuses: "this role is only modifiable by
        AWS")."""
        known = self._removals.get(perms.principal_arn)
        if known is None:
            known = () if perms.principal_arn in self.protected else _removals(perms, self)
            self._removals[perms.principal_arn] = known
        return known

    @cached_property
    def _removals(self) -> dict[str, tuple[Removal, ...]]:
        return {}

    def denies_given_back(
        self, perms: EffectivePermissions, removed: tuple[int, ...]
    ) -> tuple[str, ...]:
        """_denies_given_back, once per principal and set of policies: removing a group's only
        policy and leaving the group take off the same."""
        key = (perms.principal_arn, removed)
        known = self._given_back.get(key)
        if known is None:
            known = _denies_given_back(perms, removed, self.statements_of)
            self._given_back[key] = known
        return known

    @cached_property
    def _given_back(self) -> dict[tuple[str, tuple[int, ...]], tuple[str, ...]]:
        return {}

    def statements_of(self, policy: Policy) -> list[Statement]:
        """A policy's statements, read once per document: detection hands a group's document
        to each of its members."""
        known = self._statements.get(id(policy.document))
        if known is None:
            # The document is kept with them: its id stays its own while the account lives.
            known = (policy.document, statements(document=policy.document))
            self._statements[id(policy.document)] = known
        return known[1]

    @cached_property
    def _statements(self) -> dict[int, tuple[dict, list[Statement]]]:
        return {}

    def group_arn(self, name: str, partition: str) -> str:
        """A group's ARN from its name (a group's policies come to a user labelled with the
        group's name); one without a path when the account's groups are not known."""
        return self._group_arns.get(name) or f"arn:{partition}:iam::{self.account_id}:group/{name}"

    @cached_property
    def _group_arns(self) -> dict[str, str]:
        return {arn.rpartition("/")[2]: arn for arn in self.groups}

    def policy_arns(self, policy: Policy, partition: str) -> tuple[str, ...]:
        """The ARNs a managed policy the principal has may go by (its iam:PolicyARN): its ref
        when that is one; else, by its name (detection labels a managed policy by name), those
        of the policies in use; else the account's own policy of that name, without a path."""
        if policy.ref.startswith("arn:"):
            return (policy.ref,)
        name = _VIA_GROUP.sub("", policy.label)
        return self._policy_arns.get(name) or (
            f"arn:{partition}:iam::{self.account_id}:policy/{name}",
        )

    @cached_property
    def _policy_arns(self) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {}
        for arn in sorted(self.managed_policies):
            found.setdefault(arn.rpartition("/")[2], []).append(arn)
        return {name: tuple(arns) for name, arns in found.items()}


def _own_request(keys: Mapping[str, tuple[str | None, ...]]) -> Request:
    return {BOUNDARY_KEY: (None,), POLICY_ARN_KEY: (None,), PASSED_TO_SERVICE_KEY: (None,), **keys}


def _removals(perms: EffectivePermissions, own: OwnDenies) -> tuple[Removal, ...]:
    """Each identity policy the principal could take off itself, and for a user each group it
    could leave: an inline policy is deleted, a managed one detached (iam:PolicyARN naming
    it), a group's on the group. On a user or role IAM sets iam:PermissionsBoundary to the
    principal's own boundary."""
    arn = perms.principal_arn
    where = partition(arn=arn)
    owner = "Role" if principal_kind(arn=arn) == "role" else "User"
    boundary = (None,) if perms.boundary is None else own.policy_arns(perms.boundary, where)
    found: list[Removal] = []
    groups: dict[str, list[int]] = {}
    for index, policy in enumerate(perms.policies):
        if policy.kind not in ("inline", "managed"):
            continue
        via = _VIA_GROUP.search(policy.label) if owner == "User" else None
        if via:
            resource = own.group_arn(via.group(1), where)
            groups.setdefault(resource, []).append(index)
            keys: dict[str, tuple[str | None, ...]] = {}
        else:
            resource, keys = arn, {BOUNDARY_KEY: boundary}
        if policy.kind == "managed":
            keys[POLICY_ARN_KEY] = own.policy_arns(policy, where)
        action = "iam:{}{}Policy".format(
            "Detach" if policy.kind == "managed" else "Delete", "Group" if via else owner
        )
        found.append(Removal(action, resource, (index,), _own_request(keys)))
    found.extend(
        Removal("iam:RemoveUserFromGroup", group, tuple(indexes), _own_request({}))
        for group, indexes in groups.items()
    )
    return tuple(found)


def _deny_scope(statement: Statement) -> tuple:
    return statement.actions, statement.not_actions, statement.resources, statement.not_resources


def _denies_given_back(
    perms: EffectivePermissions,
    removed: tuple[int, ...],
    read: Callable[[Policy], list[Statement]],
) -> tuple[str, ...]:
    """The labels of the removed policies that hold a Deny taking away something the
    principal's other policies allow, within its boundary: what taking them off gives back.

    Only a Deny without a condition counts, on every resource or on named ones. One with a
    condition is already read as one the principal may avoid (`decide` lets the request
    through as "conditional", `allowed` keeps the action): removing it gives back nothing
    detection did not count already. A Deny that one of the remaining policies repeats gives
    back nothing either. Cheap first, and without building the principal's permissions
    again: its actions are compared with the Deny's, and statements are read once per
    document (`read`)."""
    granted = perms.granted
    if perms.within_boundary is not None:
        granted &= perms.within_boundary
    denies = [
        (perms.policies[index].label, statement, taken)
        for index in removed
        for statement in read(perms.policies[index])
        if statement.effect == DENY
        and not statement.has_condition
        and (taken := covered_actions(statement=statement) & granted)
    ]
    if not denies:
        return ()
    remaining = [s for n, p in enumerate(perms.policies) if n not in removed for s in read(p)]
    bounds = [] if perms.boundary is None else read(perms.boundary)
    still_denied = [s for s in remaining if s.effect == DENY and not s.has_condition]
    repeated = {_deny_scope(s) for s in still_denied}
    # As `EffectivePermissions.denied` counts: on every resource, the boundary's too.
    everywhere = [
        s
        for s in [*still_denied, *bounds]
        if s.effect == DENY and not s.has_condition and "*" in s.resources
    ]
    allows = [s for s in remaining if s.is_allow]
    is_user = principal_kind(arn=perms.principal_arn) == "user"
    variables = {"aws:username": perms.principal_name if is_user else None}
    found: list[str] = []
    for label, deny, taken in denies:
        if label in found or _deny_scope(deny) in repeated:
            continue
        regained: set[str] = set()
        for allow in allows:
            regained |= taken & covered_actions(statement=allow)
        for other in everywhere:
            regained = regained - covered_actions(statement=other)
        if regained and _on_what_is_granted(deny, regained, allows, bounds, variables):
            found.append(label)
    return tuple(found)


def _on_what_is_granted(
    deny: Statement,
    actions: set[str],
    allows: list[Statement],
    bounds: list[Statement],
    variables: Mapping[str, str | None],
) -> bool:
    """Whether the Deny covers `actions` (its own, that the other policies grant) on some
    resource they grant them on. On every resource, it does; on named resources, an Allow of
    one of them must name a resource the Deny names (and the boundary's too), judged on the
    patterns' text, for a service whose resources the Deny names (a Deny of * on a bucket
    takes no EC2 action away)."""
    if "*" in deny.resources:
        return True
    named = {
        s
        for s in {a.partition(":")[0] for a in actions}
        if may_name_service(statement=deny, service=s)
    }
    wanted = frozenset(a for a in actions if a.partition(":")[0] in named)

    def reaches(statements_: list[Statement]) -> bool:
        return any(
            s.is_allow
            and not wanted.isdisjoint(covered_actions(statement=s))
            and _overlaps(s, deny, variables)
            for s in statements_
        )

    return bool(wanted) and reaches(allows) and (not bounds or reaches(bounds))


_USERNAME = re.compile(r"\$\{\s*aws:username\s*\}", re.IGNORECASE)


def _overlaps(allow: Statement, deny: Statement, variables: Mapping[str, str | None]) -> bool:
    """Whether the Deny names some resource the Allow grants, judged on the text: one of them
    names a pattern the other covers. A variable in the Deny is read as `decide` reads it: the
    principal's own name, and any other matches nothing."""
    if allow.not_resources and deny.not_resources:
        return True
    if any(
        matches_resource(statement=deny, resource=p, variables=variables) for p in allow.resources
    ):
        return True
    name = variables.get("aws:username")
    for pattern in deny.resources:
        if name is not None:  # IAM reads a variable's name in any case: ${aws:UserName}
            pattern = _USERNAME.sub(lambda _: name, pattern)
        if "${" not in pattern and matches_resource(
            statement=allow, resource=pattern, variables=variables
        ):
            return True
    return False
