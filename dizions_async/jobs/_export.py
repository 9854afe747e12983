"""The export job: a query's records streamed to JSONL or CSV as they arrive.

Records come from the client's streaming read (decoded incrementally, piece by piece
when ``split`` partitions the query) and go straight to a writer, so memory stays flat
whatever the size of the export. See ``_writers`` for how CSV columns are chosen.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs

from dizions_async.jobs._writers import ExportFormat, Output, make_writer, open_output
from dizions_async.query import Query

__all__ = ["ExportProgress", "ExportSummary", "csv_fields", "output_name", "write_records"]


@attrs.frozen
class ExportProgress:
    """Where an export is: records written, and pieces of a split query done of total."""

    records: int
    pieces_done: int = 0
    pieces_total: int = 0


@attrs.frozen
class ExportSummary:
    """What an export wrote.

    Attributes:
        records: how many records were written.
        out: the output path, or ``"-"`` for standard output or a file object.
        format: ``"jsonl"`` or ``"csv"``.
        columns: the CSV header (None for JSONL).
        pieces: how many requests the query was split into (1 when not split).
        elapsed: seconds the export took.
    """

    records: int
    out: str
    format: str
    columns: tuple[str, ...] | None
    pieces: int
    elapsed: float

    def describe(self) -> str:
        """One line: how many records went where, in how long."""
        where = "standard output" if self.out == "-" else self.out
        rate = self.records / self.elapsed if self.elapsed > 0 else 0.0
        return (
            f"exported {self.records} records as {self.format} to {where} in "
            f"{self.elapsed:.1f}s ({rate:,.0f}/s, {self.pieces} request(s))"
        )


def output_name(out: Output) -> str:
    """How a summary names ``out``: its path, or ``"-"``."""
    return os.fspath(out) if isinstance(out, (str, os.PathLike)) else "-"


async def write_records(
    records: AsyncIterator[dict[str, Any]],
    out: Output,
    *,
    format: ExportFormat = "jsonl",
    fields: tuple[str, ...] | None = None,
    on_record: Callable[[int], None] | None = None,
) -> tuple[int, tuple[str, ...] | None]:
    """Write every record of ``records`` to ``out``.

    Args:
        records: the records, as they arrive.
        out: a path (written to ``PATH.part``, renamed when complete), ``"-"`` for
            standard output, or a binary file object.
        format: ``"jsonl"`` or ``"csv"``.
        fields: the CSV columns; None for the union of the records' keys.
        on_record: called with the running count after each record.

    Returns:
        How many records were written, and the CSV columns (None for JSONL).

    Raises:
        ValueError: an unknown format.
        OSError: the output cannot be written.
    """
    count = 0
    with open_output(out) as sink:
        writer = make_writer(format, sink, fields)
        async for record in records:
            writer.write(record)
            count += 1
            if on_record is not None:
                on_record(count)
        writer.finish()
    return count, writer.columns


def csv_fields(query: Query) -> tuple[str, ...] | None:
    """The CSV columns a query asks for: its selected fields, if any."""
    return tuple(query.field_names) or None
