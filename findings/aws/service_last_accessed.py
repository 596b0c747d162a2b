"""Service last accessed ("Access Advisor"): which services and actions each principal used.

AWS answers through background jobs, one per principal: start them all, then poll them in
rounds with growing waits. A job can only be read by the role session that started it, so one
``iam`` client does both.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from findings.aws.convert import load_json, optional_timestamp
from findings.aws.errors import AWS_EXCEPTIONS, AwsError, ParseError, translate
from findings.aws.records import (
    JOB_COMPLETED,
    JOB_ERROR,
    JOB_FAILED,
    JOB_TIMED_OUT,
    ActionLastAccessed,
    PrincipalServiceAccess,
    ServiceLastAccessed,
)
from findings.aws.shapes import check_shape
from findings.aws.waiting import Backoff

GRANULARITIES = ("SERVICE_LEVEL", "ACTION_LEVEL")
ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:(user|role)/[\w+=,.@/-]+$", re.ASCII)

T = TypeVar("T")
R = TypeVar("R")


def fetch_service_last_accessed(
    iam: Any,
    *,
    principal_arns: Iterable[str],
    granularity: str = "ACTION_LEVEL",
    max_concurrency: int = 5,
    max_wait_seconds: float = 300,
    sleep: Callable[[float], object] = time.sleep,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[PrincipalServiceAccess, ...]:
    """One result per principal, in the order given. Never raises for one principal's failure:
    that principal gets job_status FAILED (AWS's job failed), ERROR (an API call failed) or
    TIMED_OUT (still running when ``max_wait_seconds`` of waiting were spent)."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    arns = list(dict.fromkeys(principal_arns))  # a principal listed twice needs one job
    total = len(arns)
    results: dict[str, PrincipalServiceAccess] = {}

    def finish(result: PrincipalServiceAccess) -> None:
        results[result.principal_arn] = result
        if progress is not None:
            progress(len(results), total)

    def start(arn: str) -> tuple[str, str | None, AwsError | None]:
        try:
            response = iam.generate_service_last_accessed_details(Arn=arn, Granularity=granularity)
        except AWS_EXCEPTIONS as exc:
            return arn, None, translate(exc)
        return arn, response["JobId"], None

    pending: dict[str, str] = {}
    for arn, job_id, error in _bounded_map(start, arns, max_concurrency):
        if error is not None:
            finish(_result(arn, JOB_ERROR, error=error.readable(), error_code=error.code))
        elif job_id is not None:
            pending[arn] = job_id

    backoff = Backoff(sleep=sleep, max_wait_seconds=max_wait_seconds)
    while pending:
        polled = _bounded_map(lambda item: _read_job(iam, *item), pending.items(), max_concurrency)
        for result in polled:
            if result is not None:
                del pending[result.principal_arn]
                finish(result)
        if pending and not backoff.wait():
            break

    for arn, job_id in pending.items():
        message = f"the job was still running after {backoff.waited:g} seconds of waiting"
        finish(_result(arn, JOB_TIMED_OUT, error=message, job_id=job_id))
    return tuple(results[arn] for arn in arns)


def _read_job(iam: Any, arn: str, job_id: str) -> PrincipalServiceAccess | None:
    """The job's result, or None while it is still IN_PROGRESS."""
    services: list[ServiceLastAccessed] = []
    marker = None
    try:
        while True:
            # No boto3 paginator exists for this operation: follow IsTruncated/Marker by hand.
            request = {"JobId": job_id} if marker is None else {"JobId": job_id, "Marker": marker}
            response = iam.get_service_last_accessed_details(**request)
            status = response["JobStatus"]
            if status == JOB_FAILED:
                error = response.get("Error") or {}
                message = f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}".strip()
                return _result(arn, JOB_FAILED, error=message, job_id=job_id)
            if status != JOB_COMPLETED:
                return None
            services.extend(_service(item) for item in response.get("ServicesLastAccessed", []))
            marker = response.get("Marker")
            if not response.get("IsTruncated") or not marker:
                return _result(arn, JOB_COMPLETED, services=services, job_id=job_id)
    except AWS_EXCEPTIONS as exc:
        error = translate(exc)
        return _result(arn, JOB_ERROR, error=error.readable(), job_id=job_id, error_code=error.code)


def _service(item: dict[str, Any]) -> ServiceLastAccessed:
    namespace = item["ServiceNamespace"]
    return ServiceLastAccessed(
        service_name=item["ServiceName"],
        service_namespace=namespace,
        last_authenticated_at=optional_timestamp(
            item.get("LastAuthenticated"), field=f"{namespace}.LastAuthenticated"
        ),
        last_authenticated_entity=item.get("LastAuthenticatedEntity"),
        last_authenticated_region=item.get("LastAuthenticatedRegion"),
        total_authenticated_entities=item.get("TotalAuthenticatedEntities"),
        actions=tuple(
            ActionLastAccessed(
                action_name=action["ActionName"],
                last_accessed_at=optional_timestamp(
                    action.get("LastAccessedTime"), field=f"{namespace}.LastAccessedTime"
                ),
                region=action.get("LastAccessedRegion"),
                entity=action.get("LastAccessedEntity"),
            )
            for action in item.get("TrackedActionsLastAccessed", [])
        ),
    )


def _result(
    arn: str,
    status: str,
    *,
    services: Iterable[ServiceLastAccessed] = (),
    error: str | None = None,
    job_id: str | None = None,
    error_code: str | None = None,
) -> PrincipalServiceAccess:
    return PrincipalServiceAccess(
        principal_arn=arn,
        job_status=status,
        services=tuple(services),
        error=error,
        job_id=job_id,
        error_code=error_code,
    )


def _bounded_map(function: Callable[[T], R], items: Iterable[T], max_concurrency: int) -> list[R]:
    """map() with at most ``max_concurrency`` calls in flight, results in input order.

    With one worker it runs inline, so the calls happen in a fixed order (which Stubber tests
    rely on) and no thread is started.
    """
    items = list(items)
    if max_concurrency == 1 or len(items) <= 1:
        return [function(item) for item in items]
    # boto3 clients (unlike sessions) are safe to share between threads.
    with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
        return list(pool.map(function, items))


def parse_service_last_accessed_file(data: bytes, *, principal_arn: str) -> PrincipalServiceAccess:
    """What ``aws iam get-service-last-accessed-details --job-id ...`` prints (either
    granularity), or a JSON list of such pages, for one principal. ParseError names the field."""
    if not ARN.match(principal_arn):
        raise ParseError(f"{principal_arn!r} is not the ARN of an IAM user or role", field="--arn")
    document = load_json(data)
    pages = document if isinstance(document, list) else [document]
    if not pages:
        raise ParseError("an empty list: expected the output of get-service-last-accessed-details")
    services: list[ServiceLastAccessed] = []
    completed: list[datetime | None] = []
    for number, page in enumerate(pages):
        where = f"[{number}]" if isinstance(document, list) else ""
        if not isinstance(page, dict) or "ServicesLastAccessed" not in page:
            raise ParseError(
                "missing; expected the output of get-service-last-accessed-details",
                field=f"{where}ServicesLastAccessed",
            )
        status = page.get("JobStatus")
        if status != JOB_COMPLETED:
            raise ParseError(f"the job is {status!r}, not COMPLETED", field=f"{where}JobStatus")
        if not isinstance(page["ServicesLastAccessed"], list):
            raise ParseError("expected a list", field=f"{where}ServicesLastAccessed")
        for index, item in enumerate(page["ServicesLastAccessed"]):
            field = f"{where}ServicesLastAccessed[{index}]"
            if not isinstance(item, dict):
                raise ParseError("expected an object", field=field)
            for key in ("ServiceName", "ServiceNamespace"):
                if not isinstance(item.get(key), str) or not item[key]:
                    raise ParseError("missing", field=f"{field}.{key}")
            actions = item.get("TrackedActionsLastAccessed", [])
            if not isinstance(actions, list) or not all(
                isinstance(a, dict) and isinstance(a.get("ActionName"), str) for a in actions
            ):
                raise ParseError(
                    "expected a list of objects with ActionName",
                    field=f"{field}.TrackedActionsLastAccessed",
                )
            services.append(_service(item))
        # The parser's own checks first (they say more), then every other field's type.
        check_shape(page, service="iam", shape="GetServiceLastAccessedDetailsResponse", where=where)
        completed.append(
            optional_timestamp(page.get("JobCompletionDate"), field=f"{where}JobCompletionDate")
        )
    # Pages of one job share its date; a file without one is dated by the import.
    known = [when for when in completed if when is not None]
    return replace(
        _result(principal_arn, JOB_COMPLETED, services=services),
        completed_at=max(known) if known else None,
    )
