"""What collection looks like now: per account and source, the latest run and last success."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import QuerySet

from findings.collection.schedule import interval, is_stale
from findings.models import AwsAccount, CollectionRun, Source

RECENT_RUNS = 50
ACCOUNT_RECENT_RUNS = 20
# Counts that say what a run saw; the rest (created, updated, ...) say what changed.
CHANGE_SUFFIXES = ("created", "updated", "gone", "unchanged")
# Postgres (jsonb) keeps no key order: name what was seen in the order people read it.
SEEN_ORDER = ["rows", "users", "groups", "roles", "policies", "principals", "services"]
NOT_SHOWN = (
    "documents",
    "api_pages",
    "unread_more",
    "no_document_total",
    "aws_managed_written",
    "aws_managed_older_total",
    "aws_managed_withdrawn",
)


def counts_summary(*, counts: dict) -> str:
    """A run's counts in words: "7 rows; 2 new, 1 changed; findings 3 opened"."""
    numbers = {name: value for name, value in counts.items() if isinstance(value, int)}
    seen_names = [n for n in numbers if not n.endswith(CHANGE_SUFFIXES) and n not in NOT_SHOWN]
    seen_names.sort(key=lambda n: (SEEN_ORDER.index(n) if n in SEEN_ORDER else 99, n))
    seen = [f"{numbers[name]} {name.replace('_', ' ')}" for name in seen_names]
    changes = [
        f"{total} {word}"
        for suffix, word in (("created", "new"), ("updated", "changed"), ("gone", "gone"))
        if (total := sum(v for k, v in numbers.items() if k.endswith(suffix)))
    ]
    detection = counts.get("detection") if isinstance(counts.get("detection"), dict) else {}
    findings = [
        f"{detection[key]} {key}"
        for key in ("opened", "reopened", "resolved")
        if isinstance(detection.get(key), int) and detection[key]
    ]
    parts = [", ".join(seen)] if seen else []
    if changes:
        parts.append(", ".join(changes))
    elif seen:
        parts.append("no change")
    if findings:
        parts.append("findings " + ", ".join(findings))
    unlisted = counts.get("not_in_file")
    if isinstance(unlisted, list) and unlisted:
        named = [str(kind) for kind in unlisted]
        listed = ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else named[0]
        parts.append(
            f"no {listed} in the file: the stored ones kept as they were (to record that "
            "none are left, import it as a complete snapshot)"
        )
    unknown = counts.get("no_document")
    total = counts.get("no_document_total")
    if isinstance(unknown, list) and unknown and isinstance(total, int):
        named = ", ".join(str(arn) for arn in unknown)
        more = f" and {total - len(unknown)} more" if total > len(unknown) else ""
        parts.append(
            f"{total} attached managed {'policy has' if total == 1 else 'policies have'} no "
            f"document, in the file or from an earlier collection ({named}{more}): what "
            f"{'it grants' if total == 1 else 'they grant'} is not judged. Export without "
            "--filter (or add AWSManagedPolicy), or collect the account live"
        )
    older = counts.get("aws_managed_older")
    total = counts.get("aws_managed_older_total")
    if isinstance(older, list) and older and isinstance(total, int):
        named = ", ".join(str(arn).rsplit("/", 1)[-1] for arn in older)
        more = f" and {total - len(older)} more" if total > len(older) else ""
        parts.append(
            f"{total} AWS-managed {'policy' if total == 1 else 'policies'} in the file "
            f"({named}{more}) {'is' if total == 1 else 'are'} older than the stored "
            f"{'version' if total == 1 else 'versions'}, which every account is judged "
            f"against: {'it was' if total == 1 else 'they were'} not stored"
        )
    withdrawn = counts.get("aws_managed_withdrawn")
    if isinstance(withdrawn, int) and withdrawn:
        one = withdrawn == 1
        parts.append(
            f"{withdrawn} AWS-managed {'policy' if one else 'policies'} no longer listed by "
            f"AWS (withdrawn): marked gone, {'its' if one else 'their'} document kept for the "
            "principals that still have it"
        )
    return "; ".join(parts)


def _duration_text(delta: timedelta | None) -> str:
    if delta is None:
        return ""
    seconds = round(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@dataclass
class SourceStatus:
    source: Source
    latest: CollectionRun | None
    last_success: CollectionRun | None
    every: timedelta
    stale: bool

    @property
    def label(self) -> str:
        return self.source.label

    @property
    def is_active(self) -> bool:
        return self.latest is not None and self.latest.is_active

    @property
    def every_hours(self) -> int:
        return int(self.every.total_seconds() // 3600)

    @property
    def stale_after_hours(self) -> int:
        return 2 * self.every_hours

    @property
    def summary(self) -> str:
        return counts_summary(counts=self.last_success.counts) if self.last_success else ""


@dataclass
class AccountStatus:
    account: AwsAccount
    sources: list[SourceStatus]

    @property
    def is_active(self) -> bool:
        return any(source.is_active for source in self.sources)


@dataclass
class RunRow:
    run: CollectionRun
    summary: str
    took: str


# Per (account, source): the latest run that counts and the latest success. Sources come as a
# UNION ALL of parameters (PostgreSQL and SQLite alike); each subquery walks the
# (account, source, -created_at) index.
LATEST_RUNS_SQL = """
SELECT a.id, s.source,
    (SELECT r.id FROM {runs} r
     WHERE r.account_id = a.id AND r.source = s.source
       AND NOT (r."trigger" = %s AND r.status = %s)
     ORDER BY r.created_at DESC LIMIT 1),
    (SELECT r.id FROM {runs} r
     WHERE r.account_id = a.id AND r.source = s.source AND r.status = %s
     ORDER BY r.created_at DESC LIMIT 1)
FROM {accounts} a CROSS JOIN ({sources}) s
WHERE a.id IN ({ids})
"""


def collection_status(*, accounts: QuerySet, now: datetime) -> list[AccountStatus]:
    """Every account with the latest run and the last success of each source, in three queries
    (the accounts; the run ids per account and source, in one statement; those runs).

    Runs of one (account, source) never overlap (the claim), so the newest created is also the
    last finished. A rejected file import stored nothing: it is an import problem (shown on the
    runs list and the import page), not the state of the collection.
    """
    sources = list(Source)
    rows = list(accounts)
    latest: dict[tuple[int, str], tuple[int | None, int | None]] = {}
    if rows:
        sql = LATEST_RUNS_SQL.format(
            runs=CollectionRun._meta.db_table,
            accounts=AwsAccount._meta.db_table,
            sources=" UNION ALL ".join(["SELECT %s AS source"] * len(sources)),
            ids=", ".join(["%s"] * len(rows)),
        )
        params = [
            CollectionRun.Trigger.IMPORT,
            CollectionRun.Status.FAILED,
            CollectionRun.Status.SUCCEEDED,
            *(source.value for source in sources),
            *(account.pk for account in rows),
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)  # fixed table names; every value is a parameter
            for account_id, source, latest_id, success_id in cursor.fetchall():
                latest[(account_id, source)] = (latest_id, success_id)
    run_ids = {pk for pair in latest.values() for pk in pair} - {None}
    runs = CollectionRun.objects.in_bulk(run_ids)
    every = {source: interval(source=source) for source in sources}
    statuses = []
    for account in rows:
        per_source = []
        for source in sources:
            latest_id, success_id = latest.get((account.pk, source.value), (None, None))
            success = runs.get(success_id)
            per_source.append(
                SourceStatus(
                    source=source,
                    latest=runs.get(latest_id),
                    last_success=success,
                    every=every[source],
                    stale=account.enabled
                    and is_stale(
                        source=source,
                        finished_at=success.finished_at if success else None,
                        now=now,
                    ),
                )
            )
        statuses.append(AccountStatus(account=account, sources=per_source))
    return statuses


def recent_runs(*, account: AwsAccount | None = None, limit: int) -> list[RunRow]:
    # The newest first, down an index (run_recent, run_recent_of_account): the first `limit`
    # rows, never a sort of the whole history.
    runs = CollectionRun.objects.select_related("account", "requested_by").order_by(
        "-created_at", "-id"
    )
    if account is not None:
        runs = runs.filter(account=account)
    return [
        RunRow(
            run=run, summary=counts_summary(counts=run.counts), took=_duration_text(run.duration)
        )
        for run in runs[:limit]
    ]
