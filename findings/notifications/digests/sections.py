"""Reading a digest's sections: a person's assigned items by cycle, the unassigned count,
the lines of open cycles, and the collections whose latest run failed."""

from collections.abc import Sequence
from datetime import date, datetime

from django.urls import reverse

from findings.collection.status import collection_status
from findings.models import AwsAccount, ReviewCycle, ReviewItem
from findings.notifications.digests.common import _absolute
from findings.notifications.digests.contents import (
    AssignedCycle,
    CycleLine,
    FailureLine,
    ItemLine,
)

ITEMS_PER_CYCLE = 10


def _assigned_to(items: Sequence[ReviewItem], *, today: date) -> list[AssignedCycle]:
    """The person's undecided items (see assigned_items) by cycle, the earliest due first."""
    cycles: dict[int, AssignedCycle] = {}
    for item in items:
        cycle = item.cycle
        group = cycles.get(cycle.pk)
        if group is None:
            group = cycles[cycle.pk] = AssignedCycle(
                title=cycle.title,
                due_on=cycle.due_on,
                overdue=cycle.due_on < today,
                count=0,
                items=[],
                url=_absolute(reverse("review_cycle", args=[cycle.pk]))
                + "?assignee=me&status=undecided",
            )
        group.count += 1
        if len(group.items) < ITEMS_PER_CYCLE:
            group.items.append(
                ItemLine(
                    title=item.title,
                    severity=item.severity or "clean",
                    url=_absolute(reverse("review_item", args=[item.pk])),
                )
            )
    return list(cycles.values())


def unassigned_count() -> int:
    return ReviewItem.objects.filter(
        cycle__state=ReviewCycle.State.OPEN, is_decided=False, assignee=None
    ).count()


def _cycle_line(cycle: ReviewCycle, *, today: date, anchor: str = "") -> CycleLine:
    """From one of open_cycles_with_progress()."""
    return CycleLine(
        pk=cycle.pk,
        title=cycle.title,
        due_on=cycle.due_on,
        overdue=cycle.due_on < today,
        undecided=cycle.undecided,
        url=_absolute(reverse("review_cycle", args=[cycle.pk])) + anchor,
    )


def failing_collections(*, now: datetime) -> list[FailureLine]:
    """Each enabled (account, source) whose latest run failed."""
    statuses = collection_status(accounts=AwsAccount.objects.filter(enabled=True), now=now)
    return [
        FailureLine(
            account=str(status.account),
            source=source.label,
            failed_at=source.latest.finished_at or source.latest.created_at,
            error=(source.latest.error.strip().splitlines() or [""])[0][:300],
            url=_absolute(reverse("aws_account", args=[status.account.pk])),
        )
        for status in statuses
        for source in status.sources
        if source.latest is not None and source.latest.status == "failed"
    ]
