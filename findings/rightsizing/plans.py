"""Remediation plans: a suggestion frozen with a "remediate" decision, and the check of fresh
policies against it (equal or narrower: done; broader: still open).

The plan keeps the documents the principal should end up with; the check compares grants (an
action on a resource pattern under a condition) as findings.policy.coverage does: both sides are
expanded through the IAM action database, so a policy rewritten in other words still compares
equal; a grant on more resources or under fewer conditions than the plan's is broader; and a
broad Allow narrowed by the plan's own Deny compares as what it leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from findings.policy.coverage import allowed_beyond
from findings.policy.grants import GrantedPolicy, document_actions
from findings.rightsizing.undocumented import UndocumentedPolicy

PLAN_VERSION = 1
EXAMPLES = 10


def remediation_plan(*, suggestion: Mapping[str, Any]) -> dict[str, Any]:
    """What a reviewer commits to when attaching a suggestion to a "remediate" decision."""
    return {
        "version": PLAN_VERSION,
        "principal_arn": suggestion["arn"],
        "principal_kind": suggestion["kind"],
        "suggested_at": suggestion.get("generated_at"),
        "unused_days": suggestion.get("unused_days"),
        "action_database": suggestion.get("action_database"),
        "removed_services": list(suggestion.get("removed_services") or []),
        "changes": [
            {
                key: change.get(key)
                for key in ("policy", "ref", "kind", "action", "after", "new_policy_name")
                if key in change
            }
            for change in suggestion.get("changes") or []
        ],
    }


def planned_documents(*, plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The documents the principal is left with once the plan is carried out."""
    return [
        change["after"]
        for change in plan.get("changes") or []
        if change.get("action") != "detach" and change.get("after")
    ]


def compare_with_plan(
    *, plan: Mapping[str, Any], policies: Iterable[GrantedPolicy | UndocumentedPolicy] | None
) -> dict[str, Any]:
    """``policies``: what the principal has now (None: the principal is gone).

    ``verdict`` is "equal", "narrower" or "broader"; ``beyond_plan`` counts the actions
    allowed now that the plan does not allow, on some resource or under fewer conditions,
    with a few of them as examples ("sqs:SendMessage", "s3:GetObject on *"). Each grant is
    compared with the plan's as findings.policy.coverage does: whatever it cannot prove within
    the plan counts as broader, so a plan is never verified by policies that may grant more. A
    Deny counts now only where the plan has the same one: a Deny the plan does not have (a
    quarantine DenyAll, say) would otherwise verify, for good, a remediation never done.
    A policy whose document is unknown (``UndocumentedPolicy``) cannot be shown covered: it
    makes the verdict "broader", counts as one grant beyond the plan, comes first among the
    examples and is named in ``not_judged``.
    """
    policies = None if policies is None else list(policies)
    planned = planned_documents(plan=plan)
    now = [p.document for p in policies or () if isinstance(p, GrantedPolicy)]
    unjudged = [p.label for p in policies or () if isinstance(p, UndocumentedPolicy)]
    beyond = allowed_beyond(documents=now, within=planned)
    if beyond or unjudged:
        verdict = "broader"
    elif allowed_beyond(documents=planned, within=now):
        verdict = "narrower"
    else:
        verdict = "equal"
    result = {
        "verdict": verdict,
        "principal_gone": policies is None,
        "beyond_plan": len(beyond) + len(unjudged),
        "beyond_plan_examples": [
            *(f"{label} (document unknown: not judged)" for label in unjudged),
            *_examples(beyond),
        ][:EXAMPLES],
    }
    if unjudged:
        result["not_judged"] = unjudged
    return result


def compare_documents(
    *, ours: Iterable[Mapping[str, Any]], theirs: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """Our suggested documents beside another recommendation (CloudTrail, Access Analyzer):
    the actions only one side grants, or grants on more resources or under fewer conditions
    (as compare_with_plan reads them), and the services only one side grants at all."""
    ours, theirs = list(ours), list(theirs)
    only_ours = allowed_beyond(documents=ours, within=theirs)
    only_theirs = allowed_beyond(documents=theirs, within=ours)
    mine = frozenset().union(*(document_actions(document=d) for d in ours))
    other = frozenset().union(*(document_actions(document=d) for d in theirs))

    def services(names: Iterable[str]) -> set[str]:
        return {name.partition(":")[0].lower() for name in names}

    return {
        "same": not only_ours and not only_theirs,
        "only_ours": len(only_ours),
        "only_theirs": len(only_theirs),
        "only_ours_examples": _examples(only_ours),
        "only_theirs_examples": _examples(only_theirs),
        "services_only_ours": sorted(services(mine) - services(other)),
        "services_only_theirs": sorted(services(other) - services(mine)),
    }


def _examples(beyond: Mapping[str, str]) -> list[str]:
    return sorted(set(beyond.values()), key=str.lower)[:EXAMPLES]
