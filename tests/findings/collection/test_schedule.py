"""Which (account, source) pairs are due: an attempt waits its interval, a run that never
started is no attempt, and a queued run is not queued again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from findings.collection.registry import add_account
from findings.collection.runs import claim_run, finish_run, start_run
from findings.collection.schedule import due_pairs
from findings.models import CollectionRun, Source
from tests.findings.history import assert_bounded, rows_read_at_two_sizes

pytestmark = pytest.mark.django_db


@pytest.fixture
def production():
    return add_account(account_id="111122223333", name="Production")


def due_sources(account) -> set[str]:
    return {source for each, source in due_pairs(now=timezone.now()) if each.pk == account.pk}


def scheduled(account, source=Source.CREDENTIAL_REPORT) -> CollectionRun:
    return claim_run(account=account, source=source, trigger=CollectionRun.Trigger.SCHEDULE)


def test_a_run_that_failed_without_ever_starting_is_no_attempt_and_the_source_stays_due(
    production,
):
    """Failed before any worker started it (an earlier version failed a run that only waited
    behind a busy queue as "abandoned"): AWS was never asked, so the source must not wait a
    whole interval (6 h; 24 h for service last-accessed) for its next try."""
    never_started = scheduled(production)
    finish_run(
        run=never_started,
        succeeded=False,
        error="Abandoned: no worker picked this run up within the task time limit.",
    )

    assert Source.CREDENTIAL_REPORT in due_sources(production)


def test_a_run_that_started_and_failed_is_an_attempt_for_its_whole_interval(production, settings):
    attempt = scheduled(production)
    start_run(run=attempt)
    finish_run(run=attempt, succeeded=False, error="AccessDenied")

    assert Source.CREDENTIAL_REPORT not in due_sources(production)
    CollectionRun.objects.filter(pk=attempt.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.COLLECT_CREDENTIAL_REPORT_HOURS)
    )
    assert Source.CREDENTIAL_REPORT in due_sources(production)


def test_a_source_whose_run_still_waits_in_the_queue_is_not_due_however_long_it_waits(
    production, settings
):
    """A run queued longer than its interval (a backlog of hours, workers down) keeps its
    place: a second run for the same source would only pile up behind it."""
    waiting = scheduled(production)
    CollectionRun.objects.filter(pk=waiting.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.COLLECT_CREDENTIAL_REPORT_HOURS + 1)
    )
    running = scheduled(production, Source.ACCESS_ANALYZER)
    start_run(run=running)
    CollectionRun.objects.filter(pk=running.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.COLLECT_ACCESS_ANALYZER_HOURS + 1)
    )

    assert due_sources(production) == {Source.AUTHORIZATION_DETAILS}


def test_the_schedule_tick_does_not_read_every_run_ever_made():
    """findings.schedule_collections runs every 5 minutes: due_pairs needs each
    (account, source)'s latest attempt and whether one is active, not years of runs."""
    short, long = rows_read_at_two_sizes(lambda accounts: due_pairs(now=timezone.now()))
    assert_bounded(short, long)
