"""OpenTelemetry: a span per SDK call, a CLIENT span per attempt, traceparent on the wire;
checked with opentelemetry-sdk's in-memory exporter against the fake server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from dizions_async import Query, RetryPolicy, _otel
from dizions_async.errors import NotFoundError, ServerError
from dizions_async.testing import FakeDizions

FAST = RetryPolicy(backoff_base=0.001, backoff_max=0.01)
EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider() -> Iterator[None]:
    """One SDK provider for this module; afterwards the process is as it was, untraced."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    saved = (trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE, _otel._tracing)
    trace._TRACER_PROVIDER_SET_ONCE = trace.Once()  # type: ignore[attr-defined]
    trace.set_tracer_provider(tracer_provider)
    _otel._tracing = None
    yield
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE, _otel._tracing = saved  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def clear() -> None:
    EXPORTER.clear()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=30, seed=5) as server:
        yield server


def spans() -> list[ReadableSpan]:
    return list(EXPORTER.get_finished_spans())


def calls() -> list[ReadableSpan]:
    return [s for s in spans() if s.kind is SpanKind.INTERNAL and s.name.startswith("dizions ")]


def attempts() -> list[ReadableSpan]:
    return [s for s in spans() if s.kind is SpanKind.CLIENT]


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_a_fetch_makes_one_call_span_with_one_attempt_span_under_it(
    fake: FakeDizions,
) -> None:
    async with fake.client() as dz:
        await dz.fetch(Query("clients").filter(gender=1))
    (call,) = calls()
    (attempt,) = attempts()
    assert call.name == "dizions fetch"
    assert attrs_of(call) == {"dizions.resource": "clients", "dizions.retries": 0}
    assert attempt.name == "GET /v2/clients/gender/***"
    assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
    port = int(fake.url.rsplit(":", 1)[1])
    assert attrs_of(attempt) == {
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.scheme": "http",
        "url.template": "/v2/clients/gender/***",
    }
    assert attempt.status.status_code is StatusCode.UNSET


async def test_traceparent_carries_the_attempt_span_and_the_callers_trace(
    fake: FakeDizions,
) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("handle request") as outer:
        async with fake.client() as dz:
            await dz.fetch(Query("clients").id(1))
    (call,) = calls()
    (attempt,) = attempts()
    assert call.parent is not None and call.parent.span_id == outer.get_span_context().span_id
    sent = fake.requests[-1].headers["traceparent"]
    version, trace_id, span_id, flags = sent.split("-")
    assert int(trace_id, 16) == outer.get_span_context().trace_id
    assert int(span_id, 16) == attempt.context.span_id
    assert version == "00" and int(flags, 16) & 1  # sampled


async def test_retries_make_one_attempt_span_each_and_are_counted_on_the_call(
    fake: FakeDizions,
) -> None:
    fake.faults.set(rate_503=1.0, times=1)
    async with fake.client(retry=FAST) as dz:
        await dz.fetch(Query("clients").id(1))
    (call,) = calls()
    first, second = sorted(attempts(), key=lambda s: s.start_time or 0)
    assert attrs_of(call)["dizions.retries"] == 1
    assert attrs_of(first)["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in attrs_of(first)
    assert attrs_of(second)["http.request.resend_count"] == 1
    assert attrs_of(second)["http.response.status_code"] == 200


async def test_a_failed_call_names_the_error_type_and_never_its_message(
    fake: FakeDizions,
) -> None:
    async with fake.client(retry=FAST) as dz:
        with pytest.raises(NotFoundError):
            await dz.fetch_one(Query("clients").id(999_999))
    (call,) = calls()
    assert call.name == "dizions fetch_one"
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == "NotFoundError"
    assert attrs_of(call)["error.type"] == "NotFoundError"
    assert attrs_of(call)["dizions.outcome_unknown"] is False
    assert all(not s.events for s in spans())


async def test_a_write_that_may_have_happened_is_marked_outcome_unknown(
    fake: FakeDizions,
) -> None:
    fake.faults.set(commit_then_fail=1.0, times=1)
    async with fake.client(retry=FAST) as dz:
        with pytest.raises(ServerError):
            await dz.create_client({"first_name": "Ann", "surname": "Leesecret"})
    (call,) = calls()
    assert call.name == "dizions create_client"
    assert attrs_of(call)["dizions.outcome_unknown"] is True


async def test_a_client_create_read_back_before_resending_traces_each_attempt(
    fake: FakeDizions,
) -> None:
    # create_client with an external ID has its own send loop (read back before a
    # resend): its attempts are spans as any other call's.
    fake.faults.set(rate_503=1.0, times=1)
    async with fake.client(retry=FAST) as dz:
        await dz.create_client({"first_name": "Ann", "surname": "Lee"}, external_id="EXT-9")
    (call,) = calls()
    assert call.name == "dizions create_client"
    writes = [attrs_of(a) for a in attempts() if attrs_of(a)["http.request.method"] == "PUT"]
    assert [w.get("http.response.status_code") for w in writes] == [503, 201], writes


async def test_a_split_read_counts_its_pieces_under_one_call(fake: FakeDizions) -> None:
    async with fake.client() as dz:
        rows = await dz.fetch(Query("clients").id(*range(1, 13)), split=("id", 5))
    assert len(rows) == 12
    (call,) = calls()
    assert attrs_of(call)["dizions.pieces"] == 3
    pieces = attempts()
    assert len(pieces) == 3
    assert {s.parent.span_id for s in pieces if s.parent} == {call.context.span_id}


async def test_gather_and_stream_are_one_call_each(fake: FakeDizions) -> None:
    async with fake.client() as dz:
        await dz.gather([Query("clients").id(1), Query("clients").dimension("gender")])
        rows = [r async for r in dz.stream(Query("clients").id(2, 3))]
    assert len(rows) == 2
    assert sorted(s.name for s in calls()) == ["dizions gather", "dizions stream"]
    by_id = {s.context.span_id: s.name for s in calls()}
    assert sorted(by_id[s.parent.span_id] for s in attempts() if s.parent) == [
        "dizions gather",
        "dizions gather",
        "dizions stream",
    ]


@pytest.mark.parametrize("log_values", [False, True])
async def test_no_key_value_or_body_reaches_a_span(fake: FakeDizions, log_values: bool) -> None:
    # log_values=True shows values in log lines and errors; spans mask them all the same.
    async with fake.client(log_values=log_values) as dz:
        await dz.fetch(Query("clients").filter(postcode="ZZ9 9ZQ"))
        new_id = await dz.create_client({"first_name": "Ann", "surname": "Leesecret"})
        await dz.update("clients", new_id, {"postcode": "ZZ9 9ZQ"})
    seen = repr([(s.name, s.attributes, s.events, s.status) for s in spans()])
    for secret in (*fake.keys.headers.values(), "ZZ9", "Leesecret", "Ann"):
        assert secret not in seen
    assert "/v2/clients/postcode/***" in seen


def test_importing_the_sdk_does_not_import_opentelemetry() -> None:
    code = (
        "import sys, dizions_async, dizions_async.cli\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_sdk_works_where_opentelemetry_cannot_be_imported() -> None:
    code = (
        "import sys, asyncio\n"
        "sys.modules['opentelemetry'] = None  # as if not installed\n"
        "from dizions_async import Client, MockTransport, Query\n"
        "from dizions_async.transport import json_response\n"
        "async def main():\n"
        "    t = MockTransport(lambda r: json_response([{'id': 1}]))\n"
        "    async with Client('s', 'o', 'u', transport=t) as dz:\n"
        "        print(len(await dz.fetch(Query('clients'))))\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


async def test_a_stream_left_early_ends_its_span_without_an_error(fake: FakeDizions) -> None:
    import contextlib

    async with fake.client() as dz:
        async with contextlib.aclosing(dz.stream(Query("clients"))) as rows:
            async for _ in rows:
                break
        assert len(await dz.fetch(Query("clients").id(1))) == 1  # the slot was freed
    stream_call, fetch_call = sorted(calls(), key=lambda s: s.start_time or 0)
    assert stream_call.name == "dizions stream"
    assert stream_call.status.status_code is StatusCode.UNSET
    assert "error.type" not in attrs_of(stream_call)
    assert fetch_call.parent is None or fetch_call.parent.span_id != stream_call.context.span_id
