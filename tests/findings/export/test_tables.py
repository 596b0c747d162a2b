"""Streamed CSV and JSON: the same text as the whole-file writers, in pieces."""

import json

from findings.export.tables import csv_chunks, csv_text, json_chunks, json_text

ROWS = [
    {"id": n, "name": f"=user{n}" if n % 3 == 0 else f"user{n}", "tags": {"team": "a"}}
    for n in range(7)
]


def test_streamed_json_is_the_same_text_as_the_whole_file_across_batches():
    pieces = list(json_chunks(iter(ROWS), batch=2))
    assert len(pieces) > 2
    assert "".join(pieces) == json_text(ROWS)
    assert "".join(json_chunks(iter([]))) == json_text([])
    assert json.loads("".join(json_chunks(iter(ROWS[:1])))) == ROWS[:1]


def test_streamed_csv_is_the_same_text_with_formulas_neutralized():
    pieces = list(csv_chunks(iter(ROWS), batch=3))
    assert len(pieces) > 2
    assert "".join(pieces) == csv_text(ROWS)
    assert "'=user0" in "".join(pieces)


def test_a_cell_longer_than_a_spreadsheet_holds_is_cut_and_says_so():
    """Excel and LibreOffice hold at most 32,767 characters in a cell: longer evidence would
    spill into the next rows. Python's csv reader reads the file at its default limit too."""
    import csv
    import io

    from findings.export.tables import CELL_LIMIT, safe_cell

    evidence = {"resources": ["arn:aws:s3:::bucket/" + "k" * 50] * 5000}  # ~360,000 characters
    text = "".join(csv_chunks([{"id": 1, "evidence": evidence, "note": "=1+1"}]))
    [header, row] = list(csv.reader(io.StringIO(text)))
    assert header == ["id", "evidence", "note"]
    assert len(row[1]) == CELL_LIMIT
    assert row[1].endswith("the JSON export or the page has it whole]")
    assert row[2] == "'=1+1"
    assert safe_cell("x" * CELL_LIMIT) == "x" * CELL_LIMIT  # at the limit: whole
    assert len(safe_cell("=" + "x" * CELL_LIMIT)) == CELL_LIMIT  # quoted, then cut
    # The limit counts UTF-16 units, as spreadsheets do: an emoji is two.
    emoji = safe_cell("🔑" * 20_000)
    assert len(emoji.encode("utf-16-le")) // 2 <= CELL_LIMIT and emoji.endswith("whole]")
    assert emoji.startswith("🔑" * 16_000) and "\ud83d" not in emoji
    assert safe_cell("🔑" * 16_000) == "🔑" * 16_000  # 32,000 units: whole
