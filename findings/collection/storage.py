"""Bulk storage of collected records: write what changed, mark what went, touch nothing else.

On Postgres the records are COPYed into a temporary staging table and merged with one
INSERT ... ON CONFLICT ... DO UPDATE ... WHERE changed, then one UPDATE marks what went: a few
statements per table whatever the number of rows. Elsewhere (SQLite for `make run`) the rows
are compared in Python and upserted with bulk_create.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import EmptyResultSet
from django.db.models import Model, Q

from findings.models import AwsAccount, PolicyDocument
from findings.models.bulk import (
    columns_of,
    copy_rows,
    is_postgres,
    staging_table,
)
from findings.models.fingerprints import fingerprint
from findings.policy.documents import canonical_json, document_hash

BATCH_SIZE = 1000


@dataclass
class SyncCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    gone: int = 0

    def as_dict(self, prefix: str = "") -> dict[str, int]:
        return {
            f"{prefix}created": self.created,
            f"{prefix}updated": self.updated,
            f"{prefix}unchanged": self.unchanged,
            f"{prefix}gone": self.gone,
        }


def sync_observed(
    *,
    model: type[Model],
    account: AwsAccount,
    records: Iterable[dict],
    now: datetime,
    previous_seen_at: datetime | None,
    scope: dict | Q | None = None,
) -> SyncCounts:
    """Make the stored rows of `model` in `account` (within `scope`: filter arguments, or a Q)
    match `records`.

    New and changed records are upserted in bulk; unchanged rows are not written at all; rows
    no longer collected get `gone_at` (their `last_seen_at` is the previous successful run).
    """
    records = list(records)
    where = scope if isinstance(scope, Q) else Q(**(scope or {}))
    if is_postgres():
        return _sync_by_copy(
            model=model,
            account=account,
            records=records,
            now=now,
            previous_seen_at=previous_seen_at,
            scope=where,
        )
    key_fields = model.natural_key
    existing = {
        tuple(row[k] for k in key_fields): row
        for row in model.objects.filter(where, account=account).values(
            "id", "fingerprint", "gone_at", *key_fields
        )
    }
    counts = SyncCounts()
    to_write: dict[tuple, Model] = {}
    for values in records:
        key = tuple(values[k] for k in key_fields)
        print_ = fingerprint(values)
        current = existing.get(key)
        if current and current["fingerprint"] == print_ and current["gone_at"] is None:
            if key not in to_write:
                counts.unchanged += 1
            continue
        if key in to_write:
            continue  # a duplicate in the input: the first one wins
        if current is None:
            counts.created += 1
        else:
            counts.updated += 1
        to_write[key] = model(
            account=account,
            fingerprint=print_,
            first_seen_at=now,
            changed_at=now,
            gone_at=None,
            last_seen_at=None,
            **values,
        )
    if to_write:
        update_fields = [
            f.name
            for f in model._meta.concrete_fields
            if not f.primary_key
            and f.name not in {"account", "first_seen_at", *key_fields, *model.derived_fields}
        ]
        model.objects.bulk_create(
            list(to_write.values()),
            update_conflicts=True,
            unique_fields=["account", *key_fields],
            update_fields=update_fields,
            batch_size=BATCH_SIZE,
        )
    seen = {tuple(values[k] for k in key_fields) for values in records}
    gone_ids = [
        row["id"] for key, row in existing.items() if key not in seen and not row["gone_at"]
    ]
    if gone_ids:
        for start in range(0, len(gone_ids), BATCH_SIZE):
            model.objects.filter(id__in=gone_ids[start : start + BATCH_SIZE]).update(
                gone_at=now, last_seen_at=previous_seen_at, changed_at=now
            )
        counts.gone = len(gone_ids)
    return counts


# --- Postgres: COPY into staging, one merge -------------------------------------------------------


def _sync_by_copy(
    *,
    model: type[Model],
    account: AwsAccount,
    records: list[dict],
    now: datetime,
    previous_seen_at: datetime | None,
    scope: Q,
) -> SyncCounts:
    table = model._meta.db_table
    # The columns every row gets the same value in, then the record's own, then the columns
    # the records leave to their default.
    fixed = {
        "account_id": account.pk,
        "first_seen_at": now,
        "changed_at": now,
        "gone_at": None,
        "last_seen_at": None,
    }
    named = {f.attname: f for f in columns_of(model=model)}
    sample = records[0] if records else {}
    record_keys = [
        key
        for key in sample
        if (key if key in named else model._meta.get_field(key).attname) not in fixed
    ]
    record_fields = [model._meta.get_field(key) for key in record_keys]
    covered = {"fingerprint", *fixed, *(f.attname for f in record_fields)}
    default_fields = [f for f in named.values() if f.attname not in covered]
    fields = [
        named["fingerprint"],
        *(named[c] for c in fixed),
        *record_fields,
        *default_fields,
    ]
    constant = list(fixed.values())
    defaults = [f.get_default() for f in default_fields]

    rows: dict[tuple, list] = {}
    for values in records:
        key = tuple(values[k] for k in model.natural_key)
        if key in rows:
            continue  # a duplicate in the input: the first one wins
        rows[key] = [
            fingerprint(values),
            *constant,
            *[values[k] for k in record_keys],
            *defaults,
        ]

    columns = [f.column for f in fields]
    key_columns = ["account_id", *(model._meta.get_field(k).column for k in model.natural_key)]
    derived = {model._meta.get_field(name).column for name in model.derived_fields}
    kept = {"account_id", "first_seen_at", *key_columns, *derived}
    updated_columns = [c for c in columns if c not in kept]
    stage = f"stage_{table}"
    quoted = ", ".join(f'"{c}"' for c in columns)
    keys = ", ".join(f'"{c}"' for c in key_columns)
    same_key = " AND ".join(f's."{c}" = t."{c}"' for c in key_columns)
    try:
        present = (
            model.objects.filter(scope, account=account, gone_at=None).values("id").query
        ).sql_with_params()
    except EmptyResultSet:  # a scope that speaks for no stored row: nothing can go
        present = None
    counts = SyncCounts()
    with staging_table(model=model, fields=fields, name=stage) as cursor:
        if rows:
            copy_rows(table=stage, fields=fields, rows=rows.values())
            # The NOT EXISTS below probes the stage by key: with statistics still describing a
            # smaller account (a first import), the planner picks a nested loop, which without
            # this index scans the whole stage per row (seconds at 10k rows).
            cursor.execute(f"CREATE INDEX ON {stage} ({keys})")
            cursor.execute(
                f"INSERT INTO {table} AS t ({quoted}) SELECT {quoted} FROM {stage}"  # noqa: S608
                f" ON CONFLICT ({keys}) DO UPDATE SET "
                + ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in updated_columns)
                + " WHERE t.fingerprint <> EXCLUDED.fingerprint OR t.gone_at IS NOT NULL"
                " RETURNING (t.xmax = 0)"
            )
            written = [inserted for (inserted,) in cursor.fetchall()]
            counts.created = sum(written)
            counts.updated = len(written) - counts.created
            counts.unchanged = len(rows) - len(written)
        if present is not None:
            sql, params = present
            cursor.execute(
                f"UPDATE {table} AS t SET gone_at = %s, last_seen_at = %s, changed_at = %s"  # noqa: S608
                f" WHERE t.id IN ({sql})"
                f" AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE {same_key})",
                [now, previous_seen_at, now, *params],
            )
            counts.gone = cursor.rowcount
    return counts


def intern_documents(*, documents: Iterable[dict], now: datetime) -> dict[str, int]:
    """Store each distinct document once by content hash. Returns {sha256: PolicyDocument id}."""
    by_hash = {document_hash(document=doc): doc for doc in documents if doc is not None}
    if not by_hash:
        return {}
    known = dict(
        PolicyDocument.objects.filter(sha256__in=list(by_hash)).values_list("sha256", "id")
    )
    missing = [
        PolicyDocument(
            sha256=sha, document=json.loads(canonical_json(document=doc)), first_seen_at=now
        )
        for sha, doc in by_hash.items()
        if sha not in known
    ]
    if missing:
        PolicyDocument.objects.bulk_create(missing, ignore_conflicts=True, batch_size=BATCH_SIZE)
        known.update(
            PolicyDocument.objects.filter(sha256__in=[d.sha256 for d in missing]).values_list(
                "sha256", "id"
            )
        )
    return known
