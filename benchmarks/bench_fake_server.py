"""Requests per second of the fake server against a static aiohttp handler, in one run.

Two workloads on 10,000 seeded clients: a simple filtered read and a report. Each is also
served by a static aiohttp handler that returns the very same bytes, so the ratio measures
the fake's own work (routing, auth, SQL, JSON) and not the machine. Each workload runs twice:
"same URL" repeats one URL (as client benchmarks do; the fake answers repeats from its read
cache), "distinct" adds ``?n=<i>`` (ignored by both servers) so that every request misses
the cache and runs its SQL. Run:

    python benchmarks/bench_fake_server.py
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
from aiohttp import web

from dizions_async.testing import FakeDizions

CLIENTS = 10_000
REQUESTS = 300
CONCURRENCY = 8
WORKLOADS = {
    "filtered read": "/v2/clients/religion/1;3/ethnicity/1;2/field/id;surname;postcode;religion",
    "report": "/v2/clients/active/Y/dimension/district/metric/gender",
}


async def rate(url: str, headers: dict[str, str], *, distinct: bool = False) -> float:
    """Requests per second for REQUESTS GETs of ``url``, CONCURRENCY at a time.

    ``distinct`` gives every request its own query string, so no two URLs are equal.
    """
    left = REQUESTS

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            target = f"{url}?n={left}" if distinct else url
            async with http.get(target) as response:
                await response.read()
                assert response.status == 200

    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(url) as response:  # warm up
            await response.read()
        start = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
        return REQUESTS / (time.perf_counter() - start)


async def static_server(bodies: dict[str, bytes]) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.Response:
        body = bodies[request.raw_path.partition("?")[0]]
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def main() -> None:
    started = time.perf_counter()
    async with FakeDizions(clients=CLIENTS, seed=1) as fake:
        print(f"seeded {CLIENTS:,} clients in {time.perf_counter() - started:.1f} s")
        bodies: dict[str, bytes] = {}
        async with aiohttp.ClientSession(headers=fake.headers) as http:
            for path in WORKLOADS.values():
                async with http.get(fake.url + path) as response:
                    bodies[path] = await response.read()
        runner, static_url = await static_server(bodies)
        try:
            for name, path in WORKLOADS.items():
                for distinct in (False, True):
                    fake_rps = await rate(fake.url + path, fake.headers, distinct=distinct)
                    static_rps = await rate(static_url + path, {}, distinct=distinct)
                    label = f"{name}, {'distinct' if distinct else 'same URL'}"
                    print(
                        f"{label:24} {len(bodies[path]):>7,} bytes  fake {fake_rps:7.0f} req/s  "
                        f"static {static_rps:7.0f} req/s  ratio {fake_rps / static_rps:.2f}"
                    )
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
