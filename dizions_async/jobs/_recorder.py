"""The journal's asyncio side: one thread for SQLite, and group commit.

Every mark goes to one queue. A single flusher task commits whatever is queued in one
transaction on the journal's own thread, then wakes the callers that asked to wait;
marks queued while a commit runs go into the next one. So with many rows in flight the
fsync of ``synchronous=FULL`` is paid once per batch, not once per row, and SQLite is
only ever touched from one thread (one writer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from dizions_async.jobs._journal import Journal, Mark

__all__ = ["JournalWriteError", "Recorder"]

T = TypeVar("T")


class JournalWriteError(RuntimeError):
    """The journal could not be written; the job stops rather than send unrecorded creates."""


class Recorder:
    """Marks rows in a :class:`Journal` from asyncio code.

    Args:
        journal: the journal; from now on used only from the recorder's thread.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dizions-journal")
        self._marks: list[Mark] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self.commits = 0

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` (a journal read) on the journal's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def durable(self, *marks: Mark) -> None:
        """Record ``marks`` and return once they are committed.

        Raises:
            JournalWriteError: the journal cannot be written.
        """
        self._check()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._marks.extend(marks)
        self._waiters.append(waiter)
        self._kick()
        await waiter

    def record(self, mark: Mark) -> None:
        """Record ``mark`` in the next commit, without waiting for it.

        Used for outcomes (done, failed, unknown): if the process dies before the commit,
        the row is still ``pending`` and the next run checks it, which is safe.
        """
        self._check()
        self._marks.append(mark)
        self._kick()

    async def drain(self) -> None:
        """Wait until every recorded mark is committed.

        Raises:
            JournalWriteError: a commit failed.
        """
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        if self._marks:
            self._kick()
            await self.drain()
        self._check()

    async def aclose(self) -> None:
        """Commit what is queued, close the journal and stop its thread."""
        try:
            await self.drain()
        finally:
            await self.call(self.journal.close)
            self._executor.shutdown(wait=True)

    def _check(self) -> None:
        if self._failure is not None:
            raise JournalWriteError(f"the journal cannot be written: {self._failure}")

    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._marks and self._failure is None:
            marks, waiters = self._marks, self._waiters
            self._marks, self._waiters = [], []
            try:
                await self.call(self.journal.apply, marks)
            except Exception as exc:
                self._failure = exc
                error = JournalWriteError(f"the journal cannot be written: {exc}")
                # fail the callers of this batch and of any batch queued meanwhile
                waiters += self._waiters
                self._marks, self._waiters = [], []
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(error)
                return
            self.commits += 1
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
