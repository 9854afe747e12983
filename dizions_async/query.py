"""The immutable query builder and its compiler to the Dizions path grammar.

A :class:`Query` is a frozen value: every fluent method checks its input and returns a new
Query (a changed copy), so a query can be shared, hashed, and reused as the base of
others. It compiles to ``/v2/{resource}/{key}/{v1;v2}...`` in the canonical order
resource, id, filters (in the order given), date ranges, dimension, metric, field; each
value is percent-encoded on its own, so no value can add a segment or a value.

Example::

    >>> q = Query("clients").filter(religion=[1, 3, 10], ethnicity=1)
    >>> q.path
    '/v2/clients/religion/1;3;10/ethnicity/1'
    >>> Query.from_path(q.path) == q
    True
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs
from yarl import URL

from dizions_async._dates import DateUnit, date_windows
from dizions_async._redact import described, redact_path, shown, values_opted_in
from dizions_async._text import closest, edit_distance, quote_values
from dizions_async._text import quote_segment as _quote
from dizions_async.catalogue import (
    API_PREFIX,
    EXTENSION_DATABASE,
    KEY_PATTERN,
    MAX_FILTERS,
    Resource,
    extension_api_name,
    extension_slug,
    get_resource,
)
from dizions_async.errors import QueryError
from dizions_async.protocol import scalar_text

__all__ = ["ExtensionDatabase", "FilterValue", "Query"]

#: What a filter value may be: one scalar, or an iterable of scalars (sent ``;``-joined).
Scalar = int | str | bool | dt.date
FilterValue = Scalar | Iterable[Scalar]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_RAW_RANGE = re.compile(r"(\d{4}-\d{2}-\d{2}),(\d{4}-\d{2}-\d{2})\Z")
_RESERVED_KEYS = ("field", "dimension", "metric")
_JUST_INT = {int}
#: A key within this many edits of a documented key is taken for a typo, not an extension field.
_TYPO_EDITS = 2


def _scalar(key: str, value: object) -> str:
    """One filter value as the text the API expects (bools as Y/N, dates as ISO)."""
    if isinstance(value, str):
        if not value:
            raise QueryError(f"filter {key!r} has an empty string value")
        if not value.isascii():
            # Refuse here, not at compile time: a lone surrogate cannot be percent-encoded.
            try:
                value.encode()
            except UnicodeEncodeError:
                raise QueryError(
                    f"filter {key!r} has a value that is not valid Unicode text: {described(value)}"
                ) from None
    elif isinstance(value, dt.datetime):
        raise QueryError(
            f"filter {key!r} takes dates, not datetimes: pass {shown(value.date())} or a string"
        )
    elif value is None:
        raise QueryError(f"filter {key!r} has the value None; leave the filter out instead")
    text = scalar_text(value)
    if text is None:
        raise QueryError(
            f"filter {key!r} has a value of type {type(value).__name__}; "
            "use int, str, bool, date or a list of those"
        )
    return text


def _values(key: str, value: object) -> tuple[str, ...]:
    # The usual values first: an int, or a list of plain ints (IDs of dictionary entries).
    # (type() is int, not isinstance: a bool is an int, and is sent as Y/N.)
    if type(value) is int:
        return (int.__repr__(value),)
    if isinstance(value, (list, tuple)) and value and set(map(type, value)) == _JUST_INT:
        return tuple(map(int.__repr__, value))
    if isinstance(value, (str, int, dt.date)) or value is None:
        return (_scalar(key, value),)
    if not isinstance(value, Iterable):
        return (_scalar(key, value),)
    if isinstance(value, (bytes, bytearray, Mapping)):
        # Iterating these gives ints or keys, never what the caller meant to send.
        raise QueryError(
            f"filter {key!r} has a value of type {type(value).__name__}; "
            "use int, str, bool, date or a list of those"
        )
    out = tuple(_scalar(key, v) for v in value)
    if not out:
        raise QueryError(f"filter {key!r} has an empty list of values")
    return out


def _ids_of(value: object) -> Iterable[object]:
    if isinstance(value, (int, str)) or not isinstance(value, Iterable):
        return (value,)
    return value


def _as_date(key: str, value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise QueryError(
        f"date range {key!r} needs a date or an ISO 'YYYY-MM-DD' string, got {described(value)}"
    )


def _shown_path(path: str | URL) -> str:
    """A path for a message: as given when values are opted in, else with values masked."""
    text = str(path)
    return repr(text if values_opted_in() else redact_path(urlsplit(text).path))


def describe_query(q: Query, opted_in: bool | None = None) -> str:
    """``q`` for an error message: by its resource and keys only, since its repr shows
    values, unless values are opted in (``DIZIONS_LOG_VALUES=1``).

    >>> describe_query(Query("clients").filter(surname="Smith"))  # doctest: +SKIP
    'a clients query (0 ids; filters surname)'
    """
    if values_opted_in(opted_in):
        return repr(q)
    keys = [key for key, _ in q.filters] + [key for key, _, _ in q.date_ranges]
    parts = [f"{len(q.ids)} id{'' if len(q.ids) == 1 else 's'}"]
    if keys:
        parts.append(f"filters {', '.join(keys)}")
    if q.dimension_key is not None:
        parts.append(f"dimension {q.dimension_key}")
    return f"a {q.resource} query ({'; '.join(parts)})"


def _check_key(key: object, what: str) -> str:
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise QueryError(f"{what} {key!r} is not a valid key (lower-case letters, digits, _)")
    return key


@attrs.frozen(repr=False, cache_hash=True)
class Query:
    """A read or report on one Dizions resource; immutable, hashable, equal by value.

    Args:
        resource: ``clients``, ``referrals``, ... or ``extension_database/{slug}``.
        strict: refuse filter keys that look like typos of documented keys (default).
            ``strict=False`` accepts any well-formed key, for fields the seed lists omit.

    Raises:
        QueryError: the resource is unknown.

    Example::

        Query("referrals").filter(project=[5, 6]).date_range("date", "2024-01-01", "2024-03-31")
    """

    resource: str
    # `strict` only changes what the builder accepts, not what is sent: not part of equality.
    strict: bool = attrs.field(default=True, kw_only=True, eq=False)
    ids: tuple[int, ...] = attrs.field(default=(), kw_only=True)
    filters: tuple[tuple[str, tuple[str, ...]], ...] = attrs.field(default=(), kw_only=True)
    date_ranges: tuple[tuple[str, dt.date, dt.date], ...] = attrs.field(default=(), kw_only=True)
    dimension_key: str | None = attrs.field(default=None, kw_only=True)
    metric_key: str | None = attrs.field(default=None, kw_only=True)
    field_names: tuple[str, ...] = attrs.field(default=(), kw_only=True)
    resolve: tuple[str, ...] = attrs.field(default=(), kw_only=True)
    _spec: Resource = attrs.field(init=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_spec", get_resource(self.resource))

    def _evolve(self, **changes: Any) -> Query:
        """``attrs.evolve(self, **changes)`` without its per-call introspection.

        Builders call this once per call, so it is their largest cost under evolve. The
        fields are copied as they are (each builder has checked what it changes) and the
        cached hash is cleared, not copied.
        """
        new: Query = _new(Query)
        for name in _FIELDS:
            _set(new, name, changes[name] if name in changes else getattr(self, name))
        for name in _CACHE_SLOTS:
            _set(new, name, None)
        return new

    # -- builders -------------------------------------------------------------------------

    def filter(self, *key_values: Any, **pairs: FilterValue) -> Query:
        """Add filter pairs, keeping their order.

        Call as ``.filter(religion=[1, 3], ethnicity=1)`` or ``.filter("religion", 1, 3)``.
        Values are int, str, bool (sent as Y/N), date (ISO), or iterables of those.

        Raises:
            QueryError: a key given twice, unknown for the resource, or over the limit of
                10 filters; an empty, None or unsendable value.
        """
        items: Iterable[tuple[str, object]] = pairs.items()
        if key_values:
            key, *values = key_values
            if not values:
                raise QueryError(f"filter {key!r} was given no values")
            items = [(key, values[0] if len(values) == 1 else values), *items]
        elif not pairs:
            raise QueryError("filter() needs at least one key and value")
        ids = self.ids
        filters = list(self.filters)
        taken = {k for k, _ in filters}
        if self.date_ranges:
            taken.update(k for k, _, _ in self.date_ranges)
        if ids:
            taken.add("id")
        known = self._spec.filter_keys
        for key, value in items:
            if key not in known:  # a documented key is well-formed and no typo
                self._check_filter_key(_check_key(key, "filter"))
            if key in taken:
                raise QueryError(f"filter {key!r} is given twice; put all its values in one list")
            taken.add(key)
            if key == "id":
                ids = self._check_ids(_ids_of(value))
            else:
                filters.append((key, _values(key, value)))
        count = len(filters) + len(self.date_ranges) + bool(ids)
        if count > MAX_FILTERS:
            self._check_count(count, key)
        return self._evolve(ids=ids, filters=tuple(filters))

    def id(self, *ids: int) -> Query:
        """Select records by ID: ``.id(510)`` is ``/id/510``; several IDs are ``;``-joined."""
        if not ids:
            raise QueryError("id() needs at least one record ID")
        if self.ids:
            raise QueryError("filter 'id' is given twice; put all the IDs in one call")
        checked = self._check_ids(ids)
        self._check_count(len(self.filters) + len(self.date_ranges) + 1, "id")
        return self._evolve(ids=checked)

    def date_range(self, key: str, start: dt.date | str, end: dt.date | str) -> Query:
        """Restrict to records whose ``key`` date lies in ``start..end``, both inclusive.

        Raises:
            QueryError: the resource has no date ranges, the key is not one of its date
                keys, a date is malformed, or start is after end.
        """
        _check_key(key, "date range")
        if key == "id" or key in _RESERVED_KEYS:
            raise QueryError(f"{key!r} cannot be a date range key")
        spec = self._spec
        if not spec.date_keys and spec.date_keys_complete:
            raise QueryError(f"resource {self.resource!r} has no date ranges (tried {key!r})")
        if spec.date_keys_complete and key not in spec.date_keys:
            hint = closest(key, spec.date_keys) or sorted(spec.date_keys)[0]
            raise QueryError(
                f"{key!r} is not a date key of {self.resource!r}; did you mean {hint!r}? "
                f"(date keys: {', '.join(sorted(spec.date_keys))})"
            )
        if key in self._keys():
            raise QueryError(f"filter {key!r} is given twice")
        first, last = _as_date(key, start), _as_date(key, end)
        if first > last:
            raise QueryError(
                f"date range {key!r} starts {shown(first)} after it ends {shown(last)}"
            )
        self._check_count(len(self.filters) + len(self.date_ranges) + bool(self.ids) + 1, key)
        return self._evolve(date_ranges=(*self.date_ranges, (key, first, last)))

    def fields(self, *names: str) -> Query:
        """Choose the fields returned (``/field/a;b``); repeated calls add to the choice."""
        if not names:
            raise QueryError("fields() needs at least one field name")
        chosen = list(self.field_names)
        for name in names:
            if _check_key(name, "field") not in chosen:
                chosen.append(name)
        return self._evolve(field_names=tuple(chosen))

    def dimension(self, name: str) -> Query:
        """Make this a report: a count of records per value of ``name``."""
        if self.dimension_key is not None:
            raise QueryError(f"dimension is already {self.dimension_key!r} (tried {name!r})")
        return self._evolve(dimension_key=_check_key(name, "dimension"))

    def metric(self, name: str) -> Query:
        """Break each dimension value down by ``name``; the query needs a dimension too."""
        if self.metric_key is not None:
            raise QueryError(f"metric is already {self.metric_key!r} (tried {name!r})")
        return self._evolve(metric_key=_check_key(name, "metric"))

    def resolve_ids(self, *names: str) -> Query:
        """Ask for friendly names instead of IDs for ``names`` (``"ALL"`` for every field)."""
        if not names:
            raise QueryError("resolve_ids() needs at least one field name, or 'ALL'")
        chosen = list(self.resolve)
        for name in names:
            if name != "ALL":
                _check_key(name, "resolve_ids field")
            if name not in chosen:
                chosen.append(name)
        return self._evolve(resolve=tuple(chosen))

    # -- compiled forms -------------------------------------------------------------------

    @property
    def is_report(self) -> bool:
        return self.dimension_key is not None

    @property
    def segments(self) -> tuple[str, ...]:
        """The path after ``/v2`` as percent-encoded segments, in canonical order.

        Raises:
            QueryError: a metric without a dimension.
        """
        if self.metric_key is not None and self.dimension_key is None:
            raise QueryError(f"metric {self.metric_key!r} needs a dimension: add .dimension()")
        out = self.resource.split("/")
        if self.ids:
            out += ("id", ";".join(map(str, self.ids)))
        for key, values in self.filters:
            out += (key, quote_values(values))
        for key, start, end in self.date_ranges:
            out += (key, f"{start.isoformat()},{end.isoformat()}")
        if self.dimension_key is not None:
            out += ("dimension", self.dimension_key)
        if self.metric_key is not None:
            out += ("metric", self.metric_key)
        if self.field_names:
            out += ("field", ";".join(self.field_names))
        return tuple(out)

    @property
    def path(self) -> str:
        """The percent-encoded path, beginning ``/v2/``."""
        return f"{API_PREFIX}/{'/'.join(self.segments)}"

    @property
    def query_string(self) -> str:
        """The ``resolveIds[]=...`` query string, or ``""``."""
        return "&".join(f"resolveIds[]={_quote(name)}" for name in self.resolve)

    def url(self, base: str | URL) -> URL:
        """The full URL under ``base`` (e.g. ``https://api.dizions.co.uk``).

        A path in ``base`` is kept as a prefix (``https://proxy/dz`` gives
        ``https://proxy/dz/v2/...``), for deployments behind a path-routing proxy.
        """
        root = URL(base) if isinstance(base, str) else base
        target = self.path + (f"?{self.query_string}" if self.resolve else "")
        return URL(f"{str(root.with_query(None)).rstrip('/')}{target}", encoded=True)

    def __repr__(self) -> str:
        try:
            shown = self.path + (f"?{self.query_string}" if self.resolve else "")
        except QueryError as exc:
            shown = f"<invalid: {exc}>"
        return f"Query({shown!r})"

    # -- parsing --------------------------------------------------------------------------

    @classmethod
    def from_path(cls, path: str | URL, *, strict: bool = True) -> Query:
        """Parse a Dizions read path (with or without host, ``/v2`` and query string).

        ``Query.from_path(q.path) == q`` for every valid ``q``.

        Raises:
            QueryError: the path is not a read of a known resource, or breaks a rule.
        """
        parts = urlsplit(str(path))
        trimmed = parts.path.strip("/")
        raw = trimmed.split("/") if trimmed else []
        if "" in raw:
            # An empty segment would shift every key/value pair after it.
            raise QueryError(f"path {_shown_path(path)} has an empty segment")
        if raw and "/" + raw[0] == API_PREFIX:
            raw = raw[1:]
        if not raw:
            raise QueryError(f"path {_shown_path(path)} names no resource")
        width = 2 if raw[0] == EXTENSION_DATABASE else 1
        q = cls("/".join(raw[:width]), strict=strict)
        pairs = raw[width:]
        if len(pairs) % 2:
            raise QueryError(f"path {_shown_path(path)} has a key {pairs[-1]!r} without a value")
        for key, value in zip(pairs[::2], pairs[1::2], strict=True):
            if key == "field":
                q = q.fields(*value.split(";"))
            elif key == "dimension":
                q = q.dimension(unquote(value))
            elif key == "metric":
                q = q.metric(unquote(value))
            elif (m := _RAW_RANGE.match(value)) and cls._is_date_key(q, key):
                q = q.date_range(key, m.group(1), m.group(2))
            elif key == "id":
                q = q.id(*(cls._parse_id(v) for v in value.split(";")))
            else:
                q = q.filter(key, *(unquote(v) for v in value.split(";")))
        for item in parts.query.split("&") if parts.query else ():
            name, _, value = item.partition("=")
            if unquote(name) == "resolveIds[]" and value:
                q = q.resolve_ids(unquote(value))
        return q

    # -- splitting (cutting to a URL length is in dizions_async.batching) ------------------

    def split_dates(self, unit: DateUnit, *, key: str | None = None) -> list[Query]:
        """Cut a date range into windows that cover it exactly once (no gap, no overlap).

        ``unit`` is ``"day"``, ``"week"`` (ISO, Monday to Sunday), ``"month"``, ``"year"``
        (calendar-aligned, the first and last window clipped to the range) or a number of
        days counted from the range's start. ``key`` names the date range to cut when the
        query has several.

        Raises:
            QueryError: no (or no such) date range, or a bad unit.

        Example::

            Query("referrals").date_range("date", "2024-01-01", "2024-12-31").split_dates("month")
        """
        key = self._date_key(key)
        at = next(i for i, (k, _, _) in enumerate(self.date_ranges) if k == key)
        _, start, end = self.date_ranges[at]
        out = []
        for first, last in date_windows(start, end, unit):
            ranges = list(self.date_ranges)
            ranges[at] = (key, first, last)
            out.append(self._evolve(date_ranges=tuple(ranges)))
        return out

    def split_values(self, key: str, size: int) -> list[Query]:
        """Cut the value list ``key`` (``"id"`` for the IDs) into chunks of ``size`` values.

        Raises:
            QueryError: the query has no value list ``key``, or ``size`` is below 1.
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise QueryError(f"split_values needs a size of at least 1, got {size!r}")
        if key == "id":
            ids = self.ids
            if ids:
                return [self._evolve(ids=ids[i : i + size]) for i in range(0, len(ids), size)]
        else:
            for at, (k, values) in enumerate(self.filters):
                if k == key:
                    head, tail = self.filters[:at], self.filters[at + 1 :]
                    return [
                        self._evolve(filters=(*head, (key, values[i : i + size]), *tail))
                        for i in range(0, len(values), size)
                    ]
        lists = (["id"] if self.ids else []) + [k for k, _ in self.filters]
        have = ", ".join(repr(k) for k in lists) or "none"
        raise QueryError(f"query has no value list {key!r} to split (value lists: {have})")

    def _date_key(self, key: str | None) -> str:
        """The date range to split: ``key``, or the query's only one."""
        keys = [k for k, _, _ in self.date_ranges]
        if key is not None:
            if key not in keys:
                have = ", ".join(repr(k) for k in keys) or "none"
                raise QueryError(f"query has no date range {key!r} to split (date ranges: {have})")
            return key
        if not keys:
            raise QueryError("query has no date range to split: add .date_range() first")
        if len(keys) > 1:
            raise QueryError(
                f"query has several date ranges ({', '.join(keys)}): name the one to split "
                "with key="
            )
        return keys[0]

    # -- checks ---------------------------------------------------------------------------

    @staticmethod
    def _is_date_key(q: Query, key: str) -> bool:
        spec = q._spec
        return key in spec.date_keys or (not spec.date_keys_complete and key != "id")

    @staticmethod
    def _parse_id(text: str) -> int:
        if not (text.isascii() and text.isdigit()):
            raise QueryError(f"record id must be a whole number, got {described(unquote(text))}")
        return int(text)

    @staticmethod
    def _check_ids(ids: Iterable[object]) -> tuple[int, ...]:
        out: list[int] = []
        for value in ids:
            if isinstance(value, str) and value.isascii() and value.isdigit():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                # IDs are structure, not personal data: a bad int is shown, anything else not.
                got = repr(value) if isinstance(value, int) else described(value)
                raise QueryError(f"record id must be a non-negative int, got {got}")
            out.append(value)
        if not out:
            raise QueryError("filter 'id' has an empty list of values")
        return tuple(out)

    def _keys(self) -> set[str]:
        taken = {k for k, _ in self.filters} | {k for k, _, _ in self.date_ranges}
        if self.ids:
            taken.add("id")
        return taken

    @staticmethod
    def _check_count(n: int, key: str) -> None:
        if n > MAX_FILTERS:
            raise QueryError(
                f"a query may have at most {MAX_FILTERS} filters (date ranges and id count); "
                f"adding {key!r} would make {n}"
            )

    def _check_filter_key(self, key: str) -> None:
        spec = self._spec
        if key in _RESERVED_KEYS:
            raise QueryError(f"{key!r} is not a filter: use .{key}() instead")
        if key in spec.filter_keys or key == "id":
            return
        if not spec.keys_complete or (spec.extension_fields and not self.strict):
            return
        hint = closest(key, spec.filter_keys)
        if spec.extension_fields:
            # Unknown keys are single-record extension fields by collaborator name, unless
            # they sit so near a documented key that a typo is the likelier story.
            if hint is None or edit_distance(key, hint) > _TYPO_EDITS:
                return
            raise QueryError(
                f"filter {key!r} is not a {self.resource} filter; did you mean {hint!r}? "
                f"(pass strict=False if {key!r} is an extension field's collaborator name)"
            )
        if self.strict:
            raise QueryError(
                f"filter {key!r} is not a {self.resource} filter"
                + (f"; did you mean {hint!r}?" if hint else "")
            )


_new = object.__new__
_set = object.__setattr__
_FIELDS = tuple(field.name for field in attrs.fields(Query))
#: The slots attrs adds beside the fields (the cached hash), reset in every copy.
_CACHE_SLOTS = tuple(
    name
    for name in getattr(Query, "__slots__", ())
    if name not in _FIELDS and name != "__weakref__"
)


@attrs.frozen
class ExtensionDatabase:
    """A multiple-record extension database, by its API name or by its name and ID.

    With no ID, ``name`` is the API name set on the database record (API:_Extension_
    Databases), used as given: lower-case letters, digits and underscores. With an ID,
    the older rule makes the path name: lower-case, spaces to underscores, ``_ID``.

    Example::

        >>> ExtensionDatabase("wellcheck_notes").query().filter(referral=2289).path
        '/v2/extension_database/wellcheck_notes/referral/2289'
        >>> ExtensionDatabase("Staff Disciplinary", 13).query().filter(referral=2289).path
        '/v2/extension_database/staff_disciplinary_13/referral/2289'

    Raises:
        QueryError: an API name with any other character; a bad name or ID.
    """

    name: str
    db_id: int | None = None
    slug: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if self.db_id is None:
            slug = extension_api_name(self.name)
        else:
            slug = extension_slug(self.name, self.db_id)
        object.__setattr__(self, "slug", slug)

    @property
    def resource(self) -> str:
        """The resource path: ``extension_database/{api name or slug}``."""
        return f"{EXTENSION_DATABASE}/{_quote(self.slug)}"

    def query(self, *, strict: bool = True) -> Query:
        return Query(self.resource, strict=strict)
