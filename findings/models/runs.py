from django.conf import settings
from django.db import models
from django.db.models import Q


class Source(models.TextChoices):
    CREDENTIAL_REPORT = "credential-report", "Credential report"
    AUTHORIZATION_DETAILS = "authorization-details", "Users, roles and policies"
    SERVICE_LAST_ACCESSED = "service-last-accessed", "Service last accessed"
    ACCESS_ANALYZER = "access-analyzer", "Access Analyzer findings"


ACTIVE_STATUSES = ("queued", "running")


class CollectionRunQuerySet(models.QuerySet):
    def accounts_collected(self, *, source: str) -> set[int]:
        """Ids of the accounts with at least one successful collection of `source`."""
        return set(
            self.filter(source=source, status=CollectionRun.Status.SUCCEEDED)
            .values_list("account_id", flat=True)
            .distinct()
        )


class CollectionRun(models.Model):
    """One collection (or import) of one source for one account."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manual"
        IMPORT = "import", "File import"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    account = models.ForeignKey(
        "findings.AwsAccount", on_delete=models.CASCADE, related_name="runs"
    )
    source = models.CharField(max_length=30, choices=Source.choices)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_message = models.CharField(max_length=300, blank=True)
    # For imports: the file name; for AWS data: when AWS made it (the credential report's own time).
    detail = models.CharField(max_length=300, blank=True)
    data_generated_at = models.DateTimeField(null=True, blank=True)
    # Written by the worker while it works: a running run whose heartbeat stopped belongs to a
    # dead worker (findings.collection.runs.stale_before).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the worker")
    attempts = models.PositiveSmallIntegerField(default=0)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )

    objects = CollectionRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["account", "source", "-created_at"]),
            # "Last seen" of open findings: the account's latest successful collection.
            models.Index(fields=["account", "status", "-finished_at"], name="run_latest_success"),
        ]
        constraints = [
            # The claim: at most one queued or running run per (account, source), across workers.
            models.UniqueConstraint(
                fields=["account", "source"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="one_active_run_per_account_source",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} for {self.account_id}: {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_done / self.progress_total))
