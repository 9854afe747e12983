"""Forgiving command-line values: what people type, read as the API means it.

- A Y/N field's filter value may be ``y/n``, ``yes/no``, ``true/false`` or ``1/0`` in any
  case; it is sent as ``Y`` or ``N``. A date field's value must be ``YYYY-MM-DD``.
  Anything else is a usage error saying what the key takes (the API would answer such a
  filter with no rows, not with an error); the value itself is masked, as in every
  message, unless values are opted in (``DIZIONS_LOG_VALUES=1``).
- Filter keys, ``--fields``, ``--dimension`` and ``--metric`` names are checked against
  the resource's known names. A name near a known one (two edits or fewer) is refused as a
  likely typo, with the nearest name; elsewhere an unknown name is refused only where the
  names are all known (``done_contacts``), since clients and referrals also take extension
  fields by collaborator name and other resources' lists are not published whole.
  ``--no-strict`` sends any well-formed name.

The kinds of fields come from the catalogue's field table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import click

from dizions_async._fields import Kind
from dizions_async._redact import shown
from dizions_async._text import closest
from dizions_async.catalogue import EXTENSION_DATABASE, Resource

__all__ = ["check_names", "field_kinds", "filter_value", "known_fields"]

_YES = frozenset({"y", "yes", "true", "1"})
_NO = frozenset({"n", "no", "false", "0"})


def field_kinds(resource: Resource) -> Mapping[str, Kind]:
    """Field name -> kind (flag, date, id, ...) of ``resource``, from the field table."""
    return {f.name: f.kind for f in resource.fields}


def known_fields(resource: Resource) -> frozenset[str]:
    """Every name the catalogue knows on ``resource``: fields, filter and date keys."""
    return (
        frozenset(field_kinds(resource))
        | resource.filter_keys
        | resource.date_keys
        | frozenset(resource.required)
    )


def filter_value(resource: Resource, key: str, value: str) -> str:
    """``value`` as the API wants it for the filter ``key`` (``yes`` -> ``Y``).

    Raises:
        click.BadParameter: a Y/N or date field's value that means neither.
    """
    kind = field_kinds(resource).get(key)
    if kind is Kind.FLAG:
        word = value.strip().lower()
        if word in _YES:
            return "Y"
        if word in _NO:
            return "N"
        raise click.BadParameter(
            f"filter {key!r} takes Y or N (or yes/no, true/false, 1/0), got {shown(value)}",
            param_hint="--filter",
        )
    if kind in (Kind.DATE, Kind.DATETIME):
        parse = dt.date.fromisoformat if kind is Kind.DATE else dt.datetime.fromisoformat
        try:
            parse(value)
        except ValueError:
            raise click.BadParameter(
                f"filter {key!r} takes a date as YYYY-MM-DD (e.g. 2024-01-31), got {shown(value)}",
                param_hint="--filter",
            ) from None
    return value


def check_names(
    resource: Resource, names: Iterable[str], what: str, *, known: frozenset[str], strict: bool
) -> None:
    """Refuse a name that is not among ``known`` as this module's docstring says.

    Args:
        resource: the resource the names are of.
        names: the names given.
        what: the option, for the message: ``--fields``, ``--filter``, ...
        known: the names known on the resource.
        strict: False to accept every name (``--no-strict``).

    Raises:
        click.BadParameter: a likely typo (with the nearest known name), or an unknown name
            where every name is known.
    """
    if not strict:
        return
    # Extension databases define their own fields: only near-misses can be told apart.
    open_ended = (
        resource.extension_fields
        or not resource.keys_complete
        or resource.name.startswith(f"{EXTENSION_DATABASE}/")
    )
    for name in names:
        if name in known:
            continue
        hint = closest(name, known)
        if hint is None and open_ended:
            continue
        advice = f"; did you mean {hint!r}?" if hint else ""
        noun = "filter" if what == "--filter" else "field"
        raise click.BadParameter(
            f"{name!r} is not a known {resource.name} {noun}{advice} (--no-strict sends it anyway)",
            param_hint=what,
        )
