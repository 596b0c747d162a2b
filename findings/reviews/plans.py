"""Right-sizing inside reviews: which items show the principal's suggestion, the plan a
"remediate" decision attaches, and the check of fresh policies against that plan.
"""

from __future__ import annotations

from typing import Any

from findings.models import AwsAccount, IamRole, IamUser, PolicySuggestion, ReviewCycle, ReviewItem
from findings.rightsizing.plans import compare_with_plan, remediation_plan
from findings.rightsizing.selectors import granted_policies_by_principal

# Cycles whose every user or role item shows the suggestion; other items show it when one of
# their findings is about unused access.
SUGGESTION_CYCLES = (ReviewCycle.Kind.RELEASE, ReviewCycle.Kind.QUARTERLY)
SUGGESTION_CHECKS = ("unused-services", "access-analyzer:UnusedPermission")


def shows_suggestion(*, item: ReviewItem) -> bool:
    if item.cycle.kind in SUGGESTION_CYCLES:
        return True
    findings = (item.frozen_evidence or {}).get("findings") or []
    return any(f.get("check") in SUGGESTION_CHECKS for f in findings)


def item_suggestion(*, item: ReviewItem) -> PolicySuggestion | None:
    """The stored suggestion of the item's principal, when the item is one that shows it."""
    if not item.subject_arn or not shows_suggestion(item=item):
        return None
    return PolicySuggestion.objects.filter(
        account_id=item.account_id, principal_arn=item.subject_arn
    ).first()


def plan_for_item(*, item: ReviewItem) -> dict[str, Any] | None:
    """The plan to attach: the item's suggestion, when it changes something (else None)."""
    suggestion = item_suggestion(item=item)
    if suggestion is None or not suggestion.changed_policies:
        return None
    return remediation_plan(suggestion=suggestion.data)


def check_against_plan(*, account: AwsAccount, plan: dict[str, Any]) -> dict[str, Any]:
    """Compare the principal's policies as last collected with the plan. A policy attached
    without a known document is passed on as such: it cannot be shown within the plan."""
    arn = plan["principal_arn"]
    model = IamUser if plan.get("principal_kind") == "user" else IamRole
    principal = model.objects.filter(account=account, arn=arn, gone_at=None).first()
    if principal is None:
        return compare_with_plan(plan=plan, policies=None)
    policies = granted_policies_by_principal(account=account, principals=[principal])[arn]
    return compare_with_plan(plan=plan, policies=policies)
