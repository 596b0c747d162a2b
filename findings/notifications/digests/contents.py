"""What a digest holds: one person's ``Digest`` and its lines (items assigned to them, cycles,
failing collections, new findings), with the counts and the subject's parts that the
templates show."""

from dataclasses import dataclass, field
from datetime import date, datetime

from accounts.models import User
from findings.models import AuditCheckpoint
from findings.notifications.reminders import Reminder


def _plural(count: int, singular: str, plural_form: str = "") -> str:
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


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
