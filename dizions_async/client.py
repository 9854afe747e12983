"""The async Client: composes protocol, retry policy and transport into the public API.

The core every feature uses is :meth:`Client._send` (and :meth:`Client._stream` for
streaming reads): it queues the request behind the client-wide concurrency semaphore
(and the optional rate limiter), honours a client-wide pause after a 429, sends through
the transport, retries per :class:`~dizions_async.retry.RetryPolicy` (reads and writes
by different rules, keyed on ``Request.idempotent``), logs each attempt with the
redacted label, and turns error statuses into the error tree. Public reads are thin
wrappers: build a Request, ``_send`` it, decode.

Example::

    async with Client() as dz:          # keys from DIZIONS_SOURCE / _ORG / _USER
        rows = await dz.fetch(Query("clients").filter(gender=1))
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload
from urllib.parse import quote

import aiohttp
from aiolimiter import AsyncLimiter
from yarl import URL

from dizions_async import _writes
from dizions_async._bound import BoundQuery
from dizions_async._concurrency import (
    ProgressCallback,
    annotate_failure,
    merge_streams,
    run_pool,
)
from dizions_async._config import Keys, Timeouts, check_base_url, resolve_keys
from dizions_async._convert import structure_records
from dizions_async._logging import configure_from_env, logger
from dizions_async._resolve import DictionaryCache, replace_ids
from dizions_async._streaming import record_batches
from dizions_async._writes import Fields, FileSource, UploadResult
from dizions_async.batching import (
    DateUnit,
    MissingPieces,
    Piece,
    SeenIds,
    pieces_may_overlap,
    plan_pieces,
)
from dizions_async.catalogue import API_PREFIX, get_resource
from dizions_async.errors import (
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    DecodeError,
    DizionsError,
    NotFoundError,
    QueryError,
    TransportError,
)
from dizions_async.protocol import (
    Request,
    Response,
    auth_headers,
    decode_created_id,
    decode_dictionary,
    decode_dictionary_all,
    decode_json,
    decode_names,
    decode_records,
    decode_report,
    error_for_status,
    redact,
)
from dizions_async.query import ExtensionDatabase, Query
from dizions_async.results import DictionaryEntry, Report
from dizions_async.retry import Failure, RetryPolicy
from dizions_async.transport import AiohttpTransport, StreamResponse, Transport

__all__ = ["Client"]

T = TypeVar("T")

_DEFAULT_TIMEOUTS = Timeouts()
_DEFAULT_RETRY = RetryPolicy()
_DEBUG = logging.DEBUG


def _resource_name(resource: str | ExtensionDatabase) -> str:
    if isinstance(resource, ExtensionDatabase):
        return resource.resource
    return get_resource(resource).name


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise QueryError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def _unwrap(query: Query | BoundQuery) -> Query:
    return query.query if isinstance(query, BoundQuery) else query


class Client:
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
        log_values: show filter values in log lines (they are masked by default).
        max_url_length: longest URL sent; a longer read is split into pieces that fit
            (fetch, gather, stream, stream_many); any other request raises ``QueryError``.

    Raises:
        ConfigurationError: a key is missing (the message names its variable), the base
            URL is refused, or a setting is out of range.
    """

    def __init__(
        self,
        source: str | None = None,
        org: str | None = None,
        user: str | None = None,
        *,
        base_url: str | URL | None = None,
        max_concurrency: int = 16,
        timeout: Timeouts = _DEFAULT_TIMEOUTS,
        retry: RetryPolicy = _DEFAULT_RETRY,
        rate_limit: tuple[float, float] | None = None,
        allow_insecure: bool = False,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        log_values: bool = False,
        max_url_length: int = 4096,
    ) -> None:
        env = os.environ
        keys: Keys = resolve_keys(source, org, user, env)
        self._base_url = check_base_url(base_url, env, allow_insecure=allow_insecure)
        # Paths are appended to this string by concatenation: no URL joining per request.
        self._base = str(self._base_url)
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be a positive int")
        if isinstance(timeout, (int, float)):
            timeout = Timeouts(total=float(timeout))
        self._timeouts = timeout
        self._retry = retry
        self._max_concurrency = max_concurrency
        self._limiter: AsyncLimiter | None = None
        if rate_limit is not None:
            count, period = rate_limit
            if count <= 0 or period <= 0:
                raise ConfigurationError("rate_limit must be (positive count, positive seconds)")
            self._limiter = AsyncLimiter(count, period)
        from dizions_async import __version__

        self._headers = auth_headers(
            keys.source, keys.org, keys.user, user_agent=f"dizions_async/{__version__}"
        )
        self._session = session
        self._transport: Transport | None = transport
        self._owns_transport = transport is not None or session is None
        self._slots = asyncio.Semaphore(max_concurrency)
        self._paused_until = 0.0
        self._closed = False
        self._log_values = log_values
        self._max_url_length = max_url_length
        self._dictionaries = DictionaryCache(self.dictionary)
        configure_from_env(env)

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<Client {self._base} max_concurrency={self._max_concurrency}{state}>"

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        self._get_transport()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close connections (not a caller-owned session); later use raises
        ``ClientClosedError``. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._dictionaries.aclose()
        if self._transport is not None and self._owns_transport:
            await self._transport.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    def _get_transport(self) -> Transport:
        if self._closed:
            raise ClientClosedError("this Client is closed; create a new one")
        transport = self._transport
        if transport is None:
            # Made lazily, inside the running loop, as aiohttp requires.
            transport = self._transport = AiohttpTransport(
                session=self._session, timeouts=self._timeouts, pool_size=self._max_concurrency
            )
        return transport

    # -- requests --------------------------------------------------------------------------

    def _url(self, path: str, query_string: str = "") -> URL:
        text = self._base + path
        if query_string:
            text = f"{text}?{query_string}"
        if len(text) > self._max_url_length:
            raise QueryError(
                f"the URL would be {len(text)} characters, over max_url_length="
                f"{self._max_url_length}; use fewer filter values or split the query"
            )
        return URL(text, encoded=True)

    def _get(self, path: str, query_string: str = "") -> Request:
        """A GET request for an already percent-encoded path under the base URL."""
        return Request.build("GET", self._url(path, query_string), self._headers)

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        idempotent: bool | None = None,
    ) -> Request:
        """Any request under the base URL, with the client's headers (for write helpers)."""
        return Request.build(
            method,
            self._url(path),
            self._headers,
            body=body,
            content_type=content_type,
            idempotent=idempotent,
        )

    def _log_target(self, request: Request) -> str:
        if self._log_values:
            return f"{request.method} {request.url.raw_path_qs}"
        return request.label

    async def _wait_if_paused(self) -> None:
        # A 429 pauses every request of this client until its Retry-After has passed.
        clock = self._retry.clock
        while self._paused_until:
            remaining = self._paused_until - clock()
            if remaining <= 0:
                self._paused_until = 0.0
                return
            await self._retry.sleep(remaining)

    def _past_deadline(self, deadline: float | None, delay: float) -> bool:
        return deadline is not None and self._retry.clock() + delay > deadline

    def _retry_delay(
        self,
        request: Request,
        outcome: Response | TransportError,
        retries: int,
        deadline: float | None,
    ) -> float:
        """Seconds to wait before retrying ``request``; raises the error when giving up."""
        policy = self._retry
        if isinstance(outcome, Response):
            status = outcome.status
            retry_after = None
            if status in (429, 503):
                retry_after = policy.parse_retry_after(outcome.headers.get("Retry-After"))
            delay = policy.delay(
                idempotent=request.idempotent,
                retries=retries,
                status=status,
                retry_after=retry_after,
            )
            # An upload from an unseekable stream has been consumed: it cannot be resent.
            delay = delay if request.resendable else None
            if delay is None or self._past_deadline(deadline, delay):
                raise error_for_status(request, outcome, retries=retries, retry_after=retry_after)
            if status == 429:
                self._paused_until = max(self._paused_until, policy.clock() + delay)
            reason = str(status)
        else:
            sent = Failure.NOT_SENT if isinstance(outcome, ConnectError) else Failure.MAYBE_SENT
            delay = policy.delay(idempotent=request.idempotent, retries=retries, failure=sent)
            delay = delay if request.resendable else None
            if delay is None or self._past_deadline(deadline, delay):
                raise self._final_error(request, outcome, retries) from None
            reason = type(outcome).__name__
        logger.warning(
            "retrying %s in %.3f s after %s (retry %d of %d)",
            self._log_target(request),
            delay,
            reason,
            retries + 1,
            policy.max_retries,
        )
        return delay

    @staticmethod
    def _final_error(request: Request, exc: TransportError, retries: int) -> TransportError:
        unknown = not request.idempotent and not isinstance(exc, ConnectError)
        if retries == 0 and exc.outcome_unknown == unknown:
            return exc
        message = str(exc) + (f" (after {retries} retries)" if retries else "")
        return type(exc)(
            message, method=exc.method, url=exc.url, retries=retries, outcome_unknown=unknown
        )

    def _log_attempt(self, request: Request, result: str, started: float, attempt: int) -> None:
        logger.debug(
            "%s -> %s in %.1f ms (attempt %d)",
            self._log_target(request),
            result,
            (time.perf_counter() - started) * 1000,
            attempt,
        )

    async def _send(self, request: Request) -> Response:
        """Send ``request`` with queuing, pausing, retries, logging and error mapping.

        Returns:
            A response with a status below 300.

        Raises:
            ClientClosedError: the client is closed.
            APIError: (a subclass per status) an error status, after any retries.
            TransportError: (ConnectError, RequestTimeout) no response, after any retries.
                On a write that may have been applied, ``outcome_unknown`` is True.
        """
        transport = self._get_transport()
        retries = 0
        deadline: float | None = None
        total = self._timeouts.total
        debug = logger.isEnabledFor(_DEBUG)
        while True:
            if self._limiter is not None:
                await self._limiter.acquire()
            async with self._slots:
                if self._closed:
                    raise ClientClosedError("this Client was closed while the request waited")
                if self._paused_until:
                    await self._wait_if_paused()
                if deadline is None and total is not None:
                    # The deadline starts once a slot is held: queueing is not a timeout.
                    deadline = self._retry.clock() + total
                started = time.perf_counter() if debug else 0.0
                outcome: Response | TransportError
                try:
                    outcome = await transport.send(request)
                except TransportError as exc:
                    outcome = exc
            if debug:
                result = (
                    str(outcome.status) if isinstance(outcome, Response) else type(outcome).__name__
                )
                self._log_attempt(request, result, started, retries + 1)
            if isinstance(outcome, Response) and outcome.status < 300:
                return outcome
            delay = self._retry_delay(request, outcome, retries, deadline)
            await self._retry.sleep(delay)
            retries += 1

    @contextlib.asynccontextmanager
    async def _stream(self, request: Request) -> AsyncIterator[StreamResponse]:
        """As :meth:`_send`, but yields the response with its body still to read.

        Retries apply until a success status arrives; once the body is being read, a
        failure is raised (as ``TransportError``), not retried. The concurrency slot is
        held until the context exits.

        Raises:
            As :meth:`_send`.
        """
        transport = self._get_transport()
        retries = 0
        deadline: float | None = None
        total = self._timeouts.total
        debug = logger.isEnabledFor(_DEBUG)
        while True:
            if self._limiter is not None:
                await self._limiter.acquire()
            outcome: Response | TransportError
            async with contextlib.AsyncExitStack() as stack:
                await stack.enter_async_context(self._slots)
                if self._closed:
                    raise ClientClosedError("this Client was closed while the request waited")
                if self._paused_until:
                    await self._wait_if_paused()
                if deadline is None and total is not None:
                    deadline = self._retry.clock() + total
                started = time.perf_counter() if debug else 0.0
                try:
                    response = await stack.enter_async_context(transport.stream(request))
                    if response.status < 300:
                        if debug:
                            self._log_attempt(request, str(response.status), started, retries + 1)
                        yield response
                        return
                    outcome = Response(response.status, response.headers, await response.read())
                except TransportError as exc:
                    outcome = exc
            if debug:
                result = (
                    str(outcome.status) if isinstance(outcome, Response) else type(outcome).__name__
                )
                self._log_attempt(request, result, started, retries + 1)
            delay = self._retry_delay(request, outcome, retries, deadline)
            await self._retry.sleep(delay)
            retries += 1

    # -- reads -----------------------------------------------------------------------------

    def query(self, resource: str | ExtensionDatabase, *, strict: bool = True) -> BoundQuery:
        """A query bound to this client: chain it like :class:`Query`, then await it.

        Example::

            rows = await dz.query("clients").filter(gender=1)
        """
        name = resource.resource if isinstance(resource, ExtensionDatabase) else resource
        return BoundQuery(self, Query(name, strict=strict))

    @overload
    async def fetch(
        self,
        query: Query | BoundQuery,
        as_: None = None,
        *,
        split: DateUnit | tuple[str, int] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[dict[str, Any]]: ...
    @overload
    async def fetch(
        self,
        query: Query | BoundQuery,
        as_: type[T],
        *,
        split: DateUnit | tuple[str, int] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[T]: ...
    async def fetch(
        self,
        query: Query | BoundQuery,
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
            as_: a class (attrs, dataclass...) to structure each record into; by default
                records are dicts.
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
        q = _unwrap(query)
        if q.dimension_key is not None:
            raise QueryError(f"{q!r} is a report query: use report() instead of fetch()")
        if split is None and 2 * len(q.ids) <= self._max_url_length:
            # (Past that, the IDs alone are too long: no need to compile the path to know.)
            path = q.path
            query_string = q.query_string if q.resolve else ""
            size = len(self._base) + len(path) + (len(query_string) + 1 if query_string else 0)
            if size <= self._max_url_length:
                # The hot path: one request, nothing planned.
                if on_progress is not None:
                    on_progress(0, 1)
                request = self._get(path, query_string)
                rows = decode_records(request, await self._send(request))
                if on_progress is not None:
                    on_progress(1, 1)
                if as_ is None:
                    return rows
                return structure_records(rows, as_, request.label)
        return await self._fetch_pieces(q, as_, split, on_progress)

    @overload
    async def fetch_one(self, query: Query | BoundQuery, as_: None = None) -> dict[str, Any]: ...
    @overload
    async def fetch_one(self, query: Query | BoundQuery, as_: type[T]) -> T: ...
    async def fetch_one(
        self, query: Query | BoundQuery, as_: type[T] | None = None
    ) -> dict[str, Any] | T:
        """The one record of an ``/id/N`` query.

        Raises:
            QueryError: the query does not select exactly one ID.
            NotFoundError: no record has that ID.
        """
        q = _unwrap(query)
        if len(q.ids) != 1:
            raise QueryError(f"fetch_one needs a query for exactly one id, got {q!r}")
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

    async def report(self, query: Query | BoundQuery) -> Report:
        """Counts per dimension value (and per metric value, with a metric).

        Raises:
            QueryError: the query has no dimension.
        """
        q = _unwrap(query)
        if q.dimension_key is None:
            raise QueryError(f"{q!r} has no dimension: add .dimension(...) for a report")
        request = self._get(q.path, q.query_string if q.resolve else "")
        response = await self._send(request)
        return decode_report(request, response, metric=q.metric_key is not None)

    async def _names(self, resource: str | ExtensionDatabase, what: str) -> list[str]:
        request = self._get(f"{API_PREFIX}/{_resource_name(resource)}/{what}")
        return decode_names(request, await self._send(request))

    async def selectable_fields(self, resource: str | ExtensionDatabase) -> list[str]:
        """Field names ``resource`` can return (for ``Query.fields``)."""
        return await self._names(resource, "selectable_fields")

    async def filterable_fields(self, resource: str | ExtensionDatabase) -> list[str]:
        """Filter keys ``resource`` accepts."""
        return await self._names(resource, "filterable_fields")

    async def metrics(self, resource: str | ExtensionDatabase) -> list[str]:
        """Fields ``resource`` can report on as a dimension or metric."""
        return await self._names(resource, "metrics")

    async def dictionary(self, group: str, table: str) -> list[DictionaryEntry]:
        """One dictionary, e.g. ``dictionary("organisations", "district")``."""
        path = f"{API_PREFIX}/dictionary/{_segment(group, 'group')}/{_segment(table, 'table')}"
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
        fields: Mapping[str, tuple[str, str]],
    ) -> list[dict[str, Any]]:
        """New records with the named fields' IDs replaced by dictionary names.

        Each dictionary is fetched once per client and cached; concurrent resolves share
        one fetch. IDs missing from a dictionary are left as they are.

        Args:
            rows: records, e.g. from :meth:`fetch`.
            fields: field name -> ``(group, table)`` of its dictionary.

        Example::

            rows = await dz.resolve(rows, {"district": ("organisations", "district")})
        """
        tables = list(dict.fromkeys(fields.values()))
        maps = await asyncio.gather(*(self._dictionaries.names(g, t) for g, t in tables))
        by_table = dict(zip(tables, maps, strict=True))
        return replace_ids(rows, {field: by_table[spec] for field, spec in fields.items()})

    # -- Writes ---------------------------------------------------------------------------
    # Thin wrappers: every check, body and path is built in dizions_async/_writes.py.
    # Write requests are non-idempotent, so _send resends them only when the server
    # certainly did not act (429, 503, a connection that failed before sending).

    async def _write(self, prepared: _writes.PreparedWrite) -> tuple[Request, Response]:
        request = self._request(
            prepared.method,
            prepared.path,
            body=prepared.body,
            content_type=prepared.content_type,
            idempotent=False,
        )
        return request, await self._send(request)

    async def _write_id(self, prepared: _writes.PreparedWrite) -> int:
        request, response = await self._write(prepared)
        return decode_created_id(request, response)

    async def create(self, resource: str | ExtensionDatabase, fields: Fields) -> int:
        """Create one record (``PUT /v2/{resource}``) and return its ID.

        Args:
            resource: ``clients``, ``referrals``, ``external_referral``, or an extension
                database (an :class:`ExtensionDatabase` or ``"extension_database/slug"``).
            fields: field name -> int, str, bool (``Y``/``N``), date or datetime (ISO), a
                list of IDs (comma-separated), or None (not sent).

        Raises:
            ValidationError: before sending: the resource has no plain create, a mandatory
                field is missing, a key or value cannot be sent, an end is before its start.
            APIError, TransportError: see :meth:`_send`; ``outcome_unknown`` is True when
                the record may have been created anyway.
        """
        return await self._write_id(_writes.prepare_create(resource, fields))

    async def update(self, resource: str | ExtensionDatabase, id: int, fields: Fields) -> int:
        """Update record ``id`` (``POST /v2/{resource}/id/{id}``); returns its ID.

        Raises:
            ValidationError: before sending: the resource cannot be updated, a bad ID, no
                field left once None values are dropped, a key or value that cannot be
                sent, an end before its start, a partial client relationship.
            APIError, TransportError: see :meth:`_send`.
        """
        return await self._write_id(_writes.prepare_update(resource, id, fields))

    async def create_client(self, fields: Fields, external_id: str | int | None = None) -> int:
        """Create a client (first_name and surname are mandatory); returns its ID.

        With ``external_id`` (a reference in another system) the create is
        ``PUT /v2/clients/external_id/{EXT}``. If its outcome is unknown (the error has
        ``outcome_unknown = True``), the message says what to read to find out whether the
        client exists before creating it again.

        Raises:
            ValidationError: see :meth:`create`; a bad or conflicting external ID.
            APIError, TransportError: see :meth:`_send`.
        """
        prepared = _writes.prepare_create_client(fields, external_id)
        try:
            return await self._write_id(prepared)
        except DizionsError as exc:
            if external_id is None or not exc.outcome_unknown:
                raise
            # Same error, same class: only the message gains the way to check.
            exc.args = (
                f"{exc}; to see whether the client was created, read GET {prepared.path} "
                "(Query('clients').filter(external_id=...)) before trying again",
            )
            raise

    async def create_referral(self, fields: Fields) -> int:
        """Create a referral (record a contact); returns its ID.

        Mandatory: client, client_type, date, project, template, stage,
        response_description.
        """
        return await self.create("referrals", fields)

    async def create_due_contact(self, referral_id: int, fields: Fields) -> int:
        """Create a due contact (an incomplete action) for a referral; returns its ID.

        ``PUT /v2/due_contacts/referral/{referral_id}``; mandatory: user, start_date,
        end_date, description.
        """
        return await self._write_id(_writes.prepare_due_contact(referral_id, fields))

    async def update_due_contact(self, id: int, fields: Fields) -> int:
        """Update due contact ``id``; returns its ID."""
        return await self.update("due_contacts", id, fields)

    async def complete_contact(
        self, contact_id: int, start: dt.date | str, end: dt.date | str, **fields: object
    ) -> int:
        """Complete due contact ``contact_id``: POST done_contacts with start_date, end_date.

        Args:
            contact_id: the due contact's ID (it becomes a done contact).
            start, end: when the contact happened: dates, datetimes or ISO strings.
            fields: other done-contact fields to set, e.g. ``travel_time=15``.

        Raises:
            ValidationError: start or end missing or not a date, or end before start.
        """
        prepared = _writes.prepare_complete_contact(contact_id, start, end, fields)
        return await self._write_id(prepared)

    async def update_done_contact(self, id: int, fields: Fields) -> int:
        """Update done contact ``id``; returns its ID."""
        return await self.update("done_contacts", id, fields)

    async def relate_clients(
        self,
        first_id: int,
        second_id: int,
        first_to_second: int,
        second_to_first: int,
        *,
        carer_first_to_second: int | None = None,
        carer_second_to_first: int | None = None,
    ) -> int:
        """Relate two clients: a client update carrying id_second and the relationships.

        Relationship IDs come from ``dictionary("relationships", "relationships")``, carer
        ones from ``dictionary("relationships", "carer_relationships")``. Returns
        ``first_id``.

        Raises:
            ValidationError: an ID that is not a non-negative int, or a client related to
                itself.
        """
        prepared = _writes.prepare_relationship(
            first_id,
            second_id,
            first_to_second,
            second_to_first,
            carer_first_to_second=carer_first_to_second,
            carer_second_to_first=carer_second_to_first,
        )
        return await self._write_id(prepared)

    @overload
    async def external_referral(self, person_or_people: Fields) -> int: ...
    @overload
    async def external_referral(self, person_or_people: Sequence[Fields]) -> list[int]: ...
    async def external_referral(
        self, person_or_people: Fields | Sequence[Fields]
    ) -> int | list[int]:
        """Stage external referral(s) for an administrator to import or reject.

        ``PUT /v2/external_referral``; each person needs org_type_id, surname and
        description, and may carry ``project`` and client fields. One person (a mapping)
        returns its ID; a list of people is sent as one JSON array and returns their IDs.

        Raises:
            ValidationError: a mandatory field missing (the message names the person's
                index), an empty list, a key or value that cannot be sent.
        """
        prepared = _writes.prepare_external_referral(person_or_people)
        request, response = await self._write(prepared)
        if isinstance(person_or_people, Mapping):
            return decode_created_id(request, response)
        return _writes.created_ids(request.label, decode_json(request, response))

    async def upload(
        self,
        resource: str,
        id: int,
        files: FileSource | Sequence[FileSource],
        *,
        user_visibility: int | Iterable[int],
        group_visibility: int | Iterable[int],
    ) -> UploadResult:
        """Upload files against a client or referral (``POST .../id/{id}/uploads``).

        Files are streamed from disk as multipart form data, never read whole into memory.
        Your own file objects are read from their current position and left open; an
        upload is resent after a 429 or 503 only if every file can seek back.

        Args:
            resource: ``"clients"`` or ``"referrals"``.
            id: the client's or referral's ID.
            files: a path or a binary file object, or a list of them.
            user_visibility: user ID(s) who may see the files (sent comma-separated).
            group_visibility: group ID(s) who may see the files (sent comma-separated).

        Returns:
            The stored uploads' IDs and the file names sent.

        Raises:
            ValidationError: before sending: another resource, a bad ID or visibility, a
                file that does not exist or cannot be read, a text-mode or closed file.
            APIError, TransportError: see :meth:`_send`.
        """
        prepared = _writes.prepare_upload(
            resource,
            id,
            files,
            user_visibility=user_visibility,
            group_visibility=group_visibility,
        )
        with contextlib.ExitStack() as stack:
            request = Request.build(
                prepared.method,
                self._url(prepared.path),
                self._headers,
                multipart=_writes.open_upload(prepared, stack),
                idempotent=False,
            )
            response = await self._send(request)
        ids = _writes.created_ids(request.label, decode_json(request, response))
        return UploadResult(tuple(ids), tuple(f.filename for f in prepared.files))

    # -- Batching and streaming ------------------------------------------------------------
    # Policy (cutting, merging) is in batching.py; the pool and stream merger in
    # _concurrency.py; incremental decoding in _streaming.py. These methods only compose.

    def _plan(self, query: Query, split: DateUnit | tuple[str, int] | None) -> list[Piece]:
        """The requests to send for ``query``: ``split`` first, then cut to the URL limit."""
        if split is None:
            pieces = [query]
        elif isinstance(split, tuple):
            key, size = split
            pieces = query.split_values(key, size)
        else:
            pieces = query.split_dates(split)
        base, limit = self._base, self._max_url_length
        return [part for piece in pieces for part in plan_pieces(piece, base, limit)]

    def _piece_request(self, piece: Piece) -> Request:
        q = piece.query
        return self._get(piece.path, q.query_string if q.resolve else "")

    async def _fetch_pieces(
        self,
        query: Query,
        as_: type[T] | None,
        split: DateUnit | tuple[str, int] | None,
        on_progress: ProgressCallback | None,
    ) -> list[Any]:
        pieces = self._plan(query, split)
        total = len(pieces)
        seen = SeenIds() if pieces_may_overlap(query, pieces) else None
        missing = MissingPieces(total)
        out: list[Any] = []
        # Pieces are merged in planned order as soon as every earlier one is in, so the
        # merging overlaps the later pieces' I/O instead of following it.
        arrived: dict[int, tuple[Request, list[dict[str, Any]]]] = {}
        cursor = 0

        async def fetch_piece(index: int, piece: Piece) -> None:
            nonlocal cursor
            request = self._piece_request(piece)
            try:
                arrived[index] = (request, decode_records(request, await self._send(request)))
            except DizionsError as exc:
                where = f"piece {index + 1} of {total}"
                annotate_failure(exc, piece.query, request.label, where)
                if not missing.absorb(exc):
                    raise
                arrived[index] = (request, [])
            while cursor in arrived:
                done_request, rows = arrived.pop(cursor)
                kept = rows if seen is None else seen.filter(rows)
                if as_ is not None:
                    # A record that does not fit: the DecodeError names its own request.
                    kept = structure_records(kept, as_, done_request.label)
                out.extend(kept)
                cursor += 1

        await run_pool(pieces, fetch_piece, limit=self._max_concurrency, on_progress=on_progress)
        missing.check()
        return out

    async def gather(
        self,
        queries: Iterable[Query | BoundQuery],
        *,
        as_: type[Any] | None = None,
        return_exceptions: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> list[Any]:
        """Run many queries concurrently; their results come back in input order.

        A fixed pool of ``max_concurrency`` workers pulls the queries one by one, so a
        list of thousands never becomes thousands of waiting tasks. Record queries give
        what :meth:`fetch` gives (split if their URL is too long); report queries give a
        :class:`Report`.

        Args:
            queries: the queries, in order.
            as_: a class to structure records into, as in :meth:`fetch`.
            return_exceptions: put each failure in its query's place instead of raising.
            on_progress: called ``(done, total)`` with queries done, from ``(0, total)``.

        Returns:
            One result per query, in input order.

        Raises:
            DizionsError: without ``return_exceptions``, the first failure, after the other
                queries are cancelled; its ``query`` attribute is the query that failed.

        Example::

            by_project = await dz.gather(base.filter(project=p) for p in (5, 6, 7))
        """
        items = [_unwrap(q) for q in queries]
        total = len(items)

        async def run(index: int, q: Query) -> Any:
            try:
                if q.dimension_key is not None:
                    return await self.report(q)
                return await self.fetch(q, as_)
            except DizionsError as exc:
                annotate_failure(exc, q, f"GET {redact(q.path)}", f"query {index + 1} of {total}")
                raise

        return await run_pool(
            items,
            run,
            limit=self._max_concurrency,
            return_exceptions=return_exceptions,
            on_progress=on_progress,
        )

    async def _piece_batches(
        self,
        piece: Piece,
        as_: type[Any] | None,
        seen: SeenIds | None,
        where: str | None,
        missing: MissingPieces | None = None,
    ) -> AsyncGenerator[list[Any], None]:
        """One piece's records, streamed in batches, de-duplicated and structured.

        ``where`` names the piece in errors; a 404 that ``missing`` absorbs ends the piece
        with no records.
        """
        request = self._piece_request(piece)
        try:
            async with self._stream(request) as response:
                async for batch in record_batches(response.chunks, label=request.label):
                    if seen is not None:
                        batch = seen.filter(batch)
                        if not batch:
                            continue
                    yield batch if as_ is None else structure_records(batch, as_, request.label)
        except DizionsError as exc:
            if where is not None:
                annotate_failure(exc, piece.query, request.label, where)
            if missing is None or not missing.absorb(exc):
                raise

    @overload
    def stream(
        self, query: Query | BoundQuery, as_: None = None
    ) -> AsyncIterator[dict[str, Any]]: ...
    @overload
    def stream(self, query: Query | BoundQuery, as_: type[T]) -> AsyncIterator[T]: ...
    async def stream(
        self, query: Query | BoundQuery, as_: type[Any] | None = None
    ) -> AsyncIterator[Any]:
        """The records of a read query, decoded as the body arrives.

        Memory stays at about one network chunk plus the record in hand, however large
        the response. A query over ``max_url_length`` is cut as in :meth:`fetch` and its
        pieces streamed one after the other, de-duplicated by ``id``. The request holds
        one of the client's ``max_concurrency`` slots until the iteration ends; to leave
        early, close the iterator (``contextlib.aclosing``) to free it at once.

        Args:
            query: a non-report query.
            as_: a class to structure each record into, as in :meth:`fetch`.

        Raises:
            QueryError, DecodeError, APIError, TransportError: as :meth:`fetch`. Retries
                apply until the response starts; a failure mid-body is raised.

        Example::

            async with contextlib.aclosing(dz.stream(q)) as rows:
                async for row in rows:
                    ...
        """
        q = _unwrap(query)
        if q.dimension_key is not None:
            raise QueryError(f"{q!r} is a report query: use report() instead of stream()")
        pieces = self._plan(q, None)
        seen = SeenIds() if pieces_may_overlap(q, pieces) else None
        missing = MissingPieces(len(pieces))
        for index, piece in enumerate(pieces):
            where = f"piece {index + 1} of {len(pieces)}" if len(pieces) > 1 else None
            batches = self._piece_batches(piece, as_, seen, where, missing)
            async with contextlib.aclosing(batches):
                async for batch in batches:
                    for row in batch:
                        yield row
        missing.check()

    @overload
    def stream_many(
        self,
        queries: Iterable[Query | BoundQuery],
        as_: None = None,
        *,
        dedupe: bool = False,
        buffer: int = 16,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncIterator[dict[str, Any]]: ...
    @overload
    def stream_many(
        self,
        queries: Iterable[Query | BoundQuery],
        as_: type[T],
        *,
        dedupe: bool = False,
        buffer: int = 16,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncIterator[T]: ...
    async def stream_many(
        self,
        queries: Iterable[Query | BoundQuery],
        as_: type[Any] | None = None,
        *,
        dedupe: bool = False,
        buffer: int = 16,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncIterator[Any]:
        """The records of many read queries, streamed concurrently, as they arrive.

        Up to ``max_concurrency - 1`` responses are read at once (one slot is left for
        other requests). Decoded records wait in a queue of at most ``buffer`` batches
        (a batch is what one 64 KiB network chunk held); when it is full the readers
        pause, so a slow consumer slows the pulls and memory does not grow.

        Args:
            queries: non-report queries; each is cut to ``max_url_length`` as in fetch.
            as_: a class to structure each record into.
            dedupe: drop records whose ``id`` was already yielded (for pieces of one
                resource, e.g. ``q.split_dates("month")`` on ``date_active``).
            buffer: the most decoded batches waiting for the consumer.
            on_progress: ``(done, total)`` over pieces.

        Returns:
            An async iterator of records; the order within one request is kept, the
            order across requests (queries, and pieces of a split query) is not.

        Raises:
            DizionsError: the first failure of any piece (its ``query`` names the piece),
                after the other pieces are cancelled.
        """
        pieces: list[tuple[Piece, MissingPieces]] = []
        for query in queries:
            q = _unwrap(query)
            if q.dimension_key is not None:
                raise QueryError(f"{q!r} is a report query; stream_many() reads records")
            planned = self._plan(q, None)
            missing = MissingPieces(len(planned))
            pieces.extend((piece, missing) for piece in planned)
        seen = SeenIds() if dedupe else None
        total = len(pieces)

        def open_piece(index: int, item: tuple[Piece, MissingPieces]) -> AsyncIterator[list[Any]]:
            piece, missing = item
            where = f"piece {index + 1} of {total}"
            return self._piece_batches(piece, as_, seen, where, missing)

        merged = merge_streams(
            pieces,
            open_piece,
            limit=max(1, self._max_concurrency - 1),
            buffer=buffer,
            on_progress=on_progress,
        )
        async with contextlib.aclosing(merged):
            async for row in merged:
                yield row
        for missing in {id(m): m for _, m in pieces}.values():
            missing.check()
