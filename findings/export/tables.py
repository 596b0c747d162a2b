"""CSV and JSON writing shared by exports: CSV cells can never run as spreadsheet formulas."""

import csv
import io
import itertools
import json
from collections.abc import Iterable, Iterator

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMULA_FIRST = frozenset(FORMULA_PREFIXES)
# Excel's (and LibreOffice's) most characters in a cell: a longer one (an unscoped-resource
# finding's evidence reaches 250,000) spills into the next rows or breaks the import.
CELL_LIMIT = 32_767
CUT = " … [cut at a spreadsheet cell's 32,767 characters: the JSON export or the page has it whole]"


def safe_cell(value) -> str:
    if value is None:
        return ""
    if type(value) is str:
        # The common case first (an export writes millions of cells): a short text that
        # cannot start a formula is the cell as it is.
        if len(value) <= CELL_LIMIT // 2 and value[:1] not in FORMULA_FIRST:
            return value
    elif type(value) is int:
        return str(value)
    if isinstance(value, list | dict):
        value = json.dumps(value, sort_keys=True, default=str)
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_PREFIXES):
        text = "'" + text
    # The limit counts UTF-16 units, as spreadsheets do: a character outside the Basic
    # Multilingual Plane (an emoji) is two. Cheap test first: no text of fewer than half the
    # limit's characters can reach it.
    if len(text) > CELL_LIMIT // 2 and _utf16_units(text) > CELL_LIMIT:
        budget = (CELL_LIMIT - _utf16_units(CUT)) * 2
        # A pair cut in half is dropped, not left as a lone surrogate.
        units = text.encode("utf-16-le", errors="surrogatepass")[:budget]
        text = units.decode("utf-16-le", errors="ignore") + CUT
    return text


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


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


class _Line:
    """A file-like target for csv.writer that hands back what was written."""

    def write(self, text: str) -> str:
        return text


def csv_chunks(
    rows: Iterable[dict], columns: list[str] | None = None, *, batch: int = 500
) -> Iterator[str]:
    """CSV in pieces of `batch` rows, for a streaming response: memory stays flat. Without
    `columns`, the first row's keys are the header (every row must have the same keys)."""
    rows = iter(rows)
    first = next(rows, None)
    if columns is None:
        columns = list(first) if first is not None else []
    yield csv.writer(_Line()).writerow(columns)
    if first is None:
        return
    rows = itertools.chain([first], rows)
    while piece := list(itertools.islice(rows, batch)):
        # One writerows per piece into a fresh buffer: the csv module's loop, not ours.
        buffer = io.StringIO()
        csv.writer(buffer).writerows([safe_cell(row.get(c)) for c in columns] for row in piece)
        yield buffer.getvalue()


def json_chunks(rows: Iterable[dict], *, batch: int = 500) -> Iterator[str]:
    """The same text as json_text(list(rows)), in pieces, without holding the list."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        yield "[]"
        return

    def indented(row: dict) -> str:
        return "  " + json.dumps(row, indent=2, default=str).replace("\n", "\n  ")

    pending = ["[\n" + indented(first)]
    for row in rows:
        pending.append(",\n" + indented(row))
        if len(pending) >= batch:
            yield "".join(pending)
            pending = []
    pending.append("\n]")
    yield "".join(pending)
