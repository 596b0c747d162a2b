import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from findings.aws.access_analyzer import (
    fetch_access_analyzer,
    finding_from_get_finding_v2,
    parse_findings_file,
)
from findings.aws.errors import ParseError
from findings.aws.session import client

ACCOUNT = "111122223333"
EXTERNAL = f"arn:aws:access-analyzer:us-east-1:{ACCOUNT}:analyzer/external"
UNUSED = f"arn:aws:access-analyzer:us-east-1:{ACCOUNT}:analyzer/unused"
CREATING = f"arn:aws:access-analyzer:eu-west-1:{ACCOUNT}:analyzer/new"
ANALYZED = datetime(2026, 10, 31, 22, 10, 4, tzinfo=UTC)
LAST_USED = datetime(2025, 9, 1, 10, 0, tzinfo=UTC)


def analyzer(arn: str, type_: str, status: str = "ACTIVE") -> dict:
    return {
        "arn": arn,
        "name": arn.rsplit("/", 1)[1],
        "type": type_,
        "status": status,
        "createdAt": datetime(2025, 1, 1, tzinfo=UTC),
    }


def summary(finding_id: str, finding_type: str, resource: str, **extra) -> dict:
    return {
        "id": finding_id,
        "findingType": finding_type,
        "resource": resource,
        "resourceType": "AWS::IAM::Role" if ":role/" in resource else "AWS::S3::Bucket",
        "resourceOwnerAccount": ACCOUNT,
        "status": "ACTIVE",
        "createdAt": datetime(2026, 6, 2, 9, 0, tzinfo=UTC),
        "updatedAt": ANALYZED,
        "analyzedAt": ANALYZED,
        **extra,
    }


PUBLIC_BUCKET = summary("f-bucket", "ExternalAccess", "arn:aws:s3:::acme-public-assets")
ARCHIVED_ROLE = summary(
    "f-partner", "ExternalAccess", f"arn:aws:iam::{ACCOUNT}:role/partner", status="ARCHIVED"
)
UNUSED_PERMISSIONS = summary(
    "f-legacy", "UnusedPermission", f"arn:aws:iam::{ACCOUNT}:role/legacy-batch", status="RESOLVED"
)
PUBLIC_DETAIL = {
    "externalAccessDetails": {
        "action": ["s3:GetObject"],
        "condition": {},
        "isPublic": True,
        "principal": {"AWS": "*"},
        "sources": [{"type": "POLICY"}],
    }
}


@pytest.fixture
def stubbed_regions():
    """One stubbed Access Analyzer client per region, handed out by region name."""
    clients, stubbers = {}, {}
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        clients[region] = client(boto3.Session(), "accessanalyzer", region)
        stubbers[region] = Stubber(clients[region])
        stubbers[region].activate()
    yield clients, stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def expect_analyzers(stubber, *analyzers: dict, page_size: int = 1) -> None:
    """ListAnalyzers in pages of ``page_size``, then one GetAnalyzer per analyzer."""
    pages = [analyzers[i : i + page_size] for i in range(0, len(analyzers), page_size)] or [()]
    for number, page in enumerate(pages):
        response = {"analyzers": list(page)}
        if number + 1 < len(pages):
            response["nextToken"] = f"analyzers-{number + 1}"
        params = {"nextToken": f"analyzers-{number}"} if number else {}
        stubber.add_response("list_analyzers", response, params)
    for item in analyzers:
        stubber.add_response("get_analyzer", {"analyzer": item}, {"analyzerName": item["name"]})


def expect_finding(stubber, analyzer_arn: str, item: dict, *detail_pages: list) -> None:
    """GetFindingV2 for one finding, its findingDetails split over ``detail_pages``."""
    for number, details in enumerate(detail_pages):
        response = {**item, "findingDetails": details}
        if number + 1 < len(detail_pages):
            response["nextToken"] = f"details-{number + 1}"
        params = {"analyzerArn": analyzer_arn, "id": item["id"]}
        if number:
            params["nextToken"] = f"details-{number}"
        stubber.add_response("get_finding_v2", response, params)


def test_snapshot_pages_through_analyzers_findings_and_finding_details(stubbed_regions):
    clients, stubbers = stubbed_regions
    east = stubbers["us-east-1"]
    expect_analyzers(east, analyzer(EXTERNAL, "ACCOUNT"), analyzer(UNUSED, "ACCOUNT_UNUSED_ACCESS"))
    # External-access analyzer: two pages of findings, no filter (every status).
    east.add_response(
        "list_findings_v2",
        {"findings": [PUBLIC_BUCKET], "nextToken": "findings-2"},
        {"analyzerArn": EXTERNAL},
    )
    expect_finding(east, EXTERNAL, PUBLIC_BUCKET, [PUBLIC_DETAIL])
    east.add_response(
        "list_findings_v2",
        {"findings": [ARCHIVED_ROLE]},
        {"analyzerArn": EXTERNAL, "nextToken": "findings-2"},
    )
    expect_finding(east, EXTERNAL, ARCHIVED_ROLE, [PUBLIC_DETAIL])
    # Unused-access analyzer: one finding whose details span two pages.
    east.add_response(
        "list_findings_v2", {"findings": [UNUSED_PERMISSIONS]}, {"analyzerArn": UNUSED}
    )
    dynamodb = {
        "unusedPermissionDetails": {
            "serviceNamespace": "dynamodb",
            "lastAccessed": LAST_USED,
            "actions": [{"action": "DeleteTable"}, {"action": "Scan", "lastAccessed": LAST_USED}],
        }
    }
    sqs = {"unusedPermissionDetails": {"serviceNamespace": "sqs"}}
    expect_finding(east, UNUSED, UNUSED_PERMISSIONS, [dynamodb], [sqs])
    progress = []

    snapshot = fetch_access_analyzer(
        clients.__getitem__,
        regions=["us-east-1"],
        progress=lambda done, total: progress.append((done, total)),
    )

    assert snapshot.region_errors == {}
    assert [(a.name, a.type, a.status, a.region) for a in snapshot.analyzers] == [
        ("external", "ACCOUNT", "ACTIVE", "us-east-1"),
        ("unused", "ACCOUNT_UNUSED_ACCESS", "ACTIVE", "us-east-1"),
    ]
    bucket, partner, legacy = snapshot.findings
    assert (bucket.id, bucket.analyzer_arn, bucket.region) == ("f-bucket", EXTERNAL, "us-east-1")
    assert bucket.finding_type == "ExternalAccess"
    assert bucket.details == (PUBLIC_DETAIL,)
    assert bucket.analyzed_at == ANALYZED
    assert partner.status == "ARCHIVED"
    assert legacy.status == "RESOLVED"
    assert legacy.finding_type == "UnusedPermission"
    assert [d["unusedPermissionDetails"]["serviceNamespace"] for d in legacy.details] == [
        "dynamodb",
        "sqs",
    ]
    # Details are JSON-safe: datetimes became ISO strings.
    assert legacy.details[0]["unusedPermissionDetails"]["actions"][1] == {
        "action": "Scan",
        "lastAccessed": "2025-09-01T10:00:00+00:00",
    }
    assert legacy.summary["createdAt"] == "2026-06-02T09:00:00+00:00"
    assert "findingDetails" not in legacy.summary and "nextToken" not in legacy.summary
    json.dumps([f.summary for f in snapshot.findings] + [f.details for f in snapshot.findings])
    assert progress == [(1, 1)]


def test_a_failing_region_is_recorded_and_the_other_regions_are_kept(stubbed_regions):
    clients, stubbers = stubbed_regions
    stubbers["eu-west-1"].add_client_error(
        "list_analyzers", "AccessDeniedException", "User is not authorized", 403
    )
    expect_analyzers(stubbers["us-east-1"], analyzer(EXTERNAL, "ACCOUNT"))
    stubbers["us-east-1"].add_response("list_findings_v2", {"findings": [PUBLIC_BUCKET]})
    expect_finding(stubbers["us-east-1"], EXTERNAL, PUBLIC_BUCKET, [PUBLIC_DETAIL])

    snapshot = fetch_access_analyzer(clients.__getitem__, regions=["eu-west-1", "us-east-1"])

    assert snapshot.region_errors == {
        "eu-west-1": "Access denied: the role lacks access-analyzer:ListAnalyzers "
        "(check the role's policy and trust)"
    }
    assert [f.id for f in snapshot.findings] == ["f-bucket"]


def test_an_error_midway_through_a_region_keeps_nothing_from_that_region(stubbed_regions):
    clients, stubbers = stubbed_regions
    sydney = stubbers["ap-southeast-2"]
    arn = EXTERNAL.replace("us-east-1", "ap-southeast-2")
    expect_analyzers(sydney, analyzer(arn, "ACCOUNT"))
    sydney.add_response("list_findings_v2", {"findings": [PUBLIC_BUCKET, ARCHIVED_ROLE]})
    expect_finding(sydney, arn, PUBLIC_BUCKET, [PUBLIC_DETAIL])
    sydney.add_client_error("get_finding_v2", "ThrottlingException", "Rate exceeded", 429)

    snapshot = fetch_access_analyzer(clients.__getitem__, regions=["ap-southeast-2"])

    # A partial list must not read as "the other findings were resolved".
    assert (snapshot.analyzers, snapshot.findings) == ((), ())
    assert "throttling" in snapshot.region_errors["ap-southeast-2"]


def test_analyzer_still_being_created_is_listed_but_not_asked_for_findings(stubbed_regions):
    clients, stubbers = stubbed_regions
    expect_analyzers(stubbers["eu-west-1"], analyzer(CREATING, "ACCOUNT", status="CREATING"))

    snapshot = fetch_access_analyzer(clients.__getitem__, regions=["eu-west-1"])

    assert [a.status for a in snapshot.analyzers] == ["CREATING"]
    assert snapshot.findings == ()


def test_region_without_analyzers_gives_an_empty_snapshot(stubbed_regions):
    clients, stubbers = stubbed_regions
    stubbers["eu-west-1"].add_response("list_analyzers", {"analyzers": []})
    snapshot = fetch_access_analyzer(clients.__getitem__, regions=["eu-west-1"])
    assert (snapshot.analyzers, snapshot.findings, snapshot.region_errors) == ((), (), {})


@mock_aws
def test_a_session_is_accepted_and_moto_missing_the_service_is_a_region_error():
    snapshot = fetch_access_analyzer(boto3.Session(), regions=["us-east-1", "eu-west-1"])
    assert set(snapshot.region_errors) == {"us-east-1", "eu-west-1"}
    assert "Not yet implemented" in snapshot.region_errors["us-east-1"]


def test_finding_from_get_finding_v2_converts_boto3_datetimes():
    response = {
        **summary("f-key", "UnusedIAMUserAccessKey", f"arn:aws:iam::{ACCOUNT}:user/bob"),
        "findingDetails": [
            {
                "unusedIamUserAccessKeyDetails": {
                    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
                    "lastAccessed": LAST_USED,
                }
            }
        ],
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
    finding = finding_from_get_finding_v2(response, region="us-east-1", analyzer_arn=UNUSED)
    assert finding.details[0]["unusedIamUserAccessKeyDetails"]["lastAccessed"] == (
        "2025-09-01T10:00:00+00:00"
    )
    assert "ResponseMetadata" not in finding.summary
    assert finding.resource_type == "AWS::S3::Bucket"  # as given by the summary helper
    assert finding.error is None


# --- Parsing files saved with the AWS CLI -------------------------------------------------------


def test_list_findings_v2_output_gives_findings_without_details(sample):
    findings = parse_findings_file(sample("access-analyzer-list-findings-v2.json"))
    assert [f.finding_type for f in findings] == [
        "ExternalAccess",
        "UnusedPermission",
        "UnusedIAMUserAccessKey",
    ]
    bucket = findings[0]
    assert bucket.id == "0d1f3c6e-2b3a-4e55-9a10-6f1d2a3b4c01"
    assert bucket.resource == "arn:aws:s3:::acme-public-assets"
    assert bucket.resource_type == "AWS::S3::Bucket"
    assert bucket.resource_owner_account == "111122223333"
    assert bucket.created_at == datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    assert bucket.updated_at == bucket.analyzed_at == ANALYZED
    assert (bucket.analyzer_arn, bucket.region, bucket.details) == (None, None, ())
    assert (
        bucket.summary == json.loads(sample("access-analyzer-list-findings-v2.json"))["findings"][0]
    )


def test_list_findings_v1_output_becomes_external_access_with_details(sample):
    public, partner = parse_findings_file(sample("access-analyzer-list-findings-v1.json"))
    assert public.finding_type == "ExternalAccess"
    assert public.details == (
        {
            "externalAccessDetails": {
                "action": ["s3:GetObject"],
                "condition": {},
                "isPublic": True,
                "principal": {"AWS": "*"},
                "sources": [{"type": "POLICY"}],
            }
        },
    )
    assert partner.status == "ARCHIVED"
    assert partner.details[0]["externalAccessDetails"]["condition"] == {
        "sts:ExternalId": "partner-1234"
    }


def test_a_list_of_get_finding_v2_outputs_keeps_every_detail(sample):
    bucket, legacy, bob = parse_findings_file(sample("access-analyzer-get-finding-v2.json"))
    assert bucket.details[0]["externalAccessDetails"]["principal"] == {"AWS": "*"}
    assert len(legacy.details) == 2
    assert legacy.details[1] == {"unusedPermissionDetails": {"serviceNamespace": "sqs"}}
    assert bob.details[0]["unusedIamUserAccessKeyDetails"]["accessKeyId"] == (
        "AKIAIOSFODNN7EXAMPLE"
    )


def test_the_pages_of_one_get_finding_v2_saved_one_after_the_other_are_one_finding(sample):
    """Each page saved as printed (with nextToken): only the first page's details were kept."""
    legacy = json.loads(sample("access-analyzer-get-finding-v2.json"))[1]
    first, second = legacy["findingDetails"]
    pages = [
        {**legacy, "findingDetails": [first], "nextToken": "page-2"},
        {**legacy, "findingDetails": [second]},
        {**legacy, "findingDetails": [second]},  # saved twice: not two details
    ]

    (finding,) = parse_findings_file(json.dumps(pages).encode())

    assert finding.details == (first, second)


def test_a_single_get_finding_v2_output_is_one_finding(sample):
    one = json.loads(sample("access-analyzer-get-finding-v2.json"))[2]
    (bob,) = parse_findings_file(json.dumps(one).encode())
    assert bob.finding_type == "UnusedIAMUserAccessKey"
    assert bob.resource == "arn:aws:iam::111122223333:user/bob"


def test_invalid_json_names_line_and_column():
    with pytest.raises(ParseError) as raised:
        parse_findings_file(b'{"findings": [\n  {"id": "x",}\n]}')
    assert (raised.value.line, raised.value.column) == (2, 14)


def test_missing_finding_id_names_its_position(sample):
    document = json.loads(sample("access-analyzer-list-findings-v2.json"))
    document["findings"].append(dict(document["findings"][0]))
    del document["findings"][3]["id"]
    with pytest.raises(ParseError) as raised:
        parse_findings_file(json.dumps(document).encode())
    assert str(raised.value) == "findings[3].id: missing"


def test_bad_date_in_a_list_of_findings_names_its_position(sample):
    document = json.loads(sample("access-analyzer-get-finding-v2.json"))
    document[1]["createdAt"] = "not a date"
    with pytest.raises(ParseError, match=r"^\[1\]\.createdAt: expected a date"):
        parse_findings_file(json.dumps(document).encode())


def test_findings_details_must_be_a_list_of_objects(sample):
    one = json.loads(sample("access-analyzer-get-finding-v2.json"))[0]
    one["findingDetails"] = "public"
    with pytest.raises(ParseError, match="findingDetails: expected a list of objects"):
        parse_findings_file(json.dumps(one).encode())


def test_json_that_holds_no_findings_is_rejected():
    with pytest.raises(ParseError, match="expected the output of list-findings-v2"):
        parse_findings_file(b'{"analyzers": []}')
