"""Review cycles: open, decide, delegate, sign off, verify remediation, bring back expired risk.

Every rule that matters to an auditor (segregation of duties, append-only decisions, locking
after sign-off) is enforced here, whatever the caller: web page, htmx request or API.
"""

import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import celery
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import LinkedIdentity, User
from accounts.permissions import Capability, Role, can
from findings.audit.services import record
from findings.models import (
    AwsAccount,
    CredentialReportEntry,
    Decision,
    Exclusion,
    Finding,
    IamRole,
    ReviewCycle,
    ReviewItem,
)
from findings.reviews.caches import REVIEWERS_KEY
from findings.reviews.evidence import (
    ItemSpec,
    monthly_population,
    population_hash,
    quarterly_population,
    release_population,  # noqa: F401 - findings.demo.load reads it from here
)
from findings.reviews.freshness import detect_and_refresh
from findings.reviews.plans import check_against_plan, plan_for_item
from findings.reviews.summary import sign_off_summary, summary_document
from findings.reviews.tally import cycle_tally

logger = logging.getLogger(__name__)
DETECT_AFTER_DECISION = "findings.detect_after_decision"  # findings.reviews.tasks
# Decisions on one account within this many seconds share one detection: the task is sent this
# long after the first of them, and those committed before it starts need no task of their own.
DETECT_AFTER_DECISION_DELAY_SECONDS = 5
# The key that says "a detection of this account is queued and has not started yet" lives
# shorter than the delay, so that a decision committed while it lives is always committed
# before that detection starts (2 s of margin for the worker's clock against this one).
_DETECT_QUEUED_SECONDS = DETECT_AFTER_DECISION_DELAY_SECONDS - 2


def one_year_after(*, day: date) -> date:
    """The same date next year (28 February for 29 February): how long a risk may be accepted.
    Not 365 days, which refuses exactly one year whenever a 29 February falls inside it."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


DEFAULT_ATTESTATION = (
    "I have reviewed this cycle's full population and the decisions recorded for it. To the "
    "best of my knowledge the access that remains is appropriate and the exceptions are "
    "justified."
)
# An attestation is a sentence the approver stands by, not "ok": at least this many characters
# once surrounding blanks are stripped (the form fills in DEFAULT_ATTESTATION).
MIN_ATTESTATION_LENGTH = 10
# The longest justification, comment or attestation, on every page and in the API.
MAX_COMMENT_LENGTH = 5000
# The expiry the decision form proposes for an accepted risk (the reviewer may change it,
# within one_year_after).
DEFAULT_RISK_ACCEPTANCE_DAYS = 90
# Keeping, accepting or dismissing a critical or high item needs a reason an auditor can read.
SERIOUS_SEVERITIES = ("critical", "high")
MIN_SERIOUS_JUSTIFICATION_LENGTH = 20
JUSTIFIED_KINDS = ("keep", "accept_risk", "false_positive")


def default_risk_expiry(*, day: date) -> date:
    """The expiry proposed for a risk accepted on `day`."""
    return day + timedelta(days=DEFAULT_RISK_ACCEPTANCE_DAYS)


def justification_too_short(*, kind: str, justification: str, severity: str) -> bool:
    """Whether `justification` is too short for deciding `kind` on an item of `severity`."""
    text = justification.strip()
    return (
        kind in JUSTIFIED_KINDS
        and severity in SERIOUS_SEVERITIES
        and bool(text)
        and len(text) < MIN_SERIOUS_JUSTIFICATION_LENGTH
    )


class ReviewError(Exception):
    """Base: a message a person can act on."""


class Forbidden(ReviewError):
    """Not allowed for this person (role, segregation of duties, locked cycle)."""


class Invalid(ReviewError):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class Conflict(ReviewError):
    def __init__(self, current: Decision | None, actor: User | None = None):
        self.current = current
        if current is not None and actor is not None and current.decided_by_id == actor.pk:
            # Their own earlier decision (a form sent twice, or an API call without the id of
            # the decision it replaces): no one else was looking.
            super().__init__(
                f"You already decided this item ({current.get_kind_display()}, decision "
                f"{current.pk}): it is shown. To change it, decide again (through the API, "
                f"with previous_decision_id {current.pk})."
            )
            return
        if current is None:
            super().__init__(
                "The decision you were looking at is no longer this item's latest. "
                "Reload the item and decide again."
            )
            return
        super().__init__(
            f"{current.decided_by.email} decided this item ({current.get_kind_display()}) "
            "while you were looking at it. Their decision is shown; decide again if you still "
            "disagree."
        )


class AlreadyOpen(ReviewError):
    """A cycle of this kind is still in review for some of these accounts."""

    def __init__(self, cycles: list[ReviewCycle]):
        self.cycles = cycles
        names = "; ".join(
            f"“{c.title}” (opened {c.opened_at:%Y-%m-%d}, {c.population_count} items)"
            for c in cycles[:3]
        )
        super().__init__(f"Already open for these accounts: {names}")


# Any constant: serializes opening cycles by hand, so that two at once see each other (releases
# hold RELEASE_LOCK_ID, findings.reviews.releases).
OPEN_BY_HAND_LOCK_ID = 7_311_202_612


def due_days(*, kind: str) -> int:
    return {
        ReviewCycle.Kind.MONTHLY: settings.REVIEW_MONTHLY_DUE_DAYS,
        ReviewCycle.Kind.QUARTERLY: settings.REVIEW_QUARTERLY_DUE_DAYS,
        ReviewCycle.Kind.RELEASE: settings.REVIEW_RELEASE_DUE_DAYS,
    }[kind]


# --- Opening cycles ---------------------------------------------------------------------------


def population_for(*, kind: str, accounts: list[AwsAccount]) -> list[ItemSpec]:
    if kind == ReviewCycle.Kind.MONTHLY:
        return monthly_population(accounts=accounts)
    if kind == ReviewCycle.Kind.QUARTERLY:
        return quarterly_population(accounts=accounts)
    raise ValueError(f"{kind} cycles are opened from a release")


def create_cycle(
    *,
    kind: str,
    title: str,
    specs: list[ItemSpec],
    accounts: list[AwsAccount] | None,
    opened_by: User | None,
    period: str = "",
    due_on: date | None = None,
    **release,
) -> ReviewCycle:
    """Freeze `specs` as a new cycle's items, in one transaction."""
    now = timezone.now()
    with transaction.atomic():
        cycle = ReviewCycle.objects.create(
            kind=kind,
            title=title,
            period=period,
            opened_at=now,
            opened_by=opened_by,
            due_on=due_on or (timezone.localdate() + timedelta(days=due_days(kind=kind))),
            population_hash=population_hash(items=specs),
            population_count=len(specs),
            **release,
        )
        if accounts:
            cycle.scope_accounts.set(accounts)
        freeze_items(cycle=cycle, specs=specs)
        record(
            actor=opened_by,
            action="cycle.opened",
            target_type="review_cycle",
            target_id=cycle.pk,
            target_label=cycle.title,
            after={
                "kind": kind,
                "period": period,
                "items": len(specs),
                "population_hash": cycle.population_hash,
                "accounts": [a.account_id for a in accounts or []],
            },
        )
    return cycle


def freeze_items(*, cycle: ReviewCycle, specs: list[ItemSpec]) -> None:
    """`specs` as items of `cycle`, with their findings (bulk writes)."""
    items = ReviewItem.objects.bulk_create(
        [
            ReviewItem(
                cycle=cycle,
                account=spec.account,
                subject_type=spec.subject_type,
                subject_arn=spec.subject_arn,
                subject_key=spec.subject_key,
                title=spec.title[:500],
                severity=spec.severity,
                severity_rank=spec.severity_rank,
                frozen_evidence=spec.evidence,
                evidence_hash=spec.evidence_hash,
            )
            for spec in specs
        ],
        batch_size=500,
    )
    links = [
        ReviewItem.findings.through(reviewitem_id=item.pk, finding_id=finding_id)
        for item, spec in zip(items, specs, strict=True)
        for finding_id in spec.finding_ids
    ]
    ReviewItem.findings.through.objects.bulk_create(links, batch_size=1000)


def period_of(*, kind: str, day: date) -> str:
    if kind == ReviewCycle.Kind.MONTHLY:
        return f"{day:%Y-%m}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def default_title(*, kind: str, period: str) -> str:
    label = {
        "monthly": "Monthly external access review",
        "quarterly": "Quarterly credential review",
    }
    return f"{label[kind]} {period}".strip()


def open_cycle(
    *,
    kind: str,
    opened_by: User | None,
    accounts: list[AwsAccount] | None = None,
    period: str = "",
    title: str = "",
    due_on: date | None = None,
) -> ReviewCycle:
    """Open a monthly or quarterly cycle for some accounts (None: every enabled account)."""
    if opened_by is not None and not can(opened_by, Capability.MANAGE_ACCOUNTS):
        raise Forbidden("Only administrators open review cycles by hand")
    scope = accounts or list(AwsAccount.objects.filter(enabled=True))
    specs = population_for(kind=kind, accounts=scope)
    return create_cycle(
        kind=kind,
        title=title
        or default_title(kind=kind, period=period or f"(opened {timezone.localdate():%Y-%m-%d})"),
        specs=specs,
        accounts=accounts,
        opened_by=opened_by,
        period=period,
        due_on=due_on,
    )


def open_cycles_overlapping(*, kind: str, accounts: list[AwsAccount] | None) -> list[ReviewCycle]:
    """Cycles of `kind` still in review whose accounts meet these (None: every account). An
    open cycle scoped to every account froze the accounts of its day: it meets these only
    where it holds items of them (an account added since is in none of its items)."""
    cycles = list(
        ReviewCycle.objects.filter(kind=kind, state=ReviewCycle.State.OPEN)
        .prefetch_related("scope_accounts")
        .order_by("-opened_at")
    )
    wanted = None if accounts is None else {a.pk for a in accounts}
    return [
        cycle
        for cycle in cycles
        if wanted is None
        or (
            scope & wanted
            if (scope := {a.pk for a in cycle.scope_accounts.all()})
            else cycle.items.filter(account_id__in=wanted).exists()
        )
    ]


def open_cycle_by_hand(
    *,
    kind: str,
    opened_by: User,
    accounts: list[AwsAccount] | None,
    title: str = "",
    open_another: bool = False,
) -> ReviewCycle:
    """An ad-hoc cycle from the Review page. Unless `open_another`, AlreadyOpen when a cycle of
    this kind is still in review for any of these accounts: its items would be reviewed twice.
    The check and the opening hold a lock, so that two administrators at the same moment do
    not both pass the check."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OPEN_BY_HAND_LOCK_ID])
        if not open_another and (found := open_cycles_overlapping(kind=kind, accounts=accounts)):
            raise AlreadyOpen(found)
        return open_cycle(kind=kind, opened_by=opened_by, accounts=accounts, title=title)


def open_period_cycle(*, kind: str, today: date | None = None) -> tuple[ReviewCycle, bool]:
    """This period's monthly or quarterly cycle, opened unless it exists: (cycle, opened now)."""
    if kind not in (ReviewCycle.Kind.MONTHLY, ReviewCycle.Kind.QUARTERLY):
        raise ValueError(f"{kind} cycles are opened from a release")
    today = today or timezone.localdate()
    period = period_of(kind=kind, day=today)
    existing = ReviewCycle.objects.filter(kind=kind, period=period).first()
    if existing is not None:
        return existing, False
    try:
        cycle = open_cycle(
            kind=kind,
            opened_by=None,
            period=period,
            title=default_title(kind=kind, period=period),
            due_on=today + timedelta(days=due_days(kind=kind)),
        )
    except IntegrityError:  # another worker opened it a moment ago
        return ReviewCycle.objects.get(kind=kind, period=period), False
    return cycle, True


def open_scheduled_cycles(*, today: date | None = None) -> list[ReviewCycle]:
    """Monthly on the 1st, quarterly on the 1st of Jan/Apr/Jul/Oct; never twice a period."""
    today = today or timezone.localdate()
    due = [ReviewCycle.Kind.MONTHLY]
    if today.month in (1, 4, 7, 10):
        due.append(ReviewCycle.Kind.QUARTERLY)
    opened = []
    for kind in due:
        cycle, is_new = open_period_cycle(kind=kind, today=today)
        if is_new:
            opened.append(cycle)
    return opened


# --- Deciding -----------------------------------------------------------------------------------


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
            before={"decision_id": expected_latest_id},
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
            },
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


# Set while bulk_decide runs: the accounts whose detection waits for the end of the bulk, so
# that a thousand excluding decisions run detection once per account, not once per item.
_detection_after_bulk: ContextVar[dict | None] = ContextVar("detection_after_bulk", default=None)


def detect_after_commit(*, account: AwsAccount) -> None:
    """Detection (and the freshness of open cycles) once what excluded or restored findings
    is committed, by a worker; at the end of a bulk decision when one runs."""
    waiting = _detection_after_bulk.get()
    if waiting is not None:
        waiting[account.pk] = account
        return
    transaction.on_commit(lambda: _detect_in_background(account))


def _detect_in_background(account: AwsAccount) -> None:
    """A whole account's detection took a second or more of the reviewer's request: a worker
    runs it (without a broker, Celery runs it here), a few seconds later, once for the
    decisions on the account meanwhile. A broker that cannot take the message is no reason to
    lose it: it then runs here too.

    The cache is per process unless one shared cache is configured: each web process then
    queues its own detection, which is correct, only less shared."""
    app = celery.current_app
    if app.conf.task_always_eager:  # no broker (`make run` on its defaults, tests)
        detect_and_refresh(account=account)
        return
    queued_key = f"detect-after-decision:{account.pk}"
    if not cache.add(queued_key, True, timeout=_DETECT_QUEUED_SECONDS):
        return  # a detection queued moments ago starts after this decision's commit
    try:
        # By name: the task (findings.reviews.tasks) is a layer above this module.
        app.send_task(
            DETECT_AFTER_DECISION,
            args=[account.pk],
            countdown=DETECT_AFTER_DECISION_DELAY_SECONDS,
        )
    except KombuOperationalError:
        # Only the broker's own failure (without a broker the task runs right here, and its
        # errors are its own): the decision is committed; its detection is not lost.
        cache.delete(queued_key)  # the next decision tries the broker again
        logger.warning("Broker unavailable: detection of %s runs in the request", account)
        detect_and_refresh(account=account)
    except BaseException:
        cache.delete(queued_key)  # nothing was queued: the next decision must not count on it
        raise


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
    return (
        made.kind == asked.kind
        and made.justification == asked.justification.strip()
        and made.expires_on == asked.expires_on
        and made.delegate_to_id == (asked.delegate_to.pk if asked.delegate_to else None)
    )


def assign_items(*, items: list[ReviewItem], assignee: User | None, actor: User) -> int:
    if not (can(actor, Capability.DECIDE) or can(actor, Capability.MANAGE_ACCOUNTS)):
        raise Forbidden("Only reviewers and administrators assign items")
    if assignee is not None and not can(assignee, Capability.DECIDE):
        raise Invalid({"assignee": f"{assignee.email} is not a reviewer"})
    with transaction.atomic():
        # The cycle's state as stored, not as the caller's (possibly stale) objects say.
        ids = list(
            ReviewItem.objects.filter(
                pk__in=[item.pk for item in items], cycle__state=ReviewCycle.State.OPEN
            ).values_list("pk", flat=True)
        )
        count = ReviewItem.objects.filter(pk__in=ids).update(assignee=assignee)
        if not count:
            return 0
        record(
            actor=actor,
            action="items.assigned",
            target_type="review_items",
            target_id=",".join(map(str, ids))[:200],
            target_label=f"{count} items",
            after={"assignee": assignee.email if assignee else None, "items": ids},
        )
    return count


# --- Sign-off -----------------------------------------------------------------------------------


def undecided_count(*, cycle: ReviewCycle) -> int:
    tally = cycle_tally(cycle=cycle)
    return tally.total - tally.decided


def _segregation_flags(*, cycle_id: int, user_id: int) -> tuple[bool, bool]:
    """Whether the person decided any item of the cycle, and whether the cycle reviews one of
    their own identities: two index probes (item_cycle_subject for the second). Written out
    because approvers ask on every view of a queue, and the ORM's compiling of the two EXISTS
    cost more than running them."""
    quote = connection.ops.quote_name
    items, decisions, links = (
        quote(model._meta.db_table) for model in (ReviewItem, Decision, LinkedIdentity)
    )
    decided = f"SELECT 1 FROM {decisions} d JOIN {items} i ON i.id = d.item_id"  # noqa: S608
    own = f"SELECT 1 FROM {links} l JOIN {items} i ON i.subject_arn = l.arn"  # noqa: S608
    # Quoted table names only; the ids are parameters.
    sql = (
        f"SELECT EXISTS({decided} WHERE d.decided_by_id = %s AND i.cycle_id = %s),"
        f" EXISTS({own} WHERE l.user_id = %s AND i.cycle_id = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, cycle_id, user_id, cycle_id])
        decided_here, reviews_own = cursor.fetchone()
    return bool(decided_here), bool(reviews_own)


def check_may_sign_off(*, cycle: ReviewCycle, approver: User, awaiting: int | None = None) -> None:
    """Forbidden with the reason when `approver` may not sign `cycle` off now. `awaiting` is the
    tally's count of items still waiting when the caller has just read it (pages); signing
    itself reads it again under the cycle's lock."""
    if not can(approver, Capability.SIGN_OFF):
        raise Forbidden("Only approvers sign off review cycles")
    if cycle.state == ReviewCycle.State.SIGNED_OFF:
        raise Forbidden("This cycle is already signed off")
    # Both segregation rules in one statement: pages ask this on every view of the queue.
    decided_here, reviews_own = _segregation_flags(cycle_id=cycle.pk, user_id=approver.pk)
    if decided_here:
        raise Forbidden(
            "Segregation of duties: you decided items in this cycle, so another approver "
            "must sign it off"
        )
    if reviews_own:
        raise Forbidden(
            "Segregation of duties: this cycle reviews your own IAM identity, so another "
            "approver must sign it off"
        )
    # Items marked "no response" at the due date are shown to the approver, not waited for.
    remaining = cycle_tally(cycle=cycle).awaiting if awaiting is None else awaiting
    if remaining:
        noun = "item still waits" if remaining == 1 else "items still wait"
        raise Forbidden(f"{remaining} {noun} for a decision")


SUMMARY_NOT_READ = "Read the sign-off summary first, then sign against its hash (summary_hash)."


def sign_off_cycle(
    *, cycle: ReviewCycle, approver: User, attestation: str, summary_hash: str
) -> ReviewCycle:
    """Lock the cycle with the approver's attestation. `summary_hash` is the digest of the
    sign-off summary they read (summary.sign_off_summary): without it nothing is signed (the
    evidence pack would claim a summary nobody loaded), and when it no longer matches,
    Invalid names "summary"."""
    if not can(approver, Capability.SIGN_OFF):
        raise Forbidden("Only approvers sign off review cycles")
    text = attestation.strip()
    with transaction.atomic():
        cycle = ReviewCycle.objects.select_for_update().get(pk=cycle.pk)
        # Whether they may sign at all first: an incomplete request is not what stops them.
        check_may_sign_off(cycle=cycle, approver=approver)
        errors = {}
        if not text:
            errors["attestation"] = "Confirm the attestation text."
        elif len(text) < MIN_ATTESTATION_LENGTH:
            errors["attestation"] = (
                f"The attestation needs at least {MIN_ATTESTATION_LENGTH} characters (this one "
                f"has {len(text)}): state what you reviewed and that you stand by it."
            )
        if not summary_hash.strip():
            errors["summary_hash"] = SUMMARY_NOT_READ
        if errors:
            raise Invalid(errors)
        summary = sign_off_summary(cycle=cycle)
        if summary_hash.strip() != summary.digest:
            raise Invalid(
                {
                    "summary": "The cycle changed after you loaded this page: read the summary "
                    "again (it is updated below), then sign."
                }
            )
        current = population_hash(items=cycle.items.only("subject_key", "evidence_hash"))
        if current != cycle.population_hash:
            raise Forbidden(
                "The cycle's frozen population no longer matches its recorded hash; "
                "it cannot be signed off (see the audit log)"
            )
        cycle.state = ReviewCycle.State.SIGNED_OFF
        cycle.signed_off_by = approver
        cycle.signed_off_at = timezone.now()
        cycle.attestation = text
        cycle.signed_population_hash = current
        cycle.signed_summary_hash = summary.digest
        # The document itself, for the evidence pack: one computed later shows what changed
        # since (a remediation verified, a decider renamed), not what was signed.
        cycle.signed_summary = summary_document(summary=summary)
        cycle.save(
            update_fields=[
                "state",
                "signed_off_by",
                "signed_off_at",
                "attestation",
                "signed_population_hash",
                "signed_summary_hash",
                "signed_summary",
            ]
        )
        record(
            actor=approver,
            action="cycle.signed_off",
            target_type="review_cycle",
            target_id=cycle.pk,
            target_label=cycle.title,
            before={"state": "open"},
            after={
                "state": "signed_off",
                "attestation": cycle.attestation,
                "population_hash": current,
                "summary_hash": summary.digest,
                "no_response": len(summary.no_response),
            },
        )
    return cycle


def may_download_evidence(*, user: User, cycle: ReviewCycle) -> bool:
    """Auditors and administrators export any cycle; an approver the cycles they may sign off
    now, or signed off themselves."""
    if can(user, Capability.EXPORT):
        return True
    if not can(user, Capability.SIGN_OFF):
        return False
    if cycle.state == ReviewCycle.State.SIGNED_OFF:
        return cycle.signed_off_by_id == user.pk
    try:
        check_may_sign_off(cycle=cycle, approver=user)
    except Forbidden:
        return False
    return True


# --- Follow-ups run after collection and on a schedule -----------------------------------------


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
        if plan:
            check = {
                **check_against_plan(account=account, plan=plan),
                "checked_at": now.isoformat(),
            }
            if check["verdict"] == "broader":
                ReviewItem.objects.filter(pk=item.pk).update(plan_check=check)
                continue
            run_id_of_item = run_id
        elif findings:
            if any(f.status != Finding.Status.RESOLVED for f in findings):
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
            # Still pending as stored: two checks at once (a member's own collection and an
            # organization analyzer's) verify it once, with one audit entry.
            changed = ReviewItem.objects.filter(
                pk=item.pk, remediation=ReviewItem.Remediation.PENDING
            ).update(
                remediation=ReviewItem.Remediation.VERIFIED,
                verified_at=now,
                verified_by_run_id=run_id_of_item,
                plan_check=check if plan else {},
            )
            if not changed:
                continue
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
    ).select_related("item__cycle", "item__account")
    new_items = []
    for decision in expired:
        item = decision.item
        if item.latest_decision_id != decision.pk:
            Decision.objects.filter(pk=decision.pk).update(expiry_handled_at=timezone.now())
            continue
        with transaction.atomic():
            # Two runs at once (a retried beat message, a manual run) bring the risk back once:
            # the second skips the decision the first holds, or sees it handled.
            if not (
                Decision.objects.select_for_update(skip_locked=True)
                .filter(pk=decision.pk, expiry_handled_at=None)
                .exists()
            ):
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
            if cycle is None or cycle.items.filter(subject_key=item.subject_key).exists():
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
                        "previous_item": item.pk,
                        "previous_justification": decision.justification,
                    },
                },
                evidence_hash=item.evidence_hash,
                follows_item=item,
            )
            new.findings.set(findings)
            refresh_population(cycle=cycle)
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


def mark_no_response(*, now: datetime | None = None) -> int:
    """Mark the undecided items of cycles past their due date as "no response", for the kinds
    whose REVIEW_<KIND>_AT_DUE setting says so; returns how many. Idempotent."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    kinds = [kind for kind, action in settings.REVIEW_AT_DUE.items() if action == "no_response"]
    marked = 0
    cycles = ReviewCycle.objects.filter(
        state=ReviewCycle.State.OPEN, kind__in=kinds, due_on__lt=today
    )
    for cycle in cycles:
        with transaction.atomic():
            count = cycle.items.filter(is_decided=False, no_response_at=None).update(
                no_response_at=now
            )
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


def refresh_population(*, cycle: ReviewCycle) -> None:
    """An item added to an open cycle (a returning risk) joins its recorded population."""
    items = list(cycle.items.only("subject_key", "evidence_hash"))
    ReviewCycle.objects.filter(pk=cycle.pk).update(
        population_hash=population_hash(items=items), population_count=len(items)
    )


# Another process's change of people or roles shows in this process's lists within this time
# (this process's own changes at once: forget_reviewers). Only the lists wait: assigning and
# delegating check the chosen person's role when they are submitted.
REVIEWERS_CACHE_SECONDS = 30


def reviewer_choices(*, exclude: int | None = None, fresh: bool = False) -> list[tuple[int, str]]:
    """(id, name) of every active reviewer by email, for choosing whom to assign or delegate
    to: plain values (pages show it to hundreds of reviewers), `exclude` (a person's id) left
    out. Read at most every REVIEWERS_CACHE_SECONDS per process, or now (`fresh`: validating
    a submitted choice)."""
    rows = None if fresh else cache.get(REVIEWERS_KEY)
    if rows is None:
        rows = [
            (pk, full_name or email)
            for pk, full_name, email in User.objects.filter(
                is_active=True, groups__name=Role.REVIEWER.value
            )
            .order_by("email")
            .values_list("pk", "full_name", "email")
        ]
        cache.set(REVIEWERS_KEY, rows, REVIEWERS_CACHE_SECONDS)
    return [(pk, name) for pk, name in rows if pk != exclude]
