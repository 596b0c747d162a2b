"""Who reviews what: assigning items, and the reviewers an item may be assigned or delegated
to."""

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q

from accounts.models import User
from accounts.permissions import Capability, Role, can
from findings.audit.services import record
from findings.models import ReviewCycle, ReviewItem
from findings.reviews.caches import REVIEWERS_KEY
from findings.reviews.locks import lock_open_cycles_of, lock_undecided_items_assigned_to
from findings.reviews.services.deciding import linked_arns
from findings.reviews.services.errors import Forbidden, Invalid


def assign_items(*, items: list[ReviewItem], assignee: User | None, actor: User) -> int:
    if not (can(actor, Capability.DECIDE) or can(actor, Capability.MANAGE_ACCOUNTS)):
        raise Forbidden("Only reviewers and administrators assign items")
    if assignee is not None and not can(assignee, Capability.DECIDE):
        raise Invalid({"assignee": f"{assignee.email} is not a reviewer"})
    if assignee is not None:
        _check_not_their_own(items=items, assignee=assignee)
    wanted = [item.pk for item in items]
    with transaction.atomic():
        # The cycle's state as stored, not as the caller's (possibly stale) objects say, and
        # held until the items are written: a sign-off meanwhile waits, or went first, and
        # then nothing is assigned.
        open_cycles = lock_open_cycles_of(item_ids=wanted)
        ids = list(
            ReviewItem.objects.filter(pk__in=wanted, cycle_id__in=open_cycles).values_list(
                "pk", flat=True
            )
        )
        count = ReviewItem.objects.filter(pk__in=ids, cycle__state=ReviewCycle.State.OPEN).update(
            assignee=assignee
        )
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


def items_to_hand_back(*, user: User) -> list[int]:
    """The undecided items of open cycles assigned to `user`, locked until the transaction
    ends, for hand_back_items once it is known they may no longer decide them. Call it first
    in the transaction (findings.reviews.locks)."""
    return lock_undecided_items_assigned_to(assignee_id=user.pk)


def hand_back_items(*, user: User, item_ids: list[int], actor: User | None, reason: str) -> int:
    """Assign to nobody the items `user` may no longer decide (their role taken away, or
    deactivated): left assigned to them, nobody else's digest or queue counted them as work to
    pick up. `item_ids` from items_to_hand_back, in the same transaction. One audit entry for
    them all, as for assigning many items."""
    if not item_ids:
        return 0
    count = ReviewItem.objects.filter(pk__in=item_ids, assignee=user).update(assignee=None)
    if not count:
        return 0
    record(
        actor=actor,
        action="items.assigned",
        target_type="review_items",
        target_id=",".join(map(str, item_ids))[:200],
        target_label=f"{count} items of {user.email}",
        before={"assignee": user.email},
        after={"assignee": None, "items": item_ids, "reason": reason},
    )
    return count


def _check_not_their_own(*, items: list[ReviewItem], assignee: User) -> None:
    """Invalid when an item is about one of the assignee's own IAM identities (its subject or
    one of its findings, as deciding checks): they may not decide it, and everyone else's
    "next undecided" would pass it by as theirs. Refused for the whole selection."""
    links = linked_arns(user=assignee)
    if not links:
        return
    own = list(
        ReviewItem.objects.filter(pk__in=[item.pk for item in items])
        .filter(Q(subject_arn__in=links) | Q(findings__resource_arn__in=links))
        .order_by("title", "pk")
        .values_list("pk", "title")
        .distinct()
    )
    if own:
        shown = ", ".join(f"“{title}”" for _, title in own[:5]) + (
            " and more" if len(own) > 5 else ""
        )
        count = len(own)
        raise Invalid(
            {
                "assignee": f"Nothing was assigned: {count} selected item"
                f"{'s concern' if count != 1 else ' concerns'} {assignee.email}'s own IAM "
                f"identity ({shown}); assign {'them' if count != 1 else 'it'} to someone else."
            }
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
