"""Read functions for findings: filtering shared by the Findings page, exports, CLI and API."""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, OrderBy, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.functions import Cast, Lower

from findings.detection.checks import CHECKS_BY_ID
from findings.detection.detect import AA_PREFIX, AA_TYPES
from findings.models import AwsAccount, CollectionRun, Finding, FindingEvent
from findings.models.findings import SEVERITY_RANK
from findings.models.rawrows import (
    Columns,
    converted,
    converters_of,
    fetch,
    placeholders,
    table,
)

SORTS = {
    "severity": ["severity_rank", "-first_seen_at", "id"],
    "-severity": ["-severity_rank", "-first_seen_at", "id"],
    "first_seen": ["first_seen_at", "id"],
    "-first_seen": ["-first_seen_at", "-id"],
    "resource": ["resource_name", "id"],
    "-resource": ["-resource_name", "-id"],
    "account": ["account__name", "severity_rank", "id"],
    "check": ["check_id", "severity_rank", "id"],
}
STATUSES = ["open", "resolved", "excluded", "all"]
# SQLite (`make run`) compares text byte by byte: "Zeta-api" came before "alpha". PostgreSQL
# compares by the database's collation, which for the usual ones (en_US.UTF-8) reads past case.
# These columns are compared lower-cased on SQLite only: on PostgreSQL the statement, and so
# its plan, stays as it was (no index of Finding's serves the resource sort there either).
CASELESS_ON_SQLITE = {"resource_name", "account__name"}


@dataclass
class FindingFilters:
    account: str = ""
    check: str = ""
    severity: str = ""
    status: str = "open"
    q: str = ""
    sort: str = "severity"

    @classmethod
    def from_params(cls, params) -> "FindingFilters":
        # Stripped as the API's validation strips them, so that its count and list agree.
        status = (params.get("status") or "").strip() or "open"
        sort = (params.get("sort") or "").strip() or "severity"
        severity = (params.get("severity") or "").strip()
        return cls(
            account=(params.get("account") or "").strip(),
            check=(params.get("check") or "").strip(),
            # Unknown values fall back, as status and sort do: the form shows what is applied.
            severity=severity if severity in SEVERITY_RANK else "",
            status=status if status in STATUSES else "open",
            q=(params.get("q") or "").strip()[:200],
            sort=sort if sort in SORTS else "severity",
        )

    def as_params(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


def _latest_success_at(account_ref) -> Subquery:
    return Subquery(
        CollectionRun.objects.filter(account=account_ref, status=CollectionRun.Status.SUCCEEDED)
        .order_by("-finished_at")
        .values("finished_at")[:1]
    )


def with_evidence_seen_at(*, findings: QuerySet[Finding]) -> QuerySet[Finding]:
    """Annotate when the account's evidence was last collected (one index probe per row)."""
    return findings.annotate(evidence_seen_at=_latest_success_at(OuterRef("account_id")))


def last_seen(*, finding: Finding) -> datetime:
    """Detection does not rewrite an unchanged finding, so a finding still open was last seen
    by the account's latest successful collection; a resolved one by its own column."""
    if finding.status == Finding.Status.RESOLVED:
        return finding.last_seen_at
    if hasattr(finding, "evidence_seen_at"):
        collected = finding.evidence_seen_at
    else:
        collected = (
            CollectionRun.objects.filter(
                account_id=finding.account_id, status=CollectionRun.Status.SUCCEEDED
            )
            .order_by("-finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
    return _seen(status=finding.status, last_seen_at=finding.last_seen_at, collected=collected)


def _seen(*, status: str, last_seen_at: datetime, collected: datetime | None) -> datetime:
    """A finding's own "last seen", or, while it is not resolved, its account's latest
    successful collection when that is later."""
    if status != Finding.Status.RESOLVED and collected and collected > last_seen_at:
        return collected
    return last_seen_at


def filtered_findings(*, filters: FindingFilters, with_status: bool = True) -> QuerySet[Finding]:
    """The findings the filters match, in the chosen order. Records of open findings want
    `with_evidence_seen_at` around it (after keyset filtering: it costs a probe per row read)."""
    return _matching(filters=filters, with_status=with_status).select_related("account")


def _matching(*, filters: FindingFilters, with_status: bool = True) -> QuerySet[Finding]:
    findings = Finding.objects.all()
    if filters.account:
        # A scalar subquery, not a join: the planner can then walk finding_account_order.
        findings = findings.filter(
            account_id=Subquery(
                AwsAccount.objects.filter(account_id=filters.account).values("pk")[:1]
            )
        )
    if filters.check:
        findings = findings.filter(check_id=filters.check)
    if filters.severity in SEVERITY_RANK:
        # The rank, not the label: the list's indexes lead with it.
        findings = findings.filter(severity_rank=SEVERITY_RANK[filters.severity])
    elif filters.severity:
        findings = findings.filter(severity=filters.severity)
    if with_status and filters.status != "all":
        findings = findings.filter(status=filters.status)
    if filters.q:
        findings = findings.filter(
            Q(resource_arn__icontains=filters.q)
            | Q(resource_name__icontains=filters.q)
            | Q(title__icontains=filters.q)
        )
    return findings.order_by(*_ordering(sort=filters.sort))


def _ordering(*, sort: str) -> list[str | OrderBy]:
    """SORTS[sort] as this database is to read it (CASELESS_ON_SQLITE)."""
    if connection.vendor != "sqlite":
        return SORTS[sort]
    return [_caseless(name) for name in SORTS[sort]]


def _caseless(name: str) -> str | OrderBy:
    column = name.removeprefix("-")
    if column not in CASELESS_ON_SQLITE:
        return name
    return Lower(column).desc() if name.startswith("-") else Lower(column).asc()


# Counts are cached per filter set and per state of the findings: a new finding or a new event
# (opened, resolved, reopened, excluded...) moves the version, so a cached count is never stale
# for long; the TTL bounds what an event-less change (a severity moving) can leave behind.
COUNTS_TTL_SECONDS = 300


def findings_version_columns() -> str:
    """The two index look-ups findings_version reads, as SQL columns (the newest finding and
    finding event), for a caller that reads them along with its own in one query."""
    return (
        f"(SELECT MAX(id) FROM {Finding._meta.db_table}),"  # noqa: S608 - fixed table names
        f" (SELECT MAX(id) FROM {FindingEvent._meta.db_table})"
    )


def findings_version_of(*, finding_id: int | None, event_id: int | None) -> str:
    return f"{finding_id or 0}.{event_id or 0}"


def findings_version() -> str:
    """Changes whenever detection opens, resolves, reopens or excludes anything (two index
    look-ups, in one query)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {findings_version_columns()}")  # noqa: S608 - fixed names
        finding_id, event_id = cursor.fetchone()
    return findings_version_of(finding_id=finding_id, event_id=event_id)


def severity_counts(*, filters: FindingFilters, version: str | None = None) -> dict[str, int]:
    """Findings per severity for these filters (the severity filter itself aside), from the
    cache while the findings are unchanged: the table is counted once per change, not per page.
    `version`: findings_version() when the caller has just read it."""
    scope = {**filters.__dict__, "severity": "", "sort": ""}
    digest = hashlib.sha256(json.dumps(scope, sort_keys=True).encode()).hexdigest()[:32]
    key = f"iamreview:severity-counts:{digest}:{version or findings_version()}"
    counts = cache.get(key)
    if counts is not None:
        return counts
    counts = {"critical": 0, "high": 0, "medium": 0, "low": 0}
    for row in (
        _matching(filters=FindingFilters(**{**filters.__dict__, "severity": ""}))
        .order_by()
        .values("severity")
        .annotate(n=Count("id"))
    ):
        counts[row["severity"]] = row["n"]
    cache.set(key, counts, COUNTS_TTL_SECONDS)
    return counts


def matching_count(*, filters: FindingFilters, counts: dict[str, int]) -> int:
    """How many findings the filters match, from the severity counts (no second count)."""
    return counts.get(filters.severity, 0) if filters.severity else sum(counts.values())


def check_title(*, check_id: str) -> str:
    if check_id in CHECKS_BY_ID:
        return CHECKS_BY_ID[check_id].title
    if check_id.startswith(AA_PREFIX) and check_id[len(AA_PREFIX) :] in AA_TYPES:
        return AA_TYPES[check_id[len(AA_PREFIX) :]].title
    return check_id


def check_choices() -> list[tuple[str, str]]:
    choices = [(check_id, check.title) for check_id, check in CHECKS_BY_ID.items()]
    choices += [(AA_PREFIX + name, t.title) for name, t in AA_TYPES.items()]
    return choices


def explanation(*, finding: Finding) -> dict:
    """What the check means: title, risk, fix and the standard control."""
    if finding.check_id in CHECKS_BY_ID:
        check = CHECKS_BY_ID[finding.check_id]
        return {
            "title": check.title,
            "risk": check.risk,
            "fix": check.fix,
            "control": check.control,
        }
    kind = AA_TYPES.get(finding.check_id[len(AA_PREFIX) :])
    if kind:
        return {
            "title": kind.title,
            "risk": kind.risk,
            "fix": kind.fix,
            "control": "IAM Access Analyzer (CIS AWS Foundations v3.0.0 1.20)",
        }
    return {"title": finding.title, "risk": "", "fix": "", "control": ""}


def finding_record(*, finding: Finding) -> dict:
    """One finding as exported (JSON/CSV/CLI/API)."""
    return _record(
        pk=finding.pk,
        account_id=finding.account.account_id,
        values={name: getattr(finding, name) for name in RECORD_FIELDS},
        last_seen_at=last_seen(finding=finding),
    )


# What a record reads of a finding, besides its id, account and last seen.
RECORD_FIELDS = (
    "check_id",
    "title",
    "severity",
    "severity_reason",
    "resource_arn",
    "resource_type",
    "resource_name",
    "status",
    "aws_status",
    "exclusion_reason",
    "first_seen_at",
    "resolved_at",
    "resolution",
    "rule_version",
    "thresholds",
    "evidence",
)


FINDING_COLUMNS = Columns(Finding, ("account", "last_seen_at", *RECORD_FIELDS), alias="f")


def read_findings(*, ids: list[int]) -> dict[int, dict]:
    """The records (finding_record) of the findings with these ids, by id, in one
    hand-written statement with their accounts and when each account's evidence was last
    collected: what API pages show (LateRows(read=...)). Through the ORM, compiling the
    statement and building model instances cost more than running it."""
    if not ids:
        return {}
    # Quoted table names, fixed columns and one placeholder per id; values go as parameters.
    sql = (
        f"SELECT {FINDING_COLUMNS.sql}, a.account_id,"  # noqa: S608
        f" (SELECT r.finished_at FROM {table(CollectionRun)} r WHERE r.account_id = f.account_id"
        " AND r.status = %s ORDER BY r.finished_at DESC LIMIT 1)"
        f" FROM {table(Finding)} f JOIN {table(AwsAccount)} a ON a.id = f.account_id"
        f" WHERE f.id IN ({placeholders(len(ids))})"
    )
    rows = fetch(sql, [CollectionRun.Status.SUCCEEDED, *ids])
    finished = converters_of(CollectionRun._meta.get_field("finished_at"))
    names = FINDING_COLUMNS.attnames
    records = {}
    for row in rows:
        values = dict(zip(names, FINDING_COLUMNS.values(row[:-2]), strict=True))
        seen = _seen(
            status=values["status"],
            last_seen_at=values["last_seen_at"],
            collected=converted(row[-1], finished),
        )
        records[values["id"]] = _record(
            pk=values["id"], account_id=row[-2], values=values, last_seen_at=seen
        )
    return records


def _record(*, pk: int, account_id: str, values: dict, last_seen_at: datetime) -> dict:
    return {
        "id": pk,
        "account": account_id,
        "check": values["check_id"],
        "title": values["title"],
        "severity": values["severity"],
        "severity_reason": values["severity_reason"],
        "resource_arn": values["resource_arn"],
        "resource_type": values["resource_type"],
        "resource_name": values["resource_name"],
        "status": values["status"],
        "aws_status": values["aws_status"] or None,
        "exclusion_reason": values["exclusion_reason"] or None,
        "first_seen": values["first_seen_at"].isoformat(),
        "last_seen": last_seen_at.isoformat(),
        "resolved_at": values["resolved_at"].isoformat() if values["resolved_at"] else None,
        # Why it was resolved, when not because the evidence no longer shows it
        # ("region_not_monitored": closed, not fixed).
        "resolution": values["resolution"] or None,
        "rule_version": values["rule_version"],
        "thresholds": values["thresholds"],
        "evidence": values["evidence"],
    }


# The JSON columns of a record.
JSON_RECORD_FIELDS = ("thresholds", "evidence")


def finding_records(
    *, findings: QuerySet[Finding], chunk_size: int = 2000, json_as_text: bool = False
) -> Iterator[dict]:
    """finding_record of every finding of the queryset, streamed from a server-side cursor as
    plain values (no model instances), each account's latest collection read once: for exports
    of any size. `json_as_text`: the JSON columns as the database's own JSON text, neither
    decoded nor encoded again here (what a CSV cell holds; a third of a CSV export's time)."""
    # One index probe per account (run_latest_success), not every successful run ever made.
    collected = dict(
        AwsAccount.objects.values_list("pk", _latest_success_at(OuterRef("pk"))).order_by()
    )
    if json_as_text:
        plain = [name for name in RECORD_FIELDS if name not in JSON_RECORD_FIELDS]
        as_text = {f"{name}_text": Cast(name, TextField()) for name in JSON_RECORD_FIELDS}
        rows = (
            {
                **row,
                **{name: row.pop(f"{name}_text") for name in JSON_RECORD_FIELDS},
            }
            for row in findings.values(
                "pk", "account_id", "account__account_id", "last_seen_at", *plain, **as_text
            ).iterator(chunk_size=chunk_size)
        )
    else:
        rows = findings.values(
            "pk", "account_id", "account__account_id", "last_seen_at", *RECORD_FIELDS
        ).iterator(chunk_size=chunk_size)
    for row in rows:
        seen = _seen(
            status=row["status"],
            last_seen_at=row["last_seen_at"],
            collected=collected.get(row["account_id"]),
        )
        yield _record(
            pk=row["pk"], account_id=row["account__account_id"], values=row, last_seen_at=seen
        )
