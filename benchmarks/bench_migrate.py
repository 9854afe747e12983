"""The journal's cost: 5,000 client creates through ``migrate`` against a hand-written loop.

Both sides send the same creates (``PUT /v2/clients/external_id/{EXT}``, a form body with
first_name and surname) at the same concurrency to a server in a separate process. The
baseline is a plain aiohttp loop under a semaphore, with no journal, no checks and no
retries; ``migrate`` adds the SDK client and the SQLite journal (WAL, synchronous=FULL,
group commit) and, per run, the journal's target binding. Each round runs both sides
once (after a short warm-up of both); the script prints each round's creates per second
and ratio migrate / baseline, then the median ratio. Target: >= 0.80.

Servers (``--server``):
  static  a minimal aiohttp app answering 201 {"id": n} (default: the strictest, since
          the server costs almost nothing, the client's and the journal's costs show)
  fake    ``dizions serve`` (the fake Dizions server: SQLite store, validation)

Run: ``python benchmarks/bench_migrate.py [--rows 5000] [--concurrency 16] [--rounds 3]
[--server static]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import quote

import aiohttp
import orjson
from _servers import Keys, dizions_serve, static_server
from aiohttp import web

from dizions_async import Client
from dizions_async.jobs import migrate

STATIC_KEYS: Keys = ("bench-source", "bench-org", "bench-user")


def _static_app() -> web.Application:
    ids = itertools.count(1)

    async def create(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(
            body=orjson.dumps({"id": next(ids)}), status=201, content_type="application/json"
        )

    async def read(request: web.Request) -> web.Response:
        return web.Response(body=b"[]", content_type="application/json")

    app = web.Application()
    app.router.add_put("/{tail:.*}", create)
    app.router.add_get("/{tail:.*}", read)
    return app


def _rows(prefix: str, n: int) -> list[dict[str, str]]:
    return [
        {"external_id": f"{prefix}-{i}", "first_name": f"First{i}", "surname": f"Sur{i}"}
        for i in range(n)
    ]


async def run_baseline(
    base: str, keys: Keys, rows: list[dict[str, str]], concurrency: int
) -> float:
    headers = dict(zip(("Source", "Org", "User"), keys, strict=True))
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def one(row: dict[str, str]) -> None:
            url = f"{base}/v2/clients/external_id/{quote(row['external_id'], safe='')}"
            body = {"first_name": row["first_name"], "surname": row["surname"]}
            async with gate, session.put(url, data=body) as resp:
                data = orjson.loads(await resp.read())
                if resp.status not in (200, 201) or not isinstance(data.get("id"), int):
                    raise RuntimeError(f"create failed: {resp.status} {data}")

        started = time.perf_counter()
        await asyncio.gather(*(one(r) for r in rows))
        return time.perf_counter() - started


async def run_migrate(base: str, keys: Keys, rows: list[dict[str, str]], concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        async with Client(*keys, base_url=base, max_concurrency=concurrency) as dz:
            started = time.perf_counter()
            summary = await migrate(
                dz, rows, journal=os.path.join(folder, "bench.sqlite"), concurrency=concurrency
            )
            elapsed = time.perf_counter() - started
        if summary.created != len(rows):
            raise RuntimeError(summary.describe())
        return elapsed


@contextlib.contextmanager
def _server(kind: str) -> Iterator[tuple[str, Keys]]:
    """The base URL and keys of a running server of this kind (stopped on exit)."""
    if kind == "static":
        with static_server(_static_app) as base:
            yield base, STATIC_KEYS
    else:
        with dizions_serve("--clients", "1") as (base, keys):
            yield base, keys


async def main(rows: int, concurrency: int, kind: str, rounds: int) -> None:
    ratios: list[float] = []
    print(f"server: {kind}, {rows} creates, concurrency {concurrency}, {rounds} rounds")
    with _server(kind) as (base, keys):
        await run_baseline(base, keys, _rows("warm-a", 200), concurrency)
        await run_migrate(base, keys, _rows("warm-m", 200), concurrency)
        for n in range(rounds):
            baseline = await run_baseline(base, keys, _rows(f"base{n}", rows), concurrency)
            journaled = await run_migrate(base, keys, _rows(f"mig{n}", rows), concurrency)
            ratios.append(baseline / journaled)
            print(
                f"round {n + 1}: aiohttp loop {rows / baseline:7.0f} creates/s, "
                f"migrate {rows / journaled:7.0f} creates/s, ratio {ratios[-1]:.2f}"
            )
    print(f"median ratio migrate/baseline: {statistics.median(ratios):.2f}  (target >= 0.80)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--server", choices=["static", "fake"], default="static")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.concurrency, args.server, args.rounds))
