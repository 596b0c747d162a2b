"""Access Analyzer's own right-sizing, read during the Access Analyzer collection: recommended
policy changes for active UnusedPermission findings, and ValidatePolicy on our suggestions.

Both are extras: a refusal or a timeout is stored (or falls back to the local check) and never
fails the collection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from findings.aws.errors import AwsError
from findings.aws.recommendations import (
    SUCCEEDED,
    fetch_finding_recommendation,
    validate_policy,
)
from findings.models import AccessAnalyzerFinding, AwsAccount, FindingRecommendation
from findings.rightsizing.services import record_aws_validation

logger = logging.getLogger(__name__)

ClientForRegion = Callable[[str], Any]
# Bounded per run: each recommendation is a job AWS runs; the rest come with the next runs.
MAX_RECOMMENDATIONS_PER_RUN = 50
# A recommendation AWS did not give (throttled, its job failed or outlasted our wait) is asked
# again at the next runs, after the new and changed ones, this many times in a row at most; then
# only a change to its finding asks again, so that one AWS keeps refusing does not take a share
# of every run's budget for ever.
MAX_FAILED_ATTEMPTS = 3


def refresh_finding_recommendations(
    *,
    account: AwsAccount,
    client_for_region: ClientForRegion,
    max_wait_seconds: float = 60,
    sleep: Callable[[float], object] = time.sleep,
) -> int:
    """Fetch the recommendation of every active UnusedPermission finding that has none yet, or
    whose finding changed since, then of those AWS gave none for last time (see
    MAX_FAILED_ATTEMPTS); store it. Returns how many were fetched."""
    findings = list(
        AccessAnalyzerFinding.objects.filter(
            account=account, finding_type="UnusedPermission", status="ACTIVE", gone_at=None
        ).exclude(analyzer_arn="")
    )
    known = {
        r.finding_id: r
        for r in FindingRecommendation.objects.filter(
            account=account, finding_id__in=[f.finding_id for f in findings]
        )
    }
    new_or_changed = [f for f in findings if _new_or_changed(f, known.get(f.finding_id))]
    fresh = {f.finding_id for f in new_or_changed}
    # The unchanged ones AWS gave none for, the longest waiting first: after the others.
    failed_before = sorted(
        (f for f in findings if f.finding_id not in fresh and _ask_again(known.get(f.finding_id))),
        key=lambda f: known[f.finding_id].fetched_at,
    )
    asked_again = {f.finding_id for f in failed_before}
    due = (new_or_changed + failed_before)[:MAX_RECOMMENDATIONS_PER_RUN]
    now = timezone.now()
    rows = []
    for finding in due:
        result = fetch_finding_recommendation(
            client_for_region(finding.region or "us-east-1"),
            analyzer_arn=finding.analyzer_arn,
            finding_id=finding.finding_id,
            max_wait_seconds=max_wait_seconds,
            sleep=sleep,
        )
        failed_attempts = 0
        if result.status != SUCCEEDED:
            before = known[finding.finding_id] if finding.finding_id in asked_again else None
            failed_attempts = 1 + (before.failed_attempts if before else 0)
        rows.append(
            FindingRecommendation(
                account=account,
                finding_id=finding.finding_id,
                principal_arn=finding.resource,
                status=result.status,
                steps=[asdict(step) for step in result.steps],
                error=result.error or "",
                fetched_at=now,
                failed_attempts=failed_attempts,
            )
        )
    with transaction.atomic():
        FindingRecommendation.objects.filter(account=account).exclude(
            Q(finding_id__in=[f.finding_id for f in findings])
        ).delete()
        FindingRecommendation.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["account", "finding_id"],
            update_fields=[
                "principal_arn",
                "status",
                "steps",
                "error",
                "fetched_at",
                "failed_attempts",
            ],
        )
    return len(rows)


def _new_or_changed(finding: AccessAnalyzerFinding, stored: FindingRecommendation | None) -> bool:
    return stored is None or (
        finding.aws_updated_at is not None and finding.aws_updated_at > stored.fetched_at
    )


def _ask_again(stored: FindingRecommendation | None) -> bool:
    return (
        stored is not None
        and stored.status != SUCCEEDED
        and stored.failed_attempts < MAX_FAILED_ATTEMPTS
    )


def validate_suggestions_with_aws(*, account: AwsAccount, analyzer: Any) -> int:
    """ValidatePolicy on each suggested document of the account's stored suggestions; the
    local check stays where AWS cannot be reached. Returns how many suggestions AWS checked."""

    def check(document: dict) -> list[dict[str, Any]]:
        return [
            asdict(f) | {"blocks": f.blocks} for f in validate_policy(analyzer, document=document)
        ]

    try:
        return record_aws_validation(account=account, check=check)
    except AwsError as exc:
        logger.info("ValidatePolicy unreachable for %s, local check kept: %s", account, exc)
        return 0
