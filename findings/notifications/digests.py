"""Email digests: what each person should know, by role, sent on the schedule they chose.

Reviewers hear about the items assigned to them, approvers about the cycles they can sign off,
administrators and auditors about overdue cycles and failing collections, and everyone about
new critical and high findings. Nothing to say means no email.
"""

import logging
import smtplib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db.models import Count, F, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import DigestPreference, LinkedIdentity, User
from accounts.permissions import ROLE_CAPABILITIES, Capability, Role, roles_of
from findings.audit.checkpoints import latest_checkpoints
from findings.collection.status import collection_status
from findings.models import (
    AuditCheckpoint,
    AwsAccount,
    Decision,
    Finding,
    ReviewCycle,
    ReviewItem,
    Severity,
)
from findings.notifications.reminders import Reminder, mark_sent, pending_reminders

logger = logging.getLogger(__name__)

NEW_FINDINGS_LIMIT = 20
ITEMS_PER_CYCLE = 10
FIRST_DIGEST_LOOKBACK = timedelta(days=7)
WEEKLY = timedelta(days=7)
HIGH_RISK = (Severity.CRITICAL, Severity.HIGH)


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


def _assigned_to(user: User, *, today: date) -> list[AssignedCycle]:
    """Undecided items assigned to the person, by cycle, the earliest due (overdue) first."""
    items = (
        ReviewItem.objects.filter(
            assignee=user, is_decided=False, cycle__state=ReviewCycle.State.OPEN
        )
        .select_related("cycle")
        .only("title", "severity", "cycle__title", "cycle__due_on")
        .order_by("cycle__due_on", "cycle_id", "severity_rank", "title", "id")
    )
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
    return CycleLine(
        pk=cycle.pk,
        title=cycle.title,
        due_on=cycle.due_on,
        overdue=cycle.due_on < today,
        undecided=cycle.undecided,
        url=_absolute(reverse("review_cycle", args=[cycle.pk])) + anchor,
    )


def open_cycles_with_progress() -> QuerySet[ReviewCycle]:
    return ReviewCycle.objects.filter(state=ReviewCycle.State.OPEN).annotate(
        undecided=Count("items", filter=Q(items__is_decided=False, items__no_response_at=None))
    )


def _cycles_to_sign_off(user: User, *, shared: "SharedDigest") -> list[CycleLine]:
    """Open cycles with every item decided that this approver may sign off: not those where
    they decided items, nor those reviewing their own IAM identity (check_may_sign_off).

    The candidates are read once per run; one query per approver finds the forbidden ones."""
    candidates = shared.ready_to_sign
    if not candidates:
        return []
    ids = [line.pk for line in candidates]
    decided_by_them = Decision.objects.filter(decided_by=user, item__cycle_id__in=ids).values(
        "item__cycle_id"
    )
    about_them = ReviewItem.objects.filter(
        cycle_id__in=ids,
        subject_arn__in=LinkedIdentity.objects.filter(user=user).values("arn"),
    ).values("cycle_id")
    forbidden = set(
        ReviewCycle.objects.filter(pk__in=ids)
        .filter(Q(pk__in=decided_by_them) | Q(pk__in=about_them))
        .values_list("pk", flat=True)
    )
    return [line for line in candidates if line.pk not in forbidden]


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


def new_high_risk_findings(*, since: datetime, now: datetime) -> tuple[list[FindingLine], int]:
    """Open critical and high findings first seen in (since, now]: the first few and the rest."""
    findings = Finding.objects.filter(
        status=Finding.Status.OPEN,
        severity__in=HIGH_RISK,
        first_seen_at__gt=since,
        first_seen_at__lte=now,
    )
    total = findings.count()
    shown = findings.select_related("account").order_by("severity_rank", "-first_seen_at", "pk")
    lines = [
        FindingLine(
            title=finding.title,
            severity=finding.severity,
            resource_name=finding.resource_name,
            account=str(finding.account),
            first_seen_at=finding.first_seen_at,
            url=_absolute(reverse("finding", args=[finding.pk])),
        )
        for finding in shown[:NEW_FINDINGS_LIMIT]
    ]
    return lines, total - len(lines)


class SharedDigest:
    """What is the same for everyone in one run, each part read at most once (on first use).

    New findings depend on each person's last digest; people sent together share that moment,
    so the lists are kept per `since`.
    """

    def __init__(self, *, now: datetime):
        self.now = now
        self.today = timezone.localdate(now)
        self._unassigned: int | None = None
        self._open_cycles: list[CycleLine] | None = None
        self._failures: list[FailureLine] | None = None
        self._new_findings: dict[datetime, tuple[list[FindingLine], int]] = {}

    @property
    def unassigned(self) -> int:
        if self._unassigned is None:
            self._unassigned = unassigned_count()
        return self._unassigned

    @property
    def open_cycles(self) -> list[CycleLine]:
        """Open cycles with their undecided count, earliest due first: one query."""
        if self._open_cycles is None:
            cycles = open_cycles_with_progress().order_by("due_on", "pk")
            self._open_cycles = [_cycle_line(cycle, today=self.today) for cycle in cycles]
        return self._open_cycles

    @property
    def ready_to_sign(self) -> list[CycleLine]:
        return [
            replace(line, url=line.url + "#sign-off")
            for line in self.open_cycles
            if line.undecided == 0
        ]

    @property
    def overdue_cycles(self) -> list[CycleLine]:
        return [line for line in self.open_cycles if line.overdue]

    @property
    def failures(self) -> list[FailureLine]:
        if self._failures is None:
            self._failures = failing_collections(now=self.now)
        return self._failures

    def new_findings(self, *, since: datetime) -> tuple[list[FindingLine], int]:
        if since not in self._new_findings:
            self._new_findings[since] = new_high_risk_findings(since=since, now=self.now)
        return self._new_findings[since]


def digest_for(*, user: User, now: datetime, shared: SharedDigest | None = None) -> Digest | None:
    """What this person should hear about now, by their roles; None when there is nothing.

    With `shared` (one per run), what is the same for everyone is read once; what is this
    person's own (assigned items, cycles they may not sign) costs at most two queries.
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
        digest.assigned = _assigned_to(user, today=shared.today)
        digest.unassigned = shared.unassigned
    if Role.APPROVER in roles:
        digest.awaiting_sign_off = _cycles_to_sign_off(user, shared=shared)
    if roles & {Role.APPROVER, Role.ADMINISTRATOR, Role.AUDITOR}:
        # A cycle the approver can sign off is listed there, overdue or not.
        listed = {line.pk for line in digest.awaiting_sign_off}
        digest.overdue_cycles = [line for line in shared.overdue_cycles if line.pk not in listed]
    if roles & {Role.ADMINISTRATOR, Role.AUDITOR}:
        digest.failures = shared.failures
    if Role.AUDITOR in roles:
        digest.checkpoints = latest_checkpoints(since=digest.since)
    if user.is_superuser or any(Capability.VIEW in ROLE_CAPABILITIES[role] for role in roles):
        digest.new_findings, digest.more_findings = shared.new_findings(since=digest.since)
    if preference.frequency != DigestPreference.Frequency.OFF:
        digest.reminders = pending_reminders(user=user, now=now)
    return None if digest.is_empty else digest


# --- Who is due, and sending ----------------------------------------------------------------------


def is_due(*, frequency: str, last_sent_at: datetime | None, now: datetime) -> bool:
    """Daily: once a day from DIGEST_HOUR. Weekly: on Mondays from DIGEST_HOUR, or any day
    from DIGEST_HOUR once 7 days have passed without one (a new person, a missed Monday)."""
    if frequency == DigestPreference.Frequency.OFF:
        return False
    local = timezone.localtime(now)
    if local.hour < settings.DIGEST_HOUR:
        return False
    sent_today = last_sent_at is not None and timezone.localdate(last_sent_at) >= local.date()
    if frequency == DigestPreference.Frequency.DAILY:
        return not sent_today
    if local.weekday() == 0 and not sent_today:
        return True
    return last_sent_at is None or now - last_sent_at >= WEEKLY


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
        people = people.filter(email__iexact=email.strip())
    return people


def _has_reminders(user: User, *, now: datetime) -> bool:
    """A reminder makes the digest due, from DIGEST_HOUR, unless the person turned digests off."""
    if _preference_of(user).frequency == DigestPreference.Frequency.OFF:
        return False
    if timezone.localtime(now).hour < settings.DIGEST_HOUR:
        return False
    return bool(pending_reminders(user=user, now=now))


def due_people(*, now: datetime, force: bool = False, email: str | None = None) -> list[User]:
    return [
        user
        for user in people_with_digests(email=email)
        if force
        or is_due(
            frequency=_preference_of(user).frequency,
            last_sent_at=_preference_of(user).last_sent_at,
            now=now,
        )
        or _has_reminders(user, now=now)
    ]


def _email_context(digest: Digest) -> dict:
    return {
        "digest": digest,
        "profile_url": _absolute(reverse("profile")),
        "review_url": _absolute(reverse("review")),
        "findings_url": _absolute(reverse("findings")),
    }


def digest_subject(*, digest: Digest) -> str:
    # One line, whatever the template's line breaks: a header cannot hold a newline.
    return " ".join(render_to_string("emails/digest.subject.txt", _email_context(digest)).split())


def digest_email(
    *, digest: Digest, connection: BaseEmailBackend | None = None
) -> EmailMultiAlternatives:
    context = _email_context(digest)
    message = EmailMultiAlternatives(
        subject=digest_subject(digest=digest),
        body=render_to_string("emails/digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[digest.user.email],
        connection=connection,
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(render_to_string("emails/digest.html", context), "text/html")
    return message


def claim(*, preference: DigestPreference, now: datetime) -> bool:
    """Mark this period's digest as handled, unless another run already did (compare-and-set)."""
    return bool(
        DigestPreference.objects.filter(
            pk=preference.pk, last_sent_at=preference.last_sent_at
        ).update(last_sent_at=now)
    )


def send_due_digests(
    *, now: datetime | None = None, force: bool = False, email: str | None = None
) -> int:
    """Send each due person their digest over one SMTP connection; returns how many went.

    Idempotent: a person's period is claimed (last_sent_at) before sending, so a second run
    finds nobody due. A failed send gives the claim back, so the next run tries again; it is
    logged and the others still get theirs. A person with nothing to say gets no email, and
    their period counts as handled.
    """
    now = now or timezone.now()
    people = due_people(now=now, force=force, email=email)
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
    shared = SharedDigest(now=now)
    sent = 0
    with get_connection() as connection:
        for user in people:
            preference = preferences[user.pk]
            user.digest_preference = preference
            digest = digest_for(user=user, now=now, shared=shared)
            message = digest_email(digest=digest, connection=connection) if digest else None
            if not claim(preference=preference, now=now) or message is None:
                continue
            try:
                message.send()
            except (smtplib.SMTPException, OSError):
                logger.exception("Digest to %s failed; it will be tried again", user.email)
                DigestPreference.objects.filter(pk=preference.pk, last_sent_at=now).update(
                    last_sent_at=preference.last_sent_at
                )
                _reconnect(connection)
                continue
            DigestPreference.objects.filter(pk=preference.pk).update(
                emails_sent=F("emails_sent") + 1
            )
            mark_sent(user=user, reminders=digest.reminders, now=now)
            sent += 1
    return sent


def _reconnect(connection) -> None:
    """After a failure the SMTP session may be unusable: start a fresh one for the others."""
    try:
        connection.close()
        connection.open()
    except (smtplib.SMTPException, OSError):
        logger.exception("Could not reconnect to the mail server")
