"""``SharedDigest``: one run's reads and renderings, so that each person's digest costs a
fixed few queries whatever the number of people (what is the same for everyone read once,
what is each person's own read for all of them together, shared sections rendered once)."""

from collections.abc import Iterable
from datetime import datetime
from functools import cached_property

from django.template.backends.django import Template
from django.template.loader import get_template
from django.utils import timezone

from accounts.models import User
from accounts.permissions import Role, roles_of
from findings.audit.checkpoints import latest_checkpoints
from findings.models import AuditCheckpoint, ReviewCycle, ReviewItem
from findings.notifications.digests.contents import CycleLine, FailureLine
from findings.notifications.digests.news import (
    TOLD_PREFIX,
    News,
    NewsSection,
    high_risk_news,
    news_overlap,
    news_section,
)
from findings.notifications.digests.sections import (
    _cycle_line,
    failing_collections,
    unassigned_count,
)
from findings.notifications.reminders import (
    Reminder,
    approver_reminders,
    assigned_items,
    assignee_reminders,
    escalations,
    forbidden_sign_offs,
    open_cycles_with_progress,
    sent_reminder_keys,
    told_findings,
    unanswered_by_cycle,
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
