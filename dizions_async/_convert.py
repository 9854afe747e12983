"""Structuring records into typed classes, through one private cattrs converter, and back.

The converter is ``cattrs.preconf.orjson``'s, so the caller's own attrs classes and
dataclasses structure the way orjson-decoded JSON needs. The SDK's models
(:mod:`dizions_async.models`) get a hook of their own, built from the field table: each
wire value is turned by its field's kind (``Y``/``N`` to bool, ISO dates, numeric strings
to int, an empty string to None), and keys the model does not know go to ``extra``.

A record that does not fit becomes a :class:`~dizions_async.errors.DecodeError` naming
the record and the field, never quoting the record's values (they are personal data):
only the value's type and length are said.

:func:`record_to_wire` is the way back (set fields, as the API sends them) and
:func:`record_to_fields` what a write sends (set, writable fields, then ``extra``).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any, TypeVar, cast

import cattrs
from cattrs.preconf.orjson import make_converter

from dizions_async._fields import Field, Kind, fields_of
from dizions_async.errors import DecodeError

if TYPE_CHECKING:
    from dizions_async.models import Record

__all__ = [
    "KIND_CONVERTERS",
    "FieldValueError",
    "model_resource",
    "record_to_fields",
    "record_to_wire",
    "structure_records",
    "write_fields",
]

T = TypeVar("T")


class FieldValueError(ValueError):
    """A wire value its field's kind cannot hold; says what was expected, not the value."""

    def __init__(self, expected: str, value: object) -> None:
        size = f" of {len(value)} characters" if isinstance(value, str) else ""
        super().__init__(f"expected {expected}, got a {type(value).__name__}{size}")


# -- one function per kind: wire value (not None) -> Python value or None -----------------

# The zero dates a MySQL-backed server may send for "no date".
_NO_DATE = ("", "0000-00-00", "0000-00-00 00:00:00")


def _to_int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.isascii() and text.lstrip("-").isdigit():
            return int(text)
    raise FieldValueError("an integer", value)


def _to_float(value: Any) -> float | None:
    if type(value) is float or type(value) is int:
        return float(value)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return float(value)
        except ValueError:
            pass
    raise FieldValueError("a number", value)


def _to_text(value: Any) -> str | None:
    if type(value) is str:
        return value or None
    if type(value) is int or type(value) is float:
        # A text field the server happens to send as a number (a reference number).
        return str(value)
    raise FieldValueError("text", value)


def _iso(parse: Callable[[str], Any], done: type, expected: str) -> Callable[[Any], Any]:
    """The converter of an ISO date or date-time kind: ``parse``, with no-date as None.
    A value already of the ``done`` type passes, as with every kind's converter: a
    record converted in place in part may be converted again (see :func:`_model_hook`)."""

    def convert(value: Any) -> Any:
        if value.__class__ is done:
            return value
        if isinstance(value, str):
            if value in _NO_DATE:
                return None
            try:
                return parse(value)
            except ValueError:
                pass
        raise FieldValueError(expected, value)

    return convert


def _datetime_from_iso(text: str) -> dt.datetime:
    # Python 3.10's fromisoformat does not read a trailing Z.
    return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] == "Z" else text)


_to_date = _iso(dt.date.fromisoformat, dt.date, "an ISO date (YYYY-MM-DD)")
_to_datetime = _iso(_datetime_from_iso, dt.datetime, "an ISO date and time")


_FLAGS = {"Y": True, "N": False, "y": True, "n": False, "": None}


def _to_flag(value: Any) -> bool | None:
    if type(value) is bool:
        return value
    if isinstance(value, str) and value in _FLAGS:
        return _FLAGS[value]
    raise FieldValueError("Y or N", value)


def _to_list(value: Any) -> list[dict[str, Any]] | None:
    if type(value) is list:
        return value
    if value == "":
        return None
    raise FieldValueError("a list", value)


#: Kind -> function from a wire value (never None) to its Python value.
KIND_CONVERTERS: Mapping[Kind, Callable[[Any], Any]] = {
    Kind.ID: _to_int,
    Kind.INT: _to_int,
    Kind.FLOAT: _to_float,
    Kind.TEXT: _to_text,
    Kind.DATE: _to_date,
    Kind.DATETIME: _to_datetime,
    Kind.FLAG: _to_flag,
    Kind.LIST: _to_list,
}

_MODELS_MODULE = "dizions_async.models"


@functools.cache
def _resource_of() -> Mapping[type[Record], str]:
    """Model class -> resource. The models are imported on first use, not with the
    package: building their classes is a tenth of ``import dizions_async``'s time."""
    from dizions_async.models import MODELS

    return {cls: name for name, cls in MODELS.items()}


def _is_model(t: Any) -> bool:
    return getattr(t, "__module__", None) == _MODELS_MODULE and t in _resource_of()


class _FieldError(ValueError):
    """Which field of a record failed, and why (the value is not repeated)."""

    def __init__(self, field: str, problem: FieldValueError) -> None:
        super().__init__(f"field {field!r}: {problem}")


def _general_hook(cls: type[Record]) -> Callable[[Mapping[str, Any], Any], Record]:
    """A model's structure hook for any record: unknown keys go to ``extra``, and a bad
    value raises naming its field."""
    convert = {f.name: KIND_CONVERTERS[f.kind] for f in fields_of(_resource_of()[cls])}

    def structure(row: Mapping[str, Any], _: Any) -> Record:
        values: dict[str, Any] = {}
        extra: dict[str, Any] | None = None
        key = ""
        try:
            for key, value in row.items():
                to_python = convert.get(key)
                if to_python is None:
                    if extra is None:
                        extra = {}
                    extra[key] = value
                elif value is not None:
                    values[key] = to_python(value)
        except FieldValueError as exc:
            raise _FieldError(key, exc) from None
        if extra:
            values["extra"] = extra
        return cls(**values)

    return structure


# Per kind, the check _model_hook inlines for a field whose wire value ``v`` is already in
# ``d``: the commonest wire type passes untouched; anything else is converted by the kind's
# converter (``c``) and stored back. (``type(v)`` is a third faster than ``v.__class__``.)
_FIX = {
    Kind.ID: "if type(v) is not int and v is not None: d[k] = c(v)",
    Kind.INT: "if type(v) is not int and v is not None: d[k] = c(v)",
    Kind.TEXT: "if (type(v) is not str or not v) and v is not None: d[k] = c(v)",
    Kind.LIST: "if type(v) is not list and v is not None: d[k] = c(v)",
    Kind.FLAG: "d[k] = True if v == 'Y' else False if v == 'N' else (None if v is None else c(v))",
    Kind.DATE: (
        "if v is not None: d[k] = date(v) if type(v) is str and len(v) == 10 "
        "and v != '0000-00-00' else c(v)"
    ),
}

# How many key shapes (the keys of a record) one model keeps a function for. A pull has
# one or a few; past this many, records are merged over a template of Nones first.
_SHAPES = 64


def _shape_function(
    cls: type[Record], shape: tuple[str, ...], general: Callable[[Mapping[str, Any], Any], Record]
) -> Callable[[dict[str, Any]], Any]:
    """The function structuring, in place, a record whose keys are those of ``shape``.

    Generated code, as attrs and cattrs generate theirs. One type check per field the
    shape has converts only what is not already the right type; keys the model does not
    know go to ``extra``, fields the record lacks are set to None (so the instance's
    ``__dict__`` has every field), and the record becomes the instance's ``__dict__``
    (the frozen class's ``__init__`` sets each attribute through ``object.__setattr__``,
    which alone cost as much as converting the fields).

    Given a record of the shape's length, it checks the shape as it goes, for nothing: a
    record lacking one of the shape's keys (a ``KeyError`` before anything but
    conversions is done) returns None; having them all, the record has no other. A
    value that does not fit hands the record to ``general`` (the model's general hook),
    which names the field.
    """
    fields = fields_of(_resource_of()[cls])
    known = {f.name for f in fields}
    unknown = [key for key in shape if key not in known]
    namespace: dict[str, Any] = {
        "missing": dict.fromkeys(f.name for f in fields if f.name not in shape),
        "general": general,
        "new": object.__new__,
        # The instance's __dict__ slot, set directly (a fifth faster than setattr).
        "set": next(vars(c)["__dict__"] for c in cls.__mro__ if "__dict__" in vars(c)).__set__,
        "date": dt.date.fromisoformat,
        "cls": cls,
    }
    lines = ["def structure(d):", "    try:"]
    for i, field in enumerate(fields):
        if field.name in shape:
            namespace[f"c{i}"] = KIND_CONVERTERS[field.kind]
            fix = _FIX.get(field.kind, "if v is not None: d[k] = c(v)")
            fix = fix.replace("d[k]", f"d[{field.name!r}]").replace("c(v)", f"c{i}(v)")
            lines += [f"        v = d[{field.name!r}]", f"        {fix}"]
    if unknown:
        lines.append(f"        x = {{{', '.join(f'{k!r}: d[{k!r}]' for k in unknown)}}}")
    lines += [
        "        pass",  # an empty shape
        "    except KeyError:",  # not this shape
        "        return None",
        "    except ValueError:",  # FieldValueError is one
        "        return general(d, None)",
    ]
    if unknown:
        lines += [f"    del {', '.join(f'd[{k!r}]' for k in unknown)}", "    d['extra'] = x"]
    if namespace["missing"]:
        lines.append("    d.update(missing)")
    lines += ["    o = new(cls)", "    set(o, d)", "    return o"]
    name = f"<dizions_async structure {cls.__name__}>"
    exec(compile("\n".join(lines), name, "exec"), namespace)
    return namespace["structure"]  # type: ignore[no-any-return]


def _model_hook(cls: type[Record]) -> Callable[..., Record]:
    """The structure hook of one model: a generated function per key shape (see
    :func:`_shape_function`) structures each record in place.

    A typed fetch runs this once per record, so the shape is found for almost nothing:
    the last function used for records of this length is tried first, and checks its
    shape as it goes. The decoded row is the SDK's own, so it becomes the instance's
    ``__dict__``: copying it (merging it over a template of Nones) cost a third of a
    100,000-record typed fetch, most of it fresh memory. The kinds' converters take
    values they already converted, so a record tried against another shape first, or
    failing half-way, structures the same. ``benchmarks/bench_typed.py`` measures it.

    Callers hand it rows they own: it changes them (see :func:`structure_records`).
    """
    template = dict.fromkeys(f.name for f in fields_of(_resource_of()[cls]))
    general = _general_hook(cls)
    every_field = _shape_function(cls, tuple(template), general)
    shapes: dict[frozenset[str], Callable[[dict[str, Any]], Any]] = {}
    by_length: dict[int, Callable[[dict[str, Any]], Any]] = {}

    def structure(row: dict[str, Any], _: Any = None) -> Record:
        function = by_length.get(len(row))
        if function is not None:
            record = function(row)
            if record is not None:
                return record  # type: ignore[no-any-return]
        shape = frozenset(row)
        function = shapes.get(shape)
        if function is None:
            if len(shapes) >= _SHAPES:  # shapes without end: merge, then one function
                merged = template | row
                if len(merged) != len(template):  # a key the model does not know
                    return general(row, _)
                return every_field(merged)  # type: ignore[no-any-return]
            function = shapes[shape] = _shape_function(cls, tuple(row), general)
        by_length[len(row)] = function
        return function(row)  # type: ignore[no-any-return]

    return structure


_converter = make_converter()
_converter.register_structure_hook_factory(_is_model, _model_hook)


def _where(row: Mapping[str, Any], index: int) -> str:
    """How messages name a record: its index in the batch, and its id when it has one."""
    record_id = row.get("id")
    if isinstance(record_id, (int, str)) and str(record_id).isdigit():
        return f"record {index} (id {record_id})"
    return f"record {index}"


def structure_records(rows: Sequence[dict[str, Any]], cls: type[T], label: str) -> list[T]:
    """Each row as an instance of ``cls`` (a model, or any attrs class, dataclass...).

    Args:
        rows: decoded records, the caller's own: a model's records are structured in
            place, each row becoming its record's ``__dict__``.
        cls: the class to build.
        label: the request's redacted label, for messages.

    Raises:
        DecodeError: a record lacks a field ``cls`` requires or has a value of the wrong
            type; the message names the record and the field, not the value.
    """
    hook = _converter.get_structure_hook(cls)
    try:
        return list(map(hook, rows, repeat(cls)))
    except (ValueError, TypeError, KeyError, AttributeError, cattrs.BaseValidationError):
        pass  # again one by one, to say which record (a model's hook may run twice)
    out: list[T] = []
    for index, row in enumerate(rows):
        try:
            out.append(hook(row, cls))
        except _FieldError as exc:
            raise DecodeError(
                f"{label}: {_where(row, index)} does not fit {cls.__name__}: {exc}"
            ) from None
        except cattrs.BaseValidationError as exc:
            problems = "; ".join(cattrs.transform_error(exc, path="$"))
            raise DecodeError(
                f"{label}: {_where(row, index)} does not fit {cls.__name__}: {problems}"
            ) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else "bad value"
            raise DecodeError(
                f"{label}: {_where(row, index)} does not fit {cls.__name__}: {what}"
            ) from None
    return out


# -- the way back -------------------------------------------------------------------------


def model_resource(record: object) -> str:
    """The resource a model instance is a record of (``extension_database`` for an
    :class:`~dizions_async.models.ExtensionRecord`, whose database it does not know).

    Raises:
        TypeError: ``record`` is not an instance of one of the models.
    """
    resource = _resource_of().get(type(record)) if _is_model(type(record)) else None  # type: ignore[arg-type]
    if resource is None:
        raise TypeError(f"{type(record).__name__} is not one of dizions_async.models")
    return resource


def _model_fields(record: Record) -> tuple[Field, ...]:
    return fields_of(model_resource(record))


def _wire_value(kind: Kind, value: Any) -> Any:
    if kind is Kind.FLAG:
        return "Y" if value else "N"
    if kind is Kind.DATETIME:
        return value.isoformat(sep=" ")
    if kind is Kind.DATE:
        return value.isoformat()
    return value


def record_to_wire(record: Record) -> dict[str, Any]:
    """The record as the API sends it: its set fields (``Y``/``N``, ISO dates), then
    ``extra``. A field that is None is left out (absent and empty read the same)."""
    out: dict[str, Any] = {}
    for field in _model_fields(record):
        value = getattr(record, field.name)
        if value is not None:
            out[field.name] = _wire_value(field.kind, value)
    for key, value in record.extra.items():
        out.setdefault(key, value)
    return out


def record_to_fields(record: Record) -> dict[str, object]:
    """What a write of ``record`` sends: its set fields that a write can set (not ``id``,
    which goes in the path, nor joined fields, read from related records), then ``extra``
    (extension fields). Values stay Python values; the write encodes them."""
    out: dict[str, object] = {}
    for field in _model_fields(record):
        value = getattr(record, field.name)
        if value is not None and not field.joined and field.name != "id":
            out[field.name] = value
    for key, value in record.extra.items():
        out.setdefault(key, value)
    return out


def write_fields(fields: Mapping[str, object] | Record) -> Mapping[str, object]:
    """The fields a write sends: a model's (see :func:`record_to_fields`), or ``fields``
    as given (the write then checks that it is a mapping)."""
    if _is_model(type(fields)):
        return record_to_fields(cast("Record", fields))
    return cast("Mapping[str, object]", fields)
