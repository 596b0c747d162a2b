"""The suggestion beside Access Analyzer's unused-access findings: the services each side
finds unused that the other does not, and, where AWS recommends policies, how the suggested
documents compare with the principal's documents once its recommended steps are applied."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from findings.rightsizing.plans import compare_documents


def _beside_access_analyzer(
    findings: Iterable[Mapping[str, Any]],
    *,
    removed_services: set[str],
    changes: list[dict[str, Any]] = (),
    policy_ids: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Access Analyzer's unused-access findings, and where they and we disagree."""
    result = []
    for finding in findings:
        entry = {
            "finding_id": finding["finding_id"],
            "type": finding["finding_type"],
            "status": finding["status"],
        }
        if finding["finding_type"] == "UnusedPermission":
            theirs = {
                (detail.get("unusedPermissionDetails") or {}).get("serviceNamespace", "").lower()
                for detail in finding["details"]
            } - {""}
            entry.update(
                unused_services=sorted(theirs),
                only_access_analyzer=sorted(theirs - removed_services),
                only_iamreview=sorted(removed_services - theirs),
            )
        if finding.get("recommendation"):
            recommendation = dict(finding["recommendation"])
            if recommendation.get("status") == "SUCCEEDED":
                recommendation["comparison"] = compare_documents(
                    ours=[c["after"] for c in changes if c["after"]],
                    theirs=_recommended_documents(
                        recommendation["steps"], changes, policy_ids or {}
                    ),
                )
            entry["recommendation"] = recommendation
        result.append(entry)
    return result


def _recommended_documents(
    steps: Iterable[Mapping[str, Any]],
    changes: Iterable[Mapping[str, Any]],
    policy_ids: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The principal's documents once Access Analyzer's steps are applied: a policy it names is
    detached or replaced by its recommended policy; the others stay as they are. AWS calls
    what it names the policy's "ID": matched against the ARN, the policy id (ANPA...) and the
    name, whichever it gives."""
    named = {step.get("existing_policy_id") for step in steps} - {None, ""}

    def is_named(change: Mapping[str, Any]) -> bool:
        ref = change["ref"]
        return bool({ref, ref.rpartition("/")[2], policy_ids.get(ref)} & named)

    documents = [step["policy"] for step in steps if step.get("policy")]
    documents += [c["before"] for c in changes if not is_named(c)]
    return documents
