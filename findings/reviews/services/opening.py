"""Opening review cycles (by hand, on the schedule, or from given items), freezing their
population, and keeping its recorded hash when an item joins later (after checking it)."""

from collections.abc import Collection
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from accounts.permissions import Capability, can
from findings.audit.services import record
from findings.models import AwsAccount, ReviewCycle, ReviewItem
from findings.reviews.evidence import (
    ItemSpec,
    monthly_population,
    population_hash,
    quarterly_population,
)
from findings.reviews.services.errors import AlreadyOpen, Forbidden

# Any constant: serializes opening cycles by hand, so that two at once see each other (releases
# hold RELEASE_LOCK_ID, findings.reviews.releases).
OPEN_BY_HAND_LOCK_ID = 7_311_202_612


def due_days(*, kind: str) -> int:
    return {
        ReviewCycle.Kind.MONTHLY: settings.REVIEW_MONTHLY_DUE_DAYS,
        ReviewCycle.Kind.QUARTERLY: settings.REVIEW_QUARTERLY_DUE_DAYS,
        ReviewCycle.Kind.RELEASE: settings.REVIEW_RELEASE_DUE_DAYS,
    }[kind]


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
    covered: list[AwsAccount] | None = None,
    **release,
) -> ReviewCycle:
    """Freeze `specs` as a new cycle's items, in one transaction. `accounts` is its scope
    (None: every account); `covered`, the accounts whose population `specs` is (default: the
    scope), recorded in the audit entry, so that a cycle of every account still says which
    accounts it reviewed, those that held nobody to review included."""
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
                "accounts": sorted(a.account_id for a in (covered or accounts or [])),
                "every_account": not accounts,
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
                substance_hash=spec.substance_hash,
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
        covered=scope,
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
    if existing is None:
        existing = _opened_by_hand_for_every_account(kind=kind, period=period)
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


def _opened_by_hand_for_every_account(*, kind: str, period: str) -> ReviewCycle | None:
    """A cycle of `kind` an administrator opened by hand during `period`, for every account,
    still in review: it is this period's review, and another would put each item before
    reviewers twice. (One scoped to some accounts leaves the others to the period's cycle.)"""
    candidates = ReviewCycle.objects.filter(
        kind=kind, period="", state=ReviewCycle.State.OPEN, scope_accounts=None
    ).order_by("opened_at")
    for cycle in candidates:
        if period_of(kind=kind, day=timezone.localdate(cycle.opened_at)) == period:
            return cycle
    return None


def open_scheduled_cycles(*, today: date | None = None) -> list[ReviewCycle]:
    """Monthly on the 1st, quarterly on the 1st of Jan/Apr/Jul/Oct; never twice a period. A
    period whose first day the scheduler missed (workers down, a deployment) is opened at the
    first run later in that period, for the quarter as for the month."""
    today = today or timezone.localdate()
    opened = []
    for kind in (ReviewCycle.Kind.MONTHLY, ReviewCycle.Kind.QUARTERLY):
        cycle, is_new = open_period_cycle(kind=kind, today=today)
        if is_new:
            opened.append(cycle)
    return opened


def check_population(
    *, cycle: ReviewCycle, actor: User | None, joining: Collection[str] = ()
) -> bool:
    """Whether the cycle's items, but those whose subject keys are `joining` (just added),
    still make up its recorded population hash and count. When they do not (an item's
    evidence hash edited, an item added or deleted outside the application), the mismatch is
    audited (cycle.population_mismatch, with the hash they make up now)."""
    recorded_hash, recorded_count = (
        ReviewCycle.objects.filter(pk=cycle.pk)
        .values_list("population_hash", "population_count")
        .get()
    )
    held = [
        i for i in cycle.items.only("subject_key", "evidence_hash") if i.subject_key not in joining
    ]
    found = population_hash(items=held)
    if found == recorded_hash and len(held) == recorded_count:
        return True
    record(
        actor=actor,
        action="cycle.population_mismatch",
        target_type="review_cycle",
        target_id=cycle.pk,
        target_label=cycle.title,
        before={"population_hash": recorded_hash, "items": recorded_count},
        after={
            "population_hash": found,
            "items": len(held),
            "items_joining": sorted(joining),
            "kept": "the recorded population hash and count, unchanged",
        },
    )
    return False


def refresh_population(*, cycle: ReviewCycle, joining: Collection[str], actor: User | None) -> bool:
    """Items just added to an open cycle (a returning risk, a release's new roles; their
    subject keys: `joining`) join its recorded population, once the items it held before are
    found to make up the recorded hash (check_population). When they do not, nothing is
    recomputed: a new hash over edited evidence would launder the edit, so the recorded hash
    and count stay as they were, and sign-off (refused) and the evidence pack
    (population_hash_matches false) still show the difference. Returns whether the
    population was refreshed."""
    if not check_population(cycle=cycle, actor=actor, joining=joining):
        return False
    items = list(cycle.items.only("subject_key", "evidence_hash"))
    ReviewCycle.objects.filter(pk=cycle.pk).update(
        population_hash=population_hash(items=items), population_count=len(items)
    )
    return True
