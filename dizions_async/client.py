"""The async Client: the public API, composed of the core, the reads, writes and batching.

:class:`Client` is put together from private modules, each holding one part:
``_core.py`` (construction, lifecycle, request building and the ``_send``/``_stream``
loop with its queueing, pausing, retries and logging), ``_client_writes.py`` (create,
update, the named write helpers, upload) and ``_client_batching.py`` (split fetches,
gather, stream, stream_many). The reads live here: build a Request, ``_send`` it, decode.

Example::

    async with Client() as dz:          # keys from DIZIONS_SOURCE / _ORG / _USER
        rows = await dz.fetch(Query("clients").filter(gender=1))
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from dizions_async._bound import BoundQuery, unwrap
from dizions_async._client_batching import _ClientBatching
from dizions_async._client_writes import _ClientWrites
from dizions_async._concurrency import ProgressCallback
from dizions_async._config import Timeouts
from dizions_async._convert import structure_records
from dizions_async._otel import instrument
from dizions_async._redact import described
from dizions_async._resolve import DictionaryCache, DictionaryName, replace_ids
from dizions_async._text import quote_segment
from dizions_async.batching import DateUnit
from dizions_async.catalogue import API_PREFIX, KEY_TEST_PATH, get_resource
from dizions_async.errors import ConfigurationError, DecodeError, NotFoundError, QueryError
from dizions_async.protocol import (
    decode_dictionary,
    decode_dictionary_all,
    decode_json,
    decode_mapping,
    decode_names,
    decode_records,
)
from dizions_async.query import ExtensionDatabase, Query
from dizions_async.results import DictionaryEntry, Report
from dizions_async.retry import RetryPolicy
from dizions_async.transport import Transport

if TYPE_CHECKING:
    from dizions_async import models

__all__ = ["Client"]

T = TypeVar("T")


def _resource_name(resource: str | ExtensionDatabase) -> str:
    if isinstance(resource, ExtensionDatabase):
        return resource.resource
    return get_resource(resource).name


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise QueryError(f"{what} must be a non-empty string, got {described(value)}")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise QueryError(f"{what} is not valid Unicode text (a lone surrogate)") from None
    return quote_segment(value)


@instrument
class Client(_ClientWrites, _ClientBatching):
    """An async client for the Dizions API. Use it as ``async with Client(...) as dz``.

    Args:
        source, org, user: the keys; each falls back to ``DIZIONS_SOURCE``,
            ``DIZIONS_ORG``, ``DIZIONS_USER``. They travel as headers and never appear in
            a repr, a log line or an exception.
        base_url: default ``DIZIONS_BASE_URL``, else ``https://api.dizions.co.uk``.
            ``http`` only to loopback hosts unless ``allow_insecure=True``.
        max_concurrency: requests in flight at once; more wait, inside the SDK, and that
            wait never counts towards a timeout.
        timeout: per-attempt ``connect`` and ``read`` limits, a per-call ``total``.
        retry: the retry policy (see :class:`~dizions_async.retry.RetryPolicy`).
        rate_limit: ``(n, seconds)``: at most ``n`` requests started per ``seconds``.
        allow_insecure: allow plain ``http`` to a non-loopback host.
        session: a caller-owned ``aiohttp.ClientSession`` to use and leave open.
        transport: a transport to use instead (e.g. ``MockTransport``); the client
            closes it on exit.
        log_values: show values (filter, path and body values, server messages quoting
            them) in log lines and error messages; they are masked by default. None (the
            default) reads ``DIZIONS_LOG_VALUES=1``. The keys are never shown.
        max_url_length: longest URL sent; a longer read is split into pieces that fit
            (fetch, gather, stream, stream_many); any other request raises ``QueryError``.
        max_response_bytes: the most bytes (decoded, after gzip) a response read whole
            may hold (default 256 MiB; None for no limit); past it, ``ResponseTooLarge``.
            Streams are not limited as a whole: see ``max_record_bytes``.
        max_record_bytes: the largest record a stream decodes (default 16 MiB); past it,
            ``DecodeError``. See ``docs/limits.md`` for every limit.
        write_verbs: ``"seed"`` (default; PUT creates, POST updates, records at ``/id/{ID}``,
            as the API document) or ``"wiki"`` (POST creates, PUT updates, contact edits at
            ``/{resource}/{ID}``, as the wiki's entity pages); falls back to
            ``DIZIONS_WRITE_VERBS``. It switches every create, update and write helper;
            see docs/operations.md for the table.
        proxy: send requests through this forward proxy (``http://[user:password@]host:port``;
            the credentials are never logged). Overrides the environment.
        trust_env: read ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` and ``NO_PROXY`` from
            the environment (the default), as requests and httpx do.
        ssl: an ``ssl.SSLContext`` to verify the server with, or ``False`` to turn
            verification off (logged as a WARNING, once per client).
        ca_file: a PEM bundle of extra CAs (a private CA), trusted besides the default
            store (which honours ``SSL_CERT_FILE``).

    A client belongs to the event loop it is opened on (its ``async with`` or first
    request); from another loop it raises ``WrongEventLoopError``. Used without
    ``async with``, it is closed when ``asyncio.run()`` ends that loop.

    Raises:
        ConfigurationError: a key is missing (the message names its variable), the base
            URL, proxy or CA file is refused, a setting is out of range, or ``proxy``,
            ``ssl`` or ``ca_file`` is given with ``session`` or ``transport``.
    """

    def with_options(
        self,
        *,
        timeout: Timeouts | float | None = None,
        retry: RetryPolicy | None = None,
        log_values: bool | None = None,
    ) -> Client:
        """A view of this client with other per-call settings, for some calls.

        The view shares everything else: connections, the ``max_concurrency`` slots, the
        rate limiter, the pause after a 429, the dictionary cache, and the open/closed
        state. It closes nothing: ``aclose`` and ``async with`` on it are no-ops. Every
        read, write and batch method works on it. Making one costs microseconds.

        Args:
            timeout: a :class:`Timeouts`, or seconds for ``total`` alone; unset keeps
                this client's. (``connect``/``read`` apply per attempt through the aiohttp
                transport; a custom transport keeps its own.)
            retry: a :class:`RetryPolicy`; unset keeps this client's.
            log_values: show filter values in log lines; unset keeps this client's.

        Raises:
            ConfigurationError: an option of the wrong type.

        Example::

            quick = dz.with_options(timeout=2.0, retry=RetryPolicy(max_retries=0))
            row = await quick.fetch_one(Query("clients").id(7))
        """
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
            timeout = Timeouts(total=float(timeout))
        if timeout is not None and not isinstance(timeout, Timeouts):
            raise ConfigurationError("timeout must be a Timeouts or a number of seconds")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError("retry must be a RetryPolicy")
        if log_values is not None and not isinstance(log_values, bool):
            raise ConfigurationError("log_values must be True or False")
        return _ClientView(
            self,
            self._timeouts if timeout is None else timeout,
            self._retry if retry is None else retry,
            self._log_values if log_values is None else log_values,
        )

    # -- reads -----------------------------------------------------------------------------

    async def check_keys(self) -> dict[str, Any]:
        """Test the three keys: ``GET /v2/business/configuration``, the wiki's key test.

        Returns:
            What the server answers about the organisation's configuration (a mapping).

        Raises:
            AuthenticationError: a key is wrong (401) or the user may not use the API (403).
            APIError, TransportError: see :meth:`_send`.

        Example::

            async with Client() as dz:
                await dz.check_keys()
        """
        request = self._get(KEY_TEST_PATH)
        return decode_mapping(request, await self._send(request))

    @overload
    def query(
        self, resource: Literal["clients"], *, strict: bool = True
    ) -> BoundQuery[models.Client]: ...
    @overload
    def query(
        self, resource: Literal["referrals"], *, strict: bool = True
    ) -> BoundQuery[models.Referral]: ...
    @overload
    def query(
        self, resource: Literal["done_contacts"], *, strict: bool = True
    ) -> BoundQuery[models.DoneContact]: ...
    @overload
    def query(
        self, resource: Literal["due_contacts"], *, strict: bool = True
    ) -> BoundQuery[models.DueContact]: ...
    @overload
    def query(
        self, resource: Literal["workers"], *, strict: bool = True
    ) -> BoundQuery[models.Worker]: ...
    @overload
    def query(
        self, resource: Literal["schedules"], *, strict: bool = True
    ) -> BoundQuery[models.Schedule]: ...
    @overload
    def query(
        self, resource: Literal["attendances"], *, strict: bool = True
    ) -> BoundQuery[models.Attendance]: ...
    @overload
    def query(
        self, resource: Literal["clinics"], *, strict: bool = True
    ) -> BoundQuery[models.Clinic]: ...
    @overload
    def query(
        self, resource: ExtensionDatabase, *, strict: bool = True
    ) -> BoundQuery[models.ExtensionRecord]: ...
    @overload
    def query(self, resource: str, *, strict: bool = True) -> BoundQuery[models.Record]: ...
    def query(self, resource: str | ExtensionDatabase, *, strict: bool = True) -> BoundQuery[Any]:
        """A query bound to this client: chain it like :class:`Query`, then await it.

        Its type knows the resource's model: ``.typed()`` gives ``models.Client`` records
        for ``query("clients")``, and mypy knows it.

        Example::

            rows = await dz.query("clients").filter(gender=1)
            clients = await dz.query("clients").filter(gender=1).typed()
        """
        name = resource.resource if isinstance(resource, ExtensionDatabase) else resource
        return BoundQuery(self, Query(name, strict=strict))

    @overload
    async def fetch(
        self,
        query: Query | BoundQuery[Any],
        as_: None = None,
        *,
        split: DateUnit | tuple[str, int] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[dict[str, Any]]: ...
    @overload
    async def fetch(
        self,
        query: Query | BoundQuery[Any],
        as_: type[T],
        *,
        split: DateUnit | tuple[str, int] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[T]: ...
    async def fetch(
        self,
        query: Query | BoundQuery[Any],
        as_: type[T] | None = None,
        *,
        split: DateUnit | tuple[str, int] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[dict[str, Any]] | list[T]:
        """The records a read query matches.

        A query whose URL would be longer than ``max_url_length`` is cut along its longest
        value list into the fewest pieces that fit; ``split`` cuts it further. The pieces
        run concurrently (within ``max_concurrency``, each with the usual retries) and
        their records are merged in piece order, de-duplicated by ``id``.

        Args:
            query: a non-report :class:`Query` (or a bound one).
            as_: a class to structure each record into: a model of
                :mod:`dizions_async.models` (``models.Client``...), or your own attrs class
                or dataclass; by default records are dicts.
            split: cut the query's date range into windows (``"day"``, ``"week"``,
                ``"month"``, ``"year"`` or a number of days; see
                :meth:`Query.split_dates`), or a value list into chunks with
                ``(key, size)`` (see :meth:`Query.split_values`).
            on_progress: called ``(done, total)`` with pieces done, from ``(0, total)``.

        Raises:
            QueryError: a report query (use :meth:`report`), a bad ``split``, or a value
                that cannot fit in ``max_url_length`` even alone (the message names its key).
            DecodeError: the body, or a record for ``as_``, is not as promised.
            APIError, TransportError: see :meth:`_send`; for a split pull the error's
                ``query`` is the piece that failed (and, on Python 3.11+, a note names it).
        """
        q = query if type(query) is Query else unwrap(query)
        if q.dimension_key is not None:
            raise QueryError(
                f"{self._describe(q)} is a report query: use report() instead of fetch()"
            )
        return await self._fetch_records(q, as_, split, on_progress)

    @overload
    async def fetch_one(
        self, query: Query | BoundQuery[Any], as_: None = None
    ) -> dict[str, Any]: ...
    @overload
    async def fetch_one(self, query: Query | BoundQuery[Any], as_: type[T]) -> T: ...
    async def fetch_one(
        self, query: Query | BoundQuery[Any], as_: type[T] | None = None
    ) -> dict[str, Any] | T:
        """The one record of an ``/id/N`` query.

        Raises:
            QueryError: the query does not select exactly one ID.
            NotFoundError: no record has that ID.
        """
        q = unwrap(query)
        if len(q.ids) != 1:
            raise QueryError(f"fetch_one needs a query for exactly one id, got {self._describe(q)}")
        request = self._get(q.path, q.query_string if q.resolve else "")
        rows = decode_records(request, await self._send(request))
        if not rows:
            method, _, url = request.label.partition(" ")
            raise NotFoundError(404, "no record with this id", method=method, url=url)
        if len(rows) > 1:
            raise DecodeError(f"{request.label}: expected one record, got {len(rows)}")
        if as_ is None:
            return rows[0]
        return structure_records(rows, as_, request.label)[0]

    async def fetch_arrow(
        self,
        query: Query | BoundQuery[Any],
        *,
        split: DateUnit | tuple[str, int] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Any:
        """The records as a ``pyarrow.Table`` with typed columns (the ``[parquet]`` extra).

        The columns are the resource's model's fields (or the query's selected fields),
        typed as in a Parquet export (``int64`` IDs, ``date32`` dates, ``bool`` flags,
        ``string``), then ``extra``: the other keys of each record, as JSON. The table is
        built a record batch at a time as the records stream in, so only the Arrow
        columns and one batch of records are held. For pandas: ``table.to_pandas()``;
        polars: ``polars.from_arrow(table)``.

        Args:
            query: a non-report query.
            split: as in :meth:`fetch`: the pieces are pulled concurrently; records
                repeated across pieces appear once (by ``id``). Rows come in the order
                the pieces arrive in.
            on_progress: ``(done, total)`` over pieces.

        Raises:
            ConfigurationError: pyarrow is not installed (the message says how to).
            QueryError, DecodeError, APIError, TransportError: as :meth:`fetch`; a value
                its column's type cannot hold is a DecodeError naming the field.
        """
        from dizions_async._arrow import ArrowColumns, import_pyarrow, table_from_records

        import_pyarrow()  # before anything is sent
        q = unwrap(query)
        if q.dimension_key is not None:
            raise QueryError(f"{q!r} is a report query: use report() instead of fetch_arrow()")
        pieces = [q] if split is None else [p.query for p in self._plan(q, split)]
        dedupe = len(pieces) > 1
        # Repeats are found by id: fetched for that when the selection leaves it out, and
        # then not made a column.
        add_id = dedupe and bool(q.field_names) and "id" not in q.field_names
        if add_id:
            pieces = [piece.fields("id") for piece in pieces]
        records = self.stream_many(pieces, dedupe=dedupe, on_progress=on_progress)
        columns = ArrowColumns(
            q.resource, q.field_names, label=f"GET {q.resource}", ignore=("id",) if add_id else ()
        )
        return await table_from_records(records, columns)

    async def report(self, query: Query | BoundQuery[Any]) -> Report:
        """Counts per dimension value (and per metric value, with a metric).

        Raises:
            QueryError: the query has no dimension.
        """
        q = unwrap(query)
        if q.dimension_key is None:
            raise QueryError(
                f"{self._describe(q)} has no dimension: add .dimension(...) for a report"
            )
        return await self._fetch_report(q)

    async def _names(self, resource: str | ExtensionDatabase, what: str) -> list[str]:
        request = self._get(f"{API_PREFIX}/{_resource_name(resource)}/{what}")
        return decode_names(request, await self._send(request))

    async def selectable_fields(self, resource: str | ExtensionDatabase) -> list[str]:
        """Field names ``resource`` can return (for ``Query.fields``)."""
        return await self._names(resource, "selectable_fields")

    async def filterable_fields(self, resource: str | ExtensionDatabase) -> list[str]:
        """Filter keys ``resource`` accepts."""
        return await self._names(resource, "filterable_fields")

    async def friendly_names(self, resource: str | ExtensionDatabase) -> dict[str, str]:
        """Field name -> friendly name of ``resource``'s fields (API_schedules documents
        ``/v2/schedules/friendly_names``). The answer's shape is [assumed]: a JSON object;
        a JSON array of names is taken as names that are their own friendly names.

        Raises:
            DecodeError: the answer is neither.
        """
        request = self._get(f"{API_PREFIX}/{_resource_name(resource)}/friendly_names")
        response = await self._send(request)
        data = decode_json(request, response)
        if isinstance(data, list) and all(isinstance(n, str) for n in data):
            return {name: name for name in data}
        return {str(k): str(v) for k, v in decode_mapping(request, response).items()}

    async def metrics(self, resource: str | ExtensionDatabase) -> list[str]:
        """Fields ``resource`` can report on as a dimension or metric."""
        return await self._names(resource, "metrics")

    async def dictionary(self, group: str, table: str | None = None) -> list[DictionaryEntry]:
        """One dictionary's entries (ID and name).

        Args:
            group: the group, e.g. ``"organisations"``; or, without ``table``, a dictionary
                the wiki addresses by one segment: ``"client_type"``, ``"branch"``,
                ``"relationships"``, ``"carer_relationships"``, ``"rates"``.
            table: the table within ``group``, e.g. ``"district"``; for an extension
                database field's options, group ``"extension_database"`` and the field's
                collaborator name.

        Example::

            await dz.dictionary("organisations", "district")  # .../organisations/district
            await dz.dictionary("client_type")  # /v2/dictionary/client_type

        Raises:
            QueryError: an empty group or table.
        """
        path = f"{API_PREFIX}/dictionary/{_segment(group, 'group')}"
        if table is not None:
            path += f"/{_segment(table, 'table')}"
        request = self._get(path)
        return decode_dictionary(request, await self._send(request))

    async def dictionary_search(self, group: str, table: str, term: str) -> list[DictionaryEntry]:
        """Entries of one dictionary whose name matches ``term``."""
        path = (
            f"{API_PREFIX}/dictionary/search/{_segment(group, 'group')}/"
            f"{_segment(table, 'table')}/{_segment(term, 'term')}"
        )
        request = self._get(path)
        return decode_dictionary(request, await self._send(request))

    async def dictionary_all(self) -> dict[str, dict[str, list[DictionaryEntry]]]:
        """Every dictionary, by group then table (slow and heavy: prefer :meth:`dictionary`).

        Raises:
            DecodeError: the body is neither a list of entries carrying ``group`` and
                ``table``, nor ``{group: {table: [entries]}}``.
        """
        request = self._get(f"{API_PREFIX}/dictionary")
        return decode_dictionary_all(request, await self._send(request))

    async def resolve(
        self,
        rows: Iterable[Mapping[str, Any]],
        fields: Mapping[str, DictionaryName],
    ) -> list[dict[str, Any]]:
        """New records with the named fields' IDs replaced by dictionary names.

        Each dictionary is fetched once per client and cached; concurrent resolves share
        one fetch. IDs missing from a dictionary are left as they are.

        Args:
            rows: records, e.g. from :meth:`fetch`.
            fields: field name -> ``(group, table)`` of its dictionary, or the one-segment
                name of one (``"client_type"``, ``"rates"``, ...).

        Example::

            rows = await dz.resolve(
                rows, {"district": ("organisations", "district"), "type": "client_type"}
            )
        """
        tables = list(dict.fromkeys(fields.values()))
        if self._dictionaries is None:
            self._dictionaries = DictionaryCache(self.dictionary)
        cache = self._dictionaries
        maps = await asyncio.gather(*(cache.names(spec) for spec in tables))
        by_table = dict(zip(tables, maps, strict=True))
        return replace_ids(rows, {field: by_table[spec] for field, spec in fields.items()})


#: Client attributes rebound after construction: a view reads and writes these on its
#: root. Every other attribute is set once, in ``__init__``, so a view copies it (the
#: semaphores, the limiter, the watchdog are shared objects). An attribute added to the
#: client and rebound later belongs here (``test_a_view_sees_every_attribute_of_its_root``
#: checks).
_REBOUND = ("_closed", "_paused_until", "_dictionaries", "_loop", "_loop_guard", "_transport")


def _on_root(name: str) -> property:
    def get(view: _ClientView) -> Any:
        return getattr(view._root, name)

    def set_(view: _ClientView, value: Any) -> None:
        setattr(view._root, name, value)

    return property(get, set_)


class _ClientView(Client):
    """What :meth:`Client.with_options` returns: a Client with its own timeouts, retry
    policy and ``log_values``, sharing everything else with its root client, so that
    slots, pauses, caches and the closed state are one.

    Plain attribute copies, not a ``__getattr__`` proxy: a proxy's per-attribute miss
    doubled the SDK's own cost of a request (measured with a MockTransport).
    """

    _root: Client
    _sibling: tuple[Transport, Transport] | None

    def __init__(
        self, parent: Client, timeouts: Timeouts, retry: RetryPolicy, log_values: bool
    ) -> None:
        root = parent._root if isinstance(parent, _ClientView) else parent
        fixed = vars(self)
        fixed.update(vars(root))
        for name in _REBOUND:
            fixed.pop(name, None)
        self._root = root
        self._timeouts = timeouts
        self._retry = retry
        self._log_values = log_values
        #: (the root's transport, the one with this view's connect/read timeouts).
        self._sibling = None

    def __repr__(self) -> str:
        return f"<Client view ({self._timeouts!r}, {self._retry!r}) of {self._root!r}>"

    def _get_transport(self) -> Transport:
        transport = self._root._get_transport()
        root_timeouts = self._root._timeouts
        if (self._timeouts.connect, self._timeouts.read) == (
            root_timeouts.connect,
            root_timeouts.read,
        ):
            return transport
        sibling = self._sibling
        if sibling is None or sibling[0] is not transport:
            # Same session and pool; other per-attempt timeouts (aiohttp transport only).
            with_timeouts = getattr(transport, "with_timeouts", None)
            made = transport if with_timeouts is None else with_timeouts(self._timeouts)
            sibling = self._sibling = (transport, made)
        return sibling[1]

    async def aclose(self) -> None:
        """Closes nothing: the connections are the parent's."""


for _name in _REBOUND:
    setattr(_ClientView, _name, _on_root(_name))
