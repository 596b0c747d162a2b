"""What each account of the demo organization holds: its users and roles, and when each was used.

``AccountPlanner`` decides one user or role at a time; ``findings.demo.organization`` creates
each in moto before asking for the next. Both draw from the same seeded random source, so that
interleaving is part of what makes a seed reproducible: plans are generated lazily, never up
front.

No boto3 and no moto here: plans are plain data, with managed policies named by the account's
policy keys ("admin", "read_only", "logs", "secrets", "developer").
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

COMPANY = "acme"
# AWS's documentation example accounts: outside the organization, owned by nobody real.
OUTSIDE_ACCOUNT_IDS = ("444455556666", "777788889999")
POLICY_VERSION = "2012-10-17"


# --- What the organization holds ----------------------------------------------------------------


@dataclass(frozen=True)
class AccountPlan:
    name: str
    slug: str
    weight: float  # relative size: how many users and roles this account gets


MANAGEMENT_ACCOUNT_PLAN = AccountPlan("Management", "management", 0.5)
MEMBER_ACCOUNT_PLANS = (
    AccountPlan("Production", "production", 1.2),
    AccountPlan("Staging", "staging", 1.0),
    AccountPlan("Data Platform", "data-platform", 1.0),
    AccountPlan("Sandbox", "sandbox", 0.8),
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
# What the collectors call: deploy/policies/collector-read-only.json without the right-sizing
# actions. The management account adds organization discovery.
COLLECTOR_ACTIONS = (
    "iam:GenerateCredentialReport", "iam:GetCredentialReport",
    "iam:GetAccountAuthorizationDetails",
    "iam:GenerateServiceLastAccessedDetails", "iam:GetServiceLastAccessedDetails",
    "organizations:DescribeOrganization",
    "access-analyzer:ListAnalyzers", "access-analyzer:GetAnalyzer",
    "access-analyzer:ListFindings", "access-analyzer:GetFinding",
)  # fmt: skip
ORGANIZATION_DISCOVERY_ACTIONS = (
    "organizations:ListAccounts", "organizations:ListRoots", "organizations:ListPolicies",
    "organizations:DescribePolicy", "organizations:ListTargetsForPolicy",
    "organizations:ListOrganizationalUnitsForParent", "organizations:ListAccountsForParent",
)  # fmt: skip
# The SCP on the demo's Workloads OU (production and staging).
WORKLOAD_GUARDRAILS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "StayInTheOrganization",
            "Effect": "Deny",
            "Action": "organizations:LeaveOrganization",
            "Resource": "*",
        },
        {
            "Sid": "OnlyThePlatformTeamChangesManagedPolicies",
            "Effect": "Deny",
            "Action": ["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"],
            "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalARN": "arn:aws:iam::*:role/platform-*"}},
        },
    ],
}


# --- Plans --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPlan:
    created: datetime
    last_used: datetime | None = None
    service: str = "s3"
    active: bool = True


@dataclass(frozen=True)
class UserPlan:
    name: str
    path: str
    created: datetime
    groups: Sequence[str] = ()
    console: bool = False
    mfa: bool = False
    password_used: datetime | None = None
    keys: Sequence[KeyPlan] = ()


@dataclass(frozen=True)
class RolePlan:
    name: str
    trust: dict
    created: datetime
    last_used: datetime | None = None
    path: str = "/"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    inline: dict[str, dict] = field(default_factory=dict)
    managed: Sequence[str] = ()  # policy keys, resolved to ARNs by the builder


class PersonNames:
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


# --- Planning one account -----------------------------------------------------------------------


class AccountPlanner:
    def __init__(
        self,
        *,
        plan: AccountPlan,
        account_id: str,
        rng: random.Random,
        now: datetime,
        scale: float,
        regions: tuple[str, ...],
        person_names: PersonNames,
    ):
        self.plan = plan
        self.account_id = account_id
        self.rng = rng
        self.now = now
        self.scale = scale
        self.regions = regions
        self.person_names = person_names
        self.user_names: set[str] = set()
        self.role_names: set[str] = set()
        self.workloads = [(app, suffix) for app in APPLICATIONS for suffix in WORKLOADS]
        rng.shuffle(self.workloads)

    def users(self) -> Iterator[UserPlan]:
        for kind, base in USER_MIX:
            for _ in range(self._count(base)):
                user = getattr(self, f"_user_{kind}")()
                self.user_names.add(user.name)
                yield user

    def roles(self) -> Iterator[RolePlan]:
        for kind, base in ROLE_MIX:
            for _ in range(self._count(base)):
                yield getattr(self, f"_role_{kind}")()

    def sso_roles(self) -> Iterator[RolePlan]:
        count = max(1, round(len(SSO_PERMISSION_SETS) * self.scale))
        provider = f"AWSSSO_{self.rng.getrandbits(64):016x}_DO_NOT_DELETE"
        for permission_set in SSO_PERMISSION_SETS[:count]:
            managed, inline = [], {}
            if permission_set == "AdministratorAccess":
                managed = ["admin"]
            elif permission_set in {"ReadOnlyAccess", "SecurityAudit"}:
                managed = ["read_only"]
            else:
                inline = {"AwsSSOInlinePolicy": allow(["s3:*", "athena:*", "ce:*"], "*")}
            yield RolePlan(
                name=f"AWSReservedSSO_{permission_set}_{self.rng.getrandbits(64):016x}",
                path="/aws-reserved/sso.amazonaws.com/",
                trust=sso_trust(self.account_id, provider),
                created=self.days_ago(300, 900),
                last_used=self.days_ago(0, 2) if self.rng.random() < 0.6 else None,
                managed=managed,
                inline=inline,
            )

    def days_ago(self, low: float, high: float) -> datetime:
        return self.now - timedelta(seconds=self.rng.randint(int(low * 86400), int(high * 86400)))

    def region(self) -> str:
        return self.rng.choice(self.regions)

    def _count(self, base: int) -> int:
        return max(1, round(base * self.plan.weight * self.scale))

    # Users, one method per kind in USER_MIX

    def _person(self, *, created: datetime, **kwargs: Any) -> UserPlan:
        path, group = self.rng.choice(DEPARTMENTS)
        return UserPlan(
            name=self.person_names.next(), path=path, groups=[group], created=created, **kwargs
        )

    def _user_console_with_mfa(self) -> UserPlan:
        created = self.days_ago(200, 1500)
        keys = []
        if self.rng.random() < 0.5:
            keys.append(KeyPlan(created=self.days_ago(10, 80), last_used=self.days_ago(0, 5)))
        return self._person(
            created=created, console=True, mfa=True, password_used=self.days_ago(0, 20), keys=keys
        )

    def _user_console_without_mfa(self) -> UserPlan:
        return self._person(
            created=self.days_ago(100, 900), console=True, password_used=self.days_ago(1, 40)
        )

    def _user_stale_key(self) -> UserPlan:
        key = KeyPlan(created=self.days_ago(400, 1000), last_used=self.days_ago(95, 390))
        return self._person(created=self.days_ago(1000, 1200), keys=[key])

    def _user_never_used_old_key(self) -> UserPlan:
        key = KeyPlan(created=self.days_ago(46, 400))
        return self._person(created=self.days_ago(400, 700), keys=[key])

    def _user_two_active_keys(self) -> UserPlan:
        keys = [
            KeyPlan(created=self.days_ago(150, 600), last_used=self.days_ago(1, 30)),
            KeyPlan(created=self.days_ago(10, 60), last_used=self.days_ago(0, 3)),
        ]
        return self._person(
            created=self.days_ago(600, 900),
            console=True,
            mfa=True,
            password_used=self.days_ago(0, 10),
            keys=keys,
        )

    def _user_unrotated_key(self) -> UserPlan:
        key = KeyPlan(created=self.days_ago(120, 900), last_used=self.days_ago(0, 6))
        return self._person(created=self.days_ago(900, 1200), keys=[key])

    def _user_new_hire(self) -> UserPlan:
        created = self.days_ago(1, 13)
        key = KeyPlan(created=created + timedelta(minutes=self.rng.randint(5, 90)))
        return self._person(created=created, console=True, keys=[key])

    def _user_inactive(self) -> UserPlan:
        key = KeyPlan(created=self.days_ago(400, 900), last_used=self.days_ago(100, 390))
        return self._person(
            created=self.days_ago(900, 1500),
            console=True,
            password_used=self.days_ago(120, 600),
            keys=[key],
        )

    def _user_service(self) -> UserPlan:
        base_name, path, service = self.rng.choice(SERVICE_USERS)
        name = base_name
        while name in self.user_names:
            name = f"{base_name}-{self.rng.randint(2, 99)}"
        key = KeyPlan(
            created=self.days_ago(20, 80),
            last_used=self.now - timedelta(days=1, minutes=self.rng.randint(0, 600)),
            service=service,
        )
        return UserPlan(name=name, path=path, created=self.days_ago(100, 900), keys=[key])

    def _user_deactivated_key(self) -> UserPlan:
        key = KeyPlan(
            created=self.days_ago(400, 700), last_used=self.days_ago(150, 390), active=False
        )
        return self._person(
            created=self.days_ago(700, 1000),
            console=True,
            mfa=True,
            password_used=self.days_ago(0, 30),
            keys=[key],
        )

    # Roles, one method per kind in ROLE_MIX

    def _application_role(
        self, *, created: datetime, last_used: datetime | None, prefix: str = ""
    ) -> RolePlan:
        (app, team), (suffix, principal) = self.workloads.pop()
        region = self.region()
        tables = f"arn:aws:dynamodb:{region}:{self.account_id}:table/{app}-*"
        queues = f"arn:aws:sqs:{region}:{self.account_id}:{app}-*"
        document = {
            "Version": POLICY_VERSION,
            "Statement": [
                statement(
                    ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                     "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                    tables,
                ),
                statement(
                    ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"], queues
                ),
            ],
        }  # fmt: skip
        managed = ["logs"]
        if self.rng.random() < 0.5:
            managed.append("secrets")
        return RolePlan(
            name=self._unique_role_name(f"{prefix}{app}-{suffix}"),
            trust=service_trust(principal),
            created=created,
            last_used=last_used,
            tags={"app": app, "team": team, "env": self.plan.slug},
            inline={f"{app}-data": document},
            managed=managed,
        )

    def _role_recently_used(self) -> RolePlan:
        return self._application_role(created=self.days_ago(30, 900), last_used=self.days_ago(0, 7))

    def _role_unused_over_a_year(self) -> RolePlan:
        prefix = self.rng.choice(("", "", "legacy-", "poc-"))
        return self._application_role(
            created=self.days_ago(460, 1500),
            last_used=self.days_ago(13 * 30.4, 15 * 30.4),
            prefix=prefix,
        )

    def _role_untracked(self) -> RolePlan:
        return self._application_role(created=self.days_ago(700, 760), last_used=None)

    def _sometimes_used(self) -> datetime | None:
        return self.days_ago(0, 7) if self.rng.random() < 0.7 else self.days_ago(100, 300)

    def _role_wildcard_inline(self) -> RolePlan:
        return RolePlan(
            name=self._unique_role_name(self.rng.choice(WILDCARD_ROLE_NAMES)),
            trust=account_trust(self.account_id),
            created=self.days_ago(300, 1400),
            last_used=self._sometimes_used(),
            inline={"FullAccess": allow("*", "*")},
        )

    def _role_s3_wildcard(self) -> RolePlan:
        purpose = self.rng.choice(("logs", "media", "backups", "exports"))
        bucket = f"arn:aws:s3:::{COMPANY}-{self.plan.slug}-{purpose}"
        resource = self.rng.choice(("*", [bucket, f"{bucket}/*"]))
        return RolePlan(
            name=self._unique_role_name(self.rng.choice(S3_WILDCARD_ROLE_NAMES)),
            trust=service_trust(self.rng.choice(("ec2.amazonaws.com", "lambda.amazonaws.com"))),
            created=self.days_ago(320, 1200),
            last_used=self._sometimes_used(),
            tags={"team": "platform"},
            inline={"S3FullAccess": allow("s3:*", resource)},
        )

    def _role_admin_attached(self) -> RolePlan:
        return RolePlan(
            name=self._unique_role_name(self.rng.choice(ADMIN_ROLE_NAMES)),
            trust=service_trust(
                self.rng.choice(("codebuild.amazonaws.com", "cloudformation.amazonaws.com"))
            ),
            created=self.days_ago(300, 1400),
            last_used=self._sometimes_used(),
            managed=["admin"],
        )

    def _role_third_party(self) -> RolePlan:
        name, outside_account = self.rng.choice(THIRD_PARTY_ROLES)
        return RolePlan(
            name=self._unique_role_name(name),
            trust=account_trust(outside_account, external_id=f"{self.rng.getrandbits(48):012x}"),
            created=self.days_ago(200, 800),
            last_used=self.now - timedelta(hours=self.rng.randint(1, 30)),
            tags={"vendor": "true"},
            managed=["read_only"],
        )

    def _unique_role_name(self, name: str) -> str:
        candidate = name
        while candidate in self.role_names:
            candidate = f"{name}-{self.rng.randint(2, 99)}"
        self.role_names.add(candidate)
        return candidate


# --- Policy documents ---------------------------------------------------------------------------


def statement(actions: str | list[str], resources: str | list[str]) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def allow(actions: str | list[str], resources: str | list[str]) -> dict:
    return {"Version": POLICY_VERSION, "Statement": [statement(actions, resources)]}


def service_trust(principal: str) -> dict:
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}
        ],
    }


def account_trust(account_id: str, *, external_id: str | None = None) -> dict:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": POLICY_VERSION, "Statement": [statement]}


def sso_trust(account_id: str, provider: str) -> dict:
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
