"""Postgres COPY for bulk writes: instances or values as COPY's CSV, loaded in one statement.

Used where a run writes thousands of rows (collection storage, detection); elsewhere (SQLite
for `make run`) callers keep Django's bulk_create.
"""

import io
import json
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import Field, JSONField, Model


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def copy_text(*, field: Field, value) -> str | None:
    """A value as COPY's CSV reads it into the column's own type (None: NULL)."""
    if value is None:
        return None
    if isinstance(field, JSONField):
        return json.dumps(value, cls=field.encoder)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def csv_line(*, values: list[str | None]) -> str:
    # Quoted text is text (even empty); an unquoted empty field is NULL.
    return ",".join(
        "" if value is None else '"' + value.replace('"', '""') + '"' for value in values
    )


def columns_of(*, model: type[Model]) -> list[Field]:
    """Every concrete column but the id, in a fixed order."""
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def instance_line(*, instance: Model, fields: list[Field]) -> str:
    return csv_line(values=[copy_text(field=f, value=getattr(instance, f.attname)) for f in fields])


def copy_into(*, table: str, columns: list[str], lines: list[str]) -> None:
    """COPY the CSV lines into `table` (psycopg2's copy_expert, its errors made Django's)."""
    if not lines:
        return
    quoted = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.copy_expert(
            f"COPY {table} ({quoted}) FROM STDIN WITH (FORMAT csv)",
            io.StringIO("\n".join(lines) + "\n"),
        )


def copy_insert(
    *, model: type[Model], instances: list[Model], returning: tuple[str, ...] = ()
) -> list[tuple]:
    """Insert the instances with one COPY. With `returning` (column names), through a staging
    table and one INSERT ... RETURNING id and those columns, to learn the new ids."""
    if not instances:
        return []
    fields = columns_of(model=model)
    columns = [f.column for f in fields]
    lines = [instance_line(instance=instance, fields=fields) for instance in instances]
    table = model._meta.db_table
    if not returning:
        copy_into(table=table, columns=columns, lines=lines)
        return []
    stage = f"stage_insert_{table}"
    quoted = ", ".join(f'"{c}"' for c in columns)
    back = ", ".join(["id", *(f'"{c}"' for c in returning)])
    with transaction.atomic(), connection.cursor() as cursor:
        # Fixed names from the model's metadata: nothing here comes from the rows.
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")
        cursor.execute(
            f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS"  # noqa: S608
            f" SELECT {quoted} FROM {table} WITH NO DATA"
        )
        copy_into(table=stage, columns=columns, lines=lines)
        cursor.execute(
            f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM {stage} RETURNING {back}"  # noqa: S608
        )
        rows = cursor.fetchall()
        cursor.execute(f"DROP TABLE {stage}")
    return rows
