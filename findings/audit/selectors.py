"""Reading the audit log for investigations: actions in words, targets as links, filters."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from findings.models import AuditEntry

ACTION_WORDS = {
    "aws_account.added": "Added an AWS account",
    "aws_account.updated": "Changed an AWS account",
    "aws_account.discovered_change": "Organization discovery changed an account",
    "collection.requested": "Requested a collection",
    "evidence.imported": "Imported a file",
    "cycle.release_updated": "Updated a release's review cycle",
    "cycle.opened": "Opened a review cycle",
    "cycle.signed_off": "Signed off a review cycle",
    "cycle.no_response": "Marked undecided items “no response” at the due date",
    "cycle.population_mismatch": "Found a cycle's frozen population altered (hash kept)",
    "evidence_pack.exported": "Downloaded a cycle's evidence pack",
    "decision.recorded": "Recorded a decision",
    "items.assigned": "Assigned review items",
    "remediation.verified": "Remediation verified by fresh data",
    "risk.expired": "An accepted risk expired",
    "exclusion.created": "Created an exclusion",
    "exclusion.ended": "Ended an exclusion",
    "role.granted": "Granted a role",
    "role.revoked": "Revoked a role",
    "identity.linked": "Linked an IAM identity to a person",
    "identity.unlinked": "Unlinked an IAM identity from a person",
    "token.created": "Created an API token",
    "token.revoked": "Revoked an API token",
    "digest.preference_changed": "Changed the email digest frequency",
    "group.renamed": "Renamed a role group",
    "user.password_set": "Set another person's password",
    "user.password_changed": "Changed a password",
    "user.sessions_ended": "Ended a deactivated person's browser sessions",
    "aws_account.scps_changed": "The organization's SCPs on an account changed",
}
# The page of each kind of target whose id is its primary key.
TARGET_PAGES = {
    "aws_account": "aws_account",
    "review_cycle": "review_cycle",
    "review_item": "review_item",
}


def action_words(*, action: str) -> str:
    return ACTION_WORDS.get(action, action.replace("_", " ").replace(".", ": ").capitalize())


def target_url(*, target_type: str, target_id: str) -> str:
    """The page of the audited thing, when it has one."""
    name = TARGET_PAGES.get(target_type)
    if not name or not str(target_id).isdigit():
        return ""
    try:
        return reverse(name, args=[int(target_id)])
    except NoReverseMatch:
        return ""


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""  # part of the actor's email (or "system")
    action: str = ""
    target: str = ""  # part of the target's label, or its id
    since: date | None = None
    until: date | None = None


def parse_audit_filters(*, params: Mapping[str, str]) -> tuple[AuditFilters, dict[str, str]]:
    """Filters from a query string, and what could not be read (field: message)."""
    errors: dict[str, str] = {}

    def day(name: str) -> date | None:
        value = (params.get(name) or "").strip()
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            errors[name] = f"“{value[:20]}” is not a date: use YYYY-MM-DD."
            return None

    filters = AuditFilters(
        actor=(params.get("actor") or "").strip()[:254],
        action=(params.get("action") or "").strip()[:80],
        target=(params.get("target") or "").strip()[:200],
        since=day("since"),
        until=day("until"),
    )
    if filters.since and filters.until and filters.since > filters.until:
        errors["until"] = "The end of the date range is before its start."
        # Left out, as the page says: the entries shown are those of the other filters.
        filters = replace(filters, until=None)
    return filters, errors


OPEN_START = date.min + timedelta(days=1)
OPEN_END = date.max - timedelta(days=1)


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_entries(*, filters: AuditFilters) -> QuerySet[AuditEntry]:
    """Entries matching the filters, newest first."""
    entries = AuditEntry.objects.select_related("actor").order_by("-id")
    if filters.actor:
        entries = entries.filter(actor_label__icontains=filters.actor)
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.target:
        entries = entries.filter(
            Q(target_label__icontains=filters.target) | Q(target_id=filters.target)
        )
    # A day at either end of the calendar is an open end (the start of 0001-01-01 in a zone
    # east of UTC, or the day after 9999-12-31, is no datetime Python has).
    if filters.since and filters.since > OPEN_START:
        entries = entries.filter(at__gte=_start_of(filters.since))
    if filters.until and filters.until < OPEN_END:
        entries = entries.filter(at__lt=_start_of(filters.until + timedelta(days=1)))
    return entries


def audit_actions() -> list[tuple[str, str]]:
    """(action, words) of every action in the log, in order: read by skipping from one action
    to the next along the index on it (a recursive query, one index probe per action), never
    the whole log, which is never purged and grows by every decision of every cycle."""
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE actions(action) AS ("  # noqa: S608 - the table's own name
            f" SELECT MIN(action) FROM {table}"
            " UNION ALL"
            f" SELECT (SELECT MIN(action) FROM {table} WHERE action > actions.action)"
            " FROM actions WHERE actions.action IS NOT NULL"
            ") SELECT action FROM actions WHERE action IS NOT NULL"
        )
        actions = [action for (action,) in cursor.fetchall()]
    return [(action, action_words(action=action)) for action in actions]


def audit_records(*, entries: QuerySet[AuditEntry], chunk_size: int = 2000) -> Iterator[dict]:
    """Rows for the CSV export, read from a server-side cursor as they are written: every
    field an investigator needs, hashes included, for a log of any length in flat memory."""
    for entry in entries.select_related(None).iterator(chunk_size=chunk_size):
        yield {
            "id": entry.pk,
            "at": entry.at.isoformat(),
            "actor": entry.actor_label,
            "action": entry.action,
            "action_words": action_words(action=entry.action),
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "target_label": entry.target_label,
            "before": entry.before,
            "after": entry.after,
            "entry_hash": entry.entry_hash,
            "previous_hash": entry.previous_hash,
        }
