"""The news in a digest: open critical and high findings first seen or reopened in a person's
window (which reaches back a little before their last digest), their lines, and what is left
untold to them, with the keys that record what they were told."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.urls import reverse

from findings.models import Finding, FindingEvent, Severity
from findings.notifications.digests.common import _absolute
from findings.notifications.digests.contents import FindingLine

NEW_FINDINGS_LIMIT = 20
HIGH_RISK = (Severity.CRITICAL, Severity.HIGH)
# A detection dates what it finds when it starts and commits it when it ends, so a finding can
# become visible after a digest that is later than its date. Each person's window therefore
# reaches back this far before their last digest, and what they were already told is not
# repeated. Longer than a detection can take: its task is killed after CELERY_TASK_TIME_LIMIT.
NEWS_OVERLAP_AT_LEAST = timedelta(hours=2)


def news_overlap() -> timedelta:
    return max(NEWS_OVERLAP_AT_LEAST, timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT))


TOLD_PREFIX = "finding:"


@dataclass(frozen=True)
class News:
    """An open critical or high finding that is news: first seen, or reopened, `at`."""

    finding_id: int
    severity_rank: int
    at: datetime
    reopened: bool
    why: str = ""  # why it is back, where not reopened

    @property
    def key(self) -> str:
        """What is told to a person once (SentReminder): a finding that reopens is news again."""
        return f"{TOLD_PREFIX}{self.finding_id}:{int(self.at.timestamp())}"


def high_risk_news(*, start: datetime, now: datetime) -> list[News]:
    """Open critical and high findings first seen, or reopened, in (start, now]: the most
    severe first, then the newest. Two queries; only findings that ever reopened are looked
    up in their events."""
    first_seen = Finding.objects.filter(
        status=Finding.Status.OPEN,
        severity__in=HIGH_RISK,
        first_seen_at__gt=start,
        first_seen_at__lte=now,
    ).order_by()
    news = {
        pk: News(pk, rank, at, reopened=False)
        for pk, rank, at in first_seen.values_list("pk", "severity_rank", "first_seen_at")
    }
    # Back: reopened (resolved, then seen again), or its exclusion ended.
    back = FindingEvent.objects.filter(
        Q(kind=FindingEvent.Kind.REOPENED, finding__times_reopened__gt=0)
        | Q(kind=FindingEvent.Kind.INCLUDED),
        at__gt=start,
        at__lte=now,
        finding__status=Finding.Status.OPEN,
        finding__severity__in=HIGH_RISK,
    ).order_by()
    for pk, rank, at, kind in back.values_list(
        "finding_id", "finding__severity_rank", "at", "kind"
    ):
        if pk not in news or news[pk].at < at:
            news[pk] = News(
                pk, rank, at, reopened=True, why="exclusion ended" if kind == "included" else ""
            )
    return sorted(
        news.values(), key=lambda one: (one.severity_rank, -one.at.timestamp(), one.finding_id)
    )


def finding_lines(*, news: Sequence[News]) -> list[FindingLine]:
    """The lines of these findings, in their order: one query."""
    findings = Finding.objects.select_related("account").in_bulk([one.finding_id for one in news])
    return [
        FindingLine(
            title=f"{finding.title} ({one.why or 'reopened'})" if one.reopened else finding.title,
            severity=finding.severity,
            resource_name=finding.resource_name,
            account=str(finding.account),
            first_seen_at=finding.first_seen_at,
            url=_absolute(reverse("finding", args=[finding.pk])),
        )
        for one in news
        if (finding := findings.get(one.finding_id)) is not None
    ]


@dataclass
class NewsSection:
    lines: list[FindingLine]
    more: int
    told: list[str]


def news_section(
    *, news: Sequence[News], told_before: Collection[str], now: datetime
) -> NewsSection:
    """The news a person was not told yet: the first few as lines and how many more, and the
    keys to record once told: the lines that the next window (from `now`) still reaches.

    Only lines are recorded, so that a burst (a new Organization's first detection) costs at
    most NEW_FINDINGS_LIMIT records per person: a line is never listed twice, but "and N more"
    can count again some of what arrived in the overlap before this digest."""
    untold = [one for one in news if one.key not in told_before]
    listed = untold[:NEW_FINDINGS_LIMIT]
    reach = now - news_overlap()
    lines = finding_lines(news=listed)
    return NewsSection(
        lines=lines,
        more=len(untold) - len(lines),
        told=[one.key for one in listed if one.at > reach],
    )
