"""Records to typed Arrow columns, for Parquet export and ``Client.fetch_arrow``.

pyarrow is an optional extra (``dizions_async[parquet]``): this module never imports it
at import time, only when a table or file is built (:func:`import_pyarrow`), and says how
to install it when it is missing.

The columns come from the resource's model (the field table): ``int64`` IDs and counts,
``float64``, ``string``, ``date32`` dates, ``timestamp[us]`` date-times, ``bool`` for
``Y``/``N`` flags and, for lists of related records, their JSON text. Every column is
nullable. Values are converted by the same rules as the typed records
(:mod:`dizions_async._convert`), so a Parquet file holds what ``fetch(as_=...)`` would.
With the query's ``fields(...)``, those fields are the columns, in that order (one the
table does not know, such as an extension field, is a string column: text as it is,
anything else as JSON). Keys of a record that no column takes go, as a JSON object, to
the last column, ``extra`` (null when there are none): nothing is dropped.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson

from dizions_async._convert import KIND_CONVERTERS, FieldValueError, where_in_batch
from dizions_async._fields import Kind, fields_of
from dizions_async.errors import ConfigurationError, DecodeError

__all__ = [
    "EXTRA_COLUMN",
    "INSTALL_HINT",
    "ArrowColumns",
    "import_pyarrow",
    "table_from_records",
]

INSTALL_HINT = 'pip install "dizions_async[parquet]"'
#: The column that holds, as JSON, the keys no other column takes.
EXTRA_COLUMN = "extra"
#: Records turned into one Arrow record batch at a time (a few MB of Python objects).
BATCH_ROWS = 4096


@functools.cache
def import_pyarrow() -> Any:
    """The ``pyarrow`` module, with ``pyarrow.parquet`` loaded.

    Raises:
        ConfigurationError: pyarrow is not installed; the one-line message says how to.
    """
    try:
        import pyarrow
        import pyarrow.parquet  # loads the submodule onto pyarrow
    except ImportError:
        raise ConfigurationError(
            f"Parquet and Arrow output need pyarrow, which is not installed: {INSTALL_HINT}"
        ) from None
    return pyarrow


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _list_text(value: Any) -> str | None:
    items = KIND_CONVERTERS[Kind.LIST](value)
    return None if items is None else orjson.dumps(items).decode()


class ArrowColumns:
    """The columns of one resource's records and how each value is converted.

    Args:
        resource: the resource's path name (``extension_database/...`` included).
        selected: the query's selected fields, or empty for every documented field.
        label: names the pull in error messages.
        ignore: keys to leave out of ``extra`` (one fetched only to de-duplicate).
    """

    def __init__(
        self,
        resource: str,
        selected: Sequence[str] = (),
        label: str = "",
        ignore: Sequence[str] = (),
    ) -> None:
        kinds: dict[str, Kind | None] = {f.name: f.kind for f in fields_of(resource)}
        names = list(dict.fromkeys(selected)) if selected else list(kinds)
        if EXTRA_COLUMN in names:
            names.remove(EXTRA_COLUMN)  # a field of that name stays in the extra column
        self.names: tuple[str, ...] = tuple(names)
        self.kinds: tuple[Kind | None, ...] = tuple(kinds.get(n) for n in names)
        self._known = frozenset((*names, *ignore))
        self._label = label or f"records of {resource}"
        self._convert = [self._converter(kind) for kind in self.kinds]

    @staticmethod
    def _converter(kind: Kind | None) -> Any:
        if kind is None:
            return _json_text
        if kind is Kind.LIST:
            return _list_text
        return KIND_CONVERTERS[kind]

    def schema(self) -> Any:
        """The ``pyarrow.Schema``: one nullable column per name, then ``extra``."""
        pa = import_pyarrow()
        types = {
            Kind.ID: pa.int64(),
            Kind.INT: pa.int64(),
            Kind.FLOAT: pa.float64(),
            Kind.TEXT: pa.string(),
            Kind.DATE: pa.date32(),
            Kind.DATETIME: pa.timestamp("us"),
            Kind.FLAG: pa.bool_(),
            Kind.LIST: pa.string(),
        }
        fields = [
            pa.field(n, types.get(k, pa.string())) if k else pa.field(n, pa.string())
            for n, k in zip(self.names, self.kinds, strict=True)
        ]
        return pa.schema([*fields, pa.field(EXTRA_COLUMN, pa.string())])

    def batch(self, rows: Sequence[Mapping[str, Any]], schema: Any) -> Any:
        """``rows`` as one ``pyarrow.RecordBatch`` of ``schema``.

        Raises:
            DecodeError: a value its column's type cannot hold; the message names the
                record and the field, not the value.
        """
        pa = import_pyarrow()
        arrays = []
        for index, (name, convert) in enumerate(zip(self.names, self._convert, strict=True)):
            try:
                values = [None if (v := row.get(name)) is None else convert(v) for row in rows]
            except FieldValueError:
                raise self._error(rows, name, convert) from None
            arrays.append(pa.array(values, type=schema.field(index).type))
        known = self._known
        extra = [
            orjson.dumps(rest).decode()
            if (rest := {k: v for k, v in row.items() if k not in known})
            else None
            for row in rows
        ]
        arrays.append(pa.array(extra, type=pa.string()))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _error(self, rows: Sequence[Mapping[str, Any]], name: str, convert: Any) -> DecodeError:
        for index, row in enumerate(rows):
            value = row.get(name)
            try:
                if value is not None:
                    convert(value)
            except FieldValueError as exc:
                where = where_in_batch(row, index)
                return DecodeError(f"{self._label}: {where}: field {name!r}: {exc}")
        return DecodeError(f"{self._label}: field {name!r} cannot be converted")

    @property
    def all_names(self) -> tuple[str, ...]:
        """The column names, ``extra`` last."""
        return (*self.names, EXTRA_COLUMN)


async def table_from_records(records: AsyncIterator[dict[str, Any]], columns: ArrowColumns) -> Any:
    """A ``pyarrow.Table`` of ``records``, built one record batch at a time (the Python
    records of one batch at most are held, besides the Arrow columns). ``records`` is
    closed when this returns or fails."""
    pa = import_pyarrow()
    schema = columns.schema()
    batches = []
    rows: list[dict[str, Any]] = []
    try:
        async for record in records:
            rows.append(record)
            if len(rows) >= BATCH_ROWS:
                batches.append(columns.batch(rows, schema))
                rows = []
    finally:
        # A failed batch must stop the reads feeding it now, not at garbage collection.
        aclose = getattr(records, "aclose", None)
        if aclose is not None:
            await aclose()
    if rows or not batches:
        batches.append(columns.batch(rows, schema))
    return pa.Table.from_batches(batches, schema=schema)
