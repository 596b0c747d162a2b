"""Access Analyzer recommendations, validation and CloudTrail policy generation, with Stubber."""

import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from findings.aws.errors import AwsError
from findings.aws.recommendations import (
    fetch_finding_recommendation,
    fetch_generated_policy,
    start_policy_generation,
    validate_policy,
)

ANALYZER = "arn:aws:access-analyzer:us-east-1:111122223333:analyzer/unused"
ROLE = "arn:aws:iam::111122223333:role/legacy-batch"
STARTED = datetime(2026, 11, 1, tzinfo=UTC)
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


@pytest.fixture
def analyzer():
    client = boto3.client("accessanalyzer", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def step(action, policy=None):
    detail = {"recommendedAction": action, "policyUpdatedAt": STARTED, "existingPolicyId": "legacy"}
    if policy:
        detail["recommendedPolicy"] = json.dumps(policy)
    return {"unusedPermissionsRecommendedStep": detail}


def recommendation(status, **extra):
    return {
        "startedAt": STARTED,
        "resourceArn": ROLE,
        "recommendationType": "UnusedPermissionRecommendation",
        "status": status,
        **extra,
    }


def test_a_recommendation_is_polled_until_done_and_every_page_read(analyzer):
    client, stub = analyzer
    request = {"analyzerArn": ANALYZER, "id": "f1"}
    stub.add_response("generate_finding_recommendation", {}, request)
    stub.add_response("get_finding_recommendation", recommendation("IN_PROGRESS"), request)
    stub.add_response(
        "get_finding_recommendation",
        recommendation(
            "SUCCEEDED", recommendedSteps=[step("CREATE_POLICY", POLICY)], nextToken="p2"
        ),
        request,
    )
    stub.add_response(
        "get_finding_recommendation",
        recommendation("SUCCEEDED", recommendedSteps=[step("DETACH_POLICY")]),
        {**request, "nextToken": "p2"},
    )
    waits = []
    result = fetch_finding_recommendation(
        client, analyzer_arn=ANALYZER, finding_id="f1", sleep=waits.append
    )
    assert result.status == "SUCCEEDED" and waits == [1.0]
    assert [s.action for s in result.steps] == ["CREATE_POLICY", "DETACH_POLICY"]
    assert result.steps[0].policy == POLICY


def test_a_failed_recommendation_says_why(analyzer):
    client, stub = analyzer
    request = {"analyzerArn": ANALYZER, "id": "f1"}
    stub.add_response("generate_finding_recommendation", {}, request)
    stub.add_response(
        "get_finding_recommendation",
        recommendation("FAILED", error={"code": "ServiceError", "message": "try later"}),
        request,
    )
    result = fetch_finding_recommendation(
        client, analyzer_arn=ANALYZER, finding_id="f1", sleep=lambda s: None
    )
    assert result.status == "FAILED" and result.error == "ServiceError: try later"


def test_a_recommendation_still_running_after_the_budget_times_out(analyzer):
    client, stub = analyzer
    request = {"analyzerArn": ANALYZER, "id": "f1"}
    stub.add_response("generate_finding_recommendation", {}, request)
    for _ in range(3):
        stub.add_response("get_finding_recommendation", recommendation("IN_PROGRESS"), request)
    result = fetch_finding_recommendation(
        client, analyzer_arn=ANALYZER, finding_id="f1", sleep=lambda s: None, max_wait_seconds=3
    )
    assert result.status == "TIMED_OUT"


def test_a_refused_call_is_a_readable_error_not_an_exception(analyzer):
    client, stub = analyzer
    stub.add_client_error("generate_finding_recommendation", "AccessDeniedException", "not allowed")
    result = fetch_finding_recommendation(client, analyzer_arn=ANALYZER, finding_id="f1")
    assert result.status == "ERROR" and "GenerateFindingRecommendation" in result.error


def test_validate_policy_reads_every_page(analyzer):
    client, stub = analyzer
    finding = {
        "findingDetails": "Add a resource",
        "findingType": "SECURITY_WARNING",
        "issueCode": "PASS_ROLE_WITH_STAR_IN_RESOURCE",
        "learnMoreLink": "https://x",
        "locations": [],
    }
    request = {"policyDocument": json.dumps(POLICY), "policyType": "IDENTITY_POLICY"}
    stub.add_response("validate_policy", {"findings": [finding], "nextToken": "n"}, request)
    stub.add_response(
        "validate_policy",
        {"findings": [{**finding, "findingType": "SUGGESTION"}]},
        {**request, "nextToken": "n"},
    )
    found = validate_policy(client, document=POLICY)
    assert [f.blocks for f in found] == [True, False]


def test_validate_policy_unreachable_raises_for_the_local_fallback(analyzer):
    client, stub = analyzer
    stub.add_client_error("validate_policy", "AccessDeniedException", "no")
    with pytest.raises(AwsError):
        validate_policy(client, document=POLICY)


def test_policy_generation_starts_and_is_polled_to_the_generated_policy(analyzer):
    client, stub = analyzer
    trail = "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"
    access = "arn:aws:iam::111122223333:role/AccessAnalyzerTrailReader"
    stub.add_response(
        "start_policy_generation",
        {"jobId": "job-1"},
        {
            "policyGenerationDetails": {"principalArn": ROLE},
            "cloudTrailDetails": {
                "trails": [{"cloudTrailArn": trail, "allRegions": True}],
                "accessRole": access,
                "startTime": STARTED,
                "endTime": STARTED,
            },
        },
    )
    details = {"jobId": "job-1", "startedOn": STARTED}
    result = {
        "properties": {"principalArn": ROLE},
        "generatedPolicies": [{"policy": json.dumps(POLICY)}],
    }
    stub.add_response(
        "get_generated_policy",
        {
            "jobDetails": {**details, "status": "IN_PROGRESS"},
            "generatedPolicyResult": {"properties": {"principalArn": ROLE}},
        },
        {"jobId": "job-1"},
    )
    stub.add_response(
        "get_generated_policy",
        {"jobDetails": {**details, "status": "SUCCEEDED"}, "generatedPolicyResult": result},
        {"jobId": "job-1"},
    )
    job = start_policy_generation(
        client,
        principal_arn=ROLE,
        trail_arns=[trail],
        access_role_arn=access,
        start=STARTED,
        end=STARTED,
    )
    seen = []
    generated = fetch_generated_policy(
        client, job_id=job, sleep=lambda s: None, progress=seen.append
    )
    assert generated.status == "SUCCEEDED" and generated.policies == (POLICY,)
    assert seen == [0.0]


def test_a_failed_policy_generation_says_why(analyzer):
    client, stub = analyzer
    stub.add_response(
        "get_generated_policy",
        {
            "jobDetails": {
                "jobId": "job-1",
                "startedOn": STARTED,
                "status": "FAILED",
                "jobError": {"code": "SERVICE_ERROR", "message": "trail unreadable"},
            },
            "generatedPolicyResult": {"properties": {"principalArn": ROLE}},
        },
        {"jobId": "job-1"},
    )
    generated = fetch_generated_policy(client, job_id="job-1", sleep=lambda s: None)
    assert generated.status == "FAILED" and generated.error == "SERVICE_ERROR: trail unreadable"
