"""What checks read: one account's evidence as plain objects, and what they report."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from findings.aws.records import IDENTITY_CENTER_PATH
from findings.policy.effective import EffectivePermissions, Policy, effective_permissions
from findings.policy.escalation import Account
from findings.policy.guardrails import Guardrails


@dataclass(frozen=True)
class Thresholds:
    unused_credential_days: int = 45
    key_rotation_days: int = 90
    inactive_user_days: int = 90
    unused_role_days: int = 90
    unused_service_days: int = 90
    root_use_days: int = 90
    grace_days: int = 14

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Detected:
    check_id: str
    resource_key: str
    resource_arn: str
    resource_type: str
    resource_name: str
    evidence: dict
    severity: str | None = None  # overrides the check's default
    severity_reason: str | None = None
    title: str | None = None


@dataclass
class Principal:
    """A user or role with the documents in effect on it (its own, and its groups')."""

    arn: str
    name: str
    kind: str  # user or role
    create_date: datetime
    tags: dict
    is_service_linked: bool = False
    is_sso: bool = False
    last_used_at: datetime | None = None
    # [(policy label, kind, document)]
    documents: list[tuple[str, str, dict]] = field(default_factory=list)
    boundary: tuple[str, dict] | None = None  # (policy label, document)
    trust: dict | None = None


@dataclass
class Evidence:
    account_id: str
    now: datetime
    credential_entries: list  # CredentialReportEntry rows (the root row too)
    principals: list[Principal]
    roles: list  # IamRole rows
    service_access: dict[str, list]  # principal ARN -> ServiceLastAccessed rows
    regions: list[str]
    analyzer_regions: set[str]  # regions with an external-access analyzer covering the account
    # Sources with successful data: checks whose sources are missing do not run.
    sources: set[str]
    # Group ARN -> [(policy label, kind, document)], and group ARN -> member user names.
    group_documents: dict[str, list[tuple[str, str, dict]]] = field(default_factory=dict)
    group_members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    policies_in_use: frozenset[str] = frozenset()  # managed policy ARNs attached to someone
    # Principal ARN -> when its service last-accessed data was read: usage is judged as of
    # then (a principal whose job failed keeps older data). Absent: as of `now`.
    service_read_at: dict[str, datetime] = field(default_factory=dict)
    # The organization's SCPs on the account, when discovery read them and they apply.
    guardrails: Guardrails | None = None
    # When the credential report, and the users, roles and policies, were read (None: now).
    credentials_read_at: datetime | None = None
    principals_read_at: datetime | None = None

    @property
    def credentials_as_of(self) -> datetime:
        """The credential checks judge the report as of when it was read, not today: a report
        whose collection has failed since says nothing of any use after it (its staleness is
        reported where collection is)."""
        return _as_of(self.credentials_read_at, self.now)

    @property
    def principals_as_of(self) -> datetime:
        """The same for the roles' last use, read with the users, roles and policies."""
        return _as_of(self.principals_read_at, self.now)

    @cached_property
    def console_users(self) -> set[str]:
        return {e.arn for e in self.credential_entries if e.password_enabled and not e.is_root}

    @cached_property
    def effective(self) -> dict[str, EffectivePermissions]:
        """Principal ARN -> its effective permissions (users and roles, not service-linked)."""
        return {
            p.arn: effective_permissions(
                principal_arn=p.arn,
                principal_name=p.name,
                policies=[Policy(label, kind, doc) for label, kind, doc in p.documents],
                boundary=Policy(p.boundary[0], "boundary", p.boundary[1]) if p.boundary else None,
            )
            for p in self.principals
            if not p.is_service_linked
        }

    @cached_property
    def policy_account(self) -> Account:
        groups = {
            arn: effective_permissions(
                principal_arn=arn,
                principal_name=arn.rpartition("/")[2],
                policies=[Policy(label, kind, doc) for label, kind, doc in documents],
            )
            for arn, documents in self.group_documents.items()
        }
        return Account(
            account_id=self.account_id,
            principals=self.effective,
            trust={p.arn: p.trust for p in self.principals if p.trust},
            groups=groups,
            group_members=self.group_members,
            policies_in_use=self.policies_in_use,
            customer_policies=tuple(
                sorted(a for a in self.policies_in_use if ":aws:policy/" not in a)
            ),
            in_instance_profile=frozenset(
                role.arn for role in self.roles if role.instance_profile_arns
            ),
            guardrails=self.guardrails,
            # IAM Identity Center's roles: only AWS may change them (service-linked roles
            # have no effective permissions here at all). Known by their path, not by a name
            # any role may be given.
            protected=frozenset(
                p.arn for p in self.principals if p.kind == "role" and _is_identity_center(p.arn)
            ),
        )


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    severity: str
    severity_reason: str
    risk: str
    fix: str
    control: str
    sources: tuple[str, ...]
    run: Callable[..., Iterator[Detected]]  # called as run(ev=..., t=...)


def _is_identity_center(arn: str) -> bool:
    """Whether the role's ARN (`role/<path><name>`) is under Identity Center's path: IAM
    protects the roles there, not a customer's role of the same name elsewhere."""
    resource = arn.split(":", 5)[-1]
    return resource.startswith("role" + IDENTITY_CENTER_PATH)


def _as_of(read_at: datetime | None, now: datetime) -> datetime:
    return now if read_at is None else min(read_at, now)
