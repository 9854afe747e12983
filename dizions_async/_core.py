"""The client core: construction, lifecycle, request building and the send/stream loop.

:class:`_ClientCore` is the base every feature of :class:`~dizions_async.Client` builds
on. :meth:`_ClientCore._send` (and :meth:`_ClientCore._stream` for streaming reads)
queues a request behind the client-wide concurrency semaphore (and the optional rate
limiter), honours a client-wide pause after a 429, sends it through the transport,
retries per :class:`~dizions_async.retry.RetryPolicy` (reads and writes by different
rules, keyed on ``Request.idempotent``), logs each attempt with the redacted label, and
turns error statuses into the error tree. The reads (``client.py``), writes
(``_client_writes.py``) and batching (``_client_batching.py``) only build requests,
hand them here and decode what comes back.

aiohttp is imported here only for the type of a caller-owned session; the session
itself is made by :class:`~dizions_async.transport.AiohttpTransport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from aiolimiter import AsyncLimiter
from yarl import URL

from dizions_async import _otel
from dizions_async._concurrency import Slots, cancelled_from_outside
from dizions_async._config import (
    Environment,
    Keys,
    Timeouts,
    check_base_url,
    key_fingerprint,
    resolve_keys,
    resolve_write_verbs,
)
from dizions_async._logging import configure_from_env, logger
from dizions_async._network import TlsSetting, choose_proxy, tls_setting, verification_off
from dizions_async._redact import Secret, values_opted_in
from dizions_async._resolve import DictionaryCache
from dizions_async._version import __version__
from dizions_async.catalogue import WriteVerbs
from dizions_async.errors import (
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    DizionsError,
    QueryError,
    RequestTimeout,
    TransportError,
    WrongEventLoopError,
)
from dizions_async.protocol import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_RECORD_BYTES,
    Request,
    Response,
    auth_headers,
    error_for_status,
    retry_after_header,
)
from dizions_async.retry import Failure, RetryPolicy
from dizions_async.transport import AiohttpTransport, StreamResponse, Transport, session_tls

if TYPE_CHECKING:
    import aiohttp

__all__ = ["_ClientCore"]

_C = TypeVar("_C", bound="_ClientCore")
R = TypeVar("R")

_DEFAULT_TIMEOUTS = Timeouts()
_DEFAULT_RETRY = RetryPolicy()
_DEBUG = logging.DEBUG


class _ClientCore:
    """Settings, connections and the request loop shared by every client feature.

    The constructor's arguments are documented on :class:`~dizions_async.Client`.
    """

    def __init__(
        self,
        source: str | Secret | None = None,
        org: str | Secret | None = None,
        user: str | Secret | None = None,
        *,
        base_url: str | URL | None = None,
        max_concurrency: int = 16,
        timeout: Timeouts = _DEFAULT_TIMEOUTS,
        retry: RetryPolicy = _DEFAULT_RETRY,
        rate_limit: tuple[float, float] | None = None,
        allow_insecure: bool = False,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        log_values: bool | None = None,
        max_url_length: int = 4096,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        max_record_bytes: int = MAX_RECORD_BYTES,
        write_verbs: WriteVerbs | None = None,
        proxy: str | URL | None = None,
        trust_env: bool = True,
        ssl: TlsSetting | None = None,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        # Wrap the keys before anything can raise: from here on no frame holds one raw,
        # so a traceback showing locals (error trackers do) shows only ``Secret(***)``.
        source, org, user = Secret(source), Secret(org), Secret(user)
        env = Environment()
        keys: Keys = resolve_keys(source, org, user, env)
        self._write_verbs = resolve_write_verbs(write_verbs, env)
        self._base_url = check_base_url(base_url, env, allow_insecure=allow_insecure)
        self._set_up_network(env, session, transport, proxy, trust_env, ssl, ca_file)
        # Paths are appended to this string by concatenation: no URL joining per request.
        self._base = str(self._base_url)
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be a positive int")
        if max_response_bytes is not None:
            _check_size("max_response_bytes", max_response_bytes)
        _check_size("max_record_bytes", max_record_bytes)
        self._max_response_bytes = max_response_bytes
        self._max_record_bytes = max_record_bytes
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
        self._headers = auth_headers(
            keys.source, keys.org, keys.user, user_agent=f"dizions_async/{__version__}"
        )
        self._session = session
        self._transport: Transport | None = transport
        self._owns_transport = transport is not None or session is None
        self._slots = Slots(max_concurrency)
        # Uploads hold open files: at most this many open theirs while others queue.
        self._upload_slots = asyncio.Semaphore(max_concurrency)
        self._paused_until = 0.0
        self._watchdog = _Watchdog()
        self._closed = False
        self._log_values = values_opted_in(log_values)
        self._max_url_length = max_url_length
        # Made by the first resolve() (it loads through the reads); closed with the client.
        self._dictionaries: DictionaryCache | None = None
        #: The event loop the client was opened on (its first request or ``async with``).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_guard: AsyncGenerator[None, None] | None = None
        configure_from_env(env)
        if verification_off(self._tls):
            logger.warning(
                "TLS certificate verification is off for %s: any server can pose as it "
                "and read the keys. For a private CA pass ca_file= or ssl=<SSLContext>",
                self._base,
            )

    def _set_up_network(
        self,
        env: Environment,
        session: aiohttp.ClientSession | None,
        transport: Transport | None,
        proxy: str | URL | None,
        trust_env: bool,
        ssl: TlsSetting | None,
        ca_file: str | os.PathLike[str] | None,
    ) -> None:
        """The proxy and TLS setting of the client's own session (see ``_network``)."""
        if (session is not None or transport is not None) and (
            proxy is not None or ssl is not None or ca_file is not None
        ):
            raise ConfigurationError(
                "proxy=, ssl= and ca_file= configure the client's own session; with "
                "session= (or transport=), set them on that session instead"
            )
        own = session is None and transport is None
        self._proxy = (
            choose_proxy(self._base_url, proxy, trust_env=trust_env, env=env) if own else None
        )
        self._tls = session_tls(session) if session is not None else tls_setting(ssl, ca_file)
        if self._proxy is not None:
            logger.debug(
                "requests to %s go through the proxy %s", self._base_url.host, self._proxy.display
            )

    @property
    def write_verbs(self) -> WriteVerbs:
        """The write-verb convention this client sends: ``"seed"`` or ``"wiki"``."""
        return self._write_verbs

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash (e.g. ``https://api.dizions.co.uk``)."""
        return self._base

    def __repr__(self) -> str:
        # getattr: a traceback that shows locals may repr a Client whose __init__ failed.
        base = getattr(self, "_base", "(not set up)")
        state = " closed" if getattr(self, "_closed", False) else ""
        concurrency = getattr(self, "_max_concurrency", "?")
        return f"<Client {base} max_concurrency={concurrency}{state}>"

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self: _C) -> _C:
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
        ``ClientClosedError``. Safe to call twice.

        Raises:
            WrongEventLoopError: the client is open on another event loop, still running.
        """
        if self._closed:
            return
        loop = self._loop
        if loop is not None and loop is not asyncio.get_running_loop():
            if not loop.is_closed():
                raise self._wrong_loop(loop)
            # Its loop is gone (and with it any way to close its connections cleanly).
            self._closed = True
            return
        self._closed = True
        self._watchdog.close()
        if self._dictionaries is not None:
            await self._dictionaries.aclose()
        if self._transport is not None and self._owns_transport:
            await self._transport.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    def org_fingerprint(self, salt: bytes) -> str:
        """A salted hash of the Org key: which organisation this client acts for, without
        the key itself (the migration journal records it to refuse another target).

        Args:
            salt: random bytes kept with the fingerprint (a journal keeps its own).

        Returns:
            32 hex digits; the same key and salt always give the same fingerprint.

        Raises:
            ConfigurationError: ``salt`` is not non-empty bytes.
        """
        if not isinstance(salt, (bytes, bytearray)) or not salt:
            raise ConfigurationError("org_fingerprint needs a salt of non-empty bytes")
        org = next(value for name, value in self._headers if name == "Org")
        return key_fingerprint(org, salt)

    def _get_transport(self) -> Transport:
        loop = self._loop
        if loop is None:
            self._open_on_running_loop()
        elif loop is not asyncio.get_running_loop():
            raise self._wrong_loop(loop)
        if self._closed:
            raise ClientClosedError("this Client is closed; create a new one")
        transport = self._transport
        if transport is None:
            # Made lazily, inside the running loop, as aiohttp requires.
            transport = self._transport = AiohttpTransport(
                session=self._session,
                timeouts=self._timeouts,
                pool_size=self._max_concurrency,
                proxy=self._proxy,
                ssl=self._tls,
                max_response_bytes=self._max_response_bytes,
                headers=self._headers,
            )
        return transport

    # -- the event loop a client belongs to ------------------------------------------------

    def _open_on_running_loop(self) -> None:
        """Bind the client to the running loop, and have that loop close it on shutdown.

        ``asyncio.run()`` (and other runners) close every unfinished async generator
        (``loop.shutdown_asyncgens()``) before closing the loop. A client used without
        ``async with`` registers one that closes it, so its connections are closed on the
        loop they belong to instead of being leaked (with "Unclosed client session"
        warnings) when the loop ends.
        """
        self._loop = asyncio.get_running_loop()
        guard = self._loop_guard = _close_at_loop_shutdown(self)
        # Run it to its yield now; the loop's first-iteration hook registers it.
        with contextlib.suppress(StopIteration):
            guard.asend(None).send(None)

    @staticmethod
    def _wrong_loop(loop: asyncio.AbstractEventLoop) -> WrongEventLoopError:
        if loop.is_closed():
            return WrongEventLoopError(
                "this Client was opened on another event loop, which has closed (each "
                "asyncio.run() starts a new loop, and the client's connections ended with "
                "the old one): create the Client inside the coroutine that asyncio.run() "
                "runs, as `async with Client() as dz:`"
            )
        return WrongEventLoopError(
            "this Client belongs to another event loop (the one it was opened on): create "
            "one Client per event loop (per thread), inside the coroutine that "
            "asyncio.run() runs"
        )

    # -- requests --------------------------------------------------------------------------

    def _url_text(self, path: str, query_string: str) -> str:
        text = self._base + path
        return f"{text}?{query_string}" if query_string else text

    def _url(self, path: str, query_string: str = "") -> URL:
        text = self._url_text(path, query_string)
        if len(text) > self._max_url_length:
            raise QueryError(
                f"the URL would be {len(text)} characters, over max_url_length="
                f"{self._max_url_length}; use fewer filter values or split the query"
            )
        return URL(text, encoded=True)

    def _get_if_fits(self, path: str, query_string: str) -> Request | None:
        """The GET of ``path``, or None when its URL is over ``max_url_length``.

        The read hot path: the URL text is built and measured once, nothing else planned.
        """
        text = self._base + path
        if query_string:
            text = f"{text}?{query_string}"
        if len(text) > self._max_url_length:
            return None
        return Request.get(URL(text, encoded=True), self._headers, show_values=self._log_values)

    def _get(self, path: str, query_string: str = "") -> Request:
        """A GET request for an already percent-encoded path under the base URL."""
        return self._get_url(self._url(path, query_string))

    def _get_url(self, url: URL) -> Request:
        return Request.get(url, self._headers, show_values=self._log_values)

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
            show_values=self._log_values,
        )

    # -- the attempt/retry path shared by _send and _stream --------------------------------

    async def _take_slot(self, call: _Call) -> None:
        """Take a concurrency slot for one attempt of ``call``; the caller releases it.

        Waits for the rate limiter, then a slot, then any 429 pause; starts the call's
        deadline at its first attempt (queueing is not a timeout). On an error the slot
        is released here. (A plain method, not a context manager: this is the hot path.)

        Raises:
            ClientClosedError: the client was closed while the request waited.
        """
        if self._limiter is not None:
            await self._limiter.acquire()
        await self._slots.take()
        try:
            if self._closed:
                raise ClientClosedError("this Client was closed while the request waited")
            if self._paused_until:
                await self._wait_if_paused()
        except BaseException:
            self._slots.release()
            raise
        self._start(call)

    def _took_slot_at_once(self, call: _Call) -> bool:
        """:meth:`_take_slot` when nothing is to be waited for (no rate limit, no 429
        pause, a free slot): True with the slot taken, without a coroutine; else False."""
        free = self._limiter is None and not self._paused_until and not self._closed
        if free and self._slots.try_take():
            self._start(call)
            return True
        return False

    def _start(self, call: _Call) -> None:
        """An attempt of ``call`` starts: the call's deadline starts with its first."""
        total = self._timeouts.total
        if call.deadline is None and total is not None:
            call.deadline = self._retry.clock() + total
        call.started = time.perf_counter() if call.debug else 0.0

    async def _attempt(self, call: _Call, attempt: Awaitable[R]) -> R | TransportError:
        """Await one attempt, cut short at the call's deadline; log it at DEBUG.

        Returns:
            What ``attempt`` returns, or the ``TransportError`` it raised (a
            ``RequestTimeout`` when the deadline cut it short).
        """
        outcome: R | TransportError
        task = asyncio.current_task() if call.deadline is not None else None
        if task is not None:
            # The connect and read timeouts bound each wait on the network; this bounds
            # the attempt as a whole, so the per-call total holds within one slow attempt
            # too: the watchdog cancels this task at the deadline, as asyncio.timeout
            # (3.11+) would, but with one timer per client instead of one per attempt.
            assert call.deadline is not None
            remaining = max(call.deadline - self._retry.clock(), 0.0)
            self._watchdog.watch(task, call, remaining)
        try:
            outcome = await attempt
        except TransportError as exc:
            outcome = exc
        except asyncio.CancelledError:
            if not call.expired or cancelled_from_outside(task):
                raise
            outcome = self._total_timeout(call.request)
        finally:
            if task is not None:
                self._watchdog.unwatch(task)
        if call.debug:
            if isinstance(outcome, TransportError):
                result = type(outcome).__name__
            else:
                result = str(getattr(outcome, "status", "?"))
            logger.debug(
                "%s -> %s in %.1f ms (attempt %d)",
                call.request.label,
                result,
                (time.perf_counter() - call.started) * 1000,
                call.retries + 1,
            )
        return outcome

    def _total_timeout(self, request: Request) -> RequestTimeout:
        method, _, url = request.label.partition(" ")
        return RequestTimeout(
            f"{request.label}: no response within the total timeout "
            f"({self._timeouts.total} s per call)",
            method=method,
            url=url,
            outcome_unknown=not request.idempotent,
        )

    async def _wait_if_paused(self) -> None:
        # A 429 pauses every request of this client until its Retry-After has passed.
        clock = self._retry.clock
        while self._paused_until:
            remaining = self._paused_until - clock()
            if remaining <= 0:
                self._paused_until = 0.0
                return
            await self._retry.sleep(remaining)

    def _past_deadline(self, call: _Call, delay: float) -> bool:
        if call.expired:
            return True
        return call.deadline is not None and self._retry.clock() + delay > call.deadline

    async def _retry_after(
        self,
        call: _Call,
        outcome: Response | TransportError,
        not_applied: frozenset[int] | None = None,
    ) -> None:
        """Wait before the next attempt of ``call`` after ``outcome`` failed it.

        ``not_applied``: the 5xx statuses after which a write's error is not
        ``outcome_unknown`` (default: the policy's ``write_retry_statuses``).

        Raises:
            APIError, TransportError: the error for ``outcome`` when the policy gives up,
                the request cannot be resent, or the wait would pass the deadline.
        """
        request, retries = call.request, call.retries
        policy = self._retry
        if isinstance(outcome, Response):
            status = outcome.status
            retry_after = None
            if status in (429, 503):
                retry_after = policy.parse_retry_after(retry_after_header(outcome))
            delay = policy.delay(
                idempotent=request.idempotent,
                retries=retries,
                status=status,
                retry_after=retry_after,
            )
            # An upload from an unseekable stream has been consumed: it cannot be resent.
            delay = delay if request.resendable else None
            if delay is None or self._past_deadline(call, delay):
                raise error_for_status(
                    request,
                    outcome,
                    retries=retries,
                    retry_after=retry_after,
                    not_applied=policy.write_retry_statuses if not_applied is None else not_applied,
                )
            if status == 429:
                self._paused_until = max(self._paused_until, policy.clock() + delay)
            reason = str(status)
        else:
            sent = Failure.NOT_SENT if isinstance(outcome, ConnectError) else Failure.MAYBE_SENT
            delay = policy.delay(idempotent=request.idempotent, retries=retries, failure=sent)
            delay = delay if request.resendable and outcome.retryable else None
            if delay is None or self._past_deadline(call, delay):
                raise self._final_error(request, outcome, retries) from None
            reason = type(outcome).__name__
        logger.warning(
            "retrying %s in %.3f s after %s (retry %d of %d)",
            request.label,
            delay,
            reason,
            retries + 1,
            policy.max_retries,
        )
        await policy.sleep(delay)
        call.retries += 1

    @staticmethod
    def _final_error(request: Request, exc: TransportError, retries: int) -> TransportError:
        unknown = not request.idempotent and not isinstance(exc, ConnectError)
        if retries == 0 and exc.outcome_unknown == unknown:
            return exc
        message = str(exc) + (f" (after {retries} retries)" if retries else "")
        return type(exc)(
            message,
            method=exc.method,
            url=exc.url,
            retries=retries,
            outcome_unknown=unknown,
            retryable=exc.retryable,
        )

    def _send(self, request: Request) -> Coroutine[Any, Any, Response]:
        """Send ``request`` with queuing, pausing, retries, logging and error mapping.

        Each attempt is cut short when the per-call ``total`` timeout runs out. (A plain
        function returning :meth:`_send_checked`'s coroutine: every read runs this, and a
        coroutine around another costs a layer.)

        Returns:
            A response with a status below 300.

        Raises:
            ClientClosedError: the client is closed.
            APIError: (a subclass per status) an error status, after any retries.
            TransportError: (ConnectError, RequestTimeout) no response, after any retries.
                On a write that may have been applied, ``outcome_unknown`` is True.
        """
        return self._send_checked(request, None)  # type: ignore[return-value]

    async def _send_checked(
        self, request: Request, find: Callable[[], Awaitable[int | None]] | None
    ) -> Response | int:
        """As :meth:`_send`; with ``find``, for a create that can be read back (a client
        by external ID).

        Before every resend, once an earlier attempt may have reached the server (any
        answer, or a failure after sending began), ``find()`` reads the record back: a
        5xx, or even a 503, can follow a commit behind a gateway. Found, its id is
        returned and nothing is resent. A final 5xx is ``outcome_unknown``, whatever the
        policy assumes of it.

        Returns:
            A response below 300, or the id ``find()`` found.

        Raises:
            As :meth:`_send`; and, when ``find()`` fails, the create's own error with
            ``outcome_unknown`` set and the read's failure in its message.
        """
        transport = self._get_transport()
        call = _Call(request)
        traced = _otel.attempts()  # None unless tracing (see _otel.py)
        reached = False
        while True:
            # One attempt, behind a slot (taken without awaiting when one is free).
            if not self._took_slot_at_once(call):
                await self._take_slot(call)
            try:
                if traced is None:
                    attempt = transport.send(request)
                else:
                    attempt = traced.send(transport.send, request, call.retries)
                outcome = await self._attempt(call, attempt)
            finally:
                self._slots.release()
            if isinstance(outcome, Response) and outcome.status < 300:
                return outcome
            if find is None:
                await self._retry_after(call, outcome)
                continue
            reached = reached or not isinstance(outcome, ConnectError)
            await self._retry_after(call, outcome, not_applied=frozenset())
            if not reached:
                continue
            try:
                found = await find()
            except DizionsError as exc:
                raise _unchecked(request, outcome, call.retries, exc) from exc
            if found is not None:
                return found

    @contextlib.asynccontextmanager
    async def _stream(self, request: Request) -> AsyncIterator[StreamResponse]:
        """As :meth:`_send`, but yields the response with its body still to read.

        Retries apply until a success status arrives; once the body is being read, a
        failure is raised (as ``TransportError``), not retried. The concurrency slot is
        held until the context exits. The ``total`` timeout bounds the wait for the
        response to start, not the reading of its body.

        Raises:
            As :meth:`_send`.
        """
        transport = self._get_transport()
        call = _Call(request)
        traced = _otel.attempts()  # None unless tracing (see _otel.py)

        async def start(stack: contextlib.AsyncExitStack) -> StreamResponse | Response:
            if traced is None:
                opened = transport.stream(request)
            else:
                opened = traced.stream(transport.stream, request, call.retries)
            response = await stack.enter_async_context(opened)
            if response.status < 300:
                return response
            # The start of an error body is enough for the message; the rest is not read.
            return Response(response.status, response.headers, await response.read())

        while True:
            async with contextlib.AsyncExitStack() as stack:
                await self._take_slot(call)
                stack.callback(self._slots.release)
                outcome = await self._attempt(call, start(stack))
                if isinstance(outcome, StreamResponse):
                    yield outcome
                    return
            await self._retry_after(call, outcome)


def _unchecked(
    request: Request, outcome: Response | TransportError, retries: int, exc: DizionsError
) -> DizionsError:
    """The error of a create whose read-back before a resend failed: outcome unknown."""
    why = f"; reading it back before resending failed ({exc})"
    if isinstance(outcome, Response):
        error = error_for_status(request, outcome, retries=retries, not_applied=())
        error.outcome_unknown = True
        error.message += why
        error.args = (error._describe(),)
        return error
    method, _, url = request.label.partition(" ")
    return type(outcome)(
        f"{outcome}{why}", method=method, url=url, retries=retries, outcome_unknown=True
    )


def _check_size(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(f"{name} must be a positive int (bytes), got {value!r}")


async def _close_at_loop_shutdown(client: _ClientCore) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await client.aclose()


class _Call:
    """The state of one ``_send``/``_stream`` call across its attempts."""

    __slots__ = ("deadline", "debug", "expired", "request", "retries", "started")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.retries = 0
        #: Clock time the per-call ``total`` runs out; set when the first attempt starts.
        self.deadline: float | None = None
        #: An attempt was cut short by the deadline: no more attempts.
        self.expired = False
        self.debug = logger.isEnabledFor(_DEBUG)
        self.started = 0.0


class _Watchdog:
    """Cuts attempts short at their call's deadline, with one timer per client.

    A timer per attempt (``call_later`` then ``cancel``) cost about a tenth of a small
    read's time in ``benchmarks/bench_client.py``. Here an attempt costs a dict insert
    and delete; the one timer is armed for the earliest expiry among the attempts in
    flight and, since calls normally finish long before their deadline, rarely fires.
    Expiry is in loop time, like ``call_later``, so an injected retry clock is not
    consulted once an attempt has started.
    """

    __slots__ = ("_armed_at", "_due", "_handle")

    def __init__(self) -> None:
        self._due: dict[asyncio.Task[Any], tuple[float, _Call]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = math.inf

    def watch(self, task: asyncio.Task[Any], call: _Call, remaining: float) -> None:
        """Cancel ``task`` (marking ``call`` expired) ``remaining`` seconds from now."""
        loop = asyncio.get_running_loop()
        expires_at = loop.time() + remaining
        self._due[task] = (expires_at, call)
        if expires_at < self._armed_at:
            self._arm(loop, expires_at)

    def unwatch(self, task: asyncio.Task[Any]) -> None:
        self._due.pop(task, None)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._armed_at = None, math.inf
        self._due.clear()

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_at(when, self._fire, loop)
        self._armed_at = when

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle, self._armed_at = None, math.inf
        now = loop.time()
        for task, (expires_at, call) in list(self._due.items()):
            if expires_at <= now:
                del self._due[task]
                call.expired = True
                task.cancel()
        if self._due:
            self._arm(loop, min(expires_at for expires_at, _ in self._due.values()))
