"""A realistic large account's GetAccountAuthorizationDetails (AWS CLI JSON), for
`import_account.py`: N users in 50 groups (most in one group carrying AWS's
manage-your-own-credentials policy; power users with NotAction; 40 team groups that may assume
their team's roles; a few administrators; one in ten under a permissions boundary) and N/4
roles (service roles for Lambda, EC2 with instance profiles and ECS; team roles trusting the
account; CI roles with PassRole on * and CreateRole under a boundary condition; SSO and
service-linked roles), with customer-managed policies attached widely."""

import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import credential_report  # noqa: E402,F401

OLD = datetime(2020, 1, 1, tzinfo=UTC)
TEAMS = 40


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


SELF_CREDS = doc(
    {
        "Sid": "ManageOwnCredentials",
        "Effect": "Allow",
        "Action": [
            "iam:*AccessKey*",
            "iam:*LoginProfile",
            "iam:ChangePassword",
            "iam:*MFADevice*",
            "iam:*SSHPublicKey*",
            "iam:*ServiceSpecificCredential*",
        ],
        "Resource": "arn:aws:iam::*:user/${aws:username}",
    },
    {
        "Sid": "ListForConsole",
        "Effect": "Allow",
        "Action": ["iam:ListUsers", "iam:GetAccountPasswordPolicy", "iam:ListVirtualMFADevices"],
        "Resource": "*",
    },
    {
        "Sid": "VirtualMFA",
        "Effect": "Allow",
        "Action": ["iam:CreateVirtualMFADevice", "iam:DeleteVirtualMFADevice"],
        "Resource": "arn:aws:iam::*:mfa/${aws:username}",
    },
)
POWER_USER = doc(
    {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
    allow(["iam:CreateServiceLinkedRole", "iam:ListRoles", "iam:GetRole"]),
)
READ_ONLY = doc(
    allow(
        ["s3:Get*", "s3:List*", "ec2:Describe*", "cloudwatch:Get*", "logs:Get*", "logs:Describe*"]
    )
)
ADMIN = doc(allow("*"))
LAMBDA_BASIC = doc(allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]))
SSM_CORE = doc(allow(["ssm:UpdateInstanceInformation", "ssmmessages:*", "ec2messages:*"]))


def boundary_doc():
    return doc(
        allow(["s3:*", "dynamodb:*", "lambda:*", "logs:*", "sqs:*", "sns:*", "cloudwatch:*"]),
        {
            "Effect": "Deny",
            "Action": [
                "iam:DeleteRolePermissionsBoundary",
                "iam:PutRolePermissionsBoundary",
                "iam:DeleteUserPermissionsBoundary",
                "iam:PutUserPermissionsBoundary",
            ],
            "Resource": "*",
        },
    )


def ci_doc(account):
    return doc(
        allow(["iam:PassRole"]),
        allow(
            ["iam:CreateRole", "iam:AttachRolePolicy", "iam:PutRolePolicy"],
            f"arn:aws:iam::{account}:role/app-*",
            Condition={
                "StringEquals": {
                    "iam:PermissionsBoundary": f"arn:aws:iam::{account}:policy/DevBoundary"
                }
            },
        ),
        allow(["lambda:*", "cloudformation:*", "ecs:*", "ec2:RunInstances", "s3:*"]),
    )


def app_doc(k, account):
    return doc(
        allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], f"arn:aws:s3:::bucket-{k}/*"),
        allow(
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
            f"arn:aws:dynamodb:us-east-1:{account}:table/table-{k}",
        ),
        allow(
            ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"],
            f"arn:aws:sqs:us-east-1:{account}:queue-{k}",
        ),
        allow(["kms:Decrypt"], "*"),
    )


def team_assume_doc(t, account):
    return doc(allow("sts:AssumeRole", f"arn:aws:iam::{account}:role/team-{t}-*"))


def authorization_details(account, users, roles, *, seed=1):
    rng = random.Random(seed)
    acc = account
    pol = lambda name: f"arn:aws:iam::{acc}:policy/{name}"  # noqa: E731
    awspol = lambda name: f"arn:aws:iam::aws:policy/{name}"  # noqa: E731

    customer = {
        "SelfManageCredentials": SELF_CREDS,
        "PowerUser": POWER_USER,
        "ReadOnlyCustom": READ_ONLY,
        "DevBoundary": boundary_doc(),
        "CIDeploy": ci_doc(acc),
        **{f"App-{k:02}": app_doc(k, acc) for k in range(20)},
        **{f"AssumeTeamRoles-{t:02}": team_assume_doc(t, acc) for t in range(TEAMS)},
    }
    aws = {
        "AdministratorAccess": ADMIN,
        "AWSLambdaBasicExecutionRole": LAMBDA_BASIC,
        "AmazonSSMManagedInstanceCore": SSM_CORE,
    }
    counts = dict.fromkeys([*customer, *aws], 0)

    def attach(names):
        out = []
        for name in names:
            counts[name] += 1
            arn = awspol(name) if name in aws else pol(name)
            out.append({"PolicyName": name, "PolicyArn": arn})
        return out

    # Groups: AllUsers (self-service creds), Admins, PowerUsers, 40 teams, 7 others = 50.
    groups = {
        "AllUsers": attach(["SelfManageCredentials"]),
        "Admins": attach(["AdministratorAccess"]),
        "PowerUsers": attach(["PowerUser"]),
        **{
            f"team-{t:02}": attach(["ReadOnlyCustom", f"AssumeTeamRoles-{t:02}"])
            for t in range(TEAMS)
        },
        **{
            name: attach(["ReadOnlyCustom"])
            for name in [
                "auditors",
                "billing",
                "support",
                "oncall",
                "security",
                "data",
                "ci-operators",
            ]
        },
    }
    group_inline = {
        "oncall": [
            {
                "PolicyName": "oncall-extra",
                "PolicyDocument": doc(allow(["ec2:RebootInstances", "ec2:StopInstances"])),
            }
        ]
    }
    user_list = []
    for n in range(users):
        name = f"user-{n:05}"
        glist = []
        if n % 10 != 0:
            glist.append("AllUsers")
        if n < 5:
            glist.append("Admins")
        elif n % 20 == 1:
            glist.append("PowerUsers")
        glist.append(f"team-{n % TEAMS:02}")
        if n % 13 == 0:
            glist.append(
                ["auditors", "billing", "support", "oncall", "security", "data", "ci-operators"][
                    n % 7
                ]
            )
        direct = []
        inline = []
        if n % 25 == 3:
            direct = attach([f"App-{n % 20:02}"])
        if n % 17 == 2:
            inline = [
                {
                    "PolicyName": "personal",
                    "PolicyDocument": doc(allow(["s3:GetObject"], f"arn:aws:s3:::home-{n}/*")),
                }
            ]
        user = {
            "Path": "/",
            "UserName": name,
            "UserId": f"AIDA{acc}{n:05}",
            "Arn": f"arn:aws:iam::{acc}:user/{name}",
            "CreateDate": OLD.isoformat(),
            "GroupList": glist,
            "UserPolicyList": inline,
            "AttachedManagedPolicies": direct,
            "Tags": [{"Key": "team", "Value": f"team-{n % TEAMS:02}"}],
        }
        if n % 10 == 7:
            user["PermissionsBoundary"] = {
                "PermissionsBoundaryType": "Policy",
                "PermissionsBoundaryArn": pol("DevBoundary"),
            }
            counts["DevBoundary"] += 0
        user_list.append(user)

    def trust_service(service):
        return doc(
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        )

    trust_root = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{acc}:root"},
            "Action": "sts:AssumeRole",
        }
    )
    role_list = []
    for n in range(roles):
        kind = n % 20
        last_used = (
            {
                "LastUsedDate": (
                    datetime.now(UTC) - timedelta(days=rng.randint(0, 500))
                ).isoformat(),
                "Region": "us-east-1",
            }
            if n % 3
            else {}
        )
        path, profiles, boundary, inline = "/", [], None, []
        if kind < 10:  # service roles
            service = ["lambda.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com"][
                n % 3
            ]
            name = f"app-{service.split('.')[0]}-{n:05}"
            trust = trust_service(service)
            attached = attach(
                [f"App-{n % 20:02}"]
                + (["AWSLambdaBasicExecutionRole"] if n % 3 == 0 else [])
                + (["AmazonSSMManagedInstanceCore"] if n % 3 == 1 else [])
            )
            if n % 3 == 1:
                profiles = [
                    {
                        "InstanceProfileName": name,
                        "Arn": f"arn:aws:iam::{acc}:instance-profile/{name}",
                        "Roles": [],
                    }
                ]
            if n % 4 == 0:
                boundary = pol("DevBoundary")
            if n % 7 == 0:
                inline = [
                    {
                        "PolicyName": "extra",
                        "PolicyDocument": doc(
                            allow(
                                ["secretsmanager:GetSecretValue"],
                                f"arn:aws:secretsmanager:us-east-1:{acc}:secret:app-{n}-*",
                            )
                        ),
                    }
                ]
        elif kind < 17:  # team roles trusting the account
            t = n % TEAMS
            job = ["dev", "ops", "read", "deploy", "data", "debug", "ro"][kind - 10]
            name = f"team-{t:02}-{job}-{n:05}"
            trust = trust_root
            attached = attach(["PowerUser"] if kind == 11 else ["ReadOnlyCustom"])
            if kind == 13 and n % 40 == 13:
                attached = attach(["AdministratorAccess"])
        elif kind == 17 and n % 60 == 17:  # a few CI roles
            name = f"ci-deploy-{n:05}"
            trust = trust_root
            attached = attach(["CIDeploy"])
        elif kind == 18 and n % 40 == 18:  # SSO roles
            path = "/aws-reserved/sso.amazonaws.com/"
            name = f"AWSReservedSSO_Dev_{n:05}"
            trust = doc(
                {
                    "Effect": "Allow",
                    "Principal": {
                        "Federated": f"arn:aws:iam::{acc}:saml-provider/AWSSSO_x_DO_NOT_DELETE"
                    },
                    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                }
            )
            attached = attach(["ReadOnlyCustom"])
        elif kind == 19 and n % 100 == 19:  # service-linked
            path = "/aws-service-role/elasticloadbalancing.amazonaws.com/"
            name = f"AWSServiceRoleForElasticLoadBalancing{n:05}"
            trust = trust_service("elasticloadbalancing.amazonaws.com")
            attached = []
        else:  # more lambda roles
            name = f"app-worker-{n:05}"
            trust = trust_service("lambda.amazonaws.com")
            attached = attach([f"App-{n % 20:02}", "AWSLambdaBasicExecutionRole"])
        role = {
            "Path": path,
            "RoleName": name,
            "RoleId": f"AROA{acc}{n:05}",
            "Arn": f"arn:aws:iam::{acc}:role{path}{name}",
            "CreateDate": OLD.isoformat(),
            "AssumeRolePolicyDocument": trust,
            "InstanceProfileList": profiles,
            "RolePolicyList": inline,
            "AttachedManagedPolicies": attached,
            "Tags": [],
            "RoleLastUsed": last_used,
        }
        if boundary:
            role["PermissionsBoundary"] = {
                "PermissionsBoundaryType": "Policy",
                "PermissionsBoundaryArn": boundary,
            }
        role_list.append(role)

    group_list = [
        {
            "Path": "/",
            "GroupName": g,
            "GroupId": f"AGPA{acc}{i:05}",
            "Arn": f"arn:aws:iam::{acc}:group/{g}",
            "CreateDate": OLD.isoformat(),
            "GroupPolicyList": group_inline.get(g, []),
            "AttachedManagedPolicies": att,
        }
        for i, (g, att) in enumerate(groups.items())
    ]

    def policy(name, document, is_aws):
        return {
            "PolicyName": name,
            "PolicyId": f"ANPA{abs(hash(name)) % 10**12:012}",
            "Arn": awspol(name) if is_aws else pol(name),
            "Path": "/",
            "DefaultVersionId": "v1",
            "AttachmentCount": counts[name],
            "PermissionsBoundaryUsageCount": 0,
            "IsAttachable": True,
            "CreateDate": OLD.isoformat(),
            "UpdateDate": OLD.isoformat(),
            "PolicyVersionList": [
                {
                    "Document": document,
                    "VersionId": "v1",
                    "IsDefaultVersion": True,
                    "CreateDate": OLD.isoformat(),
                }
            ],
        }

    policies = [policy(n, d, False) for n, d in customer.items()] + [
        policy(n, d, True) for n, d in aws.items()
    ]
    return json.dumps(
        {
            "UserDetailList": user_list,
            "GroupDetailList": group_list,
            "RoleDetailList": role_list,
            "Policies": policies,
        }
    ).encode()
