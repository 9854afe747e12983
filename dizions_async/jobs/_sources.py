"""Where migration rows come from: an iterable of mappings, a CSV file or a JSONL file.

Every source yields :class:`SourceRow` values one at a time (files are never read whole),
so that a row which cannot be used (a broken JSON line, a line that is not an object) is
reported by where it is instead of stopping the job. A file's rows are numbered by the
line a person sees in an editor: a CSV row by the line it starts on (the header is line
1; a quoted cell may run over several lines), a JSONL record by its line. Rows of an
iterable are numbered from 1.

CSV cells are text; an empty cell means "no value" and is left out of the row, as is a
``null`` in JSONL, so that a blank spreadsheet cell never overwrites anything. A CSV line
whose cells are all empty (spreadsheets save ``,,,`` for a formatted but empty row) is a
blank line: skipped, like a JSONL blank line.

What fails one row, not the job: a CSV row with more cells than the header, a cell that
is not UTF-8 (a file saved as ANSI/Windows-1252: decoded with ``surrogateescape`` and
refused row by row, never guessed), a broken quote (parsed strictly: a lenient parser
would let an unclosed quote swallow every later row into one cell, silently), a JSONL
line that is not a JSON object. What stops the job before any row is sent
(:class:`RowFileError`): a CSV header that repeats a column (the later cell would silently
replace the earlier), that lacks the source key column, or that is not UTF-8.
"""

from __future__ import annotations

import codecs
import csv
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, TextIO

import attrs
import orjson

__all__ = [
    "RowFileError",
    "RowFormat",
    "RowSource",
    "SourceRow",
    "check_rows",
    "count_rows",
    "iter_rows",
    "source_format",
]

RowFormat = Literal["csv", "jsonl"]
#: What ``migrate`` accepts as rows: mappings, or the path of a CSV or JSONL file.
RowSource = Iterable[Mapping[str, Any]] | str | os.PathLike[str]

_SUFFIXES: dict[str, RowFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


_LINE = "line"


class RowFileError(ValueError):
    """The row file cannot be used at all (its CSV header is wrong): fix it and re-run."""


@attrs.frozen
class SourceRow:
    """One input row: where it is, its fields, or why it could not be read.

    Attributes:
        number: the file line the row starts on, or the row's 1-based position in an
            iterable.
        fields: the row's fields; None when it could not be read.
        error: why it could not be read.
        unit: ``"line"`` for a file, ``"row"`` for an iterable.
    """

    number: int
    fields: dict[str, Any] | None
    error: str | None = None
    unit: str = "row"

    @property
    def label(self) -> str:
        """Where the row is, as a person finds it: ``line 7`` of a file, ``row 3``."""
        return f"{self.unit} {self.number}"


def source_format(path: str | os.PathLike[str], format: RowFormat | None = None) -> RowFormat:
    """The format of a row file: ``format`` when given, else from the file's suffix.

    Raises:
        ValueError: the suffix is none of .csv, .jsonl, .ndjson.
    """
    if format is not None:
        return format
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    try:
        return _SUFFIXES[suffix]
    except KeyError:
        raise ValueError(
            f"cannot tell the format of {os.fspath(path)!r} from its suffix: "
            "use .csv, .jsonl or .ndjson, or pass format='csv' or 'jsonl'"
        ) from None


def iter_rows(
    source: RowSource, *, format: RowFormat | None = None, key: str | None = None
) -> Iterator[SourceRow]:
    """The rows of ``source``, one at a time.

    Args:
        source: an iterable of mappings, or the path of a CSV (header row first) or JSONL
            (one JSON object per line) file.
        format: the file's format when its suffix does not say.
        key: the source key column, which a CSV header must then have.

    Raises:
        ValueError: a path whose format cannot be told.
        RowFileError: (when iterated) the CSV header is unusable.
        OSError: the file cannot be opened.
    """
    if isinstance(source, (str, os.PathLike)):
        if source_format(source, format) == "csv":
            return _csv_rows(source, key)
        return _jsonl_rows(source)
    return _mapping_rows(source)


def check_rows(
    source: RowSource, *, format: RowFormat | None = None, key: str | None = None
) -> None:
    """Check that ``source`` can be read at all: its format, and a CSV file's header.

    Raises:
        ValueError: a path whose format cannot be told.
        RowFileError: the CSV header repeats a column, lacks ``key`` or is not UTF-8.
        OSError: the file cannot be opened.
    """
    if isinstance(source, (str, os.PathLike)) and source_format(source, format) == "csv":
        with _open_csv(source) as handle:
            _check_header(source, csv.reader(handle, strict=True), key)


def count_rows(
    source: RowSource, *, format: RowFormat | None = None, key: str | None = None
) -> int | None:
    """How many rows ``source`` holds, when that is cheap to know (a sized collection or a
    file, read once more), else None (a generator must not be consumed twice)."""
    if isinstance(source, (str, os.PathLike)):
        return sum(1 for _ in iter_rows(source, format=format, key=key))
    if isinstance(source, (list, tuple)):
        return len(source)
    return None


def _mapping_rows(rows: Iterable[Mapping[str, Any]]) -> Iterator[SourceRow]:
    for number, row in enumerate(rows, 1):
        if isinstance(row, Mapping):
            yield SourceRow(number, {k: v for k, v in row.items() if v is not None})
        else:
            yield SourceRow(number, None, f"row is a {type(row).__name__}, not a mapping")


def _open_csv(path: str | os.PathLike[str]) -> TextIO:
    # utf-8-sig: spreadsheets often save CSV with a byte-order mark before the header.
    # surrogateescape: a byte that is not UTF-8 fails its own row (see _not_utf8), not
    # the whole job halfway through.
    return open(path, newline="", encoding="utf-8-sig", errors="surrogateescape")


def _not_utf8(texts: Iterable[str | None]) -> bool:
    for text in texts:
        if text and not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def _check_header(
    path: str | os.PathLike[str], reader: Iterator[list[str]], key: str | None
) -> list[str] | None:
    """The header row, checked; None for an empty file."""
    name = os.fspath(path)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise RowFileError(f"{name}: the header row cannot be read: {exc}") from None
    if header is None:
        return None
    if _not_utf8(header):
        raise RowFileError(
            f"{name}: the header is not UTF-8 text: save the file as 'CSV UTF-8' and run again"
        )
    # blank names (spreadsheets save a trailing ",," after the last column) hold no field
    repeated = sorted({c for c in header if c.strip() and header.count(c) > 1})
    if repeated:
        raise RowFileError(
            f"{name}: the header repeats column(s) {', '.join(map(repr, repeated))}: each "
            "row would keep only the last of their cells; rename or remove the repeats"
        )
    if key is not None and key not in header:
        raise RowFileError(
            f"{name}: no {key!r} column in the header ({', '.join(header)}): "
            "name the source key column (key=..., --key)"
        )
    return header


def _csv_rows(path: str | os.PathLike[str], key: str | None = None) -> Iterator[SourceRow]:
    with _open_csv(path) as handle:
        # strict: a broken quote is an error (that row fails) instead of a cell that
        # silently runs on, swallowing the rows after it
        reader = csv.reader(handle, strict=True)
        header = _check_header(path, reader, key)
        if header is None:
            return
        while True:
            # the line this record starts on: line_num counts the lines read so far
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield SourceRow(line, None, f"malformed CSV ({exc})", _LINE)
                continue
            if not any(cells):
                continue  # a blank line, or a row of empty cells
            if len(cells) > len(header):
                extra = len(cells) - len(header)
                yield SourceRow(line, None, f"{extra} more cells than the header has", _LINE)
            elif _not_utf8(cells):
                yield SourceRow(
                    line,
                    None,
                    "not UTF-8 text (a file saved as ANSI?): save the file as 'CSV UTF-8' "
                    "and run again",
                    _LINE,
                )
            else:
                fields = {k: v for k, v in zip(header, cells, strict=False) if v}
                yield SourceRow(line, fields, unit=_LINE)


def _jsonl_rows(path: str | os.PathLike[str]) -> Iterator[SourceRow]:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if number == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]  # a byte-order mark, as Windows tools write
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield SourceRow(number, None, f"not JSON: {exc}", _LINE)
                continue
            if not isinstance(value, dict):
                kind = type(value).__name__
                yield SourceRow(number, None, f"a JSON {kind}, not an object", _LINE)
                continue
            fields = {k: v for k, v in value.items() if v is not None}
            yield SourceRow(number, fields, unit=_LINE)
