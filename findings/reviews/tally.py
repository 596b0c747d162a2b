"""A cycle's item counts as its tally row holds them (kept by database triggers on the items,
migration 0020): what progress bars, pagination and sign-off read instead of counting items."""

from findings.models import CycleTally, ReviewCycle


def cycle_tally(*, cycle: ReviewCycle) -> CycleTally:
    """The tally of `cycle` (all zeros for a cycle without items, which has no row yet): the
    one loaded with the cycle (select_related("tally")), or read now."""
    try:
        return cycle.tally
    except CycleTally.DoesNotExist:
        return CycleTally(cycle_id=cycle.pk)
