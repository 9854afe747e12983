"""Batching and streaming client behaviour through MockTransport: no network, no waiting."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pytest

from dizions_async import Client, MockTransport, Query, RetryPolicy
from dizions_async.errors import DecodeError, QueryError, ServerError
from dizions_async.protocol import Request, Response
from dizions_async.transport import json_response

KEYS = ("SRC-key-1", "ORG-key-2", "USR-key-3")


def echo_ids(request: Request) -> Response:
    """Answer an id query with one record per id, like the API."""
    parts = request.url.raw_path.split("/")
    ids = parts[parts.index("id") + 1].split(";") if "id" in parts else []
    return json_response([{"id": int(i), "name": f"n{i}"} for i in ids])


def make(handler: Any, **kwargs: Any) -> Client:
    kwargs.setdefault("retry", RetryPolicy(max_retries=0))
    return Client(*KEYS, base_url="https://api.example", transport=MockTransport(handler), **kwargs)


async def test_gather_of_thousands_keeps_only_a_pool_of_tasks() -> None:
    baseline = len(asyncio.all_tasks())
    peak = 0

    async def handler(request: Request) -> Response:
        nonlocal peak
        peak = max(peak, len(asyncio.all_tasks()) - baseline)
        await asyncio.sleep(0)
        return echo_ids(request)

    async with make(handler, max_concurrency=8) as dz:
        results = await dz.gather([Query("clients").id(i) for i in range(3000)])
    assert [r[0]["id"] for r in results] == list(range(3000))
    assert peak <= 8


async def test_split_fetch_structures_records_and_names_a_bad_one() -> None:
    @attrs.frozen
    class Named:
        id: int
        name: str

    async with make(echo_ids, max_url_length=200) as dz:
        people = await dz.fetch(Query("clients").id(*range(100)), Named)
        assert [p.id for p in people] == list(range(100))

        @attrs.frozen
        class Aged:
            id: int
            age: int

        with pytest.raises(DecodeError, match="does not fit Aged"):
            await dz.fetch(Query("clients").id(*range(100)), Aged)


async def test_bad_split_arguments_are_query_errors() -> None:
    async with make(echo_ids) as dz:
        with pytest.raises(QueryError, match="no value list 'gender'"):
            await dz.fetch(Query("clients").id(1, 2), split=("gender", 5))
        with pytest.raises(QueryError, match="no date range"):
            await dz.fetch(Query("clients").id(1, 2), split="month")
        with pytest.raises(QueryError, match="report"):
            await dz.fetch(Query("clients").dimension("gender"), split="month")
        with pytest.raises(QueryError, match="report"):
            [r async for r in dz.stream(Query("clients").dimension("gender"))]
        with pytest.raises(QueryError, match="report"):
            [r async for r in dz.stream_many([Query("clients").dimension("gender")])]


async def test_stream_many_stops_at_the_first_failed_piece_and_names_it() -> None:
    def handler(request: Request) -> Response:
        if "/id/13" in request.url.raw_path:
            return json_response({"error": "busy"}, status=503)
        return echo_ids(request)

    queries = [Query("clients").id(i) for i in range(40)]
    async with make(handler, max_concurrency=3) as dz:
        seen: list[dict[str, Any]] = []
        with pytest.raises(ServerError) as info:
            async for row in dz.stream_many(queries):
                seen.append(row)
    assert info.value.query == Query("clients").id(13)
    assert any("piece 14 of 40" in note for note in getattr(info.value, "__notes__", []))
    assert len(seen) < 40


async def test_stream_reads_a_chunked_body_and_structures_it() -> None:
    @attrs.frozen
    class Named:
        id: int
        name: str

    transport = MockTransport(echo_ids, chunk_size=7)  # many tiny chunks
    async with Client(*KEYS, base_url="https://api.example", transport=transport) as dz:
        rows = [r async for r in dz.stream(Query("clients").id(*range(50)), Named)]
    assert rows == [Named(i, f"n{i}") for i in range(50)]


async def test_stream_many_leaves_a_slot_for_calls_made_inside_its_loop() -> None:
    # A long body in small chunks with buffer=1: the reader blocks, its slot held,
    # while the consumer makes its own request; max_concurrency=2 leaves it one slot.
    many = json_response([{"id": i} for i in range(200)])

    def handler(request: Request) -> Response:
        return echo_ids(request) if "/id/" in request.url.raw_path else many

    transport = MockTransport(handler, chunk_size=16)
    looked_up = []
    async with Client(*KEYS, transport=transport, max_concurrency=2) as dz:
        async for row in dz.stream_many([Query("clients")], buffer=1):
            if row["id"] < 3:
                one = dz.fetch(Query("clients").id(row["id"] + 1000))
                looked_up.extend(await asyncio.wait_for(one, 30))
    assert [r["id"] for r in looked_up] == [1000, 1001, 1002]
