"""Policies generated from CloudTrail by IAM Access Analyzer, on demand for one role.

A request is stored first (who, which role, which period); a worker starts the job once,
polls it with progress and stores the generated documents. Running the worker again for the
same request never starts a second job: it resumes polling, or does nothing once finished.
A request whose task stopped following it (the task failed, its worker died) is taken up again
by a new request for the role or by the beat's sweep, and given up with the reason after
GIVE_UP_AFTER: it never stays "in progress" for ever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.permissions import Capability, can
from findings.audit.services import record
from findings.aws.errors import AwsError
from findings.aws.recommendations import (
    SUCCEEDED,
    TIMED_OUT,
    fetch_generated_policy,
    start_policy_generation,
)
from findings.aws.session import client
from findings.collection.collectors import account_session
from findings.models import GeneratedPolicy, IamRole

MIN_DAYS, MAX_DAYS = 1, 90  # AWS reads at most 90 days of CloudTrail per job
DEFAULT_DAYS = 30
RUNNING = (GeneratedPolicy.Status.QUEUED, GeneratedPolicy.Status.IN_PROGRESS)
# A task polls the job for up to ten minutes an attempt and comes back within ten minutes: a
# job nobody has polled for longer than this lost its task.
POLLING_STOPS_AFTER = timedelta(minutes=15)
# AWS may take its time, but a request still running this long after it was made is given up
# (failed, with the reason) and the role may be asked for again. Longer than the task's own
# attempts take when nothing goes wrong (findings.collection.tasks.generate_policy).
GIVE_UP_AFTER = timedelta(hours=3)


class GenerationRefused(Exception):
    """The request cannot be made; the message says why in plain words."""


class GenerationForbidden(GenerationRefused):
    pass


def request_policy_generation(
    *, role: IamRole, days: int, actor: User, now: datetime | None = None
) -> GeneratedPolicy:
    """Record a request to generate ``role``'s policy from the last ``days`` days of CloudTrail.

    Administrators and reviewers may ask. A request still running for the role is returned
    instead of a second one (the caller queues a task for it when it needs_task), unless no task
    has followed it since GIVE_UP_AFTER: that one is failed with the reason, and a new one made.
    """
    if not (can(actor, Capability.DECIDE) or can(actor, Capability.MANAGE_ACCOUNTS)):
        raise GenerationForbidden("Only administrators and reviewers generate policies")
    account = role.account
    if not account.generates_policies:
        raise GenerationRefused(
            f"{account} has no CloudTrail trail and access role configured for generation"
        )
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise GenerationRefused(f"Choose a period of {MIN_DAYS} to {MAX_DAYS} days")
    now = now or timezone.now()
    with transaction.atomic():
        # The role's row is the lock: with no generation running yet, locking the running
        # ones locked nothing, and requests at the same moment each started a job.
        IamRole.objects.select_for_update().filter(pk=role.pk).first()
        running = (
            GeneratedPolicy.objects.select_for_update()
            .filter(account=account, principal_arn=role.arn, status__in=RUNNING)
            .first()
        )
        if running is not None and not _abandoned_too_long(running, now=now):
            return running
        if running is not None:
            _finish(running, status=GeneratedPolicy.Status.FAILED, error=GAVE_UP)
        generation = GeneratedPolicy.objects.create(
            account=account,
            principal_arn=role.arn,
            requested_by=actor,
            requested_at=now,
            period_start=now - timedelta(days=days),
            period_end=now,
            trail_arn=account.trail_arn,
        )
        record(
            actor=actor,
            action="policy_generation.requested",
            target_type="generated_policy",
            target_id=generation.pk,
            target_label=role.arn,
            after={"role": role.arn, "days": days, "trail": account.trail_arn},
        )
    return generation


def run_policy_generation(
    *,
    generation_id: int,
    max_wait_seconds: float = 600,
    sleep: Callable[[float], object] | None = None,
) -> str:
    """Start (once) and poll the generation job; the request's status afterwards.

    "in_progress" after the call means AWS is still working: call again later. An AwsError
    raised is one worth another try later (throttled, AWS out of reach: AwsError.transient);
    any other refusal fails the request with the reason.
    """
    generation = GeneratedPolicy.objects.select_related("account").filter(pk=generation_id).first()
    if generation is None or not generation.is_running:
        return generation.status if generation else "missing"
    if generation.requested_at < timezone.now() - GIVE_UP_AFTER:
        return _finish(generation, status=GeneratedPolicy.Status.FAILED, error=GAVE_UP)
    if generation.job_id:  # this task follows the job now (see needs_task)
        GeneratedPolicy.objects.filter(pk=generation.pk).update(polled_at=timezone.now())
    account = generation.account
    try:
        session = account_session(account=account, purpose="policy-generation")
    except ValueError as exc:  # a role ARN of another account, and the like
        return _finish(
            generation, status=GeneratedPolicy.Status.FAILED, error=f"Configuration error: {exc}"
        )
    except AwsError as exc:
        if exc.transient:
            raise
        return _finish(generation, status=GeneratedPolicy.Status.FAILED, error=exc.readable())
    analyzer = client(session, "accessanalyzer", (account.regions or ["us-east-1"])[0])
    if not generation.job_id:
        if not _claim_start(generation):
            return STARTED_ELSEWHERE  # another task starts it, and follows it
        try:
            job_id = start_policy_generation(
                analyzer,
                principal_arn=generation.principal_arn,
                trail_arns=[generation.trail_arn],
                access_role_arn=account.trail_access_role_arn,
                start=generation.period_start,
                end=generation.period_end,
            )
            generation.job_id = job_id
            generation.status = GeneratedPolicy.Status.IN_PROGRESS
            generation.polled_at = timezone.now()
            generation.save(update_fields=["job_id", "status", "polled_at"])
        except AwsError as exc:
            if exc.transient:
                _queue_again(generation)
                raise
            return _finish(generation, status=GeneratedPolicy.Status.FAILED, error=exc.readable())
        except BaseException:
            # Anything else (the database, the worker stopping): queued again, for the next
            # task or request, not left "starting" for ever.
            _queue_again(generation)
            raise

    def progress(waited: float) -> None:
        GeneratedPolicy.objects.filter(pk=generation.pk).update(
            waited_seconds=waited, polled_at=timezone.now()
        )

    result = fetch_generated_policy(
        analyzer,
        job_id=generation.job_id,
        max_wait_seconds=max_wait_seconds,
        sleep=sleep or time.sleep,
        progress=progress,
    )
    if result.status == TIMED_OUT:
        GeneratedPolicy.objects.filter(pk=generation.pk).update(polled_at=timezone.now())
        return GeneratedPolicy.Status.IN_PROGRESS
    if result.worth_polling_again:
        # GetGeneratedPolicy throttled past botocore's retries (or AWS briefly out of reach):
        # the job itself is fine. The task comes back to it with its backoff, as for any
        # other call; polled just now, so no second task is queued meanwhile.
        GeneratedPolicy.objects.filter(pk=generation.pk).update(polled_at=timezone.now())
        raise result.failure
    if result.status == SUCCEEDED:
        return _finish(
            generation, status=GeneratedPolicy.Status.SUCCEEDED, policies=list(result.policies)
        )
    return _finish(generation, status=GeneratedPolicy.Status.FAILED, error=result.error or "")


# What run_policy_generation says when another task has claimed the start: nothing to do.
STARTED_ELSEWHERE = "started_elsewhere"
# A start claimed this long ago with no job recorded lost its worker: it may be claimed again.
START_CLAIM_EXPIRES = timedelta(minutes=10)
GAVE_UP = (
    f"Gave up: AWS had not generated the policy {GIVE_UP_AFTER.total_seconds() / 3600:g} hours "
    "after the request; ask again"
)


def fail_policy_generation(*, generation_id: int, error: str) -> str:
    """Fail a running request with the reason (its task ran out of attempts, say); the
    request's status afterwards."""
    generation = GeneratedPolicy.objects.filter(pk=generation_id).first()
    if generation is None:
        return "missing"
    return _finish(generation, status=GeneratedPolicy.Status.FAILED, error=error)


def take_up_abandoned_generations(*, now: datetime | None = None) -> list[int]:
    """The beat's sweep: every running request no task follows (needs_task), made long enough
    ago that its first task should have come. One past GIVE_UP_AFTER is failed with the
    reason; the ids of the others are returned, for a task each (and are not returned again
    while that task has POLLING_STOPS_AFTER to come)."""
    now = now or timezone.now()
    take_up = []
    for generation in GeneratedPolicy.objects.filter(
        status__in=RUNNING, requested_at__lt=now - POLLING_STOPS_AFTER
    ):
        if _abandoned_too_long(generation, now=now):
            _finish(generation, status=GeneratedPolicy.Status.FAILED, error=GAVE_UP)
        elif needs_task(generation=generation, now=now):
            take_up.append(generation.pk)
    GeneratedPolicy.objects.filter(pk__in=take_up).exclude(job_id="").update(polled_at=now)
    return take_up


def _abandoned_too_long(generation: GeneratedPolicy, *, now: datetime) -> bool:
    return needs_task(generation=generation, now=now) and (
        generation.requested_at < now - GIVE_UP_AFTER
    )


def _queue_again(generation: GeneratedPolicy) -> None:
    GeneratedPolicy.objects.filter(pk=generation.pk, job_id="").update(
        status=GeneratedPolicy.Status.QUEUED, start_claimed_at=None
    )


def _claim_start(generation: GeneratedPolicy) -> bool:
    """Whether this task is the one to call StartPolicyGeneration: requests at the same moment
    share one generation, each queued a task, and each started an AWS job."""
    now = timezone.now()
    claimed = (
        GeneratedPolicy.objects.filter(pk=generation.pk, job_id="")
        .filter(
            Q(status=GeneratedPolicy.Status.QUEUED)
            | Q(
                status=GeneratedPolicy.Status.IN_PROGRESS,
                start_claimed_at__lt=now - START_CLAIM_EXPIRES,
            )
        )
        .update(status=GeneratedPolicy.Status.IN_PROGRESS, start_claimed_at=now)
    )
    return bool(claimed)


def needs_task(*, generation: GeneratedPolicy, now: datetime | None = None) -> bool:
    """Running, and no task follows it: a request for the role (or the sweep) queues one.

    Without a job, no task has claimed its start, or the claim expired. With a job, nobody
    has polled it for POLLING_STOPS_AFTER: its task failed, ran out of attempts or lost its
    worker, and nothing else would ever poll it again.
    """
    if not generation.is_running:
        return False
    now = now or timezone.now()
    if not generation.job_id:
        claimed = generation.start_claimed_at
        return claimed is None or claimed < now - START_CLAIM_EXPIRES
    polled = generation.polled_at
    return polled is None or polled < now - POLLING_STOPS_AFTER


def _finish(generation: GeneratedPolicy, *, status: str, error: str = "", policies=()) -> str:
    with transaction.atomic():
        finished = GeneratedPolicy.objects.filter(pk=generation.pk, status__in=RUNNING).update(
            status=status, error=error, policies=list(policies), finished_at=timezone.now()
        )
        if not finished:  # another task polling the same job finished it first
            return GeneratedPolicy.objects.get(pk=generation.pk).status
        record(
            actor=None,
            action=f"policy_generation.{status}",
            target_type="generated_policy",
            target_id=generation.pk,
            target_label=generation.principal_arn,
            after={"job": generation.job_id, "error": error or None},
        )
    return status


def latest_generation(*, role: IamRole) -> GeneratedPolicy | None:
    return (
        GeneratedPolicy.objects.filter(account_id=role.account_id, principal_arn=role.arn)
        .order_by("-requested_at", "-id")
        .first()
    )
