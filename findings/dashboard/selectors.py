"""Read functions for the dashboard: what needs attention, in a fixed number of queries."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.cache import cache
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, TruncWeek
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.permissions import Capability, can
from findings.collection.status import collection_status
from findings.detection.selectors import (
    COUNTS_TTL_SECONDS,
    FindingFilters,
    findings_version,
    severity_counts,
)
from findings.models import AwsAccount, Finding, FindingEvent, ReviewCycle, ReviewItem
from findings.models.findings import TREND_EVENT_KINDS, Severity
from findings.notifications.reminders import forbidden_sign_offs
from findings.reviews.tally import cycle_tally

TREND_WEEKS = 12
CHART_WIDTH = 600
CHART_HEIGHT = 140


@dataclass
class SeverityBar:
    severity: str
    label: str
    count: int
    width: int  # in chart units, for an SVG rect (no inline styles under our CSP)


def _severity_bars(counts: dict[str, int]) -> list[SeverityBar]:
    biggest = max(counts.values(), default=0) or 1
    return [
        SeverityBar(
            severity=value,
            label=label,
            count=counts.get(value, 0),
            width=round(CHART_WIDTH * 0.7 * counts.get(value, 0) / biggest),
        )
        for value, label in Severity.choices
    ]


@dataclass
class TrendWeek:
    start: date
    opened: int
    resolved: int
    x: int
    opened_y: int
    resolved_y: int


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


# A finding closed because its region is no longer monitored was not fixed: its "resolved"
# event is the only one written with no run and a note (detect.py: a fix names the run that
# showed it, or has no note), so the trend leaves it out, and counts the fix when one comes.
# (A fix after such a closure shown by another account's analyzer only, with no Access Analyzer
# run of the finding's own account, has neither and is left out too.)
REGION_CLOSURE = Q(kind="resolved", run=None) & ~Q(note="")


def _events_by_week(*, first: date, version: str) -> list[dict]:
    """Opened, reopened and resolved events per week since `first`: one grouped query over the
    events of those weeks (from local midnight, by the trend's index on `at`), run once per
    state of the findings (any new event moves the version), not per page."""
    key = f"iamreview:dashboard-trend:{first.isoformat()}:{version}"
    rows = cache.get(key)
    if rows is None:
        since = timezone.make_aware(datetime.combine(first, time.min))
        rows = list(
            FindingEvent.objects.filter(kind__in=TREND_EVENT_KINDS, at__gte=since)
            .exclude(REGION_CLOSURE)
            .annotate(week=TruncWeek("at"))
            .values("week", "kind")
            .annotate(n=Count("id"))
        )
        cache.set(key, rows, COUNTS_TTL_SECONDS)
    return rows


def finding_trend(*, now: datetime, version: str | None = None) -> list[TrendWeek]:
    """Findings opened and resolved per week over the last weeks (one grouped query, cached)."""
    first = _week_start(timezone.localdate(now)) - timedelta(weeks=TREND_WEEKS - 1)
    rows = _events_by_week(first=first, version=version or findings_version())
    opened: dict[date, int] = {}
    resolved: dict[date, int] = {}
    for row in rows:
        week = row["week"].date() if isinstance(row["week"], datetime) else row["week"]
        target = resolved if row["kind"] == "resolved" else opened
        target[week] = target.get(week, 0) + row["n"]
    weeks = [first + timedelta(weeks=i) for i in range(TREND_WEEKS)]
    biggest = max([*opened.values(), *resolved.values(), 1])
    step = CHART_WIDTH // (TREND_WEEKS - 1)
    usable = CHART_HEIGHT - 20
    return [
        TrendWeek(
            start=week,
            opened=opened.get(week, 0),
            resolved=resolved.get(week, 0),
            x=i * step,
            opened_y=CHART_HEIGHT - 10 - round(usable * opened.get(week, 0) / biggest),
            resolved_y=CHART_HEIGHT - 10 - round(usable * resolved.get(week, 0) / biggest),
        )
        for i, week in enumerate(weeks)
    ]


def _points(trend: list[TrendWeek], attribute: str) -> str:
    return " ".join(f"{week.x},{getattr(week, attribute)}" for week in trend)


@dataclass
class CycleSummary:
    cycle: ReviewCycle
    total: int
    decided: int
    overdue: bool
    mine: int

    @property
    def percent(self) -> int:
        return round(100 * self.decided / self.total) if self.total else 100

    @property
    def waiting_for_sign_off(self) -> bool:
        return self.total == self.decided and self.cycle.state == ReviewCycle.State.OPEN


def open_cycles(*, user: User, today: date) -> list[CycleSummary]:
    """Open cycles with progress from their tallies; only "mine" counts items (the person's own
    undecided assignments, by the assignee index), never a whole cycle."""
    cycles = (
        ReviewCycle.objects.filter(state=ReviewCycle.State.OPEN)
        .select_related("tally")
        .annotate(
            # A correlated count over the person's own undecided items (the assignee index),
            # not a join over every item of every open cycle.
            mine=Coalesce(
                Subquery(
                    ReviewItem.objects.filter(cycle=OuterRef("pk"), assignee=user, is_decided=False)
                    .order_by()
                    .values("cycle")
                    .annotate(n=Count("id"))
                    .values("n")
                ),
                0,
            )
        )
        .order_by("due_on", "pk")
    )
    summaries = []
    for cycle in cycles:
        tally = cycle_tally(cycle=cycle)  # loaded with the cycle (select_related)
        cycle.unassigned = tally.unassigned
        summaries.append(
            CycleSummary(
                cycle=cycle,
                total=tally.total,
                decided=tally.decided,
                overdue=cycle.due_on < today,
                mine=cycle.mine,
            )
        )
    return summaries


# Collection health changes as runs start and finish: read at most every 15 seconds.
HEALTH_TTL_SECONDS = 15
TOP_FINDINGS = 6


def collection_health(*, now: datetime) -> dict:
    """Accounts collected, sources whose latest run failed, sources gone stale or never
    collected: for every
    person alike, so read once per HEALTH_TTL_SECONDS, not per dashboard view."""
    health = cache.get("iamreview:dashboard-health")
    if health is None:
        statuses = collection_status(accounts=AwsAccount.objects.filter(enabled=True), now=now)
        health = {
            # Accounts with something collected; those with nothing at all are named.
            "accounts": sum(
                1 for status in statuses if any(s.last_success for s in status.sources)
            ),
            "accounts_never_collected": [
                status.account
                for status in statuses
                if not any(s.last_success for s in status.sources)
            ],
            "failing_sources": [
                (status.account, source)
                for status in statuses
                for source in status.sources
                if source.latest is not None and source.latest.status == "failed"
            ],
            "stale_sources": sum(
                1 for status in statuses for source in status.sources if source.stale
            ),
            # Not "fresh" either: detection has nothing from them (an account whose users,
            # roles and policies never came has no policy checks at all).
            "never_collected": sum(
                1 for status in statuses for source in status.sources if source.last_success is None
            ),
        }
        cache.set("iamreview:dashboard-health", health, HEALTH_TTL_SECONDS)
    return health


def top_findings(*, version: str | None = None) -> list[Finding]:
    """The most severe open findings, newest first: per state of the findings (cached)."""
    key = f"iamreview:dashboard-top:{version or findings_version()}"
    rows = cache.get(key)
    if rows is None:
        rows = list(
            Finding.objects.filter(status=Finding.Status.OPEN)
            # Archived in Access Analyzer: someone marked the access intended. Still open to
            # review (monthly queue, Findings page), not what needs attention first.
            .exclude(aws_status="ARCHIVED")
            .select_related("account")
            .defer("evidence", "thresholds")
            .order_by("severity_rank", "-first_seen_at")[:TOP_FINDINGS]
        )
        cache.set(key, rows, COUNTS_TTL_SECONDS)
    return rows


def _my_items_url(cycles: list) -> str:
    mine = [c for c in cycles if c.mine]
    if len(mine) == 1:
        cycle = mine[0].cycle.pk
        return reverse("review_cycle", args=[cycle]) + "?assignee=me&status=undecided"
    return reverse("review")


def _may_sign(*, user: User, cycles: list) -> list:
    """The cycles waiting for sign-off that this person may sign: an approver, and not one who
    decided items in it or whose own identity it reviews (segregation of duties, as the sign-off
    itself and the digest check it)."""
    if not can(user, Capability.SIGN_OFF):
        return []
    waiting = [c for c in cycles if c.waiting_for_sign_off]
    if not waiting:
        return []
    forbidden = forbidden_sign_offs(
        approver_ids=[user.pk], cycle_ids=[c.cycle.pk for c in waiting]
    ).get(user.pk, set())
    return [c for c in waiting if c.cycle.pk not in forbidden]


def dashboard_context(*, user: User) -> dict:
    now = timezone.now()
    today = timezone.localdate(now)
    version = findings_version()  # one look-up for the counts, the trend and the top findings
    # The Findings page's cached counts (open findings, no filter): counted once per change.
    counts = {
        severity: n
        for severity, n in severity_counts(filters=FindingFilters(), version=version).items()
        if n
    }
    # What is set aside, from the same cache (the Findings page's "excluded" counts): an
    # exclusion moves the version (its findings get an "excluded" event), so this follows it.
    excluded = severity_counts(filters=FindingFilters(status="excluded"), version=version)
    health = collection_health(now=now)
    trend = finding_trend(now=now, version=version)
    cycles = open_cycles(user=user, today=today)
    return {
        # Keys of the template's cached fragments (the charts, the top findings).
        "findings_version": version,
        "today": today.isoformat(),
        "open_total": sum(counts.values()),
        "severity_bars": _severity_bars(counts),
        "excluded_total": sum(excluded.values()),
        "excluded_critical": excluded.get(Severity.CRITICAL, 0),
        "excluded_by_severity": [
            (value, label, n) for value, label in Severity.choices if (n := excluded.get(value))
        ],
        "trend": trend,
        "trend_opened_points": _points(trend, "opened_y"),
        "trend_resolved_points": _points(trend, "resolved_y"),
        "trend_opened_total": sum(w.opened for w in trend),
        "trend_resolved_total": sum(w.resolved for w in trend),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "cycles": cycles,
        "my_items": sum(c.mine for c in cycles),
        # Where they are: the one cycle's queue filtered to them, else the list of cycles.
        "my_items_url": _my_items_url(cycles),
        "sign_off_waiting": _may_sign(user=user, cycles=cycles),
        **health,
        "top_findings": top_findings(version=version),
        # Per cycle, so that the dashboard links straight to each queue's unassigned items.
        "unassigned_by_cycle": [
            {"cycle_id": s.cycle.pk, "cycle__title": s.cycle.title, "count": s.cycle.unassigned}
            for s in cycles
            if s.cycle.unassigned
        ]
        if can(user, Capability.DECIDE)
        else [],
    }
