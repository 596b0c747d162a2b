"""Email digests: what each person should know, by role, sent on the schedule they chose.

Reviewers hear about the items assigned to them, approvers about the cycles they can sign off,
administrators and auditors about overdue cycles and failing collections, and everyone about
new (and reopened) critical and high findings, each once. Nothing to say means no email.
"""

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db.models import F, Q, QuerySet
from django.template.backends.django import Template
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone

from accounts.models import DigestPreference, User
from accounts.permissions import ROLE_CAPABILITIES, Capability, Role, roles_of
from findings.audit.checkpoints import latest_checkpoints
from findings.collection.status import collection_status
from findings.models import (
    AuditCheckpoint,
    AwsAccount,
    Finding,
    FindingEvent,
    ReviewCycle,
    ReviewItem,
    Severity,
)
from findings.notifications.reminders import (
    Reminder,
    approver_reminders,
    assigned_items,
    assignee_reminders,
    escalations,
    forbidden_sign_offs,
    forget_sent,
    mark_sent,
    mark_told,
    open_cycles_with_progress,
    sent_reminder_keys,
    told_findings,
    unanswered_by_cycle,
)

logger = logging.getLogger(__name__)

NEW_FINDINGS_LIMIT = 20
ITEMS_PER_CYCLE = 10
FIRST_DIGEST_LOOKBACK = timedelta(days=7)
WEEKLY = timedelta(days=7)
# A weekly digest skips its Monday when one went out this close before it (a newcomer's first,
# a catch-up after a missed Monday, one a reminder brought): never two within a few days.
WEEKLY_MIN_GAP = timedelta(days=3)
HIGH_RISK = (Severity.CRITICAL, Severity.HIGH)
# A detection dates what it finds when it starts and commits it when it ends, so a finding can
# become visible after a digest that is later than its date. Each person's window therefore
# reaches back this far before their last digest, and what they were already told is not
# repeated. Longer than a detection can take: its task is killed after CELERY_TASK_TIME_LIMIT.
NEWS_OVERLAP_AT_LEAST = timedelta(hours=2)
# How long the findings told to a person are remembered (longer than a weekly period).
TOLD_KEPT = timedelta(days=35)


def news_overlap() -> timedelta:
    return max(NEWS_OVERLAP_AT_LEAST, timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT))


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _plural(count: int, singular: str, plural_form: str = "") -> str:
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


# --- What a digest holds ------------------------------------------------------------------------


@dataclass
class ItemLine:
    title: str
    severity: str
    url: str


@dataclass
class AssignedCycle:
    title: str
    due_on: date
    overdue: bool
    count: int
    items: list[ItemLine]
    url: str

    @property
    def more(self) -> int:
        return self.count - len(self.items)


@dataclass
class CycleLine:
    pk: int
    title: str
    due_on: date
    overdue: bool
    undecided: int
    url: str


@dataclass
class FailureLine:
    account: str
    source: str
    failed_at: datetime | None
    error: str
    url: str


@dataclass
class FindingLine:
    title: str
    severity: str
    resource_name: str
    account: str
    first_seen_at: datetime
    url: str


@dataclass
class Digest:
    user: User
    now: datetime
    since: datetime
    frequency: str
    assigned: list[AssignedCycle] = field(default_factory=list)
    unassigned: int = 0
    awaiting_sign_off: list[CycleLine] = field(default_factory=list)
    overdue_cycles: list[CycleLine] = field(default_factory=list)
    failures: list[FailureLine] = field(default_factory=list)
    new_findings: list[FindingLine] = field(default_factory=list)
    more_findings: int = 0
    # The news told in this digest that the next one's window still reaches: recorded when the
    # email went, so that it is not told twice.
    told: list[str] = field(default_factory=list)
    # For auditors: the audit log's head as written outside the database, to keep a copy of.
    checkpoints: list[AuditCheckpoint] = field(default_factory=list)
    # Reminders repeat what the sections say, at the moments that matter (never alone).
    reminders: list[Reminder] = field(default_factory=list)

    @property
    def assigned_count(self) -> int:
        return sum(cycle.count for cycle in self.assigned)

    @property
    def assigned_overdue(self) -> int:
        return sum(cycle.count for cycle in self.assigned if cycle.overdue)

    @property
    def new_findings_count(self) -> int:
        return len(self.new_findings) + self.more_findings

    def counts(self) -> dict[str, int]:
        return {
            "assigned": self.assigned_count,
            "unassigned": self.unassigned,
            "sign_off": len(self.awaiting_sign_off),
            "overdue_cycles": len(self.overdue_cycles),
            "failures": len(self.failures),
            "new_findings": self.new_findings_count,
        }

    @property
    def headline(self) -> list[str]:
        """The subject's parts, most pressing first."""
        parts = []
        if self.assigned_count:
            overdue = f" ({self.assigned_overdue} overdue)" if self.assigned_overdue else ""
            parts.append(f"{_plural(self.assigned_count, 'item')} assigned to you{overdue}")
        if self.awaiting_sign_off:
            parts.append(f"{_plural(len(self.awaiting_sign_off), 'cycle')} to sign off")
        if self.overdue_cycles:
            parts.append(_plural(len(self.overdue_cycles), "overdue cycle"))
        if self.failures:
            parts.append(_plural(len(self.failures), "failing collection"))
        if self.new_findings_count:
            parts.append(_plural(self.new_findings_count, "new high-risk finding"))
        if self.unassigned and not parts:
            parts.append(f"{_plural(self.unassigned, 'unassigned item')} in open cycles")
        if self.checkpoints and not parts:
            parts.append("audit log checkpoint")
        return parts

    @property
    def is_empty(self) -> bool:
        return not any(self.counts().values()) and not self.checkpoints


# --- Reading each section -----------------------------------------------------------------------


def _preference_of(user: User) -> DigestPreference:
    """The person's preference, or the default (weekly, never sent) when they never chose."""
    try:
        return user.digest_preference
    except DigestPreference.DoesNotExist:
        return DigestPreference(user=user)


def _assigned_to(items: Sequence[ReviewItem], *, today: date) -> list[AssignedCycle]:
    """The person's undecided items (see assigned_items) by cycle, the earliest due first."""
    cycles: dict[int, AssignedCycle] = {}
    for item in items:
        cycle = item.cycle
        group = cycles.get(cycle.pk)
        if group is None:
            group = cycles[cycle.pk] = AssignedCycle(
                title=cycle.title,
                due_on=cycle.due_on,
                overdue=cycle.due_on < today,
                count=0,
                items=[],
                url=_absolute(reverse("review_cycle", args=[cycle.pk]))
                + "?assignee=me&status=undecided",
            )
        group.count += 1
        if len(group.items) < ITEMS_PER_CYCLE:
            group.items.append(
                ItemLine(
                    title=item.title,
                    severity=item.severity or "clean",
                    url=_absolute(reverse("review_item", args=[item.pk])),
                )
            )
    return list(cycles.values())


def unassigned_count() -> int:
    return ReviewItem.objects.filter(
        cycle__state=ReviewCycle.State.OPEN, is_decided=False, assignee=None
    ).count()


def _cycle_line(cycle: ReviewCycle, *, today: date, anchor: str = "") -> CycleLine:
    """From one of open_cycles_with_progress()."""
    return CycleLine(
        pk=cycle.pk,
        title=cycle.title,
        due_on=cycle.due_on,
        overdue=cycle.due_on < today,
        undecided=cycle.undecided,
        url=_absolute(reverse("review_cycle", args=[cycle.pk])) + anchor,
    )


def failing_collections(*, now: datetime) -> list[FailureLine]:
    """Each enabled (account, source) whose latest run failed."""
    statuses = collection_status(accounts=AwsAccount.objects.filter(enabled=True), now=now)
    return [
        FailureLine(
            account=str(status.account),
            source=source.label,
            failed_at=source.latest.finished_at or source.latest.created_at,
            error=(source.latest.error.strip().splitlines() or [""])[0][:300],
            url=_absolute(reverse("aws_account", args=[status.account.pk])),
        )
        for status in statuses
        for source in status.sources
        if source.latest is not None and source.latest.status == "failed"
    ]


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


class SharedDigest:
    """One run's reads and renderings, so that each person costs little and always the same.

    What is the same for everyone is read at most once (on first use). New findings and audit
    checkpoints depend on each person's last digest; people sent together share that moment,
    so they are kept per `since` (and the new findings also per what was already told, which
    people sent together share too). What is each person's own (assigned items, the cycles
    they may not sign, their reminders, the findings they were told of) is read for all the
    run's `people` at once, on first use; a person the run did not know of is read along.
    Sections that are the same for many people are rendered once for each distinct content.
    """

    def __init__(self, *, now: datetime, people: Iterable[User] = ()):
        self.now = now
        self.today = timezone.localdate(now)
        self._people = {user.pk: user for user in people}
        self._unassigned: int | None = None
        self._open_cycles: list[ReviewCycle] | None = None
        self._failures: list[FailureLine] | None = None
        self._news: dict[datetime, tuple[list[News], frozenset[str]]] = {}
        self._news_sections: dict[tuple[datetime, frozenset[str]], NewsSection] = {}
        self._checkpoints: dict[datetime, list[AuditCheckpoint]] = {}
        self._read: set[int] = set()
        self._assigned: dict[int, list[ReviewItem]] = {}
        self._forbidden: dict[int, set[int]] = {}
        self._reminders: dict[int, list[Reminder]] = {}
        self._told: dict[int, set[str]] = {}
        self._templates: dict[str, Template] = {}
        self._sections: dict[tuple, tuple[dict, str, str]] = {}

    # What is the same for everyone.

    @property
    def unassigned(self) -> int:
        if self._unassigned is None:
            self._unassigned = unassigned_count()
        return self._unassigned

    @property
    def open_cycles(self) -> list[ReviewCycle]:
        """Open cycles with their undecided count, earliest due first: one query."""
        if self._open_cycles is None:
            self._open_cycles = list(open_cycles_with_progress().order_by("due_on", "pk"))
        return self._open_cycles

    @cached_property
    def ready_to_sign(self) -> list[CycleLine]:
        return [
            _cycle_line(cycle, today=self.today, anchor="#sign-off")
            for cycle in self.open_cycles
            if cycle.undecided == 0
        ]

    @cached_property
    def overdue_cycles(self) -> list[CycleLine]:
        return [
            _cycle_line(cycle, today=self.today)
            for cycle in self.open_cycles
            if cycle.due_on < self.today
        ]

    @cached_property
    def escalations(self) -> list[Reminder]:
        return escalations(cycles=self.open_cycles, today=self.today)

    @property
    def failures(self) -> list[FailureLine]:
        if self._failures is None:
            self._failures = failing_collections(now=self.now)
        return self._failures

    def news(self, *, since: datetime, user: User) -> NewsSection:
        """The new and reopened high-risk findings of the window from `since` (less the
        overlap, see news_overlap) that this person was not told yet."""
        if since not in self._news:
            news = high_risk_news(start=since - news_overlap(), now=self.now)
            self._news[since] = (news, frozenset(one.key for one in news))
        news, keys = self._news[since]
        self._read_own(user)
        told_before = frozenset(self._told.get(user.pk, set()) & keys)
        if (since, told_before) not in self._news_sections:
            self._news_sections[(since, told_before)] = news_section(
                news=news, told_before=told_before, now=self.now
            )
        return self._news_sections[(since, told_before)]

    def checkpoints(self, *, since: datetime) -> list[AuditCheckpoint]:
        if since not in self._checkpoints:
            self._checkpoints[since] = latest_checkpoints(since=since)
        return self._checkpoints[since]

    # What is each person's own, read for everyone at once.

    def add_people(self, *, people: Iterable[User]) -> None:
        self._people.update((user.pk, user) for user in people if user.pk not in self._read)

    def assigned_items(self, *, user: User) -> list[ReviewItem]:
        self._read_own(user)
        return self._assigned.get(user.pk, [])

    def may_sign(self, *, user: User) -> list[CycleLine]:
        """The cycles ready for sign-off that this approver may sign (check_may_sign_off)."""
        self._read_own(user)
        forbidden = self._forbidden.get(user.pk, set())
        return [line for line in self.ready_to_sign if line.pk not in forbidden]

    def reminders(self, *, user: User) -> list[Reminder]:
        """The reminders this person should get now and has not had yet."""
        self._read_own(user)
        return self._reminders[user.pk]

    def _read_own(self, user: User) -> None:
        """Each unread person's own parts, in a few queries whatever their number."""
        if user.pk in self._read:
            return
        self._people.setdefault(user.pk, user)
        people = [person for person in self._people.values() if person.pk not in self._read]
        roles = {person.pk: set(roles_of(person)) for person in people}
        reviewers = [pk for pk, held in roles.items() if Role.REVIEWER in held]
        approvers = [pk for pk, held in roles.items() if Role.APPROVER in held]
        if reviewers:
            self._assigned.update(assigned_items(assignee_ids=reviewers))
        ready = [cycle for cycle in self.open_cycles if cycle.undecided == 0] if approvers else []
        self._forbidden.update(
            forbidden_sign_offs(approver_ids=approvers, cycle_ids=[cycle.pk for cycle in ready])
        )
        candidates: dict[int, list[Reminder]] = {}
        for pk, held in roles.items():
            reminders = candidates[pk] = []
            if Role.REVIEWER in held:
                by_cycle = unanswered_by_cycle(items=self._assigned.get(pk, []))
                reminders += assignee_reminders(by_cycle=by_cycle, today=self.today)
            if Role.APPROVER in held:
                forbidden = self._forbidden.get(pk, set())
                reminders += approver_reminders(
                    cycles=[cycle for cycle in ready if cycle.pk not in forbidden]
                )
            if Role.ADMINISTRATOR in held:
                reminders += self.escalations
        sent = sent_reminder_keys(
            user_ids=[pk for pk, reminders in candidates.items() if reminders],
            keys={reminder.key for reminders in candidates.values() for reminder in reminders},
        )
        for pk, reminders in candidates.items():
            self._reminders[pk] = [r for r in reminders if (pk, r.key) not in sent]
        self._told.update(told_findings(user_ids=list(roles), prefix=TOLD_PREFIX))
        self._read.update(roles)

    # Rendering.

    def template(self, *, name: str) -> Template:
        if name not in self._templates:
            self._templates[name] = get_template(name)
        return self._templates[name]

    def section(self, *, name: str, context: dict) -> tuple[str, str]:
        """The partial `name` of the digest's text and HTML templates, rendered once for each
        distinct context. Lists count by identity: they are the shared lines read above, kept
        alive by this cache so that no other list can take their id."""
        key = (name, *(tuple(map(id, v)) if isinstance(v, list) else v for v in context.values()))
        if key not in self._sections:
            self._sections[key] = (
                context,
                self.template(name=f"emails/digest.txt#{name}").render(context),
                self.template(name=f"emails/digest.html#{name}").render(context),
            )
        _, text, html = self._sections[key]
        return text, html


def digest_for(*, user: User, now: datetime, shared: SharedDigest | None = None) -> Digest | None:
    """What this person should hear about now, by their roles; None when there is nothing.

    With `shared` (one per run), what is the same for everyone is read once, and what is each
    person's own is read for all of the run's people together: no query per person.
    """
    shared = shared or SharedDigest(now=now)
    roles = set(roles_of(user))
    if not (user.is_active and roles):
        return None
    preference = _preference_of(user)
    digest = Digest(
        user=user,
        now=now,
        since=preference.last_sent_at or now - FIRST_DIGEST_LOOKBACK,
        frequency=preference.frequency,
    )
    if Role.REVIEWER in roles:
        digest.assigned = _assigned_to(shared.assigned_items(user=user), today=shared.today)
        digest.unassigned = shared.unassigned
    if Role.APPROVER in roles:
        digest.awaiting_sign_off = shared.may_sign(user=user)
    if roles & {Role.APPROVER, Role.ADMINISTRATOR, Role.AUDITOR}:
        # A cycle the approver can sign off is listed there, overdue or not.
        listed = {line.pk for line in digest.awaiting_sign_off}
        overdue = shared.overdue_cycles
        digest.overdue_cycles = (
            [line for line in overdue if line.pk not in listed] if listed else overdue
        )
    if roles & {Role.ADMINISTRATOR, Role.AUDITOR}:
        digest.failures = shared.failures
    if Role.AUDITOR in roles:
        digest.checkpoints = shared.checkpoints(since=digest.since)
    if user.is_superuser or any(Capability.VIEW in ROLE_CAPABILITIES[role] for role in roles):
        news = shared.news(since=digest.since, user=user)
        digest.new_findings, digest.more_findings, digest.told = news.lines, news.more, news.told
    if preference.frequency != DigestPreference.Frequency.OFF:
        digest.reminders = shared.reminders(user=user)
    return None if digest.is_empty else digest


# --- Who is due, and sending ----------------------------------------------------------------------


def is_due(*, frequency: str, last_sent_at: datetime | None, now: datetime) -> bool:
    """Daily: once a day from DIGEST_HOUR. Weekly: on Mondays from DIGEST_HOUR, unless one went
    out in the few days before (WEEKLY_MIN_GAP); when a Monday was missed, any day from
    DIGEST_HOUR once 7 days have passed. A new person's first comes at once."""
    if frequency == DigestPreference.Frequency.OFF:
        return False
    local = timezone.localtime(now)
    if local.hour < settings.DIGEST_HOUR:
        return False
    if last_sent_at is None:
        return True
    if frequency == DigestPreference.Frequency.DAILY:
        return timezone.localdate(last_sent_at) < local.date()
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=settings.DIGEST_HOUR, minute=0, second=0, microsecond=0
    )
    if last_sent_at >= monday - WEEKLY_MIN_GAP:
        return False  # this week's went, or stands in for it
    return local.weekday() == 0 or now - last_sent_at >= WEEKLY


def people_with_digests(*, email: str | None = None) -> QuerySet[User]:
    """Active people with a role and an email address."""
    people = (
        User.objects.filter(is_active=True, groups__name__in=[role.value for role in Role])
        .exclude(email="")
        .select_related("digest_preference")
        .prefetch_related("groups")
        .distinct()
        .order_by("email")
    )
    if email:
        people = people.with_email(email)
    return people


def _has_reminders(user: User, *, shared: SharedDigest) -> bool:
    """A reminder makes the digest due, from DIGEST_HOUR, unless the person turned digests off."""
    if _preference_of(user).frequency == DigestPreference.Frequency.OFF:
        return False
    if timezone.localtime(shared.now).hour < settings.DIGEST_HOUR:
        return False
    return bool(shared.reminders(user=user))


def due_people(
    *,
    now: datetime,
    force: bool = False,
    email: str | None = None,
    shared: SharedDigest | None = None,
) -> list[User]:
    """The people whose digest is due now. With `shared`, the run's: it learns who they all are,
    so that their own parts (reminders here, the rest later) are read together."""
    people = list(people_with_digests(email=email))
    shared = shared or SharedDigest(now=now)
    shared.add_people(people=people)
    return [
        user
        for user in people
        if force
        or is_due(
            frequency=_preference_of(user).frequency,
            last_sent_at=_preference_of(user).last_sent_at,
            now=now,
        )
        or _has_reminders(user, shared=shared)
    ]


def _email_context(digest: Digest, *, shared: SharedDigest) -> tuple[dict, dict]:
    """The text and HTML templates' contexts. Sections that many people share come rendered
    (the HTML ones escaped by the template engine, see SharedDigest.section)."""
    findings_url = _absolute(reverse("findings"))
    shared_sections = {
        "awaiting_sign_off": {"cycles": digest.awaiting_sign_off},
        "overdue_cycles": {"cycles": digest.overdue_cycles},
        "failures": {"failures": digest.failures},
        "new_findings": {
            "findings": digest.new_findings,
            "count": digest.new_findings_count,
            "more": digest.more_findings,
            "since": digest.since,
            "findings_url": findings_url,
        },
        "checkpoints": {"checkpoints": digest.checkpoints},
    }
    text_sections, html_sections = {}, {}
    for name, context in shared_sections.items():
        text_sections[name], html_sections[name] = shared.section(name=name, context=context)
    common = {
        "digest": digest,
        "profile_url": _absolute(reverse("profile")),
        "review_url": _absolute(reverse("review")),
        "findings_url": findings_url,
    }
    return {**common, "sections": text_sections}, {**common, "sections": html_sections}


def digest_subject(*, digest: Digest, shared: SharedDigest | None = None) -> str:
    # One line, whatever the template's line breaks: a header cannot hold a newline.
    shared = shared or SharedDigest(now=digest.now)
    subject = shared.template(name="emails/digest.subject.txt").render({"digest": digest})
    return " ".join(subject.split())


def digest_email(
    *,
    digest: Digest,
    connection: BaseEmailBackend | None = None,
    shared: SharedDigest | None = None,
) -> EmailMultiAlternatives:
    """The person's email, text and HTML. Pass the run's `shared` to render what people share
    once."""
    shared = shared or SharedDigest(now=digest.now)
    text_context, html_context = _email_context(digest, shared=shared)
    message = EmailMultiAlternatives(
        subject=digest_subject(digest=digest, shared=shared),
        body=shared.template(name="emails/digest.txt").render(text_context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[digest.user.email],
        connection=connection,
        headers={
            "Auto-Submitted": "auto-generated",
            # Mail clients offer "unsubscribe": it opens where the person sets their digest.
            "List-Unsubscribe": f"<{_absolute(reverse('profile'))}#digest-heading>",
        },
    )
    html = shared.template(name="emails/digest.html").render(html_context)
    message.attach_alternative(html, "text/html")
    return message


def claim(*, preference: DigestPreference, now: datetime, counting: bool = False) -> bool:
    """Mark this period's digest as handled, unless another run already did (compare-and-set).

    With `counting`, the email about to go is counted in the same write (give_back_claim
    undoes both if it fails)."""
    changes = {"last_sent_at": now}
    if counting:
        changes["emails_sent"] = F("emails_sent") + 1
    return bool(
        DigestPreference.objects.filter(
            pk=preference.pk, last_sent_at=preference.last_sent_at
        ).update(**changes)
    )


def give_back_claim(*, preference: DigestPreference, now: datetime) -> None:
    """After a failed send: the period is not handled after all, and the email not sent."""
    DigestPreference.objects.filter(pk=preference.pk, last_sent_at=now).update(
        last_sent_at=preference.last_sent_at, emails_sent=F("emails_sent") - 1
    )


def send_due_digests(
    *, now: datetime | None = None, force: bool = False, email: str | None = None
) -> int:
    """Send each due person their digest over one connection; returns how many went.

    Idempotent: a person's period is claimed (last_sent_at) before sending, so a second run
    finds nobody due. Whatever goes wrong with one person (the mail server or SES refusing,
    a malformed address, their digest failing to build) is logged, their claim is given back
    so that the next run tries again, and the others still get theirs. A person with nothing
    to say gets no email, and their period counts as handled.

    Whatever the number of people, the reads are a fixed few for the whole run, and so is
    recording the findings told; each person costs their claim and, with reminders, marking
    them sent.
    """
    now = now or timezone.now()
    shared = SharedDigest(now=now)
    people = due_people(now=now, force=force, email=email, shared=shared)
    if not people:
        return 0
    missing = [user for user in people if _preference_of(user).pk is None]
    if missing:
        DigestPreference.objects.bulk_create(
            [DigestPreference(user=user) for user in missing], ignore_conflicts=True
        )
    preferences = {
        preference.user_id: preference
        for preference in DigestPreference.objects.filter(user__in=people)
    }
    sent = 0
    told: list[tuple[int, str]] = []
    try:
        with get_connection() as connection:
            for user in people:
                preference = preferences[user.pk]
                user.digest_preference = preference
                try:
                    digest = digest_for(user=user, now=now, shared=shared)
                    message = (
                        digest_email(digest=digest, connection=connection, shared=shared)
                        if digest
                        else None
                    )
                except Exception:
                    logger.exception("Digest for %s could not be made; will try again", user.email)
                    continue
                if not claim(preference=preference, now=now, counting=message is not None):
                    continue
                if message is None:
                    continue
                try:
                    message.send()
                except Exception:  # SMTP, SES (AnymailError), a malformed address (ValueError)
                    logger.exception("Digest to %s failed; it will be tried again", user.email)
                    give_back_claim(preference=preference, now=now)
                    _reconnect(connection)
                    continue
                mark_sent(user=user, reminders=digest.reminders, now=now)
                told += [(user.pk, key) for key in digest.told]
                sent += 1
    finally:
        # Together for the run: at worst (a crash before this) a few findings are told twice.
        mark_told(told=told, now=now)
        # Read back only while a window reaches them: a long-idle person's next digest at
        # worst repeats the few findings of their last one's overlap.
        forget_sent(prefix=TOLD_PREFIX, before=now - TOLD_KEPT)
    return sent


def _reconnect(connection) -> None:
    """After a failure the SMTP session may be unusable: start a fresh one for the others."""
    try:
        connection.close()
        connection.open()
    except Exception:
        logger.exception("Could not reconnect to the mail server")
