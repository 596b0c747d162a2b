"""CSV and JSON writing shared by exports: CSV cells can never run as spreadsheet formulas."""

import csv
import io
import json

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json.dumps(value, sort_keys=True, default=str)
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def write_csv(rows: list[dict], out, columns: list[str] | None = None) -> None:
    if columns is None:
        columns = []
        for row in rows:
            columns += [key for key in row if key not in columns]
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(row.get(column)) for column in columns])


def csv_text(rows: list[dict], columns: list[str] | None = None) -> str:
    buffer = io.StringIO()
    write_csv(rows, buffer, columns)
    return buffer.getvalue()


def json_text(value) -> str:
    return json.dumps(value, indent=2, default=str)
