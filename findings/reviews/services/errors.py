"""What the review services refuse with: a message a person can act on, which the web pages and
the API turn into their own answers."""

from accounts.models import User
from findings.models import Decision, ReviewCycle


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
