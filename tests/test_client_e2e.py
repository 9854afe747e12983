"""End to end: the Client against the fake Dizions server over real loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from dizions_async import Client, DictionaryEntry, Query, RetryPolicy, Timeouts
from dizions_async.errors import (
    AuthenticationError,
    NotFoundError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    TransportError,
)
from dizions_async.protocol import FORM_CONTENT_TYPE
from dizions_async.testing import FakeDizions

FAST = RetryPolicy(backoff_base=0.001, backoff_max=0.01)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=120, seed=3) as server:
        yield server


def client_for(fake: FakeDizions, **kwargs: object) -> Client:
    kwargs.setdefault("retry", FAST)
    return fake.client(**kwargs)


async def test_reads_match_the_store(fake: FakeDizions) -> None:
    async with client_for(fake) as dz:
        rows = await dz.fetch(Query("clients").filter(gender=1))
        bound = await dz.query("clients").filter(gender=1)
        one = await dz.fetch_one(Query("clients").id(rows[0]["id"]))
        with pytest.raises(NotFoundError):
            await dz.fetch_one(Query("clients").id(999_999))
    expected = fake.store.rows("clients", gender=1)
    assert len(rows) == len(expected) > 0
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in expected)
    assert bound == rows and one["id"] == rows[0]["id"]


async def test_report_with_metric_and_filters_counts_the_records(fake: FakeDizions) -> None:
    async with client_for(fake) as dz:
        report = await dz.report(
            Query("clients").filter(active=True).dimension("district").metric("gender")
        )
        rows = await dz.fetch(Query("clients").filter(active=True))
    assert report.has_metric and report.total == len(rows) > 0
    district, gender, count = report.rows()[0]
    assert report[district][gender] == count


async def test_field_lists_dictionaries_and_resolve(fake: FakeDizions) -> None:
    async with client_for(fake) as dz:
        assert "surname" in await dz.selectable_fields("clients")
        assert "gender" in await dz.filterable_fields("clients")
        assert isinstance(await dz.metrics("clients"), list)
        districts = await dz.dictionary("organisations", "district")
        assert districts and all(isinstance(e, DictionaryEntry) for e in districts)
        found = await dz.dictionary_search("organisations", "district", districts[0].name[:3])
        assert districts[0] in found
        everything = await dz.dictionary_all()
        assert everything["organisations"]["district"] == districts
        rows = await dz.fetch(Query("clients").fields("id", "district"))
        spec = {"district": ("organisations", "district")}
        resolved, again = await asyncio.gather(dz.resolve(rows, spec), dz.resolve(rows, spec))
    names = {e.id: e.name for e in districts}
    assert resolved == again
    assert all(
        r["district"] == names.get(o["district"], o["district"])
        for r, o in zip(resolved, rows, strict=True)
    )
    fetched = [r for r in fake.requests if r.path.endswith("/dictionary/organisations/district")]
    assert len(fetched) == 2  # one by dictionary(), one shared by both resolves


async def test_bad_keys_raise_authentication_error_without_the_keys(fake: FakeDizions) -> None:
    keys = ("wrong-source-xyz", "wrong-org-xyz", "wrong-user-xyz")
    async with Client(*keys, base_url=fake.url, retry=FAST) as dz:
        with pytest.raises(AuthenticationError) as caught:
            await dz.fetch(Query("clients"))
    text = str(caught.value) + repr(caught.value) + caught.value.message
    assert caught.value.status == 401
    assert not any(k in text for k in (*keys, fake.keys.source, fake.keys.org, fake.keys.user))


async def test_the_concurrency_cap_is_never_exceeded(fake: FakeDizions) -> None:
    # Long enough that the first four overlap at the server however slow the machine.
    fake.faults.set(latency=0.25)
    async with client_for(fake, max_concurrency=4) as dz:
        await asyncio.gather(*(dz.fetch(Query("workers")) for _ in range(12)))
    assert fake.peak_in_flight == 4


async def test_429_with_retry_after_is_waited_out_and_retried(fake: FakeDizions) -> None:
    fake.faults.set("GET /v2/clients", rate_429=1.0, retry_after="0.05", times=2)
    async with client_for(fake) as dz:
        rows = await dz.fetch(Query("clients"))
    assert rows and [r.status for r in fake.requests] == [429, 429, 200]


async def test_429_beyond_the_cap_raises_rate_limit_error(fake: FakeDizions) -> None:
    fake.faults.set(rate_429=1.0, retry_after="3600", times=1)
    async with client_for(fake) as dz:
        with pytest.raises(RateLimitError) as caught:
            await dz.fetch(Query("clients"))
    assert caught.value.retry_after == 3600.0 and len(fake.requests) == 1


async def test_503_is_retried_until_it_clears(fake: FakeDizions) -> None:
    fake.faults.set(rate_503=1.0, times=2)
    async with client_for(fake) as dz:
        assert await dz.fetch(Query("workers")) is not None
    assert [r.status for r in fake.requests] == [503, 503, 200]


async def test_503_that_never_clears_gives_up_with_the_retry_count(fake: FakeDizions) -> None:
    fake.faults.set(rate_503=1.0)
    async with client_for(fake) as dz:
        with pytest.raises(ServerError) as caught:
            await dz.fetch(Query("workers"))
    assert caught.value.retries == 3 and len(fake.requests) == 4


async def test_a_dropped_connection_is_retried_for_reads(fake: FakeDizions) -> None:
    fake.faults.set(drop=1.0, times=1)
    async with client_for(fake) as dz:
        assert await dz.fetch(Query("workers")) is not None
    assert [r.status for r in fake.requests] == [0, 200]


async def test_latency_over_the_read_timeout_is_retried(
    fake: FakeDizions, caplog: pytest.LogCaptureFixture
) -> None:
    # The retry must answer within the read timeout: generous, so a loaded machine cannot
    # fail it; the first attempt's latency is well past it.
    fake.faults.set(latency=2.5, times=1)
    async with client_for(fake, timeout=Timeouts(read=1.0)) as dz:
        assert await dz.fetch(Query("workers")) is not None
    assert "after RequestTimeout (retry 1 of 3)" in caplog.text


async def test_latency_over_the_read_timeout_raises_request_timeout(fake: FakeDizions) -> None:
    fake.faults.set(latency=1.0)
    retry = RetryPolicy(max_retries=0)
    async with client_for(fake, timeout=Timeouts(read=0.05), retry=retry) as dz:
        with pytest.raises(RequestTimeout):
            await dz.fetch(Query("workers"))


async def test_a_slow_answer_within_the_read_timeout_is_cut_at_the_total(
    fake: FakeDizions,
) -> None:
    # The second call must finish within the total: generous, so a loaded machine
    # cannot fail it; the first one's latency is well past it.
    fake.faults.set(latency=2.5, times=1)
    async with client_for(fake, timeout=Timeouts(read=30, total=1.0)) as dz:
        with pytest.raises(RequestTimeout, match="total timeout"):
            await asyncio.wait_for(dz.fetch(Query("workers")), 30)
        # The cut connection is not reused half-read: the next call gets a whole answer.
        assert await dz.fetch(Query("workers")) is not None
    assert len(fake.requests) >= 1


def _create(dz: Client) -> object:
    request = dz._request(
        "PUT", "/v2/clients", body=b"first_name=Ann&surname=Lee", content_type=FORM_CONTENT_TYPE
    )
    return dz._send(request)


async def test_a_write_dropped_after_commit_is_not_resent(fake: FakeDizions) -> None:
    before = fake.store.count("clients")
    fake.faults.set("PUT /v2/clients", commit_then_fail=1.0, commit_fail_mode="drop", times=1)
    async with client_for(fake) as dz:
        with pytest.raises(TransportError) as caught:
            await _create(dz)  # type: ignore[misc]
    assert caught.value.outcome_unknown is True
    assert fake.store.count("clients") == before + 1 and len(fake.requests) == 1


async def test_a_write_answered_500_after_commit_is_not_resent(fake: FakeDizions) -> None:
    before = fake.store.count("clients")
    fake.faults.set("PUT /v2/clients", commit_then_fail=1.0, times=1)
    async with client_for(fake) as dz:
        with pytest.raises(ServerError) as caught:
            await _create(dz)  # type: ignore[misc]
    assert caught.value.outcome_unknown is True
    assert fake.store.count("clients") == before + 1 and len(fake.requests) == 1


async def test_a_write_refused_with_503_is_resent_once_accepted(fake: FakeDizions) -> None:
    before = fake.store.count("clients")
    fake.faults.set("PUT /v2/clients", rate_503=1.0, times=1)
    async with client_for(fake) as dz:
        response = await _create(dz)  # type: ignore[misc]
    assert response.status in (200, 201)  # type: ignore[attr-defined]
    assert fake.store.count("clients") == before + 1 and len(fake.requests) == 2


async def test_a_caller_owned_session_is_used_and_left_open(fake: FakeDizions) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with client_for(fake, session=session) as dz:
            assert await dz.fetch(Query("workers")) is not None
        assert not session.closed
