"""The numbers /metrics exposes, read in a fixed number of queries whatever the data."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from accounts.models import DigestPreference
from findings.models import AwsAccount, CollectionRun, Finding, ReviewCycle, Source
from findings.models.runs import ACTIVE_STATUSES

RUNS_WINDOW = timedelta(days=1)


@dataclass
class Snapshot:
    last_success: dict[tuple[str, str], datetime] = field(default_factory=dict)
    runs_by_status: dict[str, int] = field(default_factory=dict)
    open_findings: dict[str, int] = field(default_factory=dict)
    overdue_cycles: int = 0
    open_cycles: int = 0
    digests_last_day: int = 0
    digests_sent: int = 0
    last_digest_at: datetime | None = None


def metrics_snapshot(*, now: datetime | None = None) -> Snapshot:
    """Five queries."""
    now = now or timezone.now()
    snapshot = Snapshot()
    sources = list(Source.values)
    successes = CollectionRun.objects.filter(
        account=OuterRef("pk"), status=CollectionRun.Status.SUCCEEDED
    ).order_by("-finished_at")
    # Per account and source, the first entry down run_latest_success: never the whole history.
    last = AwsAccount.objects.values_list(
        "account_id",
        *(
            Subquery(successes.filter(source=source).values("finished_at")[:1])
            for source in sources
        ),
    )
    snapshot.last_success = {
        (account_id, source): at
        for account_id, *ats in last
        for source, at in zip(sources, ats, strict=True)
        if at is not None
    }
    # The last day's runs (down run_recent) and the ones still queued or running whatever their
    # age (the claim's partial index): what a scrape every minute needs, not a count of years.
    snapshot.runs_by_status = dict(
        CollectionRun.objects.filter(
            Q(created_at__gte=now - RUNS_WINDOW) | Q(status__in=ACTIVE_STATUSES)
        )
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    snapshot.open_findings = dict(
        Finding.objects.filter(status=Finding.Status.OPEN)
        .values_list("severity")
        .annotate(n=Count("id"))
        .order_by()
    )
    cycles = ReviewCycle.objects.filter(state=ReviewCycle.State.OPEN).aggregate(
        open=Count("id"), overdue=Count("id", filter=Q(due_on__lt=timezone.localdate(now)))
    )
    snapshot.open_cycles, snapshot.overdue_cycles = cycles["open"], cycles["overdue"]
    digests = DigestPreference.objects.aggregate(
        recent=Count("id", filter=Q(last_sent_at__gte=now - timedelta(days=1))),
        last=Max("last_sent_at"),
        sent=Sum("emails_sent"),
    )
    snapshot.digests_last_day, snapshot.last_digest_at = digests["recent"], digests["last"]
    snapshot.digests_sent = digests["sent"] or 0
    return snapshot
