from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from dizions_async.jobs import ExportProgress, export
from dizions_async.jobs._export import write_records
from dizions_async.jobs._writers import csv_cell
from dizions_async.query import Query


async def _aiter(records: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for record in records:
        yield record


RECORDS = [
    {"id": 1, "surname": "Lee"},
    {"id": 2, "surname": "Roe", "postcode": "AB1 2CD"},
    {"id": 3, "first_name": "Ann", "surname": "O'Neil, Jr"},
]


async def test_jsonl_writes_one_object_per_line(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    count, columns = await write_records(_aiter(RECORDS), out, format="jsonl")
    assert count == 3 and columns is None
    assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == RECORDS


async def test_csv_without_fields_uses_the_union_of_keys_in_first_seen_order(
    tmp_path: Path,
) -> None:
    out = tmp_path / "x.csv"
    count, columns = await write_records(_aiter(RECORDS), out, format="csv")
    assert columns == ("id", "surname", "postcode", "first_name")
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(columns)
    assert rows[1:] == [
        ["1", "Lee", "", ""],
        ["2", "Roe", "AB1 2CD", ""],
        ["3", "O'Neil, Jr", "", "Ann"],
    ]
    assert count == 3


async def test_csv_with_fields_writes_exactly_those_columns(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    _, columns = await write_records(_aiter(RECORDS), out, format="csv", fields=("surname", "id"))
    assert columns == ("surname", "id")
    assert out.read_text().splitlines() == ["surname,id", "Lee,1", "Roe,2", '"O\'Neil, Jr",3']


async def test_csv_of_no_records_is_an_empty_header(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    assert await write_records(_aiter([]), out, format="csv") == (0, ())
    assert out.read_bytes() == b"\r\n"


async def test_a_failed_export_leaves_no_file_under_the_real_name(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"

    async def broken() -> AsyncIterator[dict[str, Any]]:
        yield {"id": 1}
        raise ConnectionError("network went away")

    with pytest.raises(ConnectionError):
        await write_records(broken(), out)
    assert list(tmp_path.iterdir()) == []


async def test_binary_file_object_is_written_and_left_open() -> None:
    sink = io.BytesIO()
    await write_records(_aiter(RECORDS[:1]), sink, format="jsonl")
    assert not sink.closed
    assert sink.getvalue() == b'{"id":1,"surname":"Lee"}\n'


async def test_progress_callback_sees_the_running_count(tmp_path: Path) -> None:
    seen: list[int] = []
    await write_records(_aiter(RECORDS), tmp_path / "x.jsonl", on_record=seen.append)
    assert seen == [1, 2, 3]


async def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        await write_records(_aiter(RECORDS), tmp_path / "x.xml", format="xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), ("a", "a"), (3, "3"), (1.5, "1.5"), (True, "true"), ([1, 2], "[1,2]")],
)
def test_csv_cell(value: Any, text: str) -> None:
    assert csv_cell(value) == text


class FakeStreamer:
    """A client whose ``stream_many`` yields each query's records, reporting pieces done."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.calls: list[dict[str, Any]] = []

    async def stream_many(
        self, queries: Iterable[Query], *, dedupe: bool = False, on_progress: Any = None
    ) -> AsyncIterator[dict[str, Any]]:
        pieces = list(queries)
        self.calls.append({"pieces": pieces, "dedupe": dedupe})
        total = len(pieces)
        if on_progress is not None:
            on_progress(0, total)
        share = -(-len(self.records) // total)
        for done in range(1, total + 1):
            for record in self.records[(done - 1) * share : done * share]:
                yield record
            if on_progress is not None:
                on_progress(done, total)


async def test_export_splits_by_month_and_reports_pieces(tmp_path: Path) -> None:
    client = FakeStreamer(RECORDS)
    seen: list[ExportProgress] = []
    query = Query("referrals").date_range("date", "2024-01-01", "2024-02-29")
    summary = await export(
        client, query, tmp_path / "r.jsonl", split="month", on_progress=seen.append
    )
    assert (summary.records, summary.pieces, summary.format) == (3, 2, "jsonl")
    pieces = client.calls[0]["pieces"]
    assert [p.date_ranges[0][2].isoformat() for p in pieces] == ["2024-01-31", "2024-02-29"]
    assert client.calls[0]["dedupe"] is True
    assert seen[-1] == ExportProgress(3, 2, 2)
    assert ExportProgress(2, 0, 2) in seen
    assert "3 records" in summary.describe()


async def test_export_without_split_is_one_piece_without_dedupe(tmp_path: Path) -> None:
    client = FakeStreamer(RECORDS)
    summary = await export(client, Query("clients"), tmp_path / "c.jsonl")
    assert summary.pieces == 1 and client.calls[0]["dedupe"] is False


async def test_export_split_by_values(tmp_path: Path) -> None:
    client = FakeStreamer(RECORDS)
    query = Query("clients").id(*range(1, 11))
    await export(client, query, tmp_path / "c.jsonl", split=("id", 4))
    assert [len(p.ids) for p in client.calls[0]["pieces"]] == [4, 4, 2]


async def test_export_csv_columns_are_the_selected_fields(tmp_path: Path) -> None:
    client = FakeStreamer(RECORDS)
    query = Query("clients").fields("surname", "id")
    summary = await export(client, query, tmp_path / "c.csv", format="csv")
    assert summary.columns == ("surname", "id")
    assert (tmp_path / "c.csv").read_text().splitlines()[0] == "surname,id"


TRICKY = [
    {"id": 1, "name": 'say "hi", then\nleave', "town": "Łódź / Zürich ☃", "tags": ["a", "b,c"]},
    {"id": 2, "name": "", "town": None, "tags": {"k": 'v"'}},
]


@pytest.mark.parametrize("fields", [None, ("id", "name", "town", "tags")])
async def test_csv_round_trips_commas_quotes_newlines_non_ascii_and_nested_values(
    tmp_path: Path, fields: tuple[str, ...] | None
) -> None:
    out = tmp_path / "x.csv"
    await write_records(_aiter(TRICKY), out, format="csv", fields=fields)
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [
        {
            "id": "1",
            "name": 'say "hi", then\nleave',
            "town": "Łódź / Zürich ☃",
            "tags": '["a","b,c"]',
        },
        {"id": "2", "name": "", "town": "", "tags": '{"k":"v\\""}'},
    ]


FORMULAS = [
    {"id": -5, "name": '=HYPERLINK("http://x")', "note": "+44 20", "x": "-1+2", "y": "@SUM(A1)"},
    {"id": 2, "name": "\t=1+1", "note": "a=b", "x": "ok", "y": -2.5},
]


@pytest.mark.parametrize("fields", [None, ("id", "name", "note", "x", "y")])
async def test_csv_prefixes_a_quote_to_text_a_spreadsheet_would_run_as_a_formula(
    tmp_path: Path, fields: tuple[str, ...] | None
) -> None:
    out = tmp_path / "x.csv"
    await write_records(_aiter(FORMULAS), out, format="csv", fields=fields)
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1:] == [
        ["-5", '\'=HYPERLINK("http://x")', "'+44 20", "'-1+2", "'@SUM(A1)"],
        ["2", "'\t=1+1", "a=b", "ok", "-2.5"],
    ]


async def test_csv_formula_escaping_can_be_turned_off_and_never_touches_jsonl(
    tmp_path: Path,
) -> None:
    raw = tmp_path / "raw.csv"
    await write_records(_aiter(FORMULAS), raw, format="csv", escape_formulas=False)
    with raw.open(newline="") as handle:
        assert list(csv.reader(handle))[1][1] == '=HYPERLINK("http://x")'
    lines = tmp_path / "x.jsonl"
    await write_records(_aiter(FORMULAS), lines, format="jsonl")
    assert orjson.loads(lines.read_bytes().splitlines()[0]) == FORMULAS[0]


async def test_a_failed_write_closes_the_record_stream_at_once() -> None:
    closed: list[bool] = []

    async def stream() -> AsyncIterator[dict[str, Any]]:
        try:
            for i in range(1000):
                yield {"id": i}
        finally:
            closed.append(True)

    class Full(io.BytesIO):
        def write(self, data: Any) -> int:
            if self.tell() > 100:
                raise OSError(28, "No space left on device")
            return super().write(data)

    with pytest.raises(OSError, match="No space"):
        await write_records(stream(), Full())
    assert closed == [True]
