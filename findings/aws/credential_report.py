"""The IAM credential report: fetch it (generating it if needed) and parse its CSV."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from findings.aws.convert import aws_time, preview, to_utc
from findings.aws.errors import TIMEOUT, AwsError, ParseError, error_code, translate
from findings.aws.records import (
    NO_INFORMATION,
    NOT_APPLICABLE,
    NOT_SUPPORTED,
    CredentialReport,
    CredentialReportRow,
)
from findings.aws.waiting import Backoff

COLUMNS = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
)
DATE_COLUMNS = (
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "cert_1_last_rotated",
    "cert_2_last_rotated",
)
BOOLEAN_COLUMNS = (
    "mfa_active",
    "access_key_1_active",
    "access_key_2_active",
    "cert_1_active",
    "cert_2_active",
)
# Region and service are None when AWS writes N/A (no key, never used, or a global service).
TEXT_OR_NONE_COLUMNS = (
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
)

# Keyed by lower case: the docs print N/A, and we accept any case of every token.
SPECIAL_VALUES = {token.lower(): token for token in (NO_INFORMATION, NOT_APPLICABLE, NOT_SUPPORTED)}

REPORT_MISSING_CODES = ("ReportNotPresent", "ReportExpired")


# --- Parsing ------------------------------------------------------------------------------------


def parse_credential_report(content: bytes) -> tuple[CredentialReportRow, ...]:
    """Rows of a credential report CSV, as AWS (or ``aws iam get-credential-report``) writes it."""
    try:
        text = content.decode("utf-8-sig")  # -sig drops a byte order mark if an editor added one
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text (byte {exc.start})", line=1) from exc
    if (nul := text.find("\x00")) >= 0:  # text PostgreSQL cannot store
        raise ParseError("contains a NUL character (\\u0000)", line=text.count("\n", 0, nul) + 1)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ParseError("empty credential report: the header row is missing", line=1)
        _check_header(header)
        rows = []
        first_line_of: dict[str, int] = {}
        for values in reader:
            if not values:  # a blank line, usually the last one
                continue
            row = _parse_row(values, line=reader.line_num)
            # A hand-merged file may list a user twice, its rows saying different things: which
            # one is true is not ours to guess.
            if (first := first_line_of.setdefault(row.arn, row.line_number)) != row.line_number:
                raise ParseError(
                    f"{row.user} ({row.arn}) is listed again (first on line {first}): "
                    "a report lists each user once",
                    line=row.line_number,
                )
            rows.append(row)
    except csv.Error as exc:
        raise ParseError(f"malformed CSV: {exc}", line=reader.line_num) from exc
    if not rows:
        # AWS's report always lists the account's root: a file without a row is a cut download
        # or the wrong query, and read as "no users" it would mark every user gone.
        raise ParseError(
            "the report lists no one, not even the account's root: a cut download?", line=2
        )
    return tuple(rows)


def _check_header(header: list[str]) -> None:
    if tuple(header) == COLUMNS:
        return
    missing = [name for name in COLUMNS if name not in header]
    unexpected = [name for name in header if name not in COLUMNS]
    if missing:
        raise ParseError(f"not a credential report header: missing column {missing[0]!r}", line=1)
    if unexpected:
        raise ParseError(
            f"not a credential report header: unexpected column {unexpected[0]!r}", line=1
        )
    for position, (expected, found) in enumerate(zip(COLUMNS, header, strict=False), start=1):
        if expected != found:
            raise ParseError(f"column {position} should be {expected!r}, found {found!r}", line=1)
    raise ParseError(f"expected {len(COLUMNS)} columns, found {len(header)}", line=1)


def _parse_row(values: list[str], *, line: int) -> CredentialReportRow:
    if len(values) != len(COLUMNS):
        raise ParseError(f"expected {len(COLUMNS)} columns, found {len(values)}", line=line)
    raw = dict(zip(COLUMNS, values, strict=True))
    fields: dict[str, Any] = {"line_number": line}

    for name in ("user", "arn"):
        if not raw[name]:
            raise ParseError("must not be empty", line=line, field=name)
        fields[name] = raw[name]

    creation, reason = _date(raw, "user_creation_time", line=line)
    if creation is None:
        raise ParseError(
            f"expected a date, found {reason!r}", line=line, field="user_creation_time"
        )
    fields["user_creation_time"] = creation

    # The root row says not_supported here; newer accounts say true/false.
    password_enabled = raw["password_enabled"]
    if password_enabled.lower() == NOT_SUPPORTED:
        fields["password_enabled"], fields["password_enabled_reason"] = None, NOT_SUPPORTED
    else:
        fields["password_enabled"] = _boolean(raw, "password_enabled", line=line)
        fields["password_enabled_reason"] = None

    for name in BOOLEAN_COLUMNS:
        fields[name] = _boolean(raw, name, line=line)
    # moto writes not_supported where AWS writes N/A, so every special value is accepted in
    # every date column; the token itself is kept as the reason.
    for name in DATE_COLUMNS:
        fields[name], fields[f"{name}_reason"] = _date(raw, name, line=line)
    for name in TEXT_OR_NONE_COLUMNS:
        value = raw[name]
        fields[name] = None if (not value or value.lower() in SPECIAL_VALUES) else value
    return CredentialReportRow(**fields)


def _boolean(raw: dict[str, str], name: str, *, line: int) -> bool:
    value = raw[name].lower()
    if value in ("true", "false"):
        return value == "true"
    raise ParseError(f"expected true or false, found {raw[name]!r}", line=line, field=name)


def _date(raw: dict[str, str], name: str, *, line: int) -> tuple[datetime | None, str | None]:
    value = raw[name]
    if value.lower() in SPECIAL_VALUES:
        return None, SPECIAL_VALUES[value.lower()]
    if moment := aws_time(value, field=name, line=line):
        return moment, None
    raise ParseError(
        f"expected a date like 2026-03-01T12:34:56+00:00 or one of "
        f"no_information, N/A, not_supported; found {preview(value)}",
        line=line,
        field=name,
    )


# --- Fetching -----------------------------------------------------------------------------------


def fetch_credential_report(
    iam: Any,
    *,
    sleep: Callable[[float], object] = time.sleep,
    max_wait_seconds: float = 300,
) -> CredentialReport:
    """The account's current credential report, asking AWS to generate one when needed.

    AWS makes a new report at most every 4 hours and otherwise returns the cached one, so
    ``generated_at`` can be hours old; it is what a reviewer must see.
    """
    backoff = Backoff(sleep=sleep, max_wait_seconds=max_wait_seconds)
    generated = False
    while True:
        try:
            response = iam.get_credential_report()
        except ClientError as exc:
            code = error_code(exc)
            if code in REPORT_MISSING_CODES:
                # Still missing right after we generated one: give AWS a moment first.
                if generated:
                    _wait_or_give_up(backoff, f"no credential report appeared ({code})")
                _generate(iam, backoff)
                generated = True
                continue
            if code == "ReportInProgress":
                _wait_or_give_up(backoff, "the credential report is still being generated")
                continue
            raise translate(exc) from exc
        except BotoCoreError as exc:
            raise translate(exc, operation="GetCredentialReport") from exc
        content = response["Content"]
        return CredentialReport(
            generated_at=to_utc(response["GeneratedTime"]),
            content=content,
            rows=parse_credential_report(content),
        )


def _generate(iam: Any, backoff: Backoff) -> None:
    """Ask for a report and wait until AWS says it is COMPLETE."""
    while True:
        try:
            state = iam.generate_credential_report()["State"]
        except ClientError as exc:
            # "No more capacity to launch new report generation tasks": back off, never spin.
            if error_code(exc) == "LimitExceeded":
                _wait_or_give_up(backoff, "AWS had no capacity to generate a credential report")
                continue
            raise translate(exc) from exc
        except BotoCoreError as exc:
            raise translate(exc, operation="GenerateCredentialReport") from exc
        if state == "COMPLETE":
            return
        _wait_or_give_up(backoff, f"the credential report is still being generated ({state})")


def _wait_or_give_up(backoff: Backoff, reason: str) -> None:
    if not backoff.wait():
        raise AwsError(
            TIMEOUT,
            f"{reason} after {backoff.waited:g} seconds",
            "GetCredentialReport",
        )
