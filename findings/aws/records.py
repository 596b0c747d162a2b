"""Plain, immutable records of what AWS told us. Storage code maps these to models.

Every datetime is timezone-aware UTC. A date column that holds one of AWS's special values is
``None`` plus a ``*_reason`` holding the raw token: ``no_information`` (never used, or not since
tracking began), ``N/A`` (no such credential) or ``not_supported``. "Never used" and "no
credential" are different facts and a reviewer must be able to tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The path IAM Identity Center creates its roles (`AWSReservedSSO_*`) under.
IDENTITY_CENTER_PATH = "/aws-reserved/sso.amazonaws.com/"

NO_INFORMATION = "no_information"
NOT_APPLICABLE = "N/A"
NOT_SUPPORTED = "not_supported"
SPECIAL_VALUES = (NO_INFORMATION, NOT_APPLICABLE, NOT_SUPPORTED)

ROOT_USER = "<root_account>"

# --- Credential report -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialReportRow:
    line_number: int
    user: str
    arn: str
    user_creation_time: datetime
    password_enabled: bool | None
    password_enabled_reason: str | None
    password_last_used: datetime | None
    password_last_used_reason: str | None
    password_last_changed: datetime | None
    password_last_changed_reason: str | None
    password_next_rotation: datetime | None
    password_next_rotation_reason: str | None
    mfa_active: bool
    access_key_1_active: bool
    access_key_1_last_rotated: datetime | None
    access_key_1_last_rotated_reason: str | None
    access_key_1_last_used_date: datetime | None
    access_key_1_last_used_date_reason: str | None
    access_key_1_last_used_region: str | None
    access_key_1_last_used_service: str | None
    access_key_2_active: bool
    access_key_2_last_rotated: datetime | None
    access_key_2_last_rotated_reason: str | None
    access_key_2_last_used_date: datetime | None
    access_key_2_last_used_date_reason: str | None
    access_key_2_last_used_region: str | None
    access_key_2_last_used_service: str | None
    cert_1_active: bool
    cert_1_last_rotated: datetime | None
    cert_1_last_rotated_reason: str | None
    cert_2_active: bool
    cert_2_last_rotated: datetime | None
    cert_2_last_rotated_reason: str | None

    @property
    def is_root(self) -> bool:
        return self.user == ROOT_USER or self.arn.endswith(":root")


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialReport:
    generated_at: datetime
    # The CSV exactly as AWS sent it, kept as evidence.
    content: bytes
    rows: tuple[CredentialReportRow, ...]


# --- GetAccountAuthorizationDetails --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class InlinePolicy:
    name: str
    document: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachedPolicy:
    name: str
    arn: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserDetail:
    name: str
    user_id: str
    arn: str
    path: str
    create_date: datetime
    groups: tuple[str, ...]
    inline_policies: tuple[InlinePolicy, ...]
    attached_policies: tuple[AttachedPolicy, ...]
    permissions_boundary_arn: str | None
    tags: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupDetail:
    name: str
    group_id: str
    arn: str
    path: str
    create_date: datetime
    inline_policies: tuple[InlinePolicy, ...]
    attached_policies: tuple[AttachedPolicy, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleDetail:
    name: str
    role_id: str
    arn: str
    path: str
    create_date: datetime
    assume_role_policy: dict[str, Any] | None
    inline_policies: tuple[InlinePolicy, ...]
    attached_policies: tuple[AttachedPolicy, ...]
    permissions_boundary_arn: str | None
    tags: dict[str, str]
    # None means "not used within the ~400 days AWS tracks", not "never used".
    last_used_at: datetime | None
    last_used_region: str | None
    instance_profile_arns: tuple[str, ...]
    # GAAD's RoleDetail has neither of these; they are filled only when the input carries them.
    max_session_duration: int | None
    description: str | None

    @property
    def is_service_linked(self) -> bool:
        # AWS owns these roles; they cannot be trimmed.
        return self.path.startswith("/aws-service-role/")

    @property
    def is_sso(self) -> bool:
        # IAM Identity Center manages these roles from permission sets, under its own path.
        # The name does not tell: anyone may name a role of their own AWSReservedSSO_..., and
        # such a role is theirs to review and trim like any other.
        return self.path.startswith(IDENTITY_CENTER_PATH)


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagedPolicyDetail:
    name: str
    # Always present from AWS; moto's GAAD omits it.
    policy_id: str | None
    arn: str
    path: str
    default_version_id: str | None
    # The default version's document; None when the input lists no matching version.
    document: dict[str, Any] | None
    attachment_count: int
    create_date: datetime | None
    update_date: datetime | None

    @property
    def is_aws_managed(self) -> bool:
        # arn:<partition>:iam::aws:policy/... in every partition.
        return self.arn.split(":")[4:5] == ["aws"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizationDetails:
    users: tuple[UserDetail, ...]
    groups: tuple[GroupDetail, ...]
    roles: tuple[RoleDetail, ...]
    policies: tuple[ManagedPolicyDetail, ...]
    # How many response pages (API calls) it took; 1 for a merged CLI file.
    pages: int
    # Types ("users", "groups", "roles", "policies": this account's own) whose stored entities
    # an import keeps as they are, not read as deleted: those a file holds no list of and,
    # unless it is imported as a complete snapshot, those it holds no entries of (output made
    # with `--filter` leaves the other types out or empty). Always empty for pages fetched
    # from AWS, which asks for every type.
    unlisted: frozenset[str] = frozenset()


# --- Service last accessed ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionLastAccessed:
    action_name: str
    last_accessed_at: datetime | None
    region: str | None
    entity: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceLastAccessed:
    service_name: str
    service_namespace: str
    last_authenticated_at: datetime | None
    last_authenticated_entity: str | None
    last_authenticated_region: str | None
    total_authenticated_entities: int | None
    actions: tuple[ActionLastAccessed, ...]


JOB_COMPLETED = "COMPLETED"
JOB_FAILED = "FAILED"
JOB_TIMED_OUT = "TIMED_OUT"
# Our own status: AWS refused to start or to report the job (error says why).
JOB_ERROR = "ERROR"


@dataclass(frozen=True, slots=True, kw_only=True)
class PrincipalServiceAccess:
    principal_arn: str
    job_status: str
    services: tuple[ServiceLastAccessed, ...]
    error: str | None
    job_id: str | None = None
    # AWS's error code when a call failed ("NoSuchEntity": the principal is gone from AWS).
    error_code: str | None = None
    # When AWS finished the job (JobCompletionDate): when the data was read.
    completed_at: datetime | None = None


# --- IAM Access Analyzer ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Analyzer:
    arn: str
    name: str
    type: str
    status: str
    region: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalyzerFinding:
    id: str
    # Both None for findings read from a file, which does not say where they came from.
    analyzer_arn: str | None
    region: str | None
    finding_type: str
    status: str
    resource: str | None
    resource_type: str
    resource_owner_account: str
    created_at: datetime
    updated_at: datetime
    analyzed_at: datetime
    error: str | None
    # The findingDetails union members, e.g. ({"unusedPermissionDetails": {...}},), JSON-safe.
    details: tuple[dict[str, Any], ...]
    # The finding summary as AWS sent it, JSON-safe, kept as evidence.
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessAnalyzerSnapshot:
    analyzers: tuple[Analyzer, ...]
    findings: tuple[AnalyzerFinding, ...]
    # A region listed here returned nothing: its findings are unknown, not resolved.
    region_errors: dict[str, str]


# --- Organizations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgAccount:
    account_id: str
    name: str
    email: str
    state: str
    joined_at: datetime | None
    arn: str = ""  # arn:aws:organizations::MANAGEMENT:account/o-.../ID


@dataclass(frozen=True, slots=True, kw_only=True)
class ScpLevel:
    """One level of an account's place in the organization and the SCPs attached there."""

    target_id: str  # r-..., ou-..., or the account id
    kind: str  # root, ou or account
    name: str
    policy_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScpPolicy:
    policy_id: str
    name: str
    arn: str
    aws_managed: bool
    document: dict


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganizationScps:
    """The service control policies of an organization and where each account sits in it."""

    enabled: bool  # SERVICE_CONTROL_POLICY is enabled on the root
    policies: dict[str, ScpPolicy]
    # account id -> its levels, the root first and the account itself last
    chains: dict[str, tuple[ScpLevel, ...]]
