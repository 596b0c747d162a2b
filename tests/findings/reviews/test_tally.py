"""A cycle's tally (total, decided, awaiting, unassigned) is kept by database triggers on its
items, on PostgreSQL and on SQLite alike, whatever writes the items: bulk inserts, single and
bulk updates, deletes."""

import contextlib
from datetime import date

import pytest
from django.db.models import Count, Q
from django.utils import timezone

from accounts.permissions import Role
from findings.collection.registry import add_account
from findings.models import CycleTally, ReviewCycle, ReviewItem
from findings.reviews.tally import cycle_tally
from tests.conftest import make_person, run_on_sqlite

# The same steps on either database, run here (PostgreSQL) and in a child process (SQLite).
STEPS = """
from datetime import date
from django.utils import timezone
from django.db.models import Count, Q
from findings.collection.registry import add_account
from findings.models import CycleTally, ReviewCycle, ReviewItem


def truth(cycle):
    return cycle.items.aggregate(
        total=Count("id"),
        decided=Count("id", filter=Q(is_decided=True)),
        awaiting=Count("id", filter=Q(is_decided=False, no_response_at=None)),
        unassigned=Count("id", filter=Q(is_decided=False, assignee=None)),
    )


def tallied(cycle):
    row = CycleTally.objects.filter(cycle=cycle).values(
        "total", "decided", "awaiting", "unassigned"
    ).first()
    return row or {"total": 0, "decided": 0, "awaiting": 0, "unassigned": 0}


def run_steps(assignee):
    account = add_account(account_id="111122223333", name="Production")
    cycles = [
        ReviewCycle.objects.create(
            kind="quarterly", title=f"Q{n}", opened_at=timezone.now(), due_on=date(2027, 1, 1),
            population_hash="x",
        )
        for n in (1, 2)
    ]
    seen = []

    def check(label):
        for cycle in cycles:
            counts = (tallied(cycle), truth(cycle))
            assert counts[0] == counts[1], (label, cycle.title, *counts)
            seen.append((label, tallied(cycle)))

    check("empty")
    ReviewItem.objects.bulk_create(
        ReviewItem(
            cycle=cycles[n % 2], account=account, subject_type="user", subject_arn=f"arn:{n}",
            subject_key=f"user:{n}", title=f"user{n}", frozen_evidence={}, evidence_hash="h",
        )
        for n in range(40)
    )
    check("inserted")
    first = cycles[0].items.order_by("id")
    ReviewItem.objects.filter(pk__in=list(first.values_list("pk", flat=True)[:5])).update(
        is_decided=True
    )
    check("decided five")
    item = cycles[0].items.filter(is_decided=False).order_by("id").first()
    item.assignee_id = assignee
    item.save()
    check("one assigned by save()")
    cycles[1].items.filter(pk__in=list(cycles[1].items.values_list("pk", flat=True)[:7])).update(
        no_response_at=timezone.now()
    )
    check("no response")
    ReviewItem.objects.filter(pk=item.pk).update(is_decided=True)
    check("the assigned one decided")
    ReviewItem.objects.filter(pk__in=list(first.values_list("pk", flat=True)[:3])).delete()
    check("three deleted")
    ReviewItem.objects.update(title="renamed")
    check("an update that changes no count")
    cycles[1].delete()
    assert not CycleTally.objects.filter(cycle_id=cycles[1].pk).exists()
    cycles.pop()
    check("a cycle deleted")
    return seen
"""

CHILD = """
from accounts.models import User
exec({steps!r})
user = User.objects.create(email="rita@example.com")
print(json.dumps(run_steps(user.pk)))
"""


def steps():
    namespace = {}
    exec(STEPS, namespace)  # noqa: S102 - our own test code, shared with the SQLite child
    return namespace


def test_the_tally_follows_every_kind_of_write_on_postgres(db):
    reviewer = make_person("rita@example.com", Role.REVIEWER)
    seen = steps()["run_steps"](reviewer.pk)
    assert ("inserted", {"total": 20, "decided": 0, "awaiting": 20, "unassigned": 20}) in seen
    assert ("decided five", {"total": 20, "decided": 5, "awaiting": 15, "unassigned": 15}) in seen


def test_the_tally_follows_every_kind_of_write_on_sqlite(tmp_path):
    seen = run_on_sqlite(CHILD.format(steps=STEPS), tmp_path)
    assert ["inserted", {"total": 20, "decided": 0, "awaiting": 20, "unassigned": 20}] in seen


def bare_cycle(*, title: str) -> ReviewCycle:
    return ReviewCycle.objects.create(
        kind="quarterly",
        title=title,
        opened_at=timezone.now(),
        due_on=date(2027, 1, 1),
        population_hash="x",
    )


def test_a_cycle_without_items_reads_as_zeros(db):
    cycle = bare_cycle(title="Empty")
    tally = cycle_tally(cycle=cycle)
    assert (tally.total, tally.decided, tally.awaiting, tally.unassigned) == (0, 0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_transactions_both_count(db, postgres):
    """Two connections deciding items of the same cycle at once: the tally row's lock orders
    them and neither update is lost."""
    import threading

    from django.db import connection, transaction

    account = add_account(account_id="111122223333", name="Production")
    cycle = bare_cycle(title="Q")
    items = ReviewItem.objects.bulk_create(
        ReviewItem(
            cycle=cycle,
            account=account,
            subject_type="user",
            subject_arn=f"arn:{n}",
            subject_key=f"user:{n}",
            title=f"user{n}",
            frozen_evidence={},
            evidence_hash="h",
        )
        for n in range(2)
    )
    barrier = threading.Barrier(2)

    def decide(pk):
        try:
            with transaction.atomic():
                ReviewItem.objects.filter(pk=pk).update(is_decided=True)
                # The first holds the tally row; the second waits on it, so the barrier
                # breaks after a moment and the first commits, then the second.
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait(timeout=2)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(item.pk,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    truth = cycle.items.aggregate(total=Count("id"), decided=Count("id", filter=Q(is_decided=True)))
    tally = CycleTally.objects.get(cycle=cycle)
    assert (tally.total, tally.decided) == (truth["total"], truth["decided"]) == (2, 2)
