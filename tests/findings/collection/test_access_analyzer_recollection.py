"""Collecting Access Analyzer again: findings AWS has not updated are not read again with
GetFindingV2, and keep their stored details; a finding deleted in between goes alone."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from findings.collection.collectors import run_collection
from findings.collection.registry import add_account
from findings.collection.runs import claim_run
from findings.models import AccessAnalyzerFinding, CollectionRun, Finding, Source

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


# --- An analyzer that lists nothing: its findings are unknown, not resolved --------------------


def stub_analyzers(stubber, analyzers: list[dict], findings: dict[str, list[dict]]) -> None:
    """One collection: these analyzers, and ListFindingsV2 (then GetFindingV2, public) of those
    in `findings` only."""
    stubber.add_response("list_analyzers", {"analyzers": analyzers}, {})
    for item in analyzers:
        stubber.add_response("get_analyzer", {"analyzer": item}, {"analyzerName": item["name"]})
    for item in analyzers:
        if item["arn"] not in findings:
            continue
        listed = findings[item["arn"]]
        stubber.add_response("list_findings_v2", {"findings": listed}, {"analyzerArn": item["arn"]})
        for summary_ in listed:
            params = {"analyzerArn": item["arn"], "id": summary_["id"]}
            body = {**summary_, "findingDetails": details("*")}
            stubber.add_response("get_finding_v2", body, params)


def external_analyzer(name: str, status: str = "ACTIVE") -> dict:
    return {
        "arn": f"arn:aws:access-analyzer:us-east-1:{HUB}:analyzer/{name}",
        "name": name,
        "type": "ACCOUNT",
        "status": status,
        "createdAt": UPDATED,
    }


def open_public_buckets(account) -> list[str]:
    return sorted(
        Finding.objects.filter(
            account=account, check_id="access-analyzer:ExternalAccess", status="open"
        ).values_list("resource_arn", flat=True)
    )


@pytest.mark.parametrize("status", ["FAILED", "CREATING"])
def test_an_analyzer_that_lists_nothing_leaves_its_findings_open(accessanalyzer, status):
    """It failed (trusted access turned off) or is being made again: AWS said nothing about
    the buckets. Its findings were resolved, and a 'remediate' decision verified as fixed."""
    account = add_account(account_id=HUB, name="Hub", regions=["us-east-1"])
    analyzer = external_analyzer("external")
    stub_analyzers(accessanalyzer, [analyzer], {analyzer["arn"]: [summary("acme-public")]})
    assert collect(account).status == "succeeded"
    assert open_public_buckets(account) == ["arn:aws:s3:::acme-public"]

    stub_analyzers(accessanalyzer, [{**analyzer, "status": status}], {})
    run = collect(account)

    accessanalyzer.assert_no_pending_responses()
    assert run.status == "succeeded" and run.counts["gone"] == 0
    assert AccessAnalyzerFinding.objects.get(account=account).gone_at is None
    assert open_public_buckets(account) == ["arn:aws:s3:::acme-public"]
    # A failed analyzer is a gap in the region, reported beside it (one being made is not).
    assert Finding.objects.filter(
        account=account, check_id="access-analyzer-missing", status="open"
    ).exists() == (status == "FAILED")


def test_a_deleted_analyzers_findings_go_once_a_new_analyzer_of_its_kind_is_read(
    accessanalyzer,
):
    account = add_account(account_id=HUB, name="Hub", regions=["us-east-1"])
    old = external_analyzer("external")
    buckets = [summary("acme-public"), summary("acme-logs")]
    stub_analyzers(accessanalyzer, [old], {old["arn"]: buckets})
    assert collect(account).status == "succeeded"

    # Deleted: nothing is known of the buckets, and an unused-access analyzer says nothing
    # about external access.
    unused = {**external_analyzer("unused"), "type": "ACCOUNT_UNUSED_ACCESS"}
    stub_analyzers(accessanalyzer, [unused], {unused["arn"]: []})
    assert collect(account).counts["gone"] == 0
    assert len(open_public_buckets(account)) == 2

    # A new external-access analyzer reports, under its own id, the bucket still public.
    new = external_analyzer("external-2")
    still = {**summary("acme-public"), "id": "f-new-acme-public"}
    stub_analyzers(accessanalyzer, [unused, new], {unused["arn"]: [], new["arn"]: [still]})
    run = collect(account)

    accessanalyzer.assert_no_pending_responses()
    assert run.counts["gone"] == 2
    assert open_public_buckets(account) == ["arn:aws:s3:::acme-public"]


def test_an_account_analyzer_does_not_speak_for_a_deleted_organization_analyzers_findings(
    accessanalyzer,
):
    """The organization's analyzer saw a member's public bucket; the hub's own analyzer sees
    only the hub. With the organization's deleted (or being made again), the bucket's finding
    was resolved by the hub's analyzer, and the member's 'remediate' verified as fixed."""
    member = add_account(account_id="210987654321", name="Member", regions=["us-east-1"])
    account = add_account(account_id=HUB, name="Hub", regions=["us-east-1"])
    own = external_analyzer("own")
    organization = {**external_analyzer("org"), "type": "ORGANIZATION"}
    member_bucket = {**summary("member-public"), "resourceOwnerAccount": member.account_id}
    stub_analyzers(
        accessanalyzer, [own, organization], {own["arn"]: [], organization["arn"]: [member_bucket]}
    )
    assert collect(account).status == "succeeded"

    for later in ([own], [own, {**organization, "status": "CREATING"}]):
        stub_analyzers(accessanalyzer, later, {own["arn"]: []})
        assert collect(account).counts["gone"] == 0
        assert AccessAnalyzerFinding.objects.get(finding_id="f-member-public").gone_at is None

    # An organization analyzer read again speaks for it: no longer listed, it goes.
    again = {**organization, "arn": organization["arn"] + "-2", "name": "org-2"}
    stub_analyzers(accessanalyzer, [own, again], {own["arn"]: [], again["arn"]: []})
    assert collect(account).counts["gone"] == 1
    accessanalyzer.assert_no_pending_responses()


def test_an_organization_analyzer_made_again_as_an_accounts_does_not_resolve_the_members(
    accessanalyzer,
):
    """Re-created with another type (a Terraform change of `type`), an analyzer keeps its ARN:
    as the account's analyzer it spoke for the member findings it can no longer see."""
    member = add_account(account_id="210987654321", name="Member", regions=["us-east-1"])
    account = add_account(account_id=HUB, name="Hub", regions=["us-east-1"])
    organization = {**external_analyzer("main"), "type": "ORGANIZATION"}
    member_bucket = {**summary("member-public"), "resourceOwnerAccount": member.account_id}
    own_bucket = summary("acme-public")
    stub_analyzers(
        accessanalyzer, [organization], {organization["arn"]: [member_bucket, own_bucket]}
    )
    assert collect(account).status == "succeeded"

    now_the_accounts = {**organization, "type": "ACCOUNT"}
    stub_analyzers(accessanalyzer, [now_the_accounts], {now_the_accounts["arn"]: []})
    assert collect(account).counts["gone"] == 1  # its own bucket: it speaks for that one

    gone = set(
        AccessAnalyzerFinding.objects.exclude(gone_at=None).values_list("finding_id", flat=True)
    )
    assert gone == {"f-acme-public"}
    accessanalyzer.assert_no_pending_responses()
