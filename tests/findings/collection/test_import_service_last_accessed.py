"""Importing what `aws iam get-service-last-accessed-details` printed, for one principal."""

import json

import pytest

from findings.collection.imports import ImportRejected, import_file
from findings.models import PolicySuggestion, ServiceLastAccessed
from tests.findings.detection.test_detect import attach, iam_role, make_account, service_row

pytestmark = pytest.mark.django_db

ROLE_ARN = "arn:aws:iam::111122223333:role/legacy-batch"
ACTION_LEVEL = {
    "JobStatus": "COMPLETED",
    "JobType": "ACTION_LEVEL",
    "JobCreationDate": "2026-10-31T10:00:00+00:00",
    "ServicesLastAccessed": [
        {
            "ServiceName": "Amazon S3",
            "ServiceNamespace": "s3",
            "LastAuthenticated": "2026-10-30T09:00:00+00:00",
            "LastAuthenticatedEntity": ROLE_ARN,
            "LastAuthenticatedRegion": "eu-west-1",
            "TotalAuthenticatedEntities": 1,
            "TrackedActionsLastAccessed": [
                {
                    "ActionName": "GetObject",
                    "LastAccessedEntity": ROLE_ARN,
                    "LastAccessedTime": "2026-10-30T09:00:00+00:00",
                    "LastAccessedRegion": "eu-west-1",
                },
                {"ActionName": "PutObject"},
            ],
        },
        {"ServiceName": "Amazon SQS", "ServiceNamespace": "sqs", "TotalAuthenticatedEntities": 0},
    ],
    "JobCompletionDate": "2026-10-31T10:00:05+00:00",
    "IsTruncated": False,
}
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
