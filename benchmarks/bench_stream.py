"""Streaming: ``dz.stream`` over one big response, its speed and its memory, against fetch.

A static aiohttp server in its own process answers one read with a pre-generated JSON
array of 20,000 or of 200,000 client records (about 230 bytes each). Each measurement
runs in a fresh subprocess, so its peak RSS (``ru_maxrss``) is its own: ``stream`` over
20,000 and over 200,000 records, and ``fetch`` of the same responses for comparison.
Each subprocess pulls its response a few times and keeps its best rate.

Targets: peak RSS of the 200,000-record stream at most 1.25 times that of the
20,000-record stream (memory stays flat); stream throughput at least 0.5 of ``fetch``
on the same response.

Run: ``python benchmarks/bench_stream.py [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

import orjson
from _rss import peak_rss_mib
from _servers import client_record, static_server
from aiohttp import web

from dizions_async import Client, Query, RetryPolicy

KEYS = ("bench-source", "bench-org", "bench-user")
SIZES = (20_000, 200_000)


def _body(n: int) -> bytes:
    return orjson.dumps([{**client_record(i), "score": 0.5} for i in range(1, n + 1)])


def _app() -> web.Application:
    bodies = {str(n): _body(n) for n in SIZES}

    async def handler(request: web.Request) -> web.Response:
        # /v2/clients/external_id/{n}: the array of n records.
        return web.Response(body=bodies[request.match_info["n"]], content_type="application/json")

    app = web.Application()
    app.router.add_get("/v2/clients/external_id/{n}", handler)
    return app


def _query(n: int) -> Query:
    return Query("clients").filter(external_id=str(n))


async def _measure(base: str, mode: str, n: int, rounds: int) -> dict[str, float]:
    """In the child: pull the response ``rounds`` times; best records/s and peak RSS."""
    q = _query(n)
    best = 0.0
    async with Client(*KEYS, base_url=base, retry=RetryPolicy(max_retries=0)) as dz:
        for _ in range(rounds):
            started = time.perf_counter()
            if mode == "stream":
                count = 0
                async for _row in dz.stream(q):
                    count += 1
            else:
                rows = await dz.fetch(q)
                count = len(rows)
            elapsed = time.perf_counter() - started
            if mode == "fetch":
                del rows
            if count != n:
                raise RuntimeError(f"{mode} got {count} records, not {n}")
            best = max(best, n / elapsed)
    return {"rate": best, "peak_mib": peak_rss_mib()}


def _child(base: str, mode: str, n: int, rounds: int) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--n",
            str(n),
            "--base",
            base,
            "--rounds",
            str(rounds),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(rounds: int) -> None:
    with static_server(_app, probe=_query(SIZES[0]).path) as base:
        results = {
            (mode, n): _child(base, mode, n, rounds) for n in SIZES for mode in ("stream", "fetch")
        }
    print(f"{'records':>8s} {'mode':6s} {'records/s':>10s} {'peak RSS':>9s}")
    for (mode, n), r in results.items():
        print(f"{n:8d} {mode:6s} {r['rate']:10.0f} {r['peak_mib']:7.1f} MiB")
    print()
    growth = results[("stream", SIZES[1])]["peak_mib"] / results[("stream", SIZES[0])]["peak_mib"]
    print(f"stream peak RSS, {SIZES[1]} / {SIZES[0]} records = {growth:.2f}  (target <= 1.25)")
    for n in SIZES:
        ratio = results[("stream", n)]["rate"] / results[("fetch", n)]["rate"]
        print(f"stream / fetch throughput, {n} records = {ratio:.2f}  (target >= 0.50)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=("stream", "fetch"))
    parser.add_argument("--n", type=int, default=SIZES[0])
    parser.add_argument("--base", default="")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_measure(args.base, args.child, args.n, args.rounds))))
    else:
        main(args.rounds)
