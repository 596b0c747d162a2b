"""Which (account, source) pairs are due, and how fresh each one's data is."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q

from findings.models import AwsAccount, CollectionRun, Source
from findings.models.runs import ACTIVE_STATUSES


def interval(*, source: str) -> timedelta:
    hours = {
        Source.CREDENTIAL_REPORT: settings.COLLECT_CREDENTIAL_REPORT_HOURS,
        Source.AUTHORIZATION_DETAILS: settings.COLLECT_AUTHORIZATION_DETAILS_HOURS,
        Source.ACCESS_ANALYZER: settings.COLLECT_ACCESS_ANALYZER_HOURS,
        Source.SERVICE_LAST_ACCESSED: settings.COLLECT_SERVICE_LAST_ACCESSED_HOURS,
    }[Source(source)]
    return timedelta(hours=hours)


def due_pairs(*, now: datetime) -> list[tuple[AwsAccount, str]]:
    """Enabled accounts' sources whose last attempt is older than their interval, and that
    have no run queued or running (a queued run waits its turn; another would only pile up
    behind it).

    Failed attempts count as attempts, so a broken account is retried once per interval rather
    than every few minutes; a run that failed without ever starting (its task could not be sent
    to a worker) asked AWS nothing, so it is no attempt and the source is due at the next tick.
    Service last-accessed asks about the stored users and roles: it waits for an account's
    first successful collection of them, instead of failing beside it and waiting a whole
    interval to try again.
    """
    never_started = Q(status=CollectionRun.Status.FAILED, started_at=None)
    runs = {
        (row["account_id"], row["source"]): row
        for row in CollectionRun.objects.values("account_id", "source").annotate(
            last=Max("created_at", filter=~never_started),
            active=Count("pk", filter=Q(status__in=ACTIVE_STATUSES)),
        )
    }
    with_principals = CollectionRun.objects.accounts_collected(source=Source.AUTHORIZATION_DETAILS)
    due = []
    for account in AwsAccount.objects.filter(enabled=True):
        for source in Source.values:
            if source == Source.SERVICE_LAST_ACCESSED and account.pk not in with_principals:
                continue
            row = runs.get((account.pk, source), {"last": None, "active": 0})
            if row["active"]:
                continue
            if row["last"] is None or now - row["last"] >= interval(source=source):
                due.append((account, source))
    return due


def is_stale(*, source: str, finished_at: datetime | None, now: datetime) -> bool:
    """Data older than twice its interval deserves a warning."""
    return finished_at is not None and now - finished_at > 2 * interval(source=source)
