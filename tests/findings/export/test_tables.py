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
