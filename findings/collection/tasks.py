"""Celery tasks: thin, idempotent, each calling one domain function."""

import logging

from celery import shared_task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import ChannelError
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import User
from findings.audit.services import record
from findings.aws.errors import AwsError
from findings.collection.collectors import detect_owner, run_collection
from findings.collection.policy_generation import (
    fail_policy_generation,
    run_policy_generation,
    take_up_abandoned_generations,
)
from findings.collection.registry import discover_organization_accounts
from findings.collection.retention import prune_credential_reports
from findings.collection.runs import (
    AlreadyRunning,
    RunBusy,
    claim_run,
    fail_stale_runs,
    fail_unsent_run,
    long_queued_run_ids,
    pick_up_run,
)
from findings.collection.schedule import due_pairs
from findings.models import AwsAccount, CollectionRun

logger = logging.getLogger(__name__)


class TaskNotSent(Exception):
    """The broker did not take a run's task: the run is failed, and holds no claim."""

    def __init__(self, run: CollectionRun):
        self.run = run
        super().__init__(run.error)


@shared_task(name="findings.collect_source", bind=True, acks_late=True, max_retries=20)
def collect_source(self, run_id: int) -> str:
    """Carry out one claimed run, or resume the run of a worker that died.

    Running it again for a finished run does nothing; for a run whose worker still beats, it
    tries again once that heartbeat would have gone stale.
    """
    try:
        run = pick_up_run(run_id=run_id)
    except RunBusy as busy:
        raise self.retry(countdown=settings.COLLECT_STALE_AFTER_SECONDS) from busy
    if run is None:
        return "skipped"
    return run_collection(run=run).status


def _send_run(*, run_id: int) -> None:
    """Send a run's task to a worker (or run it here, without a broker). Nobody waits for its
    result, the run records it: sent expecting one, a Redis result backend subscribes to it
    first, and with Redis down tries for 20 s and raises a RuntimeError, not the broker's
    OperationalError."""
    collect_source.apply_async(args=[run_id], ignore_result=True)


def enqueue_collection(
    *,
    account: AwsAccount,
    source: str,
    trigger: str,
    requested_by: User | None = None,
    retry_of: CollectionRun | None = None,
) -> CollectionRun:
    """Claim the (account, source) and send the work to a worker (or run it, without a broker).

    Raises AlreadyRunning, or TaskNotSent when the broker cannot be reached: the run is then
    failed at once with the reason, so that it holds no claim.
    """
    run = claim_run(
        account=account,
        source=source,
        trigger=trigger,
        requested_by=requested_by,
        retry_of=retry_of,
    )
    if requested_by is not None:
        record(
            actor=requested_by,
            action="collection.requested",
            target_type="collection_run",
            target_id=run.pk,
            target_label=f"{source} for {account}",
            after={"account": account.account_id, "source": source, "trigger": trigger},
        )
    try:
        _send_run(run_id=run.pk)
    except KombuOperationalError as exc:
        # Only the broker's own failure: without a broker the task runs right here, and its
        # errors are its own.
        logger.warning("Run %s (%s for %s) not sent: %s", run.pk, source, account, exc)
        fail_unsent_run(
            run=run,
            reason=(
                f"Not sent to a worker: the task queue (broker) could not be reached ({exc}). "
                "Nothing was collected; the source can be collected again at once."
            ),
        )
        raise TaskNotSent(run) from exc
    return run


@shared_task(name="findings.schedule_collections")
def schedule_collections() -> int:
    """Fan out one task per due (account, source). Safe to run as often as you like.

    A task the broker does not take fails its run and the loop goes on: the broker may be back
    for the next account, and the source is due again at the next tick."""
    queued = unsent = 0
    for account, source in due_pairs(now=timezone.now()):
        try:
            enqueue_collection(
                account=account, source=source, trigger=CollectionRun.Trigger.SCHEDULE
            )
            queued += 1
        except AlreadyRunning:
            continue
        except TaskNotSent:
            unsent += 1
    if unsent:
        logger.error(
            "%s of %s due collections not sent: the broker could not be reached",
            unsent,
            queued + unsent,
        )
    return queued


@shared_task(name="findings.sweep_stale_runs")
def sweep_stale_runs() -> int:
    """Fail the runs of dead workers and queue each one again (once: a retry is not retried),
    and send again the task of a run whose message was lost."""
    retried = unsent = 0
    for run in fail_stale_runs():
        if run.trigger == CollectionRun.Trigger.IMPORT or run.retry_of_id is not None:
            continue
        try:
            enqueue_collection(
                account=run.account, source=run.source, trigger=run.trigger, retry_of=run
            )
            retried += 1
        except AlreadyRunning:
            continue
        except TaskNotSent:
            unsent += 1
    if unsent:
        logger.error(
            "%s of %s retries of dead workers' runs not sent: the broker could not be reached",
            unsent,
            retried + unsent,
        )
    resend_lost_runs()
    return retried


def _messages_waiting(*, queue: str) -> int:
    """How many messages wait in the broker's `queue` (none without a broker: tasks run at
    once, in-process)."""
    app = collect_source.app
    if app.conf.task_always_eager:
        return 0
    with app.connection_for_read() as connection:
        try:
            declared = connection.default_channel.queue_declare(queue=queue, passive=True)
        except ChannelError:  # Redis and the filesystem broker keep no empty queue
            return 0
    return declared.message_count


def resend_lost_runs() -> int:
    """Send again the task of every collection queued longer than a worker could hold its
    message, when the broker's queue holds no message at all: its message is gone (a Redis
    restarted without its data, a purged queue), or a worker is taking it this very moment.

    A run queued behind a busy queue is never failed for waiting (a few hundred accounts
    queue four runs each at once): its message is still there, and the queue is not empty. A
    second delivery of a run that has started is skipped (pick_up_run), so sending again is
    safe; and it happens only while the queue is empty, so copies never pile up.
    """
    run_ids = long_queued_run_ids()
    if not run_ids:
        return 0
    app = collect_source.app
    queue = app.amqp.router.route({}, collect_source.name)["queue"].name
    try:
        if _messages_waiting(queue=queue):
            return 0
        for run_id in run_ids:
            logger.warning("Run %s queued long ago and none waits in %s: sent again", run_id, queue)
            _send_run(run_id=run_id)
    except KombuOperationalError:
        logger.exception("Lost runs not sent again: the broker could not be reached")
        return 0
    return len(run_ids)


@shared_task(name="findings.discover_organization", autoretry_for=(), acks_late=True)
def discover_organization() -> str:
    if not settings.DISCOVERY_ROLE_ARN:
        return "not configured"
    result = discover_organization_accounts(
        role_arn=settings.DISCOVERY_ROLE_ARN,
        member_role_name=settings.DISCOVERY_MEMBER_ROLE_NAME,
        external_id=settings.DISCOVERY_EXTERNAL_ID,
        regions=settings.DISCOVERY_REGIONS,
    )
    summary = f"{result.seen} accounts, {len(result.added)} new"
    if result.scp_changed:
        summary += f", SCPs changed on {len(result.scp_changed)}"
    return f"{summary}; {result.scp_error}" if result.scp_error else summary


# AWS takes minutes to generate a policy: each attempt polls up to ten minutes, then the task
# comes back a minute later rather than holding a worker (the job is started once, see the
# function). AWS throttling or out of reach: back after 1, 2, 4, 8, then every 10 minutes.
# After the last attempt the request fails with the reason, never "in progress" for ever.
GENERATION_RETRY_DELAYS_UP_TO = 600


@shared_task(
    name="findings.generate_policy",
    bind=True,
    acks_late=True,
    max_retries=12,
    default_retry_delay=60,
)
def generate_policy(self, generation_id: int) -> str:
    attempt = self.request.retries
    attempts_left = attempt < self.max_retries
    try:
        status = run_policy_generation(generation_id=generation_id)
    except AwsError as exc:  # only one worth another try comes out (AwsError.transient)
        if attempts_left:
            delay = min(60 * 2**attempt, GENERATION_RETRY_DELAYS_UP_TO)
            raise self.retry(exc=exc, countdown=delay) from exc
        return fail_policy_generation(
            generation_id=generation_id,
            error=f"Gave up after {attempt + 1} attempts: {exc.readable()}",
        )
    if status == "in_progress":
        if attempts_left:
            raise self.retry()
        return fail_policy_generation(
            generation_id=generation_id,
            error=f"Gave up: AWS was still generating the policy after {attempt + 1} attempts "
            "of up to ten minutes each; ask again",
        )
    return status


def queue_policy_generation(*, generation_id: int) -> None:
    """Queue the generation's task. Without a broker the task runs here, and one that would
    come back later (AWS still working, or throttling) raises Retry to its caller: there is no
    worker to come back, so the generation stays in progress until a later request or the
    sweep takes it up again (GeneratedPolicy.polled_at), as it does one the broker did not take."""
    try:
        # Nobody waits for its result (see _send_run).
        generate_policy.apply_async(args=[generation_id], ignore_result=True)
    except Retry:
        logger.info("Policy generation %s continues at the next request", generation_id)
    except KombuOperationalError as exc:
        logger.warning("Policy generation %s not sent (the sweep sends it): %s", generation_id, exc)


@shared_task(name="findings.sweep_policy_generations")
def sweep_policy_generations() -> int:
    """Queue a task again for each policy generation whose task stopped following it (or fail
    it with the reason, once it has been given up)."""
    taken_up = take_up_abandoned_generations()
    for generation_id in taken_up:
        queue_policy_generation(generation_id=generation_id)
    return len(taken_up)


@shared_task(
    name="findings.detect_owner",
    acks_late=True,
    autoretry_for=(Exception,),
    # A detection that ran out of its time would run out of it again.
    dont_autoretry_for=(SoftTimeLimitExceeded,),
    max_retries=5,
    retry_backoff=10,
)
def detect_owner_task(account_id: int, run_id: int) -> str:
    """Detection and remediation checks of an account another account's collection reported
    on (collectors.detect_owner). Idempotent, so a failure is tried again."""
    account = AwsAccount.objects.filter(pk=account_id).first()
    if account is None:
        return "account gone"
    detect_owner(account=account, run_id=run_id)
    return "detected"


@shared_task(name="findings.prune_credential_reports")
def prune_old_credential_reports() -> int:
    """Daily: the raw credential report copies older than CREDENTIAL_REPORT_KEEP_DAYS go, but
    each account's latest."""
    return prune_credential_reports(
        now=timezone.now(), keep_days=settings.CREDENTIAL_REPORT_KEEP_DAYS
    )
