"""Pure batching policy: cutting big queries into small ones and merging their results.

This module owns the arithmetic of splitting and merging and nothing else; it does no I/O,
so the client (and any other caller) can plan a pull before sending a byte:

- :func:`date_windows` / :func:`split_dates`: cut a date range into calendar windows (day,
  ISO week, month, year) or windows of N days that cover it exactly once.
- :func:`split_values`: cut one value list (``id`` or a filter) into chunks of N values.
- :func:`split_to_fit`: cut a query whose URL is longer than a limit along its longest
  value list into the fewest pieces that fit (greedy), recursively when one list is not
  enough.
- :func:`merge_records` and :class:`SeenIds`: put pieces back together in order, dropping
  records whose ``id`` was already seen (a ``date_active`` record can fall in several
  windows).

Example::

    >>> from datetime import date
    >>> q = Query("referrals").date_range("date", date(2024, 1, 15), date(2024, 3, 10))
    >>> [p.date_ranges[0][1:] for p in split_dates(q, "month")]  # doctest: +NORMALIZE_WHITESPACE
    [(datetime.date(2024, 1, 15), datetime.date(2024, 1, 31)),
     (datetime.date(2024, 2, 1), datetime.date(2024, 2, 29)),
     (datetime.date(2024, 3, 1), datetime.date(2024, 3, 10))]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import quote

import attrs
from yarl import URL

from dizions_async.errors import QueryError
from dizions_async.query import Query

__all__ = [
    "DateUnit",
    "SeenIds",
    "date_windows",
    "merge_records",
    "split_dates",
    "split_to_fit",
    "split_values",
    "url_length",
]

#: A window size: a calendar unit, or a whole number of days.
DateUnit = Literal["day", "week", "month", "year"] | int

_UNITS = ("day", "week", "month", "year")
#: The key under which a query's record IDs are split (``Query.ids``).
ID_KEY = "id"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


# -- date windows ---------------------------------------------------------------------------


def _check_unit(unit: object) -> DateUnit:
    if isinstance(unit, bool) or not isinstance(unit, (int, str)):
        raise QueryError(
            f"date window unit must be 'day', 'week', 'month', 'year' or a number of days, "
            f"got {unit!r}"
        )
    if isinstance(unit, int):
        if unit < 1:
            raise QueryError(f"date windows need at least 1 day, got {unit}")
        return unit
    if unit not in _UNITS:
        raise QueryError(
            f"date window unit {unit!r} is not one of 'day', 'week', 'month', 'year' "
            "(or pass a number of days)"
        )
    return unit  # type: ignore[return-value]  # narrowed by the membership test above


def _window_end(start: dt.date, unit: DateUnit) -> dt.date:
    """The last day of the window that begins on ``start`` (before clipping to the range)."""
    if isinstance(unit, int):
        return start + dt.timedelta(days=unit - 1)
    if unit == "day":
        return start
    if unit == "week":
        # ISO weeks run Monday to Sunday.
        return start + dt.timedelta(days=6 - start.weekday())
    if unit == "month":
        first_of_next = (
            dt.date(start.year + 1, 1, 1)
            if start.month == 12
            else dt.date(start.year, start.month + 1, 1)
        )
        return first_of_next - dt.timedelta(days=1)
    return dt.date(start.year, 12, 31)


def date_windows(start: dt.date, end: dt.date, unit: DateUnit) -> list[tuple[dt.date, dt.date]]:
    """Cut ``start..end`` (both inclusive) into consecutive windows.

    Calendar units give calendar-aligned windows, the first and last clipped to the range:
    ``"week"`` is ISO weeks (Monday to Sunday), ``"month"`` calendar months (so February
    ends on the 28th or 29th), ``"year"`` calendar years. A number ``n`` gives windows of
    ``n`` days counted from ``start``, the last one shorter if need be.

    Args:
        start: the first day of the range.
        end: the last day of the range; not before ``start``.
        unit: ``"day"``, ``"week"``, ``"month"``, ``"year"`` or a positive number of days.

    Returns:
        ``(first, last)`` pairs, in order, covering every day of the range exactly once.

    Raises:
        QueryError: an unknown unit, a number of days below 1, or ``start`` after ``end``.
    """
    unit = _check_unit(unit)
    if start > end:
        raise QueryError(f"date range starts {start} after it ends {end}")
    out: list[tuple[dt.date, dt.date]] = []
    first = start
    one_day = dt.timedelta(days=1)
    while True:
        last = min(_window_end(first, unit), end)
        out.append((first, last))
        if last == end:
            return out
        first = last + one_day


def _date_key(query: Query, key: str | None) -> str:
    keys = [k for k, _, _ in query.date_ranges]
    if key is not None:
        if key not in keys:
            have = ", ".join(repr(k) for k in keys) or "none"
            raise QueryError(f"query has no date range {key!r} to split (date ranges: {have})")
        return key
    if not keys:
        raise QueryError("query has no date range to split: add .date_range() first")
    if len(keys) > 1:
        raise QueryError(
            f"query has several date ranges ({', '.join(keys)}): name the one to split with key="
        )
    return keys[0]


def split_dates(query: Query, unit: DateUnit, *, key: str | None = None) -> list[Query]:
    """Copies of ``query`` whose date range ``key`` is cut into windows by :func:`date_windows`.

    Args:
        query: a query with at least one date range.
        unit: ``"day"``, ``"week"``, ``"month"``, ``"year"`` or a positive number of days.
        key: which date range to cut; may be left out when the query has only one.

    Returns:
        One query per window, in date order; everything else is unchanged.

    Raises:
        QueryError: the query has no such date range (or several and no ``key``), or a bad unit.
    """
    key = _date_key(query, key)
    at = next(i for i, (k, _, _) in enumerate(query.date_ranges) if k == key)
    _, start, end = query.date_ranges[at]
    out = []
    for first, last in date_windows(start, end, unit):
        ranges = list(query.date_ranges)
        ranges[at] = (key, first, last)
        out.append(attrs.evolve(query, date_ranges=tuple(ranges)))
    return out


# -- value lists ----------------------------------------------------------------------------


def _value_list(query: Query, key: str) -> tuple[str, ...]:
    if key == ID_KEY:
        return tuple(map(str, query.ids))
    for k, values in query.filters:
        if k == key:
            return values
    return ()


def _with_values(query: Query, key: str, values: tuple[str, ...]) -> Query:
    if key == ID_KEY:
        return attrs.evolve(query, ids=tuple(map(int, values)))
    filters = tuple((k, values if k == key else v) for k, v in query.filters)
    return attrs.evolve(query, filters=filters)


def split_values(query: Query, key: str, size: int) -> list[Query]:
    """Copies of ``query`` whose value list ``key`` is cut into chunks of ``size`` values.

    Args:
        query: the query to cut.
        key: ``"id"`` for the record IDs, or the key of one of its filters.
        size: at most this many values per piece (at least 1).

    Returns:
        One query per chunk, in the order of the values; everything else is unchanged.

    Raises:
        QueryError: the query has no value list ``key``, or ``size`` is below 1.

    Example::

        >>> [p.ids for p in split_values(Query("clients").id(1, 2, 3), "id", 2)]
        [(1, 2), (3,)]
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise QueryError(f"split_values needs a size of at least 1, got {size!r}")
    values = _value_list(query, key)
    if not values:
        have = ", ".join(repr(k) for k in _list_keys(query)) or "none"
        raise QueryError(f"query has no value list {key!r} to split (value lists: {have})")
    return [_with_values(query, key, values[i : i + size]) for i in range(0, len(values), size)]


def _list_keys(query: Query) -> list[str]:
    return ([ID_KEY] if query.ids else []) + [k for k, _ in query.filters]


# -- splitting to a URL length --------------------------------------------------------------


def url_length(query: Query, base: str | URL) -> int:
    """The length in bytes of the full encoded request URL of ``query`` under ``base``."""
    return len(str(query.url(base)))


def _encoded_len(value: str) -> int:
    # The same quoting as the Query compiler: per value, nothing safe but unreserved chars.
    return len(value) if _SAFE.issuperset(value) else len(quote(value, safe=""))


def _pack(lengths: list[int], budget: int) -> list[tuple[int, int]]:
    """Greedy ``[start, stop)`` spans whose ``;``-joined length stays within ``budget``.

    Greedy packing is optimal here: values keep their order and every chunk is a run.
    """
    spans: list[tuple[int, int]] = []
    start, used = 0, -1
    for i, n in enumerate(lengths):
        if used + 1 + n > budget and i > start:
            spans.append((start, i))
            start, used = i, -1
        used += 1 + n
    spans.append((start, len(lengths)))
    return spans


def split_to_fit(query: Query, base: str | URL, max_length: int) -> list[Query]:
    """Cut ``query`` into the pieces whose URLs are at most ``max_length`` bytes.

    A query that fits comes back alone. Otherwise its longest value list (by encoded
    length; the IDs count as the list ``id``) is cut greedily into the fewest runs that fit
    beside the rest of the URL. When even one value of that list cannot fit beside the
    other lists, the list is halved and each half is cut again, so the other lists get
    their turn. Pieces keep the order of the values, so merged results keep it too.

    Args:
        query: the query to cut.
        base: the base URL the requests go to (its length counts).
        max_length: the longest URL allowed, in bytes.

    Returns:
        The pieces, in value order; ``[query]`` when it fits already.

    Raises:
        QueryError: no way of cutting fits: the message names the value list whose single
            longest value cannot fit (values themselves are never shown), or says the URL is
            too long without any value list.
    """
    root = URL(base) if isinstance(base, str) else base
    total = url_length(query, root)
    if total <= max_length:
        return [query]
    _check_can_fit(query, root, total, max_length)
    return _split(query, root, total, max_length)


def _lists(query: Query) -> list[tuple[str, list[int]]]:
    out: list[tuple[str, list[int]]] = []
    if query.ids:
        out.append((ID_KEY, [len(str(i)) for i in query.ids]))
    out.extend((k, [_encoded_len(v) for v in values]) for k, values in query.filters)
    return out


def _joined(lengths: list[int]) -> int:
    return sum(lengths) + len(lengths) - 1


def _check_can_fit(query: Query, root: URL, total: int, max_length: int) -> None:
    """Refuse up front a query no split can fit, rather than cutting it to single values."""
    lists = _lists(query)
    if not lists:
        raise QueryError(
            f"the query's URL is {total} bytes, over max_url_length {max_length}, and it "
            "has no value list (id or filter values) to split"
        )
    # Every split leaves some piece holding the longest value of each list at once.
    smallest = total - sum(_joined(n) - max(n) for _, n in lists)
    if smallest > max_length:
        key, _ = max(lists, key=lambda kv: max(kv[1]))
        raise QueryError(
            f"value list {key!r} cannot be split to fit max_url_length {max_length}: even "
            f"one value per list gives a URL of {smallest} bytes"
        )


def _split(query: Query, root: URL, total: int, max_length: int) -> list[Query]:
    splittable = [(k, n) for k, n in _lists(query) if len(n) > 1]
    if not splittable:
        # _check_can_fit rules this out for well-behaved quoting; keep a clear error anyway.
        raise QueryError(f"the query's URL is {total} bytes and cannot be split under {max_length}")
    key, lengths = max(splittable, key=lambda kv: _joined(kv[1]))
    budget = max_length - (total - _joined(lengths))
    if budget < max(lengths):
        # The other lists leave too little room for even one of these values: halve this
        # list (by length) so that, in the pieces, the other lists become the longest.
        budget = max(max(lengths), _joined(lengths) // 2)
    values = _value_list(query, key)
    out: list[Query] = []
    for start, stop in _pack(lengths, budget):
        piece = _with_values(query, key, values[start:stop])
        size = url_length(piece, root)
        out.extend([piece] if size <= max_length else _split(piece, root, size, max_length))
    return out


# -- merging --------------------------------------------------------------------------------


class SeenIds:
    """Remembers the ``id`` of every record accepted, to drop repeats across pieces.

    Records without an ``id`` (or with an unhashable one) are always accepted: nothing
    tells two of them apart.
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: set[Hashable] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def accept(self, record: object) -> bool:
        """True the first time a record's ``id`` is seen (or when it has none)."""
        if not isinstance(record, Mapping):
            return True
        rid = record.get(ID_KEY)
        if rid is None or not isinstance(rid, Hashable):
            return True
        if rid in self._seen:
            return False
        self._seen.add(rid)
        return True


def merge_records(parts: Iterable[Iterable[Any]]) -> list[Any]:
    """Concatenate the records of several pieces in order, keeping the first of each ``id``.

    Args:
        parts: the pieces' record lists, in the order the pieces were planned.

    Returns:
        One list; a record whose ``id`` appeared in an earlier piece (or earlier in the
        same piece) is left out. Records without an ``id`` are all kept.
    """
    seen = SeenIds()
    return [record for part in parts for record in part if seen.accept(record)]
