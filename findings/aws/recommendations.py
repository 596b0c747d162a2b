"""IAM Access Analyzer's own least-privilege help: finding recommendations, policy validation
and policy generation from CloudTrail. Plain records out; no Django.

Jobs that run in the background (a recommendation, a generated policy) are polled with the same
growing, bounded waits as service last-accessed jobs; a failed API call becomes a readable error
in the record, never an exception, so one principal's failure stops nothing else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from findings.aws.errors import AwsError, translate
from findings.aws.waiting import Backoff

SUCCEEDED, FAILED, IN_PROGRESS, ERROR, TIMED_OUT = (
    "SUCCEEDED",
    "FAILED",
    "IN_PROGRESS",
    "ERROR",
    "TIMED_OUT",
)
# ValidatePolicy finding types that make a suggested document unacceptable.
BLOCKING_FINDING_TYPES = ("ERROR", "SECURITY_WARNING")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecommendedStep:
    action: str  # CREATE_POLICY or DETACH_POLICY
    policy: dict | None
    existing_policy_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingRecommendation:
    finding_id: str
    status: str
    steps: tuple[RecommendedStep, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationFinding:
    finding_type: str
    issue_code: str
    details: str

    @property
    def blocks(self) -> bool:
        return self.finding_type in BLOCKING_FINDING_TYPES


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratedPolicy:
    job_id: str
    status: str
    policies: tuple[dict, ...] = ()
    error: str | None = None
    # The failed call (status ERROR): its ``transient`` says whether asking again later may
    # well succeed (AWS throttled the poll), unlike a job AWS itself failed.
    failure: AwsError | None = None

    @property
    def worth_polling_again(self) -> bool:
        return self.failure is not None and self.failure.transient


def fetch_finding_recommendation(
    analyzer: Any,
    *,
    analyzer_arn: str,
    finding_id: str,
    max_wait_seconds: float = 120,
    sleep: Callable[[float], object] = time.sleep,
) -> FindingRecommendation:
    """GenerateFindingRecommendation, then GetFindingRecommendation until it is done, every
    page of recommended steps joined."""
    try:
        analyzer.generate_finding_recommendation(analyzerArn=analyzer_arn, id=finding_id)
        backoff = Backoff(sleep=sleep, max_wait_seconds=max_wait_seconds)
        while True:
            response = analyzer.get_finding_recommendation(analyzerArn=analyzer_arn, id=finding_id)
            if response["status"] != IN_PROGRESS:
                break
            if not backoff.wait():
                return FindingRecommendation(
                    finding_id=finding_id,
                    status=TIMED_OUT,
                    error=f"still in progress after {backoff.waited:g} seconds of waiting",
                )
        if response["status"] == FAILED:
            return FindingRecommendation(
                finding_id=finding_id, status=FAILED, error=_job_error(response.get("error"))
            )
        steps = list(response.get("recommendedSteps", []))
        token = response.get("nextToken")
        while token:
            page = analyzer.get_finding_recommendation(
                analyzerArn=analyzer_arn, id=finding_id, nextToken=token
            )
            steps.extend(page.get("recommendedSteps", []))
            token = page.get("nextToken")
    except (ClientError, BotoCoreError) as exc:
        return FindingRecommendation(
            finding_id=finding_id, status=ERROR, error=translate(exc).readable()
        )
    return FindingRecommendation(
        finding_id=finding_id,
        status=SUCCEEDED,
        steps=tuple(_step(step) for step in steps if "unusedPermissionsRecommendedStep" in step),
    )


def _step(step: dict[str, Any]) -> RecommendedStep:
    detail = step["unusedPermissionsRecommendedStep"]
    policy = detail.get("recommendedPolicy")
    return RecommendedStep(
        action=detail["recommendedAction"],
        policy=json.loads(policy) if policy else None,
        existing_policy_id=detail.get("existingPolicyId"),
    )


def validate_policy(
    analyzer: Any, *, document: dict, policy_type: str = "IDENTITY_POLICY"
) -> tuple[ValidationFinding, ...]:
    """Access Analyzer's ValidatePolicy findings (every page). Raises AwsError when unreachable:
    the caller falls back to the local check."""
    try:
        pages = analyzer.get_paginator("validate_policy").paginate(
            policyDocument=json.dumps(document), policyType=policy_type
        )
        return tuple(
            ValidationFinding(
                finding_type=item["findingType"],
                issue_code=item["issueCode"],
                details=item["findingDetails"],
            )
            for page in pages
            for item in page["findings"]
        )
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from exc


def start_policy_generation(
    analyzer: Any,
    *,
    principal_arn: str,
    trail_arns: Iterable[str],
    access_role_arn: str,
    start: datetime,
    end: datetime,
) -> str:
    """StartPolicyGeneration from CloudTrail for one role or user; the job id."""
    try:
        response = analyzer.start_policy_generation(
            policyGenerationDetails={"principalArn": principal_arn},
            cloudTrailDetails={
                "trails": [{"cloudTrailArn": arn, "allRegions": True} for arn in trail_arns],
                "accessRole": access_role_arn,
                "startTime": start,
                "endTime": end,
            },
        )
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from exc
    return response["jobId"]


def fetch_generated_policy(
    analyzer: Any,
    *,
    job_id: str,
    max_wait_seconds: float = 600,
    sleep: Callable[[float], object] = time.sleep,
    progress: Callable[[float], object] | None = None,
) -> GeneratedPolicy:
    """GetGeneratedPolicy until the job is done; ``progress`` gets the seconds waited so far."""
    backoff = Backoff(sleep=sleep, max_wait_seconds=max_wait_seconds)
    try:
        while True:
            response = analyzer.get_generated_policy(jobId=job_id)
            status = response["jobDetails"]["status"]
            if status != IN_PROGRESS:
                break
            if progress is not None:
                progress(backoff.waited)
            if not backoff.wait():
                return GeneratedPolicy(
                    job_id=job_id,
                    status=TIMED_OUT,
                    error=f"still in progress after {backoff.waited:g} seconds of waiting",
                )
    except (ClientError, BotoCoreError) as exc:
        failure = translate(exc)
        return GeneratedPolicy(
            job_id=job_id, status=ERROR, error=failure.readable(), failure=failure
        )
    if status != SUCCEEDED:
        return GeneratedPolicy(
            job_id=job_id, status=status, error=_job_error(response["jobDetails"].get("jobError"))
        )
    policies = response.get("generatedPolicyResult", {}).get("generatedPolicies", [])
    return GeneratedPolicy(
        job_id=job_id,
        status=SUCCEEDED,
        policies=tuple(json.loads(item["policy"]) for item in policies),
    )


def _job_error(error: dict | None) -> str:
    error = error or {}
    return f"{error.get('code', 'Unknown')}: {error.get('message', '')}".strip()
