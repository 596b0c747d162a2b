"""Collection runs: claim one per (account, source), report progress, finish."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from findings.models import AwsAccount, CollectionRun
from findings.models.runs import ACTIVE_STATUSES


class AlreadyRunning(Exception):
    def __init__(self, run: CollectionRun | None):
        self.run = run
        super().__init__(
            "A collection of this source for this account is already queued or running"
        )


def abandoned_before() -> datetime:
    """A run still active after the task's hard time limit died with its worker."""
    return timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


def release_abandoned_runs(*, account: AwsAccount | None = None) -> int:
    runs = CollectionRun.objects.filter(
        status__in=ACTIVE_STATUSES, created_at__lt=abandoned_before()
    )
    if account is not None:
        runs = runs.filter(account=account)
    return runs.update(
        status=CollectionRun.Status.FAILED,
        finished_at=timezone.now(),
        error="Abandoned: the worker stopped before finishing (it will run again on schedule).",
    )


def claim_run(
    *,
    account: AwsAccount,
    source: str,
    trigger: str,
    requested_by: User | None = None,
    detail: str = "",
) -> CollectionRun:
    """Create the run that holds the (account, source) claim, or raise AlreadyRunning.

    The claim is a partial unique index in the database, so two workers (or two web requests)
    can never both hold it.
    """
    release_abandoned_runs(account=account)
    try:
        with transaction.atomic():
            return CollectionRun.objects.create(
                account=account,
                source=source,
                trigger=trigger,
                status=CollectionRun.Status.QUEUED,
                requested_by=requested_by,
                detail=detail[:300],
            )
    except IntegrityError:
        active = CollectionRun.objects.filter(
            account=account, source=source, status__in=ACTIVE_STATUSES
        ).first()
        raise AlreadyRunning(active) from None


def start_run(*, run: CollectionRun) -> None:
    run.status = CollectionRun.Status.RUNNING
    run.started_at = timezone.now()
    run.progress_message = "Starting"
    run.save(update_fields=["status", "started_at", "progress_message"])


def report_progress(*, run_id: int, done: int, total: int, message: str) -> None:
    # A plain UPDATE outside the storage transaction, so the page sees it while work goes on.
    CollectionRun.objects.filter(pk=run_id).update(
        progress_done=done, progress_total=total, progress_message=message[:300]
    )


def finish_run(
    *,
    run: CollectionRun,
    succeeded: bool,
    counts: dict | None = None,
    error: str = "",
    data_generated_at: datetime | None = None,
) -> None:
    # Progress was written by report_progress (a plain UPDATE), not through this object.
    run.refresh_from_db(fields=["progress_done", "progress_total"])
    run.status = CollectionRun.Status.SUCCEEDED if succeeded else CollectionRun.Status.FAILED
    run.finished_at = timezone.now()
    run.counts = counts or {}
    run.error = error[:5000]
    run.data_generated_at = data_generated_at
    if succeeded:
        run.progress_done = run.progress_total = max(run.progress_total, 1)
        run.progress_message = "Done"
    else:
        run.progress_message = "Failed"
    run.save(
        update_fields=[
            "status",
            "finished_at",
            "counts",
            "error",
            "data_generated_at",
            "progress_done",
            "progress_total",
            "progress_message",
        ]
    )


def last_success(*, account: AwsAccount, source: str) -> CollectionRun | None:
    return (
        CollectionRun.objects.filter(
            account=account, source=source, status=CollectionRun.Status.SUCCEEDED
        )
        .order_by("-finished_at")
        .first()
    )
