"""Collection runs: claim one per (account, source), beat while working, finish; recover
the runs of dead workers."""

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from findings.models import AwsAccount, CollectionRun
from findings.models.runs import ACTIVE_STATUSES

logger = logging.getLogger(__name__)


class AlreadyRunning(Exception):
    def __init__(self, run: CollectionRun | None):
        self.run = run
        super().__init__(
            "A collection of this source for this account is already queued or running"
        )


MAX_ATTEMPTS = 3


def abandoned_before() -> datetime:
    """A run still queued after the task's hard time limit was never picked up."""
    return timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


def stale_before() -> datetime:
    """A running run whose heartbeat is older than this belongs to a dead worker."""
    return timezone.now() - timedelta(seconds=settings.COLLECT_STALE_AFTER_SECONDS)


def _stale() -> Q:
    running = Q(status=CollectionRun.Status.RUNNING)
    silent = Q(heartbeat_at__lt=stale_before()) | Q(
        heartbeat_at=None, started_at__lt=stale_before()
    )
    never_started = Q(status=CollectionRun.Status.QUEUED, created_at__lt=abandoned_before())
    return (running & silent) | never_started


def _stale_reason(run: CollectionRun) -> str:
    if run.status == CollectionRun.Status.QUEUED:
        return "Abandoned: no worker picked this run up within the task time limit."
    since = run.heartbeat_at or run.started_at
    return (
        f"Worker stopped: no heartbeat from {run.worker or 'its worker'} since "
        f"{since:%Y-%m-%d %H:%M:%S} UTC (killed, or lost its database connection). Nothing it "
        "had half-stored was kept; the source can be collected again at once."
    )


def fail_stale_runs(*, account: AwsAccount | None = None) -> list[CollectionRun]:
    """Fail every active run whose worker is gone (heartbeat stopped, or never picked up).

    Rows are locked and re-checked, so a worker resuming the same run at the same moment
    (take_over_stale_run) and this sweep cannot both win.
    """
    runs = CollectionRun.objects.filter(_stale())
    if account is not None:
        runs = runs.filter(account=account)
    with transaction.atomic():
        stale = list(runs.select_for_update(skip_locked=True).select_related("account"))
        now = timezone.now()
        for run in stale:
            run.error = _stale_reason(run)
            run.status = CollectionRun.Status.FAILED
            run.finished_at = now
            run.progress_message = "Failed"
        CollectionRun.objects.bulk_update(
            stale, ["status", "finished_at", "error", "progress_message"]
        )
    return stale


def release_abandoned_runs(*, account: AwsAccount | None = None) -> int:
    return len(fail_stale_runs(account=account))


class RunBusy(Exception):
    """A live worker (fresh heartbeat) is carrying out this run: try again later."""


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def pick_up_run(*, run_id: int) -> CollectionRun | None:
    """The run a task delivery should carry out, or None when there is nothing to do.

    A queued run is started; a running run whose heartbeat stopped (its worker died and the
    broker delivered the task again) is taken over and started again from the beginning,
    which is safe because storage is one transaction. A run with a fresh heartbeat raises
    RunBusy; a run that has stopped its worker MAX_ATTEMPTS times is failed.
    """
    run = CollectionRun.objects.select_related("account").filter(pk=run_id).first()
    if run is None or not run.is_active:
        return None
    if run.status == CollectionRun.Status.QUEUED:
        return run
    taken = (
        CollectionRun.objects.filter(pk=run_id, status=CollectionRun.Status.RUNNING)
        .filter(_stale())
        .update(heartbeat_at=timezone.now(), worker=this_worker())
    )
    if not taken:
        run.refresh_from_db(fields=["status"])
        if run.is_active:
            raise RunBusy(run_id)
        return None
    run.refresh_from_db()
    if run.attempts >= MAX_ATTEMPTS:
        finish_run(
            run=run,
            succeeded=False,
            error=f"Gave up: the worker stopped during each of {run.attempts} attempts.",
        )
        return None
    return run


def beat(*, run_id: int) -> None:
    """The worker is alive and working on this run."""
    CollectionRun.objects.filter(pk=run_id, status=CollectionRun.Status.RUNNING).update(
        heartbeat_at=timezone.now()
    )


@contextmanager
def heartbeat(*, run_id: int) -> Iterator[None]:
    """Beat every COLLECT_HEARTBEAT_SECONDS from a thread of its own while the block runs.

    The thread has its own database connection, so its beats commit while the storage
    transaction is still open. SQLite allows one writer at a time: there, progress reports
    are the beats.
    """
    if connection.vendor != "postgresql":
        yield
        return
    stop = threading.Event()

    def beat_until_stopped() -> None:
        try:
            while not stop.wait(settings.COLLECT_HEARTBEAT_SECONDS):
                try:
                    beat(run_id=run_id)
                except DatabaseError:
                    logger.warning("Heartbeat of run %s not written", run_id, exc_info=True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat_until_stopped, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def claim_run(
    *,
    account: AwsAccount,
    source: str,
    trigger: str,
    requested_by: User | None = None,
    detail: str = "",
    retry_of: CollectionRun | None = None,
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
                retry_of=retry_of,
            )
    except IntegrityError:
        active = CollectionRun.objects.filter(
            account=account, source=source, status__in=ACTIVE_STATUSES
        ).first()
        raise AlreadyRunning(active) from None


def start_run(*, run: CollectionRun) -> None:
    now = timezone.now()
    message = "Starting again: the previous worker stopped" if run.attempts else "Starting"
    CollectionRun.objects.filter(pk=run.pk).update(
        status=CollectionRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker=this_worker(),
        attempts=F("attempts") + 1,
        progress_message=message,
    )
    run.refresh_from_db(
        fields=["status", "started_at", "heartbeat_at", "worker", "attempts", "progress_message"]
    )


def report_progress(*, run_id: int, done: int, total: int, message: str) -> None:
    # A plain UPDATE outside the storage transaction, so the page sees it while work goes on.
    CollectionRun.objects.filter(pk=run_id).update(
        progress_done=done,
        progress_total=total,
        progress_message=message[:300],
        heartbeat_at=timezone.now(),
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
