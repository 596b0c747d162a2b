"""Findings: one concrete problem on one AWS resource, with its evidence and its own life."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}


class Finding(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        EXCLUDED = "excluded", "Excluded"

    class Resolution(models.TextChoices):
        NO_LONGER_SEEN = "", "No longer shown by the evidence"
        REGION_NOT_MONITORED = "region_not_monitored", "Region no longer monitored"

    # No index of its own: one_finding_per_problem and finding_account_order lead with it.
    account = models.ForeignKey(
        "findings.AwsAccount", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    check_id = models.CharField(max_length=80)
    # What makes this finding one: the resource plus, where a resource has several, the part.
    resource_key = models.CharField(max_length=2100)
    resource_arn = models.CharField(max_length=2048)
    resource_type = models.CharField(max_length=40)
    resource_name = models.CharField(max_length=512)
    title = models.CharField(max_length=300)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    severity_rank = models.PositiveSmallIntegerField(default=3)
    severity_reason = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    evidence = models.JSONField(default=dict)
    evidence_fingerprint = models.CharField(max_length=64)
    # Which rules produced it: the rule version and the thresholds in force at detection time.
    rule_version = models.CharField(max_length=20)
    thresholds = models.JSONField(default=dict)
    # These three are empty on most findings: their indexes (below) hold only the rows that
    # have one, so inserting the usual finding maintains none of them.
    exclusion = models.ForeignKey(
        "findings.Exclusion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    exclusion_reason = models.CharField(max_length=500, blank=True)
    # For Access Analyzer findings: AWS's own status beside ours.
    aws_finding = models.ForeignKey(
        "findings.AccessAnalyzerFinding",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    aws_status = models.CharField(max_length=20, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by_run = models.ForeignKey(
        "findings.CollectionRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    times_reopened = models.PositiveIntegerField(default=0)
    # Why a resolved finding was resolved: most because the evidence no longer shows it; some
    # only because nobody looks any more (their region was taken off the account's regions).
    # Those are closed, not fixed, and verify no remediation.
    resolution = models.CharField(
        max_length=30, choices=Resolution.choices, blank=True, default="", db_default=""
    )

    class Meta:
        ordering = ["severity_rank", "-first_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "check_id", "resource_key"], name="one_finding_per_problem"
            )
        ]
        indexes = [
            # The Findings list: each filter and sort walks an index and stops at the page.
            models.Index(
                fields=["status", "severity_rank", "-first_seen_at", "id"],
                name="finding_list_order",
            ),
            models.Index(
                fields=["account", "status", "severity_rank", "-first_seen_at", "id"],
                name="finding_account_order",
            ),
            models.Index(
                fields=["check_id", "status", "severity_rank", "-first_seen_at", "id"],
                name="finding_check_order",
            ),
            # Newest first, and "new since" for the digests.
            models.Index(fields=["status", "first_seen_at", "id"], name="finding_first_seen"),
            # A principal's findings (its page, a cycle's evidence) and, index-only, the
            # inventory lists' count of each row's open findings.
            models.Index(fields=["resource_arn", "account", "status"], name="finding_resource"),
            *(
                models.Index(
                    fields=[field],
                    condition=Q(**{f"{field}__isnull": False}),
                    name=f"finding_{field}_set",
                )
                for field in ("exclusion", "aws_finding", "resolved_by_run")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title}: {self.resource_name}"


# The events the dashboard's trend counts: opened (or again), and resolved.
TREND_EVENT_KINDS = ["opened", "reopened", "resolved"]


class FindingEvent(models.Model):
    """The timeline of a finding: opened, resolved (with the run), reopened, excluded..."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        RESOLVED = "resolved", "Resolved"
        REOPENED = "reopened", "Reopened"
        EXCLUDED = "excluded", "Excluded"
        INCLUDED = "included", "Exclusion ended"
        CHANGED = "changed", "Evidence changed"

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField()
    run = models.ForeignKey(
        "findings.CollectionRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # How a finding comes back into view (reopened, exclusion ended, severity changed),
            # read by date: the webhooks' minute reads those of its recent window.
            models.Index(
                fields=["at"],
                condition=Q(kind__in=["reopened", "included", "changed"]),
                name="finding_event_back_at",
            ),
            # The dashboard's trend: the events of its last weeks, not all of them.
            models.Index(
                fields=["at"],
                condition=Q(kind__in=TREND_EVENT_KINDS),
                name="finding_event_trend_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"


class Exclusion(models.Model):
    """Keeps matching findings visible but out of the queues, with a reason, until it expires."""

    class Kind(models.TextChoices):
        ARN_PATTERN = "arn", "Resource ARN pattern"
        ACCOUNT = "account", "Whole account"
        TAG = "tag", "Resource tag"
        FINDING = "finding", "One finding"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    arn_pattern = models.CharField(
        max_length=2048, blank=True, help_text="Shell-style: arn:aws:iam::*:role/legacy-*"
    )
    account = models.ForeignKey(
        "findings.AwsAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    tag_key = models.CharField(max_length=128, blank=True)
    tag_value = models.CharField(max_length=256, blank=True, help_text="Empty: any value")
    finding = models.ForeignKey(
        Finding, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Made by a review decision (accepted risk, false positive): ends when that is superseded.
    decision = models.ForeignKey(
        "findings.Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    check_id = models.CharField(max_length=80, blank=True, help_text="Empty: every check")
    reason = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_exclusions"
    )
    expires_on = models.DateField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.describe()}"

    def describe(self) -> str:
        target = {
            self.Kind.ARN_PATTERN: self.arn_pattern,
            self.Kind.ACCOUNT: str(self.account) if self.account_id else "",
            self.Kind.TAG: f"{self.tag_key}={self.tag_value or '*'}",
            self.Kind.FINDING: f"finding #{self.finding_id}",
        }[self.kind]
        return f"{target} ({self.check_id})" if self.check_id else target
