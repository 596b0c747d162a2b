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
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Greatest
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


def long_queued_before() -> datetime:
    """A run queued before this has waited longer than a worker that took its message could
    take to start it (a task's hard time limit, and a minute)."""
    return timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


def stale_before() -> datetime:
    """A running run whose heartbeat is older than this belongs to a dead worker."""
    return timezone.now() - timedelta(seconds=settings.COLLECT_STALE_AFTER_SECONDS)


def _stale() -> Q:
    running = Q(status=CollectionRun.Status.RUNNING)
    silent = Q(heartbeat_at__lt=stale_before()) | Q(
        heartbeat_at=None, started_at__lt=stale_before()
    )
    # An import is claimed and started in one request: one still queued lost its request. A
    # queued collection is only waiting (long_queued_run_ids).
    lost_import = Q(
        status=CollectionRun.Status.QUEUED,
        trigger=CollectionRun.Trigger.IMPORT,
        created_at__lt=long_queued_before(),
    )
    return (running & silent) | lost_import


def _stale_reason(run: CollectionRun) -> str:
    if run.status == CollectionRun.Status.QUEUED:
        return "Abandoned: the import's request ended before it read the file."
    since = run.heartbeat_at or run.started_at
    return (
        f"Worker stopped: no heartbeat from {run.worker or 'its worker'} since "
        f"{since:%Y-%m-%d %H:%M:%S} UTC (killed, or lost its database connection). Nothing it "
        "had half-stored was kept; the source can be collected again at once."
    )


def fail_stale_runs(*, account: AwsAccount | None = None) -> list[CollectionRun]:
    """Fail every running run whose worker is gone (its heartbeat stopped), and every import
    whose request ended before it started. A queued collection is never failed for waiting.

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


def long_queued_run_ids() -> list[int]:
    """Collections queued since before long_queued_before(), oldest first: waiting behind a
    busy queue, or their task's message was lost (a broker restarted without its data, a
    queue purged). Neither is a reason to fail them: the sweep sends a lost one again."""
    return list(
        CollectionRun.objects.filter(
            status=CollectionRun.Status.QUEUED, created_at__lt=long_queued_before()
        )
        .exclude(trigger=CollectionRun.Trigger.IMPORT)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )


def fail_unsent_run(*, run: CollectionRun, reason: str) -> bool:
    """A run whose task the broker did not take: no worker will carry it out, so it gives up
    its (account, source) claim at once, failed with `reason`. Never started, it asked AWS
    nothing and is no attempt for the schedule (schedule.due_pairs). False when it is no
    longer queued: the broker took the message after all and a worker started it."""
    failed = CollectionRun.objects.filter(pk=run.pk, status=CollectionRun.Status.QUEUED).update(
        status=CollectionRun.Status.FAILED,
        finished_at=timezone.now(),
        error=reason[:5000],
        progress_message="Failed",
    )
    run.refresh_from_db(fields=["status", "finished_at", "error", "progress_message"])
    return bool(failed)


class RunBusy(Exception):
    """A live worker (fresh heartbeat) is carrying out this run: try again later."""


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def pick_up_run(*, run_id: int) -> CollectionRun | None:
    """The run a task delivery should carry out, started by this worker, or None when there is
    nothing to do.

    A queued run is started (one conditional UPDATE: of two deliveries, one starts it; the
    other sees it running and is told RunBusy); a running run whose heartbeat stopped (its
    worker died and the broker delivered the task again) is taken over and started again from
    the beginning, which is safe because storage is one transaction. A run with a fresh
    heartbeat raises RunBusy; a run that has stopped its worker MAX_ATTEMPTS times is failed.
    """
    run = CollectionRun.objects.select_related("account").filter(pk=run_id).first()
    if run is None or not run.is_active:
        return None
    if run.status == CollectionRun.Status.QUEUED and start_run(run=run):
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
    restarted = _mark_started(
        run=run,
        status=CollectionRun.Status.RUNNING,
        message="Starting again: the previous worker stopped",
    )
    return run if restarted else None


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


def start_run(*, run: CollectionRun) -> bool:
    """Start a queued run in this worker: QUEUED -> RUNNING in one conditional UPDATE.

    False, and nothing written, when the run is no longer queued: another delivery started it,
    or it was failed meanwhile (its task reported as not sent, though the broker took it; an
    import whose request the sweep took for ended).
    """
    started = _mark_started(run=run, status=CollectionRun.Status.QUEUED, message="Starting")
    if not started:
        run.refresh_from_db(fields=["status", "error"])
        logger.warning("Run %s not started: it is %s, no longer queued", run.pk, run.status)
    return started


def _mark_started(*, run: CollectionRun, status: str, message: str) -> bool:
    """One more attempt at `run`, by this worker, if the run still has `status`."""
    now = timezone.now()
    started = CollectionRun.objects.filter(pk=run.pk, status=status).update(
        status=CollectionRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker=this_worker(),
        attempts=F("attempts") + 1,
        progress_message=message,
    )
    if started:
        run.refresh_from_db(
            fields=[
                "status",
                "started_at",
                "heartbeat_at",
                "worker",
                "attempts",
                "progress_message",
            ]
        )
    return bool(started)


def report_progress(*, run_id: int, done: int, total: int, message: str) -> None:
    # A plain UPDATE outside the storage transaction, so the page sees it while work goes on;
    # a run the sweep has failed keeps its "Failed".
    CollectionRun.objects.filter(pk=run_id, status=CollectionRun.Status.RUNNING).update(
        progress_done=done,
        progress_total=total,
        progress_message=message[:300],
        heartbeat_at=timezone.now(),
    )


class RunLost(Exception):
    """The run is no longer this worker's: the sweep failed it (its heartbeat had stopped)."""


def hold_run(*, run: CollectionRun) -> None:
    """Inside a storage transaction: lock the run's row until the commit, or raise RunLost
    (which rolls the storage back) when the run is no longer running.

    The sweep skips locked rows, so a run held here cannot be failed while its data commits,
    and data is never committed under a run the sweep has already failed (whose source another
    run may be storing meanwhile).
    """
    if not (
        CollectionRun.objects.select_for_update()
        .filter(pk=run.pk, status=CollectionRun.Status.RUNNING)
        .exists()
    ):
        raise RunLost(run.pk)


def finish_run(
    *,
    run: CollectionRun,
    succeeded: bool,
    counts: dict | None = None,
    error: str = "",
    data_generated_at: datetime | None = None,
) -> bool:
    """Record how a run ended, if it is still queued or running: False when it had already
    ended (the sweep failed it as a dead worker's while this worker was still at it). Such a
    run stays failed; a note on it says how this worker ended, and a warning is logged."""
    now = timezone.now()
    values = {
        "status": CollectionRun.Status.SUCCEEDED if succeeded else CollectionRun.Status.FAILED,
        "finished_at": now,
        "counts": counts or {},
        "error": error[:5000],
        "data_generated_at": data_generated_at,
        "progress_message": "Done" if succeeded else "Failed",
    }
    if succeeded:
        values["progress_done"] = values["progress_total"] = Greatest(F("progress_total"), 1)
    finished = CollectionRun.objects.filter(pk=run.pk, status__in=ACTIVE_STATUSES).update(**values)
    if not finished:
        _note_late_finish(run=run, at=now, outcome=_outcome(succeeded=succeeded, error=error))
    run.refresh_from_db(fields=list({*values, "progress_done", "progress_total"}))
    return bool(finished)


def _outcome(*, succeeded: bool, error: str) -> str:
    if succeeded:
        return "succeeded (what it read is stored)"
    return f"failed: {error[:500]}"


def note_lost_run(*, run: CollectionRun, outcome: str) -> None:
    """Say on a run the sweep failed how its worker, still alive, ended after all."""
    _note_late_finish(run=run, at=timezone.now(), outcome=outcome)
    run.refresh_from_db(fields=["error"])


def _note_late_finish(*, run: CollectionRun, at: datetime, outcome: str) -> None:
    note = (
        f"\n\nIts worker was still at work after all: it ended at {at:%Y-%m-%d %H:%M:%S} UTC "
        f"and {outcome}. This run stays failed."
    )
    CollectionRun.objects.filter(pk=run.pk).update(error=Concat(F("error"), Value(note)))
    logger.warning("Run %s had already been failed when its worker %s", run.pk, outcome)


def last_success(*, account: AwsAccount, source: str) -> CollectionRun | None:
    return (
        CollectionRun.objects.filter(
            account=account, source=source, status=CollectionRun.Status.SUCCEEDED
        )
        .order_by("-finished_at")
        .first()
    )
