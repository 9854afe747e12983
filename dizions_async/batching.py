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

from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any, NamedTuple

import attrs
from yarl import URL

from dizions_async._dates import DateUnit, date_windows
from dizions_async.catalogue import API_PREFIX
from dizions_async.errors import DizionsError, NotFoundError, QueryError
from dizions_async.query import Query

__all__ = [
    "DateUnit",
    "MissingPieces",
    "Piece",
    "SeenIds",
    "date_windows",
    "merge_records",
    "pieces_may_overlap",
    "plan_pieces",
    "split_dates",
    "split_to_fit",
    "split_values",
    "url_length",
]

#: The key under which a query's record IDs are split (``Query.ids``).
ID_KEY = "id"


# -- date windows and value lists (cut by Query itself) -------------------------------------


def split_dates(query: Query, unit: DateUnit, *, key: str | None = None) -> list[Query]:
    """Copies of ``query`` whose date range ``key`` is cut into windows by :func:`date_windows`.

    The same as :meth:`Query.split_dates`.

    Args:
        query: a query with at least one date range.
        unit: ``"day"``, ``"week"``, ``"month"``, ``"year"`` or a positive number of days.
        key: which date range to cut; may be left out when the query has only one.

    Returns:
        One query per window, in date order; everything else is unchanged.

    Raises:
        QueryError: the query has no such date range (or several and no ``key``), or a bad unit.
    """
    return query.split_dates(unit, key=key)


def split_values(query: Query, key: str, size: int) -> list[Query]:
    """Copies of ``query`` whose value list ``key`` is cut into chunks of ``size`` values.

    The same as :meth:`Query.split_values`.

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
    return query.split_values(key, size)


# -- splitting to a URL length --------------------------------------------------------------


def url_length(query: Query, base: str | URL) -> int:
    """The length in bytes of the full encoded request URL of ``query`` under ``base``."""
    return len(str(query.url(base)))


class Piece(NamedTuple):
    """One planned request: the sub-query and its compiled path (without query string)."""

    query: Query
    path: str


#: A value list as the splitter sees it: key, index of its value segment among the
#: query's segments, number of values, and the encoded length of its longest value.
_List = tuple[str, int, int, int]


def _pack(segment: str, budget: int) -> list[tuple[int, int, int, int]]:
    """Greedy runs of a ``;``-joined segment, each at most ``budget`` characters long.

    Greedy packing is optimal here: values keep their order and every chunk is a run. The
    cuts are found with ``str.rfind`` on the encoded segment (values never hold a raw
    ``;``), so a list of many thousands of values is packed without a Python-level loop
    over them. A single value longer than ``budget`` makes a run of its own.

    Returns:
        ``(first value, stop value, first char, stop char)`` for each run.
    """
    spans: list[tuple[int, int, int, int]] = []
    pos, index, end = 0, 0, len(segment)
    while True:
        if end - pos <= budget:
            cut = end
        else:
            cut = segment.rfind(";", pos, pos + budget + 1)
            if cut == -1:  # the next value alone is longer than the budget
                cut = segment.find(";", pos)
                if cut == -1:
                    cut = end
        count = segment.count(";", pos, cut) + 1
        spans.append((index, index + count, pos, cut))
        if cut == end:
            return spans
        index, pos = index + count, cut + 1


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
    return [piece.query for piece in plan_pieces(query, base, max_length)]


def plan_pieces(query: Query, base: str | URL, max_length: int) -> list[Piece]:
    """:func:`split_to_fit`, with each piece's compiled path.

    The paths are cut out of the query's own compiled segments, so a pull of tens of
    thousands of IDs turns them into text once, not once more per piece.

    Raises:
        QueryError: as :func:`split_to_fit`.
    """
    segments = list(query.segments)
    path = f"{API_PREFIX}/{'/'.join(segments)}"
    # The URL is base + path + query string: measure the parts that do not change once.
    outside = url_length(Query(query.resource), base) - len(Query(query.resource).path)
    if query.resolve:
        outside += len(query.query_string) + 1
    total = outside + len(path)  # == url_length(query, base), without compiling it twice
    if total <= max_length:
        return [Piece(query, path)]
    lists = _lists(query)
    _check_can_fit(query, segments, lists, total, max_length)
    return _split(query, segments, total, max_length, lists)


def _lists(query: Query) -> list[_List]:
    at = len(query.resource.split("/"))
    out: list[_List] = []
    if query.ids:
        # IDs are non-negative ints: the longest is the largest.
        out.append((ID_KEY, at + 1, len(query.ids), len(str(max(query.ids)))))
        at += 2
    for key, values in query.filters:
        out.append((key, at + 1, len(values), -1))  # longest: measured when needed
        at += 2
    return out


def _longest(segments: list[str], item: _List) -> int:
    longest = item[3]
    return longest if longest >= 0 else max(map(len, segments[item[1]].split(";")))


def _check_can_fit(
    query: Query, segments: list[str], lists: list[_List], total: int, max_length: int
) -> None:
    """Refuse up front a query no split can fit, rather than cutting it to single values."""
    if not lists:
        raise QueryError(
            f"the query's URL is {total} bytes, over max_url_length {max_length}, and it "
            "has no value list (id or filter values) to split"
        )
    # Every split leaves some piece holding the longest value of each list at once.
    longest = {item[0]: _longest(segments, item) for item in lists}
    smallest = total - sum(len(segments[item[1]]) - longest[item[0]] for item in lists)
    if smallest > max_length:
        key = max(longest, key=longest.__getitem__)
        raise QueryError(
            f"value list {key!r} cannot be split to fit max_url_length {max_length}: even "
            f"one value per list gives a URL of {smallest} bytes"
        )


def _slice(query: Query, key: str, start: int, stop: int) -> Query:
    if key == ID_KEY:
        return attrs.evolve(query, ids=query.ids[start:stop])
    filters = tuple((k, v[start:stop] if k == key else v) for k, v in query.filters)
    return attrs.evolve(query, filters=filters)


def _split(
    query: Query, segments: list[str], total: int, max_length: int, lists: list[_List]
) -> list[Piece]:
    candidates = [item for item in lists if item[2] > 1]
    if not candidates:  # ruled out by _check_can_fit; a clear error all the same
        raise QueryError(f"the query's URL is {total} bytes and cannot be split under {max_length}")
    item = max(candidates, key=lambda c: len(segments[c[1]]))
    key, at = item[0], item[1]
    segment = segments[at]
    longest = _longest(segments, item)
    fixed = total - len(segment)
    budget = max_length - fixed
    if budget < longest:
        # The other lists leave too little room for even one of these values: halve this
        # list (by length) so that, in the pieces, the other lists become the longest.
        budget = max(longest, len(segment) // 2)
    out: list[Piece] = []
    for start, stop, first_char, stop_char in _pack(segment, budget):
        piece = _slice(query, key, start, stop)
        cut = segments.copy()
        cut[at] = segment[first_char:stop_char]
        size = fixed + stop_char - first_char
        if size <= max_length:
            out.append(Piece(piece, f"{API_PREFIX}/{'/'.join(cut)}"))
        else:
            # The rare several-long-lists case: cut this piece again along its longest list.
            out.extend(_split(piece, cut, size, max_length, _lists(piece)))
    return out


def pieces_may_overlap(query: Query, pieces: Sequence[Piece]) -> bool:
    """Whether a record can come back from more than one of ``query``'s pieces.

    Pieces cut only from a list of distinct IDs cannot overlap (a record has one ID), so
    their merge need not de-duplicate; anything else (date windows, a cut filter list,
    a repeated ID) may.
    """
    if len(pieces) < 2:
        return False
    for piece in pieces:
        cut = piece.query
        # Cutting the IDs leaves the other fields the very same objects.
        if cut.filters is not query.filters or cut.date_ranges is not query.date_ranges:
            return True
    return len(set(query.ids)) != len(query.ids)


class MissingPieces:
    """The 404s of the pieces of one split query: "none of these", unless all of them.

    A read by ID answers 404 when none of its IDs exists. Cut into pieces, a query whose
    IDs partly exist would fail on a piece that happens to hold only missing ones, though
    the whole query succeeds: so a piece's 404 counts as an empty piece, and the 404 is
    raised only when every piece answered it, as the whole query would have.
    """

    __slots__ = ("errors", "total")

    def __init__(self, total: int) -> None:
        self.total = total
        self.errors: list[NotFoundError] = []

    def absorb(self, exc: DizionsError) -> bool:
        """True when ``exc`` is a piece's 404 to read as "no records" (and remember)."""
        if self.total > 1 and isinstance(exc, NotFoundError):
            self.errors.append(exc)
            return True
        return False

    def check(self) -> None:
        """Raise the first 404 when every piece answered 404.

        Raises:
            NotFoundError: all pieces were not found.
        """
        if self.total > 1 and len(self.errors) == self.total:
            raise self.errors[0]


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
        if rid is None:
            return True
        seen = self._seen
        try:
            if rid in seen:
                return False
            seen.add(rid)
        except TypeError:  # an unhashable id (a list...): nothing to compare by
            pass
        return True

    def filter(self, records: Iterable[Any]) -> list[Any]:
        """The records not seen before, in order; remembers their IDs.

        The same as ``[r for r in records if self.accept(r)]``, but it runs once per record
        of every split pull, so the usual case (dicts with distinct, new IDs) is checked
        with set operations in C and the list comes back as it is.
        """
        rows = records if isinstance(records, list) else list(records)
        seen = self._seen
        try:
            keys = list(map(dict.get, rows, repeat(ID_KEY)))
            fresh = set(keys)
        except TypeError:  # a record that is not a dict, or an unhashable id
            return [row for row in rows if self.accept(row)]
        if len(fresh) == len(keys) and None not in fresh and fresh.isdisjoint(seen):
            seen |= fresh
            return rows
        return [row for row in rows if self.accept(row)]


def merge_records(parts: Iterable[Iterable[Any]]) -> list[Any]:
    """Concatenate the records of several pieces in order, keeping the first of each ``id``.

    Args:
        parts: the pieces' record lists, in the order the pieces were planned.

    Returns:
        One list; a record whose ``id`` appeared in an earlier piece (or earlier in the
        same piece) is left out. Records without an ``id`` are all kept.
    """
    seen = SeenIds()
    out: list[Any] = []
    for part in parts:
        out.extend(seen.filter(part))
    return out
