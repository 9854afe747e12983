"""The command line forgives what people type, and says in one line what it cannot take.

Y/N and date filter values, unknown resources, mistyped names, one-line usage errors,
``--limit``, ``--dry-run``, ``--version``, ``serve``'s export lines, output grammar and
wrapping, shell completion: each against the fake server, as a new user would meet them.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import pytest
from click.testing import CliRunner, Result

from dizions_async import Query, __version__
from dizions_async.batching import plan_requests
from dizions_async.cli._app import app
from dizions_async.testing import FakeDizions

if TYPE_CHECKING:
    from conftest import Cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=60, seed=3) as server:
        yield server


def _ids(result: Result) -> list[int]:
    assert result.exit_code == 0, result.output
    return [orjson.loads(line)["id"] for line in result.stdout.splitlines()]


def _usage_error(result: Result, command: str, *needles: str) -> None:
    """Exit 2 and exactly one line on standard error, naming the command's help."""
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("dizions: error: ")
    assert f"(see `{command} --help`)" in result.stderr
    for needle in needles:
        assert needle in result.stderr


@pytest.mark.parametrize(("typed", "sent"), [("true", "Y"), ("YES", "Y"), ("1", "Y"), ("No", "N")])
async def test_yes_no_values_are_read_as_y_and_n(
    fake: FakeDizions, cli: Cli, typed: str, sent: str
) -> None:
    base = ["get", "clients", "--format", "jsonl", "--fields", "id"]
    got = _ids(await cli(fake, *base, "--filter", f"active={typed}"))
    want = sorted(r["id"] for r in fake.store.rows("clients") if r["active"] == sent)
    assert want and sorted(got) == want
    assert fake.requests[-1].path.endswith(f"/active/{sent}/field/id")


async def test_a_yes_no_value_that_means_neither_is_a_usage_error(
    fake: FakeDizions, cli: Cli
) -> None:
    before = len(fake.requests)
    result = await cli(fake, "get", "clients", "--filter", "active=maybe")
    _usage_error(result, "dizions get", "'active' takes Y or N", "got ***")
    assert "maybe" not in result.stderr  # a value: masked unless opted in
    assert len(fake.requests) == before  # nothing was sent


@pytest.mark.parametrize("typed", ["31/01/2024", "2024-1-31", "yesterday"])
async def test_a_date_filter_value_must_be_iso(fake: FakeDizions, cli: Cli, typed: str) -> None:
    result = await cli(fake, "get", "referrals", "--filter", f"date={typed}")
    _usage_error(result, "dizions get", "YYYY-MM-DD", "got ***")


async def test_a_date_and_time_field_takes_a_date_or_a_date_and_time(
    fake: FakeDizions, cli: Cli
) -> None:
    for typed in ("2024-01-31", "2024-01-31 09:30"):
        result = await cli(fake, "get", "referrals", "--filter", f"updated={typed}")
        assert result.exit_code == 0, result.output
    _usage_error(await cli(fake, "get", "referrals", "--filter", "updated=noon"), "dizions get")


async def test_an_iso_date_filter_value_is_sent(fake: FakeDizions, cli: Cli) -> None:
    date = fake.store.rows("referrals")[0]["date"]
    got = _ids(await cli(fake, "get", "referrals", "--filter", f"date={date}", "--format", "jsonl"))
    assert got and all(r["date"] == date for r in fake.store.rows("referrals") if r["id"] in got)


async def test_a_bad_date_range_is_a_usage_error(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "get", "referrals", "--date", "date=2024-01-01..2024-02-31")
    _usage_error(result, "dizions get", "'date'")


async def test_an_unknown_resource_lists_the_valid_names(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "get", "contacts")
    _usage_error(result, "dizions get", "'done_contacts' or 'due_contacts'", "clients, referrals")


@pytest.mark.parametrize(
    ("args", "command", "needles"),
    [
        (["get", "clients", "--fields", "id,surnme"], "dizions get", ["'surname'"]),
        (["get", "clients", "--filter", "religon=1"], "dizions get", ["'religion'"]),
        (["get", "done_contacts", "--fields", "id,xyzzy"], "dizions get", ["'xyzzy'"]),
        (["report", "clients", "--dimension", "distrct"], "dizions report", ["'district'"]),
        (
            ["report", "clients", "--dimension", "district", "--metric", "gendr"],
            "dizions report",
            ["'gender'"],
        ),
        (["export", "clients", "--fields", "surnam", "--out", "-"], "dizions export", []),
    ],
)
async def test_mistyped_names_get_the_nearest_name_and_the_way_round(
    fake: FakeDizions, cli: Cli, args: list[str], command: str, needles: list[str]
) -> None:
    before = len(fake.requests)
    result = await cli(fake, *args)
    _usage_error(result, command, "--no-strict", *needles)
    assert len(fake.requests) == before


async def test_no_strict_sends_an_unknown_name_as_given(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "get", "clients", "--fields", "id,surnme", "--no-strict")
    assert result.exit_code == 1  # sent: the fake server refuses the field it does not have
    assert fake.requests[-1].path.endswith("/field/id;surnme")


async def test_an_extension_field_far_from_any_known_name_is_sent(
    fake: FakeDizions, cli: Cli
) -> None:
    args = ["--fields", "id,website_photo_consent", "--id", "1", "--format", "jsonl"]
    result = await cli(fake, "get", "clients", *args)
    assert result.exit_code == 0, result.output
    assert "website_photo_consent" in orjson.loads(result.stdout.splitlines()[0])


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["get", "clients", "--limt", "3"], "dizions get"),
        (["get"], "dizions get"),
        (["report", "clients"], "dizions report"),
        (["get", "clients", "--limit", "0"], "dizions get"),
        (["nosuch"], "dizions"),
        (["migrate", "settle", "journal.sqlite"], "dizions migrate settle"),
    ],
)
async def test_click_usage_errors_are_one_line_naming_the_help(
    fake: FakeDizions, cli: Cli, args: list[str], command: str
) -> None:
    _usage_error(await cli(fake, *args), command)


async def test_limit_prints_the_first_n_records(fake: FakeDizions, cli: Cli) -> None:
    jsonl = ("get", "clients", "--format", "jsonl")
    everything = _ids(await cli(fake, *jsonl))
    assert _ids(await cli(fake, *jsonl, "--limit", "5")) == everything[:5]
    assert _ids(await cli(fake, *jsonl, "--limit", "999")) == everything


async def test_dry_run_prints_the_urls_and_sends_nothing(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    before = len(fake.requests)
    get = await cli(fake, "get", "clients", "--filter", "surname=Lee, Jr", "--dry-run")
    assert get.exit_code == 0, get.output
    assert get.stdout == f"GET {fake.url}/v2/clients/surname/Lee;%20Jr\n"

    ids = [f"--id={i}" for i in range(1, 1501)]
    many = await cli(fake, "get", "clients", *ids, "--dry-run")
    planned = plan_requests(Query("clients").id(*range(1, 1501)), fake.url, 4096)
    assert len(planned) > 1
    assert many.stdout.splitlines() == [f"GET {fake.url}{p.path}" for p in planned]

    args = ["--dimension", "district", "--resolve", "district", "--dry-run"]
    report = await cli(fake, "report", "clients", *args)
    want = f"GET {fake.url}/v2/clients/dimension/district?resolveIds[]=district\n"
    assert report.stdout == want

    out = tmp_path / "r.csv"
    dates = "date=2024-01-01..2024-03-31"
    export_args = ["--date", dates, "--split", "month", "--out", str(out), "--dry-run"]
    export = await cli(fake, "export", "referrals", *export_args)
    assert export.exit_code == 0, export.output
    assert [line.split("/v2/")[1] for line in export.stdout.splitlines()] == [
        "referrals/date/2024-01-01,2024-01-31",
        "referrals/date/2024-02-01,2024-02-29",
        "referrals/date/2024-03-01,2024-03-31",
    ]
    assert not out.exists()
    assert len(fake.requests) == before


async def test_dry_run_needs_no_keys(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "get", "clients", "--dry-run", env={"DIZIONS_BASE_URL": fake.url})
    assert result.exit_code == 0 and result.stdout == f"GET {fake.url}/v2/clients\n"


@pytest.mark.parametrize("args", [[], ["migrate"]])
def test_a_group_without_a_command_shows_its_help(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert "Usage: dizions" in result.output and "Commands:" in result.output
    assert "error" not in result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"dizions, version {__version__}\n"


def test_shell_completion_is_clicks_own() -> None:
    result = CliRunner().invoke(app, [], env={"_DIZIONS_COMPLETE": "bash_source"})
    assert result.exit_code == 0 and "_DIZIONS_COMPLETE=bash_complete" in result.output


async def test_export_says_1_record_not_1_records(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "export", "clients", "--id", "1", "--out", "-")
    assert result.exit_code == 0, result.output
    assert "exported 1 record as jsonl" in result.stderr and "(" in result.stderr
    assert "1 request)" in result.stderr


def test_prose_is_not_wrapped_when_piped() -> None:
    result = CliRunner().invoke(app, ["demo", "--clients", "300", "--seed", "7"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "distinct active referrals" in x)
    assert len(line) > 80 and line.endswith("records/s)")


async def test_serve_prints_export_lines_that_work_when_pasted(cli: Cli) -> None:
    serve = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "dizions_async.cli", "serve", "--port", "0", "--clients", "12"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert serve.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Press Ctrl+C"):
            lines.append((await asyncio.wait_for(serve.stdout.readline(), 60)).decode())
        exports = [line for line in lines if line.startswith("export ")]
        assert [line.split("=")[0] for line in exports] == [
            "export DIZIONS_BASE_URL",
            "export DIZIONS_SOURCE",
            "export DIZIONS_ORG",
            "export DIZIONS_USER",
        ]
        pasted = dict(shlex.split(line)[1].split("=", 1) for line in exports)
        assert pasted == cli.serve_env(lines[:4])  # the banner says the same
        get = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "dizions_async.cli", "get", "clients", "--format", "jsonl"),
            cwd=ROOT,
            env={**os.environ, **pasted},
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(get.communicate(), 60)
        assert get.returncode == 0 and len(out.splitlines()) == 12
    finally:
        serve.terminate()
        await serve.wait()
