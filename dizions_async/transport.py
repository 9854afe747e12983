"""Transports: the one place bytes meet the network.

A transport sends a :class:`~dizions_async.protocol.Request` and returns a
:class:`~dizions_async.protocol.Response` (or, for streaming reads, yields a
:class:`StreamResponse` whose body arrives in chunks). It knows nothing of retries,
decoding or the API; the client composes those around it.

:class:`AiohttpTransport` is the real one. This module is the only place aiohttp
exceptions are caught: each becomes one of ours, with a message built from the
request's redacted label (never from aiohttp's text, which may quote the URL):

* :class:`~dizions_async.errors.ConnectError`: the connection failed (refused, DNS,
  TLS, connect timeout), so the request certainly was not sent; a refused TLS
  certificate is not ``retryable`` (the message says why it was refused);
* :class:`~dizions_async.errors.RequestTimeout`: no complete answer within the read
  timeout, after the request may have been sent;
* :class:`~dizions_async.errors.TransportError`: the connection dropped or broke
  mid-exchange.

The last two set ``outcome_unknown`` on writes. :class:`MockTransport` is a test double
that answers with a function of the request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import inspect
import io
import socket
import ssl as ssl_module
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import IO, Any, Protocol, runtime_checkable

import aiohttp
import attrs
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from dizions_async._concurrency import cancelled_from_outside
from dizions_async._config import Timeouts
from dizions_async._network import Proxy, TlsSetting
from dizions_async._redact import reveal
from dizions_async.errors import ConnectError, RequestTimeout, TransportError
from dizions_async.protocol import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_ERROR_BODY,
    Headers,
    Multipart,
    Request,
    Response,
    body_limit,
    response_too_large,
)

__all__ = [
    "AiohttpTransport",
    "Handler",
    "MockTransport",
    "StreamResponse",
    "Transport",
    "json_response",
    "read_capped",
    "session_tls",
]

_DEFAULT_TIMEOUTS = Timeouts()
#: Bytes read at a time from a streamed body.
CHUNK_SIZE = 64 * 1024
#: Header tuples seen by a transport; a client has one, so this stays tiny.
_MAX_CACHED_HEADERS = 32


@attrs.frozen(slots=True, repr=False)
class StreamResponse:
    """A response whose body is read as it arrives.

    Attributes:
        status: the HTTP status.
        headers: case-insensitive response headers.
        chunks: the body, in pieces; iterate it once.
    """

    status: int
    headers: Mapping[str, str]
    chunks: AsyncIterator[bytes]

    async def read(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """At most ``limit`` bytes of the rest of the body (for error messages); what
        follows is left unread, and the connection is closed rather than reused."""
        body = await read_capped(self.chunks, limit, cut=True)
        assert body is not None  # cut: never None
        return body

    def __repr__(self) -> str:
        return f"<StreamResponse {self.status}>"


async def read_capped(chunks: AsyncIterator[bytes], limit: int, *, cut: bool) -> bytes | None:
    """The body in ``chunks`` if it holds at most ``limit`` bytes; else its first
    ``limit`` bytes when ``cut``, or None (what was read is dropped at once).

    Reading stops at the first chunk that crosses the limit, so at most one chunk more
    than ``limit`` is ever held, and the rest of the body is never read.
    """
    parts: list[bytes] = []
    room = limit
    async for chunk in chunks:
        if len(chunk) > room:
            if not cut:
                return None
            parts.append(chunk[:room])
            break
        room -= len(chunk)
        parts.append(chunk)
    return b"".join(parts)


@runtime_checkable
class Transport(Protocol):
    """What the client needs from a transport."""

    async def send(self, request: Request) -> Response:
        """Send ``request`` and return the whole response.

        Raises:
            TransportError: (or ConnectError, RequestTimeout) no response arrived.
        """
        ...

    def stream(self, request: Request) -> contextlib.AbstractAsyncContextManager[StreamResponse]:
        """Send ``request``; within the context, read the body as it arrives."""
        ...

    async def aclose(self) -> None:
        """Release connections; idempotent."""
        ...


#: getaddrinfo's answers for a host name that does not exist ("name or service not known").
_NO_SUCH_NAME = frozenset(
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)
)


#: OpenSSL verify codes (``X509_V_ERR_*``), by what they tell the caller.
_CERTIFICATE_PROBLEMS = {
    9: "it is not valid yet",
    10: "it has expired",
    18: "it is self-signed: unknown authority",
    19: "its chain ends in an untrusted root: unknown authority",
    20: "it was issued by an unknown authority",
    21: "it was issued by an unknown authority",
    62: "it was issued for another host name: name mismatch",
    64: "it was issued for another IP address: name mismatch",
}


def _certificate_problem(exc: aiohttp.ClientConnectorCertificateError) -> str:
    code = getattr(exc.certificate_error, "verify_code", None)
    return _CERTIFICATE_PROBLEMS.get(code or 0, "it could not be verified")


def _connect_problem(exc: BaseException, host: str) -> tuple[str, bool] | None:
    """What went wrong before the request was sent, and whether a retry may help; None
    when ``exc`` is not a failure to connect."""
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        # The proxy's host and port only: its credentials are never in these fields.
        return f"could not connect to the proxy {exc.host}:{exc.port} ({_os_why(exc)})", True
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return f"the proxy refused the connection ({exc.status})", True
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"timed out connecting to {host}", True
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        # Permanent until someone fixes a certificate or a trust store: not retried.
        return f"the TLS certificate of {host} was refused ({_certificate_problem(exc)})", False
    if isinstance(exc, aiohttp.ClientConnectorError):
        # A name that does not exist will not exist a second later either (a temporary
        # resolver failure, EAI_AGAIN, is retried as before).
        unknown_name = isinstance(exc, aiohttp.ClientConnectorDNSError) and (
            exc.os_error.errno in _NO_SUCH_NAME
        )
        return f"could not connect to {host} ({_os_why(exc)})", not unknown_name
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid URL", True
    return None


def _os_why(exc: aiohttp.ClientConnectorError) -> str:
    return exc.os_error.strerror or type(exc.os_error).__name__


def _fail(request: Request, exc: BaseException) -> TransportError:
    """Our error for an aiohttp/OS failure; the message never quotes aiohttp's text.

    Callers drop their reference to ``exc`` before raising the result: aiohttp's errors
    can hold the request (URL values, the key headers) in their repr, which a traceback
    that shows local variables would print.
    """
    label = request.label
    method, _, url = label.partition(" ")
    host = request.url.host or "the server"
    unknown = not request.idempotent
    problem = _connect_problem(exc, host)
    if problem is not None:
        why, retryable = problem
        return ConnectError(f"{label}: {why}", method=method, url=url, retryable=retryable)
    if isinstance(exc, asyncio.TimeoutError):
        return RequestTimeout(
            f"{label}: no response from {host} within the read timeout",
            method=method,
            url=url,
            outcome_unknown=unknown,
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        why = "the server closed the connection before answering"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        why = "the response body was cut short"
    else:
        why = f"the connection failed ({type(exc).__name__})"
    return TransportError(f"{label}: {why}", method=method, url=url, outcome_unknown=unknown)


class _Borrowed(io.RawIOBase):
    """A caller's binary stream, lent to aiohttp: aiohttp closes its payloads after
    sending, and closing this view leaves the stream itself open for its owner."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._stream.seekable()

    def read(self, size: int | None = -1) -> bytes:
        return self._stream.read(-1 if size is None else size)

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self._stream.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._stream.seek(offset, whence)

    def fileno(self) -> int:
        return self._stream.fileno()


def _form_data(body: Multipart) -> aiohttp.FormData:
    """A fresh multipart body for one attempt; files are streamed in chunks by aiohttp
    (read in a worker thread), from their recorded start, so a resend sends them whole."""
    form = aiohttp.FormData(quote_fields=True)
    for name, value in body.fields:
        form.add_field(name, value)
    for part in body.files:
        if part.offset is not None:
            part.stream.seek(part.offset)
        form.add_field(
            part.field,
            _Borrowed(part.stream),
            filename=part.filename,
            content_type=part.content_type,
        )
    return form


#: What the aiohttp transport catches and maps; anything else is a bug and propagates.
_CAUGHT = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class _Chunks:
    """The body of an aiohttp response as an async iterator of bytes, errors mapped."""

    __slots__ = ("_content", "_request", "_size")

    def __init__(self, request: Request, content: aiohttp.StreamReader, size: int) -> None:
        self._request = request
        self._content = content
        self._size = size

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._content.read(self._size)
        except _CAUGHT as exc:
            failure = _fail(self._request, exc)
            del exc  # see _fail: a traceback showing locals must not show aiohttp's error
            raise failure from None
        if not chunk:
            raise StopAsyncIteration
        return chunk


def _client_timeout(timeouts: Timeouts, *, read: bool = True) -> aiohttp.ClientTimeout:
    # sock_connect, not connect: aiohttp arms a `connect` timer on every request, even
    # one that reuses a pooled connection; `sock_connect` only when it really connects.
    # Waiting for a pooled connection is bounded by the client's own semaphore. Without
    # ``read``, the read timeout is left to a _ReadWatch.
    return aiohttp.ClientTimeout(
        total=None, sock_connect=timeouts.connect, sock_read=timeouts.read if read else None
    )


class _Reading:
    """One send a :class:`_ReadWatch` watches: when it last saw progress, and how much."""

    __slots__ = ("content", "expired", "seen", "since", "task")

    def __init__(self, task: asyncio.Task[Any], now: float) -> None:
        self.task = task
        self.since = now
        self.seen = -1
        self.content: aiohttp.StreamReader | None = None
        self.expired = False


class _ReadWatch:
    """The read timeout of whole-body sends, on one timer per transport.

    aiohttp's own (``sock_read``) arms a fresh timer at the response's start and again
    on every chunk received: timer handles whose heap ordering runs Python code, which
    cost about a twentieth of a small read's CPU at concurrency 64
    (``benchmarks/bench_client.py``). Here a send costs a dict insert and delete; one
    timer ticks, while sends are in flight, every quarter of the timeout, and cancels a
    send that has received nothing new for the whole timeout: no response start within
    ``read`` seconds of the attempt's start (connecting included, as aiohttp counts from
    the request's sending), or no body bytes for ``read`` seconds. So a stalled send
    fails between ``read`` and 1.25 x ``read`` seconds after its last progress.
    """

    __slots__ = ("_handle", "_reading", "_timeout")

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._reading: dict[_Reading, None] = {}
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> _Reading | None:
        """Watch the current task's send (None outside a task: nothing to cancel)."""
        task = asyncio.current_task()
        if task is None:
            return None
        loop = task.get_loop()
        reading = _Reading(task, loop.time())
        self._reading[reading] = None
        if self._handle is None:
            self._handle = loop.call_later(self._timeout / 4, self._tick, loop)
        return reading

    def stop(self, reading: _Reading) -> None:
        del self._reading[reading]

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for reading in self._reading:
            content = reading.content
            seen = -1 if content is None else content.total_bytes
            if seen != reading.seen:
                reading.seen, reading.since = seen, now
            elif now - reading.since >= self._timeout and not reading.expired:
                reading.expired = True
                reading.task.cancel()
        self._handle = (
            loop.call_later(self._timeout / 4, self._tick, loop) if self._reading else None
        )

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _fits(resp: aiohttp.ClientResponse, limit: int) -> bool:
    """Whether ``resp``'s body can be read whole: aiohttp stops at its Content-Length,
    here within ``limit`` (a compressed body's length says nothing of what it expands to)."""
    length = resp.content_length
    return length is not None and length <= limit and "Content-Encoding" not in resp.headers


class AiohttpTransport:
    """The real transport: one aiohttp session with a pooled, keep-alive connector.

    Args:
        session: a caller-owned session to use (and not close); by default one is made
            with a ``TCPConnector`` sized ``pool_size``, keep-alive on, DNS cached.
            Either way aiohttp's own silent resend on a dropped connection is turned off.
        timeouts: per-attempt connect and read limits (``total`` is the client's job).
        pool_size: connections kept, normally the client's ``max_concurrency``.
        chunk_size: bytes per chunk when streaming.
        proxy: send every request through this forward proxy (its credentials, if any,
            as ``Proxy-Authorization``); None connects directly. aiohttp's own reading of
            the environment stays off: the client has chosen already.
        ssl: the TLS setting of the session made here (True: verify with the default
            trust store; False: no verification; or a context).
        max_response_bytes: the most decoded bytes of a success body :meth:`send`
            reads (None: no limit); an error body is cut at 64 KiB.
        headers: the headers every request carries (the client's); the session made
            here sends them as its defaults, so a request carrying exactly these has no
            headers of its own to merge.

    Create it inside a running event loop.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts = _DEFAULT_TIMEOUTS,
        pool_size: int = 16,
        chunk_size: int = CHUNK_SIZE,
        proxy: Proxy | None = None,
        ssl: TlsSetting = True,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        headers: Headers | None = None,
    ) -> None:
        self._max_response_bytes = max_response_bytes
        self._owns_session = session is None
        #: The headers the session sends by default (None: a caller's session, or none).
        self._default_headers = headers if session is None else None
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=pool_size,
                limit_per_host=0,
                ttl_dns_cache=300,
                use_dns_cache=True,
                ssl=ssl,
            )
            # No cookie jar: the API authenticates by headers, and cookies cost time.
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                headers=None if headers is None else [(k, reveal(v)) for k, v in headers],
            )
        # aiohttp silently resends a request once when a kept-alive connection drops, for
        # every method it deems idempotent, PUT included. A PUT creates a record here, so
        # that resend could create it twice: retries are the client's decision alone.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        self._session = session
        self._set_timeouts(timeouts)
        self._chunk_size = chunk_size
        self._headers: dict[Headers, CIMultiDict[str]] = {}
        self._last_headers: tuple[Headers, CIMultiDict[str]] | None = None
        self._proxy = None if proxy is None else proxy.url
        #: ``Proxy-Authorization`` for a proxy with credentials (aiohttp's BasicAuth is
        #: deprecated); sent to the proxy only, never through a tunnel to the server.
        self._proxy_headers: CIMultiDict[str] | None = None
        if proxy is not None and proxy.login is not None:
            token = base64.b64encode(f"{proxy.login}:{proxy.password or ''}".encode())
            self._proxy_headers = CIMultiDict({"Proxy-Authorization": f"Basic {token.decode()}"})

    @property
    def closed(self) -> bool:
        return self._session.closed

    def with_timeouts(self, timeouts: Timeouts) -> AiohttpTransport:
        """A transport on the same session (and pool) with other per-attempt timeouts;
        closing it closes nothing."""
        sibling = copy.copy(self)
        sibling._owns_session = False
        sibling._set_timeouts(timeouts)
        return sibling

    def _set_timeouts(self, timeouts: Timeouts) -> None:
        # A whole-body send without an upload has its read timeout kept by a _ReadWatch;
        # streams and multipart uploads (whose sending can take long) by aiohttp's own.
        self._timeout = _client_timeout(timeouts)
        self._watch = None if timeouts.read is None else _ReadWatch(timeouts.read)
        self._send_timeout = (
            self._timeout if self._watch is None else (_client_timeout(timeouts, read=False))
        )

    def _multidict(self, headers: Headers) -> CIMultiDict[str]:
        # A client sends the same header tuple on every request: convert it once, and
        # know it again by identity (hashing its keys costs more than the lookup).
        last = self._last_headers
        if last is not None and last[0] is headers:
            return last[1]
        found = self._headers.get(headers)
        if found is None:
            if len(self._headers) >= _MAX_CACHED_HEADERS:
                self._headers.clear()
            found = self._headers[headers] = CIMultiDict((k, reveal(v)) for k, v in headers)
        self._last_headers = (headers, found)
        return found

    def _request(self, request: Request, timeout: aiohttp.ClientTimeout | None = None) -> Any:
        # Never follow redirects: the keys would go along to wherever they point.
        data = request.body if request.multipart is None else _form_data(request.multipart)
        # The session's default headers stand for themselves; others are merged over them.
        headers = (
            None if request.headers is self._default_headers else self._multidict(request.headers)
        )
        proxy_headers = self._proxy_headers
        if proxy_headers is not None and request.url.scheme == "http":
            # Plain http goes to the proxy as is (no CONNECT): the header rides along.
            headers = CIMultiDict(headers or ())
            headers.extend(proxy_headers)
            proxy_headers = None
        return self._session.request(
            request.method,
            request.url,
            headers=headers,
            data=data,
            timeout=timeout or self._timeout,
            allow_redirects=False,
            proxy=self._proxy,
            proxy_headers=proxy_headers,
        )

    async def send(self, request: Request) -> Response:
        """Send ``request`` and read the whole response.

        Raises:
            ResponseTooLarge: a success body passed ``max_response_bytes`` decoded bytes.
            ConnectError: the connection failed; the request was not sent.
            RequestTimeout: no complete response in time.
            TransportError: the connection dropped or broke.
        """
        watch = self._watch if request.multipart is None else None
        if watch is None:
            reading = None
            timeout = self._timeout
        else:
            reading = watch.start()
            timeout = self._send_timeout if reading is not None else self._timeout
        try:
            async with self._request(request, timeout) as resp:
                if reading is not None:
                    reading.content = resp.content
                limit = body_limit(resp.status, self._max_response_bytes)
                if limit is None or _fits(resp, limit):
                    body = await resp.read()
                else:
                    body = await self._read_capped(request, resp, limit)
                return Response(resp.status, resp.headers, body)
        except _CAUGHT as exc:
            failure = _fail(request, exc)
            del exc  # see _fail
            raise failure from None
        except asyncio.CancelledError:
            if reading is None or not reading.expired or cancelled_from_outside(reading.task):
                raise
            raise _fail(request, asyncio.TimeoutError()) from None
        finally:
            if reading is not None:
                watch.stop(reading)  # type: ignore[union-attr]

    async def _read_capped(
        self, request: Request, resp: aiohttp.ClientResponse, limit: int
    ) -> bytes:
        # Counted on aiohttp's decompressed stream, so a gzip body is limited by what it
        # expands to. Leaving the context with the body unread closes the connection.
        chunks = _Chunks(request, resp.content, self._chunk_size)
        body = await read_capped(chunks, limit, cut=resp.status >= 300)
        if body is None:
            raise response_too_large(request.label, limit)
        return body

    @contextlib.asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[StreamResponse]:
        """Send ``request``; inside the context, iterate the body's chunks as they arrive.

        Raises:
            ConnectError, RequestTimeout, TransportError: as :meth:`send`, on connecting
                or while reading chunks.
        """
        try:
            resp = await self._request(request)
        except _CAUGHT as exc:
            failure = _fail(request, exc)
            del exc  # see _fail
            raise failure from None
        try:
            yield StreamResponse(
                resp.status, resp.headers, _Chunks(request, resp.content, self._chunk_size)
            )
        finally:
            resp.release()

    async def aclose(self) -> None:
        """Close the session if this transport made it; a caller's session is left open."""
        if self._watch is not None:
            self._watch.close()
        if self._owns_session and not self._session.closed:
            await self._session.close()


def session_tls(session: aiohttp.ClientSession) -> TlsSetting:
    """The TLS setting of a caller's session (its connector's), to warn when it is off."""
    # aiohttp has no public accessor; an unknown connector is taken to verify.
    setting = getattr(session.connector, "_ssl", True)
    return setting if isinstance(setting, (bool, ssl_module.SSLContext)) else True


Handler = Callable[[Request], "Response | Awaitable[Response]"]


def json_response(
    data: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A Response with ``data`` encoded as JSON, for :class:`MockTransport` handlers."""
    merged = CIMultiDict({"Content-Type": "application/json"})
    if headers:
        merged.update(headers)
    return Response(status, CIMultiDictProxy(merged), orjson.dumps(data))


class _BytesChunks:
    __slots__ = ("_body", "_offset", "_size")

    def __init__(self, body: bytes, size: int) -> None:
        self._body, self._offset, self._size = body, 0, size

    def __aiter__(self) -> _BytesChunks:
        return self

    async def __anext__(self) -> bytes:
        if self._offset >= len(self._body):
            raise StopAsyncIteration
        chunk = self._body[self._offset : self._offset + self._size]
        self._offset += self._size
        return chunk


class MockTransport:
    """A transport that answers each request by calling ``handler(request)``.

    The handler returns a :class:`Response` (or an awaitable of one; see
    :func:`json_response`), or raises a :class:`~dizions_async.errors.TransportError`
    to simulate a network failure. Every request is recorded in ``requests``.

    Args:
        handler: the function answering requests.
        chunk_size: bytes per chunk when a response is streamed.

    Example::

        def handler(request):
            return json_response([{"id": 1}])

        async with Client("s", "o", "u", transport=MockTransport(handler)) as dz:
            assert await dz.fetch(Query("clients")) == [{"id": 1}]
    """

    def __init__(self, handler: Handler, *, chunk_size: int = CHUNK_SIZE) -> None:
        self._handler = handler
        self._chunk_size = chunk_size
        self.requests: list[Request] = []
        self.closed = False

    async def send(self, request: Request) -> Response:
        """Record ``request`` and return the handler's answer."""
        self.requests.append(request)
        result = self._handler(request)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result.headers, CIMultiDictProxy):
            result = Response(
                result.status, CIMultiDictProxy(CIMultiDict(result.headers)), result.body
            )
        return result

    @contextlib.asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[StreamResponse]:
        """The handler's answer, with its body delivered in ``chunk_size`` pieces."""
        response = await self.send(request)
        yield StreamResponse(
            response.status, response.headers, _BytesChunks(response.body, self._chunk_size)
        )

    async def aclose(self) -> None:
        self.closed = True
