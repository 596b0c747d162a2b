"""Writing detection's results in bulk: new findings with their first events, changed and
resolved findings, and the other events.

Rows come in as tuples of plain values in the order of the field lists below; JSON columns
(evidence, thresholds) arrive already encoded as text, once per finding. On Postgres new
findings and events are COPYed straight into their tables, and changed findings are COPYed
into a staging table and updated with one statement: a few statements whatever the number of
rows, and no model instance. Elsewhere (SQLite for `make run`) the same rows go through
bulk_create and bulk_update.
"""

import json
from datetime import datetime

from findings.models import Finding, FindingEvent
from findings.models.bulk import (
    copy_rows,
    fields_named,
    is_postgres,
    reserve_ids,
    staging_table,
)

BATCH_SIZE = 1000

NEW_FINDING_FIELDS = [
    "account_id",
    "check_id",
    "resource_key",
    "resource_arn",
    "resource_type",
    "resource_name",
    "title",
    "severity",
    "severity_rank",
    "severity_reason",
    "status",
    "evidence",  # JSON text
    "evidence_fingerprint",
    "rule_version",
    "thresholds",  # JSON text
    "exclusion_id",
    "exclusion_reason",
    "aws_finding_id",
    "aws_status",
    "first_seen_at",
    "last_seen_at",
    "times_reopened",
]
# What a detection that still sees a finding may change in it (the id comes first).
SEEN_FINDING_FIELDS = [
    "status",
    "exclusion_id",
    "exclusion_reason",
    "evidence",  # JSON text
    "evidence_fingerprint",
    "severity",
    "severity_rank",
    "title",
    "severity_reason",
    "aws_status",
    "rule_version",
    "thresholds",  # JSON text
    "resolved_at",
    "resolved_by_run_id",
    "times_reopened",
    "last_seen_at",
    "resolution",
]
# What resolving a finding changes besides its status and resolved_at (the id comes first).
RESOLVED_FINDING_FIELDS = ["resolved_by_run_id", "last_seen_at", "resolution"]
EVENT_FIELDS = ["finding_id", "kind", "at", "run_id", "note"]
JSON_FIELDS = {"evidence", "thresholds"}


def _decoded(names: list[str], row: tuple) -> dict:
    return {
        name: json.loads(value) if name in JSON_FIELDS else value
        for name, value in zip(names, row, strict=True)
    }


def insert_findings(*, rows: list[tuple], at: datetime) -> None:
    """New findings (NEW_FINDING_FIELDS), each with its 'opened' event and, when it starts
    excluded, its 'excluded' event with the reason."""
    if not rows:
        return
    if not is_postgres():
        new = [Finding(**_decoded(NEW_FINDING_FIELDS, row)) for row in rows]
        Finding.objects.bulk_create(new, batch_size=BATCH_SIZE)
        events = []
        for finding in new:
            events.append(FindingEvent(finding=finding, kind="opened", at=at))
            if finding.status == Finding.Status.EXCLUDED:
                events.append(
                    FindingEvent(
                        finding=finding,
                        kind="excluded",
                        at=at,
                        note=finding.exclusion_reason[:500],
                    )
                )
        FindingEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)
        return
    # Ids reserved first, so that the findings and their events are both plain COPYs (no
    # staging table: parsing 10k findings' evidence twice costs more than asking for ids).
    ids = reserve_ids(model=Finding, count=len(rows))
    copy_rows(
        table=Finding._meta.db_table,
        fields=fields_named(model=Finding, names=["id", *NEW_FINDING_FIELDS]),
        rows=[(pk, *row) for pk, row in zip(ids, rows, strict=True)],
        encoded_json=True,
    )
    status_at = NEW_FINDING_FIELDS.index("status")
    reason_at = NEW_FINDING_FIELDS.index("exclusion_reason")
    events = []
    for pk, row in zip(ids, rows, strict=True):
        events.append((pk, "opened", at, None, ""))
        if row[status_at] == Finding.Status.EXCLUDED:
            events.append((pk, "excluded", at, None, row[reason_at][:500]))
    add_events(rows=events)


def update_seen_findings(*, rows: list[tuple]) -> None:
    """Findings detected again whose state moved: (id, *SEEN_FINDING_FIELDS) each."""
    if not rows:
        return
    if not is_postgres():
        Finding.objects.bulk_update(
            [Finding(id=row[0], **_decoded(SEEN_FINDING_FIELDS, row[1:])) for row in rows],
            SEEN_FINDING_FIELDS,
            batch_size=500,
        )
        return
    _update_by_id(names=SEEN_FINDING_FIELDS, rows=rows, constants={})


def resolve_findings(*, rows: list[tuple], at: datetime) -> None:
    """Findings detection no longer sees: (id, *RESOLVED_FINDING_FIELDS) each."""
    if not rows:
        return
    constants = {"status": Finding.Status.RESOLVED, "resolved_at": at}
    if not is_postgres():
        Finding.objects.bulk_update(
            [
                Finding(
                    id=row[0],
                    **constants,
                    **dict(zip(RESOLVED_FINDING_FIELDS, row[1:], strict=True)),
                )
                for row in rows
            ],
            [*constants, *RESOLVED_FINDING_FIELDS],
            batch_size=500,
        )
        return
    _update_by_id(names=RESOLVED_FINDING_FIELDS, rows=rows, constants=constants)


def _update_by_id(*, names: list[str], rows: list[tuple], constants: dict) -> None:
    """COPY (id, *names) rows into a staging table, then one UPDATE ... FROM it."""
    fields = fields_named(model=Finding, names=["id", *names])
    stage = "stage_finding_updates"
    table = Finding._meta.db_table
    assignments = [f'"{f.column}" = s."{f.column}"' for f in fields[1:]]
    assignments += [f'"{Finding._meta.get_field(name).column}" = %s' for name in constants]
    with staging_table(model=Finding, fields=fields, name=stage) as cursor:
        copy_rows(table=stage, fields=fields, rows=rows, encoded_json=True)
        cursor.execute(
            f"UPDATE {table} AS t SET {', '.join(assignments)}"  # noqa: S608
            f" FROM {stage} AS s WHERE t.id = s.id",
            list(constants.values()),
        )


def add_events(*, rows: list[tuple]) -> None:
    """Events of findings that already have ids: EVENT_FIELDS each."""
    if not rows:
        return
    if not is_postgres():
        FindingEvent.objects.bulk_create(
            [FindingEvent(**dict(zip(EVENT_FIELDS, row, strict=True))) for row in rows],
            batch_size=BATCH_SIZE,
        )
        return
    copy_rows(
        table=FindingEvent._meta.db_table,
        fields=fields_named(model=FindingEvent, names=EVENT_FIELDS),
        rows=rows,
    )
