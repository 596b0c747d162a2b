"""A cycle's item counts as its tally row holds them (kept by database triggers on the items,
migration 0020): what progress bars, pagination and sign-off read instead of counting items."""

from findings.models import CycleTally, ReviewCycle


def cycle_tally(*, cycle: ReviewCycle) -> CycleTally:
    """The tally of `cycle` (all zeros for a cycle without items, which has no row yet)."""
    try:
        return CycleTally.objects.get(cycle_id=cycle.pk)
    except CycleTally.DoesNotExist:
        return CycleTally(cycle_id=cycle.pk)
