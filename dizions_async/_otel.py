"""OpenTelemetry tracing: one span per SDK call, a child span per HTTP attempt.

Optional, and free when unused: this module never imports ``opentelemetry`` itself until
the application has (``opentelemetry.trace`` is in ``sys.modules``: it has set tracing
up, or an instrumentation agent has), so ``import dizions_async`` never pulls it in and
a program without it pays one dictionary lookup per call. Install the ``[otel]`` extra
(``opentelemetry-api``); the application brings the SDK and its exporter.

- :func:`instrument` wraps every public coroutine and async-generator method of the
  client: a call makes a span ``dizions <method>`` (a method called by another, as
  ``gather`` calls ``report``, makes none of its own), with ``dizions.resource``,
  ``dizions.retries``, ``dizions.pieces`` (split reads) and, on failure, ``error.type``
  and ``dizions.outcome_unknown``.
- :func:`attempts` gives the send loop a wrapper for each attempt: a CLIENT span named
  ``GET /v2/clients/gender/***`` following the HTTP client semantic conventions
  (``http.request.method``, ``server.address``, ``server.port``, ``url.template`` as the
  masked path, ``http.request.resend_count``, ``http.response.status_code``,
  ``error.type``), whose context goes out as a W3C ``traceparent`` header.

Nothing else goes in: no key, no filter value (paths are masked), no body, and no
exception message (a server's message may quote a value): errors are named by type.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterator,
)
from contextvars import ContextVar
from typing import Any, TypeVar

import attrs

from dizions_async._redact import redact_path
from dizions_async.errors import DizionsError
from dizions_async.protocol import Request, Response

__all__ = ["Attempts", "attempts", "count_pieces", "instrument"]

T = TypeVar("T")
_C = TypeVar("_C", bound=type)

#: Methods that are not calls to the API.
_NOT_CALLS = frozenset({"aclose"})


def _error(span: Any, error_type: str) -> None:
    """Mark ``span`` failed, naming the error by type (a status code, a class name) only."""
    from opentelemetry.trace import StatusCode

    span.set_attribute("error.type", error_type)
    span.set_status(StatusCode.ERROR, error_type)


class _CallTrace:
    """The span of one SDK call and what its attempts add up to."""

    __slots__ = ("pieces", "resource", "retries", "span")

    def __init__(self, span: Any) -> None:
        self.span = span
        self.resource: str | None = None
        self.retries = 0
        self.pieces = 0

    def failed(self, exc: BaseException) -> None:
        _error(self.span, type(exc).__name__)
        if isinstance(exc, DizionsError):
            self.span.set_attribute("dizions.outcome_unknown", exc.outcome_unknown)

    def end(self) -> None:
        span = self.span
        span.set_attribute("dizions.retries", self.retries)
        if self.pieces:
            span.set_attribute("dizions.pieces", self.pieces)
        span.end()


#: The SDK call being traced in this context (None: not tracing, or not in a call).
_CALL: ContextVar[_CallTrace | None] = ContextVar("dizions_async_call", default=None)


class _Tracing:
    """The OpenTelemetry API, imported once the application has imported it."""

    def __init__(self) -> None:
        from opentelemetry import context, propagate, trace

        from dizions_async._version import __version__

        self.context = context
        self.propagate = propagate
        self.trace = trace
        self.tracer = trace.get_tracer("dizions_async", __version__)
        self._no_sdk = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        self._sdk = False
        self._next_look = 0.0

    def inert(self) -> bool:
        """True while no OpenTelemetry SDK is set up: the API alone records nothing, so
        calls run untraced and having the API installed costs almost nothing.

        Asking for the provider costs microseconds (it reads the environment), so it is
        asked at most once a second until an SDK appears; one set up later is noticed
        within a second. Once set, a provider cannot be replaced, so the answer stays.
        """
        if self._sdk:
            return False
        now = time.monotonic()
        if now >= self._next_look:
            self._next_look = now + 1.0
            self._sdk = not isinstance(self.trace.get_tracer_provider(), self._no_sdk)
        return not self._sdk

    def _new_call(self, method: str) -> _CallTrace:
        return _CallTrace(self.tracer.start_span(f"dizions {method}"))

    @contextlib.contextmanager
    def _current(self, call: _CallTrace) -> Iterator[None]:
        token = self.context.attach(self.trace.set_span_in_context(call.span))
        call_token = _CALL.set(call)
        try:
            yield
        finally:
            _CALL.reset(call_token)
            self.context.detach(token)

    async def run_call(self, method: str, coroutine: Coroutine[Any, Any, T]) -> T:
        call = self._new_call(method)
        try:
            with self._current(call):
                return await coroutine
        except BaseException as exc:
            call.failed(exc)
            raise
        finally:
            call.end()

    async def iterate_call(self, method: str, inner: AsyncGenerator[T, None]) -> AsyncIterator[T]:
        # The span is made current around each step of ``inner`` only: an async
        # generator's body runs in its consumer's context, which must not keep it.
        call = self._new_call(method)
        try:
            while True:
                with self._current(call):
                    try:
                        item = await inner.__anext__()
                    except StopAsyncIteration:
                        break
                yield item
        except GeneratorExit:  # the consumer stopped early: not a failure
            raise
        except BaseException as exc:
            call.failed(exc)
            raise
        finally:
            with self._current(call):
                await inner.aclose()
            call.end()


_tracing: _Tracing | None = None


def _active() -> _Tracing | None:
    global _tracing
    if _tracing is None and "opentelemetry.trace" in sys.modules:
        _tracing = _Tracing()
    return _tracing


def instrument(cls: _C) -> _C:
    """Wrap ``cls``'s public coroutine and async-generator methods in call spans."""
    for name in dir(cls):
        if name.startswith("_") or name in _NOT_CALLS:
            continue
        member = inspect.getattr_static(cls, name)
        if inspect.iscoroutinefunction(member):
            setattr(cls, name, _traced_coroutine(name, member))
        elif inspect.isasyncgenfunction(member):
            setattr(cls, name, _traced_generator(name, member))
    return cls


def _traced_coroutine(
    method: str, function: Callable[..., Coroutine[Any, Any, T]]
) -> Callable[..., Coroutine[Any, Any, T]]:
    # Not itself a coroutine function: untraced, the method's own coroutine is returned,
    # so an untraced call costs no extra coroutine (a layer every resumption crosses).
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Coroutine[Any, Any, T]:
        tracing = _active()
        if tracing is None or _CALL.get() is not None or tracing.inert():
            return function(*args, **kwargs)
        return tracing.run_call(method, function(*args, **kwargs))

    _mark_coroutine_function(call)
    return call


def _mark_coroutine_function(function: Callable[..., Any]) -> None:
    """Have ``inspect.iscoroutinefunction`` say True of ``function`` (Python 3.12+ can be
    told; before it, the method is a function returning a coroutine, as any wrapper)."""
    mark = getattr(inspect, "markcoroutinefunction", None)
    if mark is not None:
        mark(function)


def _traced_generator(
    method: str, function: Callable[..., AsyncGenerator[T, None]]
) -> Callable[..., AsyncIterator[T]]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> AsyncIterator[T]:
        inner = function(*args, **kwargs)
        tracing = _active()
        if tracing is None or _CALL.get() is not None or tracing.inert():
            return inner
        return tracing.iterate_call(method, inner)

    return call


def count_pieces(pieces: int) -> None:
    """Add a split read's planned pieces to the traced call, if any."""
    call = _CALL.get()
    if call is not None:
        call.pieces += pieces


def _resource(path: str) -> str:
    # /v2/clients/... -> clients; /v2/extension_database/name_3/... -> extension_database/name_3
    parts = path.split("/", 4)
    if len(parts) > 3 and parts[2] == "extension_database":
        return f"{parts[2]}/{parts[3]}"
    return parts[2] if len(parts) > 2 else path


class Attempts:
    """Spans for the attempts of one request of a traced call (see :func:`attempts`)."""

    __slots__ = ("_call", "_tracing")

    def __init__(self, tracing: _Tracing, call: _CallTrace) -> None:
        self._tracing = tracing
        self._call = call

    @contextlib.contextmanager
    def _span(self, request: Request, retries: int) -> Iterator[tuple[Any, Request]]:
        """The attempt's span, and ``request`` with the span's ``traceparent`` added."""
        method, _, template = request.label.partition(" ")
        if request.show_values:
            # The label shows values when the caller opted in for logs; spans never do.
            template = redact_path(request.url.raw_path)
        call = self._call
        if call.resource is None:
            call.resource = _resource(template)
            call.span.set_attribute("dizions.resource", call.resource)
        url = request.url
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "server.address": url.host or "",
            "server.port": url.port or 0,
            "url.scheme": url.scheme,
            "url.template": template,
        }
        if retries:
            call.retries += 1
            attributes["http.request.resend_count"] = retries
        tracing = self._tracing
        span = tracing.tracer.start_span(
            f"{method} {template}", kind=tracing.trace.SpanKind.CLIENT, attributes=attributes
        )
        carrier: dict[str, str] = {}
        tracing.propagate.inject(carrier, context=tracing.trace.set_span_in_context(span))
        if carrier:
            request = attrs.evolve(request, headers=(*request.headers, *carrier.items()))
        try:
            yield span, request
        except BaseException as exc:
            _error(span, type(exc).__name__)
            raise
        finally:
            span.end()

    @staticmethod
    def _status(span: Any, status: int) -> None:
        span.set_attribute("http.response.status_code", status)
        if status >= 400:
            _error(span, str(status))

    async def send(
        self, send: Callable[[Request], Awaitable[Response]], request: Request, retries: int
    ) -> Response:
        """``send(request)`` inside an attempt span, with ``traceparent`` added."""
        with self._span(request, retries) as (span, request):
            response = await send(request)
            self._status(span, response.status)
            return response

    @contextlib.asynccontextmanager
    async def stream(
        self,
        stream: Callable[[Request], contextlib.AbstractAsyncContextManager[Any]],
        request: Request,
        retries: int,
    ) -> AsyncIterator[Any]:
        """``stream(request)`` inside an attempt span that lasts until the body is read."""
        with self._span(request, retries) as (span, request):
            async with stream(request) as response:
                self._status(span, response.status)
                yield response


def attempts() -> Attempts | None:
    """Span makers for the send loop, or None when no traced call is running."""
    call = _CALL.get()
    if call is None:
        return None
    assert _tracing is not None
    return Attempts(_tracing, call)
