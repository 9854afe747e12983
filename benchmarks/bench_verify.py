"""``verify`` of a large client migration: requests sent and seconds taken.

A journal of N done clients (``V-0`` ... ``V-{N-1}``, 100,000 by default) is written
directly, bound to a static server in a process of its own. That server answers
``GET /v2/clients/external_id/A;B;.../field/...`` with one record per value asked, and
counts the reads. ``verify`` then reads every journaled external ID back: the client
cuts each batch into value lists that fit ``max_url_length`` and sends them
concurrently. The script prints requests sent, seconds, and rows checked per second, per
round and the median; the baseline in the same run is the same number of GETs sent by a
plain aiohttp loop (no journal, no comparison), so the ratio shows verify's own cost.

Run: ``python benchmarks/bench_verify.py [--rows 100000] [--concurrency 16] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from urllib.parse import unquote

import aiohttp
import orjson
from _servers import static_server
from aiohttp import web

from dizions_async import Client
from dizions_async.jobs import Journal, Target, verify
from dizions_async.jobs._journal import DONE, Mark

KEYS = ("bench-source", "bench-org", "bench-user")


def _app() -> web.Application:
    reads = [0]

    async def read(request: web.Request) -> web.Response:
        reads[0] += 1
        parts = request.raw_path.split("/")
        values = parts[4].split(";") if len(parts) > 4 and parts[3] == "external_id" else []
        body = [
            {"id": int(v.rsplit("-", 1)[1]) + 1, "external_id": v} for v in map(unquote, values)
        ]
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def count(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"reads": reads[0]}))

    app = web.Application()
    app.router.add_get("/count", count)
    app.router.add_get("/{tail:.*}", read)
    return app


async def _reads(base: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(base + "/count") as resp:
        return int(orjson.loads(await resp.read())["reads"])


def _write_journal(path: str, target: Target, rows: int) -> None:
    with Journal(path) as book:
        book.begin_job("clients", "external_id", target=target)
        book.apply(Mark(f"V-{i}", DONE, dizions_id=i + 1) for i in range(rows))


async def run_verify(base: str, journal: str, concurrency: int) -> tuple[float, int, int]:
    before = await _reads(base)
    async with Client(*KEYS, base_url=base, max_concurrency=concurrency) as dz:
        started = time.perf_counter()
        report = await verify(dz, journal)
        elapsed = time.perf_counter() - started
    if not report.ok:
        raise RuntimeError(report.describe())
    return elapsed, await _reads(base) - before, report.checked


async def run_baseline(base: str, paths: list[str], concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(path: str) -> None:
            async with gate, session.get(base + path) as resp:
                orjson.loads(await resp.read())

        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in paths))
        return time.perf_counter() - started


def _same_paths(rows: int, per_request: int) -> list[str]:
    """GET paths asking for the same values in requests of the same size as verify's."""
    out = []
    for start in range(0, rows, per_request):
        values = ";".join(f"V-{i}" for i in range(start, min(start + per_request, rows)))
        out.append(f"/v2/clients/external_id/{values}/field/id;external_id")
    return out


async def main(rows: int, concurrency: int, rounds: int) -> None:
    with static_server(_app) as base, tempfile.TemporaryDirectory() as folder:
        journal = os.path.join(folder, "verify.sqlite")
        with Journal(journal) as book:
            salt = book.salt()
        async with Client(*KEYS, base_url=base) as dz:
            target = Target(dz.base_url, dz.org_fingerprint(salt))
        _write_journal(journal, target, rows)
        print(f"{rows} journaled clients, concurrency {concurrency}, {rounds} rounds")
        ratios = []
        for n in range(rounds):
            elapsed, sent, checked = await run_verify(base, journal, concurrency)
            baseline = await run_baseline(base, _same_paths(rows, -(-rows // sent)), concurrency)
            ratios.append(baseline / elapsed)
            print(
                f"round {n + 1}: verify {checked} rows in {elapsed:.2f}s with {sent} requests "
                f"({checked / elapsed:,.0f} rows/s); the same GETs from a bare aiohttp loop "
                f"{baseline:.2f}s; ratio {ratios[-1]:.2f}"
            )
    print(f"median ratio bare-loop/verify: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.concurrency, args.rounds))
