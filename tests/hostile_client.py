"""The client side of the hostile-server tests, run in its own process under a memory cap.

``python tests/hostile_client.py BASE_URL MODE OP [MAX_RESPONSE_BYTES]`` sets
``RLIMIT_AS`` (address space) to :data:`ADDRESS_SPACE`, runs OP (``fetch``, ``stream``,
``stream_many``, ``stream_bounded``, ``stream_some``; or ``create`` and ``upload``, which
the server answers with an endless 500) against ``/v2/clients/surname/MODE``, then checks
the client still answers a healthy read, and prints one JSON line: the error's type
(``null`` if none), whether it is one of ours, whether the client was usable after, and
the process's peak RSS in bytes.
"""

from __future__ import annotations

import asyncio
import io
import json
import resource
import sys
from typing import Any

from peak_rss import peak_rss_bytes

#: A cap on the process's address space: a runaway buffer ends in MemoryError, not in
#: the machine's memory (the SDK's import and threads take a few hundred MB of it).
ADDRESS_SPACE = 1536 * 1024 * 1024
#: Bytes of an endless stream read before ``stream_some`` stops (memory must stay flat).
STREAM_SOME = 200 * 1024 * 1024


async def run(base_url: str, mode: str, op: str, limits: dict[str, Any]) -> dict[str, Any]:
    from dizions_async import Client, Query, RetryPolicy, Timeouts
    from dizions_async.errors import DizionsError

    query = Query("clients", strict=False).filter(surname=mode)
    out: dict[str, Any] = {"error": None, "ours": None}
    async with Client(
        "hostile-source",
        "hostile-org",
        "hostile-user",
        base_url=base_url,
        retry=RetryPolicy(max_retries=1, backoff_base=0.01),
        # A short read timeout for the stalls; a long one where only the bound from
        # outside may end the stream (a loaded machine must not make it a read timeout).
        timeout=Timeouts(connect=5, read=30 if op == "stream_bounded" else 1, total=30),
        **limits,
    ) as dz:
        try:
            if op == "fetch":
                await dz.fetch(query)
            elif op == "stream":
                async for _ in dz.stream(query):
                    pass
            elif op == "stream_bounded":
                # A whole stream bounded from outside, as docs/limits.md shows.
                async def drain() -> None:
                    async for _ in dz.stream(query):
                        pass

                await asyncio.wait_for(drain(), 2)
            elif op == "stream_many":
                async for _ in dz.stream_many([query, query]):
                    pass
            elif op == "create":
                await dz.create("clients", {"first_name": "Ann", "surname": "Lee"})
            elif op == "upload":
                letter = io.BytesIO(b"dear client " * 1000)
                await dz.upload("clients", 1, letter, user_visibility=1, group_visibility=1)
            elif op == "stream_some":
                seen = 0
                async for _ in dz.stream(query):
                    seen += 1
                    if seen * 130 > STREAM_SOME:
                        break
                out["records"] = seen
        except BaseException as exc:  # the point: see whatever escapes
            out["error"] = type(exc).__name__
            out["ours"] = isinstance(exc, DizionsError)
            out["message"] = str(exc)[:300]
        out["usable_after"] = await dz.fetch(Query("workers")) == [{"id": 1}]
    return out


def main() -> None:
    base_url, mode, op = sys.argv[1:4]
    limits = {} if len(sys.argv) < 5 else {"max_response_bytes": int(sys.argv[4])}
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    out = asyncio.run(run(base_url, mode, op, limits))
    out["peak_rss"] = peak_rss_bytes()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
