"""Access Analyzer's right-sizing during the Access Analyzer collection: recommended policy
changes for UnusedPermission findings (beside ours), and ValidatePolicy on our suggestions."""

import json
from datetime import timedelta

import boto3
import pytest
from botocore.stub import Stubber
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

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


def refresh(role, made) -> int:
    return refresh_finding_recommendations(
        account=role.account, client_for_region=lambda region: made
    )


def test_a_recommendation_that_failed_on_a_throttle_is_asked_again_at_the_next_collection(
    batch_role, analyzer
):
    """One ThrottlingException was stored as the finding's recommendation until AWS updated
    the finding, which an unused-permission finding may not do for months."""
    role, finding = batch_role
    made, stubber = analyzer
    stubber.add_client_error(
        "generate_finding_recommendation", "ThrottlingException", "Rate exceeded", 429
    )
    assert refresh(role, made) == 1
    assert FindingRecommendation.objects.get().status == "ERROR"

    stub_recommendation(stubber, finding)  # the next collection: AWS answers now
    assert refresh(role, made) == 1

    stored = FindingRecommendation.objects.get()
    assert stored.status == "SUCCEEDED" and stored.steps[0]["policy"] == RECOMMENDED
    assert stored.failed_attempts == 0
    assert refresh(role, made) == 0  # and then it is kept


def test_a_recommendation_aws_keeps_refusing_is_asked_three_times_then_when_its_finding_changes(
    batch_role, analyzer
):
    role, finding = batch_role
    made, stubber = analyzer
    for attempt in (1, 2, 3):
        stubber.add_client_error("generate_finding_recommendation", "InternalServerException")
        assert refresh(role, made) == 1
        assert FindingRecommendation.objects.get().failed_attempts == attempt

    assert refresh(role, made) == 0  # no more of each run's budget for it

    finding.aws_updated_at = timezone.now() + timedelta(minutes=1)
    finding.save()
    stub_recommendation(stubber, finding)
    assert refresh(role, made) == 1
    assert FindingRecommendation.objects.get().status == "SUCCEEDED"


def test_a_recommendation_asked_again_comes_after_the_new_ones(batch_role, analyzer):
    role, failed = batch_role
    made, stubber = analyzer
    stubber.add_client_error("generate_finding_recommendation", "ThrottlingException")
    refresh(role, made)
    other = iam_role(role.account, "nightly-report")
    new = aa_row(role.account, "f-new", other.arn, finding_type="UnusedPermission")

    stub_recommendation(stubber, new)  # asked first (the stubber checks the order)
    stub_recommendation(stubber, failed)
    assert refresh(role, made) == 2

    assert set(FindingRecommendation.objects.values_list("status", flat=True)) == {"SUCCEEDED"}


def answer(stubber, *statuses: str) -> None:
    """AWS's answers for one finding's recommendation, whichever finding is asked: one status
    per GetFindingRecommendation (SUCCEEDED once, by default)."""
    stubber.add_response("generate_finding_recommendation", {})
    for status in statuses or ("SUCCEEDED",):
        stubber.add_response(
            "get_finding_recommendation",
            {
                "startedAt": NOW,
                "resourceArn": "arn:aws:iam::111122223333:role/any",
                "recommendationType": "UnusedPermissionRecommendation",
                "status": status,
                "recommendedSteps": [],
            },
        )


def more_unused_permission_findings(account, count: int) -> None:
    for number in range(count):
        role = iam_role(account, f"nightly-job-{number}")
        aa_row(account, f"f-job-{number}", role.arn, finding_type="UnusedPermission")


def test_recommendations_fetched_before_the_soft_time_limit_are_kept(batch_role, analyzer):
    """Up to 50 a run, each waited for up to 60 s: more than the task's 25 minutes. Rows were
    written after the last one only, so the soft time limit (raised in a wait, as Celery raises
    it wherever the task is) threw away every recommendation AWS had given, and the next run
    started over."""
    role, _ = batch_role
    more_unused_permission_findings(role.account, 1)
    made, stubber = analyzer
    answer(stubber, "SUCCEEDED")
    answer(stubber, "IN_PROGRESS")

    def soft_time_limit(seconds):
        raise SoftTimeLimitExceeded()

    with pytest.raises(SoftTimeLimitExceeded):
        refresh_finding_recommendations(
            account=role.account, client_for_region=lambda region: made, sleep=soft_time_limit
        )

    assert list(FindingRecommendation.objects.values_list("status", flat=True)) == ["SUCCEEDED"]


def test_recommendations_are_stored_ten_at_a_time_while_aws_gives_them(batch_role, analyzer):
    role, _ = batch_role
    more_unused_permission_findings(role.account, 11)
    made, stubber = analyzer
    for _ in range(12):
        answer(stubber)
    stored_when_asked = []
    made.meta.events.register(
        "provide-client-params.accessanalyzer.GenerateFindingRecommendation",
        lambda **kwargs: stored_when_asked.append(FindingRecommendation.objects.count()),
    )

    assert refresh(role, made) == 12

    assert stored_when_asked == [0] * 10 + [10, 10]
    assert FindingRecommendation.objects.count() == 12


class Clock:
    """Time that passes only while the code under test sleeps."""

    def __init__(self):
        self.now = timezone.now()

    def __call__(self):
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_no_recommendation_is_started_that_could_not_end_before_the_deadline(batch_role, analyzer):
    role, _ = batch_role
    more_unused_permission_findings(role.account, 2)
    made, stubber = analyzer
    answer(stubber, "IN_PROGRESS", "SUCCEEDED")  # the first takes a second
    clock = Clock()
    # Room for one wait of up to 60 s and its calls (30 s), not a second after.
    deadline = clock.now + timedelta(seconds=90.5)

    fetched = refresh_finding_recommendations(
        account=role.account,
        client_for_region=lambda region: made,
        sleep=clock.sleep,
        clock=clock,
        deadline=deadline,
    )

    assert fetched == 1  # the other two come with the next runs
    assert FindingRecommendation.objects.get().status == "SUCCEEDED"


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
    from copy import deepcopy

    from findings.rightsizing.selectors import suggestion_for, with_stored_validation
    from findings.rightsizing.validation import validate

    role, _ = batch_role
    refresh_suggestions(account=role.account, now=NOW)
    after = PolicySuggestion.objects.get().data["changes"][0]["after"]
    made, stubber = analyzer
    stubber.add_response("validate_policy", {"findings": []}, validation_request(after))
    assert validate_suggestions_with_aws(account=role.account, analyzer=made) == 1
    stored = PolicySuggestion.objects.get()

    same = suggestion_for(arn=role.arn, now=NOW)
    assert same["validation"]["checked_by"] == "access-analyzer"
    assert same["validation"]["valid"] is True
    assert "on the stored suggestion of" in same["validation"]["note"]

    # A document AWS did not check: the local check only.
    other = deepcopy(same)
    other["changes"][0]["after"] = {**after, "Statement": after["Statement"][:1] * 2}
    other["validation"] = validate(changes=other["changes"], principal_kind="role")
    assert with_stored_validation(fresh=other, stored=stored)["validation"]["checked_by"] == "local"

    # The same documents, but a kept inline policy grew past the role's inline limit: AWS's
    # findings carry over, the size limits are this suggestion's own.
    grown = deepcopy(same)
    big = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{'b' * 11000}/*",
            }
        ],
    }
    grown["changes"].append(
        {"policy": "kept", "ref": "kept", "kind": "inline", "action": "keep", "after": big}
    )
    grown["validation"] = validate(changes=grown["changes"], principal_kind="role")
    carried = with_stored_validation(fresh=grown, stored=stored)["validation"]
    assert carried["checked_by"] == "access-analyzer"
    assert carried["valid"] is False
    assert any("over the role limit" in problem for problem in carried["problems"])
