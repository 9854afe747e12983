"""Typed records against dicts: ``fetch(q, as_=models.Client)`` vs ``fetch(q)``.

The same 100,000 client records (every documented stored field, as the fake server
sends them: ``Y``/``N`` flags, ISO dates, IDs, text) come from one static aiohttp server
in another process, as 20 requests of 5,000 records run concurrently. The two fetches
alternate for several rounds; each round's ratio is dict time / typed time (1.0 = typed
costs nothing extra). The median of the per-round ratios is reported. Target: >= 0.5.

Run: ``python benchmarks/bench_typed.py [--records 100000] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time
from typing import Any

import orjson
from _servers import static_server
from aiohttp import web

from dizions_async import Client, Query, RetryPolicy, models

KEYS = ("bench-source", "bench-org", "bench-user")
PIECES = 20
_DICTIONARY_IDS = (
    "gender",
    "ethnicity",
    "religion",
    "main_language",
    "marital_status",
    "sexual_orientation",
    "accommodation",
    "employment_status",
    "age_range",
    "main_disability",
    "preferred_communication_method",
)


def client_record(i: int) -> dict[str, Any]:
    """Client ``i`` with every stored field of the model, as the fake server sends it."""
    born = dt.date(1930, 1, 1) + dt.timedelta(days=i % 30000)
    yn = "Y" if i % 3 else "N"
    return {
        "id": i,
        "first_name": f"Name{i}",
        "surname": f"Surname{i}",
        "date_of_birth": born.isoformat(),
        "email": f"person{i}@example.org",
        "telephone": f"07700 9{i % 100000:05d}",
        "address_1": f"{i % 200} High Street",
        "town": "Leeds",
        "county": 1,
        "postcode": "LS1 2AB",
        "district": i % 10 + 1,
        "type": 1,
        "external_id": f"EXT-{i:06d}" if i % 3 == 0 else None,
        **{key: i % 7 + 1 for key in _DICTIONARY_IDS},
        "registered_disabled": yn,
        "blue_badge_holder": "N",
        "consent": "Y",
        "deceased": "N",
        "active": yn,
        "gp_name": "Dr Smith",
        "gp_surgery": 3,
        "nhs_number": f"{4_000_000_000 + i}",
        "social_services_number": None,
        "people_in_household": i % 6 + 1,
        "school": None,
        "usual_support_worker": i % 50 + 1,
    }


def _app(records: int) -> web.Application:
    size = records // PIECES
    bodies = [
        orjson.dumps([client_record(i) for i in range(p * size + 1, (p + 1) * size + 1)])
        for p in range(PIECES)
    ]

    async def handler(request: web.Request) -> web.Response:
        piece = int(request.match_info.get("piece") or 0) % PIECES
        return web.Response(body=bodies[piece], content_type="application/json")

    app = web.Application()
    app.router.add_get("/v2/clients/id/{piece}", handler)
    app.router.add_get("/{tail:.*}", handler)
    return app


async def _timed(dz: Client, queries: list[Query], as_: type[Any] | None) -> float:
    started = time.perf_counter()
    results = await asyncio.gather(*(dz.fetch(q, as_=as_) for q in queries))
    elapsed = time.perf_counter() - started
    assert sum(len(r) for r in results) == len(queries) * len(results[0])
    return elapsed


async def main(records: int, rounds: int) -> None:
    with static_server(_app, records) as base:
        queries = [Query("clients").id(p) for p in range(PIECES)]
        async with Client(*KEYS, base_url=base, retry=RetryPolicy(max_retries=0)) as dz:
            await _timed(dz, queries, models.Client)  # warm up: connections, hooks
            ratios, dicts, typed = [], [], []
            for _ in range(rounds):
                d = await _timed(dz, queries, None)
                t = await _timed(dz, queries, models.Client)
                dicts.append(records / d)
                typed.append(records / t)
                ratios.append(d / t)
    print(f"{records} client records, {PIECES} concurrent requests, {rounds} rounds")
    print(f"dicts:          {statistics.median(dicts):>10,.0f} records/s (median)")
    print(f"models.Client:  {statistics.median(typed):>10,.0f} records/s (median)")
    ratio = statistics.median(ratios)
    verdict = "ok" if ratio >= 0.5 else "BELOW 0.5"
    print(f"typed / dict speed: {ratio:.2f} (median of per-round ratios; target >= 0.5: {verdict})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parsed = parser.parse_args()
    asyncio.run(main(parsed.records, parsed.rounds))
