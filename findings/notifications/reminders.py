"""Reminders and escalation, sent as part of the email digest and each sent once.

Assignees hear before a cycle's due date (REVIEW_REMINDER_DAYS, e.g. 7, 3, 1 and 0 days
before), then daily while it is overdue; approvers when a cycle is ready for their sign-off;
administrators when a cycle is overdue. Each reminder has a key (SentReminder) so that it goes
to a person once, however often the hourly digest run looks.
"""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts.models import LinkedIdentity, User
from accounts.permissions import Role, roles_of
from findings.models import Decision, ReviewCycle, ReviewItem, SentReminder

ITEMS_PER_REMINDER = 10


@dataclass
class ReminderItem:
    title: str
    url: str


@dataclass
class Reminder:
    key: str
    text: str
    url: str
    items: list[ReminderItem] = field(default_factory=list)
    more: int = 0


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _days(count: int) -> str:
    return f"{count} day{'s' if count != 1 else ''}"


def _due_step(days_left: int) -> int | None:
    """The reminder step a cycle is at: the smallest configured day count at or above the days
    left (so a run missed on the day still reminds once), None when it is too early."""
    steps = [day for day in settings.REVIEW_REMINDER_DAYS if day >= days_left]
    return min(steps) if steps else None


def open_cycles_with_progress() -> QuerySet[ReviewCycle]:
    """Open cycles, each with `undecided`: items still waiting for a decision (not those
    closed as no response)."""
    return ReviewCycle.objects.filter(state=ReviewCycle.State.OPEN).annotate(
        # From the cycle's tally (kept by triggers on its items), not a count of its items.
        undecided=Coalesce(F("tally__awaiting"), 0)
    )


def assignee_reminders(
    *, by_cycle: Sequence[tuple[ReviewCycle, Sequence[tuple[int, str]]]], today: date
) -> list[Reminder]:
    """An assignee's reminders from their undecided items (pk, title), grouped by open cycle in
    queue order (see assigned_items)."""
    reminders = []
    for cycle, cycle_items in by_cycle:
        days_left = (cycle.due_on - today).days
        count = len(cycle_items)
        what = f"{count} item{'s' if count != 1 else ''} assigned to you in “{cycle.title}”"
        if days_left < 0:
            key = f"overdue:{cycle.pk}:{today.isoformat()}"
            text = f"Overdue by {_days(-days_left)}: {what} still wait for a decision."
        else:
            step = _due_step(days_left)
            if step is None:
                continue
            key = f"due:{cycle.pk}:{step}"
            when = "today" if days_left == 0 else f"in {_days(days_left)}"
            text = f"Due {when} ({cycle.due_on:%Y-%m-%d}): {what} wait for a decision."
        items = [
            ReminderItem(title, _absolute(reverse("review_item", args=[pk])))
            for pk, title in cycle_items[:ITEMS_PER_REMINDER]
        ]
        reminders.append(
            Reminder(
                key=key,
                text=text,
                url=items[0].url,  # straight to the first item; the rest below
                items=items,
                more=max(0, count - ITEMS_PER_REMINDER),
            )
        )
    return reminders


def approver_reminders(*, cycles: Sequence[ReviewCycle]) -> list[Reminder]:
    """From the cycles ready for sign-off that this approver may sign (see check_may_sign_off)."""
    return [
        Reminder(
            key=f"sign:{cycle.pk}",
            text=f"“{cycle.title}” is ready for your sign-off (due {cycle.due_on:%Y-%m-%d}).",
            url=_absolute(reverse("review_cycle", args=[cycle.pk])) + "#sign-off",
        )
        for cycle in cycles
    ]


def escalations(*, cycles: Sequence[ReviewCycle], today: date) -> list[Reminder]:
    """For administrators: each overdue one of the open cycles (with `undecided`)."""
    return [
        Reminder(
            key=f"escalate:{cycle.pk}",
            text=(
                f"Escalation: “{cycle.title}” was due {cycle.due_on:%Y-%m-%d} and is overdue by "
                f"{_days((today - cycle.due_on).days)}; "
                + (
                    f"{cycle.undecided} item{'s' if cycle.undecided != 1 else ''} undecided."
                    if cycle.undecided
                    else "it waits for sign-off."
                )
            ),
            url=_absolute(reverse("review_cycle", args=[cycle.pk])),
        )
        for cycle in cycles
        if cycle.due_on < today
    ]


def assigned_items(*, assignee_ids: Collection[int]) -> dict[int, list[ReviewItem]]:
    """Each assignee's undecided items in open cycles, in queue order (earliest due cycle
    first): one query for everyone. Only the fields the digest shows are read."""
    items = (
        ReviewItem.objects.filter(
            assignee_id__in=assignee_ids,
            is_decided=False,
            cycle__state=ReviewCycle.State.OPEN,
        )
        .select_related("cycle")
        .only("title", "severity", "no_response_at", "assignee_id", "cycle__title", "cycle__due_on")
        .order_by("cycle__due_on", "cycle_id", "severity_rank", "title", "id")
    )
    by_assignee: dict[int, list[ReviewItem]] = {}
    for item in items:
        by_assignee.setdefault(item.assignee_id, []).append(item)
    return by_assignee


def forbidden_sign_offs(
    *, approver_ids: Collection[int], cycle_ids: Collection[int]
) -> dict[int, set[int]]:
    """For each approver, which of these cycles they may not sign off: those where they decided
    items, and those reviewing their own IAM identity. At most three queries for everyone."""
    forbidden: dict[int, set[int]] = {}
    if not (approver_ids and cycle_ids):
        return forbidden
    decided = (
        Decision.objects.filter(decided_by_id__in=approver_ids, item__cycle_id__in=cycle_ids)
        .values_list("decided_by_id", "item__cycle_id")
        .distinct()
    )
    for user_id, cycle_id in decided:
        forbidden.setdefault(user_id, set()).add(cycle_id)
    people_by_arn: dict[str, list[int]] = {}
    for user_id, arn in LinkedIdentity.objects.filter(user_id__in=approver_ids).values_list(
        "user_id", "arn"
    ):
        people_by_arn.setdefault(arn, []).append(user_id)
    if people_by_arn:
        about = (
            ReviewItem.objects.filter(cycle_id__in=cycle_ids, subject_arn__in=list(people_by_arn))
            .values_list("cycle_id", "subject_arn")
            .distinct()
        )
        for cycle_id, arn in about:
            for user_id in people_by_arn[arn]:
                forbidden.setdefault(user_id, set()).add(cycle_id)
    return forbidden


def sent_reminder_keys(*, user_ids: Collection[int], keys: Collection[str]) -> set[tuple[int, str]]:
    """(user id, key) of the reminders among these that were already sent: one query."""
    if not (user_ids and keys):
        return set()
    return set(
        SentReminder.objects.filter(user_id__in=user_ids, key__in=keys).values_list(
            "user_id", "key"
        )
    )


def unanswered_by_cycle(
    *, items: Sequence[ReviewItem]
) -> list[tuple[ReviewCycle, list[tuple[int, str]]]]:
    """Items still waiting for an answer (not closed as no response), grouped by their cycle
    in the order given, as (pk, title): what assignee_reminders reads."""
    groups: dict[int, tuple[ReviewCycle, list[tuple[int, str]]]] = {}
    for item in items:
        if item.no_response_at is None:
            groups.setdefault(item.cycle_id, (item.cycle, []))[1].append((item.pk, item.title))
    return list(groups.values())


def pending_reminders(*, user: User, now: datetime) -> list[Reminder]:
    """The reminders this person should get now and has not had yet (for one person; the
    digest run builds them for everyone at once from the same parts)."""
    roles = set(roles_of(user))
    today = timezone.localdate(now)
    reminders: list[Reminder] = []
    if Role.REVIEWER in roles:
        reminders += assignee_reminders(
            by_cycle=unanswered_by_cycle(
                items=assigned_items(assignee_ids=[user.pk]).get(user.pk, [])
            ),
            today=today,
        )
    if roles & {Role.APPROVER, Role.ADMINISTRATOR}:
        cycles = list(open_cycles_with_progress().order_by("due_on", "pk"))
        if Role.APPROVER in roles:
            ready = [cycle for cycle in cycles if cycle.undecided == 0]
            forbidden = forbidden_sign_offs(
                approver_ids=[user.pk], cycle_ids=[cycle.pk for cycle in ready]
            ).get(user.pk, set())
            reminders += approver_reminders(
                cycles=[cycle for cycle in ready if cycle.pk not in forbidden]
            )
        if Role.ADMINISTRATOR in roles:
            reminders += escalations(cycles=cycles, today=today)
    if not reminders:
        return []
    sent = sent_reminder_keys(user_ids=[user.pk], keys=[reminder.key for reminder in reminders])
    return [reminder for reminder in reminders if (user.pk, reminder.key) not in sent]


def told_findings(*, user_ids: Collection[int], prefix: str) -> dict[int, set[str]]:
    """The keys starting with `prefix` that went to each of these people: one query."""
    told: dict[int, set[str]] = {}
    if not user_ids:
        return told
    rows = SentReminder.objects.filter(user_id__in=user_ids, key__startswith=prefix)
    for user_id, key in rows.values_list("user_id", "key"):
        told.setdefault(user_id, set()).add(key)
    return told


def mark_sent(*, user: User, reminders: list[Reminder], now: datetime) -> None:
    SentReminder.objects.bulk_create(
        [SentReminder(user=user, key=reminder.key, sent_at=now) for reminder in reminders],
        ignore_conflicts=True,
    )


def mark_told(*, told: Iterable[tuple[int, str]], now: datetime) -> None:
    """Record, for a whole run, what each person (user id) was told: a few queries."""
    SentReminder.objects.bulk_create(
        [SentReminder(user_id=user_id, key=key, sent_at=now) for user_id, key in told],
        ignore_conflicts=True,
        batch_size=5000,
    )


def forget_sent(*, prefix: str, before: datetime) -> None:
    """Drop the records starting with `prefix` older than `before`, once nothing reads them."""
    SentReminder.objects.filter(key__startswith=prefix, sent_at__lt=before).delete()
