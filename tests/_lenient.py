"""A lenient in-test Dizions server: it stores every create, duplicate external IDs too.

The bundled fake refuses a second client with an external ID it already holds, which
hides a duplicate create behind a 400. This server does not, so a test can count what a
real, less careful server would end up holding. Each write takes the next scripted fault
(if any) from ``faults``:

* ``"commit_then_html"``: store the record, then answer 200 with an HTML page;
* ``"commit_then_503"``: store the record, then answer 503 (a gateway's timeout);
* ``"commit_then_cut"``: store the record, then start a 200 body and drop the connection;
* ``"late_503"``: answer 503 at once and store the record ``late_delay`` seconds later.

Reads: ``GET /v2/clients/external_id/A;B/...`` (any ``field`` segment is ignored) and
``GET /v2/{resource}/id/{id}``. Loopback only.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl, unquote

from aiohttp import web

HTML = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"


class LenientServer:
    def __init__(self, *, late_delay: float = 0.05) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.faults: list[str | None] = []
        self.requests: list[tuple[str, str, int]] = []
        self.late_delay = late_delay
        self.url = ""
        self._next_id = 100
        self._runner: web.AppRunner | None = None
        self._late: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> LenientServer:
        app = web.Application()
        app.router.add_route("*", "/v2/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._late:
            task.cancel()
        assert self._runner is not None
        await self._runner.cleanup()

    # -- state ----------------------------------------------------------------------------

    def store(self, resource: str, fields: dict[str, Any]) -> int:
        self._next_id += 1
        self.records.setdefault(resource, []).append({"id": self._next_id, **fields})
        return self._next_id

    def count(self, resource: str) -> int:
        return len(self.records.get(resource, []))

    def writes(self) -> list[tuple[str, str, int]]:
        return [r for r in self.requests if r[0] != "GET"]

    # -- handling -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parts = [unquote(p) for p in request.raw_path.split("?")[0].split("/")[2:]]
        status = 200
        try:
            if request.method == "GET":
                response = self._read(parts)
            else:
                response = await self._write(request, parts)
            status = response.status
            return response
        finally:
            self.requests.append((request.method, request.raw_path, status))

    def _read(self, parts: list[str]) -> web.StreamResponse:
        resource, rest = parts[0], parts[1:]
        rows = self.records.get(resource, [])
        if rest[:1] == ["external_id"]:
            wanted = {unquote(v) for v in rest[1].split(";")}
            return web.json_response([r for r in rows if r.get("external_id") in wanted])
        if rest[:1] == ["id"]:
            found = [r for r in rows if str(r["id"]) == rest[1]]
            if not found:
                return web.json_response({"error": "no such record"}, status=404)
            return web.json_response(found)
        return web.json_response(rows)

    async def _write(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        fields: dict[str, Any] = dict(parse_qsl((await request.read()).decode()))
        resource = parts[0]
        if resource == "clients" and parts[1:2] == ["external_id"]:
            fields["external_id"] = parts[2]
        fault = self.faults.pop(0) if self.faults else None
        if fault == "late_503":
            task = asyncio.ensure_future(self._store_later(resource, fields))
            self._late.add(task)
            return web.json_response({"error": "gateway timeout"}, status=503)
        new_id = self.store(resource, fields)
        if fault == "commit_then_html":
            return web.Response(body=HTML, content_type="text/html")
        if fault == "commit_then_503":
            return web.json_response({"error": "service unavailable"}, status=503)
        if fault == "commit_then_cut":
            cut = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            cut.content_length = 200
            await cut.prepare(request)
            await cut.write(b'{"id": ')
            assert request.transport is not None
            request.transport.close()
            return cut
        return web.json_response({"id": new_id}, status=201)

    async def _store_later(self, resource: str, fields: dict[str, Any]) -> None:
        await asyncio.sleep(self.late_delay)
        self.store(resource, fields)
