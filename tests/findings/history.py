"""Work on collection runs must not grow with their history: at a large organization (hundreds
of accounts, four sources every few hours) the runs table grows by a million rows a year.

Helpers to build that history in bulk and to count how many rows of a table the statements of
a block read (EXPLAIN ANALYZE of each captured SELECT, summed over the scan nodes on that
table), with a short history and with a long one for the same accounts."""

import json
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from findings.models import AwsAccount, CollectionRun, Source


def make_accounts(count: int) -> list[AwsAccount]:
    return AwsAccount.objects.bulk_create(
        AwsAccount(account_id=f"{100000000000 + n:012d}", name=f"acct-{n:04d}")
        for n in range(count)
    )


def add_history(accounts, *, runs_per_source: int, status="succeeded", sources=None) -> None:
    """`runs_per_source` finished scheduled runs per account and source, one every 6 hours
    back from now."""
    now = timezone.now()
    sources = sources or list(Source.values)
    batch = []
    for account in accounts:
        for source in sources:
            for n in range(runs_per_source):
                at = now - timedelta(hours=6 * (n + 1), minutes=account.pk % 60)
                batch.append(
                    CollectionRun(
                        account=account,
                        source=source,
                        trigger=CollectionRun.Trigger.SCHEDULE,
                        status=status,
                        started_at=at,
                        finished_at=at + timedelta(minutes=2),
                        heartbeat_at=at + timedelta(minutes=2),
                        counts={"rows": 3},
                    )
                )
    CollectionRun.objects.bulk_create(batch, batch_size=5000)
    # created_at is auto_now_add: move each run back to its time.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {CollectionRun._meta.db_table} SET created_at = started_at"  # noqa: S608
            " WHERE started_at IS NOT NULL AND created_at > started_at"
        )


def analyze(*models) -> None:
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def _scan_rows(plan: dict, table: str) -> int:
    total = 0
    if plan.get("Relation Name") == table:
        loops = plan.get("Actual Loops", 1) or 1
        per_loop = (
            plan.get("Actual Rows", 0)
            + plan.get("Rows Removed by Filter", 0)
            + plan.get("Rows Removed by Index Recheck", 0)
        )
        total += per_loop * loops
    for child in plan.get("Plans", ()):
        total += _scan_rows(child, table)
    return total


def rows_read(sql: str, table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return _scan_rows(plan[0]["Plan"], table)


class Reads:
    def __init__(self, models):
        self.queries: list[str] = []
        self.models = models
        self.counted: dict = {}

    def measure(self) -> None:
        """Re-run each SELECT under EXPLAIN ANALYZE now, on the data the block saw."""
        for model in self.models:
            table = model._meta.db_table
            self.counted[model] = sum(
                rows_read(sql, table)
                for sql in self.queries
                if sql.lstrip().upper().startswith(("SELECT", "WITH")) and table in sql
            )

    def of(self, model) -> int:
        return self.counted[model]


@contextmanager
def reads(*models):
    """The rows of `models`' tables the SELECTs of a block read (Reads.of(model)), measured as
    the block ends."""
    if not models:
        models = (CollectionRun,)
    found = Reads(models)
    with CaptureQueriesContext(connection) as captured:
        yield found
    found.queries = [q["sql"] for q in captured.captured_queries]
    found.measure()


SHORT, LONG = 4, 120  # runs per (account, source): one day, then a month of history
ACCOUNTS = 20


def rows_read_at_two_sizes(work) -> tuple[int, int]:
    """The runs `work(accounts)` reads with SHORT runs per account and source, then LONG."""
    accounts = make_accounts(ACCOUNTS)
    add_history(accounts, runs_per_source=SHORT)
    analyze(CollectionRun)
    with reads() as short:
        work(accounts)
    add_history(accounts, runs_per_source=LONG - SHORT)
    analyze(CollectionRun)
    with reads() as long:
        work(accounts)
    return short.of(CollectionRun), long.of(CollectionRun)


def assert_bounded(short: int, long: int) -> None:
    # 30x the history: what a page of rows or a per-account "latest" needs stays about the same.
    assert long <= 2 * max(short, 1), (
        f"read {short} runs with {SHORT} per source, {long} with {LONG} per source"
    )
