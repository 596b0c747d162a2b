"""What collection stores: current state of every collected thing, with its own history.

Every observed row carries a fingerprint of its collected fields. Re-collecting unchanged data
leaves the row untouched; a change rewrites it; a thing that disappears gets `gone_at` and its
`last_seen_at`, and comes back (gone_at cleared) if AWS shows it again.
"""

from datetime import UTC, datetime

from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Lower

# A user's last activity when the credential report shows none (or has no row for the user):
# sorts before any real use.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def _inventory_order(name: str) -> models.Index:
    """The inventory list's order (account, then name) over present rows only: each page, with
    or without the account filter, walks this index and stops at the page. PostgreSQL reads an
    index on lower(name) without the table only if it holds `name` too (INCLUDE); without it,
    a deep page sorted the table instead."""
    return models.Index(
        F("account"), Lower("name"), F("id"), name=name, condition=Q(gone_at=None), include=["name"]
    )


def role_staleness() -> Coalesce:
    """A role's last use for "stalest first": not used within AWS's tracking window (NULL) sorts
    first. An expression both databases index (SQLite has no NULLS FIRST in an index)."""
    return Coalesce(F("last_used_at"), Value(NEVER), output_field=models.DateTimeField())


def _inventory_sorts(prefix: str, *, stale: list, stale_include=()) -> list[models.Index]:
    """The inventory's other sorts over present rows, each its own index, so that a sorted
    page walks the index and stops at the page (never a sort of every user or role): by name,
    oldest first, and stalest first (`stale`: the expressions that order it)."""
    present = Q(gone_at=None)
    return [
        models.Index(
            Lower("name"),
            F("account"),
            F("id"),
            name=f"{prefix}_name_order",
            condition=present,
            include=["name"],  # what lets PostgreSQL walk an index on lower(name) index-only
        ),
        models.Index(F("create_date"), F("id"), name=f"{prefix}_created_order", condition=present),
        models.Index(
            *stale,
            F("create_date"),
            F("id"),
            name=f"{prefix}_stale_order",
            condition=present,
            include=stale_include,  # the columns of an expression, for an index-only walk
        ),
    ]


class Observed(models.Model):
    account = models.ForeignKey("findings.AwsAccount", on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField()
    changed_at = models.DateTimeField()
    # Set when a collection no longer shows the thing: when it was last seen, and when it went.
    last_seen_at = models.DateTimeField(null=True, blank=True)
    gone_at = models.DateTimeField(null=True, blank=True)

    # The natural key inside an account, used by storage to upsert (set by each subclass).
    natural_key: tuple[str, ...] = ()
    # Columns computed from other evidence after a sync (not collected): a new row gets the
    # field's default, a changed row keeps its value, and whoever computes them writes them.
    derived_fields: tuple[str, ...] = ()

    class Meta:
        abstract = True

    @property
    def is_present(self) -> bool:
        return self.gone_at is None


class CredentialReport(models.Model):
    """A credential report exactly as AWS made it: the evidence behind CredentialReportEntry."""

    account = models.ForeignKey(
        "findings.AwsAccount", on_delete=models.CASCADE, related_name="credential_reports"
    )
    generated_at = models.DateTimeField(help_text="AWS's GeneratedTime: how old the data is.")
    sha256 = models.CharField(max_length=64)
    content = models.BinaryField()
    row_count = models.PositiveIntegerField()
    # When this content was last collected (a report identical to an older copy collected
    # again, after others, moves it): the latest copy, which retention keeps, is the newest.
    collected_at = models.DateTimeField()

    class Meta:
        ordering = ["-generated_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "sha256"], name="one_copy_of_each_report")
        ]
        # Retention: an account's copies by when they were collected (the latest stays).
        indexes = [models.Index(fields=["account", "collected_at"], name="credential_report_age")]
        get_latest_by = "generated_at"

    def __str__(self) -> str:
        return f"Credential report of {self.generated_at:%Y-%m-%d %H:%M}"


class CredentialReportEntry(Observed):
    """One row of the latest credential report (the root row included)."""

    natural_key = ("arn",)

    user = models.CharField(max_length=128)
    arn = models.CharField(max_length=2048)
    user_creation_time = models.DateTimeField()
    password_enabled = models.BooleanField(null=True)
    password_enabled_reason = models.CharField(max_length=20, blank=True)
    password_last_used = models.DateTimeField(null=True, blank=True)
    password_last_used_reason = models.CharField(max_length=20, blank=True)
    password_last_changed = models.DateTimeField(null=True, blank=True)
    password_last_changed_reason = models.CharField(max_length=20, blank=True)
    password_next_rotation = models.DateTimeField(null=True, blank=True)
    password_next_rotation_reason = models.CharField(max_length=20, blank=True)
    mfa_active = models.BooleanField()
    access_key_1_active = models.BooleanField()
    access_key_1_last_rotated = models.DateTimeField(null=True, blank=True)
    access_key_1_last_rotated_reason = models.CharField(max_length=20, blank=True)
    access_key_1_last_used_date = models.DateTimeField(null=True, blank=True)
    access_key_1_last_used_date_reason = models.CharField(max_length=20, blank=True)
    access_key_1_last_used_region = models.CharField(max_length=40, blank=True)
    access_key_1_last_used_service = models.CharField(max_length=100, blank=True)
    access_key_2_active = models.BooleanField()
    access_key_2_last_rotated = models.DateTimeField(null=True, blank=True)
    access_key_2_last_rotated_reason = models.CharField(max_length=20, blank=True)
    access_key_2_last_used_date = models.DateTimeField(null=True, blank=True)
    access_key_2_last_used_date_reason = models.CharField(max_length=20, blank=True)
    access_key_2_last_used_region = models.CharField(max_length=40, blank=True)
    access_key_2_last_used_service = models.CharField(max_length=100, blank=True)
    cert_1_active = models.BooleanField()
    cert_1_last_rotated = models.DateTimeField(null=True, blank=True)
    cert_1_last_rotated_reason = models.CharField(max_length=20, blank=True)
    cert_2_active = models.BooleanField()
    cert_2_last_rotated = models.DateTimeField(null=True, blank=True)
    cert_2_last_rotated_reason = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["account", "user"]
        constraints = [
            models.UniqueConstraint(fields=["account", "arn"], name="credential_entry_key")
        ]
        # A page of users reads its users' rows by ARN: 50 probes of this index (with the
        # account first, the planner preferred reading every row).
        indexes = [
            models.Index(fields=["arn"], name="credential_entry_arn", condition=Q(gone_at=None))
        ]

    def __str__(self) -> str:
        return self.user

    @property
    def is_root(self) -> bool:
        return self.user == "<root_account>" or self.arn.endswith(":root")


class IamUser(Observed):
    natural_key = ("arn",)
    derived_fields = ("last_activity",)

    arn = models.CharField(max_length=2048)
    name = models.CharField(max_length=128)
    user_id = models.CharField(max_length=128)
    path = models.CharField(max_length=512)
    create_date = models.DateTimeField()
    groups = models.JSONField(default=list)
    permissions_boundary_arn = models.CharField(max_length=2048, blank=True)
    tags = models.JSONField(default=dict)
    # The latest use of the user's password or keys in the credential report (NEVER: none),
    # kept by collection (findings.collection.activity) for the inventory's "stalest first".
    last_activity = models.DateTimeField(default=NEVER)

    class Meta:
        ordering = ["account", "name"]
        constraints = [models.UniqueConstraint(fields=["account", "arn"], name="iam_user_key")]
        indexes = [
            _inventory_order("iam_user_list_order"),
            *_inventory_sorts("iam_user", stale=[F("last_activity")]),
        ]

    def __str__(self) -> str:
        return self.name


class IamGroup(Observed):
    natural_key = ("arn",)

    arn = models.CharField(max_length=2048)
    name = models.CharField(max_length=128)
    group_id = models.CharField(max_length=128)
    path = models.CharField(max_length=512)
    create_date = models.DateTimeField()

    class Meta:
        ordering = ["account", "name"]
        constraints = [models.UniqueConstraint(fields=["account", "arn"], name="iam_group_key")]

    def __str__(self) -> str:
        return self.name


class IamRole(Observed):
    natural_key = ("arn",)

    arn = models.CharField(max_length=2048)
    name = models.CharField(max_length=128)
    role_id = models.CharField(max_length=128)
    path = models.CharField(max_length=512)
    create_date = models.DateTimeField()
    description = models.TextField(blank=True)
    trust_policy = models.JSONField(null=True, blank=True)
    permissions_boundary_arn = models.CharField(max_length=2048, blank=True)
    tags = models.JSONField(default=dict)
    # NULL: not used within the ~400 days AWS tracks. It does not mean "never used".
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_region = models.CharField(max_length=40, blank=True)
    instance_profile_arns = models.JSONField(default=list)
    max_session_duration = models.PositiveIntegerField(null=True, blank=True)
    is_service_linked = models.BooleanField(default=False)
    is_sso = models.BooleanField(default=False)

    class Meta:
        ordering = ["account", "name"]
        constraints = [models.UniqueConstraint(fields=["account", "arn"], name="iam_role_key")]
        indexes = [
            _inventory_order("iam_role_list_order"),
            *_inventory_sorts("iam_role", stale=[role_staleness()], stale_include=["last_used_at"]),
        ]

    def __str__(self) -> str:
        return self.name


class PolicyDocument(models.Model):
    """A policy document kept once by content hash."""

    sha256 = models.CharField(max_length=64, unique=True)
    document = models.JSONField()
    first_seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.sha256[:12]


class ManagedPolicy(models.Model):
    """A managed policy and its default version. AWS-managed ones are stored once (no account)."""

    arn = models.CharField(max_length=2048, unique=True)
    account = models.ForeignKey(
        "findings.AwsAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=128)
    path = models.CharField(max_length=512)
    policy_id = models.CharField(max_length=128, blank=True)
    default_version_id = models.CharField(max_length=20, blank=True)
    document = models.ForeignKey(PolicyDocument, null=True, on_delete=models.PROTECT)
    attachment_count = models.PositiveIntegerField(default=0)
    is_aws_managed = models.BooleanField(default=False)
    create_date = models.DateTimeField(null=True, blank=True)
    update_date = models.DateTimeField(null=True, blank=True)
    fingerprint = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField()
    changed_at = models.DateTimeField()
    gone_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AwsManagedPolicyDownload(models.Model):
    """When a collection last downloaded every AWS-managed policy of a partition (aws, aws-cn,
    ...): that one download serves every account for a day. Kept here, not on each policy, so
    that a download finding a policy unchanged writes nothing to it; a file never counts."""

    partition = models.CharField(max_length=20, unique=True)
    downloaded_at = models.DateTimeField()
    policy_count = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.partition} {self.downloaded_at:%Y-%m-%d %H:%M}"


class PolicyAttachment(Observed):
    """A policy document in effect on a principal, from first seen until gone.

    A changed document is a new row (and the old one goes), so the rows answer "what could
    this role do on date D" and "what changed between two reviews".
    """

    class Kind(models.TextChoices):
        INLINE = "inline", "Inline policy"
        MANAGED = "managed", "Managed policy"
        TRUST = "trust", "Trust policy"
        BOUNDARY = "boundary", "Permissions boundary"

    natural_key = ("principal_arn", "kind", "policy_ref", "document_sha256")

    principal_arn = models.CharField(max_length=2048)
    principal_type = models.CharField(max_length=10)  # user, group, role
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The managed policy's ARN, or the inline policy's name.
    policy_ref = models.CharField(max_length=2048)
    policy_name = models.CharField(max_length=128)
    document_sha256 = models.CharField(max_length=64, blank=True)
    document = models.ForeignKey(PolicyDocument, null=True, on_delete=models.PROTECT)

    class Meta:
        ordering = ["principal_arn", "kind", "policy_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "principal_arn", "kind", "policy_ref", "document_sha256"],
                name="policy_attachment_key",
            )
        ]
        indexes = [models.Index(fields=["account", "principal_arn"])]

    def __str__(self) -> str:
        return f"{self.policy_name} on {self.principal_arn}"


class ServiceLastAccessed(Observed):
    natural_key = ("principal_arn", "service_namespace")

    principal_arn = models.CharField(max_length=2048)
    service_namespace = models.CharField(max_length=100)
    service_name = models.CharField(max_length=200)
    last_authenticated_at = models.DateTimeField(null=True, blank=True)
    last_authenticated_entity = models.CharField(max_length=2048, blank=True)
    last_authenticated_region = models.CharField(max_length=40, blank=True)
    total_authenticated_entities = models.PositiveIntegerField(null=True, blank=True)
    actions = models.JSONField(default=list)

    class Meta:
        ordering = ["principal_arn", "service_namespace"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "principal_arn", "service_namespace"], name="sla_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.service_namespace} for {self.principal_arn}"


class Analyzer(Observed):
    natural_key = ("arn",)

    arn = models.CharField(max_length=2048)
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=40)
    status = models.CharField(max_length=20)
    region = models.CharField(max_length=40)

    class Meta:
        ordering = ["account", "region", "name"]
        constraints = [models.UniqueConstraint(fields=["account", "arn"], name="analyzer_key")]

    def __str__(self) -> str:
        return f"{self.name} ({self.type}, {self.region})"


# An Access Analyzer finding AWS still shows unresolved (detection's only concern).
AA_UNRESOLVED = Q(gone_at=None) & ~Q(status="RESOLVED")


class AccessAnalyzerFinding(Observed):
    """An IAM Access Analyzer finding. Kept after AWS deletes it (resolved, after 90 days).

    `account` is the account whose analyzers reported it (the scope of a collection);
    `resource_owner_account` is whose resource it is (differs for organization analyzers).
    """

    natural_key = ("finding_id",)

    finding_id = models.CharField(max_length=200)
    analyzer_arn = models.CharField(max_length=2048, blank=True)
    region = models.CharField(max_length=40, blank=True)
    finding_type = models.CharField(max_length=40)
    status = models.CharField(max_length=20)
    resource = models.CharField(max_length=2048, blank=True)
    resource_type = models.CharField(max_length=100)
    resource_owner_account = models.CharField(max_length=12)
    aws_created_at = models.DateTimeField(null=True, blank=True)
    aws_updated_at = models.DateTimeField(null=True, blank=True)
    analyzed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=list)
    # Every status AWS showed us, with when: [{"status": "ACTIVE", "seen_at": "..."}].
    status_history = models.JSONField(default=list)

    class Meta:
        ordering = ["-aws_updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "finding_id"], name="aa_finding_key")
        ]
        indexes = [
            models.Index(fields=["resource_owner_account"]),
            # What detection reads at every collection: the findings AWS still shows
            # unresolved, by whose resource they are or by who collected them, without the
            # years of resolved and deleted ones kept beside them.
            models.Index(
                fields=["resource_owner_account", "finding_id"],
                name="aa_finding_unresolved_owner",
                condition=AA_UNRESOLVED,
            ),
            models.Index(
                fields=["account", "finding_id"],
                name="aa_finding_unresolved_account",
                condition=AA_UNRESOLVED,
            ),
            # Whether another account's row of the same finding is newer.
            models.Index(fields=["finding_id", "changed_at"], name="aa_finding_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.finding_type} on {self.resource}"
