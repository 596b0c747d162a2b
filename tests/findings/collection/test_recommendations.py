"""Access Analyzer's right-sizing during the Access Analyzer collection: recommended policy
changes for UnusedPermission findings (beside ours), and ValidatePolicy on our suggestions."""

import json

import boto3
import pytest
from botocore.stub import Stubber

from findings.aws.session import client
from findings.collection.recommendations import (
    refresh_finding_recommendations,
    validate_suggestions_with_aws,
)
from findings.models import FindingRecommendation, PolicySuggestion
from findings.rightsizing.selectors import suggestion_for
from findings.rightsizing.services import refresh_suggestions
from tests.findings.detection.test_detect import (
    NOW,
    attach,
    iam_role,
    make_account,
    service_row,
)
from tests.findings.reviews.test_evidence import aa_row

pytestmark = pytest.mark.django_db

BATCH = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "dynamodb:*", "sqs:*"], "Resource": "*"}
    ],
}
RECOMMENDED = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "sqs:*"], "Resource": "*"}],
}


@pytest.fixture
def analyzer():
    made = client(boto3.Session(), "accessanalyzer", "us-east-1")
    with Stubber(made) as stubber:
        yield made, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def batch_role():
    account = make_account()
    role = iam_role(account, "legacy-checkout-batch-job")
    attach(account, role, BATCH, name="batch")
    service_row(account, role, "s3", used_days=2)
    service_row(account, role, "dynamodb", used_days=200)
    service_row(account, role, "sqs", used_days=None)
    finding = aa_row(account, "f-unused", role.arn, finding_type="UnusedPermission")
    return role, finding


def stub_recommendation(stubber, finding):
    request = {"analyzerArn": finding.analyzer_arn, "id": finding.finding_id}
    stubber.add_response("generate_finding_recommendation", {}, request)
    stubber.add_response(
        "get_finding_recommendation",
        {
            "startedAt": NOW,
            "resourceArn": finding.resource,
            "recommendationType": "UnusedPermissionRecommendation",
            "status": "SUCCEEDED",
            "recommendedSteps": [
                {
                    "unusedPermissionsRecommendedStep": {
                        "recommendedAction": "CREATE_POLICY",
                        "existingPolicyId": "batch",
                        "recommendedPolicy": json.dumps(RECOMMENDED),
                    }
                }
            ],
        },
        request,
    )


def test_recommendations_are_fetched_once_per_finding_and_shown_beside_ours(batch_role, analyzer):
    role, finding = batch_role
    made, stubber = analyzer
    stub_recommendation(stubber, finding)

    fetched = refresh_finding_recommendations(
        account=role.account, client_for_region=lambda region: made
    )

    assert fetched == 1
    stored = FindingRecommendation.objects.get()
    assert stored.status == "SUCCEEDED" and stored.steps[0]["policy"] == RECOMMENDED
    # Again: the finding has not changed since, so AWS is not asked (no stubbed answer left).
    assert (
        refresh_finding_recommendations(account=role.account, client_for_region=lambda region: made)
        == 0
    )

    suggestion = suggestion_for(arn=role.arn, now=NOW)
    [beside] = suggestion["access_analyzer"]
    comparison = beside["recommendation"]["comparison"]
    # We remove sqs as well (never used); Access Analyzer keeps it.
    assert comparison["services_only_theirs"] == ["sqs"]
    assert comparison["only_ours"] == 0


def test_the_section_shows_access_analyzers_recommendation(client, batch_role, analyzer, reviewer):
    role, finding = batch_role
    made, stubber = analyzer
    stub_recommendation(stubber, finding)
    refresh_finding_recommendations(account=role.account, client_for_region=lambda region: made)
    client.force_login(reviewer)
    page = client.get(f"/inventory/roles/{role.pk}/").content.decode()
    assert "Access Analyzer recommends: replace <code>batch</code>" in page
    assert "only Access Analyzer&#x27;s keeps" in page or "only Access Analyzer's keeps" in page


def validation_request(document):
    return {"policyDocument": json.dumps(document), "policyType": "IDENTITY_POLICY"}


def test_validate_policy_replaces_the_local_check_in_the_stored_suggestion(batch_role, analyzer):
    role, _ = batch_role
    refresh_suggestions(account=role.account, now=NOW)
    after = PolicySuggestion.objects.get().data["changes"][0]["after"]
    made, stubber = analyzer
    stubber.add_response(
        "validate_policy",
        {
            "findings": [
                {
                    "findingDetails": "Use a narrower resource",
                    "findingType": "SECURITY_WARNING",
                    "issueCode": "EXAMPLE",
                    "learnMoreLink": "https://example.com",
                    "locations": [],
                }
            ]
        },
        validation_request(after),
    )

    assert validate_suggestions_with_aws(account=role.account, analyzer=made) == 1

    validation = PolicySuggestion.objects.get().data["validation"]
    assert validation["checked_by"] == "access-analyzer"
    assert validation["valid"] is False
    assert "SECURITY_WARNING EXAMPLE" in validation["problems"][0]


def test_unreachable_access_analyzer_keeps_the_local_check(batch_role, analyzer):
    role, _ = batch_role
    refresh_suggestions(account=role.account, now=NOW)
    made, stubber = analyzer
    stubber.add_client_error("validate_policy", "AccessDeniedException", "not allowed")

    assert validate_suggestions_with_aws(account=role.account, analyzer=made) == 0

    assert PolicySuggestion.objects.get().data["validation"]["checked_by"] == "local"


def test_a_suggestion_asked_for_now_carries_the_stored_aws_check_of_the_same_documents(
    batch_role, analyzer
):
    from findings.rightsizing.selectors import suggestion_for

    role, _ = batch_role
    refresh_suggestions(account=role.account, now=NOW)
    after = PolicySuggestion.objects.get().data["changes"][0]["after"]
    made, stubber = analyzer
    stubber.add_response("validate_policy", {"findings": []}, validation_request(after))
    assert validate_suggestions_with_aws(account=role.account, analyzer=made) == 1

    same = suggestion_for(arn=role.arn, now=NOW)["validation"]
    assert same["checked_by"] == "access-analyzer"
    assert same["valid"] is True
    assert "on the stored suggestion of" in same["note"]
    # Other documents than the stored ones: the local check only.
    from copy import deepcopy

    from findings.rightsizing.selectors import with_stored_validation

    stored = PolicySuggestion.objects.get()
    fresh = deepcopy(same_fresh := suggestion_for(arn=role.arn, now=NOW))
    fresh["validation"] = {"checked_by": "local"}
    fresh["changes"][0]["after"] = {**after, "Statement": after["Statement"][:1] * 2}
    assert with_stored_validation(fresh=fresh, stored=stored)["validation"] == {
        "checked_by": "local"
    }
    assert same_fresh["validation"]["checked_by"] == "access-analyzer"
