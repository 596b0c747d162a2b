"""Postgres COPY for bulk writes: rows of plain values as COPY text, loaded in one statement.

Used where a run writes thousands of rows (collection storage, detection); elsewhere (SQLite
for `make run`) callers keep Django's bulk_create. No model instance is built on this path:
callers hand over tuples of column values, in the order of the fields they name.
"""

import io
import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.models import BinaryField, CharField, Field, JSONField, Model, QuerySet, TextField

# Bytes handed to the server per read of the COPY buffer (psycopg2's default is 8 kB).
COPY_CHUNK = 1 << 20


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def columns_of(*, model: type[Model]) -> list[Field]:
    """Every concrete column but the id, in a fixed order."""
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def fields_named(*, model: type[Model], names: Iterable[str]) -> list[Field]:
    """The fields of `model` by name or attname ("account" or "account_id")."""
    return [model._meta.get_field(name) for name in names]


def json_text(*, field: JSONField, value) -> str | None:
    """A JSON column's value as JSON text (None: NULL), for a value every row shares."""
    return None if value is None else json.dumps(value, cls=field.encoder)


# COPY's text format: tab-separated, \N for NULL, and these four characters escaped.
def _escaped(text: str) -> str:
    # Most values (ids, ARNs, names, compact JSON) hold none of the four: four `in` scans cost
    # a quarter of four replaces, and a COPY of a detection's findings escapes a million values.
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _converter(field: Field, *, encoded_json: bool) -> Callable[[Any], str]:
    """How one column's value (not None) becomes COPY text: chosen once per column."""
    if isinstance(field, JSONField) and not encoded_json:
        encoder = field.encoder

        def convert(value):
            return _escaped(json.dumps(value, cls=encoder))
    elif isinstance(field, BinaryField):
        raise ValueError(f"COPY of bytes is not supported here ({field.name})")
    elif isinstance(field, CharField | TextField | JSONField):
        convert = _escaped
    else:
        # Numbers, booleans, dates and aware datetimes: str() gives what Postgres reads.
        convert = str
    return convert


def copy_rows(
    *, table: str, fields: list[Field], rows: Iterable[Sequence], encoded_json: bool = False
) -> int:
    """COPY rows of Python values (one per field, in order; None is NULL) into `table`. Returns
    the number of rows written. `encoded_json`: the JSON columns already hold JSON text (encoded
    once by the caller, e.g. with the evidence's fingerprint)."""
    converters = [_converter(f, encoded_json=encoded_json) for f in fields]
    buffer = io.StringIO()
    write = buffer.write
    for row in rows:
        write(
            "\t".join(
                [
                    "\\N" if value is None else convert(value)
                    for convert, value in zip(converters, row, strict=True)
                ]
            )
        )
        write("\n")
    if not buffer.tell():
        return 0
    buffer.seek(0)
    columns = ", ".join(f'"{f.column}"' for f in fields)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer, COPY_CHUNK)
        return cursor.rowcount


@contextmanager
def staging_table(*, model: type[Model], fields: list[Field], name: str):
    """A temporary table with the columns of `fields` (typed like the model's), dropped when
    the block ends. Use inside a transaction (its ON COMMIT DROP is the safety net)."""
    table = model._meta.db_table
    columns = ", ".join(f'"{f.column}"' for f in fields)
    with transaction.atomic(), connection.cursor() as cursor:
        # Fixed names from the model's metadata: nothing here comes from the rows.
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        cursor.execute(
            f"CREATE TEMP TABLE {name} ON COMMIT DROP AS"  # noqa: S608
            f" SELECT {columns} FROM {table} WITH NO DATA"
        )
        yield cursor
        cursor.execute(f"DROP TABLE {name}")


def reserve_ids(*, model: type[Model], count: int) -> list[int]:
    """`count` new ids from the table's own sequence, for rows COPYed with their id (and rows
    pointing at them COPYed in the same go). Other writers never get these ids."""
    if not count:
        return []
    with connection.cursor() as cursor:
        # The sequence is looked up once (MATERIALIZED), not once per id.
        cursor.execute(
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq)"
            " SELECT array_agg(nextval(s.seq)) FROM s, generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return cursor.fetchone()[0]


def delete_in_batches(*, rows: QuerySet, batch_size: int) -> int:
    """Delete what `rows` selects, `batch_size` rows at a time by id (each statement short,
    however many there are), and say how many went. `rows` is read again before each batch, so
    order it (by id) for a steady walk."""
    model = rows.model
    deleted = 0
    while ids := list(rows.values_list("pk", flat=True)[:batch_size]):
        deleted += model._default_manager.filter(pk__in=ids).delete()[0]
    return deleted
