"""``dizions export`` (and ``jobs.export`` with the real Client) against the fake server."""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import pytest

from dizions_async import Client, Query
from dizions_async.jobs import export
from dizions_async.testing import FakeDizions

if TYPE_CHECKING:
    from conftest import Cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=80, seed=5) as server:
        yield server


async def test_export_jsonl_file_holds_every_record(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "clients.jsonl"
    result = await cli(fake, "export", "clients", "--out", str(out))
    assert result.exit_code == 0, result.output
    ids = [orjson.loads(line)["id"] for line in out.read_bytes().splitlines()]
    assert sorted(ids) == sorted(r["id"] for r in fake.store.rows("clients"))
    assert "exported 80 records" in result.stderr
    assert "\x1b[" not in result.output  # no progress bar off a terminal


async def test_export_csv_by_suffix_with_selected_fields(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "c.csv"
    result = await cli(
        fake,
        "export",
        "clients",
        "--filter",
        "gender=1",
        "--fields",
        "id,surname",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "surname"]
    assert len(rows) - 1 == len(fake.store.rows("clients", gender=1))


async def test_export_split_by_month_writes_each_referral_once(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    args = ["--date", "date=2015-01-01..2030-12-31", "--split", "year", "--out", str(out)]
    result = await cli(fake, "export", "referrals", *args)
    assert result.exit_code == 0, result.output
    ids = [orjson.loads(line)["id"] for line in out.read_bytes().splitlines()]
    assert len(ids) == len(set(ids)) > 0
    assert "16 requests" in result.stderr


async def test_export_to_stdout(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "export", "clients", "--id", "2", "--format", "csv", "--out", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].startswith("2,")


async def test_export_bad_split_is_a_usage_error(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    result = await cli(fake, "export", "clients", "--split", "fortnight", "--out", "x.jsonl")
    assert result.exit_code == 2 and "--split" in result.output


async def test_export_failure_leaves_no_output_file(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    result = await cli(fake, "export", "referrals", "--out", str(out), DIZIONS_ORG="wrong")
    assert result.exit_code == 1 and "401" in result.stderr
    assert list(tmp_path.iterdir()) == []


async def test_jobs_export_with_the_client_matches_the_store(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    k = fake.keys
    async with Client(k.source, k.org, k.user, base_url=fake.url) as dz:
        summary = await export(dz, Query("clients"), tmp_path / "c.csv", format="csv")
    assert summary.records == fake.store.count("clients")
    with (tmp_path / "c.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header[0] == "id" and set(header) >= {"first_name", "surname"}


async def test_export_subprocess_against_dizions_serve(cli: Cli, tmp_path: Path) -> None:
    """The console entry point end to end: ``dizions serve`` and ``dizions export``."""
    serve = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dizions_async.cli",
        "serve",
        "--port",
        "0",
        "--clients",
        "30",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert serve.stdout is not None
        lines = [(await serve.stdout.readline()).decode() for _ in range(4)]
        served = cli.serve_env(lines)
        keys = [served[name] for name in ("DIZIONS_SOURCE", "DIZIONS_ORG", "DIZIONS_USER")]
        env = {**os.environ, **served}
        out = tmp_path / "c.jsonl"
        export_proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dizions_async.cli",
            "export",
            "clients",
            "--out",
            str(out),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(export_proc.communicate(), 60)
        assert export_proc.returncode == 0, stderr.decode()
        assert len(out.read_bytes().splitlines()) == 30
        assert not any(key.encode() in stdout + stderr for key in keys)
        bad = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dizions_async.cli",
            "get",
            "clients",
            "--filter",
            "religon=1",
            cwd=ROOT,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await bad.communicate()
        assert bad.returncode == 2 and err.decode().count("\n") == 1
    finally:
        serve.terminate()
        await serve.wait()


@pytest.mark.parametrize("format_", ["jsonl", "csv"])
async def test_split_export_of_fields_without_id_still_writes_each_record_once(
    fake: FakeDizions, tmp_path: Path, format_: str
) -> None:
    # date_active puts a referral in every window with a done contact: the pieces
    # overlap, and only the id tells the repeats apart, though the user did not ask for it
    base = Query("referrals").date_range("date_active", "2015-01-01", "2030-12-31")
    k = fake.keys
    async with Client(k.source, k.org, k.user, base_url=fake.url) as dz:
        want = await dz.fetch(base.fields("id", "date"))
        out = tmp_path / f"r.{format_}"
        summary = await export(dz, base.fields("date"), out, format=format_, split="month")  # type: ignore[arg-type]
    assert summary.pieces > 1 and summary.records == len(want) > 0
    if format_ == "jsonl":
        got = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert all(set(r) == {"date"} for r in got)
    else:
        with out.open(newline="") as handle:
            got = list(csv.DictReader(handle))
        assert all(set(r) == {"date"} for r in got)
    assert sorted(r["date"] for r in got) == sorted(r["date"] for r in want)
