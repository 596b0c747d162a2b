"""Tasks: scheduling is idempotent, a finished run is not run again, a real worker works."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import redis
from django.utils import timezone
from moto import mock_aws

from findings.collection.policy_generation import (
    POLLING_STOPS_AFTER,
    request_policy_generation,
)
from findings.collection.registry import add_account
from findings.collection.runs import AlreadyRunning, claim_run, finish_run
from findings.collection.schedule import due_pairs
from findings.collection.tasks import (
    TaskNotSent,
    collect_source,
    detect_owner_task,
    discover_organization,
    enqueue_collection,
    generate_policy,
    schedule_collections,
    sweep_policy_generations,
    sweep_stale_runs,
)
from findings.models import (
    AuditEntry,
    AwsAccount,
    CollectionRun,
    CredentialReportEntry,
    GeneratedPolicy,
    Source,
)
from iamreview.celery import app as project_app
from tests.conftest import solo_worker
from tests.findings.collection.test_collectors import stubbed_boto3_clients  # noqa: F401
from tests.findings.collection.test_policy_generation import (  # noqa: F401
    GENERATED,
    assumed_batch_role,
    batch_role,
    configured,
    credentials,
    job_started_and_still_running,
    polled_ago,
)

HUB = "123456789012"
STARTED = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def forget_the_eager_producer_pool():
    """Even in-process (eager) tasks make Celery cache a producer pool for the broker-less
    configuration; a later test that points the project's app at Redis would publish into it.
    Drop it after each test here (tests/iamreview/test_celery.py relies on a clean app)."""
    yield
    project_app._pool = None
    project_app.__dict__.pop("amqp", None)


def failing_fast(account_id: str, name: str) -> AwsAccount:
    """An account whose collections fail at once, before any AWS call (a malformed role ARN)."""
    account = add_account(account_id=account_id, name=name)
    AwsAccount.objects.filter(pk=account.pk).update(role_arn="arn:aws:iam::1:role/x")
    account.refresh_from_db()
    return account


@pytest.mark.django_db
def test_schedule_enqueues_one_run_per_due_account_and_source_and_nothing_twice():
    production = failing_fast("111122223333", "Production")
    staging = failing_fast("444455556666", "Staging")
    disabled = failing_fast("777788889999", "Old")
    AwsAccount.objects.filter(pk=disabled.pk).update(enabled=False)

    # Service last-accessed waits for each account's first users and roles.
    first_sources = [s for s in Source.values if s != Source.SERVICE_LAST_ACCESSED]
    assert schedule_collections() == 6
    runs = CollectionRun.objects.all()
    assert sorted((r.account_id, r.source) for r in runs) == sorted(
        (account.pk, source) for account in (production, staging) for source in first_sources
    )
    assert {r.trigger for r in runs} == {CollectionRun.Trigger.SCHEDULE}
    # Tasks ran in-process: every run is finished (these fail fast, or have nothing to read).
    assert not [r for r in runs if r.is_active]
    assert runs.filter(source=Source.CREDENTIAL_REPORT, status="failed").count() == 2

    assert schedule_collections() == 0
    assert schedule_collections() == 0
    assert CollectionRun.objects.count() == 6


@pytest.mark.django_db
def test_service_last_accessed_is_due_once_users_and_roles_came(settings):
    account = failing_fast("111122223333", "Production")
    schedule_collections()
    assert (account, Source.SERVICE_LAST_ACCESSED) not in due_pairs(now=timezone.now())
    run = claim_run(account=account, source=Source.AUTHORIZATION_DETAILS, trigger="import")
    finish_run(run=run, succeeded=True, counts={"users": 1})

    assert due_pairs(now=timezone.now()) == [(account, Source.SERVICE_LAST_ACCESSED)]


@pytest.mark.django_db
def test_a_source_is_due_again_after_its_interval(settings):
    account = failing_fast("111122223333", "Production")
    schedule_collections()
    CollectionRun.objects.filter(source=Source.CREDENTIAL_REPORT).update(
        created_at=timezone.now() - timedelta(hours=settings.COLLECT_CREDENTIAL_REPORT_HOURS)
    )

    assert due_pairs(now=timezone.now()) == [(account, Source.CREDENTIAL_REPORT)]
    assert schedule_collections() == 1


@pytest.mark.django_db
def test_schedule_skips_a_source_already_queued_elsewhere():
    account = failing_fast("111122223333", "Production")
    held = claim_run(account=account, source=Source.ACCESS_ANALYZER, trigger="manual")

    assert schedule_collections() == 2  # and service last-accessed waits for users and roles
    held.refresh_from_db()
    assert held.status == CollectionRun.Status.QUEUED
    with pytest.raises(AlreadyRunning):
        enqueue_collection(account=account, source=Source.ACCESS_ANALYZER, trigger="manual")


@pytest.mark.django_db
def test_schedule_leaves_a_source_alone_while_its_run_waits_in_a_long_queue(settings):
    """Queued longer than its interval behind a backlog, the run is neither failed nor joined
    by a second run of the same source."""
    account = failing_fast("111122223333", "Production")
    waiting = claim_run(account=account, source=Source.CREDENTIAL_REPORT, trigger="schedule")
    CollectionRun.objects.filter(pk=waiting.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.COLLECT_CREDENTIAL_REPORT_HOURS + 1)
    )

    assert schedule_collections() == 2  # users and roles, Access Analyzer

    waiting.refresh_from_db()
    assert waiting.status == CollectionRun.Status.QUEUED
    assert CollectionRun.objects.filter(source=Source.CREDENTIAL_REPORT).count() == 1


@pytest.mark.django_db
def test_collect_source_on_a_finished_run_does_nothing():
    account = failing_fast("111122223333", "Production")
    run = claim_run(account=account, source=Source.CREDENTIAL_REPORT, trigger="manual")
    finish_run(run=run, succeeded=True, counts={"rows": 3})
    before = CollectionRun.objects.filter(pk=run.pk).values().get()

    assert collect_source(run.pk) == "skipped"
    assert collect_source(run.pk + 1000) == "skipped"
    assert CollectionRun.objects.filter(pk=run.pk).values().get() == before


@pytest.mark.django_db
def test_collect_source_carries_out_a_queued_run():
    account = failing_fast("111122223333", "Production")
    run = claim_run(account=account, source=Source.CREDENTIAL_REPORT, trigger="manual")

    assert collect_source(run.pk) == "failed"
    run.refresh_from_db()
    assert run.error.startswith("Configuration error")


@pytest.mark.django_db
def test_the_sweep_fails_the_runs_of_dead_workers_and_queues_each_once_again(settings):
    account = failing_fast("111122223333", "Production")
    alive = claim_run(account=account, source=Source.ACCESS_ANALYZER, trigger="schedule")
    CollectionRun.objects.filter(pk=alive.pk).update(status="running", heartbeat_at=timezone.now())
    dead = claim_run(account=account, source=Source.CREDENTIAL_REPORT, trigger="schedule")
    silent_since = timezone.now() - timedelta(seconds=settings.COLLECT_STALE_AFTER_SECONDS + 1)
    CollectionRun.objects.filter(pk=dead.pk).update(
        status="running", started_at=silent_since, heartbeat_at=silent_since, worker="w1:42"
    )

    assert sweep_stale_runs() == 1

    dead.refresh_from_db()
    assert dead.status == "failed"
    assert dead.error.startswith("Worker stopped: no heartbeat from w1:42 since")
    retry = CollectionRun.objects.get(retry_of=dead)
    assert (retry.source, retry.trigger) == (Source.CREDENTIAL_REPORT, "schedule")
    assert retry.status == "failed"  # it ran (in-process here) and failed fast on its ARN
    alive.refresh_from_db()
    assert alive.status == "running"
    # A retry whose worker dies too is failed, not retried for ever.
    CollectionRun.objects.filter(pk=retry.pk).update(status="running", heartbeat_at=silent_since)
    assert sweep_stale_runs() == 0
    assert CollectionRun.objects.filter(account=account).count() == 3


# --- The broker is unreachable -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_whose_task_the_broker_did_not_take_is_failed_at_once_and_holds_no_claim(
    broker_down,
):
    """It used to stay queued, holding the source ("Already running") for nobody, until the
    sweep called it abandoned half an hour later."""
    account = failing_fast("111122223333", "Production")

    with pytest.raises(TaskNotSent) as unsent:
        enqueue_collection(account=account, source=Source.CREDENTIAL_REPORT, trigger="manual")

    run = CollectionRun.objects.get(pk=unsent.value.run.pk)
    assert (run.status, run.started_at, run.attempts) == ("failed", None, 0)
    assert run.error.startswith(
        "Not sent to a worker: the task queue (broker) could not be reached (Error 111 "
    )
    assert run.error.endswith("Nothing was collected; the source can be collected again at once.")
    assert (account, Source.CREDENTIAL_REPORT) in due_pairs(now=timezone.now())
    again = claim_run(account=account, source=Source.CREDENTIAL_REPORT, trigger="manual")
    assert again.status == CollectionRun.Status.QUEUED


@pytest.mark.django_db
def test_with_the_broker_down_the_schedule_tries_every_due_account_and_holds_no_claim(
    broker_down, caplog
):
    """A publish error used to stop the loop: the accounts after the first were not tried."""
    production = failing_fast("111122223333", "Production")
    staging = failing_fast("444455556666", "Staging")

    assert schedule_collections() == 0

    first_sources = [s for s in Source.values if s != Source.SERVICE_LAST_ACCESSED]
    runs = CollectionRun.objects.all()
    assert sorted((r.account_id, r.source) for r in runs) == sorted(
        (account.pk, source) for account in (production, staging) for source in first_sources
    )
    assert {(r.status, r.started_at) for r in runs} == {("failed", None)}
    assert "6 of 6 due collections not sent: the broker could not be reached" in caplog.text
    assert len(due_pairs(now=timezone.now())) == 6  # all due again at the next tick


@pytest.mark.django_db
def test_with_the_broker_down_the_sweep_fails_every_dead_run_and_no_retry_holds_a_claim(
    broker_down, settings, caplog
):
    silent_since = timezone.now() - timedelta(seconds=settings.COLLECT_STALE_AFTER_SECONDS + 1)
    dead = []
    for account_id, name in (("111122223333", "Production"), ("444455556666", "Staging")):
        account = failing_fast(account_id, name)
        run = claim_run(account=account, source=Source.CREDENTIAL_REPORT, trigger="schedule")
        CollectionRun.objects.filter(pk=run.pk).update(
            status="running", started_at=silent_since, heartbeat_at=silent_since, worker="w1:42"
        )
        dead.append(run)

    assert sweep_stale_runs() == 0

    for run in dead:
        run.refresh_from_db()
        assert run.error.startswith("Worker stopped: no heartbeat from w1:42")
        retry = CollectionRun.objects.get(retry_of=run)
        assert (retry.status, retry.started_at) == ("failed", None)
        assert retry.error.startswith("Not sent to a worker")
    assert not CollectionRun.objects.filter(status__in=["queued", "running"]).exists()
    assert "2 of 2 retries of dead workers' runs not sent" in caplog.text


@pytest.mark.django_db
def test_discovery_task_without_a_configured_role_does_nothing(settings):
    settings.DISCOVERY_ROLE_ARN = ""
    assert discover_organization() == "not configured"


@pytest.mark.django_db
def test_discovery_task_registers_the_organizations_accounts(settings):
    settings.DISCOVERY_ROLE_ARN = f"arn:aws:iam::{HUB}:role/OrganizationReader"
    settings.DISCOVERY_MEMBER_ROLE_NAME = "IAMReviewReadOnly"
    settings.DISCOVERY_EXTERNAL_ID = ""
    settings.DISCOVERY_REGIONS = ["us-east-1"]
    with mock_aws():
        org = boto3.client("organizations")
        org.create_organization(FeatureSet="ALL")
        org.create_account(Email="a@example.com", AccountName="a")

        assert discover_organization() == "2 accounts, 2 new"
    assert AwsAccount.objects.count() == 2


# --- CloudTrail policy generation ---------------------------------------------------------------


@pytest.fixture
def retried_in_process():
    """Tasks run in-process here; let a task's retries run the way a worker runs them, rather
    than raising Retry to the caller (which only in-process, propagating tasks do)."""
    propagates = project_app.conf.task_eager_propagates
    project_app.conf.task_eager_propagates = False
    yield
    project_app.conf.task_eager_propagates = propagates


@pytest.mark.django_db
def test_generating_a_policy_comes_back_later_when_sts_throttles_and_polls_the_job(
    retried_in_process,
    assumed_batch_role,  # noqa: F811
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    """STS refusing AssumeRole for a while (throttled past botocore's retries) failed the task
    for good, and the started job was never polled again."""
    sts = stubbed_boto3_clients("sts")
    generation, analyzer = job_started_and_still_running(
        assumed_batch_role, reviewer, stubbed_boto3_clients, sts=sts
    )
    sts.add_client_error("assume_role", "Throttling", "Rate exceeded", 400)
    sts.add_response("assume_role", credentials())

    assert generate_policy.apply(args=[generation.pk]).get() == "succeeded"

    analyzer.assert_no_pending_responses()
    assert GeneratedPolicy.objects.get(pk=generation.pk).policies == [GENERATED]


@pytest.mark.django_db
def test_generating_a_policy_comes_back_later_when_aws_throttles_polling_the_job(
    retried_in_process,
    batch_role,  # noqa: F811
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    """GetGeneratedPolicy throttled past botocore's retries failed the generation at once,
    while throttling on every other call was tried again later."""
    generation, _ = job_started_and_still_running(batch_role, reviewer, stubbed_boto3_clients)
    analyzer = stubbed_boto3_clients("accessanalyzer", "us-east-1")  # the next polls
    analyzer.add_client_error(
        "get_generated_policy", "ThrottlingException", "Rate exceeded", 429, {"jobId": "job-1"}
    )
    analyzer.add_response(
        "get_generated_policy",
        {
            "jobDetails": {"jobId": "job-1", "status": "SUCCEEDED", "startedOn": STARTED},
            "generatedPolicyResult": {
                "properties": {"principalArn": batch_role.arn},
                "generatedPolicies": [{"policy": json.dumps(GENERATED)}],
            },
        },
        {"jobId": "job-1"},
    )

    assert generate_policy.apply(args=[generation.pk]).get() == "succeeded"

    analyzer.assert_no_pending_responses()
    generation.refresh_from_db()
    assert generation.policies == [GENERATED] and generation.error == ""
    assert not AuditEntry.objects.filter(action="policy_generation.failed").exists()


@pytest.mark.django_db
def test_generating_a_policy_out_of_attempts_fails_with_the_reason_and_may_be_asked_again(
    retried_in_process,
    assumed_batch_role,  # noqa: F811
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    sts = stubbed_boto3_clients("sts")
    generation, _ = job_started_and_still_running(
        assumed_batch_role, reviewer, stubbed_boto3_clients, sts=sts
    )
    for _ in range(generate_policy.max_retries + 1):
        sts.add_client_error("assume_role", "Throttling", "Rate exceeded", 400)

    assert generate_policy.apply(args=[generation.pk]).get() == "failed"

    sts.assert_no_pending_responses()
    generation.refresh_from_db()
    assert generation.error.startswith("Gave up after 13 attempts: AWS is throttling requests")
    again = request_policy_generation(role=assumed_batch_role, days=30, actor=reviewer)
    assert again.pk != generation.pk and again.status == GeneratedPolicy.Status.QUEUED


@pytest.mark.django_db
def test_a_job_aws_is_still_running_at_the_last_attempt_fails_with_the_reason(
    batch_role,  # noqa: F811
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
    monkeypatch,
):
    generation, analyzer = job_started_and_still_running(
        batch_role, reviewer, stubbed_boto3_clients
    )
    analyzer = stubbed_boto3_clients("accessanalyzer", "us-east-1")  # AWS keeps working
    for _ in range(40):  # every poll of ten minutes of waiting
        analyzer.add_response(
            "get_generated_policy",
            {
                "jobDetails": {"jobId": "job-1", "status": "IN_PROGRESS", "startedOn": STARTED},
                "generatedPolicyResult": {"properties": {"principalArn": batch_role.arn}},
            },
        )
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # the ten minutes pass at once

    last = generate_policy.max_retries
    assert generate_policy.apply(args=[generation.pk], retries=last).get() == "failed"

    generation.refresh_from_db()
    assert generation.error == (
        "Gave up: AWS was still generating the policy after 13 attempts of up to ten minutes "
        "each; ask again"
    )


@pytest.mark.django_db
def test_the_sweep_queues_a_task_for_a_generation_nobody_polls_any_more(
    batch_role,  # noqa: F811
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    generation, analyzer = job_started_and_still_running(
        batch_role, reviewer, stubbed_boto3_clients
    )
    assert sweep_policy_generations() == 0  # its task follows it
    polled_ago(generation, POLLING_STOPS_AFTER + timedelta(minutes=1))

    assert sweep_policy_generations() == 1  # the task ran here, in-process

    analyzer.assert_no_pending_responses()
    assert GeneratedPolicy.objects.get(pk=generation.pk).status == "succeeded"


# --- A real worker on the real Redis ------------------------------------------------------------


@pytest.mark.services
def test_a_real_worker_collects_a_queued_run(committed_db, celery_on_redis):
    with mock_aws():  # patches botocore process-wide: the worker thread talks to moto too
        iam = boto3.client("iam")
        iam.create_user(UserName="alice")
        iam.create_user(UserName="bob")
        iam.generate_credential_report()
        account = add_account(account_id=HUB, name="Hub")
        # A queue of its own, so that no other test run's worker takes the task.
        queue = f"iamreview-test-{uuid.uuid4().hex[:8]}"
        with solo_worker(celery_on_redis, queue=queue):
            run = claim_run(account=account, source=Source.CREDENTIAL_REPORT, trigger="manual")
            result = celery_on_redis.send_task(collect_source.name, [run.pk], queue=queue)
            assert result.get(timeout=30) == "succeeded"
            # Delivered again (acks_late after a crash, say): the finished run is left alone.
            again = celery_on_redis.send_task(collect_source.name, [run.pk], queue=queue)
            assert again.get(timeout=30) == "skipped"

    run.refresh_from_db()
    assert run.status == CollectionRun.Status.SUCCEEDED
    assert set(CredentialReportEntry.objects.values_list("user", flat=True)) == {"alice", "bob"}


def on_a_queue_of_its_own(app) -> str:
    """Make `app` (on the real Redis) the one tasks are sent through, on a queue of its own:
    no other test run's worker takes its messages."""
    queue = f"iamreview-test-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    app.set_current()
    return queue


def wait_until_no_run_is_active(seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while CollectionRun.objects.filter(status__in=["queued", "running"]).exists():
        assert time.monotonic() < deadline, list(CollectionRun.objects.values("pk", "status"))
        time.sleep(0.2)


def waited_in_the_queue(minutes: int) -> None:
    CollectionRun.objects.update(created_at=timezone.now() - timedelta(minutes=minutes))


@pytest.mark.services
def test_runs_waiting_behind_a_busy_queue_stay_queued_and_are_carried_out_in_their_turn(
    committed_db, celery_on_redis, redis_url, settings
):
    """A few hundred accounts queue four runs each at once: behind a few workers, a run waits
    longer than the task time limit (31 min) with its message still in Redis. The sweep used
    to fail it as "no worker picked this run up"; its message was then skipped, and its retry
    failed the same way behind the same backlog."""
    account = failing_fast("111122223333", "Production")
    queue = on_a_queue_of_its_own(celery_on_redis)
    broker = redis.Redis.from_url(redis_url)
    try:
        assert schedule_collections() == 3
        assert broker.llen(queue) == 3
        waited_in_the_queue(minutes=settings.CELERY_TASK_TIME_LIMIT // 60 + 2)

        assert sweep_stale_runs() == 0

        assert set(CollectionRun.objects.values_list("status", flat=True)) == {"queued"}
        assert broker.llen(queue) == 3  # nothing sent twice: each message is still there
        with solo_worker(celery_on_redis, queue=queue):
            wait_until_no_run_is_active()
    finally:
        broker.delete(queue)
    runs = CollectionRun.objects.filter(account=account)
    assert runs.count() == 3  # no retries: each run was carried out once
    assert {(r.attempts, r.started_at is not None) for r in runs} == {(1, True)}
    assert (
        runs.filter(source=Source.CREDENTIAL_REPORT).get().error.startswith("Configuration error")
    )


@pytest.mark.services
def test_a_run_whose_message_was_lost_is_sent_again_once_the_queue_is_empty(
    committed_db, celery_on_redis, redis_url, settings
):
    """Redis restarted without its data, or the queue was purged: nothing will deliver these
    runs. Once none waits in the queue, the sweep sends each again (once: while a message
    waits, it sends nothing more), and a worker carries it out."""
    account = failing_fast("111122223333", "Production")
    queue = on_a_queue_of_its_own(celery_on_redis)
    broker = redis.Redis.from_url(redis_url)
    try:
        schedule_collections()
        broker.delete(queue)  # the messages are lost
        waited_in_the_queue(minutes=5)
        sweep_stale_runs()
        assert broker.llen(queue) == 0  # queued for minutes only: a worker may hold it

        waited_in_the_queue(minutes=settings.CELERY_TASK_TIME_LIMIT // 60 + 2)
        sweep_stale_runs()
        sweep_stale_runs()

        assert broker.llen(queue) == 3
        with solo_worker(celery_on_redis, queue=queue):
            wait_until_no_run_is_active()
    finally:
        broker.delete(queue)
    runs = CollectionRun.objects.filter(account=account)
    assert runs.count() == 3
    assert {r.attempts for r in runs} == {1}


@pytest.mark.django_db
def test_the_detection_of_another_accounts_findings_is_a_task_that_forgives_a_gone_account():
    account = add_account(account_id="444455556666", name="Member")
    run = claim_run(account=account, source="access-analyzer", trigger="manual")

    assert detect_owner_task.apply(args=[account.pk, run.pk]).get() == "detected"
    assert detect_owner_task.apply(args=[account.pk + 1000, run.pk]).get() == "account gone"
