"""Structuring records into the caller's classes, through one private cattrs converter.

The converter is ``cattrs.preconf.orjson``'s, so dates and the like structure the way
orjson-decoded JSON needs. A record that does not fit becomes a
:class:`~dizions_async.errors.DecodeError` naming the record and the field, never
quoting the record's values (they are personal data).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import cattrs
from cattrs.preconf.orjson import make_converter

from dizions_async.errors import DecodeError

__all__ = ["structure_records"]

T = TypeVar("T")

_converter = make_converter()


def _where(row: Mapping[str, Any], index: int) -> str:
    record_id = row.get("id")
    if isinstance(record_id, (int, str)) and str(record_id).isdigit():
        return f"record {index} (id {record_id})"
    return f"record {index}"


def structure_records(rows: Iterable[Mapping[str, Any]], cls: type[T], label: str) -> list[T]:
    """Each row as an instance of ``cls`` (an attrs class, dataclass, TypedDict...).

    Args:
        rows: decoded records.
        cls: the class to build.
        label: the request's redacted label, for messages.

    Raises:
        DecodeError: a record lacks a field ``cls`` requires or has a value of the wrong
            type; the message names the record and the field.
    """
    hook = _converter.get_structure_hook(cls)
    out: list[T] = []
    for index, row in enumerate(rows):
        try:
            out.append(hook(row, cls))
        except cattrs.BaseValidationError as exc:
            problems = "; ".join(cattrs.transform_error(exc, path="$"))
            raise DecodeError(
                f"{label}: {_where(row, index)} does not fit {cls.__name__}: {problems}"
            ) from None
        except (KeyError, TypeError, ValueError) as exc:
            what = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else "bad value"
            raise DecodeError(
                f"{label}: {_where(row, index)} does not fit {cls.__name__}: {what}"
            ) from None
    return out
