"""Automatic splitting: a 20,000-id pull through ``dz.fetch``, against a hand-written gather.

The SDK pulls ``Query("clients").id(1..20000)``: it cuts the URL (default
``max_url_length`` of 4,096 bytes) into the fewest pieces that fit, runs them under its
concurrency limit (16), merges them in order and de-duplicates by ``id``. The baseline is
what a user would write by hand: the *same* id chunks (planned before the clock starts),
each formatted into a URL with an f-string, fetched by an aiohttp session with a semaphore
of 16, decoded with orjson and concatenated. Both talk to one aiohttp server in another
process that answers each id list with those clients' records. Runs alternate over several
rounds; the best round of each is kept. Target: SDK / hand-written >= 0.90.

Run: ``python benchmarks/bench_split.py [--ids 20000] [--rounds 9]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import socket
import time

import aiohttp
import orjson
from aiohttp import web

from dizions_async import Client, Query, RetryPolicy
from dizions_async.batching import split_to_fit

KEYS = {"Source": "bench-source", "Org": "bench-org", "User": "bench-user"}
CONCURRENCY = 16
MAX_URL = 4096


def _record(i: int) -> bytes:
    return orjson.dumps(
        {
            "id": i,
            "first_name": f"Name{i}",
            "surname": f"Surname{i}",
            "date_of_birth": "1970-01-01",
            "gender": i % 3,
            "ethnicity": i % 17,
            "religion": i % 9,
            "district": i % 12,
            "postcode": "AB1 2CD",
            "email": f"person{i}@example.org",
            "active": "Y",
        }
    )


def _serve(port: int, n: int) -> None:
    records = [b""] + [_record(i) for i in range(1, n + 1)]

    async def handler(request: web.Request) -> web.Response:
        parts = request.raw_path.split("?")[0].split("/")
        wanted = parts[parts.index("id") + 1].split(";") if "id" in parts else []
        body = b"[" + b",".join(records[int(i)] for i in wanted if 0 < int(i) <= n) + b"]"
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_up(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(base + "/v2/clients/id/1") as resp:
                    await resp.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError("benchmark server did not start")


async def run_sdk(dz: Client, query: Query) -> list[dict[str, object]]:
    return await dz.fetch(query)


async def run_hand(
    session: aiohttp.ClientSession, base: str, chunks: list[tuple[int, ...]]
) -> list[dict[str, object]]:
    slots = asyncio.Semaphore(CONCURRENCY)
    # Building the URLs is part of the work a hand-written pull does too.
    urls = [f"{base}/v2/clients/id/{';'.join(map(str, chunk))}" for chunk in chunks]

    async def one(url: str) -> list[dict[str, object]]:
        async with slots, session.get(url) as resp:
            if resp.status != 200:
                raise RuntimeError(resp.status)
            rows: list[dict[str, object]] = orjson.loads(await resp.read())
            return rows

    parts = await asyncio.gather(*(one(u) for u in urls))
    return [row for part in parts for row in part]


async def main(n: int, rounds: int) -> None:
    port = _free_port()
    server = multiprocessing.Process(target=_serve, args=(port, n), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{port}"
    query = Query("clients").id(*range(1, n + 1))
    pieces = split_to_fit(query, base, MAX_URL)
    chunks = [p.ids for p in pieces]  # the same id chunks, for the hand-written pull
    try:
        await _wait_up(base)
        connector = aiohttp.TCPConnector(limit=CONCURRENCY, ttl_dns_cache=300)
        async with (
            Client(
                *KEYS.values(),
                base_url=base,
                max_concurrency=CONCURRENCY,
                max_url_length=MAX_URL,
                retry=RetryPolicy(max_retries=0),
            ) as dz,
            aiohttp.ClientSession(connector=connector, headers=KEYS) as session,
        ):
            await run_hand(session, base, chunks)  # warm up both connection pools
            await run_sdk(dz, query)
            best = {"sdk": float("inf"), "hand": float("inf")}
            for round_no in range(rounds):
                order = ["sdk", "hand"] if round_no % 2 == 0 else ["hand", "sdk"]
                for name in order:
                    started = time.perf_counter()
                    rows = await (
                        run_sdk(dz, query) if name == "sdk" else run_hand(session, base, chunks)
                    )
                    elapsed = time.perf_counter() - started
                    # Freeing 20,000 records takes milliseconds: keep it out of both timings
                    # (whether it falls inside depends on reference cycles, not on the code).
                    got = len(rows)
                    del rows
                    gc.collect()
                    if got != n:
                        raise RuntimeError(f"{name} returned {got} records, not {n}")
                    best[name] = min(best[name], elapsed)
                    print(f"round {round_no + 1}: {name:5s} {elapsed * 1000:7.1f} ms")
        print()
        print(f"{n} ids in {len(pieces)} pieces of <= {MAX_URL} bytes, concurrency {CONCURRENCY}")
        for name, label in (("sdk", "dz.fetch (auto split)"), ("hand", "hand-written gather")):
            ms, rate = best[name] * 1000, n / best[name]
            print(f"  {label:22s} {ms:7.1f} ms  {rate:9.0f} rec/s")
        print(f"  SDK / hand-written = {best['hand'] / best['sdk']:.2f}  (target >= 0.90)")
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    asyncio.run(main(args.ids, args.rounds))
