"""What the JSON API answers: plain dicts for review cycles, their items and decisions."""

from django.utils import timezone

from findings.models import Decision, ReviewCycle, ReviewItem


def iso(value) -> str | None:
    return value.isoformat() if value else None


def email(user) -> str | None:
    return user.email if user else None


def decision_record(decision: Decision) -> dict:
    return {
        "id": decision.pk,
        "item": decision.item_id,
        "kind": decision.kind,
        "justification": decision.justification,
        "expires_on": iso(decision.expires_on),
        "delegate_to": email(decision.delegate_to),
        "decided_by": email(decision.decided_by),
        "decided_at": iso(decision.decided_at),
        "supersedes": decision.supersedes_id,
        "bulk": decision.bulk,
    }


def cycle_summary(cycle: ReviewCycle, *, decided_count: int) -> dict:
    return {
        "id": cycle.pk,
        "kind": cycle.kind,
        "state": cycle.state,
        "title": cycle.title,
        "period": cycle.period,
        "application": cycle.application,
        "version": cycle.version,
        "opened_at": iso(cycle.opened_at),
        "opened_by": email(cycle.opened_by),
        "due_on": iso(cycle.due_on),
        "overdue": cycle.state == ReviewCycle.State.OPEN and cycle.due_on < timezone.localdate(),
        "population_hash": cycle.population_hash,
        "population_count": cycle.population_count,
        "decided_count": decided_count,
        "signed_off_by": email(cycle.signed_off_by),
        "signed_off_at": iso(cycle.signed_off_at),
    }


def item_record(item: ReviewItem) -> dict:
    return {
        "id": item.pk,
        "account": item.account.account_id,
        "subject_type": item.subject_type,
        "subject_arn": item.subject_arn,
        "title": item.title,
        "severity": item.severity or None,
        "assignee": email(item.assignee),
        "latest_decision": decision_record(item.latest_decision) if item.latest_decision else None,
        "decided": item.is_decided,
        "remediation": item.remediation or None,
        "evidence_hash": item.evidence_hash,
    }
