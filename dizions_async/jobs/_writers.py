"""Export writers: records (dicts) in, JSONL, CSV or Parquet bytes out, one record at a time.

Memory stays flat whatever the number of records: a writer holds one record, plus, for a
CSV without selected fields, the set of column names seen so far.

CSV columns are the selected fields when the query names them. Otherwise they are the
union of the keys of every record, in the order first seen; since the header comes first
but the union is known only at the end, that CSV is written in two passes: records are
spooled as JSONL to a temporary file (in memory up to a few MB, then on disk) while the
key set grows, then the header and the rows are written from the spool. The spool costs
a second encode and decode per record; keeping the records in memory would not be flat,
and guessing the columns from the first record would silently drop later keys.

Parquet (the ``[parquet]`` extra, pyarrow) has typed columns from the resource's model
(see ``dizions_async._arrow``): records are turned into Arrow record batches of a few
thousand and written as a row group every :data:`PARQUET_ROW_GROUP` records, so memory
holds one row group of compact Arrow columns at most, whatever the size of the export.

A path output is written to ``PATH.part`` and renamed over ``PATH`` only when the export
is complete, so a crashed export never leaves a truncated file under the real name. Both
are ``0600`` and the ``.part`` is never opened through a symlink (see ``_files.py``).

CSV formula injection: a spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or
``@`` (or a tab or carriage return before one) as a formula, and Dizions text fields hold
what anyone typed into a referral form. So by default (``escape_formulas=True``) a text
cell starting with one of those characters is written with a leading ``'``, as OWASP
recommends; spreadsheets then show it as text. Numbers are never changed (``-5`` stays a
number), nor is JSONL, which is the lossless format; ``escape_formulas=False`` writes text
exactly as it is, for a CSV that only programs will read.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, Any, Literal, Protocol

import orjson

from dizions_async.jobs._files import open_part

__all__ = [
    "CsvWriter",
    "ExportFormat",
    "JsonlWriter",
    "Output",
    "ParquetWriter",
    "RecordWriter",
    "csv_cell",
    "make_writer",
    "open_output",
]

ExportFormat = Literal["jsonl", "csv", "parquet"]
#: Where an export goes: a path, ``"-"`` for standard output, or a binary file object.
Output = str | os.PathLike[str] | IO[bytes]

# Records up to this size stay in memory in the CSV spool before it moves to disk.
_SPOOL_MEMORY = 8 * 1024 * 1024
#: Records per Parquet row group (about 10 MB of Arrow columns for a client record).
PARQUET_ROW_GROUP = 65_536


class RecordWriter(Protocol):
    """Writes records one at a time; ``finish`` completes the output; ``close`` releases
    what the writer holds (after ``finish``, or instead of it when the export failed)."""

    def write(self, record: dict[str, Any]) -> None: ...

    def finish(self) -> None: ...

    def close(self) -> None: ...

    @property
    def columns(self) -> tuple[str, ...] | None: ...


#: First characters that make a spreadsheet read a cell as a formula (OWASP's list).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any, *, escape_formulas: bool = False) -> str:
    """One value as CSV text: nothing for None, JSON for booleans, lists and objects.

    Args:
        value: the value.
        escape_formulas: prefix ``'`` to text (a string, list or object) that a
            spreadsheet would run as a formula; numbers are left alone.

    Returns:
        The cell's text.
    """
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        text = orjson.dumps(value).decode()
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        return "true" if value else "false"
    else:
        return str(value)
    if escape_formulas and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


class JsonlWriter:
    """One JSON object per line."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink

    @property
    def columns(self) -> tuple[str, ...] | None:
        return None

    def write(self, record: dict[str, Any]) -> None:
        self._sink.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))

    def finish(self) -> None:
        self._sink.flush()

    def close(self) -> None:
        pass


class _Utf8:
    """The text side csv.writer needs, encoding onto a binary sink it does not own.

    (An io.TextIOWrapper would close the sink when garbage-collected, standard output
    included, unless detached on every path.)
    """

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink

    def write(self, text: str) -> int:
        return self._sink.write(text.encode("utf-8"))


class CsvWriter:
    """CSV with a header row; see the module docstring for how columns are chosen.

    Args:
        sink: the binary output.
        fields: the columns, when the query selected fields; None for the union of keys.
        escape_formulas: prefix ``'`` to text cells a spreadsheet would run as a formula
            (see the module docstring); header names included.
    """

    def __init__(
        self,
        sink: IO[bytes],
        fields: Sequence[str] | None = None,
        *,
        escape_formulas: bool = True,
    ) -> None:
        self._sink = sink
        self._escape = escape_formulas
        self._csv = csv.writer(_Utf8(sink))
        self._fields: tuple[str, ...] | None = tuple(fields) if fields else None
        self._seen: dict[str, None] = {}
        self._spool: IO[bytes] | None = None
        if self._fields is not None:
            self._csv.writerow(self._cells(self._fields))
        else:
            # closed in finish(); its life spans many calls, so no ``with`` block
            self._spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY)  # noqa: SIM115

    @property
    def columns(self) -> tuple[str, ...] | None:
        return self._fields if self._fields is not None else tuple(self._seen)

    def write(self, record: dict[str, Any]) -> None:
        if self._spool is None:
            assert self._fields is not None
            self._csv.writerow(self._cells([record.get(name) for name in self._fields]))
            return
        for name in record:
            if name not in self._seen:
                self._seen[name] = None
        self._spool.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))

    def finish(self) -> None:
        if self._spool is not None:
            columns = tuple(self._seen)
            self._csv.writerow(self._cells(columns))
            self._spool.seek(0)
            for line in self._spool:
                record = orjson.loads(line)
                self._csv.writerow(self._cells([record.get(name) for name in columns]))
            self._spool.close()
            self._spool = None
            self._fields = columns
        self._sink.flush()

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def _cells(self, values: Sequence[Any]) -> list[str]:
        return [csv_cell(v, escape_formulas=self._escape) for v in values]


class ParquetWriter:
    """Parquet with typed columns from ``resource``'s model; see the module docstring.

    Args:
        sink: the binary output.
        resource: the resource's path name: it decides the columns and their types.
        fields: the query's selected fields (the columns), or None for every documented
            field; either way an ``extra`` column holds the rest of each record as JSON.
        row_group: records per row group.

    Raises:
        ConfigurationError: pyarrow is not installed (the message says how to install it).
    """

    def __init__(
        self,
        sink: IO[bytes],
        resource: str,
        fields: Sequence[str] | None = None,
        *,
        row_group: int = PARQUET_ROW_GROUP,
    ) -> None:
        from dizions_async._arrow import BATCH_ROWS, ArrowColumns, import_pyarrow

        pa = import_pyarrow()
        self._sink = sink
        self._arrow = ArrowColumns(resource, fields or (), label=f"export of {resource}")
        self._schema = self._arrow.schema()
        self._writer = pa.parquet.ParquetWriter(sink, self._schema)
        self._table = pa.Table.from_batches
        self._batch_rows = min(BATCH_ROWS, row_group)
        self._row_group = row_group
        self._rows: list[dict[str, Any]] = []
        self._batches: list[Any] = []
        self._batched = 0

    @property
    def columns(self) -> tuple[str, ...] | None:
        return self._arrow.all_names

    def write(self, record: dict[str, Any]) -> None:
        self._rows.append(record)
        if len(self._rows) >= self._batch_rows:
            self._to_batch()
            if self._batched >= self._row_group:
                self._write_row_group()

    def _to_batch(self) -> None:
        self._batches.append(self._arrow.batch(self._rows, self._schema))
        self._batched += len(self._rows)
        self._rows = []

    def _write_row_group(self) -> None:
        table = self._table(self._batches, schema=self._schema)
        self._writer.write_table(table, row_group_size=max(self._batched, 1))
        self._batches, self._batched = [], 0

    def finish(self) -> None:
        if self._rows:
            self._to_batch()
        if self._batches:
            self._write_row_group()
        self._writer.close()
        self._sink.flush()

    def close(self) -> None:
        # pyarrow's writer would otherwise close itself when garbage-collected, after the
        # sink is closed, and fail there; on a failed export its output is discarded.
        with contextlib.suppress(Exception):
            self._writer.close()
        self._rows, self._batches = [], []


def make_writer(
    format: ExportFormat,
    sink: IO[bytes],
    fields: Sequence[str] | None = None,
    *,
    escape_formulas: bool = True,
    resource: str | None = None,
) -> RecordWriter:
    """The writer for ``format`` ("jsonl", "csv" or "parquet") on ``sink``.

    ``escape_formulas`` applies to CSV only (see the module docstring); ``resource``
    (the records' resource, for its column types) is needed by Parquet only.

    Raises:
        ValueError: an unknown format, or Parquet without a resource.
        ConfigurationError: Parquet without pyarrow installed.
    """
    if format == "jsonl":
        return JsonlWriter(sink)
    if format == "csv":
        return CsvWriter(sink, fields, escape_formulas=escape_formulas)
    if format == "parquet":
        if resource is None:
            raise ValueError("a Parquet export needs the records' resource for its columns")
        return ParquetWriter(sink, resource, fields)
    raise ValueError(f"unknown export format {format!r}: use 'jsonl', 'csv' or 'parquet'")


@contextlib.contextmanager
def open_output(out: Output) -> Iterator[IO[bytes]]:
    """A binary sink for ``out``; a path is written to ``PATH.part`` and renamed on success.

    On failure the ``.part`` file is removed; a file object or standard output is left
    open (the caller owns it) and flushed.
    """
    if isinstance(out, (str, os.PathLike)) and os.fspath(out) != "-":
        final = os.fspath(out)
        part = final + ".part"
        # Opened before the cleanup below applies: what was refused here is not ours.
        handle = open_part(part)
        try:
            with handle:
                yield handle
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(part)
            raise
        os.replace(part, final)
        return
    sink: IO[bytes] = sys.stdout.buffer if isinstance(out, (str, os.PathLike)) else out
    try:
        yield sink
    finally:
        sink.flush()
