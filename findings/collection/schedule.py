"""Which (account, source) pairs are due, and how fresh each one's data is."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, Subquery

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
    sources = list(Source.values)

    def runs(source: str):
        return CollectionRun.objects.filter(account=OuterRef("pk"), source=source)

    # Per account and source, one probe of an index each (the latest attempt down
    # (account, source, -created_at); an active run in the partial unique index of the claim),
    # never the whole history.
    accounts = AwsAccount.objects.filter(enabled=True).annotate(
        **{
            f"last_{n}": Subquery(
                runs(source).exclude(never_started).order_by("-created_at").values("created_at")[:1]
            )
            for n, source in enumerate(sources)
        },
        **{
            f"active_{n}": Exists(runs(source).filter(status__in=ACTIVE_STATUSES))
            for n, source in enumerate(sources)
        },
        # Ordered, so that it walks the same index (an unordered EXISTS walked the account's
        # whole history on the account_id index).
        principals_read_at=Subquery(
            runs(Source.AUTHORIZATION_DETAILS)
            .filter(status=CollectionRun.Status.SUCCEEDED)
            .order_by("-created_at")
            .values("created_at")[:1]
        ),
    )
    due = []
    for account in accounts:
        for n, source in enumerate(sources):
            if source == Source.SERVICE_LAST_ACCESSED and account.principals_read_at is None:
                continue
            if getattr(account, f"active_{n}"):
                continue
            last = getattr(account, f"last_{n}")
            if last is None or now - last >= interval(source=source):
                due.append((account, source))
    return due


def is_stale(*, source: str, finished_at: datetime | None, now: datetime) -> bool:
    """Data older than twice its interval deserves a warning."""
    return finished_at is not None and now - finished_at > 2 * interval(source=source)
