"""Collecting Access Analyzer again: findings AWS has not updated are not read again with
GetFindingV2, and keep their stored details; a finding deleted in between goes alone."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from findings.collection.collectors import run_collection
from findings.collection.registry import add_account
from findings.collection.runs import claim_run
from findings.models import AccessAnalyzerFinding, CollectionRun, Source

pytestmark = pytest.mark.django_db

HUB = "123456789012"
ANALYZER = f"arn:aws:access-analyzer:us-east-1:{HUB}:analyzer/external"
UPDATED = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
BUCKETS = ("acme-public", "acme-logs", "partner-drop")


@pytest.fixture
def accessanalyzer(monkeypatch):
    """boto3 hands the collector a stubbed Access Analyzer client (moto has none)."""
    original = boto3.session.Session.client
    made = original(boto3.Session(), "accessanalyzer", region_name="us-east-1")
    stubber = Stubber(made)
    stubber.activate()

    def client_for(self, service_name, *args, **kwargs):
        if service_name == "accessanalyzer":
            return made
        return original(self, service_name, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", client_for)
    yield stubber
    stubber.deactivate()


def summary(bucket: str, updated_at: datetime = UPDATED, status: str = "ACTIVE") -> dict:
    return {
        "id": f"f-{bucket}",
        "findingType": "ExternalAccess",
        "resource": f"arn:aws:s3:::{bucket}",
        "resourceType": "AWS::S3::Bucket",
        "resourceOwnerAccount": HUB,
        "status": status,
        "createdAt": UPDATED - timedelta(days=3),
        "updatedAt": updated_at,
        "analyzedAt": updated_at,
    }


def details(principal: str) -> list[dict]:
    return [
        {
            "externalAccessDetails": {
                "action": ["s3:GetObject"],
                "condition": {},
                "isPublic": principal == "*",
                "principal": {"AWS": principal},
                "sources": [{"type": "POLICY"}],
            }
        }
    ]


def stub_run(stubber, summaries: list[dict], reads: dict[str, list[dict] | None]) -> None:
    """One collection: the analyzer, its findings, and GetFindingV2 for `reads` only (None:
    AWS answers that the finding no longer exists)."""
    analyzer = {
        "arn": ANALYZER,
        "name": "external",
        "type": "ACCOUNT",
        "status": "ACTIVE",
        "createdAt": UPDATED,
    }
    stubber.add_response("list_analyzers", {"analyzers": [analyzer]}, {})
    stubber.add_response("get_analyzer", {"analyzer": analyzer}, {"analyzerName": "external"})
    stubber.add_response("list_findings_v2", {"findings": summaries}, {"analyzerArn": ANALYZER})
    for item in summaries:
        if item["id"] not in reads:
            continue
        params = {"analyzerArn": ANALYZER, "id": item["id"]}
        if reads[item["id"]] is None:
            stubber.add_client_error(
                "get_finding_v2", "ResourceNotFoundException", "Finding not found", 404, params
            )
        else:
            body = {**item, "findingDetails": reads[item["id"]]}
            stubber.add_response("get_finding_v2", body, params)


def collect(account) -> CollectionRun:
    run = claim_run(account=account, source=Source.ACCESS_ANALYZER, trigger="manual")
    return run_collection(run=run)


def stored(account) -> dict[str, dict]:
    return {
        row["finding_id"]: row
        for row in AccessAnalyzerFinding.objects.filter(account=account).values()
    }


def test_an_unchanged_recollection_reads_no_finding_again_and_keeps_every_detail(
    accessanalyzer,
):
    account = add_account(account_id=HUB, name="Hub", regions=["us-east-1"])
    first = [summary(bucket) for bucket in BUCKETS]
    stub_run(accessanalyzer, first, {item["id"]: details("*") for item in first})
    assert collect(account).status == "succeeded"
    before = stored(account)

    stub_run(accessanalyzer, first, {})  # no GetFindingV2 at all
    run = collect(account)

    accessanalyzer.assert_no_pending_responses()
    assert run.status == "succeeded", run.error
    assert (run.counts["findings"], run.counts["unchanged"]) == (3, 3)
    assert stored(account) == before


def test_only_an_updated_finding_is_read_again_and_a_deleted_one_goes_alone(accessanalyzer):
    account = add_account(account_id=HUB, name="Hub", regions=["us-east-1"])
    first = [summary(bucket) for bucket in BUCKETS]
    stub_run(accessanalyzer, first, {item["id"]: details("*") for item in first})
    assert collect(account).status == "succeeded"
    before = stored(account)

    # acme-logs is no longer public (AWS updated it); partner-drop was resolved, listed, and
    # deleted before GetFindingV2 could read it.
    logs = summary("acme-logs", updated_at=UPDATED + timedelta(hours=5))
    dropped = summary("partner-drop", updated_at=UPDATED + timedelta(hours=5), status="RESOLVED")
    second = [first[0], logs, dropped]
    stub_run(
        accessanalyzer,
        second,
        {"f-acme-logs": details("arn:aws:iam::444455556666:root"), "f-partner-drop": None},
    )
    run = collect(account)

    accessanalyzer.assert_no_pending_responses()
    assert run.status == "succeeded" and run.error == ""
    after = stored(account)
    assert after["f-acme-public"] == before["f-acme-public"]
    assert after["f-acme-logs"]["details"] == details("arn:aws:iam::444455556666:root")
    assert after["f-acme-logs"]["aws_updated_at"] == UPDATED + timedelta(hours=5)
    # Gone from AWS: our copy is kept, with its details, and marked gone.
    assert after["f-partner-drop"]["gone_at"] is not None
    assert after["f-partner-drop"]["details"] == details("*")
