"""The wire format: requests built, responses decoded, error statuses mapped.

This is the only module that knows how the Dizions API encodes things on the wire,
including the details no public source states (``docs/resources.md`` lists them as
assumed: JSON arrays for reads, ``{"dim": count}`` reports, ``{"error": "..."}`` bodies,
``{"id": n}`` on writes). It does no I/O and never imports aiohttp: :class:`Request` and
:class:`Response` are plain values that any transport can carry.

Privacy rules enforced here (the rule itself is :mod:`dizions_async._redact`): a Request's
repr shows neither headers (the Source, Org and User keys, held as ``Secret``) nor the real
URL; ``label`` is the method and the path with values masked (unless the caller opted in),
and every error built here uses only the label and the server's message, in which the keys
and every value the request carried are masked before it is cut to length.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Collection, Mapping
from typing import IO, Any

import attrs
import orjson
from yarl import URL

from dizions_async._redact import (
    Secret,
    cut,
    form_values,
    json_values,
    path_values,
    redact_path,
    reveal,
    scrub,
)
from dizions_async.errors import (
    APIError,
    AuthenticationError,
    DecodeError,
    NotFoundError,
    RateLimitError,
    ResponseTooLarge,
    ServerError,
)
from dizions_async.results import DictionaryEntry, Report

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "FORM_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "MAX_DEPTH",
    "MAX_ERROR_BODY",
    "MAX_RECORD_BYTES",
    "FilePart",
    "Multipart",
    "Request",
    "Response",
    "auth_headers",
    "body_limit",
    "checked_records",
    "decode_created_id",
    "decode_created_ids",
    "decode_dictionary",
    "decode_dictionary_all",
    "decode_json",
    "decode_mapping",
    "decode_names",
    "decode_records",
    "decode_report",
    "dictionary_entries",
    "error_for_status",
    "raise_for_status",
    "redact",
    "response_too_large",
    "retry_after_header",
    "scalar_text",
]

JSON_CONTENT_TYPE = "application/json"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
#: Longest server error message quoted in an error (after masking).
_MAX_MESSAGE = 200
_KEY_HEADERS = frozenset({"Source", "Org", "User"})

#: Header name/value pairs; the keys' values are :class:`~dizions_async._redact.Secret`.
Headers = tuple[tuple[str, str | Secret], ...]

# -- limits on what a response may be -------------------------------------------------------
# Stated here, enforced by whoever reads the bytes (the transport, the stream decoder),
# so a hostile or broken server cannot make the SDK hold more than this.

#: Default of ``Client(max_response_bytes=...)``: decoded bytes of a non-streamed body.
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024
#: Bytes of an error answer's body kept for its message; the rest is never read.
MAX_ERROR_BODY = 64 * 1024
#: Default of ``Client(max_record_bytes=...)``: the largest record a stream decodes.
MAX_RECORD_BYTES = 16 * 1024 * 1024
#: Deepest nesting of arrays and objects in a body, the outer array included. orjson
#: (``fetch``) refuses beyond this; streams check it on every path, before decoding.
MAX_DEPTH = 1024


def body_limit(status: int, max_response_bytes: int | None) -> int | None:
    """The most decoded bytes of a body to read: ``max_response_bytes`` for a success,
    :data:`MAX_ERROR_BODY` for an error status (enough for a message; the rest is
    discarded), None for no limit.

    A success body past the limit is an error (:func:`response_too_large`); an error
    body is cut there.
    """
    return max_response_bytes if status < 300 else MAX_ERROR_BODY


def response_too_large(label: str, limit: int) -> ResponseTooLarge:
    """The error for a success body that passed ``limit`` decoded bytes."""
    method, _, url = label.partition(" ")
    return ResponseTooLarge(
        f"{label}: the response body passed max_response_bytes={limit} (decoded); "
        "read it with stream(), narrow the query, or raise the limit "
        "(Client(max_response_bytes=...), None for no limit)",
        limit=limit,
        method=method,
        url=url,
    )


def scalar_text(value: object) -> str | None:
    """One value as the API's text, in filters and in write bodies alike.

    Bools are ``Y``/``N``, ints their digits (an ``IntEnum`` too, on every Python), dates
    and datetimes ISO 8601, strings as they are. Anything else gives None: the caller
    says what it accepts instead.

    >>> scalar_text(True), scalar_text(7), scalar_text(dt.date(2018, 11, 8))
    ('Y', '7', '2018-11-08')
    """
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, int):
        # int.__repr__, not str(): before 3.11 str() of an IntEnum is its name.
        return int.__repr__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, dt.date):  # datetime included
        return value.isoformat()
    return None


def auth_headers(
    source: str | Secret, org: str | Secret, user: str | Secret, *, user_agent: str = ""
) -> Headers:
    """The headers every request carries: the three keys, ``Accept``, and a user agent.

    The keys stay wrapped in :class:`~dizions_async._redact.Secret`; a transport unwraps
    them (:func:`~dizions_async._redact.reveal`) only as it hands them to the network.
    Build this once per client: a Request holds it by reference.
    """
    out: list[tuple[str, str | Secret]] = [
        ("Source", Secret(source)),
        ("Org", Secret(org)),
        ("User", Secret(user)),
        ("Accept", JSON_CONTENT_TYPE),
    ]
    if user_agent:
        out.append(("User-Agent", user_agent))
    return tuple(out)


def redact(path: str) -> str:
    """Mask filter values in a Dizions path (see :func:`dizions_async._redact.redact_path`).

    >>> redact("/v2/clients/nhs_number/4857773456/field/id;surname")
    '/v2/clients/nhs_number/***/field/id;surname'
    """
    return redact_path(path)


@attrs.frozen(slots=True, repr=False)
class FilePart:
    """One file of a multipart body: an open binary stream, streamed by the transport.

    Attributes:
        field: the form field name.
        filename: the name the server stores the file under.
        content_type: the part's media type.
        stream: open for reading; the transport reads it in chunks and never closes it.
        offset: where the content starts; the transport seeks there before each send.
            None for a stream that cannot seek, which can be sent only once.
    """

    field: str
    filename: str
    content_type: str
    stream: IO[bytes] = attrs.field(eq=False)
    offset: int | None

    def __repr__(self) -> str:
        # A file name can name a person ("smith_referral.pdf"): shown only by its length.
        return f"<FilePart {self.field} ({len(self.filename)}-character name)>"


@attrs.frozen(slots=True, repr=False)
class Multipart:
    """A ``multipart/form-data`` body (uploads): text fields, then files.

    Unlike ``Request.body`` it is not bytes: files are streamed from disk, so a large
    upload is never held in memory. The transport builds the wire form (and its boundary).
    """

    fields: tuple[tuple[str, str], ...]
    files: tuple[FilePart, ...]

    @property
    def rewindable(self) -> bool:
        """Whether every file can be read again from its start (so the body can be resent)."""
        return all(part.offset is not None for part in self.files)

    def __repr__(self) -> str:
        return f"<Multipart {len(self.fields)} fields, {len(self.files)} files>"


@attrs.frozen(slots=True, repr=False)
class Request:
    """One HTTP request, ready for a transport.

    Attributes:
        method: ``GET``, ``PUT`` or ``POST``.
        url: the full, already percent-encoded URL.
        headers: name/value pairs, the keys among them (never shown in a repr).
        body: the encoded body, or None.
        content_type: the body's media type, or None.
        idempotent: True for reads; False for creates, updates and uploads, which are
            resent only when the server certainly did not act on them.
        label: method and path for logs and error messages: values masked, unless
            ``show_values``. Made when first asked for (a read that succeeds never is).
        multipart: a streamed multipart body (uploads) instead of ``body``, or None.
        show_values: the caller opted in to values in messages (``log_values``): the
            label holds the real path and a server message is not masked (keys still are).
    """

    method: str
    url: URL
    headers: Headers
    body: bytes | None = None
    content_type: str | None = None
    idempotent: bool = True
    _label: str | None = attrs.field(default=None, alias="label", eq=False)
    multipart: Multipart | None = None
    show_values: bool = False

    @property
    def label(self) -> str:
        label = self._label
        if label is None:
            path = self.url.raw_path
            label = f"{self.method} {path if self.show_values else redact_path(path)}"
            object.__setattr__(self, "_label", label)  # frozen, but a cache
        return label

    @property
    def resendable(self) -> bool:
        """False when the body cannot be sent again (a multipart with an unseekable file)."""
        return self.multipart is None or self.multipart.rewindable

    @classmethod
    def build(
        cls,
        method: str,
        url: URL,
        headers: Headers,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        idempotent: bool | None = None,
        multipart: Multipart | None = None,
        show_values: bool = False,
    ) -> Request:
        """A Request with its label computed; ``idempotent`` defaults to ``method == "GET"``.

        A body's ``Content-Type`` header is added here, so transports send headers as given;
        a ``multipart`` body's header (with its boundary) is set by the transport.
        """
        if multipart is not None and (body is not None or content_type is not None):
            raise ValueError("a Request has either a multipart body or body bytes, not both")
        if content_type is not None:
            headers = (*headers, ("Content-Type", content_type))
        return cls(
            method,
            url,
            headers,
            body,
            content_type,
            method == "GET" if idempotent is None else idempotent,
            None,
            multipart,
            show_values,
        )

    @classmethod
    def get(cls, url: URL, headers: Headers, *, show_values: bool = False) -> Request:
        """A read: :meth:`build` for a GET, without its checks (every read makes one)."""
        return cls("GET", url, headers, None, None, True, None, None, show_values)

    def __repr__(self) -> str:
        return f"<Request {self.label}>"


@attrs.frozen(slots=True, repr=False)
class Response:
    """A complete HTTP response: status, headers (case-insensitive mapping) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        return f"<Response {self.status} ({len(self.body)} bytes)>"


# -- decoding -------------------------------------------------------------------------------


def decode_json(request: Request, response: Response) -> Any:
    """The response body parsed as JSON.

    Raises:
        DecodeError: the body is not JSON.
    """
    try:
        return orjson.loads(response.body)
    except orjson.JSONDecodeError as exc:
        # orjson's own text may quote the body: only its depth verdict is passed on.
        what = (
            f"nests deeper than {MAX_DEPTH} levels"
            if str(exc).startswith("depth limit")
            else "is not JSON"
        )
        raise DecodeError(
            f"{request.label}: the response ({response.status}, {len(response.body)} bytes) " + what
        ) from None


def decode_mapping(request: Request, response: Response) -> dict[str, Any]:
    """The response body as a JSON object (e.g. ``/v2/business/configuration``).

    Raises:
        DecodeError: the body is not JSON, or not an object.
    """
    data = decode_json(request, response)
    if not isinstance(data, dict):
        raise DecodeError(f"{request.label}: expected a JSON object, got {type(data).__name__}")
    return data


def decode_records(request: Request, response: Response) -> list[dict[str, Any]]:
    """A read's records: the body must be a JSON array of objects.

    Raises:
        DecodeError: the body is not a JSON array of objects.
    """
    try:
        data = orjson.loads(response.body)  # decode_json's, inlined: every read runs this
    except orjson.JSONDecodeError:
        data = decode_json(request, response)  # raises, saying why
    if type(data) is not list:
        raise DecodeError(
            f"{request.label}: expected a JSON array of records, got {type(data).__name__}"
        )
    if _all_records(data):  # checked here first: the label is made only for the error
        return data
    return checked_records(request.label, data)  # raises, naming the offender


def _all_records(items: list[Any]) -> bool:
    # One C-level pass over the types: a Python-level check per record costs ~3% of a read
    # (and counting is a third cheaper than collecting the types in a set).
    return list(map(type, items)).count(dict) == len(items)


def checked_records(label: str, records: list[Any]) -> list[dict[str, Any]]:
    """``records``, once every one is known to be a JSON object (a dict).

    Raises:
        DecodeError: an element is not an object; the message names its type.
    """
    # One C-level pass over the types: a Python-level check per record costs ~3% of a read.
    if _all_records(records):
        return records
    offender = next(r for r in records if type(r) is not dict)
    raise DecodeError(
        f"{label}: the response array holds a {type(offender).__name__}, not a record"
    )


def decode_report(request: Request, response: Response, *, metric: bool) -> Report:
    """A report body: ``{"dim": count}``, or ``{"dim": {"metric": count}}`` with a metric.

    Raises:
        DecodeError: the body does not have that shape.
    """
    data = decode_json(request, response)
    if type(data) is not dict:
        raise DecodeError(f"{request.label}: expected a report object, got {type(data).__name__}")
    try:
        return Report.from_json(data, metric=metric)
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"{request.label}: malformed report: {exc}") from None


def decode_names(request: Request, response: Response) -> list[str]:
    """A list of field names (``selectable_fields``, ``filterable_fields``, ``metrics``).

    Objects with a ``name`` are accepted too, as are the keys of an object.

    Raises:
        DecodeError: the body is neither.
    """
    data = decode_json(request, response)
    if type(data) is dict:
        data = list(data)
    if type(data) is not list:
        raise DecodeError(f"{request.label}: expected a list of names, got {type(data).__name__}")
    out: list[str] = []
    for item in data:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            item = item["name"]
        if not isinstance(item, str):
            raise DecodeError(f"{request.label}: a field name is a {type(item).__name__}")
        out.append(item)
    return out


def decode_dictionary(request: Request, response: Response) -> list[DictionaryEntry]:
    """A dictionary: a JSON array of ``{"id": int, "name": str}``.

    Raises:
        DecodeError: the body is not that.
    """
    return dictionary_entries(request.label, decode_json(request, response))


def dictionary_entries(label: str, data: object) -> list[DictionaryEntry]:
    """Entries from already-parsed JSON (also used for the ``/dictionary`` dump)."""
    if type(data) is not list:
        raise DecodeError(f"{label}: expected a dictionary array, got {type(data).__name__}")
    out: list[DictionaryEntry] = []
    for i, item in enumerate(data):
        try:
            out.append(DictionaryEntry(int(item["id"]), str(item["name"])))
        except (KeyError, TypeError, ValueError):
            raise DecodeError(
                f"{label}: dictionary entry {i} lacks an integer id or a name"
            ) from None
    return out


def decode_dictionary_all(
    request: Request, response: Response
) -> dict[str, dict[str, list[DictionaryEntry]]]:
    """The ``/dictionary`` dump, by group then table.

    Accepts a flat array of ``{"group", "table", "id", "name"}`` or a nested
    ``{group: {table: [{"id", "name"}]}}`` object.

    Raises:
        DecodeError: neither shape.
    """
    data = decode_json(request, response)
    label = request.label
    out: dict[str, dict[str, list[DictionaryEntry]]] = {}
    if type(data) is list:
        for i, item in enumerate(data):
            try:
                group, table = str(item["group"]), str(item["table"])
                entry = DictionaryEntry(int(item["id"]), str(item["name"]))
            except (KeyError, TypeError, ValueError):
                raise DecodeError(
                    f"{label}: entry {i} lacks a group, table, integer id or name"
                ) from None
            out.setdefault(group, {}).setdefault(table, []).append(entry)
        return out
    if type(data) is not dict:
        raise DecodeError(f"{label}: expected the dictionaries, got {type(data).__name__}")
    for group, tables in data.items():
        if type(tables) is not dict:
            raise DecodeError(f"{label}: group {group!r} is not an object")
        out[group] = {
            table: dictionary_entries(f"{label} {group}/{table}", entries)
            for table, entries in tables.items()
        }
    return out


def _unreadable_write(request: Request, response: Response, what: str) -> DecodeError:
    """A write answered 2xx whose body cannot be used: the server acted, so whether (and
    as what) the record exists is unknown; it must be checked, never blindly resent."""
    unknown = not request.idempotent
    note = "; the server acted on it, so check before sending it again" if unknown else ""
    return DecodeError(
        f"{request.label}: the response ({response.status}, {len(response.body)} bytes) "
        f"{what}{note}",
        outcome_unknown=unknown,
    )


def _write_json(request: Request, response: Response) -> Any:
    try:
        return orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise _unreadable_write(request, response, "is not JSON") from None


def decode_created_id(request: Request, response: Response) -> int:
    """The record ID a create or update answers with: ``{"id": n}`` (or a bare integer).

    Raises:
        DecodeError: no integer ID in the body (``outcome_unknown`` for a write: the
            server answered 2xx, so it acted).
    """
    data = _write_json(request, response)
    if isinstance(data, dict):
        data = data.get("id")
    if isinstance(data, str) and data.isdigit():
        data = int(data)
    if not isinstance(data, int) or isinstance(data, bool):
        raise _unreadable_write(request, response, "holds no record id")
    return data


def decode_created_ids(request: Request, response: Response) -> list[int]:
    """The IDs a multi-record write answers: ``{"ids": [...]}``, else ``{"id": n}``.

    (Uploads and external referrals sent as a JSON array of people answer this way.)

    Raises:
        DecodeError: no list of integer IDs and no integer ID (``outcome_unknown`` for a
            write, as :func:`decode_created_id`).
    """
    data = _write_json(request, response)
    found = data.get("ids", [data.get("id")]) if isinstance(data, dict) else None
    if not isinstance(found, list) or not found:
        raise _unreadable_write(request, response, "holds no record ids")
    for item in found:
        if isinstance(item, bool) or not isinstance(item, int):
            raise _unreadable_write(request, response, "holds a record id that is not an int")
    return found


# -- errors ---------------------------------------------------------------------------------


def retry_after_header(response: Response | Mapping[str, str]) -> str | None:
    """The raw ``Retry-After`` header, if any."""
    headers = response.headers if isinstance(response, Response) else response
    return headers.get("Retry-After")


def _message(request: Request, body: bytes) -> str:
    """The server's error message, masked, then cut: a key or value that straddles the
    cut must not leave its first characters behind."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
    else:
        text = ""
        if isinstance(data, dict):
            value = data.get("error", data.get("message", ""))
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
        elif isinstance(data, str):
            text = data
    keys = [str(reveal(v)) for k, v in request.headers if k in _KEY_HEADERS]
    values = () if request.show_values else request_values(request)
    return cut(scrub(text, keys=keys, values=values), _MAX_MESSAGE)


def _redirect_message(request: Request, response: Response) -> str:
    # The target's path and query may hold values: name its host only.
    location = response.headers.get("Location", "")
    try:
        host = request.url.join(URL(location)).host if location else None
    except (TypeError, ValueError):
        host = None
    where = f"to {host}" if host else "without a readable Location"
    return (
        f"redirect {where} not followed: the keys would "
        "travel with it; point base_url at the final address"
    )


def request_values(request: Request) -> list[str]:
    """Every value ``request`` carried: path values, body values, multipart fields and
    file names (what a server echoing the request could quote back)."""
    out = path_values(request.url.raw_path)
    if request.body:
        if request.content_type == FORM_CONTENT_TYPE:
            out.extend(form_values(request.body))
        else:
            with contextlib.suppress(orjson.JSONDecodeError):
                out.extend(json_values(orjson.loads(request.body)))
    if request.multipart is not None:
        out.extend(value for _, value in request.multipart.fields)
        out.extend(part.filename for part in request.multipart.files)
    return out


def error_for_status(
    request: Request,
    response: Response,
    *,
    retries: int = 0,
    retry_after: float | None = None,
    not_applied: Collection[int] = (503,),
) -> APIError:
    """The exception for an error response (status 300 or more).

    ``outcome_unknown`` is set for a write answered by a 5xx not in ``not_applied``: the
    server may have applied it.

    Args:
        request: the request that was answered.
        response: the error response.
        retries: how many times the request had been retried.
        retry_after: the parsed Retry-After, in seconds, for a 429.
        not_applied: 5xx statuses taken to mean a write was not applied (the retry
            policy's ``write_retry_statuses``).
    """
    status = response.status
    if 300 <= status < 400:
        message = _redirect_message(request, response)
    else:
        message = _message(request, response.body)
    method, _, url = request.label.partition(" ")
    unknown = not request.idempotent and status >= 500 and status not in not_applied
    kwargs: dict[str, Any] = {
        "method": method,
        "url": url,
        "retries": retries,
        "outcome_unknown": unknown,
    }
    if status == 429:
        return RateLimitError(status, message, retry_after=retry_after, **kwargs)
    if status in (401, 403):
        return AuthenticationError(status, message, **kwargs)
    if status == 404:
        return NotFoundError(status, message, **kwargs)
    if status >= 500:
        return ServerError(status, message, **kwargs)
    return APIError(status, message, **kwargs)


def raise_for_status(
    request: Request,
    response: Response,
    retries: int = 0,
    *,
    retry_after: float | None = None,
) -> None:
    """Raise the mapped error if ``response`` is an error (status 300 or more).

    Redirects count as errors: the client never follows them, since the keys would go
    along to wherever they point.

    Raises:
        AuthenticationError: 401 or 403.
        NotFoundError: 404.
        RateLimitError: 429.
        ServerError: 5xx.
        APIError: any other error status.
    """
    if response.status >= 300:
        raise error_for_status(request, response, retries=retries, retry_after=retry_after)
