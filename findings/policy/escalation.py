"""Privilege escalation: the published methods, and paths across principals through roles.

Pure, over effective permissions: an account's principals in, escalation methods and paths out.
Resource scope matters: a method only counts when it reaches a target that gives more access
(a role more privileged than the principal, a policy in use, another user with more access, a
role that existing code runs as). Conditions matter as IAM reads them: any one Allow statement
that matches grants the request, and a condition scopes a grant only if its operator and values
exclude the request the escalation makes.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from itertools import product

from findings.policy.conditions import (
    Request,
    condition_admits,
    condition_surely_holds,
    wildcard_match,
)
from findings.policy.documents import Statement, statements
from findings.policy.effective import (
    DENY,
    WILDCARDS,
    Decision,
    EffectivePermissions,
    Policy,
    covered_actions,
    effective_permissions,
    matches_resource,
    pattern_names,
    patterns_within,
)
from findings.policy.guardrails import Guardrails

RHINO_1 = (
    "Rhino Security Labs, 'AWS IAM Privilege Escalation - Methods and Mitigation' "
    "(Spencer Gietzen, 2018)"
)
RHINO_2 = (
    "Rhino Security Labs, 'AWS IAM Privilege Escalation - Methods and Mitigation - Part 2' "
    "(Spencer Gietzen, 2019)"
)
BISHOP_FOX = "Bishop Fox, iam-vulnerable (Seth Art, 2021): privesc paths"
PATHFINDING = "Datadog, pathfinding.cloud (2025), path"
AWS_BOUNDARIES = (
    "AWS IAM User Guide, 'Permissions boundaries for IAM entities': a delegated administrator "
    "must be denied changing or removing their own boundary"
)
AWS_OWN_DENY = (
    "AWS IAM User Guide, 'Policy evaluation for requests within a single account': an explicit "
    "deny in any of the policies overrides the allow; in one the principal may delete, detach "
    "or leave, it guards nothing"
)

# Condition keys that keep a delegated grant within bounds (AWS IAM User Guide, "Condition keys
# for IAM"): the target must carry a given boundary, or only given policies may be attached.
BOUNDARY_KEY = "iam:permissionsboundary"
POLICY_ARN_KEY = "iam:policyarn"
PASSED_TO_SERVICE_KEY = "iam:passedtoservice"
# AWS-managed policies that give a principal far more access: what an escalation attaches, or
# sets as a "boundary" that bounds nothing. A condition that lets one of them through does not
# scope the grant.
BROAD_AWS_POLICIES = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess")


@dataclass(frozen=True)
class Method:
    id: str
    target_action: str  # evaluated on each target resource
    target_kind: str  # user, role, group, policy, or "" (no target to weigh)
    rule: str  # how a target counts: see _risky
    source: str
    also: tuple[str, ...] = ()  # further actions needed (on some resource)
    service: str = ""  # the service a role is passed to (iam:PassedToService)
    # The service whose existing resource (a function, an endpoint) runs as the target role:
    # the target action is on that resource, and the targets are the roles the service may
    # assume.
    runs_as: str = ""


def _existing(
    method_id: str, action: str, runs_as: str, source: str, also: tuple[str, ...] = ()
) -> Method:
    return Method(method_id, action, "role", "more-privileged", source, also, runs_as=runs_as)


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
    _existing("UpdateExistingGlueDevEndpoint", "glue:UpdateDevEndpoint", "glue.amazonaws.com",
              RHINO_1),
    _pass("PassExistingRoleToCloudFormation", "cloudformation.amazonaws.com",
          ("cloudformation:CreateStack",), RHINO_1),
    _pass("PassExistingRoleToNewDataPipeline", "datapipeline.amazonaws.com",
          ("datapipeline:CreatePipeline", "datapipeline:PutPipelineDefinition"), RHINO_1),
    _existing("EditExistingLambdaFunctionWithRole", "lambda:UpdateFunctionCode",
              "lambda.amazonaws.com", RHINO_1),
    _pass("PassExistingRoleToNewSageMakerNotebook", "sagemaker.amazonaws.com",
          ("sagemaker:CreateNotebookInstance", "sagemaker:CreatePresignedNotebookInstanceUrl"),
          RHINO_2),
    _existing("AccessExistingSageMakerNotebook", "sagemaker:CreatePresignedNotebookInstanceUrl",
              "sagemaker.amazonaws.com", RHINO_2),
    _pass("PassExistingRoleToNewCodeBuildProject", "codebuild.amazonaws.com",
          ("codebuild:CreateProject", "codebuild:StartBuild"), BISHOP_FOX),
    _pass("PassExistingRoleToNewEcsTask", "ecs-tasks.amazonaws.com",
          ("ecs:RegisterTaskDefinition", "ecs:RunTask"), BISHOP_FOX),
    # Commands or a shell on an instance run with its instance profile's role.
    _existing("SendCommandToInstanceWithRole", "ssm:SendCommand", "ec2.amazonaws.com",
              BISHOP_FOX),
    _existing("StartSessionOnInstanceWithRole", "ssm:StartSession", "ec2.amazonaws.com",
              BISHOP_FOX),
    # pathfinding.cloud's further paths: new resources a passed role runs ...
    _pass("PassExistingRoleToNewAppRunnerService", "tasks.apprunner.amazonaws.com",
          ("apprunner:CreateService",), f"{PATHFINDING} apprunner-001"),
    _pass("PassExistingRoleToNewStackSet", "cloudformation.amazonaws.com",
          ("cloudformation:CreateStackSet", "cloudformation:CreateStackInstances"),
          f"{PATHFINDING} cloudformation-003"),
    _pass("PassExistingRoleToNewCodeBuildBatch", "codebuild.amazonaws.com",
          ("codebuild:CreateProject", "codebuild:StartBuildBatch"), f"{PATHFINDING} codebuild-004"),
    _pass("PassExistingRoleToNewSpotInstance", "ec2.amazonaws.com",
          ("ec2:RequestSpotInstances",), f"{PATHFINDING} ec2-003"),
    _pass("PassExistingRoleToNewEcsService", "ecs-tasks.amazonaws.com",
          ("ecs:RegisterTaskDefinition", "ecs:CreateService"), f"{PATHFINDING} ecs-003"),
    _pass("PassExistingRoleToNewEcsTaskStarted", "ecs-tasks.amazonaws.com",
          ("ecs:RegisterTaskDefinition", "ecs:StartTask"), f"{PATHFINDING} ecs-005"),
    _pass("PassExistingRoleToNewGlueJob", "glue.amazonaws.com",
          ("glue:CreateJob", "glue:StartJobRun"), f"{PATHFINDING} glue-003"),
    _pass("PassExistingRoleToNewGlueJobTriggered", "glue.amazonaws.com",
          ("glue:CreateJob", "glue:CreateTrigger"), f"{PATHFINDING} glue-004"),
    _pass("PassExistingRoleToUpdatedGlueJob", "glue.amazonaws.com",
          ("glue:UpdateJob", "glue:StartJobRun"), f"{PATHFINDING} glue-005"),
    _pass("PassExistingRoleToUpdatedGlueJobTriggered", "glue.amazonaws.com",
          ("glue:UpdateJob", "glue:CreateTrigger"), f"{PATHFINDING} glue-006"),
    _pass("PassExistingRoleToNewLambdaThenAddPermission", "lambda.amazonaws.com",
          ("lambda:CreateFunction", "lambda:AddPermission"), f"{PATHFINDING} lambda-006"),
    _pass("PassExistingRoleToNewSageMakerTrainingJob", "sagemaker.amazonaws.com",
          ("sagemaker:CreateTrainingJob",), f"{PATHFINDING} sagemaker-002"),
    _pass("PassExistingRoleToNewSageMakerProcessingJob", "sagemaker.amazonaws.com",
          ("sagemaker:CreateProcessingJob",), f"{PATHFINDING} sagemaker-003"),
    # ... and existing resources that run as a role, made to run the principal's code.
    _existing("UpdateExistingAppRunnerService", "apprunner:UpdateService",
              "tasks.apprunner.amazonaws.com", f"{PATHFINDING} apprunner-002"),
    _existing("UpdateExistingStackWithItsRole", "cloudformation:UpdateStack",
              "cloudformation.amazonaws.com", f"{PATHFINDING} cloudformation-002"),
    _existing("StartBuildOfExistingProjectWithNewBuildspec", "codebuild:StartBuild",
              "codebuild.amazonaws.com", f"{PATHFINDING} codebuild-002"),
    _existing("StartBuildBatchOfExistingProject", "codebuild:StartBuildBatch",
              "codebuild.amazonaws.com", f"{PATHFINDING} codebuild-003"),
    _existing("ChangeUserDataOfExistingInstance", "ec2:ModifyInstanceAttribute",
              "ec2.amazonaws.com", f"{PATHFINDING} ec2-002",
              ("ec2:StopInstances", "ec2:StartInstances")),
    _existing("ChangeExistingLaunchTemplate", "ec2:CreateLaunchTemplateVersion",
              "ec2.amazonaws.com", f"{PATHFINDING} ec2-004", ("ec2:ModifyLaunchTemplate",)),
    _existing("SendSshKeyToInstanceWithRole", "ec2-instance-connect:SendSSHPublicKey",
              "ec2.amazonaws.com", f"{PATHFINDING} ec2instanceconnect-003"),
    _existing("LifecycleConfigOnExistingSageMakerNotebook",
              "sagemaker:CreateNotebookInstanceLifecycleConfig", "sagemaker.amazonaws.com",
              f"{PATHFINDING} sagemaker-005",
              ("sagemaker:StopNotebookInstance", "sagemaker:UpdateNotebookInstance",
               "sagemaker:StartNotebookInstance")),
    # A principal whose boundary caps what its own policies grant may lift the cap.
    Method("DeleteOwnUserPermissionsBoundary", "iam:DeleteUserPermissionsBoundary", "user",
           "own-boundary", AWS_BOUNDARIES),
    Method("DeleteOwnRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", "role",
           "own-boundary", AWS_BOUNDARIES),
    Method("PutOwnUserPermissionsBoundary", "iam:PutUserPermissionsBoundary", "user",
           "own-boundary", AWS_BOUNDARIES),
    Method("PutOwnRolePermissionsBoundary", "iam:PutRolePermissionsBoundary", "role",
           "own-boundary", AWS_BOUNDARIES),
    # A principal whose own policy holds a Deny of what its other policies allow may take the
    # policy off (see _own_denies). The target is the principal itself.
    Method("DeleteOwnUserPolicyWithDeny", "iam:DeleteUserPolicy", "user", "own-deny",
           AWS_OWN_DENY),
    Method("DetachOwnUserPolicyWithDeny", "iam:DetachUserPolicy", "user", "own-deny",
           AWS_OWN_DENY),
    Method("RemoveSelfFromGroupWithDeny", "iam:RemoveUserFromGroup", "user", "own-deny",
           AWS_OWN_DENY),
    Method("DeleteOwnGroupPolicyWithDeny", "iam:DeleteGroupPolicy", "user", "own-deny",
           AWS_OWN_DENY),
    Method("DetachOwnGroupPolicyWithDeny", "iam:DetachGroupPolicy", "user", "own-deny",
           AWS_OWN_DENY),
    Method("DeleteOwnRolePolicyWithDeny", "iam:DeleteRolePolicy", "role", "own-deny",
           AWS_OWN_DENY),
    Method("DetachOwnRolePolicyWithDeny", "iam:DetachRolePolicy", "role", "own-deny",
           AWS_OWN_DENY),
)  # fmt: skip
METHODS_BY_ID = {method.id: method for method in METHODS}


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

    def unknown(self, kind: str) -> str:
        """A target that does not exist yet: a wildcard reaching it reaches whatever comes."""
        return f"arn:aws:iam::{self.account_id}:{kind}/iamreview-not-yet-created"

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

    @cached_property
    def trusted_services(self) -> dict[str, frozenset[str]]:
        """Each role's trusted services, read once (pass-role methods ask for every role)."""
        return {role: _trusted_services(self.trust.get(role)) for role in self.trust}

    @cached_property
    def _trustees(self) -> dict[str, tuple[bool, frozenset[str]]]:
        """Each role's trust policy read once: (it trusts the account, so anyone in it whose
        own policies allow it may assume it; the principal ARNs it names, "*" for every one).
        Paths ask it for every principal and role."""
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

    def removals(self, perms: EffectivePermissions) -> tuple[Removal, ...]:
        """The principal's own policies it could take off, read once for every own-deny
        method."""
        known = self._removals.get(perms.principal_arn)
        if known is None:
            known = _removals(perms, self)
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
        return {arn.rpartition("/")[2]: arn for arn in [*self.groups, *self.group_members]}

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
        for arn in sorted({*self.policies_in_use, *self.customer_policies}):
            found.setdefault(arn.rpartition("/")[2], []).append(arn)
        return {name: tuple(arns) for name, arns in found.items()}


def more_privileged(*, target: EffectivePermissions | None, than: EffectivePermissions) -> bool:
    """Whether the target may do something the principal may not (unknown targets may): an
    action, or an action on resources beyond those the principal has it on. Comparing actions
    alone missed a user who may read every bucket, seen from one who may read one bucket."""
    # A subset test stops at the first action the principal lacks; a difference built every
    # action of every pair (principals x users, three times each: detection took 3x as long).
    if target is None or not target.allowed <= than.allowed:
        return True
    if not than.scoped_actions:  # the principal has each of its actions on every resource
        return False
    if not target.everywhere.isdisjoint(than.scoped_actions):
        return True
    for theirs, their_actions in target.scoped_groups.items():
        for mine, my_actions in than.scoped_groups.items():
            if not their_actions.isdisjoint(my_actions) and not patterns_within(
                patterns=theirs, within=mine
            ):
                return True
    return False


def partition(*, arn: str) -> str:
    """The partition an ARN names (aws, aws-cn, aws-us-gov); aws when it names none."""
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"


@cache
def broad_policy_arns(partition: str) -> tuple[str, ...]:
    return tuple(f"arn:{partition}:iam::aws:policy/{name}" for name in BROAD_AWS_POLICIES)


@cache
def without_boundary(partition: str) -> dict[str, tuple[str | None, ...]]:
    """The iam:PermissionsBoundary a request that escapes a boundary carries: none, or one
    that bounds nothing."""
    return {BOUNDARY_KEY: (None, *broad_policy_arns(partition))}


@cache
def _request(method: Method, partition: str) -> Request:
    """The condition context of the request the method makes on a target that gives more
    access: the keys IAM sets for its action, with the values an escalation would use (None:
    IAM does not set the key for that action)."""
    request: dict[str, tuple[str | None, ...]] = {
        BOUNDARY_KEY: (None,),
        POLICY_ARN_KEY: (None,),
        PASSED_TO_SERVICE_KEY: (None,),
    }
    if method.rule in ("unbounded", "unbounded-attach"):  # the target user's or role's boundary
        request |= without_boundary(partition)
    if method.rule == "own-boundary" and method.target_action.startswith("iam:Put"):
        # A new boundary that bounds nothing; removing one sets no boundary key at all.
        request[BOUNDARY_KEY] = broad_policy_arns(partition)
    if method.rule in ("unbounded-attach", "group-attach"):
        request[POLICY_ARN_KEY] = broad_policy_arns(partition)
    if method.service:
        request[PASSED_TO_SERVICE_KEY] = tuple(_service_names(method.service, partition))
    return request


def _service_names(service: str, partition: str) -> tuple[str, ...]:
    """How a partition names a service principal: the China partition adds ".cn" (and also
    knows the plain name). Elsewhere the ".cn" name is no name at all: trying it got past a
    Deny of the plain name, a false escalation."""
    return (service, f"{service}.cn") if partition == "aws-cn" else (service,)


def admitted(*, decision: Decision, request: Request) -> bool:
    """Whether some request of the kind `request` describes gets through: one of the Allow
    statements that match the action admits it (IAM allows what any one of them allows,
    whatever conditions the others carry), and no Deny whose condition surely holds for it
    stops it (the delegated-administrator pattern: Deny iam:CreateRole unless the boundary is
    set). A Deny whose condition names other keys may be avoided, so it stops nothing here."""
    keys = sorted(request)
    for chosen in product(*(tuple(request[key]) for key in keys)):
        values = dict(zip(keys, chosen, strict=True))
        single = {key: (value,) for key, value in values.items()}
        if not any(condition_admits(statement=s, request=single) for s in decision.grants):
            continue
        if not any(
            condition_surely_holds(statement=d, values=values) for d in decision.conditional_denies
        ):
            return True
    return False


def _risky(method: Method, perms: EffectivePermissions, target: str, account: Account) -> bool:
    if method.runs_as:
        # The action is on the service's existing resource (checked once, in _methods); the
        # target is a role the service is trusted to run as, known from its trust policy.
        return (
            target in account.trust
            and _trusts_service(account, target, method.runs_as)
            and _usable_on_an_instance(account, target, method.runs_as)
            and account.more_privileged(target, perms)
        )
    decision = perms.decide(action=method.target_action, resource=target)
    if not decision.allowed:
        return False
    request = _request(method, partition(arn=perms.principal_arn))
    if method.rule in ("unbounded-attach", "group-attach"):
        # A customer-managed policy the principal may write is as broad as it likes.
        writable = account.writable_policies(perms)
        if writable:
            request = {**request, POLICY_ARN_KEY: (*request[POLICY_ARN_KEY], *writable)}
    if not admitted(decision=decision, request=request):
        return False
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
        return target == account.unknown("group") or bool(account.group_members.get(target))
    if rule == "in-use":
        # A new version, or another default, of a policy someone uses; a policy that does not
        # exist yet has no version to replace and nobody using it.
        return target in account.policies_in_use
    if rule == "more-privileged":
        return account.more_privileged(target, perms)
    if rule == "own-boundary":  # its own boundary, and one that takes something away
        return target == perms.principal_arn and bool(perms.capped or perms.bounded_resources)
    return True


def _usable_on_an_instance(account: Account, role: str, service: str) -> bool:
    """An instance runs as a role only through an instance profile: when which roles are in
    one is known, a role in none runs on no instance."""
    if service != "ec2.amazonaws.com" or account.in_instance_profile is None:
        return True
    return role in account.in_instance_profile


def _trusts_service(account: Account, role: str, service: str) -> bool:
    # "*" trusts any service.
    names = {"*", *_service_names(service, partition(arn=role))}
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


def _strings(value) -> list[str]:
    """A principal or service list as written: one string or a list; anything else, none."""
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


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
        services.update(
            _strings(principal.get("Service")) if isinstance(principal, Mapping) else []
        )
    return frozenset(services)


def _allowed_in_service(perms: EffectivePermissions, action: str) -> bool:
    """Whether the action is allowed on some resource of its own service: glue:* granted on an
    S3 bucket's ARN allows no Glue action at all."""
    decision = perms.decide(action=action)
    if not decision.allowed:
        return False
    service = action.partition(":")[0].lower()
    return any(_may_name_service(s, service) for s in decision.grants)


def _may_name_service(statement: Statement, service: str) -> bool:
    if statement.not_resources:
        return True
    for pattern in statement.resources:
        parts = pattern.split(":")
        if len(parts) < 3 or wildcard_match(value=service, pattern=parts[2].lower()):
            return True
    return False


# --- Taking off one's own Deny -------------------------------------------------------------

# A group's policies come to a user labelled "<policy> (via group <group>)" (findings.detection
# builds them so; IAM names have no parentheses).
_VIA_GROUP = re.compile(r" \(via group ([^()]+)\)$")


@dataclass(frozen=True)
class Removal:
    """One request that takes policies off the principal: its action, the resource it is on
    (the principal, or a group it is in), the policies it takes off (indexes into the
    principal's `policies`) and the condition context IAM gives it."""

    action: str
    resource: str
    policies: tuple[int, ...]
    request: Request = field(hash=False, compare=False)


def _kind(arn: str) -> str:
    """user or role, as a principal's ARN says."""
    return arn.split(":", 5)[-1].partition("/")[0]


def _own_request(keys: Mapping[str, tuple[str | None, ...]]) -> Request:
    return {BOUNDARY_KEY: (None,), POLICY_ARN_KEY: (None,), PASSED_TO_SERVICE_KEY: (None,), **keys}


def _removals(perms: EffectivePermissions, account: Account) -> tuple[Removal, ...]:
    """Each identity policy the principal could take off itself, and for a user each group it
    could leave: an inline policy is deleted, a managed one detached (iam:PolicyARN naming
    it), a group's on the group. On a user or role IAM sets iam:PermissionsBoundary to the
    principal's own boundary."""
    arn = perms.principal_arn
    where = partition(arn=arn)
    owner = "Role" if _kind(arn) == "role" else "User"
    boundary = (None,) if perms.boundary is None else account.policy_arns(perms.boundary, where)
    found: list[Removal] = []
    groups: dict[str, list[int]] = {}
    for index, policy in enumerate(perms.policies):
        if policy.kind not in ("inline", "managed"):
            continue
        via = _VIA_GROUP.search(policy.label) if owner == "User" else None
        if via:
            resource = account.group_arn(via.group(1), where)
            groups.setdefault(resource, []).append(index)
            keys: dict[str, tuple[str | None, ...]] = {}
        else:
            resource, keys = arn, {BOUNDARY_KEY: boundary}
        if policy.kind == "managed":
            keys[POLICY_ARN_KEY] = account.policy_arns(policy, where)
        action = "iam:{}{}Policy".format(
            "Detach" if policy.kind == "managed" else "Delete", "Group" if via else owner
        )
        found.append(Removal(action, resource, (index,), _own_request(keys)))
    found.extend(
        Removal("iam:RemoveUserFromGroup", group, tuple(indexes), _own_request({}))
        for group, indexes in groups.items()
    )
    return tuple(found)


def _own_denies(
    method: Method, perms: EffectivePermissions, account: Account
) -> tuple[tuple[str, ...], str]:
    """The principal's own policies holding a Deny it may take off with the method's action,
    labelled as in its effective permissions; and, when the SCPs block each such request, why.

    The action must be allowed on the request's resource (its own ARN; the group's, for a
    group's policy or for leaving the group), with the iam:PolicyARN of the policy it detaches,
    and the Deny must take away something its other policies allow (_denies_given_back)."""
    found: list[str] = []
    blocked: list[str] = []
    reasons: list[str] = []
    for removal in account.removals(perms):
        if removal.action != method.target_action:
            continue
        decision = perms.decide(action=removal.action, resource=removal.resource)
        if not decision.allowed or not admitted(decision=decision, request=removal.request):
            continue
        labels = account.denies_given_back(perms, removal.policies)
        if not labels:
            continue
        reason = account.permitted(
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
    is_user = _kind(perms.principal_arn) == "user"
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
    named = {s for s in {a.partition(":")[0] for a in actions} if _may_name_service(deny, s)}
    wanted = frozenset(a for a in actions if a.partition(":")[0] in named)

    def reaches(statements_: list[Statement]) -> bool:
        return any(
            s.is_allow
            and not wanted.isdisjoint(covered_actions(statement=s))
            and _overlaps(s, deny, variables)
            for s in statements_
        )

    return bool(wanted) and reaches(allows) and (not bounds or reaches(bounds))


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
        if name is not None:
            pattern = pattern.replace("${aws:username}", name)
        if "${" not in pattern and matches_resource(
            statement=allow, resource=pattern, variables=variables
        ):
            return True
    return False


def _methods(perms: EffectivePermissions, account: Account) -> list[Escalation]:
    found = []
    for method in METHODS:
        if not perms.allows(action=method.target_action) or not all(
            perms.allows(action=a) for a in method.also
        ):
            continue
        if not all(_allowed_in_service(perms, a) for a in method.also):
            continue
        if method.runs_as and not _allowed_in_service(perms, method.target_action):
            continue
        removes: tuple[str, ...] = ()
        if method.rule == "own-deny":
            if method.target_kind != _kind(perms.principal_arn):
                continue  # a user's methods for users, a role's for roles
            removes, blocked_by = _own_denies(method, perms, account)
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
                candidates = account._sorted_known[kind]
            else:
                candidates = _named_by_grants(method, perms, new_too, account)
            targets = [t for t in candidates if _risky(method, perms, t, account)]
            if not targets:
                continue
            targets, blocked_by = _through_guardrails(method, perms, targets, account)
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
    if new_too and account.unknown(kind) in hits:
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
    create = CREATE_ACTIONS.get(method.target_kind)
    return (
        create is not None
        and perms.decide(action=create, resource=account.unknown(method.target_kind)).allowed
    )


def escalation_methods(*, principal_arn: str, account: Account) -> list[Escalation]:
    """The methods open to the principal (the SCPs let them through)."""
    return [m for m in account.methods_of(principal_arn) if not m.blocked_by]


def blocked_methods(*, principal_arn: str, account: Account) -> list[Escalation]:
    """Methods its own policies allow that the organization's SCPs block, each with why."""
    return [m for m in account.methods_of(principal_arn) if m.blocked_by]


def _is_account(value: str, account_id: str) -> bool:
    """The account itself as a trust policy names it: its id, or its root user's ARN in any
    partition (arn:aws:, arn:aws-cn:, arn:aws-us-gov:)."""
    return (
        value == account_id
        or re.fullmatch(rf"arn:aws[a-z-]*:iam::{re.escape(account_id)}:root", value) is not None
    )


# A trust policy's `"*"` (or `{"AWS": "*"}`) names every principal, as naming one does: in the
# same account no Allow of its own is needed (unlike trust in the account, which delegates the
# decision to the principal's own policies).
EVERY_PRINCIPAL = "*"


def _trustees(trust: Mapping | None, account_id: str) -> tuple[bool, frozenset[str]]:
    anyone, named = False, set()
    for statement in statements(document=trust or {}):
        if not statement.is_allow or "sts:assumerole" not in covered_actions(statement=statement):
            continue
        principal = statement.raw.get("Principal")
        if principal == "*":
            named.add(EVERY_PRINCIPAL)
            continue
        for value in _strings(principal.get("AWS")) if isinstance(principal, Mapping) else []:
            if value == "*":
                named.add(EVERY_PRINCIPAL)
            elif _is_account(value, account_id):
                anyone = True
            else:
                named.add(value)
    return anyone, frozenset(named)


def _label(arn: str) -> str:
    return arn.rpartition(":")[2]


def _with_trust_of(
    perms: EffectivePermissions, roles: tuple[str, ...], *, bounded: bool = True
) -> EffectivePermissions:
    """The principal's permissions with what the roles' trust policies grant it by name: in
    the same account that is enough to assume them without an Allow of its own, though an
    explicit Deny still wins and a permissions boundary must allow it, except for an IAM user
    that the trust policy names by its own ARN: a boundary does not limit what a resource
    policy grants such a user (IAM User Guide, "Policy evaluation logic"; "Permissions
    boundaries for IAM entities")."""
    trust = {
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": list(roles)}]
    }
    return effective_permissions(
        principal_arn=perms.principal_arn,
        principal_name=perms.principal_name,
        policies=[*perms.policies, Policy("trust policies naming it", "trust", trust)],
        boundary=perms.boundary if bounded else None,
    )


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
        trusted = _with_trust_of(perms, mine)
        found.update(
            role for role in mine if trusted.decide(action="sts:AssumeRole", resource=role).allowed
        )
    by_arn = tuple(r for r in named.get(principal_arn, ()) if r != principal_arn and r not in found)
    if by_arn and perms.boundary is not None and ":user/" in principal_arn:
        unbounded = _with_trust_of(perms, by_arn, bounded=False)
        found.update(
            r for r in by_arn if unbounded.decide(action="sts:AssumeRole", resource=r).allowed
        )
    # Allowed on no resource at all (most principals): no role trusting the account to look
    # at. On some resource covers every resource it could be allowed on, so this never hides
    # a role.
    if perms.decide(action="sts:AssumeRole").allowed:
        # Only the roles its grants name: a set look-up, not `decide` of every role trusting
        # the account for every principal.
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
