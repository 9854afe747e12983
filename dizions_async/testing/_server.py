"""The fake server's aiohttp application: routing, authentication, faults and the request log.

One middleware wraps every request: it counts requests in flight, applies the fault rules,
answers 414 for a URL over 8,192 bytes and 401 for wrong keys, turns :class:`Problem` into
``{"error": ...}`` bodies, and appends a :class:`LoggedRequest` (keys masked). Routing is
done by hand on ``request.raw_path`` so that percent-encoded values are parsed by
``Query.from_path`` exactly once and never decoded early. Record reads and reports are
answered from a :class:`ReadCache` while the store's data is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hmac
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import attrs
import orjson
from aiohttp import BodyPartReader, web

from dizions_async.catalogue import (
    KEY_TEST_PATH,
    WRITE_VERBS,
    OperationKind,
    WriteMatch,
    WriteVerbs,
    get_resource,
    match_write,
)
from dizions_async.errors import QueryError
from dizions_async.query import Query
from dizions_async.testing._cache import ReadCache
from dizions_async.testing._faults import Fault, Faults
from dizions_async.testing._schema import VIEWS
from dizions_async.testing._store import Problem, Store

__all__ = ["MAX_URL_BYTES", "Keys", "LoggedRequest", "ServerState", "make_app"]

MAX_URL_BYTES = 8192
_KEY_HEADERS = ("Source", "Org", "User")
_LISTS = ("selectable_fields", "filterable_fields", "metrics", "friendly_names")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_log = logging.getLogger(__name__)
# Bytes of body read by the request being handled (middleware and handler share a task).
_BODY_SIZE: contextvars.ContextVar[list[int]] = contextvars.ContextVar("dizions_body_size")


@attrs.frozen(repr=False)
class Keys:
    """The three keys the fake server accepts; the repr never shows them."""

    source: str
    org: str
    user: str

    @property
    def headers(self) -> dict[str, str]:
        """The keys as request headers."""
        return {"Source": self.source, "Org": self.org, "User": self.user}

    def __repr__(self) -> str:
        return "Keys(source=***, org=***, user=***)"


@attrs.frozen
class LoggedRequest:
    """One request as the server saw it.

    Attributes:
        method: the HTTP method.
        path: the raw path with its query string.
        headers: request headers, with Source, Org and User values masked as ``***``.
        body_size: bytes of request body read.
        status: the status answered, or 0 when the connection was dropped (by a fault, or
            by the client before its request body ended).
        fault: the injected fault, or None.
    """

    method: str
    path: str
    headers: dict[str, str]
    body_size: int
    status: int
    fault: str | None = None


@attrs.define
class ServerState:
    """Everything the handlers share: store, keys, faults, log, upload folder."""

    store: Store
    keys: Keys
    faults: Faults
    upload_dir: Path
    write_verbs: frozenset[WriteVerbs] = frozenset(WRITE_VERBS)
    branches: bool = False
    requests: list[LoggedRequest] = attrs.field(factory=list)
    read_cache: ReadCache = attrs.field(factory=ReadCache)
    in_flight: int = 0
    peak_in_flight: int = 0

    def configuration(self) -> dict[str, Any]:
        """The answer to the key test, ``GET /v2/business/configuration`` [assumed shape]."""
        return {
            "name": "Fake Dizions charity",
            "system": "training",
            "uses_branches": "Y" if self.branches else "N",
        }


_STATE = web.AppKey("dizions_state", ServerState)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"error": message, **extra}, status)


def _drop(request: web.Request) -> web.Response:
    # Abort the socket: the client sees the connection close with no response at all.
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


def _authorised(request: web.Request, keys: Keys) -> bool:
    expected = keys.headers
    # surrogateescape: a header with undecodable bytes is a wrong key (401), not a crash.
    return all(
        hmac.compare_digest(
            request.headers.get(name, "").encode("utf-8", "surrogateescape"),
            expected[name].encode(),
        )
        for name in _KEY_HEADERS
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: What ``commit_then_garble`` answers after committing: a proxy's page, not JSON.
_PROXY_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body>proxy</body></html>"


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[_STATE]
    state.in_flight += 1
    state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
    body_size = [0]
    _BODY_SIZE.set(body_size)
    status, fault = 0, Fault.NONE
    try:
        decision = state.faults.decide(request.method, request.path)
        fault = decision.fault
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if fault is Fault.RATE_LIMIT:
            response: web.StreamResponse = _json(
                {"error": "too many requests"}, 429, {"Retry-After": decision.retry_after}
            )
        elif fault is Fault.UNAVAILABLE:
            response = _error(503, "service unavailable")
        elif fault is Fault.DROP:
            return _drop(request)
        else:
            try:
                response = await _answer(request, handler, state)
            except ConnectionResetError:
                # The client closed the connection before its body ended: nobody is there
                # to answer, so log it like a dropped connection (status 0).
                return web.Response(status=400)
            if fault is Fault.COMMIT_THEN_500:
                response = _error(500, "internal server error")
            elif fault is Fault.COMMIT_THEN_DROP:
                return _drop(request)
            elif fault is Fault.COMMIT_THEN_GARBLE:
                response = web.Response(status=200, body=_PROXY_PAGE, content_type="text/html")
        status = response.status
        return response
    finally:
        state.in_flight -= 1
        headers = {
            k: ("***" if k.title() in _KEY_HEADERS else v) for k, v in request.headers.items()
        }
        state.requests.append(
            LoggedRequest(
                request.method,
                request.raw_path,
                headers,
                body_size[0],
                status,
                None if fault is Fault.NONE else fault.value,
            )
        )


async def _answer(request: web.Request, handler: Handler, state: ServerState) -> web.StreamResponse:
    if len(request.raw_path.encode()) > MAX_URL_BYTES:
        return _error(414, f"URL longer than {MAX_URL_BYTES} bytes")
    if not _authorised(request, state.keys):
        return _error(401, "missing or wrong Source, Org or User key")
    try:
        return await handler(request)
    except Problem as problem:
        headers = {"Allow": problem.allow} if problem.allow else None
        return _json(problem.body(), problem.status, headers)
    except QueryError as exc:
        return _error(400, str(exc))
    except ConnectionResetError:
        raise  # the client went away mid-body: not a bug in the fake (see _middleware)
    except Exception as exc:  # a bug in the fake: answer like a server would, and say where
        _log.exception("fake Dizions server failed on %s %s", request.method, request.path)
        return _error(500, f"internal error in the fake server: {type(exc).__name__}")


async def _dispatch(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    path = request.raw_path.partition("?")[0]
    segs = path.split("/")[1:]
    if len(segs) < 2 or segs[0] != "v2" or not segs[1]:
        raise Problem(404, f"no such path {request.path!r}")
    segs = segs[1:]
    width = 2 if segs[0] == "extension_database" and len(segs) > 1 else 1
    resource, rest = "/".join(segs[:width]), segs[width:]
    if request.method == "GET":
        if path == KEY_TEST_PATH:
            return _json(state.configuration())
        if resource == "dictionary":
            return _json(_dictionary(state.store, [unquote(s) for s in rest]))
        _known(resource, OperationKind.READ)
        if len(rest) == 1 and rest[0] in _LISTS:
            return _json(getattr(state.store, rest[0])(resource))
        return _read(state, request.raw_path)
    if request.method in ("PUT", "POST"):
        return await _write(request, state, resource, rest)
    raise Problem(405, f"method {request.method} is not allowed")


def _known(resource: str, kind: OperationKind) -> None:
    if resource not in VIEWS or not get_resource(resource).supports(kind):
        raise Problem(404, f"unknown resource {resource!r}")


def _dictionary(store: Store, rest: list[str]) -> list[dict[str, Any]]:
    if rest and not rest[-1]:
        rest = rest[:-1]  # the wiki's examples end some paths with "/"
    if not rest:
        return store.dictionary_all()
    if len(rest) == 1:
        return store.dictionary(rest[0])
    if len(rest) == 2:
        return store.dictionary(rest[0], rest[1])
    if len(rest) == 4 and rest[0] == "search":
        return store.dictionary_search(rest[1], rest[2], rest[3])
    raise Problem(404, "no such dictionary path")


def _read(state: ServerState, raw_path: str) -> web.Response:
    store = state.store
    version = store.version
    body = state.read_cache.get(version, raw_path)
    if body is None:
        query = Query.from_path(raw_path, strict=False)
        if query.metric_key is not None and query.dimension_key is None:
            raise Problem(400, f"metric {query.metric_key!r} needs a dimension")
        if query.is_report:
            body = orjson.dumps(store.report(query))
        else:
            body = store.read_json(query)
            if query.ids and body == b"[]" and not (query.filters or query.date_ranges):
                ids = ";".join(map(str, query.ids))
                raise Problem(404, f"{query.resource} record(s) {ids} not found")
        state.read_cache.put(version, raw_path, body)
    return web.Response(body=body, content_type="application/json")


def _route(state: ServerState, method: str, resource: str, rest: list[str]) -> WriteMatch:
    """The write a request asks for, in a convention this server accepts.

    Raises:
        Problem: 405 for the other convention's verb (saying nothing was done, and which
            setting sends what this server takes), 404 for an unknown write path.
    """
    try:
        spec = get_resource(resource)
    except QueryError:
        raise Problem(404, f"unknown resource {resource!r}") from None
    matches = match_write(spec, rest)
    for match in matches:
        if match.method == method and match.verbs in state.write_verbs:
            return match
    wanted = [m for m in matches if m.verbs in state.write_verbs]
    if wanted:
        other = next((m for m in matches if m.method == method), None)
        why = f" (the {other.verbs} convention's verb)" if other is not None else ""
        take = wanted[0]
        raise Problem(
            405,
            f"{method}{why} is not allowed here: this server takes {take.method} for this "
            f"path; nothing was done. Send it with write_verbs={take.verbs!r} "
            "(Client(write_verbs=...), DIZIONS_WRITE_VERBS or --write-verbs)",
            allow=take.method,
        )
    raise Problem(404, f"no such path for {method}: /v2/{resource}/{'/'.join(rest)}")


async def _write(
    request: web.Request, state: ServerState, resource: str, rest: list[str]
) -> web.Response:
    match = _route(state, request.method, resource, rest)
    store, kind, values = state.store, match.kind, match.values
    if kind is OperationKind.UPLOAD:
        return await _upload(request, state, resource, _record_id(values["id"], "record"))
    body = await _body(request)
    if kind is OperationKind.CREATE:
        if resource == "external_referral" and isinstance(body, list):
            ids = store.create_external_referrals(body)
            return _json({"id": ids[0], "ids": ids}, 201)
        created = store.create(resource, _single(body), branches=state.branches)
    elif kind is OperationKind.CREATE_BY_EXTERNAL_ID:
        created = store.create_client_by_external_id(unquote(values["external_id"]), _single(body))
    elif kind is OperationKind.CREATE_FOR_REFERRAL:
        referral = _record_id(values["referral"], "referral")
        created = store.create_contact(resource, referral, _single(body))
    elif kind is OperationKind.RELATE:
        first = _record_id(values["first"], "first client")
        second = _record_id(values["second"], "second client")
        if not isinstance(body, list) or len(body) != 1:
            raise Problem(400, "the body must be a JSON array of one relationship object")
        return _json({"id": store.set_relationship(first, second, body[0])})
    else:  # UPDATE, COMPLETE
        record = _record_id(values["id"], "record")
        return _json({"id": store.update(resource, record, _single(body))})
    return _json({"id": created}, 201)


def _record_id(text: str, what: str) -> int:
    if not text.isdigit():
        raise Problem(400, f"the {what} ID must be a whole number, got {unquote(text)!r}")
    return int(text)


def _text(key: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise Problem(400, f"field {key!r} must be a string, number or boolean")


#: Fields of an external referral's person that map positions to relationship IDs.
_LINKS = ("relationships", "carer_relationships")


def _fields(data: object) -> dict[str, str]:
    if not isinstance(data, dict):
        raise Problem(400, "the body must be an object of fields")
    out: dict[str, str] = {}
    for k, v in data.items():
        key = str(k)
        if key in _LINKS and isinstance(v, dict):
            # Kept as JSON text: the store checks the positions against the whole array.
            out[key] = orjson.dumps({str(a): _text(key, b) for a, b in v.items()}).decode()
        else:
            out[key] = _text(key, v)
    return out


async def _body(request: web.Request) -> dict[str, str] | list[dict[str, str]]:
    raw = await request.read()
    _BODY_SIZE.get()[0] = len(raw)
    if request.content_type == "application/json":
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Problem(400, "the body is not valid JSON") from None
        if isinstance(data, list):
            if not data:
                raise Problem(400, "the body is an empty list")
            return [_fields(item) for item in data]
        return _fields(data)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise Problem(400, "the body is not UTF-8") from None
    return dict(parse_qsl(text, keep_blank_values=True))


def _single(body: dict[str, str] | list[dict[str, str]]) -> dict[str, str]:
    if isinstance(body, list):
        raise Problem(400, "the body must be one object, not a list")
    return body


async def _upload(
    request: web.Request, state: ServerState, resource: str, record: int
) -> web.Response:
    if not state.store.exists(resource, record):
        raise Problem(404, f"{resource} record {record} not found")
    if not request.content_type.startswith("multipart/"):
        raise Problem(400, "uploads must be multipart/form-data")
    reader = await request.multipart()
    fields: dict[str, str] = {}
    files: list[dict[str, object]] = []
    folder = state.upload_dir / resource / str(record)
    written: list[Path] = []
    size_total = 0
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise Problem(400, "nested multipart bodies are not accepted")
            if part.filename is None:
                value = (await part.read()).decode()
                size_total += len(value)
                fields[part.name or ""] = value
                continue
            name = _UNSAFE_NAME.sub("_", Path(part.filename).name) or "upload"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{uuid.uuid4().hex[:12]}_{name}"
            written.append(target)
            size = 0
            with target.open("wb") as out:
                # Stream to disk chunk by chunk: an upload is never held whole in memory.
                while chunk := await part.read_chunk(65536):
                    out.write(chunk)
                    size += len(chunk)
            size_total += size
            files.append(
                {
                    "filename": part.filename,
                    "stored_path": str(target),
                    "size": size,
                    "content_type": part.headers.get("Content-Type", "application/octet-stream"),
                }
            )
        _BODY_SIZE.get()[0] = size_total
        if not files:
            raise Problem(400, "the upload carries no files")
        visibility = {
            "user_visibility": fields.get("user_visibility", ""),
            "group_visibility": fields.get("group_visibility", ""),
        }
        ids = state.store.add_uploads(resource, record, [{**visibility, **f} for f in files])
    except BaseException:
        # Refused, cut off (the client went away: CancelledError) or failed: nothing of
        # this upload stays on disk, as nothing of it was recorded.
        _BODY_SIZE.get()[0] = size_total
        for path in written:
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: earlier uploads keep it
        raise
    return _json({"id": ids[0], "ids": ids}, 201)


def make_app(state: ServerState) -> web.Application:
    """The aiohttp application of one fake server.

    Args:
        state: the store, keys, faults and log the handlers share.

    Returns:
        An application whose request lines may be long enough for our own 414.
    """
    app = web.Application(
        middlewares=[_middleware],
        # aiohttp refuses request lines over 8,190 bytes itself, without our JSON body;
        # raise its limits so the 414 comes from the handler.
        handler_args={"max_line_size": 1 << 16, "max_field_size": 1 << 16},
        client_max_size=1 << 24,
    )
    app[_STATE] = state
    app.router.add_route("*", "/{tail:.*}", _dispatch)
    return app
