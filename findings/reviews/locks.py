"""Writing the items of open cycles while a sign-off may come: locks taken in one order."""

from findings.models import ReviewCycle, ReviewItem


def lock_open_cycles_of(*, item_ids: list[int]) -> list[int]:
    """Within a transaction: lock the items, then their cycles, and return the ids of those
    cycles still open. Until it commits a sign-off waits, or it went first and its cycle is
    not returned (a signed cycle's items cannot change: the database refuses). Items before
    cycles, in id order, as a decision takes its item then its cycle: neither waits for the
    other in a circle."""
    list(
        ReviewItem.objects.select_for_update(of=("self",))
        .filter(pk__in=item_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return list(
        ReviewCycle.objects.select_for_update(no_key=True)
        .filter(
            pk__in=ReviewItem.objects.filter(pk__in=item_ids).values("cycle_id"),
            state=ReviewCycle.State.OPEN,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def lock_undecided_items_assigned_to(*, assignee_id: int) -> list[int]:
    """Within a transaction: lock the undecided items of open cycles assigned to this person,
    then their cycles (as lock_open_cycles_of), and return the ids of those still undecided,
    still theirs, in a cycle still open. Take it before the transaction writes to the audit log,
    as a decision takes its item and its cycle before it does."""
    assigned = ReviewItem.objects.filter(
        assignee_id=assignee_id, is_decided=False, cycle__state=ReviewCycle.State.OPEN
    )
    wanted = list(assigned.values_list("pk", flat=True))
    if not wanted:
        return []
    open_cycles = lock_open_cycles_of(item_ids=wanted)
    return list(
        assigned.filter(pk__in=wanted, cycle_id__in=open_cycles)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
