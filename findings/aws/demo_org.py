"""A simulated AWS Organization inside moto's in-process AWS, for the product demo and for tests.

Call both functions inside an active ``moto.mock_aws()`` context. ``build_demo_organization``
creates what an administrator would create in real AWS, with boto3: the organization and its
member accounts, then users, groups, roles and policies in each account (the management account
with the caller's own credentials, members through ``OrganizationAccountAccessRole``), and the
read-only role the collectors assume. Only what AWS records by itself - when something was
created and when a credential was last used - is set on moto's backend objects, through the
attributes moto documents as settable (getmoto/moto#5927, #6859).

What moto 5.2 cannot represent: the root user. Its credential report has no ``<root_account>``
row and GetAccountSummary always reports ``AccountMFAEnabled=0`` and
``AccountAccessKeysPresent=0``, so root access keys and root MFA cannot be simulated here; root
rows have to come from an imported credential-report file.

moto does not implement IAM Access Analyzer, so ``access_analyzer_findings_document`` writes what
``aws accessanalyzer get-finding-v2`` would print for the organization as built, ready for the
file-import path. It reads the live simulated accounts (through the collectors' own role), so
every ARN and access key id in it is real.

No Django here. moto is imported inside the functions: whether moto loads AWS-managed policies
depends on the environment when its IAM backends are created, and importing this module must
not start that.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

DEFAULT_MEMBER_ROLE_NAME = "IAMReviewReadOnly"
ORGANIZATION_ACCESS_ROLE_NAME = "OrganizationAccountAccessRole"  # moto makes it in each member
DEFAULT_REGIONS = ("us-east-1", "eu-west-1")
COMPANY = "acme"
# AWS's documentation example accounts: outside the organization, owned by nobody real.
OUTSIDE_ACCOUNT_IDS = ("444455556666", "777788889999")
UNUSED_AFTER = timedelta(days=90)  # Access Analyzer's default unused-access age
POLICY_VERSION = "2012-10-17"


# --- Public API ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoAccount:
    account_id: str
    name: str  # as Organizations ListAccounts reports it (moto names the management "master")
    role_arn: str  # the read-only role to assume in this account


@dataclass(frozen=True)
class DemoOrganization:
    management_account_id: str
    management_role_arn: str  # may also call organizations:ListAccounts/DescribeOrganization
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
    now = _as_utc(now)
    rng = random.Random(seed)
    _seed_moto_identifiers(seed)
    regions = DEFAULT_REGIONS
    # One boto3 session for every client: each new session would load the service models again.
    aws = boto3.session.Session(region_name=regions[0])
    organizations = aws.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    management_id = organizations.describe_organization()["Organization"]["MasterAccountId"]
    member_ids = [_create_member_account(organizations, plan=plan) for plan in MEMBER_ACCOUNT_PLANS]
    names_by_id = {account["Id"]: account["Name"] for account in _list_accounts(organizations)}
    external_id = f"iamreview-demo-{rng.getrandbits(64):016x}"
    person_names = _PersonNames(rng)

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


def access_analyzer_findings_document(
    *, organization: DemoOrganization, seed: int = 7, now: datetime | None = None
) -> dict[str, list[dict]]:
    """Per account id, the GetFindingV2 outputs an organization analyzer would report.

    JSON-serializable, timestamps as ISO 8601 strings, the way the AWS CLI prints them.
    """
    now = _as_utc(now)
    aws = boto3.session.Session(region_name=organization.regions[0])
    snapshots = [
        _read_account(aws, organization=organization, account=account)
        for account in organization.accounts
    ]
    org_account_ids = {account.account_id for account in organization.accounts}
    document = {}
    for index, snapshot in enumerate(snapshots):
        neighbour = snapshots[(index + 1) % len(snapshots)]
        document[snapshot.account_id] = _FindingsWriter(
            snapshot=snapshot,
            neighbour=neighbour,
            org_account_ids=org_account_ids,
            regions=organization.regions,
            rng=random.Random(f"{seed}:{snapshot.account_id}"),
            now=now,
        ).findings()
    return document


# --- What the organization holds ----------------------------------------------------------------


@dataclass(frozen=True)
class _AccountPlan:
    name: str
    slug: str
    weight: float  # relative size: how many users and roles this account gets


MANAGEMENT_ACCOUNT_PLAN = _AccountPlan("Management", "management", 0.5)
MEMBER_ACCOUNT_PLANS = (
    _AccountPlan("Production", "production", 1.2),
    _AccountPlan("Staging", "staging", 1.0),
    _AccountPlan("Data Platform", "data-platform", 1.0),
    _AccountPlan("Sandbox", "sandbox", 0.8),
)

# Users per account of weight 1.0, by what a reviewer should notice about them.
USER_MIX = (
    ("console_with_mfa", 8),
    ("console_without_mfa", 4),
    ("stale_key", 4),  # last used more than 90 days ago
    ("never_used_old_key", 3),  # active, never used, created more than 45 days ago
    ("two_active_keys", 2),
    ("unrotated_key", 3),  # in use, but created more than 90 days ago
    ("new_hire", 2),  # created within 14 days, key not used yet: grace period
    ("inactive", 4),  # neither password nor key used for more than 90 days
    ("service", 5),  # CI and integrations, key used yesterday
    ("deactivated_key", 1),
)

# Roles per account of weight 1.0; service-linked and SSO roles come on top.
ROLE_MIX = (
    ("recently_used", 28),
    ("unused_over_a_year", 10),
    ("untracked", 8),  # no last use within the tracking window, created two years ago
    ("wildcard_inline", 2),  # inline "Action": "*" on "Resource": "*"
    ("s3_wildcard", 4),
    ("admin_attached", 2),
    ("third_party", 1),  # trusts an account outside the organization, with an ExternalId
)

FIRST_NAMES = (
    "ada", "alan", "amara", "anders", "aisha", "bruno", "camila", "chen", "chloe", "dario",
    "dmitri", "elena", "emeka", "farah", "felix", "grace", "hana", "hugo", "ines", "ivan",
    "jamal", "jonas", "julia", "kai", "kenji", "lara", "leon", "lucia", "maya", "mateo",
    "nadia", "nils", "noor", "oscar", "priya", "quentin", "rosa", "ravi", "sara", "sofia",
    "tariq", "theo", "uma", "valentina", "wei", "xavier", "yara", "yusuf", "zoe", "zainab",
)  # fmt: skip
LAST_NAMES = (
    "abbott", "alvarez", "bauer", "bianchi", "castro", "chowdhury", "dubois", "eriksen",
    "fischer", "garcia", "haddad", "hansen", "ibrahim", "ito", "jansen", "kowalski", "kumar",
    "larsen", "lopez", "martin", "mensah", "moreau", "nakamura", "novak", "okafor", "olsen",
    "patel", "petrov", "quinn", "rossi", "santos", "schmidt", "silva", "singh", "tanaka",
    "thompson", "tran", "urbina", "varga", "vogel", "walsh", "weber", "xu", "yamamoto",
    "yilmaz", "zhang", "ziegler", "osei", "lindqvist", "moreno",
)  # fmt: skip
# (path, group) of a department's people.
DEPARTMENTS = (
    ("/engineering/", "Developers"),
    ("/engineering/", "Developers"),
    ("/engineering/", "Developers"),
    ("/data/", "DataEngineers"),
    ("/data/", "DataEngineers"),
    ("/platform/", "Administrators"),
    ("/security/", "ReadOnly"),
    ("/finance/", "Billing"),
    ("/support/", "ReadOnly"),
    ("/contractors/", "Developers"),
)
# (user name, path, service its key calls)
SERVICE_USERS = (
    ("github-actions-deploy", "/ci/", "ecr"),
    ("jenkins-build", "/ci/", "s3"),
    ("terraform-ci", "/ci/", "iam"),
    ("circleci-release", "/ci/", "lambda"),
    ("gitlab-runner", "/ci/", "ecs"),
    ("argo-cd-sync", "/ci/", "eks"),
    ("datadog-metrics", "/service/", "cloudwatch"),
    ("backup-agent", "/service/", "s3"),
    ("snowflake-loader", "/service/", "s3"),
    ("sentry-sourcemaps", "/service/", "s3"),
    ("pagerduty-events", "/service/", "sns"),
    ("airflow-scheduler", "/service/", "glue"),
)
# (application, owning team)
APPLICATIONS = (
    ("checkout", "payments"), ("orders", "fulfilment"), ("payments", "payments"),
    ("inventory", "fulfilment"), ("search", "discovery"), ("catalog", "discovery"),
    ("notifications", "platform"), ("billing", "finance-eng"), ("auth", "identity"),
    ("recommendations", "discovery"), ("analytics", "data"), ("reporting", "data"),
    ("shipping", "fulfilment"), ("pricing", "payments"), ("fraud-detection", "risk"),
    ("user-profile", "identity"), ("media", "content"), ("ledger", "finance-eng"),
    ("etl", "data"), ("support-portal", "customer-care"),
)  # fmt: skip
# (role name suffix, service principal that assumes it)
WORKLOADS = (
    ("api-task", "ecs-tasks.amazonaws.com"),
    ("worker-lambda", "lambda.amazonaws.com"),
    ("ec2", "ec2.amazonaws.com"),
    ("batch-job", "ecs-tasks.amazonaws.com"),
    ("stream-lambda", "lambda.amazonaws.com"),
    ("cron-lambda", "lambda.amazonaws.com"),
    ("ecs-task", "ecs-tasks.amazonaws.com"),
    ("glue-job", "glue.amazonaws.com"),
    ("step-functions", "states.amazonaws.com"),
    ("codebuild", "codebuild.amazonaws.com"),
)
# (service principal, role name as AWS names it, whether moto's CreateServiceLinkedRole
# produces that name: it only title-cases a few services)
SERVICE_LINKED_ROLES = (
    ("autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling", True),
    ("elasticloadbalancing.amazonaws.com", "AWSServiceRoleForElasticLoadBalancing", False),
    ("rds.amazonaws.com", "AWSServiceRoleForRDS", False),
    ("ecs.amazonaws.com", "AWSServiceRoleForECS", False),
    ("organizations.amazonaws.com", "AWSServiceRoleForOrganizations", False),
    ("support.amazonaws.com", "AWSServiceRoleForSupport", False),
    ("trustedadvisor.amazonaws.com", "AWSServiceRoleForTrustedAdvisor", False),
    ("sso.amazonaws.com", "AWSServiceRoleForSSO", False),
    ("guardduty.amazonaws.com", "AWSServiceRoleForAmazonGuardDuty", False),
)
SSO_PERMISSION_SETS = (
    "AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess", "DataScientist", "Billing",
    "SecurityAudit",
)  # fmt: skip
WILDCARD_ROLE_NAMES = (
    "break-glass-admin", "ops-superuser", "terraform-bootstrap", "legacy-jenkins-admin",
    "vendor-migration-admin",
)  # fmt: skip
S3_WILDCARD_ROLE_NAMES = (
    "data-lake-loader", "backup-s3-sync", "log-archive-writer", "media-transcoder",
    "analytics-export", "cdn-origin-sync",
)  # fmt: skip
ADMIN_ROLE_NAMES = (
    "deployment-pipeline", "platform-admin", "cloudformation-deployer", "incident-responder",
)  # fmt: skip
THIRD_PARTY_ROLES = (
    ("observability-vendor-integration", OUTSIDE_ACCOUNT_IDS[0]),
    ("security-scanner-readonly", OUTSIDE_ACCOUNT_IDS[1]),
)
# What the collectors call (AWS_NOTES section 5); the management account adds org discovery.
COLLECTOR_ACTIONS = (
    "iam:GenerateCredentialReport", "iam:GetCredentialReport",
    "iam:GetAccountAuthorizationDetails", "iam:GetRole",
    "iam:GenerateServiceLastAccessedDetails", "iam:GetServiceLastAccessedDetails",
    "iam:ListAccountAliases", "access-analyzer:ListAnalyzers", "access-analyzer:GetAnalyzer",
    "access-analyzer:ListFindings", "access-analyzer:GetFinding",
    "access-analyzer:ListArchiveRules",
)  # fmt: skip
ORGANIZATION_DISCOVERY_ACTIONS = (
    "organizations:ListAccounts",
    "organizations:DescribeOrganization",
)


# --- Building one account -----------------------------------------------------------------------


@dataclass(frozen=True)
class _KeyPlan:
    created: datetime
    last_used: datetime | None = None
    service: str = "s3"
    active: bool = True


class _AccountBuilder:
    def __init__(
        self,
        *,
        iam: Any,
        plan: _AccountPlan,
        account_id: str,
        management_account_id: str,
        member_role_name: str,
        external_id: str,
        rng: random.Random,
        now: datetime,
        scale: float,
        regions: tuple[str, ...],
        person_names: _PersonNames,
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
        self.regions = regions
        self.person_names = person_names
        self.backend = _iam_backend(account_id)
        self.is_management = account_id == management_account_id
        self.role_names: set[str] = set()
        self.workloads = [(app, suffix) for app in APPLICATIONS for suffix in WORKLOADS]
        rng.shuffle(self.workloads)

    def build(self) -> None:
        self.iam.create_account_alias(AccountAlias=f"{COMPANY}-{self.plan.slug}")
        self._create_collector_role()
        self._create_policies()
        self._create_groups()
        for kind, base in USER_MIX:
            for _ in range(self._count(base)):
                getattr(self, f"_user_{kind}")()
        for kind, base in ROLE_MIX:
            for _ in range(self._count(base)):
                getattr(self, f"_role_{kind}")()
        self._create_service_linked_roles()
        self._create_sso_roles()
        self._settle_organization_access_role()

    def _count(self, base: int) -> int:
        return max(1, round(base * self.plan.weight * self.scale))

    def _days_ago(self, low: float, high: float) -> datetime:
        return self.now - timedelta(seconds=self.rng.randint(int(low * 86400), int(high * 86400)))

    def _region(self) -> str:
        return self.rng.choice(self.regions)

    # Policies and groups

    def _create_collector_role(self) -> None:
        actions = list(COLLECTOR_ACTIONS)
        if self.is_management:
            actions += ORGANIZATION_DISCOVERY_ACTIONS
        self._create_role(
            name=self.member_role_name,
            trust=_account_trust(self.management_account_id, external_id=self.external_id),
            created=self._days_ago(20, 40),
            description="iamreview: read-only collection of IAM data",
            inline={"IAMReviewCollect": _allow(actions, "*")},
        )

    def _create_policies(self) -> None:
        self.admin_policy_arn = self._aws_managed_or_own(
            "AdministratorAccess", own_name="LegacyAdmin", document=_allow("*", "*")
        )
        self.read_only_policy_arn = self._aws_managed_or_own(
            "ReadOnlyAccess",
            own_name="LegacyReadOnly",
            document=_allow(["*:Describe*", "*:Get*", "*:List*"], "*"),
        )
        self.logs_policy_arn = self._create_policy(
            "AppLogsWrite",
            _allow(
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                f"arn:aws:logs:*:{self.account_id}:log-group:/app/*",
            ),
        )
        self.secrets_policy_arn = self._create_policy(
            "AppSecretsRead",
            _allow(
                ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                f"arn:aws:secretsmanager:*:{self.account_id}:secret:app/*",
            ),
        )
        self.developer_policy_arn = self._create_policy(
            "DeveloperAccess",
            _allow(
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
        policy.create_date = policy.update_date = _naive(self._days_ago(900, 2000))
        for version in policy.versions:
            version.create_date = policy.create_date
        return arn

    def _create_groups(self) -> None:
        groups = {
            "Administrators": ([self.admin_policy_arn], {}),
            "Developers": ([self.developer_policy_arn, self.logs_policy_arn], {}),
            "DataEngineers": (
                [self.read_only_policy_arn],
                {
                    "DataLakeAccess": _allow(
                        ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "athena:*", "glue:*"],
                        [
                            f"arn:aws:s3:::{COMPANY}-{self.plan.slug}-data-lake",
                            f"arn:aws:s3:::{COMPANY}-{self.plan.slug}-data-lake/*",
                        ],
                    )
                },
            ),
            "ReadOnly": ([self.read_only_policy_arn], {}),
            "Billing": ([], {"BillingConsole": _allow(["aws-portal:*", "ce:*", "budgets:*"], "*")}),
        }
        for name, (managed, inline) in groups.items():
            self.iam.create_group(GroupName=name, Path="/")
            for arn in managed:
                self.iam.attach_group_policy(GroupName=name, PolicyArn=arn)
            for policy_name, document in inline.items():
                self.iam.put_group_policy(
                    GroupName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
                )
            self.backend.get_group(name).create_date = _naive(self._days_ago(900, 2000))

    # Users, one method per kind in USER_MIX

    def _person(self, *, created: datetime, **kwargs: Any) -> None:
        path, group = self.rng.choice(DEPARTMENTS)
        self._create_user(
            name=self.person_names.next(), path=path, groups=[group], created=created, **kwargs
        )

    def _user_console_with_mfa(self) -> None:
        created = self._days_ago(200, 1500)
        keys = []
        if self.rng.random() < 0.5:
            keys.append(_KeyPlan(created=self._days_ago(10, 80), last_used=self._days_ago(0, 5)))
        self._person(
            created=created, console=True, mfa=True, password_used=self._days_ago(0, 20), keys=keys
        )

    def _user_console_without_mfa(self) -> None:
        self._person(
            created=self._days_ago(100, 900), console=True, password_used=self._days_ago(1, 40)
        )

    def _user_stale_key(self) -> None:
        key = _KeyPlan(created=self._days_ago(400, 1000), last_used=self._days_ago(95, 390))
        self._person(created=self._days_ago(1000, 1200), keys=[key])

    def _user_never_used_old_key(self) -> None:
        key = _KeyPlan(created=self._days_ago(46, 400))
        self._person(created=self._days_ago(400, 700), keys=[key])

    def _user_two_active_keys(self) -> None:
        keys = [
            _KeyPlan(created=self._days_ago(150, 600), last_used=self._days_ago(1, 30)),
            _KeyPlan(created=self._days_ago(10, 60), last_used=self._days_ago(0, 3)),
        ]
        self._person(
            created=self._days_ago(600, 900),
            console=True,
            mfa=True,
            password_used=self._days_ago(0, 10),
            keys=keys,
        )

    def _user_unrotated_key(self) -> None:
        key = _KeyPlan(created=self._days_ago(120, 900), last_used=self._days_ago(0, 6))
        self._person(created=self._days_ago(900, 1200), keys=[key])

    def _user_new_hire(self) -> None:
        created = self._days_ago(1, 13)
        key = _KeyPlan(created=created + timedelta(minutes=self.rng.randint(5, 90)))
        self._person(created=created, console=True, keys=[key])

    def _user_inactive(self) -> None:
        key = _KeyPlan(created=self._days_ago(400, 900), last_used=self._days_ago(100, 390))
        self._person(
            created=self._days_ago(900, 1500),
            console=True,
            password_used=self._days_ago(120, 600),
            keys=[key],
        )

    def _user_service(self) -> None:
        base_name, path, service = self.rng.choice(SERVICE_USERS)
        name = base_name
        while name in self.backend.users:
            name = f"{base_name}-{self.rng.randint(2, 99)}"
        key = _KeyPlan(
            created=self._days_ago(20, 80),
            last_used=self.now - timedelta(days=1, minutes=self.rng.randint(0, 600)),
            service=service,
        )
        self._create_user(name=name, path=path, created=self._days_ago(100, 900), keys=[key])

    def _user_deactivated_key(self) -> None:
        key = _KeyPlan(
            created=self._days_ago(400, 700), last_used=self._days_ago(150, 390), active=False
        )
        self._person(
            created=self._days_ago(700, 1000),
            console=True,
            mfa=True,
            password_used=self._days_ago(0, 30),
            keys=[key],
        )

    def _create_user(
        self,
        *,
        name: str,
        path: str,
        created: datetime,
        groups: Sequence[str] = (),
        console: bool = False,
        mfa: bool = False,
        password_used: datetime | None = None,
        keys: Sequence[_KeyPlan] = (),
    ) -> None:
        self.iam.create_user(UserName=name, Path=path)
        for group in groups:
            self.iam.add_user_to_group(GroupName=group, UserName=name)
        if console:
            password = "Demo-" + "".join(self.rng.choices(string.ascii_letters, k=16)) + "-9"
            self.iam.create_login_profile(UserName=name, Password=password)
        if mfa:
            device = self.iam.create_virtual_mfa_device(VirtualMFADeviceName=name)
            self.iam.enable_mfa_device(
                UserName=name,
                SerialNumber=device["VirtualMFADevice"]["SerialNumber"],
                AuthenticationCode1="123456",
                AuthenticationCode2="654321",
            )
        user = self.backend.get_user(name)
        user.create_date = _naive(created)
        if password_used:
            user.password_last_used = _naive(password_used)
        for plan in keys:
            key_id = self.iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
            if not plan.active:
                self.iam.update_access_key(UserName=name, AccessKeyId=key_id, Status="Inactive")
            self._record_key_usage(user, key_id, plan)

    def _record_key_usage(self, user: Any, key_id: str, plan: _KeyPlan) -> None:
        from moto.iam.models import AccessKeyLastUsed

        key = next(key for key in user.access_keys if key.access_key_id == key_id)
        key.create_date = _naive(plan.created)
        if plan.last_used:
            key.last_used = AccessKeyLastUsed(
                timestamp=_naive(plan.last_used), service=plan.service, region=self._region()
            )

    # Roles, one method per kind in ROLE_MIX

    def _application_role(
        self, *, created: datetime, last_used: datetime | None, prefix: str = ""
    ) -> None:
        (app, team), (suffix, principal) = self.workloads.pop()
        region = self._region()
        tables = f"arn:aws:dynamodb:{region}:{self.account_id}:table/{app}-*"
        queues = f"arn:aws:sqs:{region}:{self.account_id}:{app}-*"
        document = {
            "Version": POLICY_VERSION,
            "Statement": [
                _statement(
                    ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                     "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                    tables,
                ),
                _statement(
                    ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"], queues
                ),
            ],
        }  # fmt: skip
        managed = [self.logs_policy_arn]
        if self.rng.random() < 0.5:
            managed.append(self.secrets_policy_arn)
        self._create_role(
            name=self._unique_role_name(f"{prefix}{app}-{suffix}"),
            trust=_service_trust(principal),
            created=created,
            last_used=last_used,
            tags={"app": app, "team": team, "env": self.plan.slug},
            inline={f"{app}-data": document},
            managed=managed,
        )

    def _role_recently_used(self) -> None:
        self._application_role(created=self._days_ago(30, 900), last_used=self._days_ago(0, 7))

    def _role_unused_over_a_year(self) -> None:
        prefix = self.rng.choice(("", "", "legacy-", "poc-"))
        self._application_role(
            created=self._days_ago(460, 1500),
            last_used=self._days_ago(13 * 30.4, 15 * 30.4),
            prefix=prefix,
        )

    def _role_untracked(self) -> None:
        self._application_role(created=self._days_ago(700, 760), last_used=None)

    def _sometimes_used(self) -> datetime | None:
        return self._days_ago(0, 7) if self.rng.random() < 0.7 else self._days_ago(100, 300)

    def _role_wildcard_inline(self) -> None:
        self._create_role(
            name=self._unique_role_name(self.rng.choice(WILDCARD_ROLE_NAMES)),
            trust=_account_trust(self.account_id),
            created=self._days_ago(300, 1400),
            last_used=self._sometimes_used(),
            inline={"FullAccess": _allow("*", "*")},
        )

    def _role_s3_wildcard(self) -> None:
        purpose = self.rng.choice(("logs", "media", "backups", "exports"))
        bucket = f"arn:aws:s3:::{COMPANY}-{self.plan.slug}-{purpose}"
        resource = self.rng.choice(("*", [bucket, f"{bucket}/*"]))
        self._create_role(
            name=self._unique_role_name(self.rng.choice(S3_WILDCARD_ROLE_NAMES)),
            trust=_service_trust(self.rng.choice(("ec2.amazonaws.com", "lambda.amazonaws.com"))),
            created=self._days_ago(320, 1200),
            last_used=self._sometimes_used(),
            tags={"team": "platform"},
            inline={"S3FullAccess": _allow("s3:*", resource)},
        )

    def _role_admin_attached(self) -> None:
        self._create_role(
            name=self._unique_role_name(self.rng.choice(ADMIN_ROLE_NAMES)),
            trust=_service_trust(
                self.rng.choice(("codebuild.amazonaws.com", "cloudformation.amazonaws.com"))
            ),
            created=self._days_ago(300, 1400),
            last_used=self._sometimes_used(),
            managed=[self.admin_policy_arn],
        )

    def _role_third_party(self) -> None:
        name, outside_account = self.rng.choice(THIRD_PARTY_ROLES)
        self._create_role(
            name=self._unique_role_name(name),
            trust=_account_trust(outside_account, external_id=f"{self.rng.getrandbits(48):012x}"),
            created=self._days_ago(200, 800),
            last_used=self.now - timedelta(hours=self.rng.randint(1, 30)),
            tags={"vendor": "true"},
            managed=[self.read_only_policy_arn],
        )

    def _create_service_linked_roles(self) -> None:
        count = max(1, round(len(SERVICE_LINKED_ROLES) * self.scale))
        for service, name, moto_names_it in SERVICE_LINKED_ROLES[:count]:
            if moto_names_it:
                self.iam.create_service_linked_role(AWSServiceName=service)
            else:
                self.iam.create_role(
                    RoleName=name,
                    Path=f"/aws-service-role/{service}/",
                    AssumeRolePolicyDocument=json.dumps(_service_trust(service)),
                )
            used = self._days_ago(0, 3) if self.rng.random() < 0.7 else None
            self._record_role_usage(name, created=self._days_ago(300, 1500), last_used=used)

    def _create_sso_roles(self) -> None:
        count = max(1, round(len(SSO_PERMISSION_SETS) * self.scale))
        provider = f"AWSSSO_{self.rng.getrandbits(64):016x}_DO_NOT_DELETE"
        for permission_set in SSO_PERMISSION_SETS[:count]:
            managed, inline = [], {}
            if permission_set == "AdministratorAccess":
                managed = [self.admin_policy_arn]
            elif permission_set in {"ReadOnlyAccess", "SecurityAudit"}:
                managed = [self.read_only_policy_arn]
            else:
                inline = {"AwsSSOInlinePolicy": _allow(["s3:*", "athena:*", "ce:*"], "*")}
            self._create_role(
                name=f"AWSReservedSSO_{permission_set}_{self.rng.getrandbits(64):016x}",
                path="/aws-reserved/sso.amazonaws.com/",
                trust=_sso_trust(self.account_id, provider),
                created=self._days_ago(300, 900),
                last_used=self._days_ago(0, 2) if self.rng.random() < 0.6 else None,
                managed=managed,
                inline=inline,
            )

    def _settle_organization_access_role(self) -> None:
        """moto stamps the role we just worked through with the wall clock: make it follow now."""
        if not self.is_management:
            self._record_role_usage(
                ORGANIZATION_ACCESS_ROLE_NAME,
                created=self._days_ago(1500, 2500),
                last_used=self.now - timedelta(hours=2),
            )

    def _unique_role_name(self, name: str) -> str:
        candidate = name
        while candidate in self.role_names:
            candidate = f"{name}-{self.rng.randint(2, 99)}"
        self.role_names.add(candidate)
        return candidate

    def _create_role(
        self,
        *,
        name: str,
        trust: dict,
        created: datetime,
        last_used: datetime | None = None,
        path: str = "/",
        description: str = "",
        tags: dict[str, str] | None = None,
        inline: dict[str, dict] | None = None,
        managed: Sequence[str] = (),
    ) -> None:
        self.role_names.add(name)
        self.iam.create_role(
            RoleName=name,
            Path=path,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description=description,
            Tags=[{"Key": key, "Value": value} for key, value in (tags or {}).items()],
        )
        for policy_name, document in (inline or {}).items():
            self.iam.put_role_policy(
                RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
            )
        for arn in managed:
            self.iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        self._record_role_usage(name, created=created, last_used=last_used)

    def _record_role_usage(
        self, name: str, *, created: datetime, last_used: datetime | None
    ) -> None:
        role = self.backend.get_role(name)
        role.create_date = _naive(created)
        role.last_used = _naive(last_used) if last_used else None
        role.last_used_region = self._region() if last_used else None


class _PersonNames:
    """first.last names, unique across the organization, in a seed-determined order."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def next(self) -> str:
        while True:
            name = f"{self.rng.choice(FIRST_NAMES)}.{self.rng.choice(LAST_NAMES)}"
            if name not in self.used:
                self.used.add(name)
                return name


# --- Organizations and sessions -----------------------------------------------------------------


def _create_member_account(organizations: Any, *, plan: _AccountPlan) -> str:
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
    return _assume_role(
        aws,
        _role_arn(account_id, ORGANIZATION_ACCESS_ROLE_NAME),
        session_name="iamreview-demo-setup",
    )


def _assume_role(
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


def _seed_moto_identifiers(seed: int) -> None:
    """Account ids, role ids and access key ids come from moto's seedable random source."""
    from moto.moto_api._internal import mock_random

    mock_random.seed(seed)


# --- Policy documents ---------------------------------------------------------------------------


def _statement(actions: str | list[str], resources: str | list[str]) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def _allow(actions: str | list[str], resources: str | list[str]) -> dict:
    return {"Version": POLICY_VERSION, "Statement": [_statement(actions, resources)]}


def _service_trust(principal: str) -> dict:
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}
        ],
    }


def _account_trust(account_id: str, *, external_id: str | None = None) -> dict:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": POLICY_VERSION, "Statement": [statement]}


def _sso_trust(account_id: str, provider: str) -> dict:
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{account_id}:saml-provider/{provider}"},
                "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
            }
        ],
    }


def _role_arn(account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


# --- Reading an account back, for the findings document ------------------------------------------


@dataclass(frozen=True)
class _AccessKey:
    user_name: str
    access_key_id: str
    active: bool
    created: datetime
    last_used: datetime | None


@dataclass(frozen=True)
class _AccountSnapshot:
    account_id: str
    alias: str
    roles: list[dict]  # GAAD RoleDetailList
    keys: list[_AccessKey]
    credential_rows: list[dict[str, str]]


def _read_account(
    aws: boto3.session.Session, *, organization: DemoOrganization, account: DemoAccount
) -> _AccountSnapshot:
    """What an unused-access analyzer would look at, read through the collectors' own role."""
    credentials = _assume_role(
        aws,
        account.role_arn,
        session_name="iamreview-demo-findings",
        external_id=organization.external_id,
    )
    iam = aws.client("iam", **credentials)
    roles, users = [], []
    for page in iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Role"]
    ):
        roles += page["RoleDetailList"]
        users += page["UserDetailList"]
    keys = []
    for user in users:
        for metadata in iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]:
            last_used = iam.get_access_key_last_used(AccessKeyId=metadata["AccessKeyId"])
            keys.append(
                _AccessKey(
                    user_name=user["UserName"],
                    access_key_id=metadata["AccessKeyId"],
                    active=metadata["Status"] == "Active",
                    created=_as_utc(metadata["CreateDate"]),
                    last_used=_optional_utc(last_used["AccessKeyLastUsed"].get("LastUsedDate")),
                )
            )
    iam.generate_credential_report()
    report = iam.get_credential_report()["Content"].decode()
    aliases = iam.list_account_aliases()["AccountAliases"]
    return _AccountSnapshot(
        account_id=account.account_id,
        alias=aliases[0] if aliases else account.account_id,
        roles=roles,
        keys=keys,
        credential_rows=list(csv.DictReader(io.StringIO(report))),
    )


# --- Writing findings ---------------------------------------------------------------------------

# Actions an Access Analyzer recommendation typically lists as unused, per service.
UNUSED_ACTIONS = {
    "s3": ["DeleteBucket", "PutBucketPolicy", "PutBucketAcl", "DeleteObjectVersion"],
    "iam": ["CreateAccessKey", "AttachRolePolicy", "PutRolePolicy", "DeleteRole"],
    "ec2": ["TerminateInstances", "ModifyInstanceAttribute", "CreateSnapshot"],
    "kms": ["ScheduleKeyDeletion", "CreateGrant", "Decrypt"],
    "rds": ["DeleteDBInstance", "ModifyDBInstance"],
    "organizations": [],
    "cloudtrail": [],
}


class _FindingsWriter:
    def __init__(
        self,
        *,
        snapshot: _AccountSnapshot,
        neighbour: _AccountSnapshot,
        org_account_ids: set[str],
        regions: tuple[str, ...],
        rng: random.Random,
        now: datetime,
    ):
        self.snapshot = snapshot
        self.neighbour = neighbour
        self.org_account_ids = org_account_ids
        self.regions = regions
        self.rng = rng
        self.now = now
        self.analyzed_at = now - timedelta(minutes=rng.randint(5, 240))
        self.analyzer_created = now - timedelta(days=180)
        self.items: list[dict] = []

    def findings(self) -> list[dict]:
        self._public_buckets()
        self._outside_trusts()
        self._shared_kms_key()
        self._internal_access()
        self._unused_roles()
        self._unused_access_keys()
        self._unused_passwords()
        self._unused_permissions()
        self._resolved()
        return self.items

    @property
    def account_id(self) -> str:
        return self.snapshot.account_id

    def _add(
        self,
        *,
        resource: str,
        resource_type: str,
        finding_type: str,
        details: list[dict],
        created: datetime,
        status: str | None = None,
    ) -> None:
        if status is None:
            status = "ARCHIVED" if self.rng.random() < 0.1 else "ACTIVE"
        created = min(max(created, self.analyzer_created), self.analyzed_at - timedelta(hours=1))
        updated = self.analyzed_at
        if status == "ARCHIVED":
            updated = created + (self.analyzed_at - created) * self.rng.uniform(0.1, 0.9)
        self.items.append(
            {
                "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "analyzedAt": _iso(self.analyzed_at),
                "createdAt": _iso(created),
                "updatedAt": _iso(updated),
                "resource": resource,
                "resourceType": resource_type,
                "resourceOwnerAccount": self.account_id,
                "status": status,
                "findingType": finding_type,
                "findingDetails": details,
            }
        )

    def _since(self, last_used: datetime | None, created: datetime) -> datetime:
        """When access became unused: the threshold after the last use, or after creation."""
        return (last_used or created) + UNUSED_AFTER

    # External and internal access

    def _public_buckets(self) -> None:
        for suffix, status in (("public-assets", "ACTIVE"), ("static-website", "ARCHIVED")):
            self._add(
                resource=f"arn:aws:s3:::{self.snapshot.alias}-{suffix}",
                resource_type="AWS::S3::Bucket",
                finding_type="ExternalAccess",
                details=[
                    {
                        "externalAccessDetails": {
                            "action": ["s3:GetObject"],
                            "condition": {},
                            "isPublic": True,
                            "principal": {"AWS": "*"},
                            "sources": [{"type": "POLICY"}],
                        }
                    }
                ],
                created=self.now - timedelta(days=self.rng.randint(20, 170)),
                status=status,
            )

    def _outside_trusts(self) -> None:
        for role in self.snapshot.roles:
            for statement in _statements(role["AssumeRolePolicyDocument"]):
                for principal in _as_list(statement.get("Principal", {}).get("AWS", [])):
                    account = _account_of(principal)
                    if account is None or account in self.org_account_ids:
                        continue
                    condition = {
                        key.lower(): str(value)
                        for values in statement.get("Condition", {}).values()
                        for key, value in values.items()
                    }
                    self._add(
                        resource=role["Arn"],
                        resource_type="AWS::IAM::Role",
                        finding_type="ExternalAccess",
                        details=[
                            {
                                "externalAccessDetails": {
                                    "action": ["sts:AssumeRole"],
                                    "condition": condition,
                                    "isPublic": False,
                                    "principal": {"AWS": principal},
                                    "sources": [{"type": "POLICY"}],
                                }
                            }
                        ],
                        created=_as_utc(role["CreateDate"]),
                        status="ACTIVE",
                    )

    def _shared_kms_key(self) -> None:
        key_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        self._add(
            resource=f"arn:aws:kms:{self.regions[0]}:{self.account_id}:key/{key_id}",
            resource_type="AWS::KMS::Key",
            finding_type="ExternalAccess",
            details=[
                {
                    "externalAccessDetails": {
                        "action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
                        "condition": {},
                        "isPublic": False,
                        "principal": {"AWS": f"arn:aws:iam::{OUTSIDE_ACCOUNT_IDS[1]}:root"},
                        "sources": [{"type": "POLICY"}],
                    }
                }
            ],
            created=self.now - timedelta(days=self.rng.randint(10, 120)),
            status="ACTIVE",
        )

    def _internal_access(self) -> None:
        neighbour_roles = _application_roles(self.neighbour.roles)
        if neighbour_roles and self.neighbour.account_id != self.account_id:
            principal = self.rng.choice(neighbour_roles)
            self._add(
                resource=f"arn:aws:s3:::{self.snapshot.alias}-data-lake",
                resource_type="AWS::S3::Bucket",
                finding_type="InternalAccess",
                details=[
                    {
                        "internalAccessDetails": {
                            "action": ["s3:GetObject", "s3:ListBucket"],
                            "condition": {},
                            "principal": {"AWS": principal["Arn"]},
                            "principalOwnerAccount": self.neighbour.account_id,
                            "accessType": "INTRA_ORG",
                            "principalType": "IAM_ROLE",
                            "sources": [{"type": "POLICY"}],
                            "resourceControlPolicyRestriction": "NOT_APPLICABLE",
                            "serviceControlPolicyRestriction": "NOT_APPLICABLE",
                        }
                    }
                ],
                created=self.now - timedelta(days=self.rng.randint(5, 90)),
            )
        own_roles = _application_roles(self.snapshot.roles)
        if own_roles:
            role = self.rng.choice(own_roles)
            app = _tags(role)["app"]
            self._add(
                resource=f"arn:aws:dynamodb:{self.regions[0]}:{self.account_id}:table/{app}-events",
                resource_type="AWS::DynamoDB::Table",
                finding_type="InternalAccess",
                details=[
                    {
                        "internalAccessDetails": {
                            "action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
                            "condition": {},
                            "principal": {"AWS": role["Arn"]},
                            "principalOwnerAccount": self.account_id,
                            "accessType": "INTRA_ACCOUNT",
                            "principalType": "IAM_ROLE",
                            "sources": [{"type": "POLICY"}],
                        }
                    }
                ],
                created=self.now - timedelta(days=self.rng.randint(5, 90)),
            )

    # Unused access

    def _unused_roles(self) -> None:
        # Access Analyzer leaves service-linked roles out of unused-access findings.
        unused = [
            role
            for role in self.snapshot.roles
            if not role["Path"].startswith("/aws-service-role/")
            and self._is_unused(_role_last_used(role), _as_utc(role["CreateDate"]))
        ]
        for role in self._some(unused, 10):
            last_used = _role_last_used(role)
            self._add(
                resource=role["Arn"],
                resource_type="AWS::IAM::Role",
                finding_type="UnusedIAMRole",
                details=[{"unusedIamRoleDetails": _last_accessed(last_used)}],
                created=self._since(last_used, _as_utc(role["CreateDate"])),
            )

    def _unused_access_keys(self) -> None:
        unused = [
            key
            for key in self.snapshot.keys
            if key.active and self._is_unused(key.last_used, key.created)
        ]
        for key in self._some(unused, 8):
            self._add(
                resource=self._user_arn(key.user_name),
                resource_type="AWS::IAM::User",
                finding_type="UnusedIAMUserAccessKey",
                details=[
                    {
                        "unusedIamUserAccessKeyDetails": {
                            "accessKeyId": key.access_key_id,
                            **_last_accessed(key.last_used),
                        }
                    }
                ],
                created=self._since(key.last_used, key.created),
            )

    def _unused_passwords(self) -> None:
        unused = []
        for row in self.snapshot.credential_rows:
            if row["password_enabled"].lower() != "true":
                continue
            last_used = _report_date(row["password_last_used"])
            created = _report_date(row["user_creation_time"]) or self.now
            if self._is_unused(last_used, created):
                unused.append((row, last_used, created))
        for row, last_used, created in self._some(unused, 6):
            self._add(
                resource=row["arn"],
                resource_type="AWS::IAM::User",
                finding_type="UnusedIAMUserPassword",
                details=[{"unusedIamUserPasswordDetails": _last_accessed(last_used)}],
                created=self._since(last_used, created),
            )

    def _unused_permissions(self) -> None:
        used_recently = [
            role
            for role in self.snapshot.roles
            if role.get("RolePolicyList")
            and not role["Path"].startswith("/aws-")
            and not self._is_unused(_role_last_used(role), _as_utc(role["CreateDate"]))
        ]
        for role in self._some(used_recently, 5):
            details = self._unused_permission_details(role)
            if details:
                self._add(
                    resource=role["Arn"],
                    resource_type="AWS::IAM::Role",
                    finding_type="UnusedPermission",
                    details=details,
                    created=self.now - timedelta(days=self.rng.randint(3, 60)),
                )

    def _unused_permission_details(self, role: dict) -> list[dict]:
        """Unused services and actions, drawn from what the role's inline policies grant."""
        granted: dict[str, list[str]] = {}
        for policy in role["RolePolicyList"]:
            for statement in _statements(policy["PolicyDocument"]):
                for action in _as_list(statement.get("Action", [])):
                    if action == "*":
                        for service in self.rng.sample(sorted(UNUSED_ACTIONS), 3):
                            granted.setdefault(service, []).extend(UNUSED_ACTIONS[service])
                        continue
                    service, _, name = action.partition(":")
                    if name == "*":
                        granted.setdefault(service, []).extend(UNUSED_ACTIONS.get(service, []))
                    elif self.rng.random() < 0.4:
                        granted.setdefault(service, []).append(name)
        details = []
        for service, actions in sorted(granted.items()):
            entry: dict[str, Any] = {"serviceNamespace": service}
            unused_actions = []
            for action in sorted(set(actions)):
                item: dict[str, Any] = {"action": action}
                if self.rng.random() < 0.3:
                    item["lastAccessed"] = _iso(
                        self.now - timedelta(days=self.rng.randint(95, 380))
                    )
                unused_actions.append(item)
            if unused_actions:
                entry["actions"] = unused_actions
                accessed = [
                    item["lastAccessed"] for item in unused_actions if "lastAccessed" in item
                ]
                if accessed:
                    entry["lastAccessed"] = max(accessed)
            details.append({"unusedPermissionDetails": entry})
        return details

    def _resolved(self) -> None:
        """Findings for what was since cleaned up; AWS keeps these for 90 days after update."""
        app, _team = self.rng.choice(APPLICATIONS)
        deleted_role = f"arn:aws:iam::{self.account_id}:role/decommissioned-{app}-ec2"
        self._add_resolved(
            resource=deleted_role,
            finding_type="UnusedIAMRole",
            details=[{"unusedIamRoleDetails": {}}],
            resource_type="AWS::IAM::Role",
        )
        if self.snapshot.keys:
            user_name = self.rng.choice(self.snapshot.keys).user_name
            rotated_key = "AKIA" + "".join(
                self.rng.choices(string.ascii_uppercase + "234567", k=16)
            )
            last_used = self.now - timedelta(days=self.rng.randint(200, 400))
            self._add_resolved(
                resource=self._user_arn(user_name),
                finding_type="UnusedIAMUserAccessKey",
                details=[
                    {
                        "unusedIamUserAccessKeyDetails": {
                            "accessKeyId": rotated_key,
                            "lastAccessed": _iso(last_used),
                        }
                    }
                ],
                resource_type="AWS::IAM::User",
            )

    def _add_resolved(
        self, *, resource: str, finding_type: str, details: list[dict], resource_type: str
    ) -> None:
        updated = self.now - timedelta(days=self.rng.randint(5, 80), hours=self.rng.randint(0, 23))
        created = updated - timedelta(days=self.rng.randint(10, 120))
        self.items.append(
            {
                "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "analyzedAt": _iso(updated),
                "createdAt": _iso(created),
                "updatedAt": _iso(updated),
                "resource": resource,
                "resourceType": resource_type,
                "resourceOwnerAccount": self.account_id,
                "status": "RESOLVED",
                "findingType": finding_type,
                "findingDetails": details,
            }
        )

    def _is_unused(self, last_used: datetime | None, created: datetime) -> bool:
        return self._since(last_used, created) <= self.now

    def _some(self, items: list, limit: int) -> list:
        return items if len(items) <= limit else self.rng.sample(items, limit)

    def _user_arn(self, user_name: str) -> str:
        for row in self.snapshot.credential_rows:
            if row["user"] == user_name:
                return row["arn"]
        return f"arn:aws:iam::{self.account_id}:user/{user_name}"


def _application_roles(roles: list[dict]) -> list[dict]:
    return [role for role in roles if {"app", "team"} <= _tags(role).keys()]


def _tags(role: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in role.get("Tags", [])}


def _role_last_used(role: dict) -> datetime | None:
    return _optional_utc((role.get("RoleLastUsed") or {}).get("LastUsedDate"))


def _last_accessed(value: datetime | None) -> dict[str, str]:
    return {"lastAccessed": _iso(value)} if value else {}


def _statements(document: dict | str) -> list[dict]:
    if isinstance(document, str):
        document = json.loads(document)
    return _as_list(document.get("Statement", []))


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _account_of(principal: str) -> str | None:
    match = re.fullmatch(r"(?:arn:aws[\w-]*:iam::)?(\d{12})(?::.*)?", principal)
    return match.group(1) if match else None


def _report_date(value: str) -> datetime | None:
    try:
        return _as_utc(datetime.fromisoformat(value))
    except ValueError:  # no_information, N/A, not_supported
        return None


# --- Time ---------------------------------------------------------------------------------------


def _as_utc(value: datetime | None) -> datetime:
    """Timezone-aware UTC, whole seconds; naive input is taken as UTC, None as the present."""
    if value is None:
        value = datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def _optional_utc(value: datetime | None) -> datetime | None:
    return _as_utc(value) if value else None


def _naive(value: datetime) -> datetime:
    """moto keeps naive UTC datetimes (its utcnow()); mixing in aware ones breaks comparisons."""
    return value.astimezone(UTC).replace(tzinfo=None)


def _iso(value: datetime) -> str:
    """The way the AWS CLI prints a timestamp: 2026-10-31T22:10:04+00:00."""
    return value.astimezone(UTC).isoformat(timespec="seconds")
