"""Query plans at scale: EXPLAIN ANALYZE of the Findings list, its counts and a review queue.

Builds, in the database DATABASE_URL points at (PostgreSQL; it is migrated and its findings
tables filled), N findings over A accounts and a quarterly cycle of C items, runs VACUUM ANALYZE,
then prints each query's plan and execution time. Never run it against a database you care about.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iam9plansbench \\
        python bench/plans.py --findings 100000 --accounts 20 --items 10000
"""

import argparse
import os
import random
import sys
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(*, findings: int, accounts: int, items: int) -> None:
    from django.utils import timezone

    from findings.collection.registry import add_account
    from findings.models import (
        AwsAccount,
        CollectionRun,
        Finding,
        ReviewCycle,
        ReviewItem,
    )
    from findings.models.findings import SEVERITY_RANK

    rng = random.Random(9)
    now = timezone.now()
    made = [
        add_account(account_id=f"{100000000000 + n}", name=f"Account {n:02}", regions=["us-east-1"])
        for n in range(accounts)
    ]
    for account in made:
        CollectionRun.objects.create(
            account=account,
            source="credential-report",
            trigger=CollectionRun.Trigger.MANUAL,
            status=CollectionRun.Status.SUCCEEDED,
            started_at=now,
            finished_at=now,
        )
    checks = ["access-key-unused", "role-unused", "console-user-without-mfa", "full-admin"]
    severities = ["critical", "high", "medium", "medium", "low", "low"]
    batch = []
    for n in range(findings):
        account = made[n % accounts]
        severity = rng.choice(severities)
        arn = f"arn:aws:iam::{account.account_id}:role/role-{n:06}"
        batch.append(
            Finding(
                account=account,
                check_id=checks[n % len(checks)],
                resource_key=arn,
                resource_arn=arn,
                resource_type="role",
                resource_name=f"role-{n:06}",
                title="Unused role",
                severity=severity,
                severity_rank=SEVERITY_RANK[severity],
                severity_reason="bench",
                status="open" if rng.random() < 0.88 else "resolved",
                evidence={"why": f"last used {rng.randint(90, 900)} days ago"},
                evidence_fingerprint="x",
                rule_version="bench",
                thresholds={},
                first_seen_at=now - timedelta(minutes=rng.randint(0, 500_000)),
                last_seen_at=now,
            )
        )
        if len(batch) == 5000:
            Finding.objects.bulk_create(batch)
            batch = []
    Finding.objects.bulk_create(batch)
    cycle = ReviewCycle.objects.create(
        kind="quarterly",
        title="Bench quarter",
        period="2099-Q1",
        opened_at=now,
        due_on=now.date(),
        population_hash="x",
        population_count=items,
    )
    ReviewItem.objects.bulk_create(
        [
            ReviewItem(
                cycle=cycle,
                account=made[n % accounts],
                subject_type="user",
                subject_arn=f"arn:aws:iam::{made[n % accounts].account_id}:user/u{n:05}",
                subject_key=f"user:{n}",
                title=f"u{n:05}",
                severity=rng.choice(severities),
                severity_rank=rng.randint(0, 9),
                frozen_evidence={"facts": {"user": f"u{n:05}"}, "findings": []},
                evidence_hash="x",
            )
            for n in range(items)
        ],
        batch_size=2000,
    )
    AwsAccount.objects.count()


def explain(label: str, queryset) -> None:
    sql, params = queryset.query.sql_with_params()
    explain_sql(label, sql, params)


def explain_sql(label: str, sql: str, params) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        plan = [row[0] for row in cursor.fetchall()]
    print(f"\n=== {label}")
    print("\n".join(plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--reuse", action="store_true", help="Keep the data already built")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iamreview.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from findings.detection.selectors import FindingFilters, _matching, filtered_findings
    from findings.models import Finding, ReviewCycle
    from findings.reviews.forms import QueueFilters
    from findings.reviews.queue import queue_items

    if connection.vendor != "postgresql":
        sys.exit("bench/plans.py needs DATABASE_URL pointing at PostgreSQL")
    if not args.reuse and "bench" not in connection.settings_dict["NAME"]:
        sys.exit("Without --reuse the database is emptied: name it *bench* (its own database)")
    if not args.reuse:
        # Its own database, emptied (a flush would TRUNCATE the append-only audit log).
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    call_command("migrate", verbosity=0)
    if not args.reuse:
        build(findings=args.findings, accounts=args.accounts, items=args.items)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"{Finding.objects.count()} findings")
    account = Finding.objects.values_list("account__account_id", flat=True).first()
    for label, filters, offset in [
        ("findings page 1 (open, by severity)", FindingFilters(), 0),
        ("findings page 50 (open, by severity)", FindingFilters(), 49 * 50),
        ("findings page 50, one account", FindingFilters(account=account), 49 * 50),
        ("findings page 50, one check, high", FindingFilters(check="role-unused"), 49 * 50),
        ("findings page 1, newest first", FindingFilters(sort="-first_seen"), 0),
        ("findings page 1, severity=high", FindingFilters(severity="high"), 0),
    ]:
        # As the list reads a page (LateRows): the page's ids, then those 50 rows by id.
        explain(
            label + ": its ids",
            filtered_findings(filters=filters).values_list("pk", flat=True)[offset : offset + 50],
        )
    from django.db.models import Count

    explain(
        "severity counts (once per change of the findings; cached otherwise)",
        _matching(filters=FindingFilters()).order_by().values("severity").annotate(n=Count("id")),
    )
    cycle = ReviewCycle.objects.get(period="2099-Q1")
    len_items = cycle.items.count()
    explain(
        "queue page 40 of a 10k-item cycle",
        queue_items(cycle, QueueFilters(), None)[39 * 25 : 40 * 25],
    )
    from findings.reviews.display import _around_params, _around_sql, before_in_queue

    middle = cycle.items.order_by("severity_rank", "title", "id")[len_items // 2]
    explain(
        "queue opened at an item: the items before it (its page), a row comparison",
        cycle.items.filter(before_in_queue(middle)).order_by().values("id"),
    )
    # The item page's one statement: previous, next and next undecided items, each a row
    # comparison the index seeks to (no inventory or suggestion probe: a bare item).
    explain_sql(
        "item page: its neighbours in the queue",
        _around_sql(inventory_table=None, suggestion=False, position=True),
        _around_params(middle, inventory=False, suggestion=False, position=True),
    )


if __name__ == "__main__":
    main()
