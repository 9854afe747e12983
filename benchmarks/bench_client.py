"""Throughput of ``Client.fetch`` against a hand-written aiohttp loop and an httpx loop.

The same 3,000 GET requests (concurrency 64, ~50 records each) go to one static aiohttp
server running in a separate process. The three loops run alternately, several rounds;
the best round of each is reported as requests per second, with the ratios. Target: the
SDK at least 0.90 of the hand-written aiohttp loop.

Run: ``python benchmarks/bench_client.py [--requests 3000] [--rounds 3]``
(httpx comes with the ``bench`` extra).

``--tracing`` measures instead what OpenTelemetry costs the same SDK loop: untraced (as a
program without OpenTelemetry runs), with the API imported but no SDK configured ("installed,
no exporter"), and with an SDK ``TracerProvider`` that has no exporter (spans are made, then
dropped): the extra CPU time per call through a MockTransport (the SDK's own cost, medians
of alternating rounds; CPU time, not wall time, which on a shared machine mostly measures
the neighbours), as a share of a real request's CPU time in the loop above; and what one
``Client.with_options`` view costs to make. Target: at most 3% for the API without an SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import timeit
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import orjson
from _servers import static_server
from aiohttp import web

from dizions_async import Client, MockTransport, Query, RetryPolicy
from dizions_async.transport import json_response

KEYS = {"Source": "bench-source", "Org": "bench-org", "User": "bench-user"}
CONCURRENCY = 64
RECORDS = [
    {
        "id": i,
        "first_name": f"Name{i}",
        "surname": f"Surname{i}",
        "gender": i % 3,
        "district": i % 12,
        "postcode": "AB1 2CD",
        "active": "Y",
    }
    for i in range(50)
]


def _app() -> web.Application:
    body = orjson.dumps(RECORDS)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


def _queries(n: int) -> list[Query]:
    return [Query("clients").id(i + 1) for i in range(n)]


# Every loop gets its request descriptions prebuilt, outside the timing: the SDK its
# queries, the hand-written loops the same queries' paths.
_QUERIES: dict[int, list[Query]] = {}


def _paths(n: int) -> list[str]:
    _QUERIES[n] = _queries(n)
    return [q.path for q in _QUERIES[n]]


async def run_sdk(base: str, paths: list[str]) -> int:
    queries = _QUERIES.get(len(paths)) or _queries(len(paths))
    async with Client(
        KEYS["Source"],
        KEYS["Org"],
        KEYS["User"],
        base_url=base,
        max_concurrency=CONCURRENCY,
        retry=RetryPolicy(max_retries=0),
    ) as dz:
        results = await asyncio.gather(*(dz.fetch(q) for q in queries))
    return sum(len(r) for r in results)


async def run_aiohttp(base: str, paths: list[str]) -> int:
    slots = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector, headers=KEYS) as session:

        async def one(path: str) -> list[dict[str, object]]:
            async with slots, session.get(base + path) as resp:
                if resp.status != 200:
                    raise RuntimeError(resp.status)
                records: list[dict[str, object]] = orjson.loads(await resp.read())
                return records

        # Keep the records, as the SDK does: every loop hands its caller 150,000 dicts.
        results = await asyncio.gather(*(one(p) for p in paths))
    return sum(len(r) for r in results)


async def run_httpx(base: str, paths: list[str]) -> int:
    slots = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(headers=KEYS, limits=limits) as client:

        async def one(path: str) -> list[dict[str, object]]:
            async with slots:
                resp = await client.get(base + path)
                if resp.status_code != 200:
                    raise RuntimeError(resp.status_code)
                records: list[dict[str, object]] = orjson.loads(resp.content)
                return records

        results = await asyncio.gather(*(one(p) for p in paths))
    return sum(len(r) for r in results)


Runner = Callable[[str, list[str]], Awaitable[int]]


async def main(requests: int, rounds: int) -> None:
    with static_server(_app) as base:
        paths = _paths(requests)
        runners: dict[str, Runner] = {
            "dizions_async": run_sdk,
            "aiohttp loop": run_aiohttp,
            "httpx loop": run_httpx,
        }
        best: dict[str, float] = dict.fromkeys(runners, 0.0)
        ratios: list[float] = []  # SDK / aiohttp loop within each round: same machine weather
        await run_aiohttp(base, paths[:200])  # warm up the server
        for round_no in range(rounds):
            order = list(runners) if round_no % 2 == 0 else list(reversed(runners))
            this_round: dict[str, float] = {}
            for name in order:
                started = time.perf_counter()
                records = await runners[name](base, paths)
                elapsed = time.perf_counter() - started
                if records != requests * len(RECORDS):
                    raise RuntimeError(f"{name} decoded {records} records")
                rps = this_round[name] = requests / elapsed
                best[name] = max(best[name], rps)
                print(f"round {round_no + 1}: {name:14s} {rps:8.0f} req/s")
            ratios.append(this_round["dizions_async"] / this_round["aiohttp loop"])
        print()
        print(f"best of {rounds} rounds, {requests} requests, concurrency {CONCURRENCY}:")
        for name, rps in best.items():
            print(f"  {name:14s} {rps:8.0f} req/s")
        hand = best["aiohttp loop"]
        print(f"  SDK / aiohttp loop = {best['dizions_async'] / hand:.2f} (best rounds)")
        print(f"  SDK / aiohttp loop = {statistics.median(ratios):.2f} (median of rounds)")
        print(f"  httpx / aiohttp loop = {best['httpx loop'] / hand:.2f}")
        print(f"  SDK / httpx loop = {best['dizions_async'] / best['httpx loop']:.2f}")


def view_cost_us() -> float:
    """Microseconds to make one ``with_options`` view (best of 5 timeit runs)."""
    dz = Client("s", "o", "u", base_url="https://api.example")
    policy = RetryPolicy(max_retries=0)
    n = 20_000
    best = min(
        timeit.timeit(lambda: dz.with_options(timeout=2.0, retry=policy), number=n)
        for _ in range(5)
    )
    return best / n * 1e6


async def _call_cost_us(modes: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """CPU microseconds per ``fetch`` through a MockTransport (no network: the SDK's own
    cost alone), for each mode set up by its function; medians of alternating rounds."""
    response = json_response(RECORDS)
    transport = MockTransport(lambda request: response)
    query = Query("clients").id(1)
    costs: dict[str, list[float]] = {name: [] for name in modes}
    async with Client("s", "o", "u", base_url="https://api.example", transport=transport) as dz:
        for _ in range(2000):
            await dz.fetch(query)
        for round_no in range(rounds):
            order = list(modes) if round_no % 2 == 0 else list(reversed(modes))
            for name in order:
                modes[name]()
                started = time.process_time()
                for _ in range(3000):
                    await dz.fetch(query)
                costs[name].append((time.process_time() - started) / 3000 * 1e6)
    return {name: statistics.median(values) for name, values in costs.items()}


async def main_tracing(requests: int, rounds: int) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from dizions_async import _otel

    active = _otel._active

    def off() -> None:
        _otel._active = lambda: None  # what a program without OpenTelemetry runs

    def on() -> None:
        _otel._active = active

    async def untraced(base: str, paths: list[str]) -> int:
        off()
        try:
            return await run_sdk(base, paths)
        finally:
            on()

    # The SDK's own cost per call, without the network: the API alone, then with an SDK.
    api = await _call_cost_us({"untraced": off, "API, no SDK": on}, 3 * rounds)
    trace.set_tracer_provider(TracerProvider())  # no span processor: nothing is exported
    _otel._tracing = None  # look for the provider again now
    sdk = await _call_cost_us({"untraced": off, "SDK, no exporter": on}, 3 * rounds)
    # A real request's CPU time, untraced, for scale.
    with static_server(_app) as base:
        paths = _paths(requests)
        await run_aiohttp(base, paths[:200])  # warm up the server
        per_request: list[float] = []
        for _ in range(rounds):
            started = time.process_time()
            await untraced(base, paths)
            per_request.append((time.process_time() - started) / requests * 1e6)
    request_us = statistics.median(per_request)
    print(f"CPU time per call (median of {3 * rounds} alternating rounds, MockTransport):")
    for name, extra in (("API, no SDK", api), ("SDK, no exporter", sdk)):
        cost = extra[name] - extra["untraced"]
        print(
            f"  {name:16s} {extra[name]:6.1f} us vs {extra['untraced']:6.1f} untraced: "
            f"{cost:+.2f} us = {cost / request_us:+.1%} of a real request's {request_us:.0f} us"
        )
    print(f"  with_options view: {view_cost_us():.2f} us to make")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tracing", action="store_true", help="the cost of tracing instead")
    args = parser.parse_args()
    if args.tracing:
        asyncio.run(main_tracing(args.requests, args.rounds))
    else:
        asyncio.run(main(args.requests, args.rounds))
