"""The published privilege-escalation methods: who published each, the action it takes, on
which kind of target, and the rule by which a target counts (findings.policy.escalation weighs
them; findings.policy.own_deny works out the own-deny ones).

Data only: what each method is, not whether a principal may use it.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Method:
    id: str
    target_action: str  # evaluated on each target resource
    target_kind: str  # user, role, group, policy, or "" (no target to weigh)
    rule: str  # how a target counts: see findings.policy.escalation.reach._risky
    source: str
    also: tuple[str, ...] = ()  # further actions needed (on some resource)
    service: str = ""  # the service a role is passed to (iam:PassedToService)
    # The service whose existing resource (a function, an endpoint) runs as the target role:
    # the target action is on that resource, and the targets are the roles the service may
    # assume.
    runs_as: str = ""
    # Another way to what the named method reaches (a function's role through its
    # configuration, beside its code): reported only for the targets that one does not reach.
    alternative_to: str = ""
    # The role a running ECS task has is its task role: its execution role (the agent's, to
    # pull the image and ship logs) is no target.
    task_role_only: bool = False


def _existing(
    method_id: str,
    action: str,
    runs_as: str,
    source: str,
    also: tuple[str, ...] = (),
    alternative_to: str = "",
    task_role_only: bool = False,
) -> Method:
    return Method(
        method_id, action, "role", "more-privileged", source, also, runs_as=runs_as,
        alternative_to=alternative_to, task_role_only=task_role_only,
    )  # fmt: skip


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
    _pass("PassExistingRoleToUpdatedStackSet", "cloudformation.amazonaws.com",
          ("cloudformation:UpdateStackSet",), f"{PATHFINDING} cloudformation-004"),
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
    # A change set executed on an existing stack runs with the stack's role, as UpdateStack.
    _existing("ExecuteChangeSetOnExistingStackWithItsRole", "cloudformation:ExecuteChangeSet",
              "cloudformation.amazonaws.com", f"{PATHFINDING} cloudformation-005",
              ("cloudformation:CreateChangeSet",), "UpdateExistingStackWithItsRole"),
    # A shell in a running task, whose task role's credentials are at hand (not its
    # execution role's, though ecs-tasks.amazonaws.com is trusted by both).
    _existing("ExecIntoExistingEcsTask", "ecs:ExecuteCommand", "ecs-tasks.amazonaws.com",
              f"{PATHFINDING} ecs-006", task_role_only=True),
    # A layer (or AWS_LAMBDA_EXEC_WRAPPER) added to an existing function runs the principal's
    # code as the function's role.
    _existing("AddLayerToExistingLambdaFunctionWithRole", "lambda:UpdateFunctionConfiguration",
              "lambda.amazonaws.com", RHINO_2, (), "EditExistingLambdaFunctionWithRole"),
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
    # policy off (see findings.policy.own_deny). The target is the principal itself.
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
