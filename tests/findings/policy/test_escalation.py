"""Every escalation method beside its scoped, not-escalating twin; paths across roles."""

import pytest

from findings.policy.effective import Policy, effective_permissions
from findings.policy.escalation import Account, escalation_methods, escalation_path
from findings.policy.escalation_methods import METHODS
from tests.findings.policy.statements import allow, deny

ACCOUNT = "111122223333"
IAM = f"arn:aws:iam::{ACCOUNT}"
DEV = f"{IAM}:user/dev"
ADMIN = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
READ = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
ROOT_TRUST = {
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"{IAM}:root"}, "Action": "sts:AssumeRole"}
    ]
}
BOUNDARY_CONDITION = {"StringEquals": {"iam:PermissionsBoundary": f"{IAM}:policy/boundary"}}
# A role that code run by Lambda, Glue, SageMaker, EC2, CloudFormation, CodeBuild, App Runner
# or ECS tasks can use, with access dev does not have.
RUNNER = f"{IAM}:role/runner"
RUNS_CODE_TRUST = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {
                "Service": [
                    "lambda.amazonaws.com",
                    "glue.amazonaws.com",
                    "sagemaker.amazonaws.com",
                    "ec2.amazonaws.com",
                    "cloudformation.amazonaws.com",
                    "codebuild.amazonaws.com",
                    "tasks.apprunner.amazonaws.com",
                    "ecs-tasks.amazonaws.com",
                ]
            },
            "Action": "sts:AssumeRole",
        }
    ]
}


def perms(arn: str, *statements, boundary=None):
    return effective_permissions(
        principal_arn=arn,
        principal_name=arn.rpartition("/")[2],
        policies=[Policy("p", "inline", {"Statement": [READ, *statements]})],
        boundary=Policy("b", "boundary", boundary) if boundary else None,
    )


def account(*statements, roles=None, trust=None) -> Account:
    principals = {
        DEV: perms(DEV, *statements),
        # alice may read a table dev may not: her credentials give dev more access
        f"{IAM}:user/alice": perms(f"{IAM}:user/alice", allow("dynamodb:GetItem")),
        f"{IAM}:role/low": perms(f"{IAM}:role/low"),
        f"{IAM}:role/admin": perms(f"{IAM}:role/admin", *ADMIN["Statement"]),
        # A task role ECS Exec can open a shell in: it allows Session Manager's channels.
        RUNNER: perms(
            RUNNER,
            allow("secretsmanager:GetSecretValue"),
            allow(["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel"]),
            allow(["ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]),
        ),
        **(roles or {}),
    }
    return Account(
        account_id=ACCOUNT,
        principals=principals,
        trust={RUNNER: RUNS_CODE_TRUST, **(trust or {})},
        groups={
            f"{IAM}:group/readers": perms(f"{IAM}:group/readers"),
            f"{IAM}:group/admins": perms(f"{IAM}:group/admins", *ADMIN["Statement"]),
            f"{IAM}:group/empty": perms(f"{IAM}:group/empty"),
        },
        # dev is a reader: a policy on the readers group is one on dev
        group_members={
            f"{IAM}:group/readers": ("alice", "dev"),
            f"{IAM}:group/admins": ("root",),
        },
        policies_in_use=frozenset({f"{IAM}:policy/app"}),
        customer_policies=(f"{IAM}:policy/app", f"{IAM}:policy/unused"),
    )


def pass_to(service) -> dict:
    return allow("iam:PassRole", condition={"StringEquals": {"iam:PassedToService": service}})


LOW = f"{IAM}:role/low"
SAGEMAKER_URL = "sagemaker:CreatePresignedNotebookInstanceUrl"
LAMBDA_ESM = ["lambda:CreateFunction", "lambda:CreateEventSourceMapping"]
LAMBDA = ["lambda:CreateFunction", "lambda:InvokeFunction"]

# method -> (statements that escalate, their scoped twin that does not)
CASES = {
    "CreateNewPolicyVersion": (
        [allow("iam:CreatePolicyVersion")],
        [allow("iam:CreatePolicyVersion", f"{IAM}:policy/unused")],
    ),
    "SetExistingDefaultPolicyVersion": (
        [allow("iam:SetDefaultPolicyVersion", f"{IAM}:policy/app")],
        [allow("iam:SetDefaultPolicyVersion", f"{IAM}:policy/unused")],
    ),
    "CreateEC2WithExistingInstanceProfile": (
        [allow(["iam:PassRole", "ec2:RunInstances"])],
        [allow("ec2:RunInstances"), allow("iam:PassRole", LOW)],
    ),
    "CreateAccessKey": (
        [allow("iam:CreateAccessKey", f"{IAM}:user/*")],
        [allow("iam:CreateAccessKey", f"{IAM}:user/${{aws:username}}")],
    ),
    "CreateLoginProfile": (
        [allow("iam:CreateLoginProfile")],
        [allow("iam:CreateLoginProfile", f"{IAM}:user/${{aws:username}}")],
    ),
    "UpdateLoginProfile": (
        [allow("iam:UpdateLoginProfile")],
        [allow("iam:UpdateLoginProfile", DEV)],
    ),
    "AttachUserPolicy": (
        [allow("iam:AttachUserPolicy")],
        [allow("iam:AttachUserPolicy", condition=BOUNDARY_CONDITION)],
    ),
    "AttachGroupPolicy": (
        [allow("iam:AttachGroupPolicy")],
        [
            allow(
                "iam:AttachGroupPolicy",
                condition={"ArnEquals": {"iam:PolicyARN": f"{IAM}:policy/read"}},
            )
        ],
    ),
    "AttachRolePolicy": (
        [allow("iam:AttachRolePolicy")],
        [allow("iam:AttachRolePolicy", condition=BOUNDARY_CONDITION)],
    ),
    "PutUserPolicy": (
        [allow("iam:PutUserPolicy", DEV)],
        [allow("iam:PutUserPolicy", DEV, condition=BOUNDARY_CONDITION)],
    ),
    "PutGroupPolicy": (
        [allow("iam:PutGroupPolicy", f"{IAM}:group/readers")],
        [allow("iam:PutGroupPolicy", f"{IAM}:group/empty")],
    ),
    "PutRolePolicy": (
        [allow("iam:PutRolePolicy")],
        [allow("iam:PutRolePolicy", condition=BOUNDARY_CONDITION)],
    ),
    "AddUserToGroup": (
        [allow("iam:AddUserToGroup", f"{IAM}:group/admins")],
        [allow("iam:AddUserToGroup", f"{IAM}:group/readers")],
    ),
    "UpdateRolePolicyToAssumeIt": (
        [allow("iam:UpdateAssumeRolePolicy", f"{IAM}:role/admin")],
        [allow("iam:UpdateAssumeRolePolicy", LOW)],
    ),
    "PassExistingRoleToNewLambdaThenInvoke": (
        [allow(["iam:PassRole", *LAMBDA])],
        [allow(LAMBDA), pass_to("ec2.amazonaws.com")],
    ),
    "PassExistingRoleToNewLambdaThenTriggerWithNewDynamo": (
        [allow("iam:PassRole"), allow(LAMBDA_ESM)],
        [allow("iam:PassRole", LOW), allow(LAMBDA_ESM)],
    ),
    "PassExistingRoleToNewGlueDevEndpoint": (
        [pass_to("glue.amazonaws.com"), allow("glue:CreateDevEndpoint")],
        [pass_to("lambda.amazonaws.com"), allow("glue:CreateDevEndpoint")],
    ),
    "UpdateExistingGlueDevEndpoint": (
        [allow("glue:UpdateDevEndpoint")],
        [allow("glue:UpdateDevEndpoint"), deny("glue:UpdateDevEndpoint")],
    ),
    "PassExistingRoleToCloudFormation": (
        [allow(["iam:PassRole", "cloudformation:CreateStack"])],
        [allow("iam:PassRole", LOW), allow("cloudformation:CreateStack")],
    ),
    "PassExistingRoleToNewDataPipeline": (
        [allow("iam:PassRole"), allow("datapipeline:*Pipeline*")],
        [allow("iam:PassRole", LOW), allow("datapipeline:*")],
    ),
    "EditExistingLambdaFunctionWithRole": (
        [allow("lambda:UpdateFunctionCode")],
        [allow("lambda:*"), deny("lambda:UpdateFunctionCode")],
    ),
    "PassExistingRoleToNewSageMakerNotebook": (
        [allow("iam:PassRole"), allow("sagemaker:CreateNotebookInstance"), allow(SAGEMAKER_URL)],
        [allow("iam:PassRole", LOW), allow("sagemaker:CreateNotebookInstance")],
    ),
    "AccessExistingSageMakerNotebook": (
        [allow(SAGEMAKER_URL)],
        [allow("sagemaker:Describe*")],
    ),
    "PassExistingRoleToNewCodeBuildProject": (
        [allow(["iam:PassRole", "codebuild:CreateProject", "codebuild:StartBuild"])],
        [allow("iam:PassRole", LOW), allow(["codebuild:CreateProject", "codebuild:StartBuild"])],
    ),
    "PassExistingRoleToNewEcsTask": (
        [allow(["iam:PassRole", "ecs:RegisterTaskDefinition", "ecs:RunTask"])],
        [allow("iam:PassRole", LOW), allow("ecs:*")],
    ),
    "SendCommandToInstanceWithRole": (
        [allow("ssm:SendCommand")],
        [allow("ssm:SendCommand", "arn:aws:s3:::logs/*")],
    ),
    "StartSessionOnInstanceWithRole": (
        [allow("ssm:StartSession")],
        [allow("ssm:*"), deny("ssm:StartSession")],
    ),
}  # fmt: skip


def passing(*actions_: str) -> tuple[list, list]:
    """A pass-role method's case: the actions and PassRole; its twin may pass only `low`."""
    return [allow(["iam:PassRole", *actions_])], [allow("iam:PassRole", LOW), allow(list(actions_))]


def running(*actions_: str) -> tuple[list, list]:
    """An existing resource's method: the actions; its twin is denied the first."""
    return [allow(list(actions_))], [allow(list(actions_)), deny(actions_[0])]


CASES |= {
    "PassExistingRoleToNewAppRunnerService": passing("apprunner:CreateService"),
    "PassExistingRoleToNewStackSet": passing(
        "cloudformation:CreateStackSet", "cloudformation:CreateStackInstances"
    ),
    "PassExistingRoleToNewCodeBuildBatch": passing(
        "codebuild:CreateProject", "codebuild:StartBuildBatch"
    ),
    "PassExistingRoleToNewSpotInstance": passing("ec2:RequestSpotInstances"),
    "PassExistingRoleToNewEcsService": passing("ecs:RegisterTaskDefinition", "ecs:CreateService"),
    "PassExistingRoleToNewEcsTaskStarted": passing("ecs:RegisterTaskDefinition", "ecs:StartTask"),
    "PassExistingRoleToNewGlueJob": passing("glue:CreateJob", "glue:StartJobRun"),
    "PassExistingRoleToNewGlueJobTriggered": passing("glue:CreateJob", "glue:CreateTrigger"),
    "PassExistingRoleToUpdatedGlueJob": passing("glue:UpdateJob", "glue:StartJobRun"),
    "PassExistingRoleToUpdatedGlueJobTriggered": passing("glue:UpdateJob", "glue:CreateTrigger"),
    "PassExistingRoleToNewLambdaThenAddPermission": passing(
        "lambda:CreateFunction", "lambda:AddPermission"
    ),
    "PassExistingRoleToNewSageMakerTrainingJob": passing("sagemaker:CreateTrainingJob"),
    "PassExistingRoleToNewSageMakerProcessingJob": passing("sagemaker:CreateProcessingJob"),
    "UpdateExistingAppRunnerService": running("apprunner:UpdateService"),
    "UpdateExistingStackWithItsRole": running("cloudformation:UpdateStack"),
    "ExecuteChangeSetOnExistingStackWithItsRole": running(
        "cloudformation:ExecuteChangeSet", "cloudformation:CreateChangeSet"
    ),
    "ExecIntoExistingEcsTask": running("ecs:ExecuteCommand"),
    "AddLayerToExistingLambdaFunctionWithRole": running("lambda:UpdateFunctionConfiguration"),
    "PassExistingRoleToUpdatedStackSet": passing("cloudformation:UpdateStackSet"),
    "StartBuildOfExistingProjectWithNewBuildspec": running("codebuild:StartBuild"),
    "StartBuildBatchOfExistingProject": running("codebuild:StartBuildBatch"),
    "ChangeUserDataOfExistingInstance": running(
        "ec2:ModifyInstanceAttribute", "ec2:StopInstances", "ec2:StartInstances"
    ),
    "ChangeExistingLaunchTemplate": running(
        "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"
    ),
    "SendSshKeyToInstanceWithRole": running("ec2-instance-connect:SendSSHPublicKey"),
    "LifecycleConfigOnExistingSageMakerNotebook": running(
        "sagemaker:CreateNotebookInstanceLifecycleConfig",
        "sagemaker:StopNotebookInstance",
        "sagemaker:UpdateNotebookInstance",
        "sagemaker:StartNotebookInstance",
    ),
}

APP_ROLE = f"{IAM}:role/app"
# method -> the principal whose own boundary it lifts, and the action
BOUNDARY_CASES = {
    "DeleteOwnUserPermissionsBoundary": (DEV, "iam:DeleteUserPermissionsBoundary"),
    "DeleteOwnRolePermissionsBoundary": (APP_ROLE, "iam:DeleteRolePermissionsBoundary"),
    "PutOwnUserPermissionsBoundary": (DEV, "iam:PutUserPermissionsBoundary"),
    "PutOwnRolePermissionsBoundary": (APP_ROLE, "iam:PutRolePermissionsBoundary"),
}


def test_every_method_has_a_case_and_a_source():
    # Taking off one's own Deny has its cases in test_escalation_own_deny.
    own_deny = {m.id for m in METHODS if m.rule == "own-deny"}
    assert set(CASES) | set(BOUNDARY_CASES) == {m.id for m in METHODS} - own_deny
    assert all(m.source for m in METHODS)


def boundary_methods(principal: str, *statements, boundary: dict | None) -> dict[str, tuple]:
    found = Account(
        account_id=ACCOUNT,
        principals={
            principal: perms(principal, *statements, boundary=boundary),
            f"{IAM}:role/admin": perms(f"{IAM}:role/admin", *ADMIN["Statement"]),
        },
    )
    return {e.method: e.targets for e in escalation_methods(principal_arn=principal, account=found)}


@pytest.mark.parametrize("method", sorted(BOUNDARY_CASES))
def test_lifting_ones_own_boundary_escalates_when_the_boundary_takes_something_away(method):
    """A boundary that caps s3:* and ec2:* down to reading one bucket, which lets its
    principal delete or replace it: no method reported it."""
    principal, action = BOUNDARY_CASES[method]
    own = [allow(["s3:*", "ec2:*"]), allow(action, principal)]
    capping = {"Statement": [READ, allow(action, principal)]}
    broad = {"Statement": [allow("*")]}
    elsewhere = [allow(["s3:*", "ec2:*"]), allow(action, f"{IAM}:role/admin")]
    kept = {"StringEquals": {"iam:PermissionsBoundary": f"{IAM}:policy/boundary"}}

    assert boundary_methods(principal, *own, boundary=capping)[method] == (principal,)
    assert method not in boundary_methods(principal, *own, boundary=None)
    assert method not in boundary_methods(principal, *own, boundary=broad)  # caps nothing
    assert method not in boundary_methods(principal, *elsewhere, boundary=capping)
    if ":Put" in action:  # only the same boundary may be put: nothing is lifted
        scoped = [allow(["s3:*", "ec2:*"]), allow(action, principal, condition=kept)]
        scoped_boundary = {"Statement": [READ, allow(action, principal, condition=kept)]}
        assert method not in boundary_methods(principal, *scoped, boundary=scoped_boundary)


def test_attaching_only_the_accounts_own_policies_escalates_when_it_may_write_one():
    """A condition letting only the account's customer-managed policies be attached was taken
    as safe, while the principal could create an administrator policy and attach it."""
    own_policies = {"ArnLike": {"iam:PolicyARN": f"{IAM}:policy/*"}}
    attach = allow("iam:AttachUserPolicy", DEV, condition=own_policies)
    unused = {"ArnEquals": {"iam:PolicyARN": f"{IAM}:policy/unused"}}

    assert "AttachUserPolicy" in methods_of([attach, allow("iam:CreatePolicy")])
    assert "AttachUserPolicy" in methods_of(
        [
            allow("iam:AttachUserPolicy", DEV, condition=unused),
            allow("iam:CreatePolicyVersion", f"{IAM}:policy/unused"),
        ]
    )
    # the delegated administrator's pattern: create and attach policies named team-*
    team = {"ArnLike": {"iam:PolicyARN": f"{IAM}:policy/team-*"}}
    assert "AttachUserPolicy" in methods_of(
        [
            allow("iam:AttachUserPolicy", DEV, condition=team),
            allow("iam:CreatePolicy", f"{IAM}:policy/team-*"),
        ]
    )
    assert "AttachUserPolicy" not in methods_of(
        [
            allow("iam:AttachUserPolicy", DEV, condition=team),
            allow("iam:CreatePolicy", f"{IAM}:policy/other-*"),
        ]
    )
    # the same grant written for any account ("*"): the policy it creates is in this one
    any_account = "arn:aws:iam::*:policy/team-*"
    assert "AttachUserPolicy" in methods_of(
        [
            allow("iam:AttachUserPolicy", DEV, condition=team),
            allow("iam:CreatePolicy", any_account),
        ]
    )
    assert "AttachUserPolicy" in methods_of(
        [
            allow("iam:AttachUserPolicy", DEV, condition=team),
            allow("iam:CreatePolicy", any_account),
            deny("iam:CreatePolicy", "arn:aws:iam::999999999999:policy/*"),
        ]
    )
    assert "AttachUserPolicy" not in methods_of(
        [
            allow("iam:AttachUserPolicy", DEV, condition=team),
            allow("iam:CreatePolicy", any_account),
            deny("iam:CreatePolicy", f"{IAM}:policy/*"),
        ]
    )
    assert "AttachUserPolicy" not in methods_of([attach])  # only the policies there are
    assert "AttachUserPolicy" not in methods_of(
        [
            allow("iam:AttachUserPolicy", DEV, condition=unused),
            allow("iam:CreatePolicyVersion", f"{IAM}:policy/app"),
        ]
    )


def scoped_account(dev_statements, alice_statements) -> Account:
    def only(arn, *statements):
        return effective_permissions(
            principal_arn=arn,
            principal_name=arn.rpartition("/")[2],
            policies=[Policy("p", "inline", {"Statement": list(statements)})],
        )

    alice = f"{IAM}:user/alice"
    return Account(
        account_id=ACCOUNT,
        principals={DEV: only(DEV, *dev_statements), alice: only(alice, *alice_statements)},
    )


def test_a_user_with_the_same_actions_on_more_resources_is_more_privileged():
    """Only actions were compared: alice, who may read every bucket, looked no more
    privileged than dev, who may read one, so taking over her keys was no escalation."""
    keys = allow("iam:CreateAccessKey", f"{IAM}:user/*")
    one_bucket = allow("s3:GetObject", "arn:aws:s3:::dev/*")
    alice = f"{IAM}:user/alice"

    def targets(dev, her) -> tuple[str, ...]:
        found = scoped_account(dev, her)
        return next((e.targets for e in escalation_methods(principal_arn=DEV, account=found)), ())

    assert targets([keys, one_bucket], [allow("s3:GetObject")]) == (alice,)
    assert targets([keys, one_bucket], [allow("s3:GetObject", "arn:aws:s3:::*")]) == (alice,)
    assert targets([keys, one_bucket], [one_bucket]) == ()  # the same bucket
    assert targets([keys, one_bucket], [allow("s3:GetObject", "arn:aws:s3:::dev/x")]) == ()
    assert targets([keys, allow("s3:GetObject")], [one_bucket]) == ()  # dev's is wider


def test_users_with_the_same_self_service_policy_are_not_more_privileged_than_each_other():
    """${aws:username} was read as each user's own name: alice's user/alice was beyond the
    helpdesk's user/helpdesk, so every user with AWS's manage-your-own-credentials policy was
    a target of whoever could take users over."""
    own = allow(["iam:CreateAccessKey", "iam:ChangePassword"], f"{IAM}:user/${{aws:username}}")
    logins = allow("iam:CreateLoginProfile", f"{IAM}:user/*")
    found = scoped_account([own, logins], [own])

    assert escalation_methods(principal_arn=DEV, account=found) == []
    # alice's grant on every user is beyond dev's on itself
    wider = scoped_account([own, logins], [allow("iam:CreateAccessKey", f"{IAM}:user/*")])
    assert "CreateLoginProfile" in {
        e.method for e in escalation_methods(principal_arn=DEV, account=wider)
    }


def test_a_boundary_that_scopes_resources_scopes_the_principal():
    """The boundary's resources were ignored: dev, whose boundary leaves one bucket of its
    s3:GetObject on everything, looked as privileged as alice reading every bucket; and a
    boundary capping s3:* to one bucket was no cap its principal could lift."""
    alice = f"{IAM}:user/alice"
    bucket_a = allow("s3:GetObject", "arn:aws:s3:::a/*")
    keys = allow("iam:CreateAccessKey", f"{IAM}:user/*")
    dev = effective_permissions(
        principal_arn=DEV,
        principal_name="dev",
        policies=[Policy("p", "inline", {"Statement": [allow("s3:GetObject"), keys]})],
        boundary=Policy("b", "boundary", {"Statement": [bucket_a, keys]}),
    )
    reader = effective_permissions(
        principal_arn=alice,
        principal_name="alice",
        policies=[Policy("p", "inline", {"Statement": [allow("s3:GetObject")]})],
    )
    found = Account(account_id=ACCOUNT, principals={DEV: dev, alice: reader})

    assert [e.targets for e in escalation_methods(principal_arn=DEV, account=found)] == [(alice,)]

    lift = allow("iam:DeleteUserPermissionsBoundary", DEV)
    capped = boundary_methods(
        DEV, allow("s3:*"), lift, boundary={"Statement": [allow("s3:*", "arn:aws:s3:::a/*"), lift]}
    )
    assert capped["DeleteOwnUserPermissionsBoundary"] == (DEV,)


def test_commands_on_an_instance_reach_only_roles_in_an_instance_profile():
    from dataclasses import replace

    found = replace(account(allow("ssm:SendCommand")), in_instance_profile=frozenset())

    methods = escalation_methods(principal_arn=DEV, account=found)

    assert "SendCommandToInstanceWithRole" not in {e.method for e in methods}


def methods_of(statements) -> set[str]:
    return {e.method for e in escalation_methods(principal_arn=DEV, account=account(*statements))}


@pytest.mark.parametrize("method", sorted(CASES))
def test_the_method_escalates(method):
    assert method in methods_of(CASES[method][0])


@pytest.mark.parametrize("method", sorted(CASES))
def test_the_method_names_the_targets_it_reaches(method):
    """A method without a target giving more access is no escalation: none is reported bare."""
    assert targets_of(method, *CASES[method][0])


@pytest.mark.parametrize("method", sorted(CASES))
def test_its_scoped_twin_does_not(method):
    assert method not in methods_of(CASES[method][1])


def test_passing_to_a_service_other_than_the_one_that_runs_code_is_not_escalation():
    found = methods_of([pass_to("ec2.amazonaws.com"), allow(["ec2:RunInstances", *LAMBDA])])
    assert "CreateEC2WithExistingInstanceProfile" in found
    assert "PassExistingRoleToNewLambdaThenInvoke" not in found


def test_a_role_passed_to_a_service_counts_only_if_the_service_may_use_it():
    """PassRole to EC2 reaches a role only if EC2 is trusted to assume it and the role is in an
    instance profile (or the principal may add it to one); a trust policy not collected, or
    a role not yet created, still counts."""
    from dataclasses import replace

    admin = f"{IAM}:role/admin"
    ec2_trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
    }
    statements = [allow(["iam:PassRole", "ec2:RunInstances"])]

    def targets(trust, profiles, *extra) -> tuple[str, ...] | None:
        found = account(*statements, *extra, trust={admin: trust} if trust else None)
        found = replace(found, in_instance_profile=profiles)
        for escalation in escalation_methods(principal_arn=DEV, account=found):
            if escalation.method == "CreateEC2WithExistingInstanceProfile":
                return escalation.targets
        return None

    assert targets(ec2_trust, frozenset({admin})) == (admin,)
    assert targets(ROOT_TRUST, frozenset({admin})) is None  # EC2 not trusted
    assert targets(ec2_trust, frozenset()) is None  # no instance profile
    adds = allow("iam:AddRoleToInstanceProfile")
    # The runner trusts EC2 too: in an instance profile dev may add it to, or where nobody
    # knows which roles are in one.
    assert targets(ec2_trust, frozenset(), adds) == (admin, RUNNER)
    assert targets(None, None) == (admin, RUNNER)  # nothing known: counted
    # A role it may create itself is one more target
    creates = allow("iam:CreateRole")
    assert targets(ec2_trust, frozenset(), creates) == ("(any new role it creates)",)
    # The China partition's service name is no service elsewhere; a trust of anyone is.
    china = {"Service": "ec2.amazonaws.com.cn"}
    trust_cn = {"Statement": [{"Effect": "Allow", "Principal": china, "Action": "sts:AssumeRole"}]}
    assert targets(trust_cn, frozenset({admin})) is None
    anyone = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]}
    assert targets(anyone, frozenset({admin})) == (admin,)


def test_in_the_china_partition_services_are_also_named_with_cn():
    iam_cn = f"arn:aws-cn:iam::{ACCOUNT}"
    dev, admin = f"{iam_cn}:user/dev", f"{iam_cn}:role/admin"
    china = {"Service": "ec2.amazonaws.com.cn"}
    trust_cn = {"Statement": [{"Effect": "Allow", "Principal": china, "Action": "sts:AssumeRole"}]}
    found = Account(
        account_id=ACCOUNT,
        principals={
            dev: perms(dev, allow(["iam:PassRole", "ec2:RunInstances"])),
            admin: perms(admin, *ADMIN["Statement"]),
        },
        trust={admin: trust_cn},
        in_instance_profile=frozenset({admin}),
    )

    (escalation,) = escalation_methods(principal_arn=dev, account=found)

    assert (escalation.method, escalation.targets) == (
        "CreateEC2WithExistingInstanceProfile",
        (admin,),
    )


def test_a_deny_of_passing_to_lambda_is_not_got_round_by_the_china_name_elsewhere():
    """The ".cn" name was tried in every partition, and got past a Deny of the plain one."""
    no_lambda = {
        "Effect": "Deny",
        "Action": "iam:PassRole",
        "Resource": "*",
        "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
    }

    found = methods_of([allow(["iam:PassRole", *LAMBDA]), no_lambda])

    assert "PassExistingRoleToNewLambdaThenInvoke" not in found


def test_pass_role_scoped_by_a_principal_tag_reaches_the_roles_it_may_name():
    """An Allow naming role/${aws:PrincipalTag/team}-* reached no role: the variable was read
    as its own text."""
    admin = f"{IAM}:role/dev-admin"
    ec2_trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:*"}
        ]
    }
    found = account(
        allow("iam:PassRole", f"{IAM}:role/${{aws:PrincipalTag/team}}-*"),
        allow("ec2:RunInstances"),
        roles={admin: perms(admin, *ADMIN["Statement"])},
        trust={admin: ec2_trust},
    )

    (escalation,) = [
        e
        for e in escalation_methods(principal_arn=DEV, account=found)
        if e.method == "CreateEC2WithExistingInstanceProfile"
    ]
    assert admin in escalation.targets


def test_an_assume_role_path_over_two_hops_reaches_the_administrator():
    hop = f"{IAM}:role/hop"
    deployer = f"{IAM}:role/deployer"
    roles = {
        hop: perms(hop, allow("sts:AssumeRole", deployer)),
        deployer: perms(deployer, *ADMIN["Statement"]),
    }
    trust = {
        hop: ROOT_TRUST,
        deployer: {
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": hop}, "Action": "sts:AssumeRole"}
            ]
        },
    }
    found = account(allow("sts:AssumeRole", hop), roles=roles, trust=trust)
    assert escalation_path(principal_arn=DEV, account=found) == [
        "user/dev",
        "role/hop",
        "role/deployer",
        "admin",
    ]
    # the trust of deployer does not name dev: dev cannot jump straight there
    direct = account(allow("sts:AssumeRole", deployer), roles=roles, trust=trust)
    assert escalation_path(principal_arn=DEV, account=direct) == []
    # trusted, but dev's own policy does not allow sts:AssumeRole on hop
    assert escalation_path(principal_arn=DEV, account=account(roles=roles, trust=trust)) == []


def test_a_path_to_a_role_that_can_escalate_names_the_method():
    hop = f"{IAM}:role/hop"
    roles = {hop: perms(hop, allow("iam:PutUserPolicy"))}
    found = account(allow("sts:AssumeRole", hop), roles=roles, trust={hop: ROOT_TRUST})
    assert escalation_path(principal_arn=DEV, account=found) == [
        "user/dev",
        "role/hop",
        "escalation (PutUserPolicy)",
    ]


def test_assumable_roles_match_a_check_of_every_role_one_by_one():
    """assumable_roles looks only at the roles whose trust names the principal or its account:
    the same answer as deciding each role in turn, Denies that spare some resources
    (NotResource) included. A trust naming dev needs no Allow of dev's own, only no Deny; a
    trust of the account needs dev's own Allow."""
    from findings.policy.escalation import assumable_roles

    def trusted_by_name(role):
        own = found.principals[DEV]
        named = Policy("trust", "inline", {"Statement": [allow("sts:AssumeRole", role)]})
        return effective_permissions(
            principal_arn=DEV, principal_name="dev", policies=[*own.policies, named]
        )

    names = [f"{IAM}:role/r{n}" for n in range(6)]
    roles = {arn: perms(arn) for arn in names}
    named_dev = {
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": DEV}, "Action": "sts:AssumeRole"}]
    }
    trust = {names[0]: ROOT_TRUST, names[1]: named_dev, names[2]: {"Statement": []}}
    trust |= {names[3]: ROOT_TRUST, names[4]: named_dev}
    cases = [
        [allow("sts:AssumeRole", f"{IAM}:role/r*")],
        [allow("sts:AssumeRole", names[1])],
        [allow("sts:*"), deny("sts:AssumeRole")],
        # Resource and NotResource together (no AWS policy has both; an edited file may):
        # denies nothing on role ARNs, so every trusted role stays assumable.
        [allow("sts:AssumeRole"), {**deny("sts:*"), "NotResource": "arn:*"}],
        [allow("s3:*")],
    ]
    for statements in cases:
        found = account(*statements, roles=roles, trust=trust)
        one_by_one = [
            role
            for role in found._roles
            if role != DEV
            and (
                (
                    found._trustees.get(role, (False, frozenset()))[0]
                    and found.principals[DEV].decide(action="sts:AssumeRole", resource=role).allowed
                )
                or (
                    DEV in found._trustees.get(role, (False, frozenset()))[1]
                    and trusted_by_name(role).decide(action="sts:AssumeRole", resource=role).allowed
                )
            )
        ]
        assert assumable_roles(principal_arn=DEV, account=found) == one_by_one, statements
    assert assumable_roles(principal_arn=DEV, account=account(*cases[0], roles=roles, trust=trust))


# --- Conditions: each Allow statement on its own, by what its operator and values let through --


def targets_of(method: str, *statements, **kwargs) -> tuple[str, ...] | None:
    found = account(*statements, **kwargs)
    for escalation in escalation_methods(principal_arn=DEV, account=found):
        if escalation.method == method:
            return escalation.targets
    return None


ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"


@pytest.mark.parametrize(
    "method, statements",
    [
        (
            "PutUserPolicy",
            [allow("iam:PutUserPolicy", condition=BOUNDARY_CONDITION), allow("iam:PutUserPolicy")],
        ),
        (
            "AttachRolePolicy",
            [
                allow("iam:AttachRolePolicy", condition={"ArnEquals": {"iam:PolicyARN": "x"}}),
                allow("iam:AttachRolePolicy"),
            ],
        ),
        (
            "PassExistingRoleToNewLambdaThenInvoke",
            [pass_to("ec2.amazonaws.com"), allow("iam:PassRole"), allow(LAMBDA)],
        ),
    ],
)
def test_an_allow_without_a_condition_grants_whatever_another_allow_requires(method, statements):
    """IAM allows a request that any one Allow statement matches: a second, unconditional
    statement is not narrowed by the first one's condition."""
    assert targets_of(method, *statements)


@pytest.mark.parametrize(
    "method, condition",
    [
        # Lets through any policy, or every one but the one it names.
        ("AttachUserPolicy", {"ArnLike": {"iam:PolicyARN": "*"}}),
        ("AttachUserPolicy", {"ArnNotEquals": {"iam:PolicyARN": ADMINISTRATOR_ACCESS}}),
        ("AttachGroupPolicy", {"StringLike": {"iam:PolicyARN": "arn:aws:iam::aws:policy/*"}}),
        ("AttachRolePolicy", {"ForAnyValue:StringLike": {"iam:PolicyARN": ["*Admin*"]}}),
        # Asks for a boundary without pinning it, or only if there is one.
        ("PutRolePolicy", {"StringNotEquals": {"iam:PermissionsBoundary": f"{IAM}:policy/b"}}),
        ("PutRolePolicy", {"StringEqualsIfExists": {"iam:PermissionsBoundary": f"{IAM}:policy/b"}}),
        ("PutUserPolicy", {"StringLike": {"iam:PermissionsBoundary": "*"}}),
        ("AttachRolePolicy", {"Null": {"iam:PermissionsBoundary": "true"}}),
        # Names the service the method passes the role to, among others or by a wildcard.
        ("PassExistingRoleToNewLambdaThenInvoke", {"StringLike": {"iam:PassedToService": "*"}}),
        (
            "PassExistingRoleToNewLambdaThenInvoke",
            {
                "StringEquals": {
                    "iam:PassedToService": ["ec2.amazonaws.com", "lambda.amazonaws.com"]
                }
            },
        ),
        (
            "PassExistingRoleToNewLambdaThenInvoke",
            {"StringNotEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        ),
        # A key the escalation's request does not carry is met by whoever holds the principal.
        ("PutUserPolicy", {"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
    ],
)
def test_a_condition_that_lets_the_dangerous_request_through_does_not_scope_it(method, condition):
    action = {m.id: m.target_action for m in METHODS}[method]
    extra = [allow(LAMBDA)] if "Lambda" in method else []
    assert targets_of(method, allow(action, condition=condition), *extra)


@pytest.mark.parametrize(
    "method, condition",
    [
        ("AttachUserPolicy", {"ArnEquals": {"iam:PolicyARN": f"{IAM}:policy/read"}}),
        ("AttachUserPolicy", {"ArnNotLike": {"iam:PolicyARN": "arn:aws:iam::aws:policy/*"}}),
        ("AttachGroupPolicy", {"StringEquals": {"iam:PolicyARN": [f"{IAM}:policy/read"]}}),
        ("PutRolePolicy", {"StringEquals": {"iam:PermissionsBoundary": f"{IAM}:policy/b"}}),
        ("PutRolePolicy", {"ArnLike": {"iam:PermissionsBoundary": f"{IAM}:policy/boundary-*"}}),
        (
            "PassExistingRoleToNewLambdaThenInvoke",
            {"StringLike": {"iam:PassedToService": "ec2.*"}},
        ),
        # A key the request does not carry (PassRole has no iam:PolicyARN) never matches.
        (
            "PassExistingRoleToNewLambdaThenInvoke",
            {"ArnEquals": {"iam:PolicyARN": ADMINISTRATOR_ACCESS}},
        ),
    ],
)
def test_a_condition_that_excludes_the_dangerous_request_scopes_it(method, condition):
    action = {m.id: m.target_action for m in METHODS}[method]
    extra = [allow(LAMBDA)] if "Lambda" in method else []
    assert targets_of(method, allow(action, condition=condition), *extra) is None


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"iam:PassedToService": 5}},
        {"StringLike": {"iam:PassedToService": [True, None, {"a": 1}]}},
        {"ArnEquals": {"iam:PolicyARN": 1.5}},
        {"Null": {"iam:PermissionsBoundary": False}},
        {"NumericLessThan": {"iam:PermissionsBoundary": [1]}},
        {"StringEquals": "not a block"},
        {"StringEquals": ["iam:PassedToService"]},
        {7: {"iam:PassedToService": "x"}},
    ],
)
def test_a_condition_value_that_is_not_text_never_stops_detection(condition):
    statements = [allow(["iam:PassRole", "iam:AttachUserPolicy"], condition=condition)]
    for escalation in escalation_methods(
        principal_arn=DEV, account=account(*statements, allow(LAMBDA))
    ):
        assert escalation.method


# --- Another user's credentials: only a user that exists, is not dev, and has more access ----


def test_taking_over_credentials_needs_another_user_who_has_more_access():
    lone = Account(account_id=ACCOUNT, principals={DEV: perms(DEV, allow("iam:*AccessKey*"))})
    assert escalation_methods(principal_arn=DEV, account=lone) == []  # no user to reach
    assert targets_of("CreateAccessKey", allow("iam:CreateAccessKey")) == (f"{IAM}:user/alice",)
    assert targets_of("CreateLoginProfile", allow("iam:CreateLoginProfile")) == (
        f"{IAM}:user/alice",
    )
    # bob can do no more than dev: taking his keys gives dev nothing
    bob = f"{IAM}:user/bob"
    with_bob = {bob: perms(bob)}
    assert targets_of("CreateAccessKey", allow("iam:CreateAccessKey", bob), roles=with_bob) is None
    # dev's own keys are not escalation
    assert targets_of("CreateAccessKey", allow("iam:CreateAccessKey", DEV)) is None


# --- Roles whose trust names the principal ------------------------------------------------


def named_trust(arn: str) -> dict:
    statement = {"Effect": "Allow", "Principal": {"AWS": [arn]}, "Action": "sts:AssumeRole"}
    return {"Statement": [statement]}


def test_a_role_whose_trust_names_the_user_is_assumable_without_an_allow_of_its_own():
    """In the same account a role trust policy naming the user's ARN is enough; one naming the
    account (root, or its id) needs the user's own policies to allow sts:AssumeRole too."""
    from findings.policy.escalation import assumable_roles

    admin = f"{IAM}:role/admin"
    named = account(trust={admin: named_trust(DEV)})
    assert assumable_roles(principal_arn=DEV, account=named) == [admin]
    assert escalation_path(principal_arn=DEV, account=named) == ["user/dev", "role/admin", "admin"]
    # An explicit Deny still wins. A permissions boundary does not limit what a resource
    # policy grants a user by its own ARN; it does limit a role (its session).
    denied = account(deny("sts:AssumeRole"), trust={admin: named_trust(DEV)})
    assert assumable_roles(principal_arn=DEV, account=denied) == []
    ci = f"{IAM}:role/ci"

    def bounded(principal: str) -> Account:
        return Account(
            account_id=ACCOUNT,
            principals={
                principal: perms(principal, boundary={"Statement": [READ]}),
                admin: perms(admin, *ADMIN["Statement"]),
            },
            trust={admin: named_trust(principal)},
        )

    assert assumable_roles(principal_arn=DEV, account=bounded(DEV)) == [admin]
    assert assumable_roles(principal_arn=ci, account=bounded(ci)) == []
    # A trust of the account needs dev's own Allow.
    assert assumable_roles(principal_arn=DEV, account=account(trust={admin: ROOT_TRUST})) == []


@pytest.mark.parametrize(
    "trusted",
    [
        f"{IAM}:root",
        f"arn:aws-cn:iam::{ACCOUNT}:root",
        f"arn:aws-us-gov:iam::{ACCOUNT}:root",
        ACCOUNT,
    ],
)
def test_a_trust_of_the_account_in_any_partition_or_by_its_id_needs_an_allow(trusted):
    from findings.policy.escalation import assumable_roles

    admin = f"{IAM}:role/admin"
    trust = {admin: named_trust(trusted)}
    assert assumable_roles(principal_arn=DEV, account=account(trust=trust)) == []
    allowed = account(allow("sts:AssumeRole", admin), trust=trust)
    assert assumable_roles(principal_arn=DEV, account=allowed) == [admin]


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["*"]}])
def test_a_trust_of_every_principal_needs_no_allow_of_its_own(principal):
    """`"*"` names every principal, as naming one does (Access Analyzer calls such a role
    public); a Deny of sts:AssumeRole still wins."""
    from findings.policy.escalation import assumable_roles

    admin = f"{IAM}:role/admin"
    trust = {
        admin: {
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]
        }
    }
    assert assumable_roles(principal_arn=DEV, account=account(trust=trust)) == [admin]
    denied = account(deny("sts:AssumeRole"), trust=trust)
    assert assumable_roles(principal_arn=DEV, account=denied) == []


# --- Existing code that runs as a role: the roles the service may run as are the targets ----


@pytest.mark.parametrize(
    "method, action",
    [
        ("EditExistingLambdaFunctionWithRole", "lambda:UpdateFunctionCode"),
        ("UpdateExistingGlueDevEndpoint", "glue:UpdateDevEndpoint"),
        ("AccessExistingSageMakerNotebook", SAGEMAKER_URL),
        ("ExecIntoExistingEcsTask", "ecs:ExecuteCommand"),
        ("AddLayerToExistingLambdaFunctionWithRole", "lambda:UpdateFunctionConfiguration"),
    ],
)
def test_editing_existing_code_reaches_the_roles_its_service_runs_as(method, action):
    assert targets_of(method, allow(action)) == (RUNNER,)
    # No role the service may run as gives more access: nothing to reach.
    weaker = {RUNNER: perms(RUNNER)}
    assert targets_of(method, allow(action), roles=weaker) is None
    service_trust = {
        "Statement": [
            {**RUNS_CODE_TRUST["Statement"][0], "Principal": {"Service": "ec2.amazonaws.com"}}
        ]
    }
    assert targets_of(method, allow(action), trust={RUNNER: service_trust}) is None
    # Granted only on resources of another service (glue:* on an S3 bucket): allows nothing.
    service = action.partition(":")[0]
    assert targets_of(method, allow(f"{service}:*", "arn:aws:s3:::data-lake/*")) is None
    assert targets_of(method, allow(action, f"arn:aws:{service}:*:{ACCOUNT}:*")) == (RUNNER,)


@pytest.mark.parametrize(
    ("method", "action"),
    [
        ("CreateNewPolicyVersion", "iam:CreatePolicyVersion"),
        ("SetExistingDefaultPolicyVersion", "iam:SetDefaultPolicyVersion"),
    ],
)
def test_rewriting_policies_reaches_only_those_in_use_never_one_not_yet_created(method, action):
    assert targets_of(method, allow(action)) == (f"{IAM}:policy/app",)
