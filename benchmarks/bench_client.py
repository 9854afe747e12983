"""``dz.gather`` and ``dz.fetch`` against a hand-written aiohttp + orjson loop, in one table.

The same GET requests (~50 records each) go to one static aiohttp server running in a
separate process, at concurrency 1, 16 and 64. Three loops run alternately (the order is
reversed every other round) for ``--rounds`` rounds:

- hand loop: ``aiohttp.ClientSession`` + ``orjson.loads`` under an ``asyncio.Semaphore``;
- fetch: ``asyncio.gather(*(dz.fetch(q) for q in queries))``;
- gather: ``dz.gather(queries)``.

Each SDK loop's throughput is divided by the hand loop's in the same round (same machine
weather), and the table shows the median of those per-round ratios. Each loop starts after
a garbage collection. On a shared 2-core machine one round's ratio can land anywhere from
0.7 to 1.4, so the default is 21 rounds: their median moves by about 0.03 from run to run.
With uvloop installed (the ``bench`` extra), every loop runs again under uvloop, as an
extra column. The last column is the SDK's added CPU time per request: the client
process's ``time.process_time`` per request minus the hand loop's, median over rounds
(the server's CPU is not counted).
Target: every ratio at least 0.95.

A second, quieter measure follows: the SDK's own CPU per request with an in-process
transport that answers at once (no sockets, so the machine's load matters less): each
SDK loop's ``time.process_time`` per request minus that of the same loop written by hand
over the same transport (``asyncio.gather`` of tasks under a semaphore, ``orjson.loads``).

Run: ``python benchmarks/bench_client.py [--requests 2000] [--rounds 21]``

``--tracing`` measures instead what OpenTelemetry costs: the SDK's own CPU per ``fetch``
over the in-process transport, untraced (as a program without OpenTelemetry runs), with
the API imported but no SDK configured ("installed, no exporter"), and with an SDK
``TracerProvider`` that has no exporter (spans made, then dropped), medians of alternating
rounds, each as a share of a real request's CPU time (``fetch`` against the static
server); and what one ``Client.with_options`` view costs to make. Target: at most 3% for
the API without an SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import timeit
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
import orjson
from _servers import static_server
from aiohttp import web

from dizions_async import Client, Query, RetryPolicy
from dizions_async.protocol import Response

try:
    import uvloop
except ImportError:  # an extra column only when installed
    uvloop = None

KEYS = {"Source": "bench-source", "Org": "bench-org", "User": "bench-user"}
CONCURRENCIES = (1, 16, 64)
TARGET = 0.95
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


#: One loop: (base URL, queries, their paths, concurrency) -> records decoded.
Runner = Callable[[str, list[Query], list[str], int], Awaitable[int]]


def _client(base: str, concurrency: int, transport: Any = None) -> Client:
    return Client(
        KEYS["Source"],
        KEYS["Org"],
        KEYS["User"],
        base_url=base,
        max_concurrency=concurrency,
        retry=RetryPolicy(max_retries=0),
        transport=transport,
    )


class InstantTransport:
    """Answers every request at once with the same records: the SDK's own cost shows."""

    def __init__(self) -> None:
        self.response = Response(200, {"Content-Type": "application/json"}, orjson.dumps(RECORDS))

    async def send(self, request: object) -> Response:
        return self.response

    def stream(self, request: object) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


async def _overhead_round(concurrency: int, queries: list[Query]) -> dict[str, float]:
    """CPU seconds per request of each loop over an InstantTransport."""
    transport = InstantTransport()
    slots = asyncio.Semaphore(concurrency)

    async def one(q: Query) -> list[dict[str, object]]:
        async with slots:
            response = await transport.send(q)
            records: list[dict[str, object]] = orjson.loads(response.body)
            return records

    out: dict[str, float] = {}
    for name in ("hand loop", "fetch", "gather"):
        gc.collect()
        used = time.process_time()
        if name == "hand loop":
            await asyncio.gather(*(one(q) for q in queries))
        else:
            async with _client("http://127.0.0.1:1", concurrency, transport) as dz:
                if name == "fetch":
                    await asyncio.gather(*(dz.fetch(q) for q in queries))
                else:
                    await dz.gather(queries)
        out[name] = (time.process_time() - used) / len(queries)
    return out


def measure_overhead(rounds: int, requests: int = 10_000) -> dict[tuple[int, str], float]:
    """``{(concurrency, SDK call): median added CPU us per request}``, in-process."""
    queries = [Query("clients").id(i + 1) for i in range(requests)]
    out: dict[tuple[int, str], float] = {}
    for concurrency in CONCURRENCIES:
        added: dict[str, list[float]] = {"fetch": [], "gather": []}
        for _ in range(rounds):
            cpu = asyncio.run(_overhead_round(concurrency, queries))
            for name, values in added.items():
                values.append((cpu[name] - cpu["hand loop"]) * 1e6)
        for name, values in added.items():
            out[concurrency, name] = statistics.median(values)
    return out


async def run_hand(base: str, queries: list[Query], paths: list[str], concurrency: int) -> int:
    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector, headers=KEYS) as session:

        async def one(path: str) -> list[dict[str, object]]:
            async with slots, session.get(base + path) as resp:
                if resp.status != 200:
                    raise RuntimeError(resp.status)
                records: list[dict[str, object]] = orjson.loads(await resp.read())
                return records

        # Keep the records, as the SDK does: every loop hands its caller the dicts.
        results = await asyncio.gather(*(one(p) for p in paths))
    return sum(map(len, results))


async def run_fetch(base: str, queries: list[Query], paths: list[str], concurrency: int) -> int:
    async with _client(base, concurrency) as dz:
        results = await asyncio.gather(*(dz.fetch(q) for q in queries))
    return sum(map(len, results))


async def run_gather(base: str, queries: list[Query], paths: list[str], concurrency: int) -> int:
    async with _client(base, concurrency) as dz:
        results = await dz.gather(queries)
    return sum(map(len, results))


RUNNERS: dict[str, Runner] = {"hand loop": run_hand, "fetch": run_fetch, "gather": run_gather}


def _run(loop_kind: str, coro: Coroutine[Any, Any, int]) -> int:
    if loop_kind == "uvloop":
        assert uvloop is not None
        return uvloop.run(coro)
    return asyncio.run(coro)


def measure(
    base: str, loop_kind: str, concurrency: int, requests: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """``{loop: (median per-round ratio to the hand loop, median added CPU us/request)}``."""
    queries = [Query("clients").id(i + 1) for i in range(requests)]
    paths = [q.path for q in queries]  # prebuilt, outside the timing, for every loop
    ratios: dict[str, list[float]] = {name: [] for name in RUNNERS}
    added_cpu: dict[str, list[float]] = {name: [] for name in RUNNERS}
    for round_no in range(rounds):
        order = list(RUNNERS) if round_no % 2 == 0 else list(reversed(RUNNERS))
        rps: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for name in order:
            gc.collect()  # each loop starts from the same heap, not the last one's garbage
            wall, used = time.perf_counter(), time.process_time()
            records = _run(loop_kind, RUNNERS[name](base, queries, paths, concurrency))
            used, wall = time.process_time() - used, time.perf_counter() - wall
            if records != requests * len(RECORDS):
                raise RuntimeError(f"{name} decoded {records} records")
            rps[name], cpu[name] = requests / wall, used / requests
        for name in RUNNERS:
            ratios[name].append(rps[name] / rps["hand loop"])
            added_cpu[name].append((cpu[name] - cpu["hand loop"]) * 1e6)
    return {
        name: (statistics.median(ratios[name]), statistics.median(added_cpu[name]))
        for name in RUNNERS
        if name != "hand loop"
    }


def main(requests: int, rounds: int) -> None:
    loops = ["asyncio"] + (["uvloop"] if uvloop is not None else [])
    table: dict[tuple[int, str], dict[str, tuple[float, float]]] = {}
    with static_server(_app) as base:
        _run("asyncio", run_hand(base, [], [f"/v2/clients/id/{i}" for i in range(200)], 16))
        for concurrency in CONCURRENCIES:
            # Concurrency 1 is one request at a time: fewer of them take as long.
            n = max(requests // 4, 100) if concurrency == 1 else requests
            for loop_kind in loops:
                for name, value in measure(base, loop_kind, concurrency, n, rounds).items():
                    table.setdefault((concurrency, name), {})[loop_kind] = value
    print(
        f"\nmedian of {rounds} per-round ratios to the hand-written aiohttp + orjson loop "
        f"({requests} GETs of {len(RECORDS)} records; {max(requests // 4, 100)} at "
        f"concurrency 1); target >= {TARGET}"
    )
    header = "| concurrency | SDK call | " + " | ".join(loops)
    header += " | added CPU per request (" + ", ".join(loops) + ") |"
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    for (concurrency, name), cells in table.items():
        shown = " | ".join(f"{cells[k][0]:.2f}" for k in loops)
        cpu = ", ".join(f"{cells[k][1]:.0f} us" for k in loops)
        print(f"| {concurrency} | {name} | {shown} | {cpu} |")
    print("\nSDK CPU per request over an in-process transport that answers at once, minus")
    quiet_rounds = min(rounds, 7)  # quieter already, and 10,000 requests a round
    print(f"the same loop by hand (median of {quiet_rounds} rounds of 10,000 requests):")
    print("| concurrency | SDK call | added CPU per request |\n| --- | --- | --- |")
    for (concurrency, name), added in measure_overhead(quiet_rounds).items():
        print(f"| {concurrency} | {name} | {added:.1f} us |")


def view_cost_us() -> float:
    """Microseconds to make one ``with_options`` view (best of 5 timeit runs)."""
    dz = _client("https://api.example", 16)
    policy = RetryPolicy(max_retries=0)
    n = 20_000
    best = min(
        timeit.timeit(lambda: dz.with_options(timeout=2.0, retry=policy), number=n)
        for _ in range(5)
    )
    return best / n * 1e6


async def _call_cost_us(modes: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """CPU microseconds per ``fetch`` over the InstantTransport for each mode (set up by
    its function), medians of alternating rounds."""
    query = Query("clients").id(1)
    costs: dict[str, list[float]] = {name: [] for name in modes}
    async with _client("https://api.example", 16, InstantTransport()) as dz:
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


def main_tracing(requests: int, rounds: int) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from dizions_async import _otel

    active = _otel._active

    def off() -> None:
        _otel._active = lambda: None  # what a program without OpenTelemetry runs

    def on() -> None:
        _otel._active = active

    api = asyncio.run(_call_cost_us({"untraced": off, "API, no SDK": on}, 3 * rounds))
    trace.set_tracer_provider(TracerProvider())  # no span processor: nothing is exported
    _otel._tracing = None  # look for the provider again now
    sdk = asyncio.run(_call_cost_us({"untraced": off, "SDK, no exporter": on}, 3 * rounds))
    # A real request's CPU time, untraced, for scale.
    queries = [Query("clients").id(i + 1) for i in range(requests)]
    off()
    with static_server(_app) as base:
        per_request: list[float] = []
        for _ in range(rounds):
            used = time.process_time()
            asyncio.run(run_fetch(base, queries, [], 64))
            per_request.append((time.process_time() - used) / requests * 1e6)
    on()
    request_us = statistics.median(per_request)
    print(f"SDK CPU per fetch (median of {3 * rounds} alternating rounds, in-process):")
    for name, cost in (("API, no SDK", api), ("SDK, no exporter", sdk)):
        extra = cost[name] - cost["untraced"]
        print(
            f"  {name:16s} {cost[name]:6.1f} us vs {cost['untraced']:6.1f} untraced: "
            f"{extra:+.2f} us = {extra / request_us:+.1%} of a real request's {request_us:.0f} us"
        )
    print(f"  with_options view: {view_cost_us():.2f} us to make")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--tracing", action="store_true", help="the cost of tracing instead")
    args = parser.parse_args()
    if args.tracing:
        main_tracing(args.requests, args.rounds)
    else:
        main(args.requests, args.rounds)
