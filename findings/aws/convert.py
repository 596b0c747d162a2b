"""Small value conversions shared by the parsers: timestamps and JSON-safe copies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from findings.aws.errors import ParseError
from iamreview.input_guard import MAX_JSON_DEPTH, unusable_text


def preview(value: Any, *, limit: int = 80) -> str:
    """`repr(value)` for a message, cut to `limit` characters: a file's value can be huge."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_utc(value: datetime) -> datetime:
    """Aware UTC datetime. boto3 returns tzutc()/tzlocal() values; naive ones are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# Dates AWS can have written: IAM is from 2010, and a file dated past 2200 is no AWS output.
# Outside this, a timestamp is refused with the file: year 9999 at UTC-14, or a day's
# arithmetic on it (a key's rotation due date), is no datetime Python has.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def aws_time(text: str, *, field: str, line: int | None = None) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime; None when `text` is no ISO date; a
    ParseError when it is one no AWS output has (before 1970 or from 2200)."""
    try:
        moment = to_utc(datetime.fromisoformat(text))
    except ValueError:
        return None
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the last datetime in UTC
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise ParseError(
            f"{text!r} is outside the dates AWS writes (1970 to 2199)", line=line, field=field
        )
    return moment


def parse_timestamp(value: Any, *, field: str, line: int | None = None) -> datetime:
    """A timestamp from boto3 (datetime), the AWS CLI (ISO 8601 string) or epoch seconds."""
    if value is None:
        raise ParseError("missing", line=line, field=field)
    if isinstance(value, datetime):
        return to_utc(value)
    # The AWS CLI v1 prints raw wire values, which are epoch seconds for some services.
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not EARLIEST.timestamp() <= value < LATEST.timestamp():  # NaN too: never in range
            raise ParseError(
                f"{preview(value)} seconds since 1970 is outside the dates AWS writes"
                " (1970 to 2199)",
                line=line,
                field=field,
            )
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and (moment := aws_time(value, field=field, line=line)):
        return moment
    raise ParseError(
        f"expected a date like 2026-03-01T12:34:56+00:00, found {preview(value)}",
        line=line,
        field=field,
    )


def optional_timestamp(value: Any, *, field: str) -> datetime | None:
    return None if value is None else parse_timestamp(value, field=field)


def iso(value: datetime) -> str:
    return to_utc(value).isoformat()


def json_safe(value: Any) -> Any:
    """A copy that json.dumps accepts: datetimes become ISO strings, tuples become lists."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def load_json(data: bytes | str) -> Any:
    """json.loads, but a syntax error becomes a ParseError with line and column, and a NUL, a
    lone surrogate or too-deep nesting a ParseError naming the field."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(f"not UTF-8 text (byte {exc.start})") from exc
    try:
        document = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from exc
    except RecursionError:
        raise ParseError(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError:  # json's only other refusal: an integer of more than 4,300 digits
        raise ParseError("unreadable JSON: a number of more than 4,300 digits") from None
    # Text PostgreSQL cannot store, or nesting no AWS output has: refuse the file, naming where.
    if found := unusable_text(document):
        raise ParseError(found[1], field=found[0])
    return document
