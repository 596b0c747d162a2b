"""A simulated AWS Organization inside moto's in-process AWS, for the product demo and for tests.

Call ``build_demo_organization`` inside an active ``moto.mock_aws()`` context. It creates what an
administrator would create in real AWS, with boto3: the organization and its member accounts,
then users, groups, roles and policies in each account (the management account with the caller's
own credentials, members through ``OrganizationAccountAccessRole``), and the read-only role the
collectors assume. Only what AWS records by itself - when something was created and when a
credential was last used - is set on moto's backend objects, through the attributes moto
documents as settable (getmoto/moto#5927, #6859). Which users and roles each account gets is
planned in ``findings.demo.plan``.

What moto 5.2 cannot represent: the root user. Its credential report has no ``<root_account>``
row and GetAccountSummary always reports ``AccountMFAEnabled=0`` and
``AccountAccessKeysPresent=0``, so root access keys and root MFA cannot be simulated here; root
rows have to come from an imported credential-report file.

moto does not implement IAM Access Analyzer: ``findings.demo.analyzer_findings`` writes the findings
an analyzer would report for the organization as built.

No Django here. moto is imported inside the functions: whether moto loads AWS-managed policies
depends on the environment when its IAM backends are created, and importing this module must
not start that.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from findings.demo.plan import (
    COLLECTOR_ACTIONS,
    COMPANY,
    MANAGEMENT_ACCOUNT_PLAN,
    MEMBER_ACCOUNT_PLANS,
    ORGANIZATION_DISCOVERY_ACTIONS,
    SERVICE_LINKED_ROLES,
    WORKLOAD_GUARDRAILS,
    AccountPlan,
    AccountPlanner,
    KeyPlan,
    PersonNames,
    RolePlan,
    UserPlan,
    account_trust,
    allow,
    service_trust,
)

DEFAULT_MEMBER_ROLE_NAME = "IAMReviewReadOnly"
ORGANIZATION_ACCESS_ROLE_NAME = "OrganizationAccountAccessRole"  # moto makes it in each member
DEFAULT_REGIONS = ("us-east-1", "eu-west-1")


# --- Public API ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoAccount:
    account_id: str
    name: str  # as Organizations ListAccounts reports it (moto names the management "master")
    role_arn: str  # the read-only role to assume in this account


@dataclass(frozen=True)
class DemoOrganization:
    management_account_id: str
    management_role_arn: str  # may also call organizations:ListAccounts
    member_role_name: str
    external_id: str
    accounts: tuple[DemoAccount, ...]  # the management account first
    regions: tuple[str, ...]


def build_demo_organization(
    *, seed: int = 7, now: datetime | None = None, scale: float = 1.0
) -> DemoOrganization:
    """Create the demo organization in moto. Same seed and ``now``: the same organization.

    ``scale`` shrinks every count proportionally (for fast tests); each variety of user and role
    still appears at least once per account.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    now = as_utc(now)
    rng = random.Random(seed)
    _seed_moto_identifiers(seed)
    date_simulated_credential_reports()
    regions = DEFAULT_REGIONS
    # One boto3 session for every client: each new session would load the service models again.
    aws = boto3.session.Session(region_name=regions[0])
    organizations = aws.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    management_id = organizations.describe_organization()["Organization"]["MasterAccountId"]
    member_ids = [_create_member_account(organizations, plan=plan) for plan in MEMBER_ACCOUNT_PLANS]
    names_by_id = {account["Id"]: account["Name"] for account in _list_accounts(organizations)}
    _create_guardrails(organizations, workloads=member_ids[:2])
    external_id = f"iamreview-demo-{rng.getrandbits(64):016x}"
    person_names = PersonNames(rng)

    plans = [(MANAGEMENT_ACCOUNT_PLAN, management_id, aws.client("iam"))]
    plans += [
        (plan, account_id, aws.client("iam", **_organization_access(aws, account_id)))
        for plan, account_id in zip(MEMBER_ACCOUNT_PLANS, member_ids, strict=True)
    ]
    accounts = []
    for plan, account_id, iam in plans:
        _AccountBuilder(
            iam=iam,
            plan=plan,
            account_id=account_id,
            management_account_id=management_id,
            member_role_name=DEFAULT_MEMBER_ROLE_NAME,
            external_id=external_id,
            rng=rng,
            now=now,
            scale=scale,
            regions=regions,
            person_names=person_names,
        ).build()
        accounts.append(
            DemoAccount(
                account_id=account_id,
                name=names_by_id[account_id],
                role_arn=_role_arn(account_id, DEFAULT_MEMBER_ROLE_NAME),
            )
        )
    return DemoOrganization(
        management_account_id=management_id,
        management_role_arn=_role_arn(management_id, DEFAULT_MEMBER_ROLE_NAME),
        member_role_name=DEFAULT_MEMBER_ROLE_NAME,
        external_id=external_id,
        accounts=tuple(accounts),
        regions=regions,
    )


# --- Building one account -----------------------------------------------------------------------


class _AccountBuilder:
    """Creates one account's IAM in moto, asking its planner for one user or role at a time."""

    def __init__(
        self,
        *,
        iam: Any,
        plan: AccountPlan,
        account_id: str,
        management_account_id: str,
        member_role_name: str,
        external_id: str,
        rng: random.Random,
        now: datetime,
        scale: float,
        regions: tuple[str, ...],
        person_names: PersonNames,
    ):
        self.iam = iam
        self.plan = plan
        self.account_id = account_id
        self.management_account_id = management_account_id
        self.member_role_name = member_role_name
        self.external_id = external_id
        self.rng = rng
        self.now = now
        self.scale = scale
        self.backend = _iam_backend(account_id)
        self.is_management = account_id == management_account_id
        self.policy_arns: dict[str, str] = {}  # by the policy keys plans name them with
        self.planner = AccountPlanner(
            plan=plan,
            account_id=account_id,
            rng=rng,
            now=now,
            scale=scale,
            regions=regions,
            person_names=person_names,
        )

    def build(self) -> None:
        self.iam.create_account_alias(AccountAlias=f"{COMPANY}-{self.plan.slug}")
        self._create_collector_role()
        self._create_policies()
        self._create_groups()
        # Create each plan before asking for the next: both draw from the same random source.
        for user in self.planner.users():
            self._create_user(user)
        for role in self.planner.roles():
            self._create_role(role)
        self._create_service_linked_roles()
        for role in self.planner.sso_roles():
            self._create_role(role)
        self._settle_organization_access_role()

    # Policies and groups

    def _create_collector_role(self) -> None:
        actions = list(COLLECTOR_ACTIONS)
        if self.is_management:
            actions += ORGANIZATION_DISCOVERY_ACTIONS
        self._create_role(
            RolePlan(
                name=self.member_role_name,
                trust=account_trust(self.management_account_id, external_id=self.external_id),
                created=self.planner.days_ago(20, 40),
                description="iamreview: read-only collection of IAM data",
                inline={"IAMReviewCollect": allow(actions, "*")},
            )
        )

    def _create_policies(self) -> None:
        self.policy_arns["admin"] = self._aws_managed_or_own(
            "AdministratorAccess", own_name="LegacyAdmin", document=allow("*", "*")
        )
        self.policy_arns["read_only"] = self._aws_managed_or_own(
            "ReadOnlyAccess",
            own_name="LegacyReadOnly",
            document=allow(["*:Describe*", "*:Get*", "*:List*"], "*"),
        )
        self.policy_arns["logs"] = self._create_policy(
            "AppLogsWrite",
            allow(
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                f"arn:aws:logs:*:{self.account_id}:log-group:/app/*",
            ),
        )
        self.policy_arns["secrets"] = self._create_policy(
            "AppSecretsRead",
            allow(
                ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                f"arn:aws:secretsmanager:*:{self.account_id}:secret:app/*",
            ),
        )
        self.policy_arns["developer"] = self._create_policy(
            "DeveloperAccess",
            allow(
                [
                    "ec2:Describe*", "ecs:*", "lambda:*", "logs:*", "cloudwatch:*",
                    "dynamodb:*", "sqs:*", "s3:GetObject", "s3:ListBucket",
                ],
                "*",
            ),
        )  # fmt: skip

    def _aws_managed_or_own(self, name: str, *, own_name: str, document: dict) -> str:
        """The AWS-managed policy if moto loaded them, else a customer-managed stand-in."""
        arn = f"arn:aws:iam::aws:policy/{name}"
        try:
            self.iam.get_policy(PolicyArn=arn)
        except self.iam.exceptions.NoSuchEntityException:
            return self._create_policy(own_name, document)
        return arn

    def _create_policy(self, name: str, document: dict) -> str:
        response = self.iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))
        arn = response["Policy"]["Arn"]
        policy = self.backend.managed_policies[arn]
        policy.create_date = policy.update_date = _naive(self.planner.days_ago(900, 2000))
        for version in policy.versions:
            version.create_date = policy.create_date
        return arn

    def _create_groups(self) -> None:
        groups = {
            "Administrators": ([self.policy_arns["admin"]], {}),
            "Developers": ([self.policy_arns["developer"], self.policy_arns["logs"]], {}),
            "DataEngineers": (
                [self.policy_arns["read_only"]],
                {
                    "DataLakeAccess": allow(
                        ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "athena:*", "glue:*"],
                        [
                            f"arn:aws:s3:::{COMPANY}-{self.plan.slug}-data-lake",
                            f"arn:aws:s3:::{COMPANY}-{self.plan.slug}-data-lake/*",
                        ],
                    )
                },
            ),
            "ReadOnly": ([self.policy_arns["read_only"]], {}),
            "Billing": ([], {"BillingConsole": allow(["aws-portal:*", "ce:*", "budgets:*"], "*")}),
        }
        for name, (managed, inline) in groups.items():
            self.iam.create_group(GroupName=name, Path="/")
            for arn in managed:
                self.iam.attach_group_policy(GroupName=name, PolicyArn=arn)
            for policy_name, document in inline.items():
                self.iam.put_group_policy(
                    GroupName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
                )
            self.backend.get_group(name).create_date = _naive(self.planner.days_ago(900, 2000))

    # Users and roles, as planned

    def _create_user(self, plan: UserPlan) -> None:
        name = plan.name
        self.iam.create_user(UserName=name, Path=plan.path)
        for group in plan.groups:
            self.iam.add_user_to_group(GroupName=group, UserName=name)
        if plan.console:
            password = "Demo-" + "".join(self.rng.choices(string.ascii_letters, k=16)) + "-9"
            self.iam.create_login_profile(UserName=name, Password=password)
        if plan.mfa:
            device = self.iam.create_virtual_mfa_device(VirtualMFADeviceName=name)
            self.iam.enable_mfa_device(
                UserName=name,
                SerialNumber=device["VirtualMFADevice"]["SerialNumber"],
                AuthenticationCode1="123456",
                AuthenticationCode2="654321",
            )
        user = self.backend.get_user(name)
        user.create_date = _naive(plan.created)
        if plan.password_used:
            user.password_last_used = _naive(plan.password_used)
        for key_plan in plan.keys:
            key_id = self.iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
            if not key_plan.active:
                self.iam.update_access_key(UserName=name, AccessKeyId=key_id, Status="Inactive")
            self._record_key_usage(user, key_id, key_plan)

    def _record_key_usage(self, user: Any, key_id: str, plan: KeyPlan) -> None:
        from moto.iam.models import AccessKeyLastUsed

        key = next(key for key in user.access_keys if key.access_key_id == key_id)
        key.create_date = _naive(plan.created)
        if plan.last_used:
            key.last_used = AccessKeyLastUsed(
                timestamp=_naive(plan.last_used), service=plan.service, region=self.planner.region()
            )

    def _create_role(self, plan: RolePlan) -> None:
        self.iam.create_role(
            RoleName=plan.name,
            Path=plan.path,
            AssumeRolePolicyDocument=json.dumps(plan.trust),
            Description=plan.description,
            Tags=[{"Key": key, "Value": value} for key, value in plan.tags.items()],
        )
        for policy_name, document in plan.inline.items():
            self.iam.put_role_policy(
                RoleName=plan.name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
            )
        for key in plan.managed:
            self.iam.attach_role_policy(RoleName=plan.name, PolicyArn=self.policy_arns[key])
        self._record_role_usage(plan.name, created=plan.created, last_used=plan.last_used)

    def _create_service_linked_roles(self) -> None:
        count = max(1, round(len(SERVICE_LINKED_ROLES) * self.scale))
        for service, name, moto_names_it in SERVICE_LINKED_ROLES[:count]:
            if moto_names_it:
                self.iam.create_service_linked_role(AWSServiceName=service)
            else:
                self.iam.create_role(
                    RoleName=name,
                    Path=f"/aws-service-role/{service}/",
                    AssumeRolePolicyDocument=json.dumps(service_trust(service)),
                )
            used = self.planner.days_ago(0, 3) if self.rng.random() < 0.7 else None
            self._record_role_usage(name, created=self.planner.days_ago(300, 1500), last_used=used)

    def _settle_organization_access_role(self) -> None:
        """moto stamps the role we just worked through with the wall clock: make it follow now."""
        if not self.is_management:
            self._record_role_usage(
                ORGANIZATION_ACCESS_ROLE_NAME,
                created=self.planner.days_ago(1500, 2500),
                last_used=self.now - timedelta(hours=2),
            )

    def _record_role_usage(
        self, name: str, *, created: datetime, last_used: datetime | None
    ) -> None:
        role = self.backend.get_role(name)
        role.create_date = _naive(created)
        role.last_used = _naive(last_used) if last_used else None
        role.last_used_region = self.planner.region() if last_used else None


# --- Organizations and sessions -----------------------------------------------------------------


def _create_guardrails(organizations: Any, *, workloads: list[str]) -> None:
    """Service control policies as an organization keeps them: SCPs enabled, the production
    and staging accounts in a Workloads OU whose SCP keeps policy versions to the platform
    team and the organization's own accounts in it."""
    root = organizations.list_roots()["Roots"][0]["Id"]
    organizations.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    unit = organizations.create_organizational_unit(ParentId=root, Name="Workloads")
    unit_id = unit["OrganizationalUnit"]["Id"]
    for account_id in workloads:
        organizations.move_account(
            AccountId=account_id, SourceParentId=root, DestinationParentId=unit_id
        )
    policy = organizations.create_policy(
        Content=json.dumps(WORKLOAD_GUARDRAILS),
        Description="Workload accounts stay in the organization; only the platform team "
        "changes managed policies",
        Name="WorkloadGuardrails",
        Type="SERVICE_CONTROL_POLICY",
    )
    organizations.attach_policy(PolicyId=policy["Policy"]["PolicySummary"]["Id"], TargetId=unit_id)


def _create_member_account(organizations: Any, *, plan: AccountPlan) -> str:
    status = organizations.create_account(
        Email=f"aws+{plan.slug}@{COMPANY}.example", AccountName=plan.name
    )["CreateAccountStatus"]
    # Real AWS answers IN_PROGRESS and finishes later; moto finishes at once. Bounded either way.
    for _ in range(30):
        if status["State"] == "SUCCEEDED":
            return status["AccountId"]
        if status["State"] == "FAILED":
            raise RuntimeError(f"create_account {plan.name} failed: {status.get('FailureReason')}")
        status = organizations.describe_create_account_status(CreateAccountRequestId=status["Id"])[
            "CreateAccountStatus"
        ]
    raise RuntimeError(f"create_account {plan.name} did not finish")


def _list_accounts(organizations: Any) -> list[dict]:
    pages = organizations.get_paginator("list_accounts").paginate()
    return [account for page in pages for account in page["Accounts"]]


def _organization_access(aws: boto3.session.Session, account_id: str) -> dict[str, str]:
    return assume_role(
        aws,
        _role_arn(account_id, ORGANIZATION_ACCESS_ROLE_NAME),
        session_name="iamreview-demo-setup",
    )


def assume_role(
    aws: boto3.session.Session, role_arn: str, *, session_name: str, external_id: str = ""
) -> dict[str, str]:
    """Client keyword arguments that act as the role (moto: in the role's account)."""
    extra = {"ExternalId": external_id} if external_id else {}
    credentials = aws.client("sts").assume_role(
        RoleArn=role_arn, RoleSessionName=session_name, **extra
    )["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def _iam_backend(account_id: str) -> Any:
    from moto.iam.models import iam_backends

    # moto 5.2 keys IAM backends by partition ("aws"); "global" is an alias for the same one.
    return iam_backends[account_id]["aws"]


def date_simulated_credential_reports() -> None:
    """moto answers GetCredentialReport with a GeneratedTime fixed in 2015; AWS answers when
    the report was made (at most four hours before). The demo's simulation answers the time
    of the request, so that the collection page does not call fresh data eleven years old."""
    from moto.iam.responses import IamResponse

    if getattr(IamResponse.get_credential_report, "dated_by_demo", False):
        return
    undated = IamResponse.get_credential_report

    def dated(self):
        answer = undated(self)
        answer.result["GeneratedTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return answer

    dated.dated_by_demo = True
    IamResponse.get_credential_report = dated


def _seed_moto_identifiers(seed: int) -> None:
    """Account ids, role ids and access key ids come from moto's seedable random source."""
    from moto.moto_api._internal import mock_random

    mock_random.seed(seed)


def _role_arn(account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


# --- Time ---------------------------------------------------------------------------------------


def as_utc(value: datetime | None) -> datetime:
    """Timezone-aware UTC, whole seconds; naive input is taken as UTC, None as the present."""
    if value is None:
        value = datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def _naive(value: datetime) -> datetime:
    """moto keeps naive UTC datetimes (its utcnow()); mixing in aware ones breaks comparisons."""
    return value.astimezone(UTC).replace(tzinfo=None)
