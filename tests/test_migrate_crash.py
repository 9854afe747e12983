"""Kill ``dizions migrate`` with SIGKILL part way, re-run it, and count what the server holds.

The fake server runs in this process with an on-disk store (its ``--db``) and faults on
every client create (commit-then-500, commit-then-HTML-200, dropped connections,
latency); the migration runs
as a real subprocess of the command line, killed three times at different points, then
run to the end. Exactly once is checked two ways: the store holds each source row once,
and no create ever reached the server for a client that already existed (the fake
answers such a create 400, so any 400 on a create would be a resend the journal should
have prevented).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dizions_async.jobs import Journal
from dizions_async.jobs._journal import DONE
from dizions_async.testing import FakeDizions

if TYPE_CHECKING:
    from conftest import Cli

ROWS = 300
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=3, seed=7, db_path=tmp_path / "fake.sqlite") as server:
        server.faults.set(
            "PUT /v2/clients",
            latency=0.01,
            commit_then_fail=0.1,
            drop=0.05,
            commit_then_garble=0.05,
        )
        yield server


def _migrated(fake: FakeDizions) -> Counter[str]:
    return Counter(
        str(r["external_id"])
        for r in fake.store.rows("clients")
        if str(r.get("external_id") or "").startswith("CRASH-")
    )


async def _start(
    cli: Cli, fake: FakeDizions, book: Path, journal: Path
) -> asyncio.subprocess.Process:
    env = {**os.environ, **cli.env(fake)}
    # The fake server applies a create before answering: no settling time is needed.
    args = ["migrate", "clients", str(book), "--journal", str(journal), "--concurrency", "8"]
    args += ["--settle", "0"]
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dizions_async.cli",
        *args,
        cwd=ROOT,  # import this checkout's package
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _kill_when_stored(
    fake: FakeDizions, proc: asyncio.subprocess.Process, threshold: int
) -> None:
    async def reached() -> None:
        while sum(_migrated(fake).values()) < threshold and proc.returncode is None:
            await asyncio.sleep(0.01)  # polling the store, not a backoff

    await asyncio.wait_for(reached(), 60)
    assert proc.returncode is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    await proc.communicate()
    assert proc.returncode == -signal.SIGKILL


async def test_sigkilled_migration_rerun_creates_every_row_exactly_once(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    book = tmp_path / "book.csv"
    lines = ["external_id,first_name,surname"]
    lines += [f"CRASH-{i},First{i},Sur{i}" for i in range(ROWS)]
    book.write_text("\n".join(lines) + "\n")
    journal = tmp_path / "job.sqlite"

    for threshold in (30, 110, 200):
        await _kill_when_stored(fake, await _start(cli, fake, book, journal), threshold)
        assert sum(_migrated(fake).values()) < ROWS

    final = await _start(cli, fake, book, journal)
    out, err = await asyncio.wait_for(final.communicate(), 120)
    assert final.returncode == 0, (out + err).decode()
    assert b"Every row is done" in out, out

    assert _migrated(fake) == Counter({f"CRASH-{i}": 1 for i in range(ROWS)})
    creates = [r for r in fake.requests if r.method == "PUT" and "/CRASH-" in r.path]
    assert not [r for r in creates if r.status == 400], "a create was resent for an existing client"
    struck = {r.fault for r in creates}
    assert {"commit_then_500", "commit_then_garble"} <= struck  # the faults did strike
    with Journal(journal) as j:
        assert j.counts()[DONE] == ROWS
        stored = {r["external_id"]: r["id"] for r in fake.store.rows("clients")}
        assert all(stored[e.source_key] == e.dizions_id for e in j.entries())
