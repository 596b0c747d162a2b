"""Reminders and escalation, sent as part of the email digest and each sent once.

Assignees hear before a cycle's due date (REVIEW_REMINDER_DAYS, e.g. 7, 3, 1 and 0 days
before), then daily while it is overdue; approvers when a cycle is ready for their sign-off;
administrators when a cycle is overdue. Each reminder has a key (SentReminder) so that it goes
to a person once, however often the hourly digest run looks.
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db.models import Count, Q
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


def _open_cycles():
    return ReviewCycle.objects.filter(state=ReviewCycle.State.OPEN).annotate(
        pending=Count("items", filter=Q(items__is_decided=False, items__no_response_at=None))
    )


def _assignee_reminders(user: User, *, today: date) -> list[Reminder]:
    items = (
        ReviewItem.objects.filter(
            assignee=user,
            is_decided=False,
            no_response_at=None,
            cycle__state=ReviewCycle.State.OPEN,
        )
        .select_related("cycle")
        .only("title", "cycle__title", "cycle__due_on")
        .order_by("cycle__due_on", "cycle_id", "severity_rank", "title", "id")
    )
    by_cycle: dict[int, list[ReviewItem]] = {}
    for item in items:
        by_cycle.setdefault(item.cycle_id, []).append(item)
    reminders = []
    for cycle_items in by_cycle.values():
        cycle = cycle_items[0].cycle
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
        reminders.append(
            Reminder(
                key=key,
                text=text,
                # Straight to the first item; the rest below.
                url=_absolute(reverse("review_item", args=[cycle_items[0].pk])),
                items=[
                    ReminderItem(item.title, _absolute(reverse("review_item", args=[item.pk])))
                    for item in cycle_items[:ITEMS_PER_REMINDER]
                ],
                more=max(0, count - ITEMS_PER_REMINDER),
            )
        )
    return reminders


def _approver_reminders(user: User) -> list[Reminder]:
    """Cycles ready for sign-off that this approver may sign (see check_may_sign_off)."""
    cycles = (
        _open_cycles()
        .filter(pending=0)
        .exclude(pk__in=Decision.objects.filter(decided_by=user).values("item__cycle_id"))
        .exclude(
            pk__in=ReviewItem.objects.filter(
                subject_arn__in=LinkedIdentity.objects.filter(user=user).values("arn")
            ).values("cycle_id")
        )
        .order_by("due_on", "pk")
    )
    return [
        Reminder(
            key=f"sign:{cycle.pk}",
            text=f"“{cycle.title}” is ready for your sign-off (due {cycle.due_on:%Y-%m-%d}).",
            url=_absolute(reverse("review_cycle", args=[cycle.pk])) + "#sign-off",
        )
        for cycle in cycles
    ]


def _escalations(*, today: date) -> list[Reminder]:
    cycles = _open_cycles().filter(due_on__lt=today).order_by("due_on", "pk")
    return [
        Reminder(
            key=f"escalate:{cycle.pk}",
            text=(
                f"Escalation: “{cycle.title}” was due {cycle.due_on:%Y-%m-%d} and is overdue by "
                f"{_days((today - cycle.due_on).days)}; "
                + (
                    f"{cycle.pending} item{'s' if cycle.pending != 1 else ''} undecided."
                    if cycle.pending
                    else "it waits for sign-off."
                )
            ),
            url=_absolute(reverse("review_cycle", args=[cycle.pk])),
        )
        for cycle in cycles
    ]


def pending_reminders(*, user: User, now: datetime) -> list[Reminder]:
    """The reminders this person should get now and has not had yet."""
    roles = set(roles_of(user))
    today = timezone.localdate(now)
    reminders: list[Reminder] = []
    if Role.REVIEWER in roles:
        reminders += _assignee_reminders(user, today=today)
    if Role.APPROVER in roles:
        reminders += _approver_reminders(user)
    if Role.ADMINISTRATOR in roles:
        reminders += _escalations(today=today)
    if not reminders:
        return []
    sent = set(
        SentReminder.objects.filter(
            user=user, key__in=[reminder.key for reminder in reminders]
        ).values_list("key", flat=True)
    )
    return [reminder for reminder in reminders if reminder.key not in sent]


def mark_sent(*, user: User, reminders: list[Reminder], now: datetime) -> None:
    SentReminder.objects.bulk_create(
        [SentReminder(user=user, key=reminder.key, sent_at=now) for reminder in reminders],
        ignore_conflicts=True,
    )
