"""Importing what `aws iam get-service-last-accessed-details` printed, for one principal."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from findings.collection.imports import ImportRejected, import_file
from findings.models import CollectionRun, PolicySuggestion, ServiceLastAccessed
from tests.findings.detection.test_detect import attach, iam_role, make_account, service_row

pytestmark = pytest.mark.django_db

ROLE_ARN = "arn:aws:iam::111122223333:role/legacy-batch"
# When AWS finished the job: the data is judged as read then (yesterday: fresh).
COMPLETED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
# S3 used a few days before the job: recent whatever the real date (a fixed date drifts past
# RIGHTSIZING_UNUSED_DAYS and S3 would be suggested for removal).
S3_USED = (COMPLETED - timedelta(days=2)).isoformat()
ACTION_LEVEL = {
    "JobStatus": "COMPLETED",
    "JobType": "ACTION_LEVEL",
    "JobCreationDate": (COMPLETED - timedelta(seconds=5)).isoformat(),
    "ServicesLastAccessed": [
        {
            "ServiceName": "Amazon S3",
            "ServiceNamespace": "s3",
            "LastAuthenticated": S3_USED,
            "LastAuthenticatedEntity": ROLE_ARN,
            "LastAuthenticatedRegion": "eu-west-1",
            "TotalAuthenticatedEntities": 1,
            "TrackedActionsLastAccessed": [
                {
                    "ActionName": "GetObject",
                    "LastAccessedEntity": ROLE_ARN,
                    "LastAccessedTime": S3_USED,
                    "LastAccessedRegion": "eu-west-1",
                },
                {"ActionName": "PutObject"},
            ],
        },
        {"ServiceName": "Amazon SQS", "ServiceNamespace": "sqs", "TotalAuthenticatedEntities": 0},
    ],
    "JobCompletionDate": COMPLETED.isoformat(),
    "IsTruncated": False,
}
ALLOW_S3_AND_SQS = {"Effect": "Allow", "Action": ["s3:GetObject", "sqs:*"], "Resource": "*"}
SERVICE_LEVEL = {
    **ACTION_LEVEL,
    "JobType": "SERVICE_LEVEL",
    "ServicesLastAccessed": [
        {k: v for k, v in s.items() if k != "TrackedActionsLastAccessed"}
        for s in ACTION_LEVEL["ServicesLastAccessed"]
    ],
}


@pytest.fixture
def production():
    return make_account()


def rows(account):
    return {r.service_namespace: r for r in ServiceLastAccessed.objects.filter(account=account)}


def test_an_action_level_file_is_stored_with_its_tracked_actions(production):
    run = import_file(
        account=production,
        kind="service-last-accessed",
        data=json.dumps(ACTION_LEVEL).encode(),
        filename="sla.json",
        principal_arn=ROLE_ARN,
    )
    stored = rows(production)
    assert run.status == "succeeded"
    assert set(stored) == {"s3", "sqs"}
    assert [a["action"] for a in stored["s3"].actions] == ["GetObject", "PutObject"]
    assert stored["sqs"].last_authenticated_at is None


def test_a_service_level_file_is_stored_and_the_suggestion_follows(production):
    role = iam_role(production, "legacy-batch")
    attach(
        production,
        role,
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "sqs:*"], "Resource": "*"}
            ],
        },
    )
    import_file(
        account=production,
        kind="service-last-accessed",
        data=json.dumps(SERVICE_LEVEL).encode(),
        principal_arn=ROLE_ARN,
    )
    assert rows(production)["s3"].actions == []
    suggestion = PolicySuggestion.objects.get(principal_arn=ROLE_ARN)
    assert suggestion.data["removed_services"] == ["sqs"]


def test_importing_one_principal_leaves_the_others_data(production):
    other = iam_role(production, "other")
    service_row(production, other, "s3", used_days=1)
    import_file(
        account=production,
        kind="service-last-accessed",
        data=json.dumps(ACTION_LEVEL).encode(),
        principal_arn=ROLE_ARN,
    )
    assert ServiceLastAccessed.objects.get(principal_arn=other.arn).gone_at is None


@pytest.mark.parametrize(
    ("data", "arn", "message"),
    [
        (b"{not json", ROLE_ARN, "invalid JSON"),
        (
            json.dumps({"JobStatus": "COMPLETED"}).encode(),
            ROLE_ARN,
            "ServicesLastAccessed: missing",
        ),
        (
            json.dumps({**ACTION_LEVEL, "JobStatus": "IN_PROGRESS"}).encode(),
            ROLE_ARN,
            "not COMPLETED",
        ),
        (
            json.dumps({**ACTION_LEVEL, "ServicesLastAccessed": [{"ServiceName": "S3"}]}).encode(),
            ROLE_ARN,
            "ServicesLastAccessed[0].ServiceNamespace: missing",
        ),
        (json.dumps(ACTION_LEVEL).encode(), "arn:aws:iam::111122223333:group/devs", "not the ARN"),
        (json.dumps(ACTION_LEVEL).encode(), "arn:aws:iam::999999999999:role/x", "not in account"),
    ],
)
def test_a_malformed_file_is_rejected_whole_with_the_reason(production, data, arn, message):
    with pytest.raises(ImportRejected, match=message.replace("[", r"\[").replace("]", r"\]")):
        import_file(account=production, kind="service-last-accessed", data=data, principal_arn=arn)
    assert not ServiceLastAccessed.objects.exists()


def test_the_file_needs_the_principal_it_describes(production):
    with pytest.raises(ImportRejected, match="--arn"):
        import_file(account=production, kind="service-last-accessed", data=b"{}")


def test_a_file_is_dated_by_when_aws_finished_the_job_not_by_the_import(production):
    """An old file's services looked unused for longer than they were: the data was judged as
    read at the import."""
    role = iam_role(production, "legacy-batch")
    attach(production, role, {"Version": "2012-10-17", "Statement": [ALLOW_S3_AND_SQS]})
    old = {**ACTION_LEVEL, "JobCompletionDate": "2026-01-31T10:00:05+00:00"}
    import_file(
        account=production,
        kind="service-last-accessed",
        data=json.dumps(old).encode(),
        principal_arn=ROLE_ARN,
    )
    # Ten months old: too old to suggest from, as a collection failing since would be.
    suggestion = PolicySuggestion.objects.get(principal_arn=ROLE_ARN)
    assert not suggestion.data.get("removed_services")
    assert "2026-01-31 10:00 UTC" in json.dumps(suggestion.data)
    assert "too old to remove anything" in json.dumps(suggestion.data)

    run = import_file(
        account=production,
        kind="service-last-accessed",
        data=json.dumps(ACTION_LEVEL).encode(),
        principal_arn=ROLE_ARN,
    )

    assert run.data_generated_at == COMPLETED
    read_at = CollectionRun.objects.service_access_read_at(
        account_id=production.pk, principal_arns=[ROLE_ARN]
    )
    assert read_at == {ROLE_ARN: COMPLETED}


def test_a_file_without_a_completion_date_is_dated_by_the_import(production):
    page = {k: v for k, v in ACTION_LEVEL.items() if k != "JobCompletionDate"}
    run = import_file(
        account=production,
        kind="service-last-accessed",
        data=json.dumps(page).encode(),
        principal_arn=ROLE_ARN,
    )
    assert run.status == "succeeded"
    read_at = CollectionRun.objects.service_access_read_at(
        account_id=production.pk, principal_arns=[ROLE_ARN]
    )
    assert read_at == {ROLE_ARN: run.finished_at}
