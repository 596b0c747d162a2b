"""Privilege escalation: the published methods a principal may use, and paths across principals
through roles.

Pure, over effective permissions: an account's principals in, escalation methods and paths out.
Resource scope matters: a method only counts when it reaches a target that gives more access
(a role more privileged than the principal, a policy in use, another user with more access, a
role that existing code runs as). Conditions matter as IAM reads them: any one Allow statement
that matches grants the request, and a condition scopes a grant only if its operator and values
exclude the request the escalation makes.

The methods themselves are in findings.policy.escalation_methods, the requests they make in
findings.policy.escalation_requests; taking off one's own Deny (rule "own-deny") is worked out in
findings.policy.own_deny, and role trust policies are read in findings.policy.trust.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from findings.policy.conditions import Request, condition_keys
from findings.policy.effective import (
    SELF,
    WILDCARDS,
    Decision,
    EffectivePermissions,
    Policy,
    effective_permissions,
    has_self,
    pattern_names,
    patterns_overlap,
    patterns_within,
)
from findings.policy.escalation_methods import METHODS, METHODS_BY_ID, Method
from findings.policy.escalation_requests import (
    BOUNDARY_KEY,
    POLICY_ARN_KEY,
    admitted,
    escalation_request,
    may_name_service,
    partition,
    principal_kind,
    service_names,
)
from findings.policy.guardrails import Guardrails
from findings.policy.own_deny import OwnDenies
from findings.policy.trust import (
    EVERY_PRINCIPAL,
    principals_trusted_by,
    services_trusted_by,
    with_trust_of,
)


@dataclass(frozen=True)
class Escalation:
    method: str
    source: str
    actions: tuple[str, ...]
    targets: tuple[str, ...]
    conditional: bool
    # Why the organization's SCPs stop it ("denied by SCP ..."); empty: they do not.
    blocked_by: str = ""
    # The principal's own policies whose Deny it would take off (own-deny methods), as its
    # effective permissions label them.
    removes: tuple[str, ...] = ()
    # An attachment that an iam:PolicyARN condition admits only for these managed policies in
    # use, each giving more than the principal has; empty: any policy (a broad one, or one it
    # writes).
    attaches_only: tuple[str, ...] = ()


# The rules of the methods that put or attach any policy on a user or role (its own, here).
_WRITES_OWN_POLICY = frozenset({"unbounded", "unbounded-attach"})


@dataclass
class Account:
    """What escalation needs to know about one account, keyed by ARN."""

    account_id: str
    principals: dict[str, EffectivePermissions]  # users and roles
    trust: dict[str, dict] = field(default_factory=dict)  # role ARN -> trust policy
    groups: dict[str, EffectivePermissions] = field(default_factory=dict)
    group_members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    policies_in_use: frozenset[str] = frozenset()  # managed policy ARNs attached to someone
    customer_policies: tuple[str, ...] = ()
    # Roles in an instance profile (EC2 can only be given a role through one); None: not known.
    in_instance_profile: frozenset[str] | None = None
    # The organization's SCPs on the account; None: none apply, or they are not known.
    guardrails: Guardrails | None = None
    # Roles only AWS may change (IAM Identity Center's AWSReservedSSO_* roles): IAM refuses
    # any policy, boundary or trust change to them, the role's own included.
    protected: frozenset[str] = frozenset()

    def unknown(self, kind: str) -> str:
        """A target that does not exist yet: a wildcard reaching it reaches whatever comes. In
        the account's own partition: an aws-cn grant on `role/*` reaches a new aws-cn role."""
        return f"arn:{self._partition}:iam::{self.account_id}:{kind}/iamreview-not-yet-created"

    @cached_property
    def _partition(self) -> str:
        arn = next(iter(self.principals), "") or next(iter(self.groups), "")
        return partition(arn=arn) if arn.startswith("arn:") else "aws"

    def targets(self, kind: str) -> list[str]:
        """The account's users (roles, groups, customer policies) in order, then one yet to be
        created. Read once per kind: every principal's methods ask (not to be changed)."""
        return self._targets[kind]

    @cached_property
    def _targets(self) -> dict[str, list[str]]:
        known = {
            "user": [a for a in self.principals if ":user/" in a],
            "role": [a for a in self.principals if ":role/" in a],
            "group": list(self.groups),
            "policy": list(self.customer_policies),
        }
        return {kind: [*sorted(arns), self.unknown(kind)] for kind, arns in known.items()}

    @cached_property
    def _by_name(self) -> dict[str, dict[str, list[str]]]:
        """Per kind, the known targets by the last part of their ARN (`user/a/b/alice`:
        `alice`): a grant on `arn:aws:iam::*:user/${aws:username}` names one of them."""
        found: dict[str, dict[str, list[str]]] = {}
        for kind, arns in self._targets.items():
            names = found.setdefault(kind, {})
            for arn in arns[:-1]:
                names.setdefault(arn.rpartition("/")[2], []).append(arn)
        return found

    @cached_property
    def _known_targets(self) -> dict[str, frozenset[str]]:
        return {kind: frozenset(arns[:-1]) for kind, arns in self._targets.items()}

    @cached_property
    def _sorted_known(self) -> dict[str, list[str]]:
        """The known targets of each kind, sorted (no copy of them per principal)."""
        return {kind: arns[:-1] for kind, arns in self._targets.items()}

    def permissions(self, arn: str) -> EffectivePermissions | None:
        return self.principals.get(arn) or self.groups.get(arn)

    def more_privileged(self, target: str, than: EffectivePermissions) -> bool:
        """more_privileged for a target of this account, once per pair: several methods weigh
        the same targets (three of them every user, the pass-role ones every role)."""
        key = (target, than.principal_arn)
        known = self._more_privileged.get(key)
        if known is None:
            known = more_privileged(target=self.permissions(target), than=than)
            self._more_privileged[key] = known
        return known

    @cached_property
    def _more_privileged(self) -> dict[tuple[str, str], bool]:
        return {}

    def is_member(self, group: str, perms: EffectivePermissions) -> bool:
        """Whether the principal is a user in the group (members are known by name)."""
        return principal_kind(
            arn=perms.principal_arn
        ) == "user" and perms.principal_name in self.group_members.get(group, ())

    def boundary_gives_more(self, target: str, than: EffectivePermissions) -> bool:
        """Whether any policy written on an existing user or role may give it more than the
        principal has: it has no boundary (or is not known), or its boundary allows more. A
        principal writing itself a policy under a boundary that allows no more than it has
        gains nothing (it was reported as writing itself an administrator's policy)."""
        key = (target, than.principal_arn)
        known = self._boundary_gives_more.get(key)
        if known is None:
            bounded = self.principals.get(target)
            known = (
                bounded is None
                or bounded.boundary is None
                or more_privileged(target=self._boundary_reach(bounded), than=than)
            )
            self._boundary_gives_more[key] = known
        return known

    def _boundary_reach(self, bounded: EffectivePermissions) -> EffectivePermissions:
        """All a bounded principal may be given: what its boundary allows, its Denies kept.
        Once per target: every principal that may write its policies weighs it."""
        known = self._reaches.get(bounded.principal_arn)
        if known is None:
            known = self._bounded_reach(bounded)
            self._reaches[bounded.principal_arn] = known
        return known

    @cached_property
    def _reaches(self) -> dict[str, EffectivePermissions]:
        return {}

    def _bounded_reach(self, bounded: EffectivePermissions) -> EffectivePermissions:
        assert bounded.boundary is not None
        denies = {
            "Statement": [
                s.raw
                for p in bounded.policies
                for s in self.own_denies.statements_of(p)
                if s.effect == "Deny"
            ]
        }
        boundary = bounded.boundary
        return effective_permissions(
            principal_arn=bounded.principal_arn,
            principal_name=bounded.principal_name,
            policies=[Policy(boundary.label, "managed", boundary.document, boundary.ref)]
            + ([Policy("denies", "inline", denies)] if denies["Statement"] else []),
        )

    @cached_property
    def _boundary_gives_more(self) -> dict[tuple[str, str], bool]:
        return {}

    def attachable_granting_more(
        self, decision: Decision, request: Request, perms: EffectivePermissions
    ) -> tuple[str, ...]:
        """The managed policies in use giving the principal more than it has (a customer's
        `ops-admin`, or an AWS-managed one beyond the three broad ones tried first) that the
        grant lets it attach: asked only when those let nothing through. Once per principal
        and grant: a CI role's `role/app-*` grant is the same for every `app-` role (it
        weighed every in-use policy for each, the square of the roles). Nothing to weigh when
        no condition of the grant or of a Deny names iam:PolicyARN: the request was refused
        whatever policy it names."""
        if not any(
            POLICY_ARN_KEY in condition_keys(statement=s)
            for s in (*decision.grants, *decision.conditional_denies)
        ):
            return ()
        key = (
            perms.principal_arn,
            decision.grants,
            decision.conditional_denies,
            tuple(sorted((k, tuple(v)) for k, v in request.items())),
        )
        known = self._attachable.get(key)
        if known is None:
            known = tuple(
                arn
                for arn in self.policies_granting_more(perms)
                if admitted(decision=decision, request={**request, POLICY_ARN_KEY: (arn,)})
            )
            self._attachable[key] = known
        return known

    @cached_property
    def _attachable(self) -> dict[tuple, tuple[str, ...]]:
        return {}

    def makes_administrator(self, policy_arn: str, target: str) -> bool:
        """Whether attaching the managed policy in use makes the target an administrator: its
        own policies with it (the policy alone, for a target yet to be created) allow
        everything, or let it write itself any policy (a customer's copy of IAMFullAccess:
        it then attaches itself AdministratorAccess). The attachment must be what makes it one:
        a target already an administrator (or already writing itself any policy) gains nothing
        from an approved read-only policy, and counts for none."""
        policy = self._in_use_documents.get(policy_arn)
        if policy is None:
            return False
        holder = self.permissions(target)
        if holder is not None and (holder.is_admin or self._writes_itself_any_policy(holder)):
            return False
        if holder is None:
            with_it = effective_permissions(
                principal_arn=target, principal_name="", policies=[policy]
            )
        else:
            with_it = effective_permissions(
                principal_arn=holder.principal_arn,
                principal_name=holder.principal_name,
                policies=[*holder.policies, policy],
                boundary=holder.boundary,
            )
        return with_it.is_admin or self._writes_itself_any_policy(with_it)

    def _writes_itself_any_policy(self, perms: EffectivePermissions) -> bool:
        """Whether the principal may, with no condition, put or attach any policy on itself
        (the methods writing a policy on a user or role, `unbounded` and `unbounded-attach`)
        or write a new version of a customer policy it holds (CreateNewPolicyVersion). Not
        under a boundary (what it writes stays within it), nor for a protected role."""
        arn = perms.principal_arn
        if perms.boundary is not None or arn in self.protected:
            return False
        kind = principal_kind(arn=arn)
        where = partition(arn=arn) if arn.startswith("arn:") else self._partition
        held = [
            ref
            for p in perms.policies
            if p.kind == "managed"
            for ref in self.own_denies.policy_arns(p, where)
            if ":aws:policy/" not in ref  # AWS's own policies take no new version
        ]
        requests = [
            (m.target_action, arn)
            for m in METHODS
            if m.rule in _WRITES_OWN_POLICY and m.target_kind == kind
        ] + [(METHODS_BY_ID["CreateNewPolicyVersion"].target_action, ref) for ref in held]
        for action, resource in requests:
            decision = perms.decide(action=action, resource=resource)
            if decision.allowed and not decision.conditional:
                return True
        return False

    def member_controlled(self, group: str, perms: EffectivePermissions) -> bool:
        """Whether the principal controls the credentials of another user in the group (may
        create its access key, or create or reset its password): a policy written on the
        group is then that member's, and the principal signs in as it."""
        for name in self.group_members.get(group, ()):
            for member in self._by_name["user"].get(name, ()):
                if member == perms.principal_arn:
                    continue
                if any(
                    perms.decide(action=action, resource=member).allowed
                    for action in CREDENTIAL_ACTIONS
                ):
                    return True
        return False

    def policies_granting_more(self, perms: EffectivePermissions) -> tuple[str, ...]:
        """The managed policies in use whose document (read from those who have it) gives the
        principal more than it has, once per principal: attaching one escalates whatever an
        iam:PolicyARN condition names. Only principals allowed to attach a policy whose
        condition lets no broad one through ask."""
        known = self._granting_more.get(perms.principal_arn)
        if known is None:
            known = tuple(
                arn
                for arn in self._in_use_documents
                if more_privileged(target=self._as_attached(arn, perms), than=perms)
            )
            self._granting_more[perms.principal_arn] = known
        return known

    def _as_attached(self, arn: str, perms: EffectivePermissions) -> EffectivePermissions:
        """The policy's permissions as the principal would have them, once per policy and kind
        of principal: comparing them reads `${aws:username}` as "the principal itself" for any
        user, never as a name."""
        kind = principal_kind(arn=perms.principal_arn)
        known = self._attached.get((arn, kind))
        if known is None:
            known = effective_permissions(
                principal_arn=perms.principal_arn,
                principal_name=perms.principal_name,
                policies=[self._in_use_documents[arn]],
            )
            self._attached[(arn, kind)] = known
        return known

    @cached_property
    def _attached(self) -> dict[tuple[str, str], EffectivePermissions]:
        return {}

    @cached_property
    def _granting_more(self) -> dict[str, tuple[str, ...]]:
        return {}

    @cached_property
    def _in_use_documents(self) -> dict[str, Policy]:
        """The managed policies in use, by ARN, each with its document as some principal or
        group has it (by its ref, or by its name as detection labels it)."""
        found: dict[str, Policy] = {}
        for holder in (*self.principals.values(), *self.groups.values()):
            where = partition(arn=holder.principal_arn)
            for policy in holder.policies:
                if policy.kind != "managed":
                    continue
                for arn in self.own_denies.policy_arns(policy, where):
                    if arn in self.policies_in_use and arn not in found:
                        found[arn] = Policy(arn.rpartition("/")[2], "managed", policy.document, arn)
        return dict(sorted(found.items()))

    def writable_policies(self, perms: EffectivePermissions) -> tuple[str, ...]:
        """Customer-managed policies whose content the principal decides: a new one it may
        create, and existing ones it may add a default version to. Attaching only such a
        policy (an iam:PolicyARN condition naming the account's policies) attaches anything."""
        known = self._writable.get(perms.principal_arn)
        if known is None:
            new = [self.unknown("policy"), *self._new_policy_names(perms)]
            known = tuple(
                dict.fromkeys(
                    arn
                    for arn, action in [
                        *((arn, "iam:CreatePolicy") for arn in new),
                        *((arn, "iam:CreatePolicyVersion") for arn in self.customer_policies),
                    ]
                    if perms.decide(action=action, resource=arn).allowed
                )
            )
            self._writable[perms.principal_arn] = known
        return known

    @staticmethod
    def _new_policy_names(perms: EffectivePermissions) -> list[str]:
        """A policy the principal may create where its grant names some (`policy/team-*`):
        the delegated administrator's usual scope, which a made-up name never matched."""
        patterns = perms.scoped_resources.get("iam:createpolicy", frozenset())
        return sorted(
            p.replace("*", "iamreview-new").replace("?", "x")
            for p in patterns
            if ":policy/" in p and p.isascii()  # a variable's mark is not a name
        )

    @cached_property
    def _writable(self) -> dict[str, tuple[str, ...]]:
        return {}

    @cached_property
    def _escalations(self) -> dict[str, list[Escalation]]:
        """Each principal's methods found so far, those the SCPs block included (marked
        `blocked_by`)."""
        return {}

    def methods_of(self, arn: str) -> list[Escalation]:
        """A principal's methods, worked out when first asked: nobody asks for an
        administrator's (it has everything already), which weighed every target of every
        method for each administrator role."""
        known = self._escalations.get(arn)
        if known is None:
            perms = self.principals.get(arn)
            known = [] if perms is None else _methods(perms, self)
            self._escalations[arn] = known
        return known

    def permitted(self, *, action: str, resource: str | None, principal_arn: str) -> str:
        """Why the SCPs stop the request; "" when they let it through (or there are none)."""
        if self.guardrails is None:
            return ""
        verdict = self.guardrails.decide(
            action=action, resource=resource, principal_arn=principal_arn
        )
        return "" if verdict.allowed else verdict.reason

    def runs_as_roles(self, service: str) -> list[str]:
        """The roles the service may run as (their trust policy names it, or "*"; EC2's in an
        instance profile when that is known), in order: the candidates of the methods that
        take over what a service already runs, asked of every role for every principal."""
        found = self._runs_as.get(service)
        if found is None:
            found = [
                role
                for role in self._sorted_known["role"]
                if role in self.trust
                and _trusts_service(self, role, service)
                and _usable_on_an_instance(self, role, service)
            ]
            self._runs_as[service] = found
        return found

    def passable_roles(self, service: str) -> tuple[list[str], frozenset[str]]:
        """The roles a role passed to the service may be, in order and as a set: those it is
        trusted by, and those whose trust policy is not known (taken as usable)."""
        found = self._passable.get(service)
        if found is None:
            ordered = [
                role
                for role in self._sorted_known["role"]
                if role not in self.trust or _trusts_service(self, role, service)
            ]
            found = (ordered, frozenset(ordered))
            self._passable[service] = found
        return found

    @cached_property
    def _runs_as(self) -> dict[str, list[str]]:
        return {}

    @cached_property
    def _new_names(self) -> dict[tuple[str, str], tuple[str, ...]]:
        return {}

    @cached_property
    def _passable(self) -> dict[str, tuple[list[str], frozenset[str]]]:
        return {}

    @cached_property
    def trusted_services(self) -> dict[str, frozenset[str]]:
        """Each role's trusted services, read once (pass-role methods ask for every role)."""
        return {role: services_trusted_by(trust=self.trust.get(role)) for role in self.trust}

    @cached_property
    def _trustees(self) -> dict[str, tuple[bool, frozenset[str]]]:
        """Each role's trust policy read once: (it trusts the account, so anyone in it whose
        own policies allow it may assume it; the principal ARNs it names, "*" for every one).
        Paths ask it for every principal and role."""
        return {
            role: principals_trusted_by(trust=self.trust.get(role), account_id=self.account_id)
            for role in self.trust
        }

    @cached_property
    def _roles(self) -> list[str]:
        return self.targets("role")[:-1]

    @cached_property
    def _trusting(self) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
        """Who may assume which role by its trust policy, read once for the account: the roles
        that trust anyone in it, and for each named principal the roles that name it, both in
        the order of `_roles`. A principal's candidates are then these, not every role."""
        anyone: list[str] = []
        named: dict[str, list[str]] = {}
        for role in self._roles:
            everyone, names = self._trustees.get(role, (False, frozenset()))
            if everyone:
                anyone.append(role)
            for name in names:
                named.setdefault(name, []).append(role)
        return tuple(anyone), {name: tuple(roles) for name, roles in named.items()}

    @cached_property
    def _anyone(self) -> frozenset[str]:
        """The roles that trust anyone in the account, as a set."""
        return frozenset(self._trusting[0])

    @cached_property
    def _role_order(self) -> dict[str, int]:
        return {role: n for n, role in enumerate(self._roles)}

    @cached_property
    def _assumable(self) -> dict[str, list[str]]:
        """assumable_roles' answers, by principal: paths from many principals meet the same
        roles."""
        return {}

    @cached_property
    def own_denies(self) -> OwnDenies:
        """Taking off its own Deny (the own-deny methods), worked out once per principal: the
        account's groups and managed policies as they are, and why its SCPs stop a request."""
        return OwnDenies(
            account_id=self.account_id,
            groups=(*self.groups, *self.group_members),
            managed_policies=frozenset({*self.policies_in_use, *self.customer_policies}),
            permitted=self.permitted,
            protected=self.protected,
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
CREDENTIAL_ACTIONS = ("iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile")


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


def _usable_on_an_instance(account: Account, role: str, service: str) -> bool:
    """An instance runs as a role only through an instance profile: when which roles are in
    one is known, a role in none runs on no instance."""
    if service != "ec2.amazonaws.com" or account.in_instance_profile is None:
        return True
    return role in account.in_instance_profile


def _trusts_service(account: Account, role: str, service: str) -> bool:
    # "*" trusts any service.
    names = {"*", *service_names(service=service, partition=partition(arn=role))}
    return bool(names & account.trusted_services[role])


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
            narrowed = _in_account(pattern, account.account_id)
            prefix = narrowed[: WILDCARDS.search(narrowed).start()]
            pool = ordered[
                bisect_left(ordered, prefix) : bisect_left(ordered, prefix + "\U0010ffff")
            ]
        hits.update(arn for arn in pool if pattern_names(pattern=pattern, resource=arn))
        if pattern_names(pattern=pattern, resource=unknown):
            hits.add(unknown)
    return hits


def _in_account(pattern: str, account_id: str) -> str:
    """The pattern with a "*" account field read as the account itself: for the account's own
    targets the two name the same ones."""
    parts = pattern.split(":", 5)
    if len(parts) == 6 and parts[4] == "*":
        parts[4] = account_id
    return ":".join(parts)


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


_NEW_NAME = "iamreview-new"
# The marks of characters a pattern escapes (`${*}`) and of values not known here.
_ESCAPED = re.compile("[\ue000-\ue004]")


def new_names(*, perms: EffectivePermissions, kind: str, account: Account) -> tuple[str, ...]:
    """ARNs the principal may create a new target of the kind under: the placeholder, and a
    name made up from each pattern its create grant names (`role/app-*`: `role/app-iamreview-
    new`), the delegated administrator's usual scope, which the placeholder never matched.
    None: it may create none."""
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
            name = _made_up(pattern, kind, account)
            if name is not None and name not in names:
                names.append(name)
        found = [n for n in names if perms.decide(action=create, resource=n).allowed]
    account._new_names[key] = tuple(found)
    return account._new_names[key]


def _made_up(pattern: str, kind: str, account: Account) -> str | None:
    """A name in this account that the pattern names, its wildcards filled in; None when the
    pattern is of another kind or account, or holds a character IAM escapes."""
    parts = _in_account(pattern, account.account_id).split(":", 5)
    if len(parts) != 6 or parts[4] != account.account_id or _ESCAPED.search(pattern):
        return None
    parts[1] = account.unknown(kind).split(":")[1] if WILDCARDS.search(parts[1]) else parts[1]
    if parts[2] != "iam" or not parts[5].startswith(f"{kind}/"):
        return None
    return ":".join(parts).replace("*", _NEW_NAME).replace("?", "x")


def escalation_methods(*, principal_arn: str, account: Account) -> list[Escalation]:
    """The methods open to the principal (the SCPs let them through)."""
    return [m for m in account.methods_of(principal_arn) if not m.blocked_by]


def own_deny_methods(*, principal_arn: str, account: Account) -> list[Escalation]:
    """Its methods that take off a Deny of its own (the SCPs' blocked ones too, marked
    `blocked_by`), without weighing the others: all an administrator but for what its own
    Deny takes away (Allow * beside a Deny on the security role) may gain. Weighing every
    method for every administrator role was what `methods_of` avoids."""
    known = account._escalations.get(principal_arn)
    if known is not None:
        return [m for m in known if METHODS_BY_ID[m.method].rule == "own-deny"]
    perms = account.principals.get(principal_arn)
    return [] if perms is None else _methods(perms, account, only="own-deny")


def blocked_methods(*, principal_arn: str, account: Account) -> list[Escalation]:
    """Methods its own policies allow that the organization's SCPs block, each with why."""
    return [m for m in account.methods_of(principal_arn) if m.blocked_by]


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
