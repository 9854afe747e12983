"""``migrate`` with the real Client against the fake server, faults injected."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dizions_async import Client
from dizions_async.jobs import Journal, migrate
from dizions_async.jobs._journal import DONE
from dizions_async.retry import RetryPolicy
from dizions_async.testing import FakeDizions


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=5, seed=2) as server:
        yield server


def _client(fake: FakeDizions) -> Client:
    # no backoff waits: the tests are about outcomes, not timing
    return fake.client(retry=RetryPolicy(backoff_base=0.001, backoff_max=0.001, jitter=False))


def _rows(n: int) -> list[dict[str, Any]]:
    return [
        {"external_id": f"MIG-{i}", "first_name": f"F{i}", "surname": f"S{i}"} for i in range(n)
    ]


def _store_counts(fake: FakeDizions) -> Counter[str]:
    return Counter(
        r["external_id"]
        for r in fake.store.rows("clients")
        if str(r.get("external_id") or "").startswith("MIG-")
    )


async def test_commit_then_fail_and_drops_end_with_every_client_once(
    fake: FakeDizions, tmp_path: Path
) -> None:
    fake.faults.set("PUT /v2/clients", commit_then_fail=0.25, drop=0.1)
    rows = _rows(60)
    async with _client(fake) as dz:
        summary = await migrate(dz, rows, journal=tmp_path / "j.sqlite", concurrency=6, settle=0.01)
    assert _store_counts(fake) == Counter({r["external_id"]: 1 for r in rows})
    assert summary.complete and summary.created + summary.recovered == 60
    assert summary.recovered > 0  # the faults did strike
    with Journal(tmp_path / "j.sqlite") as j:
        assert j.counts()[DONE] == 60
        by_key = {e.source_key: e.dizions_id for e in j.entries()}
    stored = {r["external_id"]: r["id"] for r in fake.store.rows("clients")}
    assert all(by_key[k] == stored[k] for k in by_key)


async def test_rows_the_server_refuses_are_failed_and_the_rest_created(
    fake: FakeDizions, tmp_path: Path
) -> None:
    rows = _rows(4)
    rows[1]["shoe_size"] = "9"  # the fake refuses unknown fields with 400
    del rows[2]["surname"]  # refused before sending
    async with _client(fake) as dz:
        summary = await migrate(dz, rows, journal=tmp_path / "j.sqlite")
    assert (summary.created, summary.failed) == (2, 2)
    reasons = {p.key: p.reason for p in summary.problems}
    assert "400" in reasons["MIG-1"] and "surname" in reasons["MIG-2"]
    assert set(_store_counts(fake)) == {"MIG-0", "MIG-3"}


async def test_journal_file_never_holds_the_keys(fake: FakeDizions, tmp_path: Path) -> None:
    async with _client(fake) as dz:
        await migrate(dz, _rows(3), journal=tmp_path / "j.sqlite")
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for key in (fake.keys.source, fake.keys.org, fake.keys.user):
        assert key.encode() not in blob
