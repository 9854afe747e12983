"""Where migration rows come from: an iterable of mappings, a CSV file or a JSONL file.

Every source yields :class:`SourceRow` values one at a time (files are never read whole),
numbered from 1, so that a row which cannot be used (a broken JSON line, a line that is
not an object) is reported by its number instead of stopping the job.

CSV cells are text; an empty cell means "no value" and is left out of the row, as is a
``null`` in JSONL, so that a blank spreadsheet cell never overwrites anything.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import attrs
import orjson

__all__ = ["RowFormat", "RowSource", "SourceRow", "count_rows", "iter_rows", "source_format"]

RowFormat = Literal["csv", "jsonl"]
#: What ``migrate`` accepts as rows: mappings, or the path of a CSV or JSONL file.
RowSource = Iterable[Mapping[str, Any]] | str | os.PathLike[str]

_SUFFIXES: dict[str, RowFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


@attrs.frozen
class SourceRow:
    """One input row: its 1-based number, its fields, or why it could not be read."""

    number: int
    fields: dict[str, Any] | None
    error: str | None = None


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


def iter_rows(source: RowSource, *, format: RowFormat | None = None) -> Iterator[SourceRow]:
    """The rows of ``source``, one at a time.

    Args:
        source: an iterable of mappings, or the path of a CSV (header row first) or JSONL
            (one JSON object per line) file.
        format: the file's format when its suffix does not say.

    Raises:
        ValueError: a path whose format cannot be told.
        OSError: the file cannot be opened.
    """
    if isinstance(source, (str, os.PathLike)):
        if source_format(source, format) == "csv":
            return _csv_rows(source)
        return _jsonl_rows(source)
    return _mapping_rows(source)


def count_rows(source: RowSource, *, format: RowFormat | None = None) -> int | None:
    """How many rows ``source`` holds, when that is cheap to know (a sized collection or a
    file, read once more), else None (a generator must not be consumed twice)."""
    if isinstance(source, (str, os.PathLike)):
        return sum(1 for _ in iter_rows(source, format=format))
    if isinstance(source, (list, tuple)):
        return len(source)
    return None


def _mapping_rows(rows: Iterable[Mapping[str, Any]]) -> Iterator[SourceRow]:
    for number, row in enumerate(rows, 1):
        if isinstance(row, Mapping):
            yield SourceRow(number, {k: v for k, v in row.items() if v is not None})
        else:
            yield SourceRow(number, None, f"row is a {type(row).__name__}, not a mapping")


def _csv_rows(path: str | os.PathLike[str]) -> Iterator[SourceRow]:
    # utf-8-sig: spreadsheets often save CSV with a byte-order mark before the header.
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for number, record in enumerate(reader, 1):
            extra = record.pop(None, None)
            if extra:
                yield SourceRow(number, None, f"{len(extra)} more cells than the header has")
                continue
            yield SourceRow(number, {k: v for k, v in record.items() if v not in ("", None)})


def _jsonl_rows(path: str | os.PathLike[str]) -> Iterator[SourceRow]:
    with open(path, "rb") as handle:
        number = 0
        for line in handle:
            if not line.strip():
                continue
            number += 1
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield SourceRow(number, None, f"not JSON: {exc}")
                continue
            if not isinstance(value, dict):
                yield SourceRow(number, None, f"a JSON {type(value).__name__}, not an object")
                continue
            yield SourceRow(number, {k: v for k, v in value.items() if v is not None})
