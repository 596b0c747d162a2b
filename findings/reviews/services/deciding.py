"""Deciding one review item: who may, what a decision must say, and what follows from it
(exclusions made or ended, the account's detection run again)."""

from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import LinkedIdentity, User
from accounts.permissions import Capability, can
from findings.audit.services import record
from findings.models import Decision, Exclusion, ReviewCycle, ReviewItem
from findings.reviews.plans import plan_for_item
from findings.reviews.services.deferred_detection import detect_after_commit
from findings.reviews.services.errors import Conflict, Forbidden, Invalid
from findings.reviews.services.rules import (
    JUSTIFIED_KINDS,
    MIN_SERIOUS_JUSTIFICATION_LENGTH,
    justification_too_short,
    one_year_after,
)
from findings.reviews.teams import teams_of_arns


def linked_arns(*, user: User) -> set[str]:
    """The IAM identities that are the person's own: read with the session's person
    (accounts.backends), else here."""
    known = getattr(user, "linked_arn_set", None)
    if known is not None:
        return set(known)
    return set(LinkedIdentity.objects.filter(user=user).values_list("arn", flat=True))


def item_arns(*, item: ReviewItem) -> set[str]:
    arns = {item.subject_arn}
    arns.update(item.findings.values_list("resource_arn", flat=True))
    return {arn for arn in arns if arn}


def check_may_decide(*, actor: User, item: ReviewItem) -> set[str]:
    """Raise Forbidden unless `actor` may decide `item`; returns the actor's linked identities."""
    if not can(actor, Capability.DECIDE):
        raise Forbidden("Only reviewers decide review items")
    if item.cycle.state == ReviewCycle.State.SIGNED_OFF:
        raise Forbidden("This cycle is signed off and locked: no more decisions")
    links = linked_arns(user=actor)
    own = links & item_arns(item=item) if links else set()
    if own:
        raise Forbidden(
            "Segregation of duties: this item concerns your own IAM identity "
            f"({', '.join(sorted(own))}); another reviewer must decide it"
        )
    return links


@dataclass
class DecisionInput:
    kind: str
    justification: str = ""
    expires_on: date | None = None
    delegate_to: User | None = None
    # "Remediate" only: attach the principal's right-sizing suggestion as the plan.
    attach_plan: bool = False

    def validate(self, *, actor: User, today: date, severity: str = "") -> None:
        """Invalid unless complete; `severity`: the item's (critical and high items need a
        longer justification)."""
        errors = {}
        if self.kind not in Decision.Kind.values:
            errors["decision"] = f"Choose one of: {', '.join(Decision.Kind.values)}"
            raise Invalid(errors)
        text = self.justification.strip()
        if self.kind in JUSTIFIED_KINDS and not text:
            errors["justification"] = "A justification is required for this decision."
        elif justification_too_short(kind=self.kind, justification=text, severity=severity):
            errors["justification"] = (
                f"{severity.capitalize()} items need a justification of at least "
                f"{MIN_SERIOUS_JUSTIFICATION_LENGTH} characters (this one has {len(text)}): "
                "say why, in words an auditor can follow."
            )
        if self.kind == "delegate" and not text:
            errors["justification"] = "Add a note for the reviewer you delegate to."
        if self.kind == "accept_risk":
            if self.expires_on is None:
                errors["expires_on"] = "Accepted risk needs an expiry date."
            elif self.expires_on <= today:
                errors["expires_on"] = "The expiry must be in the future."
            elif self.expires_on > one_year_after(day=today):
                errors["expires_on"] = "Risk can be accepted for one year at most."
        if self.kind == "delegate":
            target = self.delegate_to
            if target is None:
                errors["delegate_to"] = "Choose the reviewer to delegate to."
            elif target.pk == actor.pk:
                errors["delegate_to"] = "You cannot delegate to yourself."
            elif not (target.is_active and can(target, Capability.DECIDE)):
                errors["delegate_to"] = f"{target.email} is not an active reviewer."
        if errors:
            raise Invalid(errors)


def decide_item(
    *,
    item: ReviewItem,
    actor: User,
    decision: DecisionInput,
    expected_latest_id: int | None,
    bulk: bool = False,
) -> Decision:
    """Record a decision. `expected_latest_id` is the decision the person saw (None: none):
    if someone decided in between, Conflict is raised and nothing is written."""
    decision.validate(actor=actor, today=timezone.localdate(), severity=item.severity)
    with transaction.atomic():
        locked = ReviewItem.objects.select_for_update().select_related("cycle").get(pk=item.pk)
        links = check_may_decide(actor=actor, item=locked)
        plan = None
        if decision.kind == Decision.Kind.REMEDIATE and decision.attach_plan:
            plan = plan_for_item(item=locked)
            if plan is None:
                raise Invalid(
                    {
                        "attach_plan": "This item has no right-sizing suggestion that "
                        "changes anything."
                    }
                )
        if locked.latest_decision_id != expected_latest_id:
            current = (
                Decision.objects.select_related("decided_by").get(pk=locked.latest_decision_id)
                if locked.latest_decision_id
                else None
            )
            raise Conflict(current, actor)
        try:
            with transaction.atomic():
                made = Decision.objects.create(
                    item=locked,
                    kind=decision.kind,
                    justification=decision.justification.strip(),
                    expires_on=decision.expires_on if decision.kind == "accept_risk" else None,
                    delegate_to=decision.delegate_to if decision.kind == "delegate" else None,
                    decided_by=actor,
                    decided_at=timezone.now(),
                    supersedes_id=locked.latest_decision_id,
                    bulk=bulk,
                    decider_links=sorted(links),
                    decider_teams=sorted(set().union(*teams_of_arns(arns=links).values())),
                    remediation_plan=plan,
                )
        except IntegrityError:
            # The database's own guard against two "first" decisions (or two successors).
            raise Conflict(
                Decision.objects.filter(item=locked).select_related("decided_by").last(), actor
            ) from None
        if made.kind == Decision.Kind.DELEGATE and linked_arns(user=made.delegate_to) & item_arns(
            item=locked
        ):
            raise Invalid(
                {
                    "delegate_to": f"This item concerns {made.delegate_to.email}'s own IAM "
                    "identity; delegate it to someone else."
                }
            )
        if locked.latest_decision_id:
            end_decision_exclusions(decision_id=locked.latest_decision_id, actor=actor, item=locked)
        locked.latest_decision = made
        locked.is_decided = made.kind != Decision.Kind.DELEGATE
        # Marked "no response" at the due date, then delegated: someone responded, and the
        # item now waits for the delegate (and holds the sign-off).
        answered = made.kind == Decision.Kind.DELEGATE and locked.no_response_at is not None
        before = {"decision_id": expected_latest_id}
        if answered:
            before["no_response_at"] = locked.no_response_at
            locked.no_response_at = None
        if made.kind == Decision.Kind.DELEGATE:
            locked.assignee = made.delegate_to
        locked.remediation = (
            ReviewItem.Remediation.PENDING if made.kind == Decision.Kind.REMEDIATE else ""
        )
        locked.verified_at = None
        locked.verified_by_run = None
        locked.plan_check = {}
        locked.save(
            update_fields=[
                "latest_decision",
                "is_decided",
                "assignee",
                "no_response_at",
                "remediation",
                "verified_at",
                "verified_by_run",
                "plan_check",
            ]
        )
        follow_up(item=locked, decision=made, actor=actor)
        record(
            actor=actor,
            action="decision.recorded",
            target_type="review_item",
            target_id=locked.pk,
            target_label=locked.title,
            before=before,
            after={
                "decision_id": made.pk,
                "kind": made.kind,
                "justification": made.justification,
                "expires_on": made.expires_on,
                "delegate_to": made.delegate_to.email if made.delegate_to else None,
                "remediation_plan": plan,
                "bulk": bulk,
                "cycle": locked.cycle_id,
                "decider_links": made.decider_links,
                "decider_teams": made.decider_teams,
            }
            | ({"no_response_at": None} if answered else {}),
        )
    return made


def follow_up(*, item: ReviewItem, decision: Decision, actor: User) -> None:
    """False positive and accepted risk exclude the item's findings (until the expiry)."""
    if decision.kind not in (Decision.Kind.FALSE_POSITIVE, Decision.Kind.ACCEPT_RISK):
        return
    if decision.kind == Decision.Kind.FALSE_POSITIVE:
        expires = one_year_after(day=timezone.localdate())
        reason = f"False positive (review item {item.pk}): {decision.justification}"
    else:
        expires = decision.expires_on
        reason = f"Risk accepted until {expires} (review item {item.pk}): {decision.justification}"
    findings = list(item.findings.all())
    for finding in findings:
        exclusion = Exclusion.objects.create(
            kind=Exclusion.Kind.FINDING,
            decision=decision,
            finding=finding,
            check_id=finding.check_id,
            reason=reason,
            owner=actor,
            expires_on=expires,
            created_by=actor,
        )
        record(
            actor=actor,
            action="exclusion.created",
            target_type="exclusion",
            target_id=exclusion.pk,
            target_label=exclusion.describe(),
            after={"reason": reason, "expires_on": expires, "finding": finding.pk},
        )
    if findings:
        detect_after_commit(account=item.account)


def end_decision_exclusions(*, decision_id: int, actor: User, item: ReviewItem) -> None:
    """A superseded accept-risk or false-positive decision stops hiding its findings."""
    ended = list(Exclusion.objects.filter(decision_id=decision_id, ended_at=None))
    if not ended:
        return
    now = timezone.now()
    Exclusion.objects.filter(pk__in=[e.pk for e in ended]).update(ended_at=now, ended_by=actor)
    for exclusion in ended:
        record(
            actor=actor,
            action="exclusion.ended",
            target_type="exclusion",
            target_id=exclusion.pk,
            target_label=exclusion.describe(),
            before={"active": True},
            after={"active": False, "reason": "the decision that made it was superseded"},
        )
    detect_after_commit(account=item.account)
