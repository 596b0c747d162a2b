from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from findings.aws.service_last_accessed import fetch_service_last_accessed
from findings.aws.session import client

ALICE = "arn:aws:iam::111122223333:user/alice"
BATCH = "arn:aws:iam::111122223333:role/legacy-batch"
GONE = "arn:aws:iam::111122223333:role/deleted-yesterday"
CREATED = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
USED = datetime(2026, 10, 30, 17, 2, 11, tzinfo=UTC)
# Job ids are UUIDs; the model requires 36 characters.
JOB_ALICE = "a1a1a1a1-0000-4000-8000-000000000001"
JOB_BATCH = "b2b2b2b2-0000-4000-8000-000000000002"


def job(status: str, services: list | None = None, **extra) -> dict:
    """A GetServiceLastAccessedDetails response; the model requires the dates in every state."""
    return {
        "JobStatus": status,
        "JobType": "ACTION_LEVEL",
        "JobCreationDate": CREATED,
        "JobCompletionDate": CREATED,
        "ServicesLastAccessed": services or [],
        **extra,
    }


S3 = {
    "ServiceName": "Amazon S3",
    "ServiceNamespace": "s3",
    "LastAuthenticated": USED,
    "LastAuthenticatedEntity": ALICE,
    "LastAuthenticatedRegion": "eu-west-1",
    "TotalAuthenticatedEntities": 1,
    "TrackedActionsLastAccessed": [
        {
            "ActionName": "GetObject",
            "LastAccessedEntity": ALICE,
            "LastAccessedTime": USED,
            "LastAccessedRegion": "eu-west-1",
        },
        {"ActionName": "PutObject"},
    ],
}
DYNAMODB_NEVER_USED = {
    "ServiceName": "Amazon DynamoDB",
    "ServiceNamespace": "dynamodb",
    "TotalAuthenticatedEntities": 0,
}


@pytest.fixture
def stubbed_iam():
    iam = client(boto3.Session(), "iam")
    with Stubber(iam) as stubber:
        yield iam, stubber
        stubber.assert_no_pending_responses()


def expect_start(stubber, arn: str, job_id: str, granularity: str = "ACTION_LEVEL") -> None:
    stubber.add_response(
        "generate_service_last_accessed_details",
        {"JobId": job_id},
        {"Arn": arn, "Granularity": granularity},
    )


def expect_read(stubber, job_id: str, response: dict, marker: str | None = None) -> None:
    params = {"JobId": job_id} if marker is None else {"JobId": job_id, "Marker": marker}
    stubber.add_response("get_service_last_accessed_details", response, params)


def test_jobs_are_started_then_polled_with_growing_waits_and_read_across_pages(stubbed_iam):
    iam, stubber = stubbed_iam
    expect_start(stubber, ALICE, JOB_ALICE)
    expect_start(stubber, BATCH, JOB_BATCH)
    # Round 1: alice still running; batch done, its services span two pages.
    expect_read(stubber, JOB_ALICE, job("IN_PROGRESS"))
    expect_read(stubber, JOB_BATCH, job("COMPLETED", [S3], IsTruncated=True, Marker="page-2"))
    expect_read(stubber, JOB_BATCH, job("COMPLETED", [DYNAMODB_NEVER_USED]), marker="page-2")
    # Round 2, after 1 second; round 3, after 2 more.
    expect_read(stubber, JOB_ALICE, job("IN_PROGRESS"))
    expect_read(stubber, JOB_ALICE, job("COMPLETED", [S3]))
    sleeps, progress = [], []

    results = fetch_service_last_accessed(
        iam,
        principal_arns=[ALICE, BATCH],
        max_concurrency=1,
        sleep=sleeps.append,
        progress=lambda done, total: progress.append((done, total)),
    )

    assert sleeps == [1.0, 2.0]
    assert progress == [(1, 2), (2, 2)]
    alice, batch = results  # in the order asked for, not the order finished
    assert (alice.principal_arn, alice.job_status, alice.error) == (ALICE, "COMPLETED", None)
    assert alice.job_id == JOB_ALICE
    assert [s.service_namespace for s in batch.services] == ["s3", "dynamodb"]
    s3, dynamodb = batch.services
    assert s3.service_name == "Amazon S3"
    assert s3.last_authenticated_at == USED
    assert s3.last_authenticated_entity == ALICE
    assert s3.last_authenticated_region == "eu-west-1"
    assert s3.total_authenticated_entities == 1
    get_object, put_object = s3.actions
    assert (get_object.action_name, get_object.last_accessed_at) == ("GetObject", USED)
    assert (get_object.region, get_object.entity) == ("eu-west-1", ALICE)
    assert (put_object.last_accessed_at, put_object.region) == (None, None)
    # Never used within the tracking period: no date, and no actions.
    assert (dynamodb.last_authenticated_at, dynamodb.actions) == (None, ())


def test_failed_job_keeps_aws_error_and_other_principals_still_complete(stubbed_iam):
    iam, stubber = stubbed_iam
    expect_start(stubber, BATCH, JOB_BATCH)
    expect_start(stubber, ALICE, JOB_ALICE)
    expect_read(
        stubber,
        JOB_BATCH,
        job("FAILED", Error={"Code": "InternalError", "Message": "Job could not be completed"}),
    )
    expect_read(stubber, JOB_ALICE, job("COMPLETED", [S3]))

    batch, alice = fetch_service_last_accessed(
        iam, principal_arns=[BATCH, ALICE], max_concurrency=1, sleep=pytest.fail
    )

    assert batch.job_status == "FAILED"
    assert batch.error == "InternalError: Job could not be completed"
    assert batch.services == ()
    assert alice.job_status == "COMPLETED"


def test_job_still_running_when_the_wait_runs_out_is_timed_out(stubbed_iam):
    iam, stubber = stubbed_iam
    expect_start(stubber, ALICE, JOB_ALICE)
    expect_start(stubber, BATCH, JOB_BATCH)
    expect_read(stubber, JOB_ALICE, job("IN_PROGRESS"))
    expect_read(stubber, JOB_BATCH, job("COMPLETED", [S3]))
    for _ in range(3):  # after 1, 2 and the last 2 of the 5 seconds
        expect_read(stubber, JOB_ALICE, job("IN_PROGRESS"))
    sleeps = []

    alice, batch = fetch_service_last_accessed(
        iam,
        principal_arns=[ALICE, BATCH],
        max_concurrency=1,
        max_wait_seconds=5,
        sleep=sleeps.append,
    )

    assert sleeps == [1.0, 2.0, 2.0]
    assert alice.job_status == "TIMED_OUT"
    assert alice.job_id == JOB_ALICE
    assert "still running after 5 seconds" in alice.error
    assert batch.job_status == "COMPLETED"


def test_principal_aws_cannot_find_gets_an_error_and_the_rest_proceed(stubbed_iam):
    iam, stubber = stubbed_iam
    stubber.add_client_error(
        "generate_service_last_accessed_details",
        "NoSuchEntity",
        "The role with name deleted-yesterday cannot be found.",
        404,
        expected_params={"Arn": GONE, "Granularity": "SERVICE_LEVEL"},
    )
    expect_start(stubber, ALICE, JOB_ALICE, granularity="SERVICE_LEVEL")
    expect_read(stubber, JOB_ALICE, job("COMPLETED", [S3]))
    progress = []

    gone, alice = fetch_service_last_accessed(
        iam,
        principal_arns=[GONE, ALICE],
        granularity="SERVICE_LEVEL",
        max_concurrency=1,
        sleep=pytest.fail,
        progress=lambda done, total: progress.append((done, total)),
    )

    assert gone.job_status == "ERROR"
    assert gone.job_id is None
    assert gone.error.startswith("Not found: The role with name deleted-yesterday")
    assert alice.job_status == "COMPLETED"
    assert progress == [(1, 2), (2, 2)]


def test_throttled_read_is_an_error_for_that_principal_only(stubbed_iam):
    iam, stubber = stubbed_iam
    expect_start(stubber, ALICE, JOB_ALICE)
    expect_start(stubber, BATCH, JOB_BATCH)
    stubber.add_client_error("get_service_last_accessed_details", "Throttling", "Rate exceeded")
    expect_read(stubber, JOB_BATCH, job("COMPLETED", [S3]))

    alice, batch = fetch_service_last_accessed(
        iam, principal_arns=[ALICE, BATCH], max_concurrency=1, sleep=pytest.fail
    )

    assert alice.job_status == "ERROR"
    assert "throttling" in alice.error
    assert batch.job_status == "COMPLETED"


def test_a_principal_listed_twice_gets_one_job(stubbed_iam):
    iam, stubber = stubbed_iam
    expect_start(stubber, ALICE, JOB_ALICE)
    expect_read(stubber, JOB_ALICE, job("COMPLETED"))
    results = fetch_service_last_accessed(
        iam, principal_arns=[ALICE, ALICE], max_concurrency=1, sleep=pytest.fail
    )
    assert [r.principal_arn for r in results] == [ALICE]


def test_no_principals_means_no_calls(stubbed_iam):
    iam, _stubber = stubbed_iam
    assert fetch_service_last_accessed(iam, principal_arns=[], sleep=pytest.fail) == ()


def test_jobs_run_in_parallel_threads_and_results_keep_the_input_order(stubbed_iam):
    iam, stubber = stubbed_iam
    arns = [f"arn:aws:iam::111122223333:role/role-{n}" for n in range(6)]
    # Threads take responses in any order, so every response of a phase is interchangeable.
    for n in range(6):
        stubber.add_response(
            "generate_service_last_accessed_details", {"JobId": f"c3c3c3c3-0000-4000-8000-{n:012d}"}
        )
    for _ in range(6):
        stubber.add_response("get_service_last_accessed_details", job("COMPLETED", [S3]))

    results = fetch_service_last_accessed(
        iam, principal_arns=arns, max_concurrency=3, sleep=pytest.fail
    )

    assert [r.principal_arn for r in results] == arns
    assert {r.job_status for r in results} == {"COMPLETED"}
    assert {r.job_id for r in results} == {f"c3c3c3c3-0000-4000-8000-{n:012d}" for n in range(6)}


def test_unknown_granularity_and_zero_concurrency_are_refused(stubbed_iam):
    iam, _stubber = stubbed_iam
    with pytest.raises(ValueError, match="granularity"):
        fetch_service_last_accessed(iam, principal_arns=[ALICE], granularity="RESOURCE_LEVEL")
    with pytest.raises(ValueError, match="max_concurrency"):
        fetch_service_last_accessed(iam, principal_arns=[ALICE], max_concurrency=0)
