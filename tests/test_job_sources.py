from __future__ import annotations

import re
from pathlib import Path

import pytest

from dizions_async.jobs._sources import (
    RowFileError,
    SourceRow,
    check_rows,
    count_rows,
    iter_rows,
    source_format,
)


def test_csv_rows_drop_empty_cells_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("\ufeffexternal_id,first_name,surname\nA1,Ann,Lee\nA2,,Roe\n", "utf-8")
    assert list(iter_rows(path)) == [
        SourceRow(2, {"external_id": "A1", "first_name": "Ann", "surname": "Lee"}, unit="line"),
        SourceRow(3, {"external_id": "A2", "surname": "Roe"}, unit="line"),
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
    assert [r.label for r in rows] == ["line 1", "line 3", "line 4", "line 5"]
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


def test_csv_cell_that_is_not_utf8_fails_its_row_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    # saved as Windows-1252 ("ANSI"): é is the single byte 0xe9
    path.write_bytes("external_id,surname\nA1,Lee\nA2,Ren\xe9e\nA3,Roe\n".encode("cp1252"))
    rows = list(iter_rows(path))
    assert [r.fields for r in rows] == [
        {"external_id": "A1", "surname": "Lee"},
        None,
        {"external_id": "A3", "surname": "Roe"},
    ]
    assert rows[1].label == "line 3" and "not UTF-8" in (rows[1].error or "")


def test_csv_unclosed_quote_fails_a_row_instead_of_swallowing_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text('external_id,surname\nA0,"x"y\nA1,Lee\nA2,"Roe\nA3,Poe\n')
    rows = list(iter_rows(path))
    assert rows[0].fields is None and "malformed CSV" in (rows[0].error or "")
    assert (rows[0].label, rows[2].label) == ("line 2", "line 4")
    assert rows[1].fields == {"external_id": "A1", "surname": "Lee"}
    assert rows[2].fields is None and "malformed CSV" in (rows[2].error or "")
    assert len(rows) == 3


def test_csv_rows_of_empty_cells_are_blank_lines_and_quotes_inside_cells_are_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "book.csv"
    path.write_text('external_id,surname\n,,\nA1,O"Brien\n\n,\nA2,"Lee, ""Jr""\nof Leeds"\n')
    assert list(iter_rows(path)) == [
        SourceRow(3, {"external_id": "A1", "surname": 'O"Brien'}, unit="line"),
        SourceRow(6, {"external_id": "A2", "surname": 'Lee, "Jr"\nof Leeds'}, unit="line"),
    ]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("external_id,surname,surname", "repeats column(s) 'surname'"),
        ("id,surname", "no 'external_id' column"),
        ("external_id,nom_\xe9", "header is not UTF-8"),
    ],
)
def test_a_csv_header_that_would_lose_data_is_refused_before_any_row(
    tmp_path: Path, header: str, message: str
) -> None:
    path = tmp_path / "book.csv"
    path.write_bytes(f"{header}\nA1,x,y\n".encode("cp1252"))
    with pytest.raises(RowFileError, match=re.escape(message)):
        check_rows(path, key="external_id")
    with pytest.raises(RowFileError, match=re.escape(message)):
        list(iter_rows(path, key="external_id"))


def test_jsonl_with_a_byte_order_mark_reads_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "book.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"external_id": "A1"}\n{"external_id": "A2"}\n')
    assert [r.fields for r in iter_rows(path)] == [{"external_id": "A1"}, {"external_id": "A2"}]


def test_csv_header_with_trailing_blank_columns_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("external_id,surname,,\nA1,Lee,,\n")
    check_rows(path, key="external_id")
    assert [r.fields for r in iter_rows(path)] == [{"external_id": "A1", "surname": "Lee"}]


def test_csv_rows_are_numbered_by_the_line_they_start_on_across_multiline_cells(
    tmp_path: Path,
) -> None:
    path = tmp_path / "book.csv"
    path.write_text('external_id,note\nA1,"two\nlines"\n\nA2,x\nA3,"un\nclosed\n')
    rows = list(iter_rows(path))
    assert [r.label for r in rows] == ["line 2", "line 5", "line 6"]
    assert rows[2].fields is None
