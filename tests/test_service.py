"""Running in a service: proxies, TLS, per-call options and event-loop safety, end to end
against the fake server over real loopback HTTP (and HTTPS, with ``trustme`` certificates)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
import sys
import textwrap
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
import trustme
from aiohttp import web
from click.testing import CliRunner

from dizions_async import Client, Query, RetryPolicy, Timeouts
from dizions_async.cli import _common
from dizions_async.cli._app import app
from dizions_async.errors import (
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    RequestTimeout,
    WrongEventLoopError,
)
from dizions_async.testing import FakeDizions

if TYPE_CHECKING:
    from conftest import Cli

FAST = RetryPolicy(backoff_base=0.001, backoff_max=0.01)
PROXY_VARIABLES = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "REQUEST_METHOD",
]


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without proxy variables."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


class RecordingProxy:
    """A forward HTTP proxy on 127.0.0.1 that records what passes through it.

    Plain-http requests arrive in absolute form (``GET http://host:port/path``); it
    forwards them with its own session and records the path and any Proxy-Authorization.
    """

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.proxy_auth: list[str | None] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        self.seen.append(request.path)
        self.proxy_auth.append(request.headers.get("Proxy-Authorization"))
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "proxy-authorization")
        }
        async with self._session.request(
            request.method, request.url, headers=headers, data=await request.read()
        ) as upstream:
            body = await upstream.read()
            return web.Response(
                status=upstream.status, body=body, content_type=upstream.content_type
            )

    async def __aenter__(self) -> RecordingProxy:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None and self._session is not None
        await self._runner.cleanup()
        await self._session.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=30, seed=5) as server:
        yield server


@pytest.fixture
async def proxy() -> AsyncIterator[RecordingProxy]:
    async with RecordingProxy() as p:
        yield p


# -- tried as a new user would ---------------------------------------------------------------


async def test_the_cli_honours_http_proxy(
    fake: FakeDizions, proxy: RecordingProxy, cli: Cli
) -> None:
    result = await cli(fake, "get", "clients", "--id", "1", HTTP_PROXY=proxy.url)
    assert result.exit_code == 0, result.output
    assert proxy.seen == ["/v2/clients/id/1"]


# -- proxies ---------------------------------------------------------------------------------


async def test_http_proxy_from_the_environment_sees_the_requests(
    fake: FakeDizions, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with fake.client() as dz:
        rows = await dz.fetch(Query("clients").id(2))
    assert rows[0]["id"] == 2
    assert proxy.seen == ["/v2/clients/id/2"]


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
async def test_no_proxy_covering_the_host_bypasses_the_proxy(
    fake: FakeDizions, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    async with fake.client() as dz:
        await dz.fetch(Query("clients").id(2))
    assert proxy.seen == []
    assert fake.requests  # it went straight to the server


async def test_trust_env_false_ignores_the_environment(
    fake: FakeDizions, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with fake.client(trust_env=False) as dz:
        await dz.fetch(Query("clients").id(2))
    assert proxy.seen == []


async def test_an_explicit_proxy_overrides_the_environment_and_sends_its_credentials(
    fake: FakeDizions, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would fail to connect
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with_credentials = proxy.url.replace("http://", "http://alice:s3cret@")
    async with fake.client(proxy=with_credentials) as dz:
        await dz.fetch(Query("clients").id(3))
        assert "s3cret" not in repr(dz)
    assert proxy.seen == ["/v2/clients/id/3"]
    assert proxy.proxy_auth[0] is not None and proxy.proxy_auth[0].startswith("Basic ")


async def test_proxy_credentials_never_reach_logs_or_errors(
    fake: FakeDizions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dizions_async")
    # Nothing listens on port 9: the connection to the proxy fails.
    async with fake.client(proxy="http://alice:s3cret@127.0.0.1:9", retry=FAST) as dz:
        with pytest.raises(ConnectError) as caught:
            await dz.fetch(Query("clients").id(3))
    text = str(caught.value) + repr(caught.value) + caplog.text
    assert "proxy" in str(caught.value)
    assert "s3cret" not in text and "alice" not in text


@pytest.mark.parametrize("bad", ["ftp://proxy.example", "not a url", "http://"])
def test_a_bad_proxy_url_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="proxy") as caught:
        Client("s", "o", "u", proxy=bad.replace("://", "://bob:pw@", 1))
    assert "pw" not in str(caught.value)


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_fake(ca: trustme.CA) -> AsyncIterator[FakeDizions]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    async with FakeDizions(clients=10, seed=5, ssl_context=server_context) as server:
        assert server.url.startswith("https://")
        yield server


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


async def test_an_unknown_ca_is_rejected_by_default(tls_fake: FakeDizions) -> None:
    async with tls_fake.client(retry=FAST) as dz:
        with pytest.raises(ConnectError, match="certificate"):
            await dz.fetch(Query("clients").id(1))


async def test_the_cli_suggests_ca_file_for_an_unknown_authority_and_connects_with_it(
    tls_fake: FakeDizions, ca_file: Path, cli: Cli
) -> None:
    refused = await cli(tls_fake, "get", "clients", "--id", "1", "--timeout", "5")
    assert refused.exit_code == 1
    assert "unknown authority" in refused.stderr and "--ca-file PEM" in refused.stderr
    fixed = await cli(tls_fake, "get", "clients", "--id", "1", "--ca-file", str(ca_file))
    assert fixed.exit_code == 0, fixed.output


async def test_ssl_context_trusting_the_ca_connects(tls_fake: FakeDizions, ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with tls_fake.client(ssl=context) as dz:
        assert (await dz.fetch(Query("clients").id(1)))[0]["id"] == 1


async def test_ca_file_adds_the_bundle_to_the_default_trust(
    tls_fake: FakeDizions, ca_file: Path
) -> None:
    async with tls_fake.client(ca_file=ca_file) as dz:
        assert (await dz.fetch(Query("clients").id(1)))[0]["id"] == 1


def test_ca_file_that_does_not_exist_or_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CA file"):
        Client("s", "o", "u", ca_file=tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="CA file"):
        Client("s", "o", "u", ca_file=junk)
    with pytest.raises(ConfigurationError, match="not both"):
        Client("s", "o", "u", ca_file=junk, ssl=ssl.create_default_context())


async def test_ssl_false_connects_and_warns_once_per_client(
    tls_fake: FakeDizions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dizions_async")
    async with tls_fake.client(ssl=False) as dz:
        await dz.fetch(Query("clients").id(1))
        await dz.fetch(Query("clients").id(2))
    warnings_logged = [r for r in caplog.records if "verification is off" in r.getMessage()]
    assert len(warnings_logged) == 1
    assert warnings_logged[0].levelno == logging.WARNING


async def test_a_callers_session_with_verification_off_gets_the_same_warning(
    tls_fake: FakeDizions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dizions_async")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        async with tls_fake.client(session=session) as dz:
            await dz.fetch(Query("clients").id(1))
        assert not session.closed
    assert sum("verification is off" in r.getMessage() for r in caplog.records) == 1


async def test_a_callers_verifying_session_gives_no_warning(
    fake: FakeDizions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dizions_async")
    async with aiohttp.ClientSession() as session, fake.client(session=session) as dz:
        await dz.fetch(Query("clients").id(1))
    assert "verification" not in caplog.text


def test_tls_and_proxy_settings_are_refused_with_a_callers_session() -> None:
    session = object()
    for option in ({"ssl": False}, {"proxy": "http://p:1"}, {"ca_file": "x.pem"}):
        with pytest.raises(ConfigurationError, match="session"):
            Client("s", "o", "u", session=session, **option)  # type: ignore[arg-type]


async def test_ssl_cert_file_in_the_environment_still_works(
    tls_fake: FakeDizions, ca_file: Path
) -> None:
    # The default context reads SSL_CERT_FILE when the process starts: run a fresh one.
    code = textwrap.dedent(
        """
        import asyncio
        from dizions_async import Client, Query

        async def main():
            async with Client() as dz:
                print((await dz.fetch(Query("clients").id(1)))[0]["id"])

        asyncio.run(main())
        """
    )
    env = {
        "SSL_CERT_FILE": str(ca_file),
        "DIZIONS_SOURCE": tls_fake.keys.source,
        "DIZIONS_ORG": tls_fake.keys.org,
        "DIZIONS_USER": tls_fake.keys.user,
        "DIZIONS_BASE_URL": tls_fake.url,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "1"


# -- event-loop safety ------------------------------------------------------------------------


@pytest.fixture
def sync_fake() -> Iterator[FakeDizions]:
    """A fake server running on its own loop in a thread, for tests that call asyncio.run."""
    import threading

    loop = asyncio.new_event_loop()
    server = FakeDizions(clients=10, seed=5)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def test_a_client_reused_across_two_asyncio_runs_says_what_to_do(
    sync_fake: FakeDizions,
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dz = sync_fake.client()  # made outside any loop

        async def one() -> int:
            return len(await dz.fetch(Query("clients").id(1)))

        assert asyncio.run(one()) == 1
        with pytest.raises(WrongEventLoopError, match=r"asyncio\.run") as caught:
            asyncio.run(one())
        assert isinstance(caught.value, ClientClosedError)
        # The first loop's connections were closed when it shut down: nothing leaks.
        assert dz.closed
        import gc

        gc.collect()


def test_a_client_made_outside_a_loop_and_entered_inside_works(sync_fake: FakeDizions) -> None:
    dz = sync_fake.client()

    async def main() -> int:
        async with dz:
            return len(await dz.fetch(Query("clients")))

    assert asyncio.run(main()) == 10
    with pytest.raises(ClientClosedError):
        asyncio.run(main())


def test_a_client_used_from_another_running_loop_refuses(sync_fake: FakeDizions) -> None:
    import threading

    dz = sync_fake.client()
    opened = threading.Event()
    finish = threading.Event()

    async def owner() -> None:
        async with dz:
            await dz.fetch(Query("clients").id(1))
            opened.set()
            await asyncio.to_thread(finish.wait, 30)

    thread = threading.Thread(target=asyncio.run, args=(owner(),))
    thread.start()
    try:
        assert opened.wait(30)

        async def intruder() -> None:
            await dz.fetch(Query("clients").id(1))

        with pytest.raises(WrongEventLoopError, match="another event loop"):
            asyncio.run(intruder())
    finally:
        finish.set()
        thread.join(30)
    assert dz.closed


# -- per-call options ------------------------------------------------------------------------


async def test_with_options_gives_one_call_its_own_timeout(fake: FakeDizions) -> None:
    fake.faults.set(latency=0.5)
    async with fake.client(retry=FAST) as dz:
        quick = dz.with_options(timeout=Timeouts(total=0.05), retry=RetryPolicy(max_retries=0))
        with pytest.raises(RequestTimeout):
            await quick.fetch(Query("clients").id(1))
        assert len(await dz.fetch(Query("clients").id(1))) == 1  # the parent's timeout
        assert not dz.closed


@pytest.mark.parametrize(
    ("base", "env", "expected"),
    [
        ("https://api.example", {"HTTPS_PROXY": "http://p:1", "HTTP_PROXY": "http://q:2"}, "p"),
        ("http://127.0.0.1:8", {"HTTPS_PROXY": "http://p:1", "HTTP_PROXY": "http://q:2"}, "q"),
        (
            "https://api.example",
            {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:1"},
            "low",
        ),
        ("https://api.example", {"ALL_PROXY": "http://all:1"}, "all"),
        ("https://api.example", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example"}, None),
        ("https://api.example", {"HTTPS_PROXY": "http://p:1", "no_proxy": "other.org"}, "p"),
        ("https://api.example", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "api.example:443"}, None),
        (
            "http://127.0.0.1:8",
            {"HTTP_PROXY": "http://q:2", "NO_PROXY": "x.org, 127.0.0.0/8"},
            None,
        ),
        ("http://[::1]:8", {"HTTP_PROXY": "http://q:2", "NO_PROXY": "::1/128"}, None),
        ("http://127.0.0.1:8", {"HTTP_PROXY": "http://q:2", "NO_PROXY": "10.0.0.0/8,bad/x"}, "q"),
        # Under CGI a request header can set HTTP_PROXY (httpoxy): not trusted there.
        ("http://127.0.0.1:8", {"HTTP_PROXY": "http://q:2", "REQUEST_METHOD": "GET"}, None),
        ("https://api.example", {}, None),
    ],
)
def test_the_proxy_is_chosen_from_the_environment_as_requests_and_httpx_do(
    base: str, env: dict[str, str], expected: str | None
) -> None:
    from yarl import URL

    from dizions_async._network import choose_proxy

    chosen = choose_proxy(URL(base), None, trust_env=True, env=env)
    assert (chosen.url.host if chosen else None) == expected
    assert choose_proxy(URL(base), None, trust_env=False, env=env) is None


def test_a_proxy_repr_masks_its_credentials() -> None:
    from yarl import URL

    from dizions_async._network import choose_proxy

    chosen = choose_proxy(
        URL("https://a.example"), "http://bob:pw@p.example:3128", trust_env=True, env={}
    )
    assert chosen is not None and chosen.login == "bob" and chosen.password == "pw"
    assert "pw" not in repr(chosen) and "bob" not in chosen.display
    assert chosen.display == "http://***@p.example:3128"


async def test_every_read_write_and_batch_method_works_on_a_view(
    fake: FakeDizions, tmp_path: Path
) -> None:
    async with fake.client(retry=FAST) as dz:
        view = dz.with_options(timeout=30.0, log_values=True)
        assert isinstance(view, Client)
        one = await view.fetch_one(Query("clients").id(1))
        assert one["id"] == 1
        assert [r["id"] for r in await view.fetch(Query("clients").id(1, 2))] == [1, 2]
        assert [r["id"] for r in await view.query("clients").id(3)] == [3]
        assert (await view.query("clients").id(3).typed_one()).id == 3
        assert (await view.fetch_arrow(Query("clients").id(1, 2))).num_rows == 2
        report = await view.report(Query("clients").dimension("gender"))
        assert report.total == 30
        pieces = await view.fetch(Query("clients").id(*range(1, 31)), split=("id", 7))
        assert len(pieces) == 30
        a, b = await view.gather([Query("clients").id(4), Query("clients").dimension("gender")])
        assert a[0]["id"] == 4 and b.total == 30
        streamed = [r["id"] async for r in view.stream(Query("clients").id(5, 6))]
        many = [r["id"] async for r in view.stream_many([Query("clients").id(7)])]
        assert streamed == [5, 6] and many == [7]
        assert "gender" in await view.filterable_fields("clients")
        districts = await view.dictionary("organisations", "district")
        assert districts
        new_id = await view.create_client({"first_name": "Ann", "surname": "Lee"})
        assert await view.update("clients", new_id, {"postcode": "AB1 2CD"}) == new_id
        note = tmp_path / "note.txt"
        note.write_bytes(b"hello")
        uploaded = await view.upload("clients", new_id, note, user_visibility=1, group_visibility=1)
        assert len(uploaded.ids) == 1
        resolved = await view.resolve(
            [{"district": districts[0].id}], {"district": ("organisations", "district")}
        )
        assert resolved == [{"district": districts[0].name}]
        async with view:  # closes nothing
            pass
        await view.aclose()
        assert not dz.closed and not view.closed
        assert len(await dz.fetch(Query("clients").id(new_id))) == 1
    assert view.closed
    with pytest.raises(ClientClosedError):
        await view.fetch(Query("clients").id(1))
    # view.dictionary() fetched once, and the view's resolve() filled the parent's cache.
    assert sum(r.path.endswith("/dictionary/organisations/district") for r in fake.requests) == 2


async def test_parent_and_view_share_one_pool_of_max_concurrency_slots(fake: FakeDizions) -> None:
    fake.faults.set(latency=0.2)
    queries = [Query("clients").id(i) for i in range(1, 11)]
    async with fake.client(max_concurrency=3) as dz:
        view = dz.with_options(timeout=60.0, retry=FAST)
        deeper = view.with_options(log_values=True)
        await asyncio.gather(dz.gather(queries), view.gather(queries), deeper.gather(queries))
    assert fake.peak_in_flight <= 3
    # Two separate clients do not share: this check can fail.
    async with fake.client(max_concurrency=3) as one, fake.client(max_concurrency=3) as two:
        await asyncio.gather(one.gather(queries), two.gather(queries))
    assert fake.peak_in_flight > 3


async def test_a_429_seen_by_a_view_pauses_the_parent_too(fake: FakeDizions) -> None:
    async with fake.client(retry=RetryPolicy(max_retries=0)) as dz:
        view = dz.with_options(retry=FAST)
        fake.faults.set(rate_429=1.0, retry_after="30", times=1)
        backing_off = asyncio.ensure_future(view.fetch(Query("clients").id(1)))
        while not fake.requests:
            await asyncio.sleep(0.01)
        # The parent now waits out the view's Retry-After before it sends anything.
        waiting = asyncio.ensure_future(dz.fetch(Query("clients").id(2)))
        await asyncio.sleep(0.2)
        assert not waiting.done() and len(fake.requests) == 1
        for task in (waiting, backing_off):
            task.cancel()
        await asyncio.gather(waiting, backing_off, return_exceptions=True)


async def test_a_views_read_timeout_applies_per_attempt(fake: FakeDizions) -> None:
    fake.faults.set(latency=0.5)
    async with fake.client(retry=FAST, timeout=Timeouts(read=30)) as dz:
        quick = dz.with_options(timeout=Timeouts(read=0.05), retry=RetryPolicy(max_retries=0))
        with pytest.raises(RequestTimeout, match="read timeout"):
            await quick.fetch(Query("clients").id(1))
        assert len(await dz.fetch(Query("clients").id(1))) == 1


async def test_a_view_sees_every_attribute_of_its_root(fake: FakeDizions) -> None:
    # A view copies the attributes set once and reads the rebound ones on its root: made
    # before the root opens and used after, it must still see every attribute the same.
    dz = fake.client()
    view = dz.with_options(timeout=20.0, retry=FAST, log_values=True)
    async with dz:
        await view.fetch(Query("clients").id(1))
        spec = {"district": ("organisations", "district")}
        await view.resolve([{"district": 1}], spec)
        await dz.fetch(Query("clients").id(2))
        for name, value in vars(dz).items():
            if name not in ("_timeouts", "_retry", "_log_values"):
                assert getattr(view, name) is value, name
    assert view.closed


def test_with_options_refuses_wrong_types() -> None:
    dz = Client("s", "o", "u")
    with pytest.raises(ConfigurationError, match="timeout"):
        dz.with_options(timeout="5")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="retry"):
        dz.with_options(retry=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="log_values"):
        dz.with_options(log_values="yes")  # type: ignore[arg-type]
    assert "view" in repr(dz.with_options(timeout=1.0))


# -- https through a tunnel ------------------------------------------------------------------


class TunnelProxy:
    """A CONNECT proxy on 127.0.0.1: records each CONNECT, then pipes bytes both ways."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, str | None]] = []
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ")
        fields = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
        self.connects.append((f"{method} {target}", fields.get("Proxy-Authorization")))
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        self._writers.append(up_writer)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def __aenter__(self) -> TunnelProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


async def test_https_goes_through_a_connect_tunnel_with_credentials_for_the_proxy_only(
    tls_fake: FakeDizions, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with TunnelProxy() as tunnel:
        monkeypatch.setenv("HTTPS_PROXY", tunnel.url.replace("://", "://carol:pw9@"))
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # not for https
        async with tls_fake.client(ca_file=ca_file) as dz:
            assert (await dz.fetch(Query("clients").id(1)))[0]["id"] == 1
    port = tls_fake.url.rsplit(":", 1)[1]
    ((connect, authorization),) = tunnel.connects
    assert connect == f"CONNECT 127.0.0.1:{port}"
    assert authorization is not None and authorization.startswith("Basic ")
    # Inside the tunnel the server sees the request, and no proxy credentials.
    assert [r.path for r in tls_fake.requests] == ["/v2/clients/id/1"]
    assert not any("proxy-authorization" in map(str.lower, r.headers) for r in tls_fake.requests)


# -- the command line ------------------------------------------------------------------------

API_COMMANDS = [
    ["get"],
    ["report"],
    ["dict"],
    ["export"],
    ["migrate", "clients"],
    ["migrate", "records"],
    ["migrate", "retry-failed"],
    ["migrate", "verify"],
    ["check"],
]


@pytest.mark.parametrize("command", API_COMMANDS, ids=" ".join)
def test_every_api_command_takes_the_connection_options(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    for option, variable in [
        ("--proxy", "DIZIONS_PROXY"),
        ("--ca-file", "DIZIONS_CA_FILE"),
        ("--timeout", "DIZIONS_TIMEOUT"),
        ("--concurrency", "DIZIONS_CONCURRENCY"),
        ("--allow-insecure", "DIZIONS_ALLOW_INSECURE"),
    ]:
        assert option in result.output and variable in result.output


NO_KEYS = {"DIZIONS_SOURCE": "", "DIZIONS_ORG": "", "DIZIONS_USER": ""}


async def test_missing_keys_name_every_missing_flag_and_variable(
    fake: FakeDizions, cli: Cli
) -> None:
    result = await cli(fake, "get", "clients", env={**NO_KEYS, "DIZIONS_BASE_URL": fake.url})
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    for word in ("--source", "--org", "--user", "DIZIONS_SOURCE", "DIZIONS_ORG", "DIZIONS_USER"):
        assert word in line
    assert "=..." not in line and "Client(" not in line
    result = await cli(
        fake, "get", "clients", "--org", "x", env={**NO_KEYS, "DIZIONS_BASE_URL": fake.url}
    )
    (line,) = result.stderr.splitlines()
    assert "--source" in line and "--user" in line and "--org" not in line


async def test_an_insecure_url_names_the_allow_insecure_flag(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "get", "clients", DIZIONS_BASE_URL="http://api.example")
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "--allow-insecure" in line and "allow_insecure=" not in line


def test_allow_insecure_lets_the_client_be_made() -> None:
    conn = _common.ClientOptions("s", "o", "u", "http://api.example", allow_insecure=True)
    assert conn.client().closed is False
    with pytest.raises(ConfigurationError, match="--allow-insecure"):
        _common.ClientOptions("s", "o", "u", "http://api.example").client()


@pytest.mark.parametrize("how", ["flag", "variable"])
async def test_the_cli_proxy_option_and_variable(
    fake: FakeDizions, proxy: RecordingProxy, cli: Cli, how: str
) -> None:
    if how == "flag":
        result = await cli(fake, "report", "clients", "--dimension", "gender", "--proxy", proxy.url)
    else:
        result = await cli(
            fake, "report", "clients", "--dimension", "gender", DIZIONS_PROXY=proxy.url
        )
    assert result.exit_code == 0, result.output
    assert proxy.seen == ["/v2/clients/dimension/gender"]


async def test_the_cli_ca_file_option(tls_fake: FakeDizions, ca_file: Path, cli: Cli) -> None:
    result = await cli(tls_fake, "get", "clients", "--id", "1")
    assert result.exit_code == 1 and "certificate" in result.stderr
    result = await cli(tls_fake, "get", "clients", "--id", "1", "--ca-file", str(ca_file))
    assert result.exit_code == 0, result.output
    result = await cli(tls_fake, "dict", "organisations", "district", DIZIONS_CA_FILE=str(ca_file))
    assert result.exit_code == 0, result.output


async def test_the_cli_timeout_option(fake: FakeDizions, cli: Cli) -> None:
    fake.faults.set(latency=2.0)
    result = await cli(fake, "get", "clients", "--id", "1", "--timeout", "0.2")
    assert result.exit_code == 1 and "timeout" in result.stderr
    result = await cli(fake, "get", "clients", "--id", "1", DIZIONS_TIMEOUT="0.2")
    assert result.exit_code == 1 and "timeout" in result.stderr


@pytest.mark.parametrize("how", ["flag", "variable", "neither"])
async def test_the_cli_concurrency_option(
    fake: FakeDizions, cli: Cli, tmp_path: Path, how: str
) -> None:
    fake.faults.set(latency=0.1)
    args = ["export", "clients", *(f"--id={i}" for i in range(1, 31)), "--split", "id:3"]
    args += ["--out", str(tmp_path / "c.jsonl")]
    extra = {"DIZIONS_CONCURRENCY": "3"} if how == "variable" else {}
    if how == "flag":
        args += ["--concurrency", "3"]
    result = await cli(fake, *args, **extra)
    assert result.exit_code == 0, result.output
    assert len(fake.requests) == 10
    if how == "neither":  # the default, 16, lets all ten pieces run at once
        assert fake.peak_in_flight > 3
    else:
        assert fake.peak_in_flight <= 3


async def test_a_bad_proxy_or_ca_file_on_the_cli_is_a_usage_error_in_cli_words(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    result = await cli(fake, "get", "clients", "--proxy", "socks5://bob:pw@127.0.0.1:9")
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "proxy URL" in line and "pw" not in line and "=" not in line
    result = await cli(fake, "get", "clients", "--ca-file", str(tmp_path / "none.pem"))
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "CA file" in line and "ca_file" not in line.replace(str(tmp_path), "")
