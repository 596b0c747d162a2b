"""Privilege escalation: the published methods, and paths across principals through roles.

Pure, over effective permissions: an account's principals in, escalation methods and paths out.
Resource scope matters: a method only counts when it reaches a target that gives more access
(a role more privileged than the principal, a policy in use, another user's credentials).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property

from findings.policy.documents import statements
from findings.policy.effective import EffectivePermissions, covered_actions

RHINO_1 = (
    "Rhino Security Labs, 'AWS IAM Privilege Escalation - Methods and Mitigation' "
    "(Spencer Gietzen, 2018)"
)
RHINO_2 = (
    "Rhino Security Labs, 'AWS IAM Privilege Escalation - Methods and Mitigation - Part 2' "
    "(Spencer Gietzen, 2019)"
)
BISHOP_FOX = "Bishop Fox, iam-vulnerable (Seth Art, 2021): privesc paths"

# Condition keys that keep a delegated grant within bounds (AWS IAM User Guide, "Condition keys
# for IAM"): the target must carry a given boundary, or only given policies may be attached.
BOUNDARY_KEY = "iam:permissionsboundary"
POLICY_ARN_KEY = "iam:policyarn"
PASSED_TO_SERVICE_KEY = "iam:passedtoservice"


@dataclass(frozen=True)
class Method:
    id: str
    target_action: str  # evaluated on each target resource
    target_kind: str  # user, role, group, policy, or "" (no target to weigh)
    rule: str  # how a target counts: see _risky
    source: str
    also: tuple[str, ...] = ()  # further actions needed (on some resource)
    service: str = ""  # the service a role is passed to (iam:PassedToService)


def _pass(method_id: str, service: str, also: tuple[str, ...], source: str) -> Method:
    return Method(method_id, "iam:PassRole", "role", "more-privileged", source, also, service)


METHODS: tuple[Method, ...] = (
    Method("CreateNewPolicyVersion", "iam:CreatePolicyVersion", "policy", "in-use", RHINO_1),
    Method("SetExistingDefaultPolicyVersion", "iam:SetDefaultPolicyVersion", "policy", "in-use",
           RHINO_1),
    _pass("CreateEC2WithExistingInstanceProfile", "ec2.amazonaws.com", ("ec2:RunInstances",),
          RHINO_1),
    Method("CreateAccessKey", "iam:CreateAccessKey", "user", "other", RHINO_1),
    Method("CreateLoginProfile", "iam:CreateLoginProfile", "user", "other", RHINO_1),
    Method("UpdateLoginProfile", "iam:UpdateLoginProfile", "user", "other", RHINO_1),
    Method("AttachUserPolicy", "iam:AttachUserPolicy", "user", "unbounded-attach", RHINO_1),
    Method("AttachGroupPolicy", "iam:AttachGroupPolicy", "group", "group-attach", RHINO_1),
    Method("AttachRolePolicy", "iam:AttachRolePolicy", "role", "unbounded-attach", RHINO_1),
    Method("PutUserPolicy", "iam:PutUserPolicy", "user", "unbounded", RHINO_1),
    Method("PutGroupPolicy", "iam:PutGroupPolicy", "group", "has-members", RHINO_1),
    Method("PutRolePolicy", "iam:PutRolePolicy", "role", "unbounded", RHINO_1),
    Method("AddUserToGroup", "iam:AddUserToGroup", "group", "more-privileged", RHINO_1),
    Method("UpdateRolePolicyToAssumeIt", "iam:UpdateAssumeRolePolicy", "role", "more-privileged",
           RHINO_1),
    _pass("PassExistingRoleToNewLambdaThenInvoke", "lambda.amazonaws.com",
          ("lambda:CreateFunction", "lambda:InvokeFunction"), RHINO_1),
    _pass("PassExistingRoleToNewLambdaThenTriggerWithNewDynamo", "lambda.amazonaws.com",
          ("lambda:CreateFunction", "lambda:CreateEventSourceMapping"), RHINO_1),
    _pass("PassExistingRoleToNewGlueDevEndpoint", "glue.amazonaws.com",
          ("glue:CreateDevEndpoint",), RHINO_1),
    Method("UpdateExistingGlueDevEndpoint", "glue:UpdateDevEndpoint", "", "any", RHINO_1),
    _pass("PassExistingRoleToCloudFormation", "cloudformation.amazonaws.com",
          ("cloudformation:CreateStack",), RHINO_1),
    _pass("PassExistingRoleToNewDataPipeline", "datapipeline.amazonaws.com",
          ("datapipeline:CreatePipeline", "datapipeline:PutPipelineDefinition"), RHINO_1),
    Method("EditExistingLambdaFunctionWithRole", "lambda:UpdateFunctionCode", "", "any", RHINO_1),
    _pass("PassExistingRoleToNewSageMakerNotebook", "sagemaker.amazonaws.com",
          ("sagemaker:CreateNotebookInstance", "sagemaker:CreatePresignedNotebookInstanceUrl"),
          RHINO_2),
    Method("AccessExistingSageMakerNotebook", "sagemaker:CreatePresignedNotebookInstanceUrl", "",
           "any", RHINO_2),
    _pass("PassExistingRoleToNewCodeBuildProject", "codebuild.amazonaws.com",
          ("codebuild:CreateProject", "codebuild:StartBuild"), BISHOP_FOX),
    _pass("PassExistingRoleToNewEcsTask", "ecs-tasks.amazonaws.com",
          ("ecs:RegisterTaskDefinition", "ecs:RunTask"), BISHOP_FOX),
)  # fmt: skip


@dataclass(frozen=True)
class Escalation:
    method: str
    source: str
    actions: tuple[str, ...]
    targets: tuple[str, ...]
    conditional: bool


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

    def unknown(self, kind: str) -> str:
        """A target that does not exist yet: a wildcard reaching it reaches whatever comes."""
        return f"arn:aws:iam::{self.account_id}:{kind}/iamreview-not-yet-created"

    def targets(self, kind: str) -> list[str]:
        known = {
            "user": [a for a in self.principals if ":user/" in a],
            "role": [a for a in self.principals if ":role/" in a],
            "group": list(self.groups),
            "policy": list(self.customer_policies),
        }[kind]
        return [*sorted(known), self.unknown(kind)]

    def permissions(self, arn: str) -> EffectivePermissions | None:
        return self.principals.get(arn) or self.groups.get(arn)

    @cached_property
    def _escalations(self) -> dict[str, list[Escalation]]:
        return {arn: _methods(perms, self) for arn, perms in self.principals.items()}

    @cached_property
    def trusted_services(self) -> dict[str, frozenset[str]]:
        """Each role's trusted services, read once (pass-role methods ask for every role)."""
        return {role: _trusted_services(self.trust.get(role)) for role in self.trust}

    @cached_property
    def _trustees(self) -> dict[str, tuple[bool, frozenset[str]]]:
        """Each role's trust policy read once: (anyone in the account or beyond may assume it,
        the principal ARNs it names). Paths ask it for every principal and role."""
        return {role: _trustees(self.trust.get(role), self.account_id) for role in self.trust}

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
                continue
            for name in names:
                named.setdefault(name, []).append(role)
        return tuple(anyone), {name: tuple(roles) for name, roles in named.items()}

    @cached_property
    def _role_order(self) -> dict[str, int]:
        return {role: n for n, role in enumerate(self._roles)}

    @cached_property
    def _assumable(self) -> dict[str, list[str]]:
        """assumable_roles' answers, by principal: paths from many principals meet the same
        roles."""
        return {}


def _condition_keys(statement) -> set[str]:
    return {key.lower() for values in (statement.condition or {}).values() for key in values}


def _condition_values(statement, key: str) -> list[str]:
    found = []
    for values in (statement.condition or {}).values():
        for name, value in values.items():
            if name.lower() == key:
                found.extend([value] if isinstance(value, str) else list(value))
    return found


def more_privileged(*, target: EffectivePermissions | None, than: EffectivePermissions) -> bool:
    """Whether the target may do something the principal may not (unknown targets may)."""
    return target is None or bool(target.allowed - than.allowed)


def _risky(method: Method, perms: EffectivePermissions, target: str, account: Account) -> bool:
    decision = perms.decide(action=method.target_action, resource=target)
    if not decision.allowed:
        return False
    keys = set().union(*(_condition_keys(s) for s in decision.grants)) if decision.grants else set()
    if method.service and PASSED_TO_SERVICE_KEY in keys:
        services = [v for s in decision.grants for v in _condition_values(s, PASSED_TO_SERVICE_KEY)]
        if not any(fnmatchcase(method.service, v) for v in services):
            return False
    if method.service and not _usable_by_service(method, perms, target, account):
        return False
    rule = method.rule
    if rule == "other":
        return target != perms.principal_arn
    if rule in ("unbounded", "unbounded-attach", "group-attach") and (
        BOUNDARY_KEY in keys and rule != "group-attach"
    ):
        return False
    if rule in ("unbounded-attach", "group-attach") and POLICY_ARN_KEY in keys:
        return False
    if rule in ("group-attach", "has-members"):
        return target == account.unknown("group") or bool(account.group_members.get(target))
    if rule == "in-use":
        return target == account.unknown("policy") or target in account.policies_in_use
    if rule == "more-privileged":
        return more_privileged(target=account.permissions(target), than=perms)
    return True


def _usable_by_service(
    method: Method, perms: EffectivePermissions, target: str, account: Account
) -> bool:
    """Whether a role passed to `method.service` is of use there: the service must be trusted
    to assume it, and EC2 takes a role only through an instance profile (one the role is in,
    or one the principal may add it to). What is not known (a role not yet created, a trust
    policy not collected) counts as usable."""
    if target == account.unknown("role") or target not in account.trust:
        return True
    trusted = account.trusted_services[target]
    # "*" trusts any service; the China partition names services with a ".cn" suffix.
    if not ({"*", method.service, f"{method.service}.cn"} & trusted):
        return False
    if method.service == "ec2.amazonaws.com" and account.in_instance_profile is not None:
        return target in account.in_instance_profile or perms.allows(
            action="iam:AddRoleToInstanceProfile"
        )
    return True


def _trusted_services(trust: Mapping | None) -> frozenset[str]:
    """The AWS services a role's trust policy lets assume it ("*": any principal at all)."""
    services: set[str] = set()
    for statement in statements(document=trust or {}):
        if not statement.is_allow or "sts:assumerole" not in covered_actions(statement=statement):
            continue
        principal = statement.raw.get("Principal")
        if principal == "*":
            services.add("*")
            continue
        service = principal.get("Service", []) if isinstance(principal, Mapping) else []
        services.update([service] if isinstance(service, str) else service)
    return frozenset(services)


def _methods(perms: EffectivePermissions, account: Account) -> list[Escalation]:
    found = []
    for method in METHODS:
        if not perms.allows(action=method.target_action) or not all(
            perms.allows(action=a) for a in method.also
        ):
            continue
        if method.target_kind:
            targets = [
                t for t in account.targets(method.target_kind) if _risky(method, perms, t, account)
            ]
            if not targets:
                continue
        else:
            targets = []
        decisions = [perms.decide(action=a) for a in (method.target_action, *method.also)]
        found.append(
            Escalation(
                method.id,
                method.source,
                (method.target_action, *method.also),
                tuple("(any new)" if "iamreview-not-yet-created" in t else t for t in targets),
                any(d.conditional for d in decisions),
            )
        )
    return found


def escalation_methods(*, principal_arn: str, account: Account) -> list[Escalation]:
    return account._escalations.get(principal_arn, [])


def _trustees(trust: Mapping | None, account_id: str) -> tuple[bool, frozenset[str]]:
    anyone, named = False, set()
    for statement in statements(document=trust or {}):
        if not statement.is_allow or "sts:assumerole" not in covered_actions(statement=statement):
            continue
        principal = statement.raw.get("Principal")
        if principal == "*":
            anyone = True
            continue
        aws = principal.get("AWS", []) if isinstance(principal, Mapping) else []
        for value in [aws] if isinstance(aws, str) else aws:
            if value in ("*", account_id, f"arn:aws:iam::{account_id}:root"):
                anyone = True
            else:
                named.add(value)
    return anyone, frozenset(named)


def _label(arn: str) -> str:
    return arn.rpartition(":")[2]


def assumable_roles(*, principal_arn: str, account: Account) -> list[str]:
    """Roles whose trust policy allows the principal and whose ARN its own policies allow."""
    known = account._assumable.get(principal_arn)
    if known is not None:
        return known
    perms = account.principals[principal_arn]
    found: list[str] = []
    # Allowed on no resource at all (most principals): no role to look at. On some resource
    # covers every resource it could be allowed on, so this never hides a role.
    if perms.decide(action="sts:AssumeRole").allowed:
        anyone, named = account._trusting
        mine = named.get(principal_arn, ())
        candidates = (
            sorted({*anyone, *mine}, key=account._role_order.__getitem__) if mine else anyone
        )
        found = [
            role
            for role in candidates
            if role != principal_arn
            and perms.decide(action="sts:AssumeRole", resource=role).allowed
        ]
    account._assumable[principal_arn] = found
    return found


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
