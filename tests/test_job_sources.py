from __future__ import annotations

from pathlib import Path

import pytest

from dizions_async.jobs._sources import SourceRow, count_rows, iter_rows, source_format


def test_csv_rows_drop_empty_cells_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("\ufeffexternal_id,first_name,surname\nA1,Ann,Lee\nA2,,Roe\n", "utf-8")
    assert list(iter_rows(path)) == [
        SourceRow(1, {"external_id": "A1", "first_name": "Ann", "surname": "Lee"}),
        SourceRow(2, {"external_id": "A2", "surname": "Roe"}),
    ]


def test_csv_row_with_more_cells_than_the_header_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("external_id,surname\nA1,Lee,extra\nA2,Roe\n")
    rows = list(iter_rows(path))
    assert rows[0].fields is None and "more cells" in (rows[0].error or "")
    assert rows[1].fields == {"external_id": "A2", "surname": "Roe"}


def test_jsonl_rows_skip_blank_lines_and_report_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "book.jsonl"
    path.write_bytes(b'{"external_id": 1, "x": null}\n\n{broken\n[1, 2]\n{"external_id": "B"}\n')
    rows = list(iter_rows(path))
    assert [r.number for r in rows] == [1, 2, 3, 4]
    assert rows[0].fields == {"external_id": 1}
    assert rows[1].fields is None and "not JSON" in (rows[1].error or "")
    assert rows[2].fields is None and "list" in (rows[2].error or "")
    assert rows[3].fields == {"external_id": "B"}


def test_iterable_rows_are_numbered_and_non_mappings_reported() -> None:
    rows = list(iter_rows([{"a": 1}, ["not", "a", "dict"]]))  # type: ignore[list-item]
    assert rows[0] == SourceRow(1, {"a": 1})
    assert rows[1].fields is None and "list" in (rows[1].error or "")


def test_format_comes_from_the_suffix_or_the_argument() -> None:
    assert source_format("a.CSV") == "csv"
    assert source_format("a.ndjson") == "jsonl"
    assert source_format("a.txt", "jsonl") == "jsonl"
    with pytest.raises(ValueError, match="suffix"):
        source_format("a.txt")


def test_count_rows_counts_files_and_lists_but_not_generators(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n')
    assert count_rows(path) == 2
    assert count_rows([{"a": 1}]) == 1
    assert count_rows(r for r in [{"a": 1}]) is None
