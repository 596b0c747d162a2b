"""The numbers /metrics exposes, read in a fixed number of queries whatever the data."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from accounts.models import DigestPreference
from findings.models import CollectionRun, Finding, ReviewCycle


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
    last = (
        CollectionRun.objects.filter(status=CollectionRun.Status.SUCCEEDED)
        .values("account__account_id", "source")
        .annotate(at=Max("finished_at"))
    )
    snapshot.last_success = {(r["account__account_id"], r["source"]): r["at"] for r in last}
    snapshot.runs_by_status = dict(
        CollectionRun.objects.values_list("status").annotate(n=Count("id")).order_by()
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
