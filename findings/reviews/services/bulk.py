"""Bulk decisions: one decision and one comment over many items, each recorded as a single
decision is, with each account's detection run once at the end."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from findings.models import AwsAccount, Decision, ReviewItem
from findings.reviews.services.deciding import DecisionInput, decide_item
from findings.reviews.services.deferred_detection import (
    _detect_in_background,
    _detection_after_bulk,
)
from findings.reviews.services.errors import Conflict, Forbidden, Invalid
from findings.reviews.services.rules import (
    MIN_SERIOUS_JUSTIFICATION_LENGTH,
    justification_too_short,
)


@dataclass
class BulkResult:
    decided: list[ReviewItem] = field(default_factory=list)
    conflicts: list[tuple[ReviewItem, str]] = field(default_factory=list)
    refused: list[tuple[ReviewItem, str]] = field(default_factory=list)
    # Already given this very decision by the same person since the page was shown: the form
    # sent again (Back and resend, a retry), not decided a second time.
    repeated: list[ReviewItem] = field(default_factory=list)


def bulk_decide(
    *,
    items: list[ReviewItem],
    actor: User,
    decision: DecisionInput,
    seen_at: datetime,
) -> BulkResult:
    """One decision and one mandatory comment over many items. Items someone else decided
    after `seen_at` (when the page was shown) are reported as conflicts, not overwritten."""
    text = decision.justification.strip()
    if not text:
        raise Invalid({"justification": "A comment is required for a bulk decision."})
    serious = [
        item
        for item in items
        if justification_too_short(kind=decision.kind, justification=text, severity=item.severity)
    ]
    if serious:
        # Refused for all, not decided for some: the comment is one, for every item.
        count = len(serious)
        raise Invalid(
            {
                "justification": f"{count} of the selected items {'are' if count != 1 else 'is'}"
                f" critical or high: the comment needs at least "
                f"{MIN_SERIOUS_JUSTIFICATION_LENGTH} characters (this one has {len(text)})."
            }
        )
    decision.validate(actor=actor, today=timezone.localdate())
    waiting: dict[int, AwsAccount] = {}
    token = _detection_after_bulk.set(waiting)
    try:
        result = _decide_each(items=items, actor=actor, decision=decision, seen_at=seen_at)
    finally:
        _detection_after_bulk.reset(token)
        for account in waiting.values():
            transaction.on_commit(lambda account=account: _detect_in_background(account))
    return result


def _decide_each(
    *, items: list[ReviewItem], actor: User, decision: DecisionInput, seen_at: datetime
) -> BulkResult:
    result = BulkResult()
    for item in items:
        latest = item.latest_decision
        if latest is not None and latest.decided_at > seen_at and latest.decided_by_id != actor.pk:
            result.conflicts.append((item, f"decided by {latest.decided_by.email} meanwhile"))
            continue
        if latest is not None and latest.decided_at > seen_at and _same_decision(latest, decision):
            result.repeated.append(item)
            continue
        try:
            decide_item(
                item=item,
                actor=actor,
                decision=decision,
                expected_latest_id=item.latest_decision_id,
                bulk=True,
            )
            result.decided.append(item)
        except Conflict as exc:
            mine = exc.current is not None and exc.current.decided_by_id == actor.pk
            if mine and _same_decision(exc.current, decision):
                result.repeated.append(item)  # the same form, sent twice at once
            else:
                result.conflicts.append((item, str(exc)))
        except Forbidden as exc:
            result.refused.append((item, str(exc)))
    return result


def _same_decision(made: Decision, asked: DecisionInput) -> bool:
    """Whether `made` is what recording `asked` would store: an expiry is kept with an
    accepted risk only (the page's form sends its proposed "Until" with every decision)."""
    expires_on = asked.expires_on if asked.kind == Decision.Kind.ACCEPT_RISK else None
    return (
        made.kind == asked.kind
        and made.justification == asked.justification.strip()
        and made.expires_on == expires_on
        and made.delegate_to_id == (asked.delegate_to.pk if asked.delegate_to else None)
    )
