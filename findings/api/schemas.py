"""What the JSON API answers, as typed schemas; ninja documents them in OpenAPI.

Most are ninja Schemas read from model instances, whose `resolve_*` methods say where a field
comes from; the rest are plain pydantic models read from the domain's own records.
"""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.utils import timezone
from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema, model_validator

from findings import models
from findings.detection.selectors import finding_record


def one_of(values: list[str]) -> Any:
    return Literal[tuple(values)]


def email_of(user) -> str | None:
    return user.email if user else None


Email = Annotated[str, WithJsonSchema({"type": "string", "format": "email"})]
Sha256 = Annotated[str, WithJsonSchema({"type": "string", "pattern": "^[0-9a-f]{64}$"})]
Link = Annotated[str, WithJsonSchema({"type": "string", "format": "uri"})]
# As datetime.isoformat() writes it (microseconds, +00:00), not as JSON encoders shorten it.
Timestamp = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Error(Schema):
    error: str


class FieldErrors(Schema):
    errors: dict[str, str]


class Decision(Schema):
    id: int
    item: int
    kind: one_of(models.Decision.Kind.values)
    justification: str
    expires_on: date | None
    delegate_to: Email | None
    decided_by: Email
    decided_at: Timestamp
    supersedes: int | None = Field(description="The decision this replaces.")
    bulk: bool

    @staticmethod
    def resolve_item(decision) -> int:
        return decision.item_id

    @staticmethod
    def resolve_delegate_to(decision) -> str | None:
        return email_of(decision.delegate_to)

    @staticmethod
    def resolve_decided_by(decision) -> str:
        return decision.decided_by.email

    @staticmethod
    def resolve_supersedes(decision) -> int | None:
        return decision.supersedes_id


class ConflictError(Schema):
    error: str
    current_decision: Decision | None


class CycleSummary(Schema):
    """A review cycle read from `cycles_with_progress()` (annotated with decided_count)."""

    id: int
    kind: one_of(models.ReviewCycle.Kind.values)
    state: one_of(models.ReviewCycle.State.values)
    title: str
    period: str
    application: str
    version: str
    opened_at: Timestamp
    opened_by: Email | None
    due_on: date
    overdue: bool
    population_hash: Sha256
    population_count: int = Field(ge=0)
    decided_count: int = Field(ge=0)
    signed_off_by: Email | None
    signed_off_at: Timestamp | None

    @staticmethod
    def resolve_opened_by(cycle) -> str | None:
        return email_of(cycle.opened_by)

    @staticmethod
    def resolve_signed_off_by(cycle) -> str | None:
        return email_of(cycle.signed_off_by)

    @staticmethod
    def resolve_overdue(cycle) -> bool:
        return cycle.state == models.ReviewCycle.State.OPEN and cycle.due_on < timezone.localdate()


class ReviewItem(Schema):
    id: int
    account: str = Field(description="12-digit AWS account id")
    subject_type: one_of(models.ReviewItem.SubjectType.values)
    subject_arn: str
    title: str
    severity: one_of(models.Severity.values) | None
    assignee: Email | None
    latest_decision: Decision | None
    decided: bool = Field(description="False while undecided or delegated.")
    remediation: Literal["pending", "verified"] | None
    evidence_hash: Sha256
    freshness: Literal["changed", "gone"] | None = Field(
        description="Whether fresh data still matches the evidence this item froze, as of the "
        "account's last detection: null when it does, 'changed' when what a reviewer decides "
        "on differs (permissions, policies, credentials, MFA, findings...), 'gone' when fresh "
        "data no longer has the subject. Decisions are made on the frozen evidence; kept "
        "current while the cycle is open, as it was at sign-off once signed."
    )
    fresh_changes: list[str] = Field(
        description="When freshness is 'changed': what changed, in a reviewer's words "
        "(e.g. 'policies', 'MFA', 'access key 2', 'findings'); empty otherwise, or until the "
        "next detection works it out."
    )

    @staticmethod
    def resolve_account(item) -> str:
        return item.account.account_id

    @staticmethod
    def resolve_severity(item) -> str | None:
        return item.severity or None

    @staticmethod
    def resolve_assignee(item) -> str | None:
        return email_of(item.assignee)

    @staticmethod
    def resolve_decided(item) -> bool:
        return item.is_decided

    @staticmethod
    def resolve_remediation(item) -> str | None:
        return item.remediation or None

    @staticmethod
    def resolve_freshness(item) -> str | None:
        return item.freshness or None

    @staticmethod
    def resolve_fresh_changes(item) -> list[str]:
        if item.freshness != models.ReviewItem.Freshness.CHANGED:
            return []
        return list((item.fresh_changes or {}).get("parts") or [])


class Cycle(CycleSummary):
    """A review cycle with its items (prefetched) and sign-off."""

    attestation: str
    signed_population_hash: str
    notes: str
    unknown_role_arns: list[str]
    scope_accounts: list[str]
    items: list[ReviewItem]

    @staticmethod
    def resolve_scope_accounts(cycle) -> list[str]:
        return [account.account_id for account in cycle.scope_accounts.all()]


class ReleaseChanges(BaseModel):
    """What a registration changed in the release's open cycle (services.ReleaseChanges)."""

    added_role_arns: list[str] = Field(
        description="Roles named now and not before: frozen into the cycle now, to review."
    )
    named_again_role_arns: list[str] = Field(
        description="Roles named now, not by the last registration, already in the cycle."
    )
    no_longer_named_role_arns: list[str] = Field(
        description="Roles named before and not now: their items stay in the cycle, reviewed."
    )
    unknown_role_arns_added: list[str] = Field(
        description="Named now, held by no collected account: not reviewed."
    )
    unknown_role_arns_dropped: list[str] = Field(
        description="Reported before as not reviewed, and no longer."
    )
    notes_changed: bool = Field(
        description="The notes sent differ from the cycle's, and replaced them (audited)."
    )


class OpenedRelease(Schema):
    cycle: CycleSummary
    unknown_role_arns: list[str]
    created: bool = Field(
        description="False: this release (application and version) has its cycle already, in "
        "review or signed off (the cycle's state), and this is it."
    )
    changes: ReleaseChanges | None = Field(
        description="Null when the cycle was opened now, or the registration named the same "
        "roles as before (always, for a signed-off cycle); else what it changed in the open "
        "cycle (also in the audit log)."
    )


class ReleaseConflict(Schema):
    error: str
    cycle_id: int = Field(description="The signed-off cycle of this application and version.")


class SignOffConflict(Schema):
    error: str
    current_decision: None = Field(None, description="Always null (kept for older clients).")
    summary: dict[str, Any] = Field(
        description="The sign-off summary as it is now: read it, then sign against its digest."
    )


class Finding(BaseModel):
    """A finding as every export writes it: findings.detection.selectors.finding_record."""

    id: int
    account: str
    check: str
    title: str
    severity: one_of(models.Severity.values)
    severity_reason: str
    resource_arn: str
    resource_type: str
    resource_name: str
    status: one_of(models.Finding.Status.values)
    aws_status: str | None
    exclusion_reason: str | None
    first_seen: Timestamp
    last_seen: Timestamp
    resolved_at: Timestamp | None
    resolution: one_of(models.Finding.Resolution.values[1:]) | None = Field(
        None,
        description="Why a resolved finding was resolved, when not because the evidence no "
        "longer shows it: region_not_monitored (its region was taken off the account's "
        "regions: closed, not shown fixed). Null otherwise.",
    )
    rule_version: str
    thresholds: dict[str, Any]
    evidence: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def read_record(cls, value):
        if isinstance(value, models.Finding):
            return finding_record(finding=value)
        return value


class FileEntry(BaseModel):
    sha256: Sha256
    size: int


class Manifest(BaseModel):
    """manifest.json of the evidence pack; fields it gains later pass through."""

    model_config = ConfigDict(extra="allow")

    cycle_id: int
    cycle_state: one_of(models.ReviewCycle.State.values)
    population_hash: Sha256
    population_count: int
    population_hash_matches: bool
    population_hash_method: str
    item_count: int
    decision_count: int
    generated_at: Timestamp
    generator: dict[str, Any]
    files: dict[str, FileEntry]


class EvidenceFiles(Schema):
    items_csv: str = Field(alias="items.csv")
    decisions_csv: str = Field(alias="decisions.csv")


class EvidencePack(Schema):
    manifest: Manifest
    cycle: dict[str, Any] = Field(
        description="The content of cycle.json: cycle metadata with sign-off, and every item "
        "with its frozen evidence, findings and full decision history."
    )
    files: EvidenceFiles
