"""Remediation plans: a suggestion frozen with a "remediate" decision, and the check of fresh
policies against it (equal or narrower: done; broader: still open).

The plan keeps the documents the principal should end up with; the check expands both sides
through the IAM action database, so a policy rewritten in other words still compares equal, and
takes each side's explicit Denies away where the plan has them, so a broad Allow narrowed by the
plan's own Deny compares as what it leaves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from findings.policy.effective import Policy, effective_permissions
from findings.policy.grants import GrantedPolicy, document_actions

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


def allowed_actions(*, documents: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The actions the documents allow once their own explicit Denies are taken away (a Deny
    on every resource without a condition, as findings.policy.effective reads it), expanded
    through the action database: lower-cased name -> the name as the database writes it."""
    documents = list(documents)
    names = {a.lower(): a for d in documents for a in document_actions(document=d)}
    perms = effective_permissions(
        principal_arn="",
        principal_name="",
        policies=[Policy(f"policy {n}", "inline", d) for n, d in enumerate(documents)],
    )
    return {action: names.get(action, action) for action in perms.allowed}


def _statement_list(document: Mapping[str, Any]) -> list:
    found = document.get("Statement") or []
    return [found] if isinstance(found, Mapping) else list(found)


LIST_KEYS = ("Action", "NotAction", "Resource", "NotResource")


def _deny_key(statement: Any) -> str | None:
    """A Deny statement as comparable text (a string or a list of one, in any order, is the
    same Action or Resource); None for anything else."""
    if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
        return None
    canonical = {k: v for k, v in statement.items() if k != "Sid"}
    for key in LIST_KEYS:
        if key in canonical:
            value = canonical[key]
            canonical[key] = sorted([value] if isinstance(value, str) else list(value), key=str)
    return json.dumps(canonical, sort_keys=True, default=str)


def only_planned_denies(
    *, document: Mapping[str, Any], planned: frozenset[str]
) -> Mapping[str, Any]:
    """The document without the Deny statements the plan does not have (`planned`: its own,
    as _deny_key writes them)."""
    kept = [s for s in _statement_list(document) if _deny_key(s) in (None, *planned)]
    return {**document, "Statement": kept}


def compare_with_plan(
    *, plan: Mapping[str, Any], policies: Iterable[GrantedPolicy] | None
) -> dict[str, Any]:
    """``policies``: what the principal has now (None: the principal is gone).

    ``verdict`` is "equal", "narrower" or "broader"; ``beyond_plan`` counts the actions
    allowed now that the plan does not allow, with a few of them as examples. Each side is
    what its documents allow after their explicit Denies, and a Deny counts now only where the
    plan has the same one: a Deny the plan does not have (a quarantine DenyAll, say) would
    otherwise verify, for good, a remediation that was never done.
    """
    planned = planned_documents(plan=plan)
    denies = frozenset(
        key for d in planned for s in _statement_list(d) if (key := _deny_key(s)) is not None
    )
    allowed = allowed_actions(documents=planned)
    granted = (
        {}
        if policies is None
        else allowed_actions(
            documents=[only_planned_denies(document=p.document, planned=denies) for p in policies]
        )
    )
    beyond = sorted((granted[a] for a in granted.keys() - allowed.keys()), key=str.lower)
    if beyond:
        verdict = "broader"
    elif granted.keys() == allowed.keys():
        verdict = "equal"
    else:
        verdict = "narrower"
    return {
        "verdict": verdict,
        "principal_gone": policies is None,
        "beyond_plan": len(beyond),
        "beyond_plan_examples": beyond[:EXAMPLES],
    }


def compare_documents(
    *, ours: Iterable[Mapping[str, Any]], theirs: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """Our suggested documents beside another recommendation (CloudTrail, Access Analyzer):
    the services and actions only one side grants, expanded through the action database."""
    mine = frozenset().union(*(document_actions(document=d) for d in ours))
    other = frozenset().union(*(document_actions(document=d) for d in theirs))
    only_ours = sorted(mine - other, key=str.lower)
    only_theirs = sorted(other - mine, key=str.lower)

    def services(names: Iterable[str]) -> set[str]:
        return {name.partition(":")[0].lower() for name in names}

    return {
        "same": mine == other,
        "only_ours": len(only_ours),
        "only_theirs": len(only_theirs),
        "only_ours_examples": only_ours[:EXAMPLES],
        "only_theirs_examples": only_theirs[:EXAMPLES],
        "services_only_ours": sorted(services(mine) - services(other)),
        "services_only_theirs": sorted(services(other) - services(mine)),
    }
