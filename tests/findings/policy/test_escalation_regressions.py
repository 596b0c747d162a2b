"""Escalation regressions a review found in common account setups: a Deny on named resources
read as leaving out actions it cannot apply to, a NotResource Deny read as leaving out "*",
`${aws:username}` read as one user for two, IAM Identity Center's roles taken as changeable,
one approved policy taken for any policy, the ECS execution role taken for a task role, a
group-policy-then-sign-in-as-a-member chain missed, and in-use policies weighed per target."""

from dataclasses import replace

import findings.policy.escalation_requests as escalation_requests
from findings.detection.checks import CHECKS_BY_ID, Evidence, Principal, Thresholds
from findings.policy.effective import Policy, effective_permissions
from findings.policy.escalation import Account, escalation_methods, more_privileged
from findings.policy.escalation_requests import POLICY_ARN_KEY
from findings.policy.resource_types import actions_on
from tests.findings.aws.test_records import role as role_record
from tests.findings.detection.test_detect import NOW
from tests.findings.policy.statements import allow, deny, perms, principal

ACCOUNT = "111122223333"
IAM = f"arn:aws:iam::{ACCOUNT}"
DEV = f"{IAM}:user/dev"
ALICE = f"{IAM}:user/alice"
FN_ROLE = f"{IAM}:role/app-fn"
SELF = f"{IAM}:user/${{aws:username}}"
ROLE = f"{IAM}:role/security-audit"


def methods(principals, principal=DEV, **kw) -> dict:
    account = Account(account_id=ACCOUNT, principals=principals, **kw)
    return {m.method: m for m in escalation_methods(principal_arn=principal, account=account)}


LAMBDA_TRUST = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
}
# AWS's AWSLambdaBasicExecutionRole: every Lambda role has it.
LAMBDA_BASIC = allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"])


def test_a_deny_on_an_iam_role_leaves_out_no_logs_action():
    """dev may use Lambda and CloudWatch Logs everywhere; a guard Denies * on the security role
    (the shape of the commit's own administrator test). That Deny takes no logs action away,
    yet `excluded` leaves every action out on the role's ARN, so every Lambda role with
    AWSLambdaBasicExecutionRole became "more privileged" than dev and editing any function
    was reported (old: nothing)."""
    dev = perms(
        DEV,
        allow(["lambda:*", "logs:*"]),
        deny("*", f"{IAM}:role/security-audit"),
    )
    fn = perms(FN_ROLE, LAMBDA_BASIC)

    assert not more_privileged(target=fn, than=dev)
    assert methods({DEV: dev, FN_ROLE: fn}, trust={FN_ROLE: LAMBDA_TRUST}) == {}
    # The Deny still leaves out the role's IAM actions: a role that may attach policies to
    # the security role has more than dev (with iam:*) has.
    dev = perms(dev.principal_arn, allow(["lambda:*", "logs:*", "iam:*"]), deny("*", ROLE))
    attaches = perms(FN_ROLE, allow("iam:AttachRolePolicy", ROLE))
    assert more_privileged(target=attaches, than=dev)
    assert methods({DEV: dev, FN_ROLE: attaches}, trust={FN_ROLE: LAMBDA_TRUST})


def test_a_deny_on_a_bucket_leaves_out_no_action_without_a_bucket():
    """The same within one service: a Deny of s3:* on the payroll bucket does not take
    s3:ListAllMyBuckets (no resource-level permission, requested on "*") from dev, so a role
    that may list buckets has no more than dev."""
    dev = perms(DEV, allow(["s3:*", "lambda:*"]), deny("s3:*", "arn:aws:s3:::payroll"))
    fn = perms(FN_ROLE, allow("s3:ListAllMyBuckets"))

    assert not more_privileged(target=fn, than=dev)


def test_a_not_resource_deny_leaves_in_what_it_exempts():
    """dev may use S3 on its team's bucket only (Allow s3:* on *, Deny s3:* NotResource the
    bucket: a data-perimeter guard). A role that reads that bucket has no more than dev, but
    the NotResource Deny is recorded as leaving out "*", which every scoped grant overlaps."""
    bucket = ["arn:aws:s3:::team-a", "arn:aws:s3:::team-a/*"]
    dev = perms(
        DEV,
        allow(["s3:*", "lambda:*"]),
        {"Effect": "Deny", "Action": "s3:*", "NotResource": bucket},
    )
    fn = perms(FN_ROLE, allow("s3:GetObject", "arn:aws:s3:::team-a/*"))

    assert not more_privileged(target=fn, than=dev)
    assert methods({DEV: dev, FN_ROLE: fn}, trust={FN_ROLE: LAMBDA_TRUST}) == {}
    # Beyond the exempted bucket a target has more: another bucket, every bucket, and
    # s3:ListAllMyBuckets (requested on "*", which the Deny does not exempt).
    for grant in [
        allow("s3:GetObject", "arn:aws:s3:::team-b/*"),
        allow("s3:GetObject"),
        allow("s3:ListAllMyBuckets"),
    ]:
        assert more_privileged(target=perms(FN_ROLE, grant), than=dev), grant
    kept = {"Effect": "Deny", "Action": "s3:*", "NotResource": bucket}
    assert not more_privileged(target=perms(FN_ROLE, allow("s3:*"), kept), than=dev)
    # Kept to a bucket, dev has no more than a role with S3 everywhere.
    assert not more_privileged(target=dev, than=perms(FN_ROLE, allow(["s3:*", "lambda:*"])))


SELF_SERVICE = allow(
    ["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:UpdateLoginProfile", "iam:GetUser"], SELF
)


def test_a_deny_on_its_own_user_is_not_another_users_own_user():
    """A helpdesk user may manage every user's keys and passwords but not its own (Deny iam:*
    on user/${aws:username}). alice has AWS's manage-your-own-credentials grant on *her* user.
    `${aws:username}` reads as "the principal itself" on both sides, so alice's grant was
    seen to overlap what helpdesk's Deny leaves out: every self-service user became a target
    of CreateAccessKey (old: none)."""
    helpdesk = perms(
        DEV,
        allow(
            ["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:UpdateLoginProfile", "iam:GetUser"]
        ),
        deny("iam:*", SELF),
    )
    alice = perms(ALICE, SELF_SERVICE)

    assert not more_privileged(target=alice, than=helpdesk)
    assert "CreateAccessKey" not in methods({DEV: helpdesk, ALICE: alice})


# --- detection -----------------------------------------------------------------------------


def sso_admin(documents) -> Principal:
    name = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
    return principal(f"{IAM}:role/aws-reserved/sso.amazonaws.com/{name}", documents, is_sso=True)


def findings(principals, **kw) -> list:
    ev = Evidence(ACCOUNT, NOW, [], principals, [], {}, [], set(), set(), **kw)
    return list(CHECKS_BY_ID["privilege-escalation"].run(ev=ev, t=Thresholds()))


def test_an_sso_admin_cannot_take_off_its_permission_sets_deny():
    """An AdministratorAccess permission set with an inline guard (Deny * on the security
    role). IAM refuses any change to a role IAM Identity Center made ("Cannot perform the
    operation on the protected role ... this role is only modifiable by AWS"): the role cannot
    delete its inline policy. The administrator branch reports DeleteOwnRolePolicyWithDeny
    (high) for every such role; before, administrators were skipped."""
    role = sso_admin(
        [
            ("AdministratorAccess", "managed", {"Statement": [allow("*")]}),
            (
                "AwsSSOInlinePolicy",
                "inline",
                {"Statement": [deny("*", f"{IAM}:role/security-audit")]},
            ),
        ]
    )
    assert findings([role]) == []


ECS_TRUST = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
}


def test_ecs_exec_does_not_reach_the_task_execution_role():
    """Every ECS account has ecsTaskExecutionRole (AWS's AmazonECSTaskExecutionRolePolicy),
    trusted by ecs-tasks.amazonaws.com like a task role. The agent uses it to pull the image
    and ship logs; a shell opened by ecs:ExecuteCommand has the *task* role's credentials
    only. A developer allowed ExecuteCommand was reported reaching it (high)."""
    execution = f"{IAM}:role/ecsTaskExecutionRole"
    exec_role = perms(
        execution,
        allow(
            [
                "ecr:GetAuthorizationToken",
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ]
        ),
    )
    dev = perms(DEV, allow(["ecs:ExecuteCommand", "ecs:Describe*", "ecs:List*"]))

    found = methods({DEV: dev, execution: exec_role}, trust={execution: ECS_TRUST})
    assert "ExecIntoExistingEcsTask" not in found
    # Only a role with nothing but the execution policy's actions is left out: a task role
    # with S3, or an execution role also reading secrets, is reached.
    task = f"{IAM}:role/app-task"
    reads_secrets = perms(
        execution,
        allow(["ecr:BatchGetImage", "secretsmanager:GetSecretValue", *ECS_EXEC_CHANNELS]),
    )
    task_role = perms(task, allow(["s3:GetObject", *ECS_EXEC_CHANNELS]))
    principals = {DEV: dev, task: task_role, execution: reads_secrets}
    found = methods(principals, trust={task: ECS_TRUST, execution: ECS_TRUST})
    assert found["ExecIntoExistingEcsTask"].targets == (task, execution)


ECS_EXEC_CHANNELS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]


def test_ecs_exec_reaches_only_task_roles_allowing_the_session_channels():
    """ECS Exec opens an SSM Session Manager channel from the task: its task role must allow
    the four ssmmessages channel actions (on "*"), or `execute-command` cannot connect. On the
    demo data no task role allowed them (DynamoDB, SQS, logs, secrets reads), and 53 findings
    gained a method that cannot work."""
    task = f"{IAM}:role/app-task"
    dev = perms(DEV, allow("ecs:ExecuteCommand"))
    trust = {task: ECS_TRUST}

    no_channels = perms(task, allow("*"), deny("ssmmessages:*"))
    assert "ExecIntoExistingEcsTask" not in methods({DEV: dev, task: no_channels}, trust=trust)
    reads = perms(task, allow(["dynamodb:GetItem", "sqs:ReceiveMessage", "logs:PutLogEvents"]))
    assert "ExecIntoExistingEcsTask" not in methods({DEV: dev, task: reads}, trust=trust)
    # Three of the four are not enough; a boundary without them takes them away.
    three = perms(task, allow(["dynamodb:GetItem", *ECS_EXEC_CHANNELS[:3]]))
    assert "ExecIntoExistingEcsTask" not in methods({DEV: dev, task: three}, trust=trust)
    bounded = perms(task, allow("*"), boundary=[allow("dynamodb:*")])
    assert "ExecIntoExistingEcsTask" not in methods({DEV: dev, task: bounded}, trust=trust)
    # Only on a named resource is not on "*".
    named = perms(task, allow("dynamodb:GetItem"), allow(ECS_EXEC_CHANNELS, f"{IAM}:role/x"))
    assert "ExecIntoExistingEcsTask" not in methods({DEV: dev, task: named}, trust=trust)

    admin = perms(task, allow("*"))
    assert methods({DEV: dev, task: admin}, trust=trust)["ExecIntoExistingEcsTask"].targets == (
        task,
    )
    with_channels = perms(task, allow(["dynamodb:GetItem", *ECS_EXEC_CHANNELS]))
    found = methods({DEV: dev, task: with_channels}, trust=trust)
    assert found["ExecIntoExistingEcsTask"].targets == (task,)


def test_a_group_policy_reaches_a_member_whose_credentials_the_user_controls():
    """A user-admin (not in `deployers`) may put the group's policy and reset its members'
    passwords: it writes the group an admin policy and logs in as a member. The commit counts a
    group policy only for the user's own groups, and CreateAccessKey only for members with more
    access now: nothing is reported (old: PutGroupPolicy, critical)."""
    deployers = f"{IAM}:group/deployers"
    admin = perms(
        DEV,
        allow("s3:GetObject"),
        allow(["iam:PutGroupPolicy", "iam:UpdateLoginProfile"], [deployers, f"{IAM}:user/*"]),
    )
    bob = f"{IAM}:user/bob"
    account = Account(
        account_id=ACCOUNT,
        principals={DEV: admin, bob: perms(bob, allow("s3:GetObject"))},
        groups={deployers: perms(deployers, allow("s3:GetObject"))},
        group_members={deployers: ("bob",)},
    )
    found = {m.method for m in escalation_methods(principal_arn=DEV, account=account)}
    assert found, "no method: the group-policy-then-take-over-a-member chain is missed"


# --- what the fixes keep -------------------------------------------------------------------


def test_a_deny_on_a_bucket_leaves_out_the_bucket_actions_not_the_object_ones():
    """The Deny's resource types: on the payroll bucket it takes s3:ListBucket there (a role
    listing it has more), not s3:GetObject on its objects; on `payroll/*`, the reverse."""
    bucket = perms(DEV, allow(["s3:*", "lambda:*"]), deny("s3:*", "arn:aws:s3:::payroll"))
    objects = perms(DEV, allow(["s3:*", "lambda:*"]), deny("s3:*", "arn:aws:s3:::payroll/*"))
    lists = perms(FN_ROLE, allow("s3:ListBucket", "arn:aws:s3:::payroll"))
    reads = perms(FN_ROLE, allow("s3:GetObject", "arn:aws:s3:::payroll/*"))

    assert more_privileged(target=lists, than=bucket)
    assert not more_privileged(target=reads, than=bucket)
    assert more_privileged(target=reads, than=objects)
    assert not more_privileged(target=lists, than=objects)
    assert not more_privileged(target=perms(FN_ROLE, allow("s3:ListAllMyBuckets")), than=objects)


def test_a_deny_on_its_own_user_leaves_out_nothing_others_give_back():
    """helpdesk is denied its own credentials: a user whose grant names helpdesk's user, or a
    peer helpdesk user (denied only its own), may manage them, but that gives helpdesk back
    only its own user's credentials, whose access it has: neither is more privileged. A Deny
    of another user beside it still counts: a target managing that user has more."""
    helpdesk = perms(DEV, allow(["iam:CreateAccessKey", "iam:GetUser"]), deny("iam:*", SELF))
    names_dev = perms(ALICE, allow("iam:CreateAccessKey", DEV))
    peer = perms(ALICE, allow(["iam:CreateAccessKey", "iam:GetUser"]), deny("iam:*", SELF))

    assert not more_privileged(target=names_dev, than=helpdesk)
    assert not more_privileged(target=peer, than=helpdesk)
    assert not more_privileged(target=helpdesk, than=helpdesk)
    root_admin = f"{IAM}:user/root-admin"
    guarded = perms(
        DEV,
        allow(["iam:CreateAccessKey", "iam:GetUser"]),
        deny("iam:*", [SELF, root_admin]),
    )
    manages_root_admin = perms(ALICE, allow("iam:CreateAccessKey", root_admin))
    assert more_privileged(target=manages_root_admin, than=guarded)
    assert more_privileged(target=peer, than=guarded)
    assert not more_privileged(target=names_dev, than=guarded)


def sso_role(documents) -> Principal:
    return replace(sso_admin(documents), name="AWSReservedSSO_Dev_0123456789abcdef")


def test_no_policy_of_an_identity_center_role_comes_off_admin_or_not():
    """A non-administrator permission set may delete its own inline policy (iam:* on its own
    role) beside a Deny: IAM refuses, the role is AWS's. The same role outside Identity Center
    is reported."""
    documents = [
        ("Dev", "inline", {"Statement": [allow(["s3:*", "iam:DeleteRolePolicy"])]}),
        ("Guard", "inline", {"Statement": [deny("s3:DeleteBucket")]}),
    ]
    role = sso_role(documents)
    assert findings([role]) == []
    plain = replace(role, is_sso=False, arn=f"{IAM}:role/{role.name}")
    (finding,) = findings([plain])
    assert [m["method"] for m in finding.evidence["methods"]] == ["DeleteOwnRolePolicyWithDeny"]


def test_no_one_writes_a_policy_on_an_identity_center_role():
    """A policy put on or attached to a protected role, or its trust changed, is refused."""
    admin = f"{IAM}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
    writes = allow(
        ["iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"],
        f"{IAM}:role/aws-reserved/*",
    )
    principals = {DEV: perms(DEV, writes), admin: perms(admin, allow("*"))}

    assert methods(principals) != {}
    assert methods(principals, protected=frozenset({admin})) == {}


def attacher(policy_arn, document, resource=SELF, others=()) -> list:
    """dev may attach only `policy_arn`, which the ops role has (in use), to itself (or to
    `resource`); `others`: further principals of the account."""
    attach = allow("iam:AttachUserPolicy", resource, {"ArnEquals": {"iam:PolicyARN": policy_arn}})
    dev = principal(DEV, [("dev", "inline", {"Statement": [allow("s3:GetObject"), attach]})])
    ops = principal(f"{IAM}:role/ops", [(policy_arn.rpartition("/")[2], "managed", document)])
    return findings([dev, ops, *others], policies_in_use=frozenset({policy_arn}))


def test_attaching_one_approved_policy_is_named_and_critical_only_for_an_administrators():
    ec2_read = "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"
    (finding,) = [
        f
        for f in attacher(ec2_read, {"Statement": [allow("ec2:Describe*")]})
        if f.resource_arn == DEV
    ]
    assert finding.severity == "high"
    assert "AmazonEC2ReadOnlyAccess" in finding.severity_reason
    assert finding.evidence["methods"][0]["attaches_only"] == [ec2_read]

    ops_admin = f"{IAM}:policy/ops-admin"
    (finding,) = [
        f for f in attacher(ops_admin, {"Statement": [allow("*")]}) if f.resource_arn == DEV
    ]
    assert finding.severity is None  # the check's default, critical
    assert "ops-admin" in finding.severity_reason and "administrator" in finding.severity_reason


def test_a_group_policy_reaches_no_member_the_user_cannot_sign_in_as():
    """Credentials of a user outside the group, or only its own, are no way into the group."""
    deployers = f"{IAM}:group/deployers"
    carol = f"{IAM}:user/carol"

    def found(*statements) -> set[str]:
        account = Account(
            account_id=ACCOUNT,
            principals={
                DEV: perms(DEV, allow("iam:PutGroupPolicy", deployers), *statements),
                carol: perms(carol),
                f"{IAM}:user/bob": perms(f"{IAM}:user/bob"),
            },
            groups={deployers: perms(deployers, allow("s3:GetObject"))},
            group_members={deployers: ("bob",)},
        )
        return {m.method for m in escalation_methods(principal_arn=DEV, account=account)}

    assert found() == set()
    assert found(allow("iam:CreateAccessKey", [carol, SELF])) == set()
    assert found(allow("iam:CreateLoginProfile", f"{IAM}:user/bob")) == {"PutGroupPolicy"}


# --- the work an in-use policy's attachment costs (counted, not timed) ---------------------


def ci_account(roles: int, condition: dict) -> Account:
    """A CI role may attach policies to the `app-` roles under a condition; each app role has
    one of five in-use customer policies, each giving more than the CI role has."""
    ci = f"{IAM}:role/ci"
    policies = [f"{IAM}:policy/App-{k}" for k in range(5)]
    principals = {ci: perms(ci, allow("iam:AttachRolePolicy", f"{IAM}:role/app-*", condition))}
    for n in range(roles):
        arn = f"{IAM}:role/app-{n:03}"
        document = {"Statement": [allow("s3:GetObject", f"arn:aws:s3:::bucket-{n % 5}/*")]}
        principals[arn] = effective_permissions(
            principal_arn=arn,
            principal_name=arn.rpartition("/")[2],
            policies=[Policy(f"App-{n % 5}", "managed", document, policies[n % 5])],
        )
    return Account(
        account_id=ACCOUNT,
        principals=principals,
        policies_in_use=frozenset(policies),
        customer_policies=tuple(policies),
    )


def in_use_policies_weighed(monkeypatch, roles: int, condition: dict) -> int:
    """How many condition checks of a request naming an in-use App policy the CI role's
    methods make."""
    weighed = []
    admits = escalation_requests.condition_admits

    def counting(*, statement, request):
        if any(v and "App-" in v for v in request[POLICY_ARN_KEY]):
            weighed.append(1)
        return admits(statement=statement, request=request)

    monkeypatch.setattr(escalation_requests, "condition_admits", counting)
    account = ci_account(roles, condition)
    found = escalation_methods(principal_arn=f"{IAM}:role/ci", account=account)
    assert [m.method for m in found] == ["AttachRolePolicy"]
    assert len(found[0].targets) == roles
    return len(weighed)


def test_an_in_use_policy_is_weighed_once_per_grant_not_once_per_target(monkeypatch):
    """The CI role's one grant names every `app-` role: whether it admits each in-use policy
    was asked again for every role, the square of the roles across CI roles."""
    approved = {"ArnLike": {"iam:PolicyARN": f"{IAM}:policy/App-*"}}
    few = in_use_policies_weighed(monkeypatch, 10, approved)
    many = in_use_policies_weighed(monkeypatch, 40, approved)
    assert few == many > 0


def test_a_grant_no_condition_of_which_names_a_policy_weighs_no_in_use_policy(monkeypatch):
    """A boundary condition admits no attachment whatever policy it names: the in-use policies
    giving more (one `more_privileged` each) are not worked out."""
    asked = []
    monkeypatch.setattr(
        Account, "policies_granting_more", lambda self, perms: asked.append(1) or ()
    )
    bounded = {"StringEquals": {"iam:PermissionsBoundary": f"{IAM}:policy/DevBoundary"}}
    account = ci_account(10, bounded)
    assert escalation_methods(principal_arn=f"{IAM}:role/ci", account=account) == []
    assert asked == []


# --- review of ef28117 -----------------------------------------------------------------------

ADMIN_OPS = f"{IAM}:role/admin-ops"
ACCOUNT_TRUST = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    ]
}


def test_a_deny_on_a_role_arn_leaves_out_sts_assume_role():
    """sts:AssumeRole is requested on an *iam* ARN (role/...): reading only the action
    prefixes equal to the ARN's service field, a Deny of sts:AssumeRole on role/admin* left
    out nothing and dev was taken to assume every role. A Lambda function dev may edit whose
    role may assume admin-ops was then no more than dev (parent: reported)."""
    dev = perms(
        DEV,
        allow(["lambda:UpdateFunctionCode", "lambda:GetFunction", "sts:AssumeRole", "logs:*"]),
        deny("sts:AssumeRole", "arn:aws:iam::*:role/admin*"),
    )
    fn = perms(FN_ROLE, allow("logs:PutLogEvents"), allow("sts:AssumeRole", ADMIN_OPS))
    account = Account(
        account_id=ACCOUNT,
        principals={DEV: dev, FN_ROLE: fn, ADMIN_OPS: perms(ADMIN_OPS, allow("*"))},
        trust={FN_ROLE: LAMBDA_TRUST, ADMIN_OPS: ACCOUNT_TRUST},
    )
    found = {m.method for m in escalation_methods(principal_arn=DEV, account=account)}
    assert "EditExistingLambdaFunctionWithRole" in found
    assert actions_on(
        actions_=frozenset({"sts:assumerole"}), pattern="arn:aws:iam::*:role/admin*"
    ) == {"sts:assumerole"}


def test_a_deny_on_an_instance_leaves_out_ssm_start_session():
    """The same for ssm:StartSession / ec2-instance-connect on an ec2 instance ARN, and for
    an action the database does not know whose service's actions are requested on one."""
    pattern = "arn:aws:ec2:*:*:instance/i-0prod*"
    wanted = frozenset({"ssm:startsession", "ec2-instance-connect:sendsshpublickey"})
    assert actions_on(actions_=wanted, pattern=pattern) == wanted
    unknown = frozenset({"ssm:somefutureaction", "logs:somefutureaction"})
    assert actions_on(actions_=unknown, pattern=pattern) == {"ssm:somefutureaction"}


def test_an_account_wildcard_in_a_role_deny_leaves_out_no_user_action():
    """`arn:aws:iam::*:role/OrganizationAccountAccessRole` names no user, but the Deny's `*`
    (account) took ":user/..." and the user format's name placeholder took
    ":role/OrganizationAccountAccessRole" (names never hold ':'), so every user action was
    left out. A helpdesk user under that common guard then found a peer support user with the
    same credential grant "more privileged"."""
    guard = deny("*", "arn:aws:iam::*:role/OrganizationAccountAccessRole")
    credentials = ["iam:CreateAccessKey", "iam:UpdateLoginProfile", "iam:GetUser"]
    helpdesk = perms(DEV, allow(credentials), guard)
    support = perms(f"{IAM}:user/support", allow(credentials))
    assert not more_privileged(target=support, than=helpdesk)
    assert (
        actions_on(actions_=frozenset({"iam:createaccesskey"}), pattern=guard["Resource"]) == set()
    )
    # Where names do hold a ':' (an object's key, a log group's `NAME:*`, a function's
    # qualifier), they still meet.
    assert actions_on(
        actions_=frozenset({"s3:getobject"}), pattern="arn:aws:s3:::payroll/2024:q1/*"
    ) == {"s3:getobject"}
    assert actions_on(
        actions_=frozenset({"logs:deleteloggroup"}),
        pattern="arn:aws:logs:*:*:log-group:/aws/lambda/fn:*",
    ) == {"logs:deleteloggroup"}
    assert actions_on(
        actions_=frozenset({"lambda:invokefunction"}),
        pattern="arn:aws:lambda:*:*:function:fn:*",
    ) == {"lambda:invokefunction"}


def test_helpdesk_peers_are_no_escalation_of_each_other():
    """Every helpdesk user may manage others' credentials, not its own (Deny on
    user/${aws:username}). Each peer was "more privileged" than each other helpdesk user (it
    may manage *my* user): N helpdesk users gave N high findings of N-1 targets, though taking
    over a peer only gives back the credentials of my own user, whose access I have."""
    group = {
        "Statement": [
            allow(
                ["iam:CreateAccessKey", "iam:UpdateLoginProfile", "iam:GetUser", "iam:ListUsers"]
            ),
            deny("iam:*", SELF),
        ]
    }
    users = [principal(f"{IAM}:user/hd{n}", [("helpdesk", "inline", group)]) for n in range(3)]
    assert findings(users) == []


def test_a_customer_role_named_like_identity_center_is_not_protected():
    """IAM protects the roles Identity Center creates, under /aws-reserved/sso.amazonaws.com/.
    A customer's own role named AWSReservedSSO_... at path / was taken as unmodifiable: a
    policy written on it was not reported (and a role so named hid an escalation)."""
    record = role_record("AWSReservedSSO_Admin_0123abcd")  # path "/"
    admin = replace(
        sso_admin([("AdministratorAccess", "managed", {"Statement": [allow("*")]})]),
        arn=record.arn,
        name=record.name,
        is_sso=record.is_sso,
    )
    writes = [allow("iam:PutRolePolicy", record.arn), allow("sts:AssumeRole", record.arn)]
    dev = principal(DEV, [("dev", "inline", {"Statement": writes})])
    found = [f for f in findings([dev, admin]) if f.resource_arn == DEV]
    assert found, "PutRolePolicy on a customer role named AWSReservedSSO_ is missed"


def test_attaching_an_approved_iam_admin_policy_is_critical():
    """An approved in-use customer policy allowing iam:* on * makes its holder an
    administrator in one step (it attaches itself AdministratorAccess), as IAMFullAccess does
    (one of the three broad policies tried first, critical). `makes_administrator` asked only
    `is_admin` (* on *): rated high, "no administrator's"."""
    iam_admin = f"{IAM}:policy/iam-admin"
    (finding,) = [
        f for f in attacher(iam_admin, {"Statement": [allow("iam:*")]}) if f.resource_arn == DEV
    ]
    assert finding.severity is None, finding.severity_reason  # critical
    assert "makes an administrator" in finding.severity_reason
    # A policy writing only a new version of itself does too; one reading IAM does not.
    versions = {"Statement": [allow("iam:CreatePolicyVersion", iam_admin)]}
    (finding,) = [f for f in attacher(iam_admin, versions) if f.resource_arn == DEV]
    assert finding.severity is None, finding.severity_reason
    (finding,) = [
        f
        for f in attacher(iam_admin, {"Statement": [allow(["iam:Get*", "iam:List*"])]})
        if f.resource_arn == DEV
    ]
    assert finding.severity == "high"


def test_a_not_resource_deny_on_a_tag_variable_confines_to_nothing():
    """An ABAC data perimeter: Deny s3:* NotResource the bucket named by the principal's team
    tag. The pattern may name any bucket, so it was dropped from the NotResource list, which
    left the action confined to no resource at all: the principal was read as having no S3,
    and every role with any S3 grant was "more privileged"."""
    bucket = "arn:aws:s3:::${aws:PrincipalTag/team}-data"
    dev = perms(
        DEV,
        allow(["s3:*", "lambda:*"]),
        {"Effect": "Deny", "Action": "s3:*", "NotResource": [bucket, bucket + "/*"]},
    )
    assert frozenset() not in dev.confined
    fn = perms(FN_ROLE, allow("s3:GetObject", "arn:aws:s3:::team-a-data/*"))
    assert not more_privileged(target=fn, than=dev)


def admin_user(name: str) -> Principal:
    return principal(
        f"{IAM}:user/{name}", [("AdministratorAccess", "managed", {"Statement": [allow("*")]})]
    )


def test_attaching_an_approved_read_only_policy_to_any_user_is_high_beside_administrators():
    """dev may attach to any user (`user/*`) only ApprovedReadOnly (s3:Get*, s3:List*,
    ec2:Describe*, in use). With administrators in the account it was rated critical, "which
    makes an administrator": `makes_administrator` held for targets already administrators,
    to whom a read-only policy gives nothing. The attachment must be what makes one."""
    approved = f"{IAM}:policy/ApprovedReadOnly"
    read_only = {"Statement": [allow(["s3:Get*", "s3:List*", "ec2:Describe*"])]}
    admins = (admin_user("root-ops"), admin_user("breakglass"))

    def severity(resource, others=()):
        (finding,) = [
            f for f in attacher(approved, read_only, resource, others) if f.resource_arn == DEV
        ]
        return finding.severity, finding.severity_reason

    assert severity(SELF) == (
        "high",
        "Can attach ApprovedReadOnly, in use and giving more access, no administrator's",
    )
    assert severity(f"{IAM}:user/*")[0] == "high"
    level, reason = severity(f"{IAM}:user/*", admins)
    assert level == "high", reason
    assert "makes an administrator" not in reason
    # An approved copy of IAMFullAccess on any user is still critical with administrators
    # about: dev, one of its targets, becomes one.
    iam_admin = f"{IAM}:policy/iam-admin"
    (finding,) = [
        f
        for f in attacher(iam_admin, {"Statement": [allow("iam:*")]}, f"{IAM}:user/*", admins)
        if f.resource_arn == DEV
    ]
    assert finding.severity is None, finding.severity_reason  # critical
    assert "makes an administrator" in finding.severity_reason
