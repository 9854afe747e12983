"""The fake server's fault injection, request log and in-flight count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from dizions_async.testing import FakeDizions, FaultConfig
from dizions_async.testing._faults import parse_fault_rule


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=50, seed=3) as server:
        yield server


@pytest.fixture
async def http(fake: FakeDizions) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(fake.url, headers=fake.headers) as session:
        # aiohttp silently resends GET and PUT once when the connection drops; turn that
        # off so each test sees exactly what the server did.
        session._retry_connection = False
        yield session


async def status_of(http: aiohttp.ClientSession, method: str, path: str, **kw: object) -> int:
    async with http.request(method, path, **kw) as response:  # type: ignore[arg-type]
        await response.read()
        return response.status


async def test_429_with_retry_after_for_the_next_n_requests_only(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    fake.faults.set(rate_429=1.0, retry_after="7", times=2)
    for _ in range(2):
        async with http.get("/v2/workers") as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "7"
            assert "error" in await response.json()
    assert await status_of(http, "GET", "/v2/workers") == 200
    assert fake.faults.rules == []
    assert [r.fault for r in fake.requests] == ["429", "429", None]


async def test_route_rule_hits_only_its_method_and_prefix(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    fake.faults.set("GET /v2/clients", rate_503=1.0)
    assert await status_of(http, "GET", "/v2/clients/id/1") == 503
    assert await status_of(http, "GET", "/v2/clients") == 503
    assert await status_of(http, "GET", "/v2/clinics") == 200
    assert await status_of(http, "POST", "/v2/clients/id/1", data={"surname": "Z"}) == 200
    fake.faults.clear()
    assert await status_of(http, "GET", "/v2/clients/id/1") == 200


async def test_newest_matching_rule_wins(fake: FakeDizions, http: aiohttp.ClientSession) -> None:
    fake.faults.set(rate_503=1.0)
    fake.faults.set("GET /v2/workers", rate_429=1.0, times=1)
    assert await status_of(http, "GET", "/v2/workers") == 429
    assert await status_of(http, "GET", "/v2/workers") == 503


async def test_drop_closes_the_connection_without_a_response(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    fake.faults.set("PUT /v2/clients", drop=1.0, times=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await status_of(http, "PUT", "/v2/clients", data={"first_name": "A", "surname": "B"})
    assert fake.requests[-1].status == 0
    assert fake.requests[-1].fault == "drop"
    # A dropped write was never handled.
    assert fake.store.count("clients") == 50


@pytest.mark.parametrize(
    ("mode", "error"),
    [("500", None), ("drop", aiohttp.ServerDisconnectedError)],
)
async def test_commit_then_fail_commits_the_write_then_fails(
    fake: FakeDizions,
    http: aiohttp.ClientSession,
    mode: str,
    error: type[Exception] | None,
) -> None:
    fake.faults.set("PUT /v2/clients", commit_then_fail=1.0, commit_fail_mode=mode, times=1)
    data = {"first_name": "Un", "surname": "Known"}
    if error is None:
        assert await status_of(http, "PUT", "/v2/clients", data=data) == 500
    else:
        with pytest.raises(error):
            await status_of(http, "PUT", "/v2/clients", data=data)
    assert fake.store.rows("clients", surname="Known")
    assert fake.requests[-1].fault == f"commit_then_{mode}"


async def test_commit_then_fail_leaves_reads_alone_and_hits_writes(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    fake.faults.set(commit_then_fail=1.0)
    assert await status_of(http, "GET", "/v2/workers") == 200
    assert fake.requests[-1].fault is None
    assert await status_of(http, "POST", "/v2/clients/id/1", data={"postcode": "A1"}) == 500
    assert fake.requests[-1].fault == "commit_then_500"


async def test_shares_are_deterministic_for_a_seed() -> None:
    async def statuses(seed: int) -> list[int]:
        async with (
            FakeDizions(clients=5, seed=seed) as fake,
            aiohttp.ClientSession(fake.url, headers=fake.headers) as http,
        ):
            fake.faults.set(rate_429=0.3, rate_503=0.3)
            return [await status_of(http, "GET", "/v2/workers") for _ in range(30)]

    first, again, other = await statuses(5), await statuses(5), await statuses(6)
    assert first == again
    assert first != other
    assert {200, 429, 503} == set(first)


async def test_latency_lets_requests_overlap_and_peak_in_flight_counts_them(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    # Long enough that all six overlap at the server however slow the machine.
    fake.faults.set(latency=1.0)
    statuses = await asyncio.gather(*(status_of(http, "GET", "/v2/workers") for _ in range(6)))
    assert statuses == [200] * 6
    assert fake.peak_in_flight == 6


async def test_request_log_masks_the_keys(fake: FakeDizions, http: aiohttp.ClientSession) -> None:
    await status_of(http, "PUT", "/v2/clients", data={"first_name": "A", "surname": "B"})
    entry = fake.requests[-1]
    assert (entry.method, entry.path, entry.status) == ("PUT", "/v2/clients", 201)
    assert entry.body_size == len("first_name=A&surname=B")
    for name in ("Source", "Org", "User"):
        assert entry.headers[name] == "***"
    text = repr(fake.requests) + repr(fake.keys) + repr(fake)
    for key in fake.keys.headers.values():
        assert key not in text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_429": 1.5},
        {"rate_429": 0.6, "rate_503": 0.6},
        {"commit_fail_mode": "timeout"},
        {"times": 0},
        {"route": "clients"},
    ],
)
def test_bad_fault_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FaultConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "PUT /v2/clients:commit_then_fail=0.1,drop=0.05,latency=0.01",
            FaultConfig("PUT /v2/clients", commit_then_fail=0.1, drop=0.05, latency=0.01),
        ),
        ("rate_429=0.5, times=3", FaultConfig(rate_429=0.5, times=3)),
        (
            "GET /v2/x:rate_429=1,retry_after=Wed, 21 Oct 2015 07:28:00 GMT",
            FaultConfig("GET /v2/x", rate_429=1, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"),
        ),
        (
            "commit_then_fail=1,commit_fail_mode=drop",
            FaultConfig(commit_then_fail=1, commit_fail_mode="drop"),
        ),
    ],
)
def test_fault_rules_parse_from_their_command_line_form(text: str, expected: FaultConfig) -> None:
    assert parse_fault_rule(text) == expected


@pytest.mark.parametrize(
    "text", ["", "drop", "x=1", "times=-1", "times=0", "drop=0.7,rate_503=0.7"]
)
def test_bad_fault_rule_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_fault_rule(text)


async def test_request_log_masks_wrong_keys_in_any_header_case(fake: FakeDizions) -> None:
    sent = {"source": "wrong-secret-1", "ORG": "wrong-secret-2", "uSeR": "wrong-secret-3"}
    async with (
        aiohttp.ClientSession(fake.url, headers=sent) as session,
        session.get("/v2/clients") as response,
    ):
        assert response.status == 401
    text = repr(fake.requests) + repr(fake.state)
    assert "***" in text
    for secret in [*sent.values(), *fake.keys.headers.values()]:
        assert secret not in text
