"""Async orchestration for batches: a bounded worker pool and a bounded stream merger.

This module owns *how* many pieces of work run at once, not what the work is (the client
passes the work in as functions) and not how queries are cut (``batching``):

- :func:`run_pool`: run a function over many items with at most ``limit`` tasks, however
  many items there are (workers pull from one shared iterator), results in input order;
  the first failure cancels the rest, or each failure takes its item's place.
- :func:`merge_streams`: drain many async iterators of record batches concurrently into
  one async iterator through a bounded queue, so a slow consumer slows the producers
  (back-pressure) instead of letting memory grow.

Nothing here knows HTTP; it is plain asyncio.
"""

from __future__ import annotations

import asyncio
import types
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Sequence,
)
from typing import Any, TypeVar

from dizions_async.errors import DizionsError

__all__ = [
    "ProgressCallback",
    "Slots",
    "annotate_failure",
    "cancelled_from_outside",
    "merge_streams",
    "run_pool",
]

T = TypeVar("T")
R = TypeVar("R")

#: ``on_progress(done, total)``: called with ``(0, total)`` first, then after each item.
ProgressCallback = Callable[[int, int], object]


async def run_pool(
    items: Sequence[T],
    worker: Callable[[int, T], Awaitable[R]],
    *,
    limit: int,
    return_exceptions: bool = False,
    on_progress: ProgressCallback | None = None,
) -> list[Any]:
    """Run ``worker(index, item)`` for every item, at most ``limit`` at a time.

    Only ``min(limit, len(items))`` tasks are ever created: each pulls the next item from
    a shared iterator when it finishes one, so ten thousand items never make ten thousand
    waiting tasks.

    Args:
        items: the work, in order.
        worker: the coroutine function run for each ``(index, item)``.
        limit: the most workers at once (at least 1).
        return_exceptions: put each failure (an ``Exception``) in its item's place instead
            of raising the first.
        on_progress: called ``(done, total)`` once at the start and after each item.

    Returns:
        The results in the order of ``items``.

    Raises:
        Exception: without ``return_exceptions``, the first failure, after cancelling
            every other worker and waiting for them to finish.
    """
    total = len(items)
    if on_progress is not None:
        on_progress(0, total)
    if total == 0:
        return []
    results: list[Any] = [None] * total
    feed = iter(enumerate(items))
    done = 0
    workers = min(max(limit, 1), total)

    async def run_worker() -> None:
        nonlocal done
        for index, item in feed:
            try:
                results[index] = await worker(index, item)
            except Exception as exc:
                if not return_exceptions:
                    raise
                results[index] = exc
            done += 1
            if on_progress is not None:
                on_progress(done, total)
            # One turn of the loop before the next item: its request then goes out with
            # the other workers' at the start of the next turn, not one by one between
            # the responses being read, as with asyncio.gather's tasks waiting on a
            # semaphore. Measured in benchmarks/bench_client.py (docs/performance.md):
            # without it, gather reached 0.62-0.88 of a hand-written loop at concurrency
            # 64 on a loaded 2-core machine and used more CPU per request. A lone worker
            # has nobody to go out with: the turn would only delay its next request.
            if workers > 1:
                await _one_turn()

    tasks = [asyncio.ensure_future(run_worker()) for _ in range(workers)]
    try:
        finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        # Reached on the first failure, and when the caller itself is cancelled.
        await _cancel_all(tasks)
    # Several workers can fail in the same turn of the loop: ask each finished one for its
    # failure (one never asked is logged "Task exception was never retrieved"); raise the
    # first in worker order.
    failures = [t.exception() for t in tasks if t in finished and not t.cancelled()]
    error = next((exc for exc in failures if exc is not None), None)
    del failures
    if error is None:
        return results
    # Drop our references before raising: the error's traceback holds this frame, and a
    # frame -> task -> error cycle would keep every task, socket and record alive until a
    # full garbage collection (as asyncio.gather does, break it by hand).
    del tasks, finished
    try:
        raise error
    finally:
        del error


class Slots:
    """At most ``size`` holders at once, first come, first served: the job of an
    ``asyncio.Semaphore``, with a synchronous fast path and a slot handed straight on.

    ``asyncio.Semaphore.acquire`` is a coroutine even when a slot is free, and with
    thousands of reads queued behind a few slots its ``release`` scans past waiters it
    has already woken: together a tenth of a small read's Python calls at concurrency
    64 (``benchmarks/bench_client.py``). Here :meth:`try_take` takes a free slot without
    awaiting, and :meth:`release` gives the slot to the longest waiter itself.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_take(self) -> bool:
        """Take a slot if one is free and nobody waits for one; else False."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    async def take(self) -> None:
        """Take a slot, waiting in line for one."""
        if self.try_take():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.cancelled():
                self._waiters.remove(waiter)  # still in line: leave it
            else:
                self.release()  # handed a slot as it was cancelled: pass it on
            raise

    def release(self) -> None:
        """Give the slot back: to the longest waiter, or to the free ones."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


def cancelled_from_outside(task: asyncio.Task[Any] | None) -> bool:
    """Undo our own cancel of ``task`` (a timeout's); True if someone else cancelled it too.

    Python 3.10 cannot tell (no ``Task.uncancel``): there a cancel from outside that
    lands in the same instant as the timeout is taken for the timeout.
    """
    uncancel = getattr(task, "uncancel", None)
    return uncancel is not None and bool(uncancel())


@types.coroutine
def _one_turn() -> Generator[None, None, None]:
    """Yield to the event loop once (``asyncio.sleep(0)`` without its checks)."""
    yield


async def _cancel_all(tasks: Sequence[asyncio.Future[Any]]) -> None:
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        # return_exceptions: the workers' CancelledErrors are expected, not ours to raise.
        await asyncio.gather(*pending, return_exceptions=True)


class _End:
    """The producers are finished (``error`` is None) or one of them failed."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


async def merge_streams(
    sources: Sequence[T],
    open_batches: Callable[[int, T], AsyncIterator[list[R]]],
    *,
    limit: int,
    buffer: int,
    on_progress: ProgressCallback | None = None,
) -> AsyncGenerator[R, None]:
    """Items of many async batch iterators, as they arrive, through a bounded queue.

    At most ``limit`` sources are drained at once; at most ``buffer`` batches wait in the
    queue. When it is full, producers block on it and stop reading their responses, so
    the network slows to the consumer's pace and memory stays bounded.

    Args:
        sources: what to open, in order (queries).
        open_batches: makes the async iterator of record batches for ``(index, source)``.
        limit: the most sources drained at once.
        buffer: the most batches waiting for the consumer.
        on_progress: ``(done, total)`` over sources, as in :func:`run_pool`.

    Returns:
        An async iterator of items; order across sources is not defined, order within
        one source is kept.

    Raises:
        Exception: the first failure of any source, after the batches received before it;
            the other sources are cancelled.
    """
    queue: asyncio.Queue[list[R] | _End] = asyncio.Queue(maxsize=max(buffer, 1))

    async def produce(index: int, source: T) -> None:
        batches = open_batches(index, source)
        try:
            async for batch in batches:
                await queue.put(batch)
        finally:
            aclose = getattr(batches, "aclose", None)
            if aclose is not None:
                await aclose()

    async def drive() -> None:
        try:
            await run_pool(sources, produce, limit=limit, on_progress=on_progress)
        except Exception as exc:
            await queue.put(_End(exc))
        else:
            await queue.put(_End(None))

    driver = asyncio.ensure_future(drive())
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _End):
                error = item.error
                del item
                if error is None:
                    return
                try:
                    raise error
                finally:
                    del error  # no frame -> error -> traceback -> frame cycle
            for record in item:
                yield record
    finally:
        # The consumer stopped early (break, error, cancel) or all is done: stop producers.
        if not driver.done():
            driver.cancel()
        # return_exceptions: the driver's CancelledError is expected; ours still propagates.
        await asyncio.gather(driver, return_exceptions=True)


#: Longest request label quoted in a failure note (a split piece's path can be kilobytes).
_NOTE_LABEL = 160


def annotate_failure(exc: DizionsError, query: object, label: str, where: str) -> None:
    """Name the piece of a batch that failed, on the error itself.

    Sets ``exc.query`` (when not set already by an inner, more precise piece) and, on
    Python 3.11+, adds a note such as ``in piece 3 of 12: GET /v2/clients/id/...``. The
    label is the request's redacted one: filter values and keys never appear.

    Args:
        exc: the error raised by the piece.
        query: the piece's query.
        label: the request's redacted label.
        where: e.g. ``"piece 3 of 12"`` or ``"query 2 of 5"``.
    """
    if exc.query is None:
        exc.query = query
    if len(label) > _NOTE_LABEL:
        label = f"{label[:_NOTE_LABEL]}... ({len(label)} characters)"
    note = f"in {where}: {label}"
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(note)
    else:  # Python 3.10: no add_note, but __notes__ is where 3.11+ tools look for it
        notes = getattr(exc, "__notes__", None)
        setattr(exc, "__notes__", [*notes, note] if isinstance(notes, list) else [note])  # noqa: B010
