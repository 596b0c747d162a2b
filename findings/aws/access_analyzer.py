"""IAM Access Analyzer: analyzers and their findings, per region, or from a saved CLI file.

ListFindings works only for external-access analyzers, so this uses ListFindingsV2 and
GetFindingV2, which cover every analyzer type.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

import boto3
from botocore.exceptions import ClientError

from findings.aws.convert import json_safe, load_json, parse_timestamp
from findings.aws.errors import AWS_EXCEPTIONS, ParseError, translate
from findings.aws.records import AccessAnalyzerSnapshot, Analyzer, AnalyzerFinding
from findings.aws.session import client
from findings.aws.shapes import check_shape

logger = logging.getLogger(__name__)

# An analyzer being created, or whose creation failed, has no findings to list.
ANALYZER_STATUSES_WITHOUT_FINDINGS = ("CREATING", "FAILED")

# The finding types each kind of analyzer reports: an analyzer lists its own kind's only.
FINDING_TYPES_OF_KIND = {
    "external": ("ExternalAccess",),
    "internal": ("InternalAccess",),
    "unused": (
        "UnusedIAMRole",
        "UnusedIAMUserAccessKey",
        "UnusedIAMUserPassword",
        "UnusedPermission",
    ),
}
KIND_OF_FINDING_TYPE = {t: kind for kind, types in FINDING_TYPES_OF_KIND.items() for t in types}


# list-findings (v1) covers only external-access analyzers; these fields of its summary are the
# ExternalAccessDetails of v2.
V1_EXTERNAL_ACCESS_FIELDS = (
    "action",
    "condition",
    "isPublic",
    "principal",
    "sources",
    "resourceControlPolicyRestriction",
)
# Response fields that describe the call, not the finding.
NOT_SUMMARY_FIELDS = ("findingDetails", "nextToken", "ResponseMetadata")

ClientFactory = Callable[[str], Any]


class KnownFinding(NamedTuple):
    """What is stored of a finding: when AWS last updated it, and its details then."""

    analyzer_arn: str
    updated_at: datetime | None
    details: tuple[dict[str, Any], ...]


# --- Fetching -----------------------------------------------------------------------------------


def fetch_access_analyzer(
    session_or_client_factory: boto3.Session | ClientFactory,
    *,
    regions: Iterable[str],
    progress: Callable[[int, int], object] | None = None,
    known: Mapping[str, KnownFinding] | None = None,
) -> AccessAnalyzerSnapshot:
    """Every analyzer and finding (all statuses) in ``regions``.

    A region that fails is recorded in ``region_errors`` with nothing from it kept, so that a
    partial listing is never mistaken for findings having been resolved.

    ``known`` (finding id -> what is stored of it): a finding its analyzer lists with the same
    updatedAt keeps the stored details, without a GetFindingV2 call; the rest are read.
    """
    if isinstance(session_or_client_factory, boto3.Session):
        session = session_or_client_factory

        def client_for_region(region: str) -> Any:
            return client(session, "accessanalyzer", region)
    else:
        client_for_region = session_or_client_factory

    regions = list(dict.fromkeys(regions))
    analyzers: list[Analyzer] = []
    findings: list[AnalyzerFinding] = []
    region_errors: dict[str, str] = {}
    for done, region in enumerate(regions, start=1):
        try:
            region_analyzers, region_findings = _collect_region(
                client_for_region(region), region, known=known or {}
            )
        except AWS_EXCEPTIONS as exc:
            region_errors[region] = translate(exc).readable()
        else:
            analyzers.extend(region_analyzers)
            findings.extend(region_findings)
        if progress is not None:
            progress(done, len(regions))
    return AccessAnalyzerSnapshot(
        analyzers=tuple(analyzers), findings=tuple(findings), region_errors=region_errors
    )


def _collect_region(
    analyzer_client: Any, region: str, *, known: Mapping[str, KnownFinding]
) -> tuple[list[Analyzer], list[AnalyzerFinding]]:
    pages = analyzer_client.get_paginator("list_analyzers").paginate()
    names = [summary["name"] for page in pages for summary in page["analyzers"]]
    analyzers = []
    for name in names:
        # GetAnalyzer adds the configuration that ListAnalyzers omits, and the current status.
        detail = analyzer_client.get_analyzer(analyzerName=name)["analyzer"]
        analyzers.append(
            Analyzer(
                arn=detail["arn"],
                name=detail["name"],
                type=detail["type"],
                status=detail["status"],
                region=region,
            )
        )
    findings = []
    for analyzer in analyzers:
        if analyzer.status in ANALYZER_STATUSES_WITHOUT_FINDINGS:
            continue
        # No filter: ACTIVE, ARCHIVED and RESOLVED all matter (AWS deletes RESOLVED after 90 days).
        pages = analyzer_client.get_paginator("list_findings_v2").paginate(analyzerArn=analyzer.arn)
        for page in pages:
            for summary in page["findings"]:
                finding = _finding_of_summary(
                    analyzer_client,
                    summary,
                    region=region,
                    analyzer_arn=analyzer.arn,
                    stored=known.get(summary["id"]),
                )
                if finding is not None:
                    findings.append(finding)
    return analyzers, findings


def _finding_of_summary(
    analyzer_client: Any,
    summary: Mapping[str, Any],
    *,
    region: str,
    analyzer_arn: str,
    stored: KnownFinding | None,
) -> AnalyzerFinding | None:
    """The finding a FindingSummaryV2 lists: its details as stored when AWS has not updated it
    since, else read with GetFindingV2. None when AWS deleted it in between (ListFindingsV2
    still listed it): it is not read as anything, and the rest of the region is kept."""
    listed = finding_from_get_finding_v2(summary, region=region, analyzer_arn=analyzer_arn)
    if (
        stored is not None
        and stored.details
        and stored.analyzer_arn == analyzer_arn
        and stored.updated_at is not None
        and stored.updated_at == listed.updated_at
    ):
        return replace(listed, details=tuple(stored.details))
    try:
        response = _get_finding_v2(
            analyzer_client, analyzer_arn=analyzer_arn, finding_id=summary["id"]
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        logger.info(
            "Finding %s of %s was deleted before it could be read", summary["id"], analyzer_arn
        )
        return None
    return finding_from_get_finding_v2(response, region=region, analyzer_arn=analyzer_arn)


def _get_finding_v2(analyzer_client: Any, *, analyzer_arn: str, finding_id: str) -> dict[str, Any]:
    """GetFindingV2 with every page of findingDetails joined (one UnusedPermission finding can
    span several pages)."""
    response = analyzer_client.get_finding_v2(analyzerArn=analyzer_arn, id=finding_id)
    details = list(response.get("findingDetails", []))
    next_token = response.get("nextToken")
    while next_token:
        page = analyzer_client.get_finding_v2(
            analyzerArn=analyzer_arn, id=finding_id, nextToken=next_token
        )
        details.extend(page.get("findingDetails", []))
        next_token = page.get("nextToken")
    return {**response, "findingDetails": details}


def finding_from_get_finding_v2(
    response: Mapping[str, Any], *, region: str | None, analyzer_arn: str | None
) -> AnalyzerFinding:
    """A finding from a GetFindingV2 response (or a FindingSummaryV2, which has no details)."""
    return _finding(response, region=region, analyzer_arn=analyzer_arn, where="")


# --- Parsing files ------------------------------------------------------------------------------


def parse_findings_file(data: bytes) -> tuple[AnalyzerFinding, ...]:
    """Findings saved with the AWS CLI, in any of these shapes:

    - ``aws accessanalyzer list-findings-v2``: {"findings": [FindingSummaryV2, ...]}
    - ``aws accessanalyzer list-findings`` (v1): {"findings": [FindingSummary, ...]}
    - a JSON list of ``aws accessanalyzer get-finding-v2`` outputs
    - one ``get-finding-v2`` output

    A file does not say which analyzer or region it came from: those are None.
    """
    document = load_json(data)
    if isinstance(document, list):
        items, prefix = document, ""
    elif isinstance(document, dict) and isinstance(document.get("findings"), list):
        items, prefix = document["findings"], "findings"
    elif isinstance(document, dict) and "id" in document:
        finding = _finding(document, region=None, analyzer_arn=None, where="")
        _check_file_item(document, "")
        return (finding,)
    else:
        raise ParseError(
            "expected the output of list-findings-v2, list-findings or get-finding-v2 "
            '(an object with "findings", a finding, or a list of findings)'
        )
    # The parser's own checks first (they say more), then every other field's type.
    findings = tuple(
        _finding(item, region=None, analyzer_arn=None, where=f"{prefix}[{index}].")
        for index, item in enumerate(items)
    )
    for index, item in enumerate(items):
        _check_file_item(item, f"{prefix}[{index}]")
    return _pages_merged(findings)


def _pages_merged(findings: tuple[AnalyzerFinding, ...]) -> tuple[AnalyzerFinding, ...]:
    """A finding listed more than once (the pages of one GetFindingV2, saved one after the
    other: AWS_NOTES) is one finding with the details of every page, in page order."""
    merged: dict[str, AnalyzerFinding] = {}
    for finding in findings:
        first = merged.get(finding.id)
        if first is None:
            merged[finding.id] = finding
        elif finding.details:
            known = list(first.details)
            more = tuple(d for d in finding.details if d not in known)
            merged[finding.id] = replace(first, details=(*first.details, *more))
    return tuple(merged.values())


def _check_file_item(item: Any, where: str) -> None:
    """Every field of a finding from a file has the type AWS's model gives it: a detail of the
    wrong type was stored and broke detection and right-sizing later."""
    if not isinstance(item, Mapping):
        return  # _finding names it
    if "findingDetails" in item:
        shape = "GetFindingV2Response"
    elif "findingType" in item:
        shape = "FindingSummaryV2"
    else:
        shape = "FindingSummary"  # list-findings (v1)
    check_shape(item, service="accessanalyzer", shape=shape, where=where)


def _finding(
    item: Any, *, region: str | None, analyzer_arn: str | None, where: str
) -> AnalyzerFinding:
    if not isinstance(item, Mapping):
        raise ParseError(
            f"expected an object, found {type(item).__name__}", field=where.rstrip(".") or None
        )
    details = item.get("findingDetails")
    if details is None:
        details = _v1_details(item)
    elif not isinstance(details, list) or not all(isinstance(d, Mapping) for d in details):
        raise ParseError("expected a list of objects", field=f"{where}findingDetails")
    summary = {key: value for key, value in item.items() if key not in NOT_SUMMARY_FIELDS}
    error = item.get("error")
    return AnalyzerFinding(
        id=_text(item, "id", where),
        analyzer_arn=analyzer_arn,
        region=region,
        # v1 summaries have no findingType: v1 lists only external-access findings.
        finding_type=item.get("findingType") or "ExternalAccess",
        status=_text(item, "status", where),
        resource=item.get("resource"),
        resource_type=_text(item, "resourceType", where),
        resource_owner_account=_text(item, "resourceOwnerAccount", where),
        created_at=parse_timestamp(item.get("createdAt"), field=f"{where}createdAt"),
        updated_at=parse_timestamp(item.get("updatedAt"), field=f"{where}updatedAt"),
        analyzed_at=parse_timestamp(item.get("analyzedAt"), field=f"{where}analyzedAt"),
        error=str(error) if error else None,
        details=tuple(json_safe(detail) for detail in details),
        summary=json_safe(summary),
    )


def _v1_details(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A v1 FindingSummary's principal/action/condition/... as one externalAccessDetails."""
    if "findingType" in item or not any(key in item for key in V1_EXTERNAL_ACCESS_FIELDS):
        return []  # a v2 summary: details come only from GetFindingV2
    external = {key: item[key] for key in V1_EXTERNAL_ACCESS_FIELDS if key in item}
    external.setdefault("condition", {})  # required in ExternalAccessDetails
    return [{"externalAccessDetails": external}]


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if value is None or value == "":
        raise ParseError("missing", field=f"{where}{key}")
    if not isinstance(value, str):
        raise ParseError(f"expected text, found {type(value).__name__}", field=f"{where}{key}")
    return value
