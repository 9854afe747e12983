"""Client behaviour through the SDK's own MockTransport; time is faked, nothing waits."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from yarl import URL

import dizions_async
from dizions_async import Client, DictionaryEntry, MockTransport, Query, RetryPolicy, Timeouts
from dizions_async._redact import reveal
from dizions_async.errors import (
    APIError,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    DecodeError,
    NotFoundError,
    QueryError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    TransportError,
)
from dizions_async.protocol import Request, Response
from dizions_async.transport import json_response

KEYS = ("SRC-key-1", "ORG-key-2", "USR-key-3")


class FakeTime:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def policy(self, **kwargs: Any) -> RetryPolicy:
        return RetryPolicy(
            clock=self.clock,
            wall_clock=lambda: 1e9 + self.now,
            sleep=self.sleep,
            random=lambda: 0.5,
            **kwargs,
        )


def make_client(
    handler: Callable[[Request], Any], time: FakeTime | None = None, **kwargs: Any
) -> tuple[Client, MockTransport]:
    transport = MockTransport(handler)
    retry = (time or FakeTime()).policy()
    kwargs.setdefault("retry", retry)
    client = Client(*KEYS, base_url="https://api.example", transport=transport, **kwargs)
    return client, transport


def sequence(*answers: Response | Exception) -> Callable[[Request], Response]:
    queue = list(answers)

    def handler(request: Request) -> Response:
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler


def write(path: str = "/v2/clients", method: str = "PUT") -> Request:
    return Request.build(
        method,
        URL("https://api.example" + path),
        (("Source", "s"), ("Org", "o"), ("User", "u")),
        body=b"first_name=Ann",
        content_type="application/x-www-form-urlencoded",
    )


def test_public_names_are_exactly_these() -> None:
    assert sorted(dizions_async.__all__) == [
        "Client",
        "DictionaryEntry",
        "ExtensionDatabase",
        "MockTransport",
        "Query",
        "Report",
        "RetryPolicy",
        "Timeouts",
        "UploadResult",
    ]
    for name in dizions_async.__all__:
        assert getattr(dizions_async, name) is not None


# -- configuration ----------------------------------------------------------------------


def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIZIONS_SOURCE", "s")
    monkeypatch.setenv("DIZIONS_ORG", "o")
    monkeypatch.setenv("DIZIONS_USER", "u")
    monkeypatch.setenv("DIZIONS_BASE_URL", "http://127.0.0.1:9")
    client = Client(transport=MockTransport(lambda r: json_response([])))
    assert "127.0.0.1:9" in repr(client)


@pytest.mark.parametrize(
    ("missing", "variable"),
    [("source", "DIZIONS_SOURCE"), ("org", "DIZIONS_ORG"), ("user", "DIZIONS_USER")],
)
def test_a_missing_key_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, missing: str, variable: str
) -> None:
    for name in ("DIZIONS_SOURCE", "DIZIONS_ORG", "DIZIONS_USER"):
        monkeypatch.delenv(name, raising=False)
    given = {"source": "s", "org": "o", "user": "u"}
    del given[missing]
    with pytest.raises(ConfigurationError, match=variable):
        Client(**given)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.8.9.1", "http://localhost:1", "http://[::1]:5"]
)
def test_plain_http_is_allowed_to_loopback_hosts(url: str) -> None:
    Client(*KEYS, base_url=url)


def test_plain_http_elsewhere_is_refused_unless_allowed() -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure"):
        Client(*KEYS, base_url="http://api.example")
    Client(*KEYS, base_url="http://api.example", allow_insecure=True)


def test_keys_never_appear_in_the_repr() -> None:
    client, _ = make_client(lambda r: json_response([]))
    assert not any(key in repr(client) for key in KEYS)


def test_a_client_whose_setup_failed_can_still_be_shown() -> None:
    # A traceback that shows locals reprs the half-built instance; that must not raise.
    half_built = Client.__new__(Client)
    assert repr(half_built) == "<Client (not set up) max_concurrency=?>"


# -- reads --------------------------------------------------------------------------------


async def test_fetch_sends_the_keys_as_headers_and_returns_records() -> None:
    client, transport = make_client(lambda r: json_response([{"id": 1}]))
    async with client as dz:
        rows = await dz.fetch(Query("clients").filter(religion=[1, 3]))
    assert rows == [{"id": 1}]
    sent = transport.requests[0]
    assert str(sent.url) == "https://api.example/v2/clients/religion/1;3"
    headers = {name: reveal(value) for name, value in sent.headers}
    assert (headers["Source"], headers["Org"], headers["User"]) == KEYS
    assert KEYS[0] not in repr(sent.headers)


async def test_fetch_sends_resolve_ids_query_string() -> None:
    client, transport = make_client(lambda r: json_response([]))
    async with client as dz:
        await dz.fetch(Query("clients").resolve_ids("ethnicity"))
    assert transport.requests[0].url.raw_query_string == "resolveIds[]=ethnicity"


@attrs.frozen
class Person:
    id: int
    surname: str


async def test_fetch_structures_records_into_attrs_classes() -> None:
    client, _ = make_client(lambda r: json_response([{"id": 1, "surname": "Lee", "x": 0}]))
    async with client as dz:
        assert await dz.fetch(Query("clients"), as_=Person) == [Person(1, "Lee")]


async def test_a_record_that_does_not_fit_names_record_and_field() -> None:
    rows = [{"id": 1, "surname": "Lee"}, {"id": 2, "surname": "Secret-Name", "extra": 1}, {"id": 3}]
    client, _ = make_client(lambda r: json_response(rows))
    async with client as dz:
        with pytest.raises(DecodeError, match=r"record 2 \(id 3\).*surname") as caught:
            await dz.fetch(Query("clients"), as_=Person)
    assert "Secret-Name" not in str(caught.value)


async def test_fetch_refuses_a_report_query_and_report_refuses_a_plain_one() -> None:
    client, transport = make_client(lambda r: json_response([]))
    async with client as dz:
        with pytest.raises(QueryError, match="report"):
            await dz.fetch(Query("clients").dimension("district"))
        with pytest.raises(QueryError, match="dimension"):
            await dz.report(Query("clients"))
    assert transport.requests == []


async def test_fetch_one_returns_the_record_or_not_found() -> None:
    client, _ = make_client(
        sequence(json_response([{"id": 5}]), json_response({"error": "no"}, 404), json_response([]))
    )
    async with client as dz:
        assert await dz.fetch_one(Query("clients").id(5)) == {"id": 5}
        with pytest.raises(NotFoundError):
            await dz.fetch_one(Query("clients").id(6))
        with pytest.raises(NotFoundError):
            await dz.fetch_one(Query("clients").id(7))
        with pytest.raises(QueryError):
            await dz.fetch_one(Query("clients"))


async def test_bound_query_chains_and_is_awaitable() -> None:
    client, transport = make_client(lambda r: json_response([{"id": 1}]))
    async with client as dz:
        rows = await dz.query("clients").filter(gender=1).fields("id")
    assert rows == [{"id": 1}]
    assert transport.requests[0].url.raw_path == "/v2/clients/gender/1/field/id"


async def test_report_decodes_metric_breakdown() -> None:
    body = {"Leeds": {"1": 2, "2": 3}, "York": {"1": 1}}
    client, transport = make_client(lambda r: json_response(body))
    async with client as dz:
        report = await dz.report(
            dz.query("clients").filter(active=True).dimension("district").metric("gender")
        )
    assert report["Leeds"]["2"] == 3 and report.total == 6
    assert ("York", "1", 1) in report.rows()
    assert transport.requests[0].url.raw_path == (
        "/v2/clients/active/Y/dimension/district/metric/gender"
    )


async def test_field_lists_and_dictionaries_hit_their_paths() -> None:
    def handler(request: Request) -> Response:
        if "dictionary" in request.url.raw_path:
            return json_response([{"id": 1, "name": "Leeds"}])
        return json_response(["id", "surname"])

    client, transport = make_client(handler)
    async with client as dz:
        assert await dz.selectable_fields("clients") == ["id", "surname"]
        await dz.filterable_fields(dizions_async.ExtensionDatabase("Notes", 9))
        await dz.metrics("referrals")
        assert await dz.dictionary("organisations", "district") == [DictionaryEntry(1, "Leeds")]
        await dz.dictionary_search("referrals", "project", "a b/c")
        with pytest.raises(QueryError):
            await dz.selectable_fields("clientz")
    assert [r.url.raw_path for r in transport.requests] == [
        "/v2/clients/selectable_fields",
        "/v2/extension_database/notes_9/filterable_fields",
        "/v2/referrals/metrics",
        "/v2/dictionary/organisations/district",
        "/v2/dictionary/search/referrals/project/a%20b%2Fc",
    ]


async def test_concurrent_resolves_fetch_each_dictionary_once() -> None:
    async def handler(request: Request) -> Response:
        await asyncio.sleep(0)
        return json_response([{"id": 1, "name": "Leeds"}, {"id": 2, "name": "York"}])

    client, transport = make_client(handler)
    rows = [{"id": 9, "district": 1, "other": 2}, {"id": 8, "district": "2"}, {"id": 7}]
    async with client as dz:
        spec = {"district": ("organisations", "district")}
        first, second = await asyncio.gather(dz.resolve(rows, spec), dz.resolve(rows, spec))
        await dz.resolve(rows, spec)
    assert (
        first
        == second
        == [{"id": 9, "district": "Leeds", "other": 2}, {"id": 8, "district": "York"}, {"id": 7}]
    )
    assert len(transport.requests) == 1
    assert rows[0]["district"] == 1  # the input is not changed


async def test_a_failed_dictionary_fetch_is_retried_by_the_next_resolve() -> None:
    client, _ = make_client(
        sequence(json_response({"error": "x"}, 403), json_response([{"id": 1, "name": "A"}]))
    )
    async with client as dz:
        with pytest.raises(AuthenticationError):
            await dz.resolve([{"d": 1}], {"d": ("g", "t")})
        assert await dz.resolve([{"d": 1}], {"d": ("g", "t")}) == [{"d": "A"}]


async def test_url_over_the_limit_is_refused_before_sending() -> None:
    client, transport = make_client(lambda r: json_response([]), max_url_length=60)
    async with client as dz:
        with pytest.raises(QueryError, match="max_url_length"):
            await dz.fetch(Query("clients").filter(postcode="x" * 80))
    assert transport.requests == []


# -- lifecycle ----------------------------------------------------------------------------


async def test_a_closed_client_refuses_requests() -> None:
    client, transport = make_client(lambda r: json_response([]))
    async with client as dz:
        pass
    assert transport.closed
    with pytest.raises(ClientClosedError):
        await dz.fetch(Query("clients"))
    await dz.aclose()  # closing twice is fine


async def test_the_concurrency_cap_is_never_exceeded() -> None:
    in_flight = peak = 0

    async def handler(request: Request) -> Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        in_flight -= 1
        return json_response([])

    client, _ = make_client(handler, max_concurrency=3)
    async with client as dz:
        await asyncio.gather(*(dz.fetch(Query("clients")) for _ in range(20)))
    assert peak == 3


# -- retries: reads -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_reads_are_retried_on_transient_statuses(status: int) -> None:
    time = FakeTime()
    client, transport = make_client(
        sequence(json_response({"error": "busy"}, status), json_response([{"id": 1}])), time
    )
    async with client as dz:
        assert await dz.fetch(Query("clients")) == [{"id": 1}]
    assert len(transport.requests) == 2
    assert time.sleeps == [0.375]  # 0.5 s step, equal jitter at random()=0.5


@pytest.mark.parametrize(
    "error", [ConnectError("refused"), RequestTimeout("slow"), TransportError("dropped")]
)
async def test_reads_are_retried_on_network_failures(error: TransportError) -> None:
    client, transport = make_client(sequence(error, json_response([])))
    async with client as dz:
        assert await dz.fetch(Query("clients")) == []
    assert len(transport.requests) == 2


async def test_reads_give_up_after_max_retries_with_the_count() -> None:
    time = FakeTime()
    client, transport = make_client(lambda r: json_response({"error": "down"}, 503), time)
    async with client as dz:
        with pytest.raises(ServerError) as caught:
            await dz.fetch(Query("clients").filter(nhs_number="4857773456"))
    error = caught.value
    assert (error.status, error.retries, error.message) == (503, 3, "down")
    assert error.url == "/v2/clients/nhs_number/***" and "4857773456" not in str(error)
    assert len(transport.requests) == 4
    assert time.sleeps == [0.375, 0.75, 1.5]


async def test_transport_failure_after_retries_reports_the_count() -> None:
    client, _ = make_client(sequence(*[RequestTimeout("slow")] * 4))
    async with client as dz:
        with pytest.raises(RequestTimeout) as caught:
            await dz.fetch(Query("clients"))
    assert caught.value.retries == 3 and caught.value.outcome_unknown is False


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_caller_errors_are_not_retried(status: int) -> None:
    client, transport = make_client(lambda r: json_response({"error": "no"}, status))
    async with client as dz:
        with pytest.raises(APIError) as caught:
            await dz.fetch(Query("clients"))
    assert caught.value.status == status and caught.value.retries == 0
    assert len(transport.requests) == 1


async def test_retry_after_is_honoured() -> None:
    time = FakeTime()
    client, _ = make_client(
        sequence(json_response({}, 429, {"Retry-After": "7"}), json_response([])), time
    )
    async with client as dz:
        await dz.fetch(Query("clients"))
    assert sum(time.sleeps) == 7.0


async def test_retry_after_over_the_cap_raises_rate_limit_error() -> None:
    time = FakeTime()
    client, transport = make_client(lambda r: json_response({}, 429, {"Retry-After": "600"}), time)
    async with client as dz:
        with pytest.raises(RateLimitError) as caught:
            await dz.fetch(Query("clients"))
    assert caught.value.retry_after == 600.0 and caught.value.status == 429
    assert len(transport.requests) == 1 and time.sleeps == []


async def test_a_429_pauses_every_request_of_the_client() -> None:
    time = FakeTime()
    sent_at: list[tuple[str, float]] = []
    first = True

    async def handler(request: Request) -> Response:
        nonlocal first
        sent_at.append((request.url.raw_path, time.now))
        if first:
            first = False
            return json_response({}, 429, {"Retry-After": "5"})
        return json_response([])

    client, _ = make_client(handler, time, max_concurrency=1)
    async with client as dz:
        await asyncio.gather(dz.fetch(Query("clients")), dz.fetch(Query("workers")))
    # workers was queued behind the 429: it waits out the pause too, not just clients.
    assert sent_at[0] == ("/v2/clients", 0.0)
    assert all(at >= 5.0 for _, at in sent_at[1:])


async def test_the_total_deadline_stops_retrying() -> None:
    time = FakeTime()
    client, transport = make_client(
        lambda r: json_response({}, 503, {"Retry-After": "20"}),
        time,
        timeout=Timeouts(total=30),
    )
    async with client as dz:
        with pytest.raises(ServerError) as caught:
            await dz.fetch(Query("clients"))
    assert caught.value.retries == 1 and len(transport.requests) == 2


#: The total timeout of the tests whose first attempt hangs. A call after the cut must
#: finish within it too, so it is generous: a loaded machine must not be able to fail it.
HANG_CUT = 0.5


def hang_first(answer: Response) -> Callable[[Request], Any]:
    """A handler whose first request never gets an answer; later ones get ``answer``."""
    calls = 0

    async def handler(request: Request) -> Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()
        return answer

    return handler


async def test_one_slow_attempt_is_cut_short_at_the_total_deadline() -> None:
    client, transport = make_client(
        hang_first(json_response([{"id": 1}])), timeout=Timeouts(total=HANG_CUT)
    )
    async with client as dz:
        with pytest.raises(RequestTimeout, match="total timeout") as caught:
            # (wait_for: were the attempt not cut, this would fail, not hang.)
            await asyncio.wait_for(dz.fetch(Query("clients")), 30)
        # The deadline is spent: no retry. The slot was freed, so the client goes on.
        assert len(transport.requests) == 1
        assert await dz.fetch(Query("clients")) == [{"id": 1}]
    assert caught.value.outcome_unknown is False and caught.value.retries == 0


async def test_a_write_cut_short_at_the_deadline_is_not_resent_and_may_have_happened() -> None:
    client, transport = make_client(
        hang_first(json_response({"id": 3}, 201)), timeout=Timeouts(total=HANG_CUT)
    )
    async with client as dz:
        with pytest.raises(RequestTimeout) as caught:
            await asyncio.wait_for(dz._send(write()), 30)
    assert caught.value.outcome_unknown is True and len(transport.requests) == 1


async def test_a_stream_that_does_not_start_is_cut_short_at_the_total_deadline() -> None:
    client, transport = make_client(hang_first(json_response([])), timeout=Timeouts(total=HANG_CUT))

    async def open_stream(dz: Client) -> None:
        async with dz._stream(dz._get("/v2/clients")):
            pass

    async with client as dz:
        with pytest.raises(RequestTimeout, match="total timeout"):
            await asyncio.wait_for(open_stream(dz), 30)
    assert len(transport.requests) == 1


async def test_concurrent_calls_are_each_cut_at_their_deadline_and_nothing_is_left_watched() -> (
    None
):
    async def handler(request: Request) -> Response:
        if request.url.path == "/v2/workers":
            await asyncio.Event().wait()  # never answers
        return json_response([{"id": 1}])

    client, _ = make_client(handler, timeout=Timeouts(total=HANG_CUT), max_concurrency=8)
    async with client as dz:
        calls = [dz.fetch(Query("workers" if i % 2 else "clients")) for i in range(12)]
        outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 30)
        assert [isinstance(o, RequestTimeout) for o in outcomes] == [i % 2 == 1 for i in range(12)]
        assert [o for o in outcomes if not isinstance(o, Exception)] == [[{"id": 1}]] * 6
        assert not dz._watchdog._due  # every attempt unwatched, cut or not


async def test_cancelling_a_call_mid_attempt_cancels_it_and_frees_its_slot() -> None:
    entered = asyncio.Event()
    answer = json_response([{"id": 2}])

    async def handler(request: Request) -> Response:
        if not entered.is_set():
            entered.set()
            await asyncio.Event().wait()
        return answer

    client, _ = make_client(handler, max_concurrency=1)
    async with client as dz:
        task = asyncio.create_task(dz.fetch(Query("clients")))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await dz.fetch(Query("clients")) == [{"id": 2}]


# -- retries: writes ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
async def test_writes_are_retried_when_the_server_did_not_act(status: int) -> None:
    client, transport = make_client(
        sequence(json_response({}, status), json_response({"id": 3}, 201))
    )
    async with client as dz:
        response = await dz._send(write())
    assert response.status == 201 and len(transport.requests) == 2


async def test_writes_are_retried_when_the_connection_failed_before_sending() -> None:
    client, transport = make_client(sequence(ConnectError("refused"), json_response({"id": 3})))
    async with client as dz:
        await dz._send(write())
    assert len(transport.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_writes_after_a_server_error_are_not_resent(status: int) -> None:
    client, transport = make_client(lambda r: json_response({"error": "oops"}, status))
    async with client as dz:
        with pytest.raises(ServerError) as caught:
            await dz._send(write(method="POST", path="/v2/clients/id/4"))
    assert caught.value.outcome_unknown is True and caught.value.retries == 0
    assert "outcome unknown" in str(caught.value)
    assert len(transport.requests) == 1


@pytest.mark.parametrize("error", [RequestTimeout("slow"), TransportError("dropped")])
async def test_writes_after_a_timeout_or_drop_are_not_resent(error: TransportError) -> None:
    client, transport = make_client(sequence(error, json_response({"id": 1})))
    async with client as dz:
        with pytest.raises(type(error)) as caught:
            await dz._send(write())
    assert caught.value.outcome_unknown is True
    assert len(transport.requests) == 1


# -- streaming ----------------------------------------------------------------------------


async def test_stream_retries_then_yields_the_body_in_chunks() -> None:
    body = b'[{"id": 1}, {"id": 2}]'
    transport = MockTransport(
        sequence(json_response({}, 503), Response(200, {}, body)), chunk_size=5
    )
    time = FakeTime()
    async with Client(*KEYS, transport=transport, retry=time.policy()) as dz:  # noqa: SIM117
        async with dz._stream(dz._get("/v2/clients")) as response:
            chunks = [chunk async for chunk in response.chunks]
    assert b"".join(chunks) == body and len(chunks) == 5
    assert len(transport.requests) == 2


async def test_stream_error_status_raises_the_mapped_error() -> None:
    transport = MockTransport(lambda r: json_response({"error": "bad keys"}, 401))
    async with Client(*KEYS, transport=transport) as dz:
        with pytest.raises(AuthenticationError, match="bad keys"):
            async with dz._stream(dz._get("/v2/clients")):
                pass


# -- logging ------------------------------------------------------------------------------


async def test_log_lines_mask_values_and_never_hold_keys(caplog: pytest.LogCaptureFixture) -> None:
    client, _ = make_client(sequence(json_response({}, 503), json_response([])))
    caplog.set_level(logging.DEBUG, logger="dizions_async")
    async with client as dz:
        await dz.fetch(Query("clients").filter(nhs_number="4857773456"))
    text = caplog.text
    assert "GET /v2/clients/nhs_number/*** -> 503" in text and "attempt 1" in text
    assert "GET /v2/clients/nhs_number/*** -> 200" in text and "attempt 2" in text
    assert any(r.levelno == logging.WARNING and "retrying" in r.message for r in caplog.records)
    assert "4857773456" not in text and not any(key in text for key in KEYS)


async def test_log_values_shows_filter_values(caplog: pytest.LogCaptureFixture) -> None:
    client, _ = make_client(lambda r: json_response([]), log_values=True)
    caplog.set_level(logging.DEBUG, logger="dizions_async")
    async with client as dz:
        await dz.fetch(Query("clients").filter(nhs_number="4857773456"))
    assert "/v2/clients/nhs_number/4857773456" in caplog.text


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
async def test_queued_uploads_hold_no_open_files(tmp_path: Path) -> None:
    paths = []
    for i in range(12):
        path = tmp_path / f"letter{i}.txt"
        path.write_bytes(b"dear client")
        paths.append(path)
    release = asyncio.Event()
    started = 0

    async def handler(request: Request) -> Response:
        nonlocal started
        started += 1
        mine = started
        await release.wait()
        return json_response({"id": mine, "ids": [mine]}, 201)

    client, _ = make_client(handler, max_concurrency=2)
    async with client as dz:
        before = len(os.listdir("/proc/self/fd"))
        uploads = [
            asyncio.create_task(dz.upload("clients", 7, p, user_visibility=1, group_visibility=1))
            for p in paths
        ]
        while started < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the other ten are queued by now
        opened = len(os.listdir("/proc/self/fd")) - before
        release.set()
        results = await asyncio.gather(*uploads)
    assert opened <= 2  # the two being sent; none for the ten waiting
    assert sorted(r.ids[0] for r in results) == list(range(1, 13))
