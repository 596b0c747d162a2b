"""Follow-ups run after collection and on a schedule: remediations verified, expired accepted
risks brought back for review, items past their due date marked "no response"."""

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from findings.audit.services import record
from findings.models import (
    AwsAccount,
    CredentialReportEntry,
    Decision,
    Finding,
    IamRole,
    ReviewCycle,
    ReviewItem,
)
from findings.reviews.locks import lock_open_cycles_of
from findings.reviews.plans import check_against_plan
from findings.reviews.services.opening import (
    check_population,
    create_cycle,
    due_days,
    refresh_population,
)
from findings.reviews.substance import substance_hash


def verify_remediations(*, account: AwsAccount, run_id: int | None = None) -> int:
    """Items decided "remediate" are verified once fresh evidence shows every problem gone; an
    item with a remediation plan, once the principal's policies are equal to it or narrower.

    ``run_id``: the collection whose fresh data this is (recorded with a plan's verification).
    """
    pending = list(
        ReviewItem.objects.filter(account=account, remediation=ReviewItem.Remediation.PENDING)
        .select_related("latest_decision")
        .prefetch_related("findings")
    )
    verified = 0
    now = timezone.now()
    for item in pending:
        findings = list(item.findings.all())
        plan = item.latest_decision.remediation_plan if item.latest_decision else None
        check = {}
        if plan:
            check = {
                **check_against_plan(account=account, plan=plan),
                "checked_at": now.isoformat(),
            }
            run_id_of_item = run_id
        elif findings:
            # Resolved only because its region is no longer monitored is not fixed.
            if any(
                f.status != Finding.Status.RESOLVED
                or f.resolution == Finding.Resolution.REGION_NOT_MONITORED
                for f in findings
            ):
                continue
            run_id_of_item = max(findings, key=lambda f: f.resolved_at).resolved_by_run_id
        else:
            # No finding to watch (a clean user the reviewer wants removed): the subject must go.

            still_there = (
                CredentialReportEntry.objects.filter(
                    account=account, arn=item.subject_arn, gone_at=None
                ).exists()
                or IamRole.objects.filter(
                    account=account, arn=item.subject_arn, gone_at=None
                ).exists()
            )
            if still_there:
                continue
            run_id_of_item = None
        with transaction.atomic():
            # Locked as deciding locks it, and read again: what was checked is the decision the
            # item still holds (a reviewer who decided again meanwhile, dropping or replacing
            # the plan, is judged by the next check, not overruled by this one); and two checks
            # at once (a member's own collection and an organization analyzer's) verify it
            # once, with one audit entry.
            if not (
                ReviewItem.objects.select_for_update()
                .filter(
                    pk=item.pk,
                    remediation=ReviewItem.Remediation.PENDING,
                    latest_decision_id=item.latest_decision_id,
                )
                .exists()
            ):
                continue
            if check.get("verdict") == "broader":
                ReviewItem.objects.filter(pk=item.pk).update(plan_check=check)
                continue
            ReviewItem.objects.filter(pk=item.pk).update(
                remediation=ReviewItem.Remediation.VERIFIED,
                verified_at=now,
                verified_by_run_id=run_id_of_item,
                plan_check=check,
            )
            record(
                actor=None,
                action="remediation.verified",
                target_type="review_item",
                target_id=item.pk,
                target_label=item.title,
                after={"run": run_id_of_item, "plan": check["verdict"] if plan else None},
            )
        verified += 1
    return verified


def expire_risk_acceptances(*, today: date | None = None) -> list[ReviewItem]:
    """At expiry an accepted risk comes back: its finding (the exclusion ends by itself) and a
    new review item, in an open cycle of the same kind or a new follow-up cycle."""
    today = today or timezone.localdate()
    expired = Decision.objects.filter(
        kind=Decision.Kind.ACCEPT_RISK, expires_on__lt=today, expiry_handled_at=None
    ).order_by("expires_on", "pk")
    new_items = []
    for decision in expired:
        with transaction.atomic():
            # The item locked as deciding locks it (item first, then its decision: the same
            # order), and its latest decision read again: an acceptance renewed or replaced
            # since the list was read is not brought back.
            item = (
                ReviewItem.objects.select_for_update(of=("self",))
                .select_related("cycle", "account")
                .get(pk=decision.item_id)
            )
            # Two runs at once (a retried beat message, a manual run) bring the risk back once:
            # the second skips the decision the first holds, or sees it handled.
            if not (
                Decision.objects.select_for_update(skip_locked=True)
                .filter(pk=decision.pk, expiry_handled_at=None)
                .exists()
            ):
                continue
            if item.latest_decision_id != decision.pk:
                Decision.objects.filter(pk=decision.pk).update(expiry_handled_at=timezone.now())
                continue
            candidates = ReviewCycle.objects.filter(
                kind=item.cycle.kind, state=ReviewCycle.State.OPEN
            ).filter(Q(scope_accounts=item.account) | Q(scope_accounts=None))
            if item.cycle.kind == ReviewCycle.Kind.RELEASE:
                # A role's accepted risk returns to its own application's review.
                candidates = candidates.filter(application=item.cycle.application)
            found = candidates.exclude(pk=item.cycle_id).order_by("-opened_at").first()
            # Locked as signing off locks it: a cycle signed off meanwhile gains no item.
            cycle = found and (
                ReviewCycle.objects.select_for_update()
                .filter(pk=found.pk, state=ReviewCycle.State.OPEN)
                .first()
            )
            if (
                cycle is None
                or cycle.items.filter(subject_key=item.subject_key).exists()
                # A cycle whose frozen population was altered cannot be signed off: the
                # risk is reviewed in a cycle of its own instead (the mismatch is audited).
                or not check_population(cycle=cycle, actor=None)
            ):
                cycle = create_cycle(
                    kind=item.cycle.kind,
                    title=f"Expired risk acceptances {today:%Y-%m-%d}",
                    specs=[],
                    accounts=[item.account],
                    opened_by=None,
                    application=item.cycle.application,
                )
            findings = list(item.findings.all())
            new = ReviewItem.objects.create(
                cycle=cycle,
                account=item.account,
                subject_type=item.subject_type,
                subject_arn=item.subject_arn,
                subject_key=item.subject_key,
                title=item.title,
                severity=item.severity,
                severity_rank=item.severity_rank,
                frozen_evidence={
                    **item.frozen_evidence,
                    "returned": {
                        "reason": "accepted risk expired",
                        "expired_on": decision.expires_on.isoformat(),
                        # When it joined: its own review period runs from here (mark_no_response).
                        "returned_on": today.isoformat(),
                        "previous_item": item.pk,
                        "previous_justification": decision.justification,
                    },
                },
                evidence_hash=item.evidence_hash,
                # Computed, not copied: an item signed off before the column existed has none.
                substance_hash=substance_hash(evidence=item.frozen_evidence),
                follows_item=item,
            )
            new.findings.set(findings)
            refresh_population(cycle=cycle, joining={new.subject_key}, actor=None)
            Decision.objects.filter(pk=decision.pk).update(expiry_handled_at=timezone.now())
            record(
                actor=None,
                action="risk.expired",
                target_type="review_item",
                target_id=new.pk,
                target_label=new.title,
                after={"previous_item": item.pk, "cycle": cycle.pk},
            )
        new_items.append(new)
    return new_items


def _still_in_own_review_period(
    *, cycle: ReviewCycle, undecided: QuerySet[ReviewItem], today: date
) -> list[int]:
    """Ids of undecided items that joined `cycle` after it opened (returning risks) and whose
    own review period (the kind's due days from the day they joined) has not passed yet. Few
    per cycle: read one by one."""
    days = due_days(kind=cycle.kind)
    joined = undecided.exclude(follows_item=None).values_list(
        "pk", "frozen_evidence__returned__returned_on"
    )
    return [
        pk
        for pk, returned_on in joined
        if returned_on and date.fromisoformat(returned_on) + timedelta(days=days) >= today
    ]


def mark_no_response(*, now: datetime | None = None) -> int:
    """Mark the undecided items of cycles past their due date as "no response", for the kinds
    whose REVIEW_<KIND>_AT_DUE setting says so; returns how many. Idempotent.

    An item that joined the cycle later (an accepted risk come back, perhaps into a cycle
    already past due) gets the kind's full review period from the day it joined: it is marked
    only once that has passed too, so it is never waved through unseen."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    kinds = [kind for kind, action in settings.REVIEW_AT_DUE.items() if action == "no_response"]
    marked = 0
    cycles = ReviewCycle.objects.filter(
        state=ReviewCycle.State.OPEN, kind__in=kinds, due_on__lt=today
    )
    for cycle in cycles:
        # An item delegated after the due date got its response: it waits for the delegate.
        overdue_since = timezone.make_aware(datetime.combine(cycle.due_on, time.max))
        with transaction.atomic():
            # Locked as deciding locks them (items, then their cycle), then read again by the
            # statements below: a decision or delegation that committed while this run waited
            # counts (an update's own subquery would judge the item as it was before).
            candidates = cycle.items.filter(is_decided=False, no_response_at=None)
            pks = list(candidates.values_list("pk", flat=True))
            if not lock_open_cycles_of(item_ids=pks):
                continue
            undecided = candidates.filter(pk__in=pks).exclude(
                latest_decision__decided_at__gt=overdue_since
            )
            waiting = _still_in_own_review_period(cycle=cycle, undecided=undecided, today=today)
            count = undecided.exclude(pk__in=waiting).update(no_response_at=now)
            if not count:
                continue
            marked += count
            record(
                actor=None,
                action="cycle.no_response",
                target_type="review_cycle",
                target_id=cycle.pk,
                target_label=cycle.title,
                after={"items_marked": count, "due_on": cycle.due_on.isoformat()},
            )
    return marked
