"""Batching and streaming end to end: Client against the fake Dizions server over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest

from dizions_async import Client, Query, RetryPolicy
from dizions_async.batching import split_to_fit
from dizions_async.errors import APIError, NotFoundError, QueryError, ServerError
from dizions_async.testing import FakeDizions

D = dt.date
FAST_RETRY = RetryPolicy(max_retries=8, backoff_base=0.001, backoff_max=0.002)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=3000, seed=3) as server:
        yield server


def client(fake: FakeDizions, **kwargs: Any) -> Client:
    kwargs.setdefault("retry", FAST_RETRY)
    return fake.client(**kwargs)


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in rows]


def requested_ids(fake: FakeDizions) -> list[int]:
    out: list[int] = []
    for logged in fake.requests:
        parts = logged.path.split("?")[0].split("/")
        if "id" in parts and logged.status == 200:
            out.extend(int(i) for i in parts[parts.index("id") + 1].split(";"))
    return out


# -- gather ---------------------------------------------------------------------------------


async def test_gather_returns_results_in_input_order(fake: FakeDizions) -> None:
    wanted = random.Random(7).sample(range(1, 3001), 60)
    async with client(fake, max_concurrency=5) as dz:
        results = await dz.gather([Query("clients").id(i).fields("id") for i in wanted])
    assert results == [[{"id": i}] for i in wanted]
    assert fake.peak_in_flight <= 5


async def test_gather_runs_reports_too(fake: FakeDizions) -> None:
    async with client(fake) as dz:
        rows, report = await dz.gather(
            [Query("clients").id(1, 2), Query("clients").dimension("gender")]
        )
    assert ids(rows) == [1, 2]
    assert report.total == 3000


async def test_gather_cancels_the_rest_on_the_first_failure(fake: FakeDizions) -> None:
    queries = [Query("clients").id(i) for i in range(1, 301)]
    bad = Query("clients").id(2).fields("no_such_field")  # the server answers 400
    queries[1] = bad
    async with client(fake, max_concurrency=3) as dz:
        with pytest.raises(APIError) as info:
            await dz.gather(queries)
    assert info.value.status == 400
    assert info.value.query == bad
    assert len(fake.requests) < 50  # the other 299 were not all sent
    assert any("query 2 of 300" in note for note in getattr(info.value, "__notes__", []))


async def test_gather_with_return_exceptions_puts_each_failure_in_its_place(
    fake: FakeDizions,
) -> None:
    bad = Query("clients").id(2).fields("no_such_field")
    async with client(fake, max_concurrency=2) as dz:
        results = await dz.gather(
            [Query("clients").id(1), bad, Query("clients").id(3), bad], return_exceptions=True
        )
    assert ids(results[0]) == [1]
    assert ids(results[2]) == [3]
    for failed in (results[1], results[3]):
        assert isinstance(failed, APIError)
        assert failed.status == 400


async def test_gather_reports_progress_per_query(fake: FakeDizions) -> None:
    seen: list[tuple[int, int]] = []
    async with client(fake) as dz:
        await dz.gather(
            [Query("clients").id(i) for i in range(1, 6)],
            on_progress=lambda done, total: seen.append((done, total)),
        )
    assert seen == [(i, 5) for i in range(6)]


# -- automatic splitting --------------------------------------------------------------------


async def test_a_10000_id_list_is_split_to_fit_and_every_id_fetched_once(
    fake: FakeDizions,
) -> None:
    wanted = list(range(1, 10_001))
    random.Random(1).shuffle(wanted)
    limit = 1500
    progress: list[tuple[int, int]] = []
    q = Query("clients").id(*wanted).fields("id", "surname")
    async with client(fake, max_url_length=limit, max_concurrency=8) as dz:
        rows = await dz.fetch(q, on_progress=lambda d, t: progress.append((d, t)))
    assert all(len(fake.url) + len(r.path) <= limit for r in fake.requests)
    assert Counter(requested_ids(fake)) == Counter(wanted)  # every id asked for once
    assert sorted(ids(rows)) == list(range(1, 3001))  # the store has 3,000 clients
    assert len(rows) == len(set(ids(rows)))
    pieces = len(fake.requests)
    assert pieces > 1
    assert progress == [(i, pieces) for i in range(pieces + 1)]
    # Records come piece by piece in the order of the list (the server sorts each piece).
    planned = split_to_fit(q, fake.url, limit)
    assert len(planned) == pieces
    assert ids(rows) == [i for p in planned for i in sorted(p.ids) if i <= 3000]


async def test_the_longest_filter_list_is_split_too(fake: FakeDizions) -> None:
    postcodes = sorted({c["postcode"] for c in fake.store.rows("clients")})
    q = Query("clients").filter(postcode=postcodes).fields("id")
    async with client(fake, max_url_length=600) as dz:
        rows = await dz.fetch(q)
    assert len(fake.requests) > 1
    assert all(len(fake.url) + len(r.path) <= 600 for r in fake.requests)
    assert sorted(ids(rows)) == list(range(1, 3001))


async def test_a_small_query_is_one_request_as_before(fake: FakeDizions) -> None:
    seen: list[tuple[int, int]] = []
    async with client(fake) as dz:
        rows = await dz.fetch(
            Query("clients").id(5, 6), on_progress=lambda d, t: seen.append((d, t))
        )
    assert ids(rows) == [5, 6]
    assert len(fake.requests) == 1
    assert seen == [(0, 1), (1, 1)]


async def test_a_value_that_cannot_fit_is_refused_before_sending(fake: FakeDizions) -> None:
    q = Query("clients").filter(postcode=["A" * 300, "B"])
    async with client(fake, max_url_length=200) as dz:
        with pytest.raises(QueryError, match="'postcode'"):
            await dz.fetch(q)
    assert fake.requests == []


@attrs.frozen
class Person:
    id: int
    surname: str


async def test_split_pulls_structure_records_with_as(fake: FakeDizions) -> None:
    async with client(fake, max_url_length=300) as dz:
        people = await dz.fetch(Query("clients").id(*range(1, 201)).fields("id", "surname"), Person)
    assert [p.id for p in people] == list(range(1, 201))
    assert all(isinstance(p, Person) for p in people)


async def test_split_by_value_chunks(fake: FakeDizions) -> None:
    async with client(fake) as dz:
        rows = await dz.fetch(Query("clients").id(*range(1, 101)), split=("id", 30))
    assert len(fake.requests) == 4
    assert ids(rows) == list(range(1, 101))


# -- date windows ---------------------------------------------------------------------------


def requested_windows(fake: FakeDizions, key: str) -> list[tuple[dt.date, dt.date]]:
    out = []
    for logged in fake.requests:
        parts = logged.path.split("/")
        first, last = parts[parts.index(key) + 1].split(",")
        out.append((D.fromisoformat(first), D.fromisoformat(last)))
    return sorted(out)


@pytest.mark.parametrize(
    ("unit", "start", "end"),
    [
        ("day", D(2020, 2, 20), D(2020, 3, 3)),  # through 29 February of a leap year
        ("week", D(2019, 12, 18), D(2020, 3, 10)),
        ("month", D(2019, 11, 15), D(2021, 3, 10)),  # month ends, Feb 2020 and Feb 2021
        ("year", D(2018, 6, 1), D(2023, 12, 31)),
        (45, D(2019, 1, 1), D(2020, 12, 31)),
    ],
)
async def test_split_by_date_windows_equals_the_whole_pull(
    fake: FakeDizions, unit: str | int, start: dt.date, end: dt.date
) -> None:
    q = Query("referrals").date_range("date", start, end).fields("id", "date")
    async with client(fake) as dz:
        whole = await dz.fetch(q)
        fake.requests.clear()
        pieces = await dz.fetch(q, split=unit)
    assert sorted(ids(pieces)) == sorted(ids(whole))
    assert whole  # the range holds referrals
    windows = requested_windows(fake, "date")
    assert windows[0][0] == start
    assert windows[-1][1] == end
    for (_, last), (first, _) in itertools.pairwise(windows):
        assert first == last + dt.timedelta(days=1)
    if unit == "month":
        assert (D(2020, 2, 1), D(2020, 2, 29)) in windows
        assert (D(2021, 2, 1), D(2021, 2, 28)) in windows


async def test_date_active_overlaps_are_de_duplicated(fake: FakeDizions) -> None:
    q = Query("referrals").date_range("date_active", D(2019, 1, 1), D(2021, 12, 31)).fields("id")
    async with client(fake) as dz:
        whole = await dz.fetch(q)
        windows = q.split_dates("month")
        per_window = await dz.gather(windows)
        merged = await dz.fetch(q, split="month")
    overlapping = sum(len(rows) for rows in per_window)
    assert overlapping > len(whole)  # some referrals are active in several months
    assert sorted(ids(merged)) == sorted(ids(whole))
    assert len(set(ids(merged))) == len(merged)


# -- streams --------------------------------------------------------------------------------


async def test_stream_yields_what_fetch_returns(fake: FakeDizions) -> None:
    q = Query("referrals")
    async with client(fake) as dz:
        fetched = await dz.fetch(q)
        streamed = [row async for row in dz.stream(q)]
    assert streamed == fetched
    assert len(streamed) > 4000


async def test_stream_structures_records_with_as(fake: FakeDizions) -> None:
    q = Query("clients").fields("id", "surname")
    async with client(fake) as dz:
        people = [p async for p in dz.stream(q, Person)]
        fetched = await dz.fetch(q, Person)
    assert people == fetched


async def test_stream_splits_a_long_query_and_keeps_its_order(fake: FakeDizions) -> None:
    q = Query("clients").id(*range(1, 3001)).fields("id")
    async with client(fake, max_url_length=1000) as dz:
        streamed = [row async for row in dz.stream(q)]
    assert len(fake.requests) > 5
    assert ids(streamed) == list(range(1, 3001))


async def test_leaving_a_stream_early_frees_its_connection_slot(fake: FakeDizions) -> None:
    async with client(fake, max_concurrency=1) as dz:
        rows = dz.stream(Query("clients"))
        async with contextlib.aclosing(rows):
            async for _ in rows:
                break
        # With the only slot still held this would wait for ever.
        assert ids(await asyncio.wait_for(dz.fetch(Query("clients").id(9)), 30)) == [9]


async def test_stream_many_yields_the_records_of_every_query(fake: FakeDizions) -> None:
    windows = Query("referrals").date_range("date", D(2018, 1, 1), D(2023, 12, 31))
    windows = windows.split_dates("year")
    progress: list[tuple[int, int]] = []
    async with client(fake, max_concurrency=4) as dz:
        fetched = await dz.fetch(Query("referrals"))
        streamed = [
            row
            async for row in dz.stream_many(
                windows, on_progress=lambda d, t: progress.append((d, t))
            )
        ]
    assert Counter(ids(streamed)) == Counter(ids(fetched))
    assert sorted(streamed, key=lambda r: r["id"]) == fetched
    assert progress[0] == (0, 6)
    assert progress[-1] == (6, 6)


async def test_stream_many_can_de_duplicate_overlapping_windows(fake: FakeDizions) -> None:
    q = Query("referrals").date_range("date_active", D(2019, 1, 1), D(2020, 12, 31)).fields("id")
    async with client(fake) as dz:
        whole = await dz.fetch(q)
        rows = [r async for r in dz.stream_many(q.split_dates("month"), dedupe=True)]
    assert Counter(ids(rows)) == Counter(ids(whole))


async def test_stream_many_holds_back_while_the_consumer_waits(fake: FakeDizions) -> None:
    queries = [Query("clients").id(*range(i, i + 10)) for i in range(1, 1001, 10)]  # 100
    async with client(fake, max_concurrency=4) as dz:
        rows = dz.stream_many(queries, buffer=1)
        async with contextlib.aclosing(rows):
            await anext(rows)
            for _ in range(200):  # the consumer dawdles; producers may run meanwhile
                await asyncio.sleep(0.001)
            # 3 readers, each blocked with one batch, + 1 batch queued + 1 consumed
            assert len(fake.requests) <= 3 + 1 + 1 + 3
            rest = [r async for r in rows]
    assert len(rest) == 999
    assert len(fake.requests) == 100


# -- faults ---------------------------------------------------------------------------------


async def test_a_pull_through_429s_and_503s_still_returns_exactly_the_right_set(
    fake: FakeDizions,
) -> None:
    fake.faults.set("GET /v2/clients", rate_429=0.2, rate_503=0.2, retry_after="0")
    wanted = list(range(1, 3001))
    async with client(fake, max_url_length=800, max_concurrency=6) as dz:
        rows = await dz.fetch(Query("clients").id(*wanted).fields("id"))
        streamed = [r async for r in dz.stream_many([Query("clients").id(*wanted).fields("id")])]
    statuses = Counter(r.status for r in fake.requests)
    assert statuses[429] > 0
    assert statuses[503] > 0
    assert ids(rows) == wanted
    assert sorted(ids(streamed)) == wanted


async def test_a_piece_that_finally_fails_names_its_sub_query(fake: FakeDizions) -> None:
    q = Query("clients").id(*range(1, 2001))
    async with client(
        fake, max_url_length=1000, retry=RetryPolicy(max_retries=1, backoff_base=0.001)
    ) as dz:
        fake.faults.set("GET /v2/clients", rate_503=1.0)
        with pytest.raises(ServerError) as info:
            await dz.fetch(q)
    piece = info.value.query
    assert isinstance(piece, Query)
    assert 0 < len(piece.ids) < 2000
    assert set(piece.ids) <= set(q.ids)
    notes = getattr(info.value, "__notes__", [])
    assert any(note.startswith("in piece ") and "GET /v2/clients/id/" in note for note in notes)
    assert fake.keys.source not in str(info.value) + "".join(notes)


# -- pieces that find nothing ---------------------------------------------------------------


async def test_a_piece_whose_ids_all_miss_is_empty_not_an_error(fake: FakeDizions) -> None:
    q = Query("clients").id(*range(1, 20_001)).fields("id")  # the store has 3,000 clients
    async with client(fake) as dz:
        fetched = await dz.fetch(q)
        streamed = [r async for r in dz.stream(q)]
        many = [r async for r in dz.stream_many([q])]
    assert 404 in {r.status for r in fake.requests}  # some pieces held only missing ids
    assert ids(fetched) == list(range(1, 3001))
    assert ids(streamed) == ids(fetched)
    assert sorted(ids(many)) == ids(fetched)


async def test_a_split_query_whose_ids_all_miss_is_not_found_like_the_whole(
    fake: FakeDizions,
) -> None:
    q = Query("clients").id(*range(50_001, 52_001))
    async with client(fake, max_url_length=1000) as dz:
        with pytest.raises(NotFoundError):
            await dz.fetch(q)
        with pytest.raises(NotFoundError):
            [r async for r in dz.stream(q)]
        with pytest.raises(NotFoundError):
            [r async for r in dz.stream_many([q, Query("clients").id(1)])]


async def test_an_id_list_with_repeats_gives_each_record_once(fake: FakeDizions) -> None:
    wanted = [*range(1, 1001), *range(1, 1001)]
    async with client(fake, max_url_length=600) as dz:
        rows = await dz.fetch(Query("clients").id(*wanted).fields("id"))
    assert len(fake.requests) > 2
    assert ids(rows) == list(range(1, 1001))


async def test_stream_many_gives_each_record_of_a_split_query_once_as_fetch_does(
    fake: FakeDizions,
) -> None:
    # Without dedupe=, stream_many still reads each query as fetch would: a query whose
    # split pieces overlap (here, a repeated ID list) gives each of its records once.
    repeated = Query("clients").id(*range(1, 501), *range(1, 501)).fields("id")
    other = Query("clients").id(3, 4).fields("id")  # overlaps the first query: kept
    async with client(fake, max_url_length=600) as dz:
        rows = [r async for r in dz.stream_many([repeated, other])]
        streamed = [r async for r in dz.stream(repeated)]
    assert sorted(ids(streamed)) == list(range(1, 501))
    assert Counter(ids(rows)) == Counter([*range(1, 501), 3, 4])


async def test_a_stream_many_loop_that_raises_frees_its_connection_slots(
    fake: FakeDizions,
) -> None:
    queries = [Query("clients").id(*range(i, i + 10)) for i in range(1, 301, 10)]
    async with client(fake, max_concurrency=1) as dz:
        rows = dz.stream_many(queries, buffer=1)
        with pytest.raises(KeyError):
            async with contextlib.aclosing(rows):
                async for _ in rows:
                    raise KeyError("the consumer fails")
        # The one reader held the only slot; it must be back, its response closed.
        assert ids(await asyncio.wait_for(dz.fetch(Query("clients").id(9)), 30)) == [9]
