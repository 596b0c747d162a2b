"""Races between deliveries, the sweep and imports: a run is started once, and a run the sweep
failed stays failed."""

import threading
import time
from datetime import timedelta

import boto3
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from moto import mock_aws

from findings.collection import collectors, imports
from findings.collection.collectors import run_collection
from findings.collection.registry import add_account
from findings.collection.runs import (
    AlreadyRunning,
    RunBusy,
    claim_run,
    fail_stale_runs,
    finish_run,
    pick_up_run,
    start_run,
)
from findings.models import CollectionRun, CredentialReportEntry, Source
from tests.at_once import at_once

CSV_HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"
)
ALICE_ROW = (
    "alice,arn:aws:iam::111122223333:user/alice,2024-01-01T00:00:00+00:00,true,"
    "2026-01-01T00:00:00+00:00,2024-01-01T00:00:00+00:00,N/A,true,false,N/A,N/A,N/A,N/A,"
    "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
)
REPORT = (CSV_HEADER + ALICE_ROW).encode()


def production():
    return add_account(account_id="111122223333", name="Production")


def queued_run(account, trigger=CollectionRun.Trigger.MANUAL) -> CollectionRun:
    return claim_run(account=account, source=Source.CREDENTIAL_REPORT, trigger=trigger)


def abandon(run: CollectionRun, settings) -> None:
    """Queued for longer than the task time limit: the sweep takes an import's request for
    ended (a queued collection only waits its turn)."""
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120)
    CollectionRun.objects.filter(pk=run.pk).update(created_at=long_ago)


def silence(run: CollectionRun, settings) -> None:
    """No heartbeat for longer than the stale window: the sweep takes its worker for dead."""
    long_ago = timezone.now() - timedelta(seconds=settings.COLLECT_STALE_AFTER_SECONDS + 60)
    CollectionRun.objects.filter(pk=run.pk).update(heartbeat_at=long_ago)


# --- Two deliveries of one queued run -----------------------------------------------------------


@pytest.mark.django_db
def test_a_second_delivery_of_a_queued_run_finds_it_started_and_waits():
    run = queued_run(production())

    first = pick_up_run(run_id=run.pk)
    with pytest.raises(RunBusy):
        pick_up_run(run_id=run.pk)

    assert first.status == CollectionRun.Status.RUNNING
    run.refresh_from_db()
    assert run.attempts == 1


def test_two_deliveries_picking_up_one_queued_run_at_once_start_it_once(committed_db):
    run = queued_run(production())

    outcomes = at_once(*[lambda: pick_up_run(run_id=run.pk)] * 2)

    started = [o for o in outcomes if isinstance(o, CollectionRun)]
    waiting = [o for o in outcomes if isinstance(o, RunBusy)]
    assert len(started) == 1 and len(waiting) == 1, outcomes
    run.refresh_from_db()
    assert (run.status, run.attempts) == (CollectionRun.Status.RUNNING, 1)


@pytest.mark.django_db
def test_a_copy_of_a_queued_run_read_just_before_the_sweep_failed_it_does_not_start_it(
    settings,
):
    account = production()
    run = queued_run(account, trigger=CollectionRun.Trigger.IMPORT)
    abandon(run, settings)
    read_by_the_worker = CollectionRun.objects.get(pk=run.pk)  # still queued when read

    assert [r.pk for r in fail_stale_runs()] == [run.pk]
    retry = queued_run(account, trigger=CollectionRun.Trigger.SCHEDULE)  # the next claim

    assert start_run(run=read_by_the_worker) is False  # no IntegrityError, nothing written
    # Not carried out either: it asked AWS (here: the network, for 30 s) for nothing.
    with CaptureQueriesContext(connection) as queries:
        assert run_collection(run=read_by_the_worker).status == CollectionRun.Status.FAILED
    assert all(q["sql"].startswith("SELECT") for q in queries.captured_queries)  # nothing written
    run.refresh_from_db()
    assert run.status == CollectionRun.Status.FAILED
    assert run.attempts == 0 and run.started_at is None
    assert run.error.startswith("Abandoned: the import's request ended")
    retry.refresh_from_db()
    assert retry.status == CollectionRun.Status.QUEUED
    assert pick_up_run(run_id=run.pk) is None


@pytest.mark.django_db
def test_a_worker_finishing_a_run_the_sweep_failed_leaves_it_failed_and_says_so(settings):
    run = queued_run(production())
    assert start_run(run=run)
    silence(run, settings)
    fail_stale_runs()

    recorded = finish_run(run=run, succeeded=True, counts={"rows": 1})

    assert recorded is False
    run.refresh_from_db()
    assert run.status == CollectionRun.Status.FAILED
    assert run.counts == {}
    assert run.error.startswith("Worker stopped: no heartbeat from")
    assert "Its worker was still at work after all" in run.error
    assert "succeeded (what it read is stored). This run stays failed." in run.error


# --- Imports beat like collections --------------------------------------------------------------


def test_an_import_longer_than_the_stale_window_keeps_its_claim_and_succeeds(
    committed_db, settings, monkeypatch
):
    settings.COLLECT_HEARTBEAT_SECONDS = 0.5
    settings.COLLECT_STALE_AFTER_SECONDS = 2
    account = production()
    store_parsed = imports.store_parsed
    meanwhile = {}

    def a_big_file(**kwargs):
        time.sleep(3)  # longer than the stale window
        meanwhile["claim"] = in_another_connection(
            lambda: queued_run(account, trigger=CollectionRun.Trigger.SCHEDULE)
        )
        return store_parsed(**kwargs)

    monkeypatch.setattr(imports, "store_parsed", a_big_file)

    run = imports.import_file(
        account=account, kind="credential-report", data=REPORT, filename="report.csv"
    )

    assert isinstance(meanwhile["claim"], AlreadyRunning)
    assert meanwhile["claim"].run.pk == run.pk
    assert run.status == CollectionRun.Status.SUCCEEDED, run.error
    assert run.error == ""
    assert CollectionRun.objects.filter(account=account).count() == 1
    assert CredentialReportEntry.objects.filter(account=account).count() == 1


def test_an_import_whose_run_the_sweep_failed_stores_nothing_and_its_run_stays_failed(
    committed_db, settings, monkeypatch
):
    """Its heartbeat did not reach the database (say the connection of its thread broke): the
    sweep failed the run and another run claimed the source. The import must not commit beside
    it, nor turn its failed run into a success."""
    settings.COLLECT_HEARTBEAT_SECONDS = 60  # no beat during this test
    settings.COLLECT_STALE_AFTER_SECONDS = 120
    account = production()
    store_parsed = imports.store_parsed
    meanwhile = {}

    def swept_while_storing(**kwargs):
        counts = store_parsed(**kwargs)

        def sweep_and_claim():
            run = CollectionRun.objects.get(account=account)
            silence(run, settings)
            meanwhile["failed"] = fail_stale_runs()
            return queued_run(account, trigger=CollectionRun.Trigger.SCHEDULE)

        meanwhile["claim"] = in_another_connection(sweep_and_claim)
        return counts

    monkeypatch.setattr(imports, "store_parsed", swept_while_storing)

    with pytest.raises(imports.ImportRejected, match="report.csv was not stored"):
        imports.import_file(
            account=account, kind="credential-report", data=REPORT, filename="report.csv"
        )

    imported = CollectionRun.objects.get(trigger=CollectionRun.Trigger.IMPORT)
    assert [r.pk for r in meanwhile["failed"]] == [imported.pk]
    assert imported.status == CollectionRun.Status.FAILED
    assert imported.error.startswith("Worker stopped: no heartbeat")
    assert "had read the file, but stored nothing of it" in imported.error
    assert meanwhile["claim"].status == CollectionRun.Status.QUEUED
    assert not CredentialReportEntry.objects.filter(account=account).exists()


def in_another_connection(work):
    """Run `work` in a thread of its own (its own database connection, like another worker)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = work()
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            outcome["value"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    return outcome["value"]


def test_a_scheduled_collection_whose_run_the_sweep_failed_stores_nothing(
    committed_db, settings, monkeypatch
):
    """As an import: the worker read AWS, but its heartbeat did not reach the database, so the
    sweep failed its run and queued a retry. Its storage must not commit beside the retry's."""
    settings.COLLECT_HEARTBEAT_SECONDS = 60  # no beat during this test
    settings.COLLECT_STALE_AFTER_SECONDS = 120
    store = collectors.store_credential_report
    meanwhile = {}

    def swept_while_storing(**kwargs):
        counts = store(**kwargs)

        def sweep_and_claim():
            run = CollectionRun.objects.get(trigger=CollectionRun.Trigger.SCHEDULE)
            silence(run, settings)
            meanwhile["failed"] = fail_stale_runs()
            return queued_run(run.account, trigger=CollectionRun.Trigger.SCHEDULE)

        meanwhile["retry"] = in_another_connection(sweep_and_claim)
        return counts

    monkeypatch.setattr(collectors, "store_credential_report", swept_while_storing)
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="alice")
        iam.generate_credential_report()
        account = add_account(account_id="123456789012", name="Hub", role_arn="")
        run = queued_run(account, trigger=CollectionRun.Trigger.SCHEDULE)

        run = run_collection(run=run)

    assert [r.pk for r in meanwhile["failed"]] == [run.pk]
    assert run.status == CollectionRun.Status.FAILED
    assert run.error.startswith("Worker stopped: no heartbeat")
    assert "had read AWS, but stored nothing of it" in run.error
    assert meanwhile["retry"].status == CollectionRun.Status.QUEUED
    assert not CredentialReportEntry.objects.filter(account=account).exists()
