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
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar, overload
from urllib.parse import quote

import aiohttp
from aiolimiter import AsyncLimiter
from yarl import URL

from dizions_async._bound import BoundQuery
from dizions_async._config import Keys, Timeouts, check_base_url, resolve_keys
from dizions_async._convert import structure_records
from dizions_async._logging import configure_from_env, logger
from dizions_async._resolve import DictionaryCache, replace_ids
from dizions_async.catalogue import API_PREFIX, get_resource
from dizions_async.errors import (
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    DecodeError,
    NotFoundError,
    QueryError,
    TransportError,
)
from dizions_async.protocol import (
    Request,
    Response,
    auth_headers,
    decode_dictionary,
    decode_dictionary_all,
    decode_names,
    decode_records,
    decode_report,
    error_for_status,
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
        max_url_length: longest URL sent; a longer query raises ``QueryError``.

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
            if delay is None or self._past_deadline(deadline, delay):
                raise error_for_status(request, outcome, retries=retries, retry_after=retry_after)
            if status == 429:
                self._paused_until = max(self._paused_until, policy.clock() + delay)
            reason = str(status)
        else:
            sent = Failure.NOT_SENT if isinstance(outcome, ConnectError) else Failure.MAYBE_SENT
            delay = policy.delay(idempotent=request.idempotent, retries=retries, failure=sent)
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
    async def fetch(self, query: Query | BoundQuery, as_: None = None) -> list[dict[str, Any]]: ...
    @overload
    async def fetch(self, query: Query | BoundQuery, as_: type[T]) -> list[T]: ...
    async def fetch(
        self, query: Query | BoundQuery, as_: type[T] | None = None
    ) -> list[dict[str, Any]] | list[T]:
        """The records a read query matches.

        Args:
            query: a non-report :class:`Query` (or a bound one).
            as_: a class (attrs, dataclass...) to structure each record into; by default
                records are dicts.

        Raises:
            QueryError: a report query (use :meth:`report`), or a URL over the limit.
            DecodeError: the body, or a record for ``as_``, is not as promised.
            APIError, TransportError: see :meth:`_send`.
        """
        q = _unwrap(query)
        if q.dimension_key is not None:
            raise QueryError(f"{q!r} is a report query: use report() instead of fetch()")
        request = self._get(q.path, q.query_string if q.resolve else "")
        rows = decode_records(request, await self._send(request))
        if as_ is None:
            return rows
        return structure_records(rows, as_, request.label)

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

    # -- writes (branch `writes`): create, update, named helpers, upload -------------------
    # Build bodies in dizions_async/_writes.py; send with
    # self._send(self._request(method, path, body=..., content_type=..., idempotent=False)).

    # -- batching (branch `batching`): gather, split fetch, stream, stream_many ------------
    # Streaming reads go through self._stream(self._get(path, query_string)).
