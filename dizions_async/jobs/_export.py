"""The export job: a query's records streamed to JSONL, CSV or Parquet as they arrive.

Records come from the client's streaming read (decoded incrementally, piece by piece
when ``split`` partitions the query) and go straight to a writer, so memory stays flat
whatever the size of the export. See ``_writers`` for how CSV columns are chosen.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol

import attrs

from dizions_async.batching import DateUnit
from dizions_async.jobs._writers import ExportFormat, Output, make_writer, open_output
from dizions_async.query import Query

__all__ = [
    "ExportClient",
    "ExportProgress",
    "ExportSummary",
    "csv_fields",
    "export",
    "output_name",
    "write_records",
]


class ExportClient(Protocol):
    """What ``export`` needs of a client: ``stream_many`` (``dizions_async.Client`` has it)."""

    def stream_many(
        self,
        queries: Iterable[Query],
        *,
        dedupe: bool = False,
        on_progress: Callable[[int, int], object] | None = None,
    ) -> AsyncIterator[dict[str, Any]]: ...


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
        format: ``"jsonl"``, ``"csv"`` or ``"parquet"``.
        columns: the CSV header or the Parquet columns (None for JSONL).
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
    escape_formulas: bool = True,
    resource: str | None = None,
) -> tuple[int, tuple[str, ...] | None]:
    """Write every record of ``records`` to ``out``.

    Args:
        records: the records, as they arrive.
        out: a path (written to ``PATH.part``, renamed when complete), ``"-"`` for
            standard output, or a binary file object.
        format: ``"jsonl"``, ``"csv"`` or ``"parquet"``.
        fields: the CSV or Parquet columns; None for the union of the records' keys
            (CSV) or the resource's documented fields (Parquet).
        on_record: called with the running count after each record.
        escape_formulas: in a CSV, prefix ``'`` to text cells a spreadsheet would run
            as a formula (``=``, ``+``, ``-``, ``@``); False writes text unchanged.
        resource: the records' resource (Parquet takes its column types from it).

    Returns:
        How many records were written, and the columns (None for JSONL).

    Raises:
        ValueError: an unknown format.
        ConfigurationError: Parquet without pyarrow installed.
        DecodeError: (Parquet) a value its column's type cannot hold.
        OSError: the output cannot be written.
    """
    count = 0
    try:
        with open_output(out) as sink:
            writer = make_writer(
                format, sink, fields, escape_formulas=escape_formulas, resource=resource
            )
            with contextlib.closing(writer):
                async for record in records:
                    writer.write(record)
                    count += 1
                    if on_record is not None:
                        on_record(count)
                writer.finish()
    finally:
        # A failed write (disk full, a closed pipe) must stop the reads feeding it now,
        # not whenever the suspended stream is garbage-collected.
        aclose = getattr(records, "aclose", None)
        if aclose is not None:
            await aclose()
    return count, writer.columns


def csv_fields(query: Query) -> tuple[str, ...] | None:
    """The CSV columns a query asks for: its selected fields, if any."""
    return tuple(query.field_names) or None


async def export(
    client: ExportClient,
    query: Query,
    out: Output,
    *,
    format: ExportFormat = "jsonl",
    split: DateUnit | tuple[str, int] | None = None,
    on_progress: Callable[[ExportProgress], None] | None = None,
    escape_formulas: bool = True,
) -> ExportSummary:
    """Stream every record of ``query`` to ``out`` as JSONL, CSV or Parquet, memory flat.

    Args:
        client: a ``Client`` (anything with its ``stream``).
        query: the read; its selected fields (if any) are the CSV columns, else the
            columns are the union of the records' keys in first-seen order.
        out: a path (written as ``PATH.part`` and renamed when complete), ``"-"`` for
            standard output, or a binary file object (left open).
        format: ``"jsonl"``, ``"csv"`` or ``"parquet"`` (the ``[parquet]`` extra: typed
            columns from the resource's model, or the selected fields; an ``extra``
            column holds the other keys of each record as JSON).
        split: as in ``Client.fetch``: ``"day"``, ``"week"``, ``"month"``, ``"year"`` or
            a number of days cuts the query's date range into windows; ``(key, n)`` cuts
            a value list into chunks of ``n``. The pieces are pulled concurrently and
            records repeated across them are written once; their order across pieces is
            the order they arrive in. Repeats are found by ``id``, which is fetched for
            that even when the selected fields leave it out (and then not written).
        on_progress: called with an :class:`ExportProgress` after each record and each
            piece.
        escape_formulas: in a CSV, a text cell starting with ``=``, ``+``, ``-`` or ``@``
            (which a spreadsheet would run as a formula) is written with a leading ``'``
            (OWASP's advice against CSV injection). Numbers and JSONL are never changed;
            pass False for a CSV that only programs read.

    Returns:
        An :class:`ExportSummary`.

    Raises:
        ValueError: an unknown format.
        ConfigurationError: Parquet without pyarrow installed (before anything is read).
        QueryError, APIError, TransportError, DecodeError: from the read; a path output is then
            left untouched (only its ``.part`` file was written, and it is removed).
        OSError: the output cannot be written.
    """
    started = time.monotonic()
    # the latest counts, updated by the two callbacks: records, pieces done, pieces total
    state = [0, 0, 1]

    def report() -> None:
        if on_progress is not None:
            on_progress(ExportProgress(*state))

    def piece_done(done: int, total: int) -> None:
        state[1:] = [done, total]
        report()

    def record_done(count: int) -> None:
        state[0] = count
        report()

    pieces = _pieces(query, split)
    # Only pieces can repeat a record (a date_active record falls in several windows);
    # de-duplication keeps a set of the ids seen, so it is paid for only then. It goes by
    # ``id``: when the chosen fields leave it out, the pieces ask for it too (else every
    # repeat would be written) and it is dropped again before writing.
    dedupe = len(pieces) > 1
    add_id = dedupe and bool(query.field_names) and _ID not in query.field_names
    if add_id:
        pieces = [piece.fields(_ID) for piece in pieces]
    records = client.stream_many(pieces, dedupe=dedupe, on_progress=piece_done)
    if add_id:
        records = _without_id(records)
    count, columns = await write_records(
        records,
        out,
        format=format,
        fields=csv_fields(query) if format in ("csv", "parquet") else None,
        on_record=record_done,
        escape_formulas=escape_formulas,
        resource=query.resource,
    )
    return ExportSummary(
        records=count,
        out=output_name(out),
        format=format,
        columns=columns,
        pieces=max(state[2], 1),
        elapsed=time.monotonic() - started,
    )


_ID = "id"


async def _without_id(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    async for record in records:
        record.pop(_ID, None)
        yield record


def _pieces(query: Query, split: DateUnit | tuple[str, int] | None) -> list[Query]:
    if split is None:
        return [query]
    if isinstance(split, tuple):
        key, size = split
        return query.split_values(key, size)
    return query.split_dates(split)
