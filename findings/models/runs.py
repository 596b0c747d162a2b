from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Q, Subquery


class Source(models.TextChoices):
    CREDENTIAL_REPORT = "credential-report", "Credential report"
    AUTHORIZATION_DETAILS = "authorization-details", "Users, roles and policies"
    SERVICE_LAST_ACCESSED = "service-last-accessed", "Service last accessed"
    ACCESS_ANALYZER = "access-analyzer", "Access Analyzer findings"


ACTIVE_STATUSES = ("queued", "running")


class CollectionRunQuerySet(models.QuerySet):
    RUNS_LOOKED_AT = 30

    def accounts_collected(self, *, source: str) -> set[int]:
        """Ids of the accounts with at least one successful collection of `source`: per
        account, the first of them down (account, source, -created_at), not every one."""
        accounts = self.model._meta.get_field("account").related_model
        first = (
            self.filter(
                account=OuterRef("pk"), source=source, status=CollectionRun.Status.SUCCEEDED
            )
            .order_by("-created_at")
            .values("pk")[:1]
        )
        return set(
            accounts.objects.annotate(collected=Subquery(first))
            .filter(collected__isnull=False)
            .order_by()
            .values_list("pk", flat=True)
        )

    def roles_read_at(self, *, account_id: int) -> datetime | None:
        """When the account's roles were last read: its latest users, roles and policies run,
        or, when that was a file without roles (`--filter User`), which keeps the stored roles
        as they were, the date such a run carried over from the read before it."""
        latest = (
            self.filter(
                account_id=account_id,
                source=Source.AUTHORIZATION_DETAILS,
                status=CollectionRun.Status.SUCCEEDED,
            )
            .order_by("-finished_at", "-pk")
            .values_list("finished_at", "data_generated_at", "counts")
            .first()
        )
        if latest is None:
            return None
        finished_at, generated_at, counts = latest
        counts = counts if isinstance(counts, dict) else {}
        if "roles" not in (counts.get("not_in_file") or ()):
            return generated_at or finished_at
        carried = counts.get("roles_read_at")
        try:
            return datetime.fromisoformat(carried) if isinstance(carried, str) else None
        except ValueError:
            return None

    def service_access_read_at(
        self, *, account_id: int, principal_arns: Iterable[str]
    ) -> dict[str, datetime]:
        """When each principal's stored service last-accessed data was read: the newest
        run that read and stored it (AWS's generation time where the run has one).

        A collection reads every principal but those its counts name ``unread`` (when that
        list was cut, ``unread_more``, none is known to be read); an import of one principal's
        file names it in ``read``. A principal none of the last ``RUNS_LOOKED_AT`` runs read is
        looked for among as many collections before them, and failing that dated by the oldest
        of those (a lower bound of its age). Principals of an account with no run at all are
        left out."""
        wanted = set(principal_arns)
        found: dict[str, datetime] = {}
        runs = self.filter(account_id=account_id, source=Source.SERVICE_LAST_ACCESSED).filter(
            # A run failed for too many unread principals stored those it read.
            Q(status=CollectionRun.Status.SUCCEEDED)
            | Q(status=CollectionRun.Status.FAILED, counts__has_key="principals_read")
        )
        recent = self._reads(runs, wanted, found)
        if wanted - found.keys() and len(recent) == self.RUNS_LOOKED_AT:
            # Imports of one principal each can fill the window: look further back among
            # the collections, which read every principal but those they name.
            collections = self._reads(runs.exclude(counts__has_key="read"), wanted, found)
            if len(collections) == self.RUNS_LOOKED_AT:
                # Read before the oldest of them, at the latest: its time, a lower bound of the
                # data's age (already past any staleness limit after so many collections).
                oldest = collections[-1][1] or collections[-1][0]
                found.update((arn, oldest) for arn in wanted - found.keys())
        return found

    def _reads(self, runs, wanted: set[str], found: dict[str, datetime]) -> list[tuple]:
        """Dates in ``found`` the principals the newest runs read; the runs looked at."""
        # Newest created is newest finished (the claim: runs of one account and source never
        # overlap), and (account, source, -created_at) gives them in that order: the window,
        # never a sort of the whole history.
        looked_at = list(
            runs.order_by("-created_at", "-pk").values_list(
                "finished_at", "data_generated_at", "counts"
            )[: self.RUNS_LOOKED_AT]
        )
        for finished_at, generated_at, counts in looked_at:
            if len(found) == len(wanted):
                break
            counts = counts if isinstance(counts, dict) else {}
            if isinstance(counts.get("read"), list):
                read = wanted & set(counts["read"])
            elif counts.get("unread_more"):
                read = set()
            else:
                read = wanted - set(counts.get("unread") or ())
            at = generated_at or finished_at
            found.update((arn, at) for arn in read - found.keys())
        return looked_at


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
            # Per (account, source): the latest run (schedule, Collection page, detection).
            models.Index(fields=["account", "source", "-created_at"]),
            # The latest runs of every account (Collection page), and of one account.
            models.Index(fields=["-created_at", "-id"], name="run_recent"),
            models.Index(fields=["account", "-created_at", "-id"], name="run_recent_of_account"),
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
