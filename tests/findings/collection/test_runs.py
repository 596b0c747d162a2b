"""The claim: one queued or running run per (account, source), held in the database."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from findings.collection.registry import add_account
from findings.collection.runs import (
    MAX_ATTEMPTS,
    AlreadyRunning,
    RunBusy,
    claim_run,
    finish_run,
    heartbeat,
    last_success,
    long_queued_run_ids,
    pick_up_run,
    release_abandoned_runs,
    report_progress,
    start_run,
    this_worker,
)
from findings.models import CollectionRun, Source
from tests.at_once import at_once
from tests.findings.history import (
    add_history,
    assert_bounded,
    make_accounts,
    rows_read_at_two_sizes,
)


@pytest.fixture
def production(db):
    return add_account(account_id="111122223333", name="Production")


def claim(account, source=Source.CREDENTIAL_REPORT) -> CollectionRun:
    return claim_run(account=account, source=source, trigger=CollectionRun.Trigger.MANUAL)


def test_two_concurrent_claims_for_one_account_and_source_cannot_both_proceed(committed_db):
    account = add_account(account_id="111122223333", name="Production")

    outcomes = at_once(*[lambda: claim(account)] * 2)

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


def test_a_run_whose_heartbeat_stopped_is_failed_and_the_source_claimed_again_at_once(
    production, settings
):
    stuck = claim(production)
    start_run(run=stuck)
    silent_since = timezone.now() - timedelta(seconds=settings.COLLECT_STALE_AFTER_SECONDS + 5)
    CollectionRun.objects.filter(pk=stuck.pk).update(heartbeat_at=silent_since)
    alive = claim(production, Source.AUTHORIZATION_DETAILS)
    start_run(run=alive)

    fresh = claim(production)

    stuck.refresh_from_db()
    assert stuck.status == CollectionRun.Status.FAILED
    assert stuck.error.startswith(f"Worker stopped: no heartbeat from {stuck.worker} since")
    assert "Nothing it had half-stored was kept" in stuck.error
    assert stuck.finished_at is not None
    assert fresh.status == CollectionRun.Status.QUEUED
    # A run whose worker still beats is working, however long it has been running.
    CollectionRun.objects.filter(pk=alive.pk).update(created_at=timezone.now() - timedelta(days=1))
    assert release_abandoned_runs() == 0
    alive.refresh_from_db()
    assert alive.status == CollectionRun.Status.RUNNING


def test_a_collection_queued_longer_than_the_time_limit_is_not_failed_for_waiting(
    production, settings
):
    """A few hundred accounts queue four runs each at once: behind a few workers, a run waits
    longer than a task's time limit with its message still in the broker. It keeps its claim
    and waits its turn (a lost message is sent again: tasks.resend_lost_runs)."""
    waiting = claim(production)
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120)
    CollectionRun.objects.filter(pk=waiting.pk).update(created_at=long_ago)

    assert release_abandoned_runs() == 0
    with pytest.raises(AlreadyRunning):
        claim(production)
    waiting.refresh_from_db()
    assert waiting.status == CollectionRun.Status.QUEUED
    assert long_queued_run_ids() == [waiting.pk]
    assert pick_up_run(run_id=waiting.pk) == waiting  # its delivery, when it comes, starts it


def test_an_import_its_request_never_started_is_abandoned_after_the_time_limit(
    production, settings
):
    """An import is claimed and started in one request: still queued after the time limit,
    its request ended (the web process died between the two). No message will ever come."""
    lost = claim_run(
        account=production, source=Source.CREDENTIAL_REPORT, trigger=CollectionRun.Trigger.IMPORT
    )
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120)
    CollectionRun.objects.filter(pk=lost.pk).update(created_at=long_ago)
    assert long_queued_run_ids() == []  # not sent to a worker as a collection

    assert claim(production).status == CollectionRun.Status.QUEUED
    lost.refresh_from_db()
    assert lost.status == CollectionRun.Status.FAILED
    assert lost.error == "Abandoned: the import's request ended before it read the file."


def test_a_delivery_resumes_a_run_whose_worker_died_and_waits_for_a_live_one(production, settings):
    run = claim(production)
    assert pick_up_run(run_id=run.pk) == run  # queued: start it
    start_run(run=run)

    with pytest.raises(RunBusy):  # the heartbeat is fresh: someone is working on it
        pick_up_run(run_id=run.pk)

    silent_since = timezone.now() - timedelta(seconds=settings.COLLECT_STALE_AFTER_SECONDS + 5)
    CollectionRun.objects.filter(pk=run.pk).update(heartbeat_at=silent_since, worker="dead:1")
    resumed = pick_up_run(run_id=run.pk)
    assert resumed.pk == run.pk
    assert resumed.worker == this_worker()
    assert resumed.heartbeat_at > silent_since

    finish_run(run=run, succeeded=True)
    assert pick_up_run(run_id=run.pk) is None


def test_a_run_that_stopped_its_worker_every_time_is_given_up(production, settings):
    run = claim(production)
    silent_since = timezone.now() - timedelta(seconds=settings.COLLECT_STALE_AFTER_SECONDS + 5)
    CollectionRun.objects.filter(pk=run.pk).update(
        status=CollectionRun.Status.RUNNING, attempts=MAX_ATTEMPTS, heartbeat_at=silent_since
    )

    assert pick_up_run(run_id=run.pk) is None

    run.refresh_from_db()
    assert run.status == CollectionRun.Status.FAILED
    assert run.error == f"Gave up: the worker stopped during each of {MAX_ATTEMPTS} attempts."


@pytest.mark.django_db(transaction=True)
def test_the_worker_beats_while_it_works_even_inside_a_long_transaction(postgres, settings):
    from django.db import transaction

    settings.COLLECT_HEARTBEAT_SECONDS = 0.05
    account = add_account(account_id="111122223333", name="Production")
    run = claim(account)
    start_run(run=run)
    first_beat = run.heartbeat_at

    with heartbeat(run_id=run.pk), transaction.atomic():
        add_account(account_id="444455556666", name="Written but not yet committed")
        time.sleep(0.3)

    run.refresh_from_db()
    assert run.heartbeat_at > first_beat


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


@pytest.mark.django_db
def test_accounts_collected_returns_one_row_per_account_not_one_per_run():
    """The model's default ordering (-created_at) once made its DISTINCT
    (account_id, created_at): every successful run came back to Python."""
    accounts = make_accounts(3)
    add_history(accounts, runs_per_source=50, sources=[Source.AUTHORIZATION_DETAILS])

    with CaptureQueriesContext(connection) as captured:
        found = CollectionRun.objects.accounts_collected(source=Source.AUTHORIZATION_DETAILS)

    assert found == {a.pk for a in accounts}
    with connection.cursor() as cursor:
        cursor.execute(captured.captured_queries[0]["sql"])
        returned = len(cursor.fetchall())
    assert returned == len(accounts), f"{returned} rows sent to Python for {len(accounts)} accounts"


@pytest.mark.django_db
def test_accounts_collected_reads_a_run_per_account_not_every_run():
    short, long = rows_read_at_two_sizes(
        lambda accounts: CollectionRun.objects.accounts_collected(
            source=Source.AUTHORIZATION_DETAILS
        )
    )
    assert_bounded(short, long)


@pytest.mark.django_db
def test_accounts_collected_counts_only_successes_of_that_source_and_of_the_accounts_asked():
    collected, failed, other_source, not_asked = make_accounts(4)
    add_history([collected, not_asked], runs_per_source=2, sources=[Source.AUTHORIZATION_DETAILS])
    add_history([failed], runs_per_source=2, status="failed")
    add_history([other_source], runs_per_source=2, sources=[Source.CREDENTIAL_REPORT])

    found = CollectionRun.objects.filter(
        account__in=[collected, failed, other_source]
    ).accounts_collected(source=Source.AUTHORIZATION_DETAILS)

    assert found == {collected.pk}
