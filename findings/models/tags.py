"""Rows whose JSON tags hold a key (and a value), the key taken as written.

A tag's key is a name, never a lookup or a path: `contains`, `regex`, `a__b` or `0` are keys
like any other. PostgreSQL answers with its own operators (`?` and `@>`). SQLite (`make run`)
reads a key as a JSON path (`0` as an array index) and a compared value as JSON, so there the
rows with tags are read and matched here: a demo's few hundred.
"""

from django.db import connection
from django.db.models import QuerySet


def with_tag(
    *, rows: QuerySet, key: str, value: str | None = None, field: str = "tags"
) -> QuerySet:
    """``rows`` tagged ``key`` (with ``value``, when one is given)."""
    if connection.vendor == "postgresql":
        rows = rows.filter(**{f"{field}__has_key": key})
        return rows if value is None else rows.filter(**{f"{field}__contains": {key: value}})
    matching = [
        pk
        for pk, tags in rows.values_list("pk", field).iterator()
        if isinstance(tags, dict) and key in tags and (value is None or tags[key] == value)
    ]
    return rows.filter(pk__in=matching)
