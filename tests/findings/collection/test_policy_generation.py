"""CloudTrail policy generation: requested by a reviewer, started once, polled, stored."""

import json
from datetime import timedelta

import pytest
from botocore.stub import ANY
from django.db.models import F
from django.db.models.functions import Least
from django.utils import timezone

from findings.aws.errors import AwsError
from findings.collection.policy_generation import (
    GIVE_UP_AFTER,
    POLLING_STOPS_AFTER,
    GenerationForbidden,
    GenerationRefused,
    _claim_start,
    needs_task,
    request_policy_generation,
    run_policy_generation,
    take_up_abandoned_generations,
)
from findings.collection.tasks import generate_policy
from findings.models import AuditEntry, GeneratedPolicy
from tests.at_once import at_once
from tests.findings.collection.test_collectors import stubbed_boto3_clients  # noqa: F401
from tests.findings.detection.test_detect import iam_role, make_account

pytestmark = pytest.mark.django_db

TRAIL = "arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events"
READER = "arn:aws:iam::111122223333:role/AccessAnalyzerTrailReader"
GENERATED = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
}


@pytest.fixture
def configured():
    account = make_account()
    account.trail_arn, account.trail_access_role_arn = TRAIL, READER
    account.save()
    return account


@pytest.fixture
def batch_role(configured):
    return iam_role(configured, "legacy-checkout-batch-job")


ROLE_TO_ASSUME = "arn:aws:iam::111122223333:role/IAMReviewReadOnly"


@pytest.fixture
def assumed_batch_role(batch_role):
    """The batch role in an account read through a role to assume: each attempt calls STS."""
    batch_role.account.role_arn = ROLE_TO_ASSUME
    batch_role.account.save()
    return batch_role


def credentials() -> dict:
    return {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
            "SecretAccessKey": "secret",
            "SessionToken": "token",
            "Expiration": timezone.now() + timedelta(hours=1),
        }
    }


def stub_generation(stubber, role, *, polls_in_progress=1, status="SUCCEEDED"):
    stubber.add_response(
        "start_policy_generation",
        {"jobId": "job-1"},
        {
            "policyGenerationDetails": {"principalArn": role.arn},
            "cloudTrailDetails": {
                "trails": [{"cloudTrailArn": TRAIL, "allRegions": True}],
                "accessRole": READER,
                "startTime": ANY,
                "endTime": ANY,
            },
        },
    )
    details = {"jobId": "job-1", "startedOn": "2026-11-01T00:00:00Z"}
    for _ in range(polls_in_progress):
        stubber.add_response(
            "get_generated_policy",
            {
                "jobDetails": {**details, "status": "IN_PROGRESS"},
                "generatedPolicyResult": {"properties": {"principalArn": role.arn}},
            },
            {"jobId": "job-1"},
        )
    done = {"jobDetails": {**details, "status": status}}
    if status == "SUCCEEDED":
        done["generatedPolicyResult"] = {
            "properties": {"principalArn": role.arn},
            "generatedPolicies": [{"policy": json.dumps(GENERATED)}],
        }
    else:
        done["jobDetails"]["jobError"] = {"code": "SERVICE_ERROR", "message": "trail unreadable"}
        done["generatedPolicyResult"] = {"properties": {"principalArn": role.arn}}
    stubber.add_response("get_generated_policy", done, {"jobId": "job-1"})


def test_a_reviewer_requests_a_period_and_it_is_audited(batch_role, reviewer):
    generation = request_policy_generation(role=batch_role, days=30, actor=reviewer)

    assert generation.status == GeneratedPolicy.Status.QUEUED
    assert generation.days == 30 and generation.trail_arn == TRAIL
    entry = AuditEntry.objects.get(action="policy_generation.requested")
    assert entry.after["days"] == 30 and entry.actor == reviewer
    # Asking again while it runs returns the same request.
    assert request_policy_generation(role=batch_role, days=7, actor=reviewer) == generation


def test_requests_at_the_same_moment_make_one_generation(committed_db, reviewer, administrator):
    """Three at once each started a StartPolicyGeneration job: locking the running requests
    locked nothing while there were none."""
    account = make_account()
    account.trail_arn, account.trail_access_role_arn = TRAIL, READER
    account.save()
    role = iam_role(account, "legacy-checkout-batch-job")

    made = at_once(
        *[
            lambda person=person: request_policy_generation(role=role, days=30, actor=person)
            for person in (reviewer, administrator, reviewer)
        ]
    )

    assert len(made) == 3 and len({generation.pk for generation in made}) == 1
    assert GeneratedPolicy.objects.count() == 1
    assert AuditEntry.objects.filter(action="policy_generation.requested").count() == 1


def test_auditors_and_approvers_do_not_generate(batch_role, auditor, approver):
    for person in (auditor, approver):
        with pytest.raises(GenerationForbidden):
            request_policy_generation(role=batch_role, days=30, actor=person)


@pytest.mark.parametrize("days", [0, 91, 365])
def test_the_period_is_bounded(batch_role, administrator, days):
    with pytest.raises(GenerationRefused, match="1 to 90 days"):
        request_policy_generation(role=batch_role, days=days, actor=administrator)


def test_an_account_without_a_trail_cannot_generate(reviewer):
    role = iam_role(make_account(account_id="444455556666", name="Staging"), "api")
    with pytest.raises(GenerationRefused, match="no CloudTrail trail"):
        request_policy_generation(role=role, days=30, actor=reviewer)


def test_the_task_starts_the_job_once_polls_and_stores_the_policy(
    batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    stubber = stubbed_boto3_clients("accessanalyzer", "us-east-1")
    stub_generation(stubber, batch_role, polls_in_progress=0)
    generation = request_policy_generation(role=batch_role, days=30, actor=reviewer)

    assert generate_policy.apply(args=[generation.pk]).get() == "succeeded"

    stubber.assert_no_pending_responses()
    generation.refresh_from_db()
    assert generation.job_id == "job-1"
    assert generation.policies == [GENERATED] and generation.finished_at
    assert AuditEntry.objects.filter(action="policy_generation.succeeded").count() == 1
    # Idempotent: run again, nothing is asked of AWS (the stubber has nothing left to answer).
    assert run_policy_generation(generation_id=generation.pk) == "succeeded"


def test_a_task_finding_the_start_claimed_by_another_does_not_start_a_second_job(
    batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    """Requests at the same moment share one generation but each queued a task, and each task
    called StartPolicyGeneration. The first claims the start; the others leave it to it."""
    stubber = stubbed_boto3_clients("accessanalyzer", "us-east-1")  # nothing to answer
    generation = request_policy_generation(role=batch_role, days=30, actor=reviewer)
    claimed = timezone.now()
    GeneratedPolicy.objects.filter(pk=generation.pk).update(
        status="in_progress", start_claimed_at=claimed
    )

    assert run_policy_generation(generation_id=generation.pk) == "started_elsewhere"
    stubber.assert_no_pending_responses()
    assert GeneratedPolicy.objects.get(pk=generation.pk).job_id == ""
    assert not needs_task(generation=GeneratedPolicy.objects.get(pk=generation.pk))

    # Claimed and never started (its worker was lost): ten minutes later it is claimed again,
    # and a request for the role queues a task for it.
    GeneratedPolicy.objects.filter(pk=generation.pk).update(
        start_claimed_at=claimed - timedelta(minutes=11)
    )
    assert needs_task(generation=GeneratedPolicy.objects.get(pk=generation.pk))
    stub_generation(stubber, batch_role, polls_in_progress=0)
    assert run_policy_generation(generation_id=generation.pk) == "succeeded"
    stubber.assert_no_pending_responses()


def test_an_old_request_is_still_started_once(batch_role, reviewer):
    """The claim expires from when it was made, not from the request: with tasks queued ten
    minutes behind, two tasks of an old request both claimed the start."""
    generation = request_policy_generation(role=batch_role, days=30, actor=reviewer)
    GeneratedPolicy.objects.filter(pk=generation.pk).update(
        requested_at=timezone.now() - timedelta(minutes=30)
    )

    assert _claim_start(generation) is True
    assert _claim_start(generation) is False


def test_progress_is_recorded_while_aws_works(batch_role, reviewer, stubbed_boto3_clients):  # noqa: F811
    stubber = stubbed_boto3_clients("accessanalyzer", "us-east-1")
    stub_generation(stubber, batch_role, polls_in_progress=2)
    generation = request_policy_generation(role=batch_role, days=30, actor=reviewer)
    waits = []

    status = run_policy_generation(generation_id=generation.pk, sleep=waits.append)

    assert status == "succeeded" and len(waits) == 2
    generation.refresh_from_db()
    assert generation.waited_seconds > 0


def test_a_job_still_running_after_the_budget_is_resumed_not_restarted(
    batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    stubber = stubbed_boto3_clients("accessanalyzer", "us-east-1")
    stub_generation(stubber, batch_role, polls_in_progress=1)
    generation = request_policy_generation(role=batch_role, days=30, actor=reviewer)

    first = run_policy_generation(generation_id=generation.pk, max_wait_seconds=0)
    assert first == "in_progress"
    # The second attempt polls the same job: no second StartPolicyGeneration.
    assert run_policy_generation(generation_id=generation.pk, sleep=lambda s: None) == "succeeded"
    stubber.assert_no_pending_responses()


def test_a_failed_job_or_a_refused_start_is_stored_with_the_reason(
    batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    stubber = stubbed_boto3_clients("accessanalyzer", "us-east-1")
    stub_generation(stubber, batch_role, polls_in_progress=0, status="FAILED")
    generation = request_policy_generation(role=batch_role, days=30, actor=reviewer)
    assert run_policy_generation(generation_id=generation.pk) == "failed"
    generation.refresh_from_db()
    assert "trail unreadable" in generation.error

    stubber.add_client_error("start_policy_generation", "AccessDeniedException", "no PassRole")
    again = request_policy_generation(role=batch_role, days=30, actor=reviewer)
    assert run_policy_generation(generation_id=again.pk) == "failed"
    again.refresh_from_db()
    assert again.error and not again.job_id


def job_started_and_still_running(batch_role, reviewer, stubbed_clients, *, sts=None):
    """A request whose job AWS is working on: started, polled once, still in progress."""
    analyzer = stubbed_clients("accessanalyzer", "us-east-1")
    stub_generation(analyzer, batch_role, polls_in_progress=1)
    if sts is not None:
        sts.add_response("assume_role", credentials())
    generation = request_policy_generation(role=batch_role, days=30, actor=reviewer)
    assert run_policy_generation(generation_id=generation.pk, max_wait_seconds=0) == "in_progress"
    return generation, analyzer


def polled_ago(generation, age: timedelta) -> None:
    """Time passes: the job was last polled `age` ago (and requested just before)."""
    GeneratedPolicy.objects.filter(pk=generation.pk).update(
        polled_at=timezone.now() - age,
        requested_at=Least(F("requested_at"), timezone.now() - age - timedelta(minutes=1)),
    )


def test_a_job_nobody_polls_any_more_is_taken_up_again_not_left_running_for_ever(
    assumed_batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    """The task following a started job failed outside polling (STS throttled AssumeRole past
    every retry): nothing polled the job again, and every request for the role was answered
    with the dead generation, so the role could never be generated again."""
    sts = stubbed_boto3_clients("sts")
    generation, analyzer = job_started_and_still_running(
        assumed_batch_role, reviewer, stubbed_boto3_clients, sts=sts
    )
    sts.add_client_error("assume_role", "Throttling", "Rate exceeded", 400)
    with pytest.raises(AwsError, match="throttling"):
        run_policy_generation(generation_id=generation.pk, max_wait_seconds=0)
    # Its task comes back to it within minutes: no second task meanwhile.
    assert not needs_task(generation=GeneratedPolicy.objects.get(pk=generation.pk))

    # The task never came back (its worker died, or it was never retried).
    polled_ago(generation, POLLING_STOPS_AFTER + timedelta(minutes=1))
    again = request_policy_generation(role=assumed_batch_role, days=30, actor=reviewer)
    assert again.pk == generation.pk and needs_task(generation=again)  # the request queues one
    assert take_up_abandoned_generations() == [generation.pk]  # and so does the sweep, once
    assert take_up_abandoned_generations() == []

    sts.add_response("assume_role", credentials())
    assert run_policy_generation(generation_id=generation.pk) == "succeeded"
    analyzer.assert_no_pending_responses()
    assert GeneratedPolicy.objects.get(pk=generation.pk).policies == [GENERATED]


def test_a_throttled_poll_leaves_the_job_running_for_its_task_and_a_refused_one_fails_it(
    batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    """Throttling on GetGeneratedPolicy is AWS asking to come back later, as on any other
    call: the job runs on and the task (which polled just now) tries again. Access denied
    on the same call will not pass by itself: the request fails with the reason."""
    generation, _ = job_started_and_still_running(batch_role, reviewer, stubbed_boto3_clients)
    analyzer = stubbed_boto3_clients("accessanalyzer", "us-east-1")  # the next polls
    analyzer.add_client_error("get_generated_policy", "ThrottlingException", "Rate exceeded", 429)

    with pytest.raises(AwsError, match="throttling"):
        run_policy_generation(generation_id=generation.pk)

    generation.refresh_from_db()
    assert generation.status == GeneratedPolicy.Status.IN_PROGRESS and generation.error == ""
    assert not needs_task(generation=generation)  # its task follows it: no second one

    analyzer.add_client_error(
        "get_generated_policy", "AccessDeniedException", "not authorized", 403
    )
    assert run_policy_generation(generation_id=generation.pk) == "failed"
    generation.refresh_from_db()
    assert "Access denied" in generation.error


def test_a_generation_nobody_followed_past_the_bound_is_failed_and_the_role_asked_again(
    batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    generation, _ = job_started_and_still_running(batch_role, reviewer, stubbed_boto3_clients)
    requested = timezone.now() - GIVE_UP_AFTER - timedelta(minutes=1)
    GeneratedPolicy.objects.filter(pk=generation.pk).update(requested_at=requested)
    polled_ago(generation, POLLING_STOPS_AFTER + timedelta(minutes=1))

    again = request_policy_generation(role=batch_role, days=30, actor=reviewer)

    assert again.pk != generation.pk and again.status == GeneratedPolicy.Status.QUEUED
    generation.refresh_from_db()
    assert generation.status == GeneratedPolicy.Status.FAILED
    assert generation.error.startswith("Gave up: AWS had not generated the policy 3 hours")
    assert AuditEntry.objects.filter(action="policy_generation.failed").count() == 1


def test_the_sweep_gives_up_a_generation_nobody_followed_past_the_bound(
    batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    generation, _ = job_started_and_still_running(batch_role, reviewer, stubbed_boto3_clients)
    requested = timezone.now() - GIVE_UP_AFTER - timedelta(minutes=1)
    GeneratedPolicy.objects.filter(pk=generation.pk).update(requested_at=requested)
    # Followed by its task: the task gives it up itself, at its next attempt.
    assert take_up_abandoned_generations() == []
    assert GeneratedPolicy.objects.get(pk=generation.pk).is_running

    polled_ago(generation, POLLING_STOPS_AFTER + timedelta(minutes=1))
    assert take_up_abandoned_generations() == []

    generation.refresh_from_db()
    assert generation.status == GeneratedPolicy.Status.FAILED and "ask again" in generation.error


def test_a_generation_still_running_past_the_bound_is_given_up_by_its_task(
    batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    generation, analyzer = job_started_and_still_running(
        batch_role, reviewer, stubbed_boto3_clients
    )
    requested = timezone.now() - GIVE_UP_AFTER - timedelta(minutes=1)
    GeneratedPolicy.objects.filter(pk=generation.pk).update(requested_at=requested)

    assert run_policy_generation(generation_id=generation.pk) == "failed"
    assert "Gave up" in GeneratedPolicy.objects.get(pk=generation.pk).error


def test_a_refused_assume_role_fails_the_generation_with_the_reason(
    assumed_batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    """Not worth another try (the trust policy does not admit us): failed at once, with what
    to check, and the role may be asked for again."""
    sts = stubbed_boto3_clients("sts")
    generation, _ = job_started_and_still_running(
        assumed_batch_role, reviewer, stubbed_boto3_clients, sts=sts
    )
    sts.add_client_error("assume_role", "AccessDenied", "not authorized", 403)

    assert run_policy_generation(generation_id=generation.pk) == "failed"

    generation.refresh_from_db()
    assert "could not assume the role" in generation.error
    again = request_policy_generation(role=assumed_batch_role, days=30, actor=reviewer)
    assert again.pk != generation.pk
