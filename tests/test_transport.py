"""AiohttpTransport against aioresponses, and MockTransport: exceptions mapped, streaming."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import orjson
import pytest
from aiohttp import web
from aioresponses import aioresponses
from yarl import URL

from dizions_async.errors import ConnectError, RequestTimeout, ResponseTooLarge, TransportError
from dizions_async.protocol import Request, Response
from dizions_async.transport import AiohttpTransport, MockTransport, Transport, json_response

BASE = "https://api.example"


class _Response(aiohttp.ClientResponse):
    # aioresponses 0.7.9 builds responses without the `stream_writer` that aiohttp 3.14
    # requires; supply it so canned responses work.
    def __init__(self, method: str, url: URL, **kwargs: object) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)  # type: ignore[arg-type]


HEADERS = (("Source", "SRC-secret"), ("Org", "ORG-secret"), ("User", "USR-secret"))


def request(path: str = "/v2/clients/nhs_number/4857773456", method: str = "GET") -> Request:
    return Request.build(method, URL(BASE + path, encoded=True), HEADERS)


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    t = AiohttpTransport()
    yield t
    await t.aclose()


async def test_send_returns_status_headers_and_body(transport: AiohttpTransport) -> None:
    with aioresponses() as mock:
        mock.get(
            BASE + "/v2/clients/nhs_number/4857773456",
            status=200,
            body=b"[]",
            headers={"X-Thing": "1"},
            response_class=_Response,
        )
        response = await transport.send(request())
        sent = mock.requests[("GET", URL(BASE + "/v2/clients/nhs_number/4857773456"))][0]
    assert (response.status, response.body) == (200, b"[]")
    assert response.headers["x-thing"] == "1"
    assert sent.kwargs["headers"]["Source"] == "SRC-secret"
    assert sent.kwargs["allow_redirects"] is False


async def test_error_statuses_are_returned_not_raised(transport: AiohttpTransport) -> None:
    with aioresponses() as mock:
        mock.get(
            BASE + "/v2/clients/nhs_number/4857773456",
            status=503,
            body=b'{"error":"x"}',
            response_class=_Response,
        )
        response = await transport.send(request())
    assert response.status == 503


FAILURES = [
    (
        aiohttp.ClientConnectorError(None, OSError(111, "Connection refused")),
        ConnectError,  # type: ignore[arg-type]
        False,
    ),
    (aiohttp.ConnectionTimeoutError(), ConnectError, False),
    (aiohttp.SocketTimeoutError(), RequestTimeout, True),
    (asyncio.TimeoutError(), RequestTimeout, True),
    (aiohttp.ServerDisconnectedError(), TransportError, True),
    (aiohttp.ClientPayloadError("cut"), TransportError, True),
    (aiohttp.ClientOSError(104, "reset"), TransportError, True),
]


@pytest.mark.parametrize(("raised", "kind", "maybe_sent"), FAILURES)
async def test_aiohttp_exceptions_become_ours(
    transport: AiohttpTransport, raised: Exception, kind: type[TransportError], maybe_sent: bool
) -> None:
    for method in ("GET", "PUT"):
        with aioresponses() as mock:
            mock.add(BASE + "/v2/clients/nhs_number/4857773456", method, exception=raised)
            with pytest.raises(TransportError) as caught:
                await transport.send(request(method=method))
        error = caught.value
        assert type(error) is kind
        assert not isinstance(error, aiohttp.ClientError)
        assert error.__cause__ is None and error.__suppress_context__
        # a read never has an unknown outcome; a write does once it may have been sent
        assert error.outcome_unknown is (maybe_sent and method == "PUT")
        assert error.url == "/v2/clients/nhs_number/***"
        assert "4857773456" not in str(error) and "secret" not in str(error)


async def test_stream_yields_the_body_in_chunks() -> None:
    body = b"x" * 1000
    t = AiohttpTransport(chunk_size=100)
    try:
        with aioresponses() as mock:
            mock.get(BASE + "/v2/clients", status=200, body=body, response_class=_Response)
            async with t.stream(request("/v2/clients")) as response:
                assert response.status == 200
                chunks = [chunk async for chunk in response.chunks]
    finally:
        await t.aclose()
    assert b"".join(chunks) == body and all(len(c) <= 100 for c in chunks)


async def test_stream_maps_connection_errors(transport: AiohttpTransport) -> None:
    with aioresponses() as mock:
        mock.get(BASE + "/v2/clients", exception=aiohttp.ServerDisconnectedError())
        with pytest.raises(TransportError):
            async with transport.stream(request("/v2/clients")):
                pass


async def test_a_caller_session_is_left_open() -> None:
    async with aiohttp.ClientSession() as session:
        t = AiohttpTransport(session=session)
        await t.aclose()
        assert not session.closed


async def test_own_session_is_closed() -> None:
    t = AiohttpTransport()
    await t.aclose()
    assert t.closed
    await t.aclose()


async def test_mock_transport_records_requests_and_awaits_async_handlers() -> None:
    async def handler(r: Request) -> Response:
        return json_response({"ok": True}, 201, {"Retry-After": "3"})

    mock = MockTransport(handler)
    assert isinstance(mock, Transport)
    response = await mock.send(request())
    assert response.status == 201 and response.headers["retry-after"] == "3"
    assert mock.requests == [request()]


async def test_mock_transport_streams_in_chunks() -> None:
    mock = MockTransport(lambda r: Response(200, {}, b"abcdefg"), chunk_size=3)
    async with mock.stream(request()) as response:
        assert [c async for c in response.chunks] == [b"abc", b"def", b"g"]


# -- body limits over real HTTP -----------------------------------------------------------


@pytest.fixture
async def limited_server() -> AsyncIterator[str]:
    records = b"[" + b",".join(b'{"id": %d}' % i for i in range(20_000)) + b"]"

    async def plain(request: web.Request) -> web.Response:
        return web.Response(body=records, content_type="application/json")

    async def gzipped(request: web.Request) -> web.Response:
        response = web.Response(body=records, content_type="application/json")
        response.enable_compression(web.ContentCoding.gzip)
        return response

    async def big_error(request: web.Request) -> web.Response:
        return web.Response(status=500, body=b'{"error": "' + b"e" * 200_000 + b'"}')

    app = web.Application()
    app.router.add_get("/plain", plain)
    app.router.add_get("/gzip", gzipped)
    app.router.add_get("/error", big_error)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.mark.parametrize("path", ["/plain", "/gzip"])
async def test_a_body_is_limited_by_its_decoded_size(limited_server: str, path: str) -> None:
    def get() -> Request:
        return Request.build("GET", URL(limited_server + path), ())

    decoded = 20_000 * 10  # about: each record is 10 or 11 bytes
    roomy = AiohttpTransport(max_response_bytes=decoded * 2)
    tight = AiohttpTransport(max_response_bytes=decoded // 2)
    try:
        assert len(orjson.loads((await roomy.send(get())).body)) == 20_000
        with pytest.raises(ResponseTooLarge) as caught:
            await tight.send(get())
        assert caught.value.limit == decoded // 2 and "max_response_bytes=" in str(caught.value)
        # The half-read connection was closed, not reused: the next answer is whole.
        error = await tight.send(Request.build("GET", URL(limited_server + "/error"), ()))
        assert error.status == 500 and error.body.startswith(b'{"error": "eee')
    finally:
        await roomy.aclose()
        await tight.aclose()


async def test_an_error_body_is_cut_at_64_kib(limited_server: str) -> None:
    transport = AiohttpTransport()
    try:
        response = await transport.send(Request.build("GET", URL(limited_server + "/error"), ()))
    finally:
        await transport.aclose()
    assert response.status == 500 and len(response.body) == 64 * 1024
