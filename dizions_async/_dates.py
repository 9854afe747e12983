"""Calendar windows of a date range: pure date arithmetic, no queries and no I/O.

:func:`date_windows` cuts ``start..end`` into day, ISO week, month or year windows (or
windows of N days) that cover it exactly once; :meth:`Query.split_dates
<dizions_async.query.Query.split_dates>` and :mod:`dizions_async.batching` build on it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from dizions_async.errors import QueryError

__all__ = ["DateUnit", "date_windows"]

#: A window size: a calendar unit, or a whole number of days.
DateUnit = Literal["day", "week", "month", "year"] | int

_UNITS = ("day", "week", "month", "year")


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
    try:
        return _calendar_end(start, unit)
    except (OverflowError, ValueError):
        # The window runs past date.max (a range "until 9999-12-31" is an open end): the
        # range, which cannot, ends first.
        return dt.date.max


def _calendar_end(start: dt.date, unit: DateUnit) -> dt.date:
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
