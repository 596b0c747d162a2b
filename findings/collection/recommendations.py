"""Access Analyzer's own right-sizing, read during the Access Analyzer collection: recommended
policy changes for active UnusedPermission findings, and ValidatePolicy on our suggestions.

Both are extras: a refusal or a timeout is stored (or falls back to the local check) and never
fails the collection. Recommendations stop being asked for before the task's time runs out; if
its soft time limit comes all the same, what was fetched is stored and the run fails.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

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
# Written this many at a time while fetching (one bulk write each), so that a run stopped
# half-way (its time limit, its worker) keeps what AWS already answered.
WRITE_EVERY = 10
# Besides its wait, room for a fetch's own calls (GenerateFindingRecommendation, each page).
CALLS_TAKE_UP_TO = timedelta(seconds=30)


def refresh_finding_recommendations(
    *,
    account: AwsAccount,
    client_for_region: ClientForRegion,
    max_wait_seconds: float = 60,
    sleep: Callable[[float], object] = time.sleep,
    deadline: datetime | None = None,
    clock: Callable[[], datetime] = timezone.now,
) -> int:
    """Fetch the recommendation of every active UnusedPermission finding that has none yet, or
    whose finding changed since, then of those AWS gave none for last time (see
    MAX_FAILED_ATTEMPTS); store them as they come. Returns how many were fetched.

    None is started that could not end before ``deadline`` (its wait and its calls): the rest
    come with the next runs. What was fetched is stored whatever stops the run half-way.
    """
    findings = list(
        AccessAnalyzerFinding.objects.filter(
            account=account, finding_type="UnusedPermission", status="ACTIVE", gone_at=None
        ).exclude(analyzer_arn="")
    )
    FindingRecommendation.objects.filter(account=account).exclude(
        finding_id__in=[f.finding_id for f in findings]
    ).delete()
    due, failed_before = _due(account=account, findings=findings)
    longest = timedelta(seconds=max_wait_seconds) + CALLS_TAKE_UP_TO
    fetched, batch = 0, []
    try:
        for finding in due:
            now = clock()
            if deadline is not None and now + longest > deadline:
                logger.info(
                    "Time runs short: %d recommendations for %s left for the next run",
                    len(due) - fetched,
                    account,
                )
                break
            result = fetch_finding_recommendation(
                client_for_region(finding.region or "us-east-1"),
                analyzer_arn=finding.analyzer_arn,
                finding_id=finding.finding_id,
                max_wait_seconds=max_wait_seconds,
                sleep=sleep,
            )
            failed = (
                0 if result.status == SUCCEEDED else 1 + failed_before.get(finding.finding_id, 0)
            )
            batch.append(
                FindingRecommendation(
                    account=account,
                    finding_id=finding.finding_id,
                    principal_arn=finding.resource,
                    status=result.status,
                    steps=[asdict(step) for step in result.steps],
                    error=result.error or "",
                    fetched_at=now,
                    failed_attempts=failed,
                )
            )
            fetched += 1
            if len(batch) >= WRITE_EVERY:
                _store(batch)
                batch = []
    finally:  # the soft time limit, say: what AWS already answered is kept
        _store(batch)
    return fetched


def _due(
    *, account: AwsAccount, findings: list[AccessAnalyzerFinding]
) -> tuple[list[AccessAnalyzerFinding], dict[str, int]]:
    """The findings to ask about this run, in order, and how many times in a row those asked
    again had failed."""
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
    due = (new_or_changed + failed_before)[:MAX_RECOMMENDATIONS_PER_RUN]
    return due, {f.finding_id: known[f.finding_id].failed_attempts for f in failed_before}


def _store(rows: list[FindingRecommendation]) -> None:
    if rows:
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
