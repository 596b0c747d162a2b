"""CloudTrail policy generation: requested by a reviewer, started once, polled, stored."""

import json
from datetime import timedelta

import pytest
from botocore.stub import ANY
from django.utils import timezone

from findings.collection.policy_generation import (
    GenerationForbidden,
    GenerationRefused,
    _claim_start,
    request_policy_generation,
    run_policy_generation,
    start_is_stale,
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
    assert not start_is_stale(generation=GeneratedPolicy.objects.get(pk=generation.pk))

    # Claimed and never started (its worker was lost): ten minutes later it is claimed again,
    # and a request for the role queues a task for it.
    GeneratedPolicy.objects.filter(pk=generation.pk).update(
        start_claimed_at=claimed - timedelta(minutes=11)
    )
    assert start_is_stale(generation=GeneratedPolicy.objects.get(pk=generation.pk))
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
