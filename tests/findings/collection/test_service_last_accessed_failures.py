"""Service last accessed: a run that could read only a few principals fails, and still keeps
what it read; a few unread principals are a success with a warning."""

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from django.utils import timezone
from moto import mock_aws

from findings.collection.collectors import run_collection
from findings.collection.registry import add_account
from findings.collection.runs import claim_run
from findings.models import CollectionRun, ServiceLastAccessed, Source
from findings.notifications.digests import failing_collections

pytestmark = pytest.mark.django_db

HUB = "123456789012"  # moto's default account: the collector's own credentials act here
PEOPLE = ["alice", "bob", "carol", "dave", "erin"]
USED = datetime(2026, 10, 30, 17, 2, 11, tzinfo=UTC)
FIRST_JOB = "a1a1a1a1-0000-4000-8000-000000000001"
NEXT_JOB = "b2b2b2b2-0000-4000-8000-000000000002"
EXPIRED = "The security token included in the request is expired"
EXPIRED_READ = "The AWS credentials have expired"  # how the run words it


@pytest.fixture
def payments():
    """An account with five users, collected from moto with the collector's own credentials."""
    with mock_aws():
        iam = boto3.client("iam")
        for name in PEOPLE:
            iam.create_user(UserName=name)
        account = add_account(account_id=HUB, name="Payments")
        assert collect(account, Source.AUTHORIZATION_DETAILS).status == "succeeded"
        yield account


@pytest.fixture
def iam_stubber(monkeypatch):
    """boto3 hands the collector a stubbed IAM client (moto has no service last-accessed jobs)."""
    original = boto3.session.Session.client
    iam = original(boto3.Session(), "iam")
    stubber = Stubber(iam)
    stubber.activate()

    def client_for(self, service_name, *args, **kwargs):
        if service_name == "iam":
            return iam
        return original(self, service_name, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", client_for)
    yield stubber
    stubber.deactivate()


def collect(account, source: str) -> CollectionRun:
    run = claim_run(account=account, source=source, trigger=CollectionRun.Trigger.SCHEDULE)
    return run_collection(run=run)


def job(namespace: str) -> dict:
    return {
        "JobStatus": "COMPLETED",
        "JobType": "ACTION_LEVEL",
        "JobCreationDate": USED,
        "JobCompletionDate": USED,
        "ServicesLastAccessed": [
            {
                "ServiceName": namespace.upper(),
                "ServiceNamespace": namespace,
                "LastAuthenticated": USED,
                "TotalAuthenticatedEntities": 1,
            }
        ],
    }


def stub_principals(stubber, *, read: int, unread: int, namespace: str) -> None:
    """The collector asks one principal first, alone, then the rest 5 at a time: answers that
    do not depend on the order (which the threads decide). Every job reads `namespace`;
    `unread` of the later principals cannot start theirs."""
    stubber.add_response("generate_service_last_accessed_details", {"JobId": FIRST_JOB})
    stubber.add_response("get_service_last_accessed_details", job(namespace))
    for _ in range(unread):
        stubber.add_client_error(
            "generate_service_last_accessed_details", "ExpiredToken", EXPIRED, 403
        )
    for _ in range(read - 1):
        stubber.add_response("generate_service_last_accessed_details", {"JobId": NEXT_JOB})
    for _ in range(read - 1):
        stubber.add_response("get_service_last_accessed_details", job(namespace))


def stored_services(account) -> dict[str, set[str]]:
    rows = ServiceLastAccessed.objects.filter(account=account, gone_at=None)
    services: dict[str, set[str]] = {}
    for arn, namespace in rows.values_list("principal_arn", "service_namespace"):
        services.setdefault(arn.rsplit("/", 1)[1], set()).add(namespace)
    return services


def test_most_principals_unread_fails_the_run_naming_the_error_and_keeps_what_was_read(
    payments, iam_stubber
):
    stub_principals(iam_stubber, read=5, unread=0, namespace="s3")
    assert collect(payments, Source.SERVICE_LAST_ACCESSED).status == "succeeded"
    stub_principals(iam_stubber, read=1, unread=4, namespace="ec2")

    run = collect(payments, Source.SERVICE_LAST_ACCESSED)

    iam_stubber.assert_no_pending_responses()
    assert run.status == "failed"
    assert run.error.startswith("4 of 5 principals could not be read, more than 50%: ")
    assert f"{EXPIRED_READ}; refresh the collector's credentials and retry (4 of them)" in run.error
    assert "What the other 1 showed is stored" in run.error
    assert run.counts["principals_failed"] == 4 and run.counts["principals_read"] == 1
    assert len(run.counts["unread"]) == 4
    # Usage is judged as of when it was read: the one read now by this run, the others by the
    # earlier success.
    first = CollectionRun.objects.filter(
        source=Source.SERVICE_LAST_ACCESSED, status="succeeded"
    ).get()
    read_at = CollectionRun.objects.service_access_read_at(
        account_id=payments.pk, principal_arns=[run.counts["unread"][0], *read_arns(payments)]
    )
    assert read_at[run.counts["unread"][0]] == first.finished_at
    assert sorted(set(read_at.values())) == sorted({first.finished_at, run.finished_at})
    # The one principal read has its new data; the four unread keep their previous data.
    services = stored_services(payments)
    assert sorted(services.values(), key=sorted) == [{"ec2"}, {"s3"}, {"s3"}, {"s3"}, {"s3"}]
    # A failed source: in the digest's failing collections, not counted as fresh.
    failing = failing_collections(now=timezone.now())
    assert [(line.source, line.error[:20]) for line in failing] == [
        ("Service last accessed", "4 of 5 principals co")
    ]


def test_a_few_principals_unread_is_a_success_with_a_warning(payments, iam_stubber):
    stub_principals(iam_stubber, read=3, unread=2, namespace="s3")

    run = collect(payments, Source.SERVICE_LAST_ACCESSED)

    iam_stubber.assert_no_pending_responses()
    assert run.status == "succeeded"
    assert run.error.startswith("2 of 5 principals could not be read (")
    assert EXPIRED_READ in run.error
    assert run.counts["principals_failed"] == 2
    assert len(stored_services(payments)) == 3
    assert not failing_collections(now=timezone.now())


def read_arns(account) -> list[str]:
    return list(
        ServiceLastAccessed.objects.filter(account=account, service_namespace="ec2").values_list(
            "principal_arn", flat=True
        )
    )


def test_a_first_principal_deleted_in_aws_since_it_was_stored_does_not_fail_the_run(
    payments, iam_stubber
):
    """README: a principal whose job fails keeps its previous data. A principal deleted in AWS
    since users and roles were collected (NoSuchEntity) says that of itself alone; asked first,
    it had failed the account's whole collection until users and roles were collected again."""
    for _ in range(2):  # the first two asked are gone
        iam_stubber.add_client_error(
            "generate_service_last_accessed_details",
            "NoSuchEntity",
            "The user with name alice cannot be found.",
            404,
        )
    stub_principals(iam_stubber, read=3, unread=0, namespace="s3")

    run = collect(payments, Source.SERVICE_LAST_ACCESSED)

    iam_stubber.assert_no_pending_responses()
    assert run.status == "succeeded", run.error
    assert run.error.startswith("2 of 5 principals could not be read (")
    assert "cannot be found" in run.error
    assert run.counts["principals_read"] == 3
    assert len(stored_services(payments)) == 3


def test_a_role_that_may_not_run_the_jobs_still_fails_once_asking_no_one_else(
    payments, iam_stubber
):
    iam_stubber.add_client_error(
        "generate_service_last_accessed_details", "AccessDenied", "not authorized", 403
    )

    run = collect(payments, Source.SERVICE_LAST_ACCESSED)

    iam_stubber.assert_no_pending_responses()
    assert run.status == "failed"
    assert "iam:GenerateServiceLastAccessedDetails" in run.error
