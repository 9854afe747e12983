"""Records to typed Arrow columns, for Parquet export and ``Client.fetch_arrow``.

pyarrow is an optional extra (``dizions_async[parquet]``): this module never imports it
at import time, only when a table or file is built (:func:`import_pyarrow`), and says how
to install it when it is missing.

The columns come from the resource's model (the field table): ``int64`` IDs and counts,
``float64``, ``string``, ``date32`` dates, ``timestamp[us]`` date-times, ``bool`` for
``Y``/``N`` flags and, for lists of related records, their JSON text. Every column is
nullable. Each batch of records is structured into the resource's model first, so a
Parquet file holds exactly what ``fetch(as_=...)`` would.
With the query's ``fields(...)``, those fields are the columns, in that order (one the
table does not know, such as an extension field, is a string column: text as it is,
anything else as JSON). Keys of a record that no column takes go, as a JSON object, to
the last column, ``extra`` (null when there are none): nothing is dropped.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from operator import itemgetter
from typing import Any

import orjson

from dizions_async._bound import model_of
from dizions_async._convert import structure_records
from dizions_async._fields import Kind, fields_of
from dizions_async.errors import ConfigurationError
from dizions_async.query import Query

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


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


class ArrowColumns:
    """The columns of one resource's records and how they are filled.

    Each batch of records is structured into the resource's model first (the typed
    records' own fast path, so a column holds exactly what the attribute would), then
    read column by column into Arrow arrays.

    Args:
        resource: the resource's path name (``extension_database/...`` included).
        selected: the query's selected fields, or empty for every documented field.
        label: names the pull in error messages.
        ignore: keys to leave out of ``extra`` (one fetched only to de-duplicate).

    Raises:
        QueryError: the resource has no model (it cannot be read).
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
        self._taken = frozenset((*names, *ignore))
        self._model_fields = tuple(n for n, k in zip(names, self.kinds, strict=True) if k)
        self._model = model_of(Query(resource, strict=False))
        self._label = label or f"records of {resource}"

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
            Kind.LIST: pa.string(),  # JSON text
        }
        fields = [
            pa.field(name, types[kind] if kind is not None else pa.string())
            for name, kind in zip(self.names, self.kinds, strict=True)
        ]
        return pa.schema([*fields, pa.field(EXTRA_COLUMN, pa.string())])

    def batch(self, rows: Sequence[dict[str, Any]], schema: Any) -> Any:
        """``rows`` (structured in place, see :func:`structure_records`) as one
        ``pyarrow.RecordBatch`` of ``schema``.

        Raises:
            DecodeError: a value its field's type cannot hold; the message names the
                record and the field, not the value.
        """
        pa = import_pyarrow()
        records = structure_records(rows, self._model, self._label)
        # The model fields' values, column by column: one C-level get of every field per
        # record, then a transpose (a Python loop per column cost twice the structuring).
        fields = self._model_fields
        picked: dict[str, Any] = {}
        if fields and records:
            get = itemgetter(*fields) if len(fields) > 1 else lambda d: (d[fields[0]],)
            by_record = map(get, map(vars, records))
            picked = dict(zip(fields, zip(*by_record, strict=True), strict=True))
        arrays = []
        for index, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            if kind is None:  # not a field of the model: in each record's extra
                column: Any = [_json_text(record.extra.get(name)) for record in records]
            elif kind is Kind.LIST:
                column = [_json_text(v) for v in picked.get(name, ())]
            else:
                column = picked.get(name, ())
            arrays.append(pa.array(column, type=schema.field(index).type))
        # The records' own extra (the rows were structured in place): the keys the model
        # does not know, less those that have columns or were fetched only to de-duplicate.
        taken = self._taken
        extra = [
            None
            if record.extra.keys() <= taken
            else orjson.dumps({k: v for k, v in record.extra.items() if k not in taken}).decode()
            for record in records
        ]
        arrays.append(pa.array(extra, type=pa.string()))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

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
