"""What escalation knows about one account (its principals, groups, trust policies,
policies in use and SCPs), with the caches every principal's methods share, and the record of
one method found.

Which roles a service may run as is read here too (`_trusts_service`,
`_usable_on_an_instance`): the account's role lists and the pass-role checks both ask it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from findings.policy.conditions import Request, condition_keys
from findings.policy.effective import Decision, EffectivePermissions, Policy, effective_permissions
from findings.policy.escalation.names import made_up_name
from findings.policy.escalation.privilege import more_privileged
from findings.policy.escalation_methods import METHODS, METHODS_BY_ID
from findings.policy.escalation_requests import (
    POLICY_ARN_KEY,
    admitted,
    partition,
    principal_kind,
    service_names,
)
from findings.policy.guardrails import Guardrails
from findings.policy.own_deny import OwnDenies
from findings.policy.trust import principals_trusted_by, services_trusted_by


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

CREDENTIAL_ACTIONS = ("iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile")


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

    def _new_policy_names(self, perms: EffectivePermissions) -> list[str]:
        """A policy the principal may create where its grant names some (`policy/team-*`):
        the delegated administrator's usual scope, which a made-up name never matched. In this
        account, whatever account field the grant writes (`arn:aws:iam::*:policy/team-*`): a
        condition naming the account's own policies must be asked of the name IAM would make."""
        patterns = perms.scoped_resources.get("iam:createpolicy", frozenset())
        names = (
            made_up_name(
                pattern=p,
                kind="policy",
                account_id=self.account_id,
                placeholder=self.unknown("policy"),
            )
            for p in patterns
        )
        return sorted({name for name in names if name is not None})

    @cached_property
    def _writable(self) -> dict[str, tuple[str, ...]]:
        return {}

    @cached_property
    def _escalations(self) -> dict[str, list[Escalation]]:
        """Each principal's methods found so far, those the SCPs block included (marked
        `blocked_by`): principal_methods._methods_of fills it."""
        return {}

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
