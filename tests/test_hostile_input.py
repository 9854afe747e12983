"""Hostile input, from the caller or from the wire: only the SDK's own errors come out.

Keys that no header can carry, upload names with control characters or foreign path
separators, dot-segments in every path the SDK builds, plain http to names that only
look local, a library logger that prints nothing unasked, TLS certificates refused
without retrying, and every public call driven with bad arguments and bad answers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import io
import math
import os
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from click.testing import CliRunner
from multidict import CIMultiDict

from dizions_async import Client, ExtensionDatabase, MockTransport, Query, RetryPolicy
from dizions_async._writes import prepare_upload
from dizions_async.cli._app import app
from dizions_async.errors import ConfigurationError, ConnectError, DizionsError, ValidationError
from dizions_async.protocol import Request, Response
from dizions_async.transport import json_response

KEYS = ("SRC-key-1", "ORG-key-2", "USR-key-3")
NO_RETRY = RetryPolicy(max_retries=0)


def make_client(handler: Callable[[Request], Response], **kwargs: Any) -> Client:
    kwargs.setdefault("retry", NO_RETRY)
    return Client(*KEYS, base_url="https://api.example", transport=MockTransport(handler), **kwargs)


# -- keys ---------------------------------------------------------------------------------

BAD_KEYS = ["ab\x0bcd", "ab\x1b[31mcd", "ab\x7fcd", "ab\tcd", "ab\ncd", "ab\x00cd", "ab\u0101cd"]


@pytest.mark.parametrize("bad", BAD_KEYS)
@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_key_no_header_can_carry_is_refused_at_construction_without_echoing_it(
    bad: str, which: int
) -> None:
    keys = list(KEYS)
    keys[which] = bad
    with pytest.raises(ConfigurationError, match="control character or a character outside") as e:
        Client(*keys, base_url="https://api.example")
    assert bad not in str(e.value) and "ab" not in str(e.value)


def test_a_latin_1_key_is_accepted() -> None:
    Client("sourcé", "org", "user", base_url="https://api.example")


def test_the_cli_reports_a_bad_key_in_one_line_without_a_traceback() -> None:
    env = {
        "DIZIONS_SOURCE": "secret\x1bkey",
        "DIZIONS_ORG": "o",
        "DIZIONS_USER": "u",
        "DIZIONS_BASE_URL": "http://127.0.0.1:9",
    }
    result = CliRunner().invoke(app, ["get", "clients"], env=env)
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "secret" not in result.output
    assert "Source key holds a control character" in result.output


# -- base URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:1",
        "http://LOCALHOST",
        "http://127.0.0.1",
        "http://127.9.8.7",
        "http://[::1]",
    ],
)
def test_plain_http_goes_to_loopback_literals_and_localhost(url: str) -> None:
    Client(*KEYS, base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.localhost",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "http://0.0.0.0",
        "http://[::ffff:7f00:1]",
    ],
)
def test_plain_http_to_a_name_that_only_looks_local_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure"):
        Client(*KEYS, base_url=url)


# -- logging ------------------------------------------------------------------------------

_RETRY_ONCE = """
import asyncio
from dizions_async import Client, MockTransport, Query, RetryPolicy
from dizions_async.transport import json_response

answers = [json_response({}, 503), json_response([])]
async def main():
    transport = MockTransport(lambda request: answers.pop(0))
    async with Client("s", "o", "u", base_url="https://api.example", transport=transport,
                      retry=RetryPolicy(backoff_base=0)) as dz:
        await dz.fetch(Query("clients"))
asyncio.run(main())
"""


@pytest.mark.parametrize(("level", "printed"), [(None, False), ("info", True)])
def test_retry_warnings_print_only_when_logging_is_asked_for(
    level: str | None, printed: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DIZIONS_LOG"}
    if level:
        env["DIZIONS_LOG"] = level
    done = subprocess.run(
        [sys.executable, "-c", _RETRY_ONCE], env=env, capture_output=True, text=True, check=True
    )
    assert ("retrying GET /v2/clients" in done.stderr) is printed, done.stderr


# -- path segments ------------------------------------------------------------------------


def answer_all(request: Request) -> Response:
    if request.method == "GET":
        return json_response([{"id": 1, "name": "x"}])
    return json_response({"id": 5, "ids": [5]})


async def test_every_segment_the_sdk_builds_encodes_dot_segments() -> None:
    transport = MockTransport(answer_all)
    async with Client(*KEYS, base_url="https://api.example", transport=transport) as dz:
        await dz.create_client({"first_name": "A", "surname": "B"}, external_id="..")
        await dz.dictionary("..", "district")
        await dz.dictionary(".", "..")
        await dz.dictionary_search("organisations", "..", ".")
        await dz.fetch(Query("clients").filter(surname=".."))
        await dz.upload("clients", 7, io.BytesIO(b"x"), user_visibility=1, group_visibility=2)
    paths = [request.url.raw_path for request in transport.requests]
    assert paths == [
        "/v2/clients/external_id/%2E%2E",
        "/v2/dictionary/%2E%2E/district",
        "/v2/dictionary/%2E/%2E%2E",
        "/v2/dictionary/search/organisations/%2E%2E/%2E",
        "/v2/clients/surname/%2E%2E",
        "/v2/clients/id/7/uploads",
    ]
    assert not any(segment in (".", "..") for p in paths for segment in p.split("/"))


def test_an_extension_database_path_is_one_encoded_segment() -> None:
    assert ExtensionDatabase("Staff Disciplinary", 13).resource == (
        "extension_database/staff_disciplinary_13"
    )


# -- upload names -------------------------------------------------------------------------


def named(name: str) -> io.BytesIO:
    stream = io.BytesIO(b"letter")
    stream.name = name  # type: ignore[attr-defined]
    return stream


@pytest.mark.parametrize(
    ("name", "sent"),
    [
        ("C:\\Users\\ann\\letter.txt", "letter.txt"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("../../etc/passwd", "passwd"),
        ("dir/sub\\mixed/name.pdf", "name.pdf"),
        ("trailing/", "upload-0"),
        ("..", "upload-0"),
        ("plain.txt", "plain.txt"),
    ],
)
def test_upload_names_are_cut_to_their_base_name_for_both_separators(name: str, sent: str) -> None:
    prepared = prepare_upload("clients", 1, named(name), user_visibility=1, group_visibility=1)
    assert prepared.files[0].filename == sent


@pytest.mark.parametrize("name", ["a\r\nb.txt", "a\x00b.txt", "a\x1bb.txt", "a\x7fb.txt"])
def test_an_upload_name_with_a_control_character_is_a_validation_error(name: str) -> None:
    with pytest.raises(ValidationError, match="control character"):
        prepare_upload("clients", 1, named(name), user_visibility=1, group_visibility=1)


def test_an_upload_path_with_a_control_character_is_a_validation_error(tmp_path: Path) -> None:
    path = tmp_path / "bad\nname.txt"
    path.write_bytes(b"x")
    with pytest.raises(ValidationError, match="control character"):
        prepare_upload("clients", 1, path, user_visibility=1, group_visibility=1)


# -- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def tls_server(cert: trustme.LeafCert) -> tuple[web.AppRunner, int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    async def workers(request: web.Request) -> web.Response:
        return web.json_response([{"id": 1}])

    app = web.Application()
    app.router.add_get("/v2/workers", workers)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


CERTS = [
    # server certificate, whether the client trusts the CA, what the error says
    ({"identities": ["127.0.0.1"]}, False, "unknown authority"),
    ({"identities": ["api.example"]}, True, "name mismatch"),
    (
        {"identities": ["127.0.0.1"], "not_after": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)},
        True,
        "expired",
    ),
]


@pytest.mark.parametrize(("cert", "trusted", "why"), CERTS)
async def test_a_refused_certificate_is_not_retried_and_says_why(
    ca: trustme.CA, cert: dict[str, Any], trusted: bool, why: str
) -> None:
    identities = cert.pop("identities")
    runner, port = await tls_server(ca.issue_cert(*identities, **cert))
    context = ssl.create_default_context()
    if trusted:
        ca.configure_trust(context)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    try:
        async with Client(
            *KEYS,
            base_url=f"https://127.0.0.1:{port}",
            session=session,
            retry=RetryPolicy(max_retries=3, sleep=sleep),
        ) as dz:
            with pytest.raises(ConnectError) as caught:
                await dz.fetch(Query("workers"))
    finally:
        await session.close()
        await runner.cleanup()
    error = caught.value
    assert (error.retries, error.retryable, slept) == (0, False, [])
    assert "TLS certificate of 127.0.0.1 was refused" in str(error) and why in str(error)


# -- every public call, hostile arguments and hostile answers -----------------------------

BAD_TEXT = ["..", ".", "a/b", "\x00", "\r\nX-Evil: 1", "\x1b[2J", "\ud800", "é" * 3000, "", " "]
BAD_VALUES: list[Any] = [
    *BAD_TEXT,
    None,
    -1,
    True,
    1.5,
    math.nan,
    10**40,
    b"bytes",
    [],
    {},
    object(),
    dt.datetime(2020, 1, 1),
]

#: Answers a server or proxy might give: not JSON, the wrong shape, too deep, too big a
#: number, a redirect, an error page in binary, invalid UTF-8.
BAD_ANSWERS: list[tuple[int, bytes, dict[str, str]]] = [
    (200, b"<html>oops</html>", {}),
    (200, b"null", {}),
    (200, b'{"id": "x", "ids": [null]}', {}),
    (200, b'[{"id": 1}, 7, "x"]', {}),
    (200, b"[" * 2000 + b"]" * 2000, {}),
    (200, b'[{"id": 1e999, "n": 123456789012345678901234567890}]', {}),
    (200, b'[{"name": "\xff\xfe"}]', {}),
    (200, b'{"a": {"b": 1}}', {}),
    (302, b"", {"Location": "https://evil.example/steal"}),
    (500, bytes(range(256)) * 10, {}),
    (404, b'{"error": {"nested": [1, 2]}}', {}),
    (429, b"{}", {"Retry-After": "soon-ish"}),
]


def hostile_answers() -> Iterator[Callable[[Request], Response]]:
    for status, body, headers in BAD_ANSWERS:
        yield lambda request, s=status, b=body, h=headers: Response(s, CIMultiDict(h), b)


async def drain(result: Any) -> None:
    if hasattr(result, "__aiter__"):
        async for _ in result:
            pass
    elif inspect.isawaitable(result):
        await result


Call = Callable[[Client, Any], Any]
TEXT = BAD_TEXT
INTS: list[Any] = [-1, 0, 10**40, True]
ANY = BAD_VALUES
FULL = {"first_name": "A", "surname": "B"}
VISIBLE = {"user_visibility": 1, "group_visibility": 1}

#: For each public method: (call taking one value, the hostile values it gets, a good
#: value that lets the call reach the server, for the hostile answers). Queries and
#: resource names get values of any type; other parameters get hostile values of the
#: types they take (there a wrong type is the usual TypeError, caught by mypy).
CALLS: dict[str, list[tuple[Call, list[Any], Any]]] = {
    "fetch": [
        (lambda dz, v: dz.fetch(v), ANY, Query("clients")),
        (lambda dz, v: dz.fetch(Query("clients", strict=False).filter(surname=v)), ANY, "x"),
        (lambda dz, v: dz.fetch(Query("clients").date_range("dob", v, v), split="day"), ANY, "x"),
        (lambda dz, v: dz.fetch(Query("clients"), split=v), TEXT + INTS, "month"),
        (lambda dz, v: dz.fetch(Query("clients"), split=("surname", v)), INTS, 2),
    ],
    "fetch_arrow": [
        (lambda dz, v: dz.fetch_arrow(v), ANY, Query("clients")),
        (lambda dz, v: dz.fetch_arrow(Query("clients").filter(surname=v)), ANY, "x"),
    ],
    "fetch_one": [
        (lambda dz, v: dz.fetch_one(v), ANY, Query("clients").id(1)),
        (lambda dz, v: dz.fetch_one(Query("clients").id(v)), TEXT + INTS, 1),
    ],
    "gather": [
        (lambda dz, v: dz.gather([v]), ANY, Query("clients")),
        (lambda dz, v: dz.gather([Query("clients").filter(surname=v)]), ANY, "x"),
    ],
    "stream": [
        (lambda dz, v: dz.stream(v), ANY, Query("clients")),
        (lambda dz, v: dz.stream(Query("clients").filter(surname=v)), ANY, "x"),
    ],
    "stream_many": [
        (lambda dz, v: dz.stream_many([v]), ANY, Query("clients")),
        (lambda dz, v: dz.stream_many([Query("clients").filter(surname=v)]), ANY, "x"),
        (lambda dz, v: dz.stream_many([Query("clients")], buffer=v), INTS, 4),
    ],
    "report": [
        (lambda dz, v: dz.report(v), ANY, Query("clients").dimension("gender")),
        (lambda dz, v: dz.report(Query("clients").dimension(v)), TEXT, "gender"),
    ],
    "query": [
        (lambda dz, v: dz.query(v), ANY, "clients"),
        (lambda dz, v: dz.query("clients").filter(surname=v), ANY, "x"),
    ],
    "selectable_fields": [(lambda dz, v: dz.selectable_fields(v), ANY, "clients")],
    "filterable_fields": [(lambda dz, v: dz.filterable_fields(v), ANY, "clients")],
    "metrics": [(lambda dz, v: dz.metrics(v), ANY, "clients")],
    "dictionary": [
        (lambda dz, v: dz.dictionary(v, "x"), TEXT, "g"),
        (lambda dz, v: dz.dictionary("x", v), TEXT, "t"),
    ],
    "dictionary_search": [(lambda dz, v: dz.dictionary_search("g", "t", v), TEXT, "Leeds")],
    "dictionary_all": [(lambda dz, v: dz.dictionary_all(), [], None)],
    "resolve": [
        (lambda dz, v: dz.resolve([{"d": v}], {"d": ("organisations", "district")}), ANY, 1),
        (lambda dz, v: dz.resolve([{"d": 1}], {"d": ("organisations", v)}), TEXT, "district"),
    ],
    "create": [
        (lambda dz, v: dz.create(v, FULL), TEXT, "clients"),
        (lambda dz, v: dz.create("clients", {**FULL, "first_name": v}), ANY, "A"),
        (lambda dz, v: dz.create("clients", {**FULL, v: "x"}), TEXT, "gender"),
    ],
    "create_client": [(lambda dz, v: dz.create_client(FULL, external_id=v), TEXT + INTS, "E1")],
    "create_referral": [(lambda dz, v: dz.create_referral({"client": v}), ANY, 1)],
    "create_done_contact": [(lambda dz, v: dz.create_done_contact(v, {"user": 1}), INTS, 1)],
    "set_relationship": [
        (lambda dz, v: dz.set_relationship(1, v, first_to_second=3, second_to_first=4), INTS, 2),
        (
            lambda dz, v: dz.set_relationship(
                1, 2, first_to_second=3, second_to_first=4, joint_address=v
            ),
            TEXT,
            "1 High St",
        ),
    ],
    "friendly_names": [(lambda dz, v: dz.friendly_names(v), ANY, "schedules")],
    "check_keys": [(lambda dz, v: dz.check_keys(), [], None)],
    "create_due_contact": [(lambda dz, v: dz.create_due_contact(v, {"user": 1}), INTS, 1)],
    "update": [
        (lambda dz, v: dz.update("clients", v, {"surname": "B"}), INTS, 1),
        (lambda dz, v: dz.update("clients", 1, {"surname": v}), ANY, "B"),
    ],
    "update_done_contact": [(lambda dz, v: dz.update_done_contact(v, {"note": "x"}), INTS, 1)],
    "update_due_contact": [(lambda dz, v: dz.update_due_contact(1, {"note": v}), ANY, "x")],
    "complete_contact": [
        (lambda dz, v: dz.complete_contact(1, v, "2020-01-01"), TEXT, "2020-01-01")
    ],
    "relate_clients": [(lambda dz, v: dz.relate_clients(1, v, 3, 4), INTS, 2)],
    "external_referral": [
        (lambda dz, v: dz.external_referral({"surname": v, "org_type_id": 1}), ANY, "Lee")
    ],
    "upload": [
        (
            lambda dz, v: dz.upload("clients", 1, v, user_visibility=1, group_visibility=1),
            TEXT,
            b"",
        ),
        (
            lambda dz, v: dz.upload("clients", 1, named(v), user_visibility=1, group_visibility=1),
            TEXT,
            "a.txt",
        ),
        (
            lambda dz, v: dz.upload(
                "clients", 1, named("a"), user_visibility=v, group_visibility=1
            ),
            INTS,
            1,
        ),
    ],
    "aclose": [(lambda dz, v: dz.aclose(), [], None)],
    "with_options": [
        (lambda dz, v: dz.with_options(timeout=v).fetch(Query("clients")), ANY, 5.0),
        (lambda dz, v: dz.with_options(retry=v).fetch(Query("clients")), ANY, NO_RETRY),
        (lambda dz, v: dz.with_options(log_values=v).fetch(Query("clients")), ANY, True),
    ],
    "org_fingerprint": [(lambda dz, v: dz.org_fingerprint(v), ANY + TEXT, b"salt")],
}


def test_the_table_covers_every_public_method() -> None:
    public = {
        name
        for name, member in inspect.getmembers(Client)
        if not name.startswith("_") and not isinstance(member, property)
    }
    assert set(CALLS) == public


async def drive(call: Call, value: Any, handler: Callable[[Request], Response]) -> str | None:
    """What escaped ``call(value)`` that is not one of our errors, or None."""
    async with make_client(handler, max_response_bytes=1 << 20) as dz:
        try:
            await asyncio.wait_for(drain(call(dz, value)), 10)
        except DizionsError:
            pass  # QueryError and ValidationError (ValueErrors) are DizionsErrors too
        except Exception as exc:  # the point: see whatever escapes
            return f"{type(exc).__name__}: {str(exc)[:80]}"
    return None


@pytest.mark.parametrize("method", sorted(CALLS))
async def test_hostile_arguments_and_answers_raise_only_our_errors(method: str) -> None:
    escaped = []
    for i, (call, values, good) in enumerate(CALLS[method]):
        for value in values:
            if (found := await drive(call, value, answer_all)) is not None:
                escaped.append(f"call {i} with {ascii(value)[:20]}: {found}")
        for status, handler in zip(BAD_ANSWERS, hostile_answers(), strict=True):
            if (found := await drive(call, good, handler)) is not None:
                escaped.append(f"call {i} answered {status[0]} {status[1][:20]!r}: {found}")
    assert not escaped, "\n".join(escaped)
