"""The worker pool and the bounded stream merger, on plain asyncio work (no HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

import pytest

from dizions_async._concurrency import Slots, merge_streams, run_pool


class Probe:
    """Counts tasks in flight and lets the test release them by hand."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0
        self.started: list[int] = []
        self.cancelled: list[int] = []

    async def work(self, index: int, item: int) -> int:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.started.append(index)
        try:
            # Later items finish first, so input order != completion order.
            for _ in range(10 - item % 10):
                await asyncio.sleep(0)
            if item < 0:
                raise ValueError(f"bad item {item}")
            return item * 2
        except asyncio.CancelledError:
            self.cancelled.append(index)
            raise
        finally:
            self.in_flight -= 1


async def test_results_come_back_in_input_order() -> None:
    probe = Probe()
    items = list(range(50))
    assert await run_pool(items, probe.work, limit=7) == [i * 2 for i in items]


async def test_no_more_than_limit_run_at_once_and_no_more_tasks_are_made() -> None:
    probe = Probe()
    before = len(asyncio.all_tasks())
    seen_tasks = 0

    async def work(index: int, item: int) -> int:
        nonlocal seen_tasks
        seen_tasks = max(seen_tasks, len(asyncio.all_tasks()) - before)
        return await probe.work(index, item)

    await run_pool(range(5000), work, limit=8)
    assert probe.peak == 8
    assert seen_tasks == 8


async def test_the_first_failure_cancels_the_rest_and_is_raised() -> None:
    probe = Probe()
    items = [1, 2, 3, -4, *range(5, 100)]
    with pytest.raises(ValueError, match="bad item -4"):
        await run_pool(items, probe.work, limit=4)
    assert probe.in_flight == 0
    assert probe.cancelled  # the others were running and got cancelled
    assert len(probe.started) < len(items)  # and the rest were never started


async def test_workers_failing_in_the_same_turn_leave_no_unretrieved_exception() -> None:
    # Every worker fails on its first step, so all are done before run_pool wakes up.
    loop = asyncio.get_running_loop()
    reports: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    try:

        async def fail(index: int, item: int) -> int:
            raise ValueError(f"bad item {item}")

        with pytest.raises(ValueError, match="bad item 0"):
            await run_pool(range(4), fail, limit=4)
        gc.collect()  # a task whose exception was never asked for reports it when freed
    finally:
        loop.set_exception_handler(previous)
    assert [r.get("message") for r in reports] == []


async def test_with_return_exceptions_each_failure_takes_its_place() -> None:
    probe = Probe()
    items = [1, -2, 3, -4, 5]
    results = await run_pool(items, probe.work, limit=2, return_exceptions=True)
    assert results[0::2] == [2, 6, 10]
    assert [str(e) for e in results[1::2]] == ["bad item -2", "bad item -4"]


async def test_progress_counts_from_zero_to_total() -> None:
    calls: list[tuple[int, int]] = []
    await run_pool(
        list(range(5)), Probe().work, limit=2, on_progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(i, 5) for i in range(6)]


async def test_an_empty_pool_reports_zero_of_zero() -> None:
    calls: list[tuple[int, int]] = []
    assert (
        await run_pool([], Probe().work, limit=2, on_progress=lambda d, t: calls.append((d, t)))
        == []
    )
    assert calls == [(0, 0)]


async def test_cancelling_the_caller_cancels_every_worker() -> None:
    probe = Probe()
    gate = asyncio.Event()

    async def work(index: int, item: int) -> int:
        probe.in_flight += 1
        try:
            await gate.wait()
            return item
        finally:
            probe.in_flight -= 1

    task = asyncio.ensure_future(run_pool(range(20), work, limit=5))
    while probe.in_flight < 5:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert probe.in_flight == 0


# -- merge_streams --------------------------------------------------------------------------


def batches_of(source: int, n: int, size: int = 3) -> AsyncIterator[list[tuple[int, int]]]:
    async def gen() -> AsyncIterator[list[tuple[int, int]]]:
        for start in range(0, n, size):
            await asyncio.sleep(0)
            yield [(source, i) for i in range(start, min(start + size, n))]

    return gen()


async def test_merge_streams_yields_every_item_once_keeping_order_within_a_source() -> None:
    sources = list(range(12))
    out = [
        x
        async for x in merge_streams(sources, lambda i, s: batches_of(s, 10 + s), limit=4, buffer=2)
    ]
    assert sorted(out) == sorted((s, i) for s in sources for i in range(10 + s))
    for s in sources:
        assert [i for src, i in out if src == s] == list(range(10 + s))


async def test_a_slow_consumer_holds_the_producers_back() -> None:
    produced = 0

    def open_batches(index: int, source: int) -> AsyncIterator[list[int]]:
        async def gen() -> AsyncIterator[list[int]]:
            nonlocal produced
            for k in range(1000):
                produced += 1
                yield [k]

        return gen()

    stream = merge_streams(range(4), open_batches, limit=4, buffer=5)
    async with contextlib.aclosing(stream):
        consumed = 0
        async for _ in stream:
            consumed += 1
            for _ in range(20):  # let producers run as far as they can
                await asyncio.sleep(0)
            # queued (<= buffer) + one blocked in put() per producer + one being yielded
            assert produced - consumed <= 5 + 4 + 1
            if consumed == 50:
                break
    assert produced < 100


async def test_a_failing_source_stops_the_others_and_raises() -> None:
    opened: list[int] = []
    closed: list[int] = []

    def open_batches(index: int, source: int) -> AsyncIterator[list[int]]:
        async def gen() -> AsyncIterator[list[int]]:
            opened.append(source)
            try:
                for k in range(100):
                    await asyncio.sleep(0)
                    if source == 2 and k == 5:
                        raise ConnectionError("piece 2 broke")
                    yield [k]
            finally:
                closed.append(source)

        return gen()

    with pytest.raises(ConnectionError, match="piece 2 broke"):
        async for _ in merge_streams(range(6), open_batches, limit=3, buffer=4):
            pass
    assert sorted(opened) == sorted(closed)  # every source opened was closed
    assert 5 not in opened  # and those not yet started never start


async def test_leaving_early_closes_the_open_sources() -> None:
    opened: list[int] = []
    closed: list[int] = []

    def open_batches(index: int, source: int) -> AsyncIterator[list[int]]:
        async def gen() -> AsyncIterator[list[int]]:
            opened.append(source)
            try:
                for k in range(10_000):
                    yield [k]
            finally:
                closed.append(source)

        return gen()

    stream = merge_streams(range(10), open_batches, limit=3, buffer=2)
    async with contextlib.aclosing(stream):
        async for _ in stream:
            break
    assert sorted(opened) == sorted(closed)
    assert len(opened) <= 3


async def test_progress_counts_finished_sources() -> None:
    calls: list[tuple[int, int]] = []
    async for _ in merge_streams(
        range(3),
        lambda i, s: batches_of(s, 4),
        limit=2,
        buffer=1,
        on_progress=lambda d, t: calls.append((d, t)),
    ):
        pass
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


# -- Slots: the client's concurrency limit ---------------------------------------------------


async def test_slots_hold_at_most_their_size_and_serve_waiters_in_order() -> None:
    slots = Slots(2)
    holding: list[int] = []
    served: list[int] = []
    peak = 0

    async def hold(i: int) -> None:
        nonlocal peak
        await slots.take()
        served.append(i)
        holding.append(i)
        peak = max(peak, len(holding))
        await asyncio.sleep(0.001 * (i % 3))
        holding.remove(i)
        slots.release()

    await asyncio.gather(*(hold(i) for i in range(20)))
    assert peak == 2
    assert served == list(range(20))  # first come, first served
    assert slots.try_take() and slots.try_take() and not slots.try_take()


async def test_a_cancelled_waiter_gives_up_its_place_and_loses_no_slot() -> None:
    slots = Slots(1)
    assert slots.try_take()
    waiting = asyncio.ensure_future(slots.take())
    behind = asyncio.ensure_future(slots.take())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    slots.release()  # goes to the one still in line
    await asyncio.wait_for(behind, 5)
    assert not slots.try_take()
    slots.release()
    assert slots.try_take()


async def test_a_waiter_cancelled_as_it_is_handed_a_slot_passes_it_on() -> None:
    slots = Slots(1)
    assert slots.try_take()
    first = asyncio.ensure_future(slots.take())
    second = asyncio.ensure_future(slots.take())
    await asyncio.sleep(0)
    slots.release()  # handed to `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 5)  # the slot went on to the next in line
    assert not slots.try_take()
