"""Personal data and keys never leave through messages, tracebacks, logs, terminals or files.

Every kind of error the public API raises is made here with personal-looking values
(``Smith``, ``4857773456``, ``AB1 2CD``) and keys, against a server on 127.0.0.1 that
echoes the request back (path, body, and the keys, upper- and lower-cased) in its error
messages. None of them may appear in ``str(exc)``, ``repr(exc)``, the DEBUG log, a
traceback rendered without locals or the CLI's standard error; the keys may not appear
even in a traceback rendered *with* local variables (as error trackers do). With values
opted in (``log_values=True`` or ``DIZIONS_LOG_VALUES=1``) the values do appear; the keys
still never do.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import socket
import stat
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_plus

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from click.testing import CliRunner, Result

from dizions_async import Client, Query, RetryPolicy, Timeouts
from dizions_async._redact import Secret, described, form_values, path_values, scrub
from dizions_async.cli._app import app
from dizions_async.errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    DecodeError,
    DizionsError,
    NotFoundError,
    QueryError,
    RequestTimeout,
    ServerError,
    ValidationError,
)
from dizions_async.jobs import export, migrate
from dizions_async.testing import FakeDizions

SURNAME, NHS, POSTCODE = "Smith", "4857773456", "AB1 2CD"
VALUES = (SURNAME, NHS, POSTCODE)
KEYS = ("srcKq7Zp3-source-key", "orgWm4Tr8-org-key", "usrHx2Lb5-user-key")
ESC_SURNAME = "Smi\x1b]0;pwned\x07\x1b[2Jth\x9b"
KEY_ENV = ("DIZIONS_SOURCE", "DIZIONS_ORG", "DIZIONS_USER", "DIZIONS_LOG_VALUES")


# -- the echoing server --------------------------------------------------------------------


def _echo_text(request: web.Request, body: bytes) -> str:
    """Everything the request carried, as a careless server would quote it."""
    source, org, user = (request.headers.get(name, "") for name in ("Source", "Org", "User"))
    if request.content_type.startswith("multipart/"):
        body = b" ".join(re.findall(rb'filename="([^"]*)"', body))
    return (
        f"cannot handle {request.method} {unquote(request.raw_path)} with "
        f"{unquote_plus(body.decode('utf-8', 'replace'))}; keys {source} {org.lower()} "
        f"{user.upper()}"
    )


class Echo:
    """A server that answers every request as ``mode`` says, quoting the request."""

    def __init__(self) -> None:
        self.mode = "400"
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        text = _echo_text(request, body)
        if self.mode == "slow":
            await asyncio.sleep(30)
        if self.mode == "garbage":
            return web.Response(status=200, text=f"<html>{text}</html>")
        if self.mode == "records":
            return web.json_response([{"id": 1, "surname": ESC_SURNAME}])
        if self.mode == "straddle":
            # The key starts just before the 200-character cut: masking must come first.
            return web.Response(status=500, text="x" * 190 + KEYS[0] + " " + text)
        if self.mode == "escape":
            return web.json_response({"error": f"bad\x1b]0;pwned\x07 {text}"}, status=400)
        return web.json_response({"error": text}, status=int(self.mode))


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    server = Echo()
    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", server.handle)
    test_server = TestServer(application, host="127.0.0.1")
    await test_server.start_server()
    server.url = str(test_server.make_url("")).rstrip("/")
    try:
        yield server
    finally:
        await test_server.close()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=[False, True], ids=["masked", "opted-in"])
def opted_in(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both ways: values masked (the default), and opted in with DIZIONS_LOG_VALUES=1."""
    if request.param:
        monkeypatch.setenv("DIZIONS_LOG_VALUES", "1")
    return bool(request.param)


def _client(url: str, **options: Any) -> Client:
    async def no_wait(_: float) -> None:
        return None

    options.setdefault("retry", RetryPolicy(max_retries=1, jitter=False, sleep=no_wait))
    return Client(*KEYS, base_url=url, **options)


# -- the checks ----------------------------------------------------------------------------


def _with_locals(exc: BaseException) -> str:
    """The traceback as an error tracker renders it, with every frame's local variables,
    from the first frame inside the SDK (this module's frames hold the test's own data)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    rendered = traceback.TracebackException(type(exc), exc, tb, capture_locals=True)
    return "".join(rendered.format())


def _check(exc: BaseException, log: str, *, opted_in: bool, shows: tuple[str, ...]) -> None:
    """Keys nowhere (not even in locals); values only when opted in, and then ``shows``."""
    message_texts = {
        "str": str(exc),
        "repr": repr(exc),
        "log": log,
        "traceback": "".join(traceback.format_exception(exc)),
    }
    with_locals = _with_locals(exc)
    assert "dizions_async" in with_locals  # the SDK's own frames, with their locals
    everything = "\n".join([*message_texts.values(), with_locals]).lower()
    for key in KEYS:
        assert key.lower() not in everything
        assert key[:6].lower() not in everything  # not even a start cut off at a limit
    if not opted_in:
        for name, text in message_texts.items():
            for value in VALUES:
                assert value.lower() not in text.lower(), (name, value, text)
    else:
        for value in shows:
            assert value in str(exc), (value, str(exc))


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    caplog.set_level(logging.DEBUG, logger="dizions_async")
    return lambda: "\n".join(record.getMessage() for record in caplog.records)


async def _raised(call: Callable[[], Awaitable[object]]) -> DizionsError:
    try:
        await call()
    except DizionsError as exc:
        return exc
    raise AssertionError("no error was raised")


# -- errors before anything is sent --------------------------------------------------------


PURE_CASES: list[tuple[str, Callable[[], object], type[DizionsError], tuple[str, ...]]] = [
    (
        "date range of a surname",
        lambda: Query("referrals").date_range("date", SURNAME, "2020-01-01"),
        QueryError,
        (SURNAME,),
    ),
    (
        "from_path with a dangling key",
        lambda: Query.from_path(f"/v2/clients/surname/{SURNAME}/postcode"),
        QueryError,
        (SURNAME,),
    ),
    (
        "an id that is an NHS number with a letter",
        lambda: Query("clients").filter(id=NHS + "x"),
        QueryError,
        (NHS,),
    ),
    (
        "a datetime filter",
        lambda: Query("clients").filter(date_of_birth=dt.datetime(1980, 5, 17, 9, 30)),
        QueryError,
        ("1980, 5, 17",),
    ),
]


@pytest.mark.parametrize(
    ("call", "kind", "shows"), [c[1:] for c in PURE_CASES], ids=[c[0] for c in PURE_CASES]
)
def test_query_errors_name_the_key_and_mask_the_value(
    call: Callable[[], object],
    kind: type[DizionsError],
    shows: tuple[str, ...],
    opted_in: bool,
    log: Callable[[], str],
) -> None:
    with pytest.raises(kind) as info:
        call()
    _check(info.value, log(), opted_in=opted_in, shows=shows)


async def test_client_side_errors_mask_values(opted_in: bool, log: Callable[[], str]) -> None:
    async with _client("http://127.0.0.1:9") as dz:
        person = {"first_name": "Ann", "surname": SURNAME, "external_id": NHS}
        cases: list[tuple[Callable[[], Awaitable[object]], type[DizionsError], tuple[str, ...]]]
        cases = [
            (lambda: dz.create_client(person, external_id=POSTCODE), ValidationError, (NHS,)),
            (
                lambda: dz.create_due_contact(
                    1,
                    {
                        "user": 1,
                        "start_date": SURNAME,
                        "end_date": "2020-01-01",
                        "description": "visit",
                    },
                ),
                ValidationError,
                (SURNAME,),
            ),
            (
                lambda: dz.fetch_one(Query("clients").filter(surname=SURNAME)),
                QueryError,
                (SURNAME,),
            ),
            (
                lambda: dz.fetch(Query("clients").filter(postcode=POSTCODE).dimension("gender")),
                QueryError,
                ("AB1%202CD",),
            ),
            (
                lambda: dz.report(Query("clients").filter(nhs_number=NHS)),
                QueryError,
                (NHS,),
            ),
        ]
        for call, kind, shows in cases:
            exc = await _raised(call)
            assert isinstance(exc, kind)
            _check(exc, log(), opted_in=opted_in, shows=shows)


def test_a_validation_error_names_the_field_and_says_what_is_wrong() -> None:
    with pytest.raises(QueryError) as info:
        Query("referrals").date_range("date", "17/05/1980", "2020-01-01")
    assert str(info.value) == (
        "date range 'date' needs a date or an ISO 'YYYY-MM-DD' string, got a str of 10 characters"
    )


# -- configuration: the keys never reach a frame raw ---------------------------------------


CONFIG_CASES: list[tuple[str, dict[str, Any]]] = [
    ("a missing user key", {"user": None}),
    ("a key with a line break", {"org": KEYS[1][:4] + "\n" + KEYS[1][4:]}),
    ("a key that is not a string", {"user": 12345}),
    ("an ftp base URL", {"base_url": "ftp://127.0.0.1/"}),
    ("plain http to another host", {"base_url": "http://example.org"}),
    ("no concurrency", {"max_concurrency": 0}),
    ("a bad rate limit", {"rate_limit": (0, 1)}),
]


@pytest.mark.parametrize("change", [c[1] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_configuration_errors_leave_no_key_in_any_frame(
    change: dict[str, Any], log: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIZIONS_SOURCE", KEYS[0])  # the environment is a frame local too
    arguments: dict[str, Any] = {"org": KEYS[1], "user": KEYS[2], "base_url": "https://x"}
    arguments.update(change)
    with pytest.raises(ConfigurationError) as info:
        Client(**arguments)
    _check(info.value, log(), opted_in=False, shows=())


def test_secret_hides_its_key_everywhere_but_reveal() -> None:
    import copy
    import pickle

    secret = Secret(KEYS[0])
    assert KEYS[0] not in repr(secret) + str(secret) + f"{secret}" + repr([secret])
    assert secret.reveal() == KEYS[0]
    assert copy.deepcopy(secret) == secret
    with pytest.raises(TypeError):
        pickle.dumps(secret)


# -- HTTP errors with a server that echoes the request -------------------------------------


async def test_http_errors_from_an_echoing_server_hold_no_value_and_no_key(
    echo: Echo, opted_in: bool, log: Callable[[], str]
) -> None:
    person = {"first_name": "Ann", "surname": SURNAME, "postcode": POSTCODE}
    read = Query("clients").filter(surname=SURNAME, postcode=POSTCODE, nhs_number=NHS)
    async with _client(echo.url, timeout=Timeouts(total=0.5)) as dz:
        cases: list[tuple[str, Callable[[], Awaitable[object]], type[DizionsError], Any]] = [
            ("400", lambda: dz.fetch(read), APIError, (SURNAME, POSTCODE, NHS)),
            ("401", lambda: dz.fetch(read), AuthenticationError, (SURNAME, NHS)),
            ("404", lambda: dz.dictionary_search("a", "b", SURNAME), NotFoundError, (SURNAME,)),
            ("500", lambda: dz.update("clients", 7, person), ServerError, (SURNAME, POSTCODE)),
            ("503", lambda: dz.fetch(read), ServerError, (SURNAME,)),
            ("straddle", lambda: dz.fetch(read), ServerError, ()),
            ("garbage", lambda: dz.fetch(read), DecodeError, (SURNAME,)),
            ("garbage", lambda: dz.create_client(person), DecodeError, ()),
            ("slow", lambda: dz.fetch(read), RequestTimeout, (SURNAME,)),
        ]
        for mode, call, kind, shows in cases:
            echo.mode = mode
            exc = await _raised(call)
            assert type(exc) is kind or isinstance(exc, kind), (mode, exc)
            _check(exc, log(), opted_in=opted_in, shows=shows)


async def test_a_refused_connection_holds_no_value_and_no_key(
    opted_in: bool, log: Callable[[], str]
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    read = Query("clients").filter(surname=SURNAME, nhs_number=NHS)
    async with _client(f"http://127.0.0.1:{port}") as dz:
        exc = await _raised(lambda: dz.fetch(read))
    assert isinstance(exc, ConnectError)
    _check(exc, log(), opted_in=opted_in, shows=(SURNAME, NHS))


async def test_an_unknown_outcome_says_which_read_to_make_and_keeps_the_id_as_an_attribute(
    echo: Echo, opted_in: bool, log: Callable[[], str]
) -> None:
    echo.mode = "500"
    async with _client(echo.url) as dz:
        exc = await _raised(lambda: dz.create_client({"first_name": "A", "surname": "B"}, NHS))
    assert exc.outcome_unknown is True
    assert exc.external_id == NHS
    shown = NHS if opted_in else "***"
    assert f"read GET /v2/clients/external_id/{shown} " in str(exc)
    _check(exc, log(), opted_in=opted_in, shows=(NHS,))


async def test_log_values_true_opts_in_without_the_environment(
    echo: Echo, log: Callable[[], str]
) -> None:
    echo.mode = "400"
    async with _client(echo.url, log_values=True) as dz:
        exc = await _raised(lambda: dz.fetch(Query("clients").filter(surname=SURNAME)))
        bad = await _raised(lambda: dz.create_client({"surname": SURNAME}, external_id=[1]))  # type: ignore[arg-type]
    _check(exc, log(), opted_in=True, shows=(SURNAME,))
    assert SURNAME in log()
    assert isinstance(bad, ValidationError)
    async with _client(echo.url, log_values=False) as dz:
        masked = await _raised(lambda: dz.fetch(Query("clients").filter(surname=SURNAME)))
    assert SURNAME not in str(masked)


def test_the_values_a_request_carried_are_found_in_its_path_and_body_ids_aside() -> None:
    found = path_values("/v2/clients/surname/Smith;Lee/postcode/AB1%202CD/id/5/field/id;surname")
    assert {"Smith", "Lee", "AB1 2CD", "AB1%202CD"} <= set(found)
    assert "5" not in found and "surname" not in found
    assert path_values("/v2/dictionary/search/organisations/district/Smith") == ["Smith"] * 3
    assert {"Smith", "AB1 2CD", "3", "4"} <= set(form_values(b"surname=Smith&pc=AB1+2CD&x=3,4"))
    assert described(NHS, False) == "a str of 10 characters"
    assert described(NHS, True) == repr(NHS)


def test_scrub_masks_keys_whatever_their_case_and_short_values_only_as_words() -> None:
    text = f"{KEYS[0].upper()} for Li in client; Smithson"
    assert scrub(text, keys=[KEYS[0]], values=["Li", "smith"]) == "*** for *** in client; ***son"


# -- jobs ----------------------------------------------------------------------------------


async def test_migration_and_export_failures_hold_no_value_and_no_key(
    echo: Echo, opted_in: bool, log: Callable[[], str], tmp_path: Path
) -> None:
    rows = [{"external_id": NHS, "first_name": "Ann", "surname": SURNAME, "postcode": POSTCODE}]
    async with _client(echo.url) as dz:
        echo.mode = "401"
        stopped = await _raised(lambda: migrate(dz, rows, journal=tmp_path / "j.db"))
        assert isinstance(stopped, AuthenticationError)
        _check(stopped, log(), opted_in=opted_in, shows=(NHS,))
        echo.mode = "500"
        out = tmp_path / "out.jsonl"
        failed = await _raised(lambda: export(dz, Query("clients").filter(surname=SURNAME), out))
        _check(failed, log(), opted_in=opted_in, shows=(SURNAME,))
    assert not out.exists()
    assert not Path(f"{out}.part").exists()


# -- files ---------------------------------------------------------------------------------


@pytest.fixture
def lax_umask() -> Iterator[None]:
    old = os.umask(0o002)  # files would be 0664, readable by everyone
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_exports_and_journals_are_created_0600_whatever_the_umask(
    tmp_path: Path, lax_umask: None
) -> None:
    async with FakeDizions(clients=20, seed=4) as fake, fake.client() as dz:
        for name, format_ in (("out.jsonl", "jsonl"), ("out.csv", "csv")):
            out = tmp_path / name
            await export(dz, Query("clients"), out, format=format_)  # type: ignore[arg-type]
            assert _mode(out) == 0o600
        journal = tmp_path / "journal.db"
        rows = [{"external_id": "CRM-1", "first_name": "Ann", "surname": "Lee"}]
        summary = await migrate(dz, rows, journal=journal)
        assert summary.complete
    created = [p for p in tmp_path.iterdir() if p.name.startswith("journal.db")]
    assert journal in created
    for path in created:  # the journal and any -wal / -shm beside it
        assert _mode(path) == 0o600, path


async def test_a_symlink_planted_at_out_part_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out.jsonl"
    Path(f"{out}.part").symlink_to(victim)
    async with FakeDizions(clients=5, seed=4) as fake, fake.client() as dz:
        with pytest.raises(FileExistsError, match="not a regular file"):
            await export(dz, Query("clients"), out)
    assert victim.read_text() == "precious"
    assert Path(f"{out}.part").is_symlink()
    assert not out.exists()


async def test_a_stale_part_file_of_ours_is_replaced(tmp_path: Path, lax_umask: None) -> None:
    out = tmp_path / "out.jsonl"
    Path(f"{out}.part").write_text("left by a crash")
    os.chmod(f"{out}.part", 0o644)
    async with FakeDizions(clients=5, seed=4) as fake, fake.client() as dz:
        summary = await export(dz, Query("clients"), out)
    assert summary.records == 5
    assert _mode(out) == 0o600
    assert "left by a crash" not in out.read_text()


def test_spooled_csv_temp_files_are_private(tmp_path: Path, lax_umask: None) -> None:
    import io

    from dizions_async.jobs._writers import CsvWriter

    writer = CsvWriter(io.BytesIO())
    spool = writer._spool
    assert spool is not None
    spool.rollover()  # type: ignore[attr-defined]
    assert stat.S_IMODE(os.fstat(spool.fileno()).st_mode) == 0o600
    writer.finish()


# -- the command line ----------------------------------------------------------------------


async def _dizions(echo: Echo, *args: str, **env: str) -> Result:
    environment = dict(zip(KEY_ENV, KEYS, strict=False)) | {"DIZIONS_BASE_URL": echo.url}
    environment |= env
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=environment)


async def test_cli_error_lines_hold_no_value_no_key_and_no_control_character(
    echo: Echo,
) -> None:
    filters = ["--filter", f"surname={SURNAME}", "--filter", f"postcode={POSTCODE}"]
    for mode in ("400", "500", "escape", "garbage"):
        echo.mode = mode
        result = await _dizions(echo, "get", "clients", *filters)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("dizions: error: ")
        for secret in (*VALUES, *KEYS):
            assert secret.lower() not in result.output.lower()
        assert "\x1b" not in result.stderr
        assert "\x07" not in result.stderr
    usage = await _dizions(echo, "get", "clients", "--filter", SURNAME)
    assert usage.exit_code == 2
    assert SURNAME not in usage.output
    missing = await _dizions(echo, "get", "clients", DIZIONS_USER="")
    assert missing.exit_code == 2
    assert not any(key in missing.output for key in KEYS)


async def test_cli_shows_values_when_opted_in_but_never_keys(echo: Echo) -> None:
    echo.mode = "400"
    result = await _dizions(
        echo, "get", "clients", "--filter", f"surname={SURNAME}", DIZIONS_LOG_VALUES="1"
    )
    assert result.exit_code == 1
    assert SURNAME in result.stderr
    assert not any(key.lower() in result.output.lower() for key in KEYS)


async def test_cli_tables_neutralise_control_characters_and_machine_formats_keep_them(
    echo: Echo,
) -> None:
    echo.mode = "records"
    table = await _dizions(echo, "get", "clients", "--format", "table")
    assert table.exit_code == 0, table.output
    assert "\x1b" not in table.stdout and "\x07" not in table.stdout
    assert "\x9b" not in table.stdout
    assert "\\x1b]0;pwned\\x07" in table.stdout
    jsonl = await _dizions(echo, "get", "clients", "--format", "jsonl")
    assert "\\u001b]0;pwned\\u0007" in jsonl.stdout  # JSON escapes them: lossless
    csv_out = await _dizions(echo, "get", "clients", "--format", "csv")
    assert ESC_SURNAME in csv_out.stdout  # CSV keeps the data as it is


async def test_a_cli_failure_rendered_with_locals_holds_no_key(echo: Echo) -> None:
    echo.mode = "401"
    no_env = {name: "" for name in KEY_ENV}
    keys = ["--source", KEYS[0], "--org", KEYS[1], "--user", KEYS[2]]
    result = await _dizions(
        echo, "get", "clients", *keys, "--filter", f"surname={SURNAME}", **no_env
    )
    assert result.exit_code == 1
    stop = result.exception
    assert isinstance(stop, SystemExit)
    cause = stop.__context__  # the SDK's error, behind the one-line exit
    assert isinstance(cause, AuthenticationError)
    for exc in (stop, cause):
        # Every frame but click's test runner (it holds the environment it was given) and
        # click's main(), which holds the command line itself: keys given as options are
        # in the process's argv (``ps`` shows them too); the docs advise the environment.
        frames = [
            (frame, line)
            for frame, line in traceback.walk_tb(exc.__traceback__)
            if not frame.f_code.co_filename.endswith(os.path.join("click", "testing.py"))
            and frame.f_code.co_name != "main"
        ]
        assert any("_common.py" in f.f_code.co_filename for f, _ in frames)
        summary = traceback.StackSummary.extract(iter(frames), capture_locals=True)
        text = "".join(summary.format()).lower()
        assert not any(key.lower() in text for key in KEYS)
        assert SURNAME.lower() not in "".join(traceback.format_exception(exc)).lower()


async def test_json_bodies_and_upload_file_names_are_masked_in_server_echoes(
    echo: Echo, opted_in: bool, log: Callable[[], str], tmp_path: Path
) -> None:
    letter = tmp_path / f"{SURNAME}_{NHS}.txt"
    letter.write_text("a letter")
    person = {"org_type_id": 1, "surname": SURNAME, "description": f"lives at {POSTCODE}"}
    echo.mode = "400"
    async with _client(echo.url) as dz:
        people = await _raised(lambda: dz.external_referral([person, person]))
        upload = await _raised(
            lambda: dz.upload("clients", 7, letter, user_visibility=1, group_visibility=2)
        )
    _check(people, log(), opted_in=opted_in, shows=(SURNAME, POSTCODE))
    _check(upload, log(), opted_in=opted_in, shows=(SURNAME, NHS))


def test_an_existing_journal_of_ours_is_narrowed_to_0600(tmp_path: Path) -> None:
    from dizions_async.jobs import Journal

    path = tmp_path / "old.db"
    Journal(path).close()
    os.chmod(path, 0o644)
    with contextlib.closing(Journal(path)):
        assert _mode(path) == 0o600
