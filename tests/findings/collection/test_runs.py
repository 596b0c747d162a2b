"""The claim: one queued or running run per (account, source), held in the database."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from findings.collection.registry import add_account
from findings.collection.runs import (
    AlreadyRunning,
    claim_run,
    finish_run,
    last_success,
    release_abandoned_runs,
    report_progress,
    start_run,
)
from findings.models import CollectionRun, Source


@pytest.fixture
def production(db):
    return add_account(account_id="111122223333", name="Production")


def claim(account, source=Source.CREDENTIAL_REPORT) -> CollectionRun:
    return claim_run(account=account, source=source, trigger=CollectionRun.Trigger.MANUAL)


def test_two_concurrent_claims_for_one_account_and_source_cannot_both_proceed(committed_db):
    account = add_account(account_id="111122223333", name="Production")
    barrier = threading.Barrier(2)
    outcomes: list = []

    def worker():
        try:
            barrier.wait(timeout=10)
            outcomes.append(claim(account))
        except AlreadyRunning as exc:
            outcomes.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    winners = [o for o in outcomes if isinstance(o, CollectionRun)]
    losers = [o for o in outcomes if isinstance(o, AlreadyRunning)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].run.pk == winners[0].pk
    assert CollectionRun.objects.filter(account=account).count() == 1

    # Once the first finishes, the next claim succeeds.
    winner = winners[0]
    start_run(run=winner)
    finish_run(run=winner, succeeded=True, counts={"rows": 1})
    assert claim(account).status == CollectionRun.Status.QUEUED


def test_a_claim_is_refused_while_one_is_queued_or_running(production):
    run = claim(production)
    with pytest.raises(AlreadyRunning) as refused:
        claim(production)
    assert refused.value.run == run

    start_run(run=run)
    with pytest.raises(AlreadyRunning):
        claim(production)

    finish_run(run=run, succeeded=False, error="Access denied")
    assert claim(production).pk != run.pk


def test_other_sources_and_accounts_can_be_claimed_alongside(production):
    staging = add_account(account_id="444455556666", name="Staging")
    claim(production)

    assert claim(production, Source.AUTHORIZATION_DETAILS)
    assert claim(staging)


def test_an_abandoned_run_is_released_and_the_source_claimed_again(production, settings):
    stuck = claim(production)
    start_run(run=stuck)
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120)
    CollectionRun.objects.filter(pk=stuck.pk).update(created_at=long_ago)
    recent = claim(production, Source.AUTHORIZATION_DETAILS)

    fresh = claim(production)

    stuck.refresh_from_db()
    assert stuck.status == CollectionRun.Status.FAILED
    assert stuck.error.startswith("Abandoned")
    assert stuck.finished_at is not None
    assert fresh.status == CollectionRun.Status.QUEUED
    # A run within the time limit is still working: left alone.
    recent.refresh_from_db()
    assert recent.status == CollectionRun.Status.QUEUED
    assert release_abandoned_runs() == 0


def test_progress_is_kept_when_a_run_finishes(production):
    run = claim(production)
    start_run(run=run)
    report_progress(run_id=run.pk, done=3, total=10, message="3 of 10 principals read")

    finish_run(run=run, succeeded=False, error="Throttled")

    run.refresh_from_db()
    assert (run.progress_done, run.progress_total) == (3, 10)
    assert run.progress_message == "Failed"
    assert run.progress_percent == 30


def test_last_success_is_the_latest_succeeded_run(production):
    assert last_success(account=production, source=Source.CREDENTIAL_REPORT) is None
    first = claim(production)
    finish_run(run=first, succeeded=True)
    failed = claim(production)
    finish_run(run=failed, succeeded=False, error="no")

    assert last_success(account=production, source=Source.CREDENTIAL_REPORT) == first
