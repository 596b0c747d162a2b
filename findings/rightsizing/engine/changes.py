"""One policy's change: keep, detach, rewrite, or replace (an AWS-managed or shared policy is
never edited in place), with its document before and after and the group members it reaches;
and the labels that tell apart policies of one name, so that each change names one policy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from findings.policy.documents import statements
from findings.policy.grants import GrantedPolicy, statement_actions
from findings.rightsizing.engine.reduction import reduce_document

# The members of a group a change names (with how many there are in all).
AFFECTS_SHOWN = 10


def _distinctly_labelled(policies: list[GrantedPolicy]) -> list[GrantedPolicy]:
    """Policies whose labels clash (an inline and a managed policy of one name) told apart by
    their kind: each change, check and export names one policy."""
    counts = Counter(policy.label for policy in policies)
    kinds = [
        replace(policy, distinct=_kind_word(policy)) if counts[policy.label] > 1 else policy
        for policy in policies
    ]
    # Still the same (two AWS-managed of one name under different paths): numbered.
    counts, seen = Counter(p.label for p in kinds), Counter()
    numbered = []
    for policy in kinds:
        if counts[policy.label] > 1:
            seen[policy.label] += 1
            distinct = ", ".join(filter(None, [policy.distinct, str(seen[policy.label])]))
            policy = replace(policy, distinct=distinct)
        numbered.append(policy)
    return numbered


def _kind_word(policy: GrantedPolicy) -> str:
    if not policy.is_managed:
        return "inline"
    return "AWS managed" if policy.is_aws_managed else "customer managed"


def _removed(document: Mapping[str, Any], keep: Callable[[str], bool]) -> set[str]:
    return {
        a
        for statement in statements(document=document)
        for a in statement_actions(statement=statement)
        if not keep(a)
    }


def _change(*, policy: GrantedPolicy, keep: Callable[[str], bool]) -> dict[str, Any]:
    after = reduce_document(document=policy.document, keep=keep)
    new_name = None
    if after == policy.document:
        action = "keep"
    elif after is None:
        action = "detach"
    elif policy.is_managed and policy.is_shared:
        # Never edit an AWS-managed or shared policy in place: a new policy with the used part.
        action = "replace"
        new_name = f"{policy.name}-least-privilege"[:128]
    else:
        action = "rewrite"
    change = {
        "policy": policy.label,
        "ref": policy.ref,
        "kind": policy.kind,
        "managed": policy.is_managed,
        "aws_managed": policy.is_aws_managed,
        "action": action,
        "before": policy.document,
        "after": after,
        # How many principals a change to a group's policy reaches, and the first few of them:
        # never the whole list, which every member's suggestion would carry (a group of all
        # the account's users made storage grow with the square of them). The files that list
        # every member resolve them when they are made (selectors.group_members).
        "affects_count": len(policy.members) if policy.group else 0,
        "affects_first": list(policy.members[:AFFECTS_SHOWN]) if policy.group else [],
    }
    if new_name:
        change["new_policy_name"] = new_name
    if policy.group:
        change["group"] = policy.group
    return change
