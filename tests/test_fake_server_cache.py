"""The fake server's read cache: repeated reads are answered the same, never from before a write."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dizions_async.testing import FakeDizions
from dizions_async.testing._cache import ReadCache


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=60, seed=2) as server:
        yield server


@pytest.fixture
async def http(fake: FakeDizions) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(fake.url, headers=fake.headers) as session:
        yield session


async def send(http: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> Any:
    async with http.request(method, path, **kw) as response:
        body = await response.json()
        assert response.status < 300, body
        return body


async def test_a_repeated_read_answers_the_same_records(http: aiohttp.ClientSession) -> None:
    path = "/v2/clients/gender/1;2/field/id;surname"
    first = await send(http, "GET", path)
    assert first and await send(http, "GET", path) == first


async def test_a_read_after_a_create_sees_the_new_record(http: aiohttp.ClientSession) -> None:
    path = "/v2/clients/surname/Zed/field/id"
    assert await send(http, "GET", path) == []
    made = await send(http, "PUT", "/v2/clients", data={"first_name": "Al", "surname": "Zed"})
    assert await send(http, "GET", path) == [{"id": made["id"]}]


async def test_a_report_after_an_update_counts_the_new_value(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    path = "/v2/clients/id/1/dimension/postcode"
    assert await send(http, "GET", path) == {fake.store.rows("clients", id=1)[0]["postcode"]: 1}
    await send(http, "POST", "/v2/clients/id/1", data={"postcode": "ZZ1 1ZZ"})
    assert await send(http, "GET", path) == {"ZZ1 1ZZ": 1}


async def test_faults_still_hit_a_read_answered_from_the_cache(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    await send(http, "GET", "/v2/workers")
    fake.faults.set("GET /v2/workers", rate_503=1.0, times=1)
    async with http.get("/v2/workers") as response:
        assert response.status == 503
    assert len(fake.requests) == 2


async def test_an_unknown_id_stays_404_when_asked_twice(http: aiohttp.ClientSession) -> None:
    for _ in range(2):
        async with http.get("/v2/clients/id/99999") as response:
            assert response.status == 404


def test_a_new_version_empties_the_cache() -> None:
    cache = ReadCache()
    cache.put(None, "/v2/x", b"[]")  # before the first get: not the current version
    assert cache.get((1, 1), "/v2/x") is None
    cache.put((1, 1), "/v2/x", b"[1]")
    assert cache.get((1, 1), "/v2/x") == b"[1]"
    assert cache.get((2, 1), "/v2/x") is None
    assert len(cache) == 0


def test_the_cache_keeps_no_more_than_its_byte_budget() -> None:
    cache = ReadCache(max_bytes=10, max_item=6)
    cache.get("v", "/a")
    cache.put("v", "/big", b"x" * 7)
    cache.put("v", "/a", b"x" * 6)
    cache.put("v", "/b", b"x" * 6)
    assert (cache.get("v", "/big"), cache.get("v", "/a"), cache.get("v", "/b")) == (
        None,
        None,
        b"x" * 6,
    )


async def test_a_read_sees_a_write_another_connection_made_to_the_db_file(
    tmp_path: Path,
) -> None:
    db = tmp_path / "fake.sqlite3"
    async with (
        FakeDizions(clients=5, seed=1, db_path=db) as fake,
        aiohttp.ClientSession(fake.url, headers=fake.headers) as http,
    ):
        path = "/v2/clients/id/1/field/surname"
        assert await send(http, "GET", path) != [{"surname": "Elsewhere"}]
        with contextlib.closing(sqlite3.connect(db)) as other, other:
            other.execute("UPDATE clients SET surname = 'Elsewhere' WHERE id = 1")
        assert await send(http, "GET", path) == [{"surname": "Elsewhere"}]
