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


def build(*, findings: int, accounts: int, items: int, principals: int) -> None:
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
    build_principals(made=made, principals=principals, rng=rng, now=now)
    AwsAccount.objects.count()


def build_principals(*, made, principals: int, rng, now) -> None:
    """`principals` IAM users and as many roles over the accounts, with varied names, ages
    and last uses (a tenth of roles never used within the tracking window)."""
    from findings.models import IamRole, IamUser
    from findings.models.evidence import NEVER

    words = ["deploy", "Data", "ops", "ci", "Analytics", "batch", "admin", "svc", "etl", "web"]
    common = {"fingerprint": "x", "first_seen_at": now, "changed_at": now}
    for model, kind in ((IamUser, "user"), (IamRole, "role")):
        rows = []
        for n in range(principals):
            account = made[n % len(made)]
            name = f"{rng.choice(words)}-{rng.choice(words)}-{n:06}"
            values = {
                "account": account,
                "arn": f"arn:aws:iam::{account.account_id}:{kind}/{name}",
                "name": name,
                "path": "/",
                "create_date": now - timedelta(days=rng.randint(1, 2000)),
                **common,
            }
            used = None if rng.random() < 0.1 else now - timedelta(days=rng.randint(0, 400))
            if model is IamUser:
                values |= {"user_id": f"AIDA{n:012}", "last_activity": used or NEVER}
            else:
                values |= {"role_id": f"AROA{n:012}", "last_used_at": used}
            rows.append(model(**values))
        model.objects.bulk_create(rows, batch_size=5000)


def explain_inventory() -> None:
    """Each inventory list as its page reads it: the page's ids (LateRows), deep and sorted."""
    from django.conf import settings
    from django.http import QueryDict

    from findings.inventory.reads import read_roles, read_users
    from findings.inventory.views import (
        InventoryFilters,
        filtered_roles,
        present,
        sorted_rows,
    )
    from findings.models import IamRole, IamUser

    for label, query, users, offset in [
        ("inventory users, page 1", "", True, 0),
        ("inventory users, page 200", "", True, 199 * 50),
        ("inventory users by name, page 150", "sort=name", True, 149 * 50),
        ("inventory users stalest first, page 150", "sort=stale", True, 149 * 50),
        ("inventory users oldest first, page 150", "sort=created", True, 149 * 50),
        ("inventory roles stalest first, page 150", "sort=stale", False, 149 * 50),
        ("inventory roles, one account, page 20", "account=100000000003", False, 19 * 50),
        ("inventory users, ARN search", "q=analytics-ops", True, 0),
    ]:
        filters = InventoryFilters.from_params(QueryDict(query))
        rows = present(IamUser, filters) if users else filtered_roles(filters)
        rows = sorted_rows(rows, filters, users=users)
        ids = rows.values_list("pk", flat=True)
        # A search reads the ids of all it matches, in order, up to the row limit (page_of).
        ids = ids[: settings.FINDINGS_LIST_MAX_ROWS] if filters.q else ids[offset : offset + 50]
        explain(label + ": its ids", ids)
    # Then the page's rows by those ids (findings.inventory.reads): 50 random ones here.
    users = list(
        IamUser.objects.filter(gone_at=None).order_by("?").values_list("pk", flat=True)[:50]
    )
    explain_call(
        "inventory users: the page's rows (credential rows, open findings)",
        lambda: read_users(ids=users),
    )
    roles = list(
        IamRole.objects.filter(gone_at=None).order_by("?").values_list("pk", flat=True)[:50]
    )
    explain_call(
        "inventory roles: the page's rows (open findings, policies)",
        lambda: read_roles(ids=roles),
    )


def explain_call(label: str, call) -> None:
    """EXPLAIN the last statement `call` runs, as it ran it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        call()
    explain_sql(label, queries.captured_queries[-1]["sql"], None)


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
    parser.add_argument("--principals", type=int, default=100_000, help="users, and as many roles")
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
    from findings.reviews.queue import QueueRows

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
        build(
            findings=args.findings,
            accounts=args.accounts,
            items=args.items,
            principals=args.principals,
        )
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
    explain_call(
        "queue page 40 of a 10k-item cycle (its ids and rows: one statement)",
        lambda: QueueRows(cycle, QueueFilters(), None)[39 * 25 : 40 * 25],
    )
    explain_inventory()
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
