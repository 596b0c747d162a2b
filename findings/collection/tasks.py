"""Celery tasks: thin, idempotent, each calling one domain function."""

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from findings.audit.services import record
from findings.collection.collectors import run_collection
from findings.collection.policy_generation import run_policy_generation
from findings.collection.registry import discover_organization_accounts
from findings.collection.runs import AlreadyRunning, claim_run
from findings.collection.schedule import due_pairs
from findings.models import CollectionRun

logger = logging.getLogger(__name__)


@shared_task(name="findings.collect_source", acks_late=True)
def collect_source(run_id: int) -> str:
    """Carry out one claimed run. Running it again for a finished run does nothing."""
    run = CollectionRun.objects.select_related("account").filter(pk=run_id).first()
    if run is None or run.status != CollectionRun.Status.QUEUED:
        return "skipped"
    return run_collection(run=run).status


def enqueue_collection(*, account, source: str, trigger: str, requested_by=None) -> CollectionRun:
    """Claim the (account, source) and send the work to a worker (or run it, without a broker)."""
    run = claim_run(account=account, source=source, trigger=trigger, requested_by=requested_by)
    if requested_by is not None:
        record(
            actor=requested_by,
            action="collection.requested",
            target_type="collection_run",
            target_id=run.pk,
            target_label=f"{source} for {account}",
            after={"account": account.account_id, "source": source, "trigger": trigger},
        )
    collect_source.delay(run.pk)
    return run


@shared_task(name="findings.schedule_collections")
def schedule_collections() -> int:
    """Fan out one task per due (account, source). Safe to run as often as you like."""
    queued = 0
    for account, source in due_pairs(now=timezone.now()):
        try:
            enqueue_collection(
                account=account, source=source, trigger=CollectionRun.Trigger.SCHEDULE
            )
            queued += 1
        except AlreadyRunning:
            continue
    return queued


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
    return f"{result.seen} accounts, {len(result.added)} new"


# AWS takes minutes to generate a policy: each attempt polls up to ten minutes, then the task
# comes back later rather than holding a worker (the job is started once, see the function).
@shared_task(
    name="findings.generate_policy",
    bind=True,
    acks_late=True,
    max_retries=12,
    default_retry_delay=60,
)
def generate_policy(self, generation_id: int) -> str:
    status = run_policy_generation(generation_id=generation_id)
    if status == "in_progress":
        raise self.retry()
    return status
