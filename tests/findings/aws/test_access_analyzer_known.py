"""Access Analyzer: GetFindingV2 only for findings AWS updated since they were stored, and a
finding deleted between ListFindingsV2 and GetFindingV2 is skipped alone."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from findings.aws.access_analyzer import KnownFinding, fetch_access_analyzer
from findings.aws.session import client

ACCOUNT = "111122223333"
UNUSED = f"arn:aws:access-analyzer:us-east-1:{ACCOUNT}:analyzer/unused"
OTHER = f"arn:aws:access-analyzer:us-east-1:{ACCOUNT}:analyzer/other"
UPDATED = datetime(2026, 10, 31, 22, 10, 4, tzinfo=UTC)


def summary(n: int, updated_at: datetime = UPDATED) -> dict:
    return {
        "id": f"f-{n}",
        "findingType": "UnusedPermission",
        "resource": f"arn:aws:iam::{ACCOUNT}:role/r{n}",
        "resourceType": "AWS::IAM::Role",
        "resourceOwnerAccount": ACCOUNT,
        "status": "ACTIVE",
        "createdAt": UPDATED - timedelta(days=30),
        "updatedAt": updated_at,
        "analyzedAt": updated_at,
    }


def details(namespace: str) -> list[dict]:
    return [{"unusedPermissionDetails": {"serviceNamespace": namespace}}]


def known(n: int, namespace: str = "s3", *, analyzer_arn: str = UNUSED, updated_at=UPDATED):
    return KnownFinding(
        analyzer_arn=analyzer_arn, updated_at=updated_at, details=tuple(details(namespace))
    )


@pytest.fixture
def analyzer_client():
    made = client(boto3.Session(), "accessanalyzer", "us-east-1")
    with Stubber(made) as stubber:
        yield made, stubber
        stubber.assert_no_pending_responses()


def stub_listing(stubber, summaries: list[dict]) -> None:
    analyzer = {
        "arn": UNUSED,
        "name": "unused",
        "type": "ACCOUNT_UNUSED_ACCESS",
        "status": "ACTIVE",
        "createdAt": UPDATED,
    }
    stubber.add_response("list_analyzers", {"analyzers": [analyzer]}, {})
    stubber.add_response("get_analyzer", {"analyzer": analyzer}, {"analyzerName": "unused"})
    stubber.add_response("list_findings_v2", {"findings": summaries}, {"analyzerArn": UNUSED})


def stub_get(stubber, item: dict, namespace: str) -> None:
    stubber.add_response(
        "get_finding_v2",
        {**item, "findingDetails": details(namespace)},
        {"analyzerArn": UNUSED, "id": item["id"]},
    )


def fetch(made, stored=None):
    return fetch_access_analyzer(lambda region: made, regions=["us-east-1"], known=stored)


def test_findings_aws_has_not_updated_keep_their_stored_details_without_get_finding_v2(
    analyzer_client,
):
    made, stubber = analyzer_client
    newer = UPDATED + timedelta(hours=3)
    summaries = [summary(n) for n in range(50)] + [summary(50, updated_at=newer), summary(51)]
    stub_listing(stubber, summaries)
    # Only the finding updated since it was stored, and the one never stored, are read again.
    stub_get(stubber, summaries[50], "dynamodb")
    stub_get(stubber, summaries[51], "sqs")
    stored = {f"f-{n}": known(n) for n in range(51)}

    snapshot = fetch(made, stored)

    findings = {f.id: f for f in snapshot.findings}
    assert len(findings) == 52 and snapshot.region_errors == {}
    assert findings["f-7"].details == tuple(details("s3"))
    assert findings["f-7"].analyzer_arn == UNUSED and findings["f-7"].region == "us-east-1"
    assert findings["f-50"].details == tuple(details("dynamodb"))
    assert findings["f-50"].updated_at == newer
    assert findings["f-51"].details == tuple(details("sqs"))


def test_stored_details_of_another_analyzer_or_none_at_all_are_read_again(analyzer_client):
    """A finding stored from a file (no analyzer) or without details has nothing to reuse."""
    made, stubber = analyzer_client
    summaries = [summary(0), summary(1)]
    stub_listing(stubber, summaries)
    stub_get(stubber, summaries[0], "s3")
    stub_get(stubber, summaries[1], "ec2")
    stored = {
        "f-0": known(0, analyzer_arn=OTHER),
        "f-1": KnownFinding(analyzer_arn=UNUSED, updated_at=UPDATED, details=()),
    }

    snapshot = fetch(made, stored)

    assert [f.details for f in snapshot.findings] == [tuple(details("s3")), tuple(details("ec2"))]


def test_without_stored_findings_every_finding_is_read(analyzer_client):
    made, stubber = analyzer_client
    summaries = [summary(n) for n in range(3)]
    stub_listing(stubber, summaries)
    for item in summaries:
        stub_get(stubber, item, "s3")

    assert len(fetch(made).findings) == 3


def test_a_finding_deleted_between_list_and_get_is_skipped_and_the_region_kept(
    analyzer_client,
):
    made, stubber = analyzer_client
    summaries = [summary(n) for n in range(10)]
    stub_listing(stubber, summaries)
    for item in summaries:
        if item["id"] == "f-7":
            # AWS deleted it (resolved 90 days ago) after ListFindingsV2 listed it.
            stubber.add_client_error(
                "get_finding_v2",
                "ResourceNotFoundException",
                "Finding not found",
                404,
                expected_params={"analyzerArn": UNUSED, "id": "f-7"},
            )
        else:
            stub_get(stubber, item, "s3")

    snapshot = fetch(made)

    assert snapshot.region_errors == {}
    assert [a.arn for a in snapshot.analyzers] == [UNUSED]
    assert sorted(f.id for f in snapshot.findings) == sorted(f"f-{n}" for n in range(10) if n != 7)


def test_other_errors_reading_a_finding_still_fail_the_region(analyzer_client):
    made, stubber = analyzer_client
    summaries = [summary(0), summary(1)]
    stub_listing(stubber, summaries)
    stub_get(stubber, summaries[0], "s3")
    stubber.add_client_error("get_finding_v2", "AccessDeniedException", "no", 403)

    snapshot = fetch(made)

    assert "us-east-1" in snapshot.region_errors
    assert snapshot.findings == () and snapshot.analyzers == ()
