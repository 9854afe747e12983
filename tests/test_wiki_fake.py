"""The fake server and SDK on what the newer wiki pages add: dictionaries with one segment,
schedules, extension databases by API name, referral branches, attendance rates and
treatments, clinic sizes, and the fake's own fixes (int Retry-After, ``serve`` errors)."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest

from dizions_async import Client, ExtensionDatabase, Query
from dizions_async.errors import APIError, NotFoundError, QueryError
from dizions_async.testing import FakeDizions

if TYPE_CHECKING:
    from conftest import Cli


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=60, seed=5) as server:
        yield server


@pytest.fixture
async def dz(fake: FakeDizions) -> AsyncIterator[Client]:
    async with fake.client() as client:
        yield client


@pytest.mark.parametrize(
    ("name", "same_as"),
    [
        ("client_type", ("clients", "type")),
        ("branch", ("organisations", "branch")),
        ("relationships", ("relationships", "relationships")),
        ("carer_relationships", ("relationships", "carer_relationships")),
        ("rates", ("attendances", "rates")),
    ],
)
async def test_one_segment_dictionaries(
    dz: Client, fake: FakeDizions, name: str, same_as: tuple[str, str]
) -> None:
    entries = await dz.dictionary(name)
    assert fake.requests[-1].path == f"/v2/dictionary/{name}"
    assert entries and entries == await dz.dictionary(*same_as)


async def test_extension_database_field_dictionary(dz: Client) -> None:
    # API_Dictionaries: /v2/dictionary/extension_database/INSERT_API_COLLABORATION_NAME_HERE
    outcomes = await dz.dictionary("extension_database", "outcome_44")
    assert [e.name for e in outcomes][:1] == ["No action"]
    with pytest.raises(NotFoundError):
        await dz.dictionary("extension_database", "no_such_field")


async def test_resolve_uses_a_one_segment_dictionary(dz: Client) -> None:
    rows = await dz.fetch(Query("clients").id(1, 2).fields("id", "type"))
    names = {e.id: e.name for e in await dz.dictionary("client_type")}
    resolved = await dz.resolve(rows, {"type": "client_type"})
    assert [r["type"] for r in resolved] == [names[r["type"]] for r in rows]


async def test_schedules_have_friendly_names_text_status_and_client_reports(
    dz: Client, fake: FakeDizions
) -> None:
    names = await dz.friendly_names("schedules")
    assert fake.requests[-1].path == "/v2/schedules/friendly_names"
    assert names["status"] == "Status"
    statuses = {r["status"] for r in await dz.fetch(Query("schedules").fields("id", "status"))}
    assert statuses <= {"pending", "completed", "cancelled"} and "completed" in statuses
    completed = await dz.fetch(Query("schedules").filter(status="completed"))
    assert completed and {r["status"] for r in completed} == {"completed"}
    report = await dz.report(
        Query("schedules")
        .filter(status="completed")
        .dimension("client_gender")
        .metric("client_district")
    )
    assert sum(sum(by.values()) for by in report.values()) == len(completed)  # type: ignore[union-attr]


def test_schedules_are_read_only_for_the_wikis_reason() -> None:
    from dizions_async._writes import prepare_create
    from dizions_async.errors import ValidationError

    with pytest.raises(ValidationError, match="Confirm Work Schedules"):
        prepare_create("schedules", {"worker": 1})


async def test_extension_database_by_api_name(dz: Client, fake: FakeDizions) -> None:
    notes = ExtensionDatabase("wellcheck_notes")
    assert notes.resource == "extension_database/wellcheck_notes"
    rows = await dz.fetch(notes.query().fields("id", "assessment_score", "finances"))
    assert rows and set(rows[0]) == {"id", "assessment_score", "finances"}
    new = await dz.create(notes, {"referral": 2, "assessment_score": 7, "finances": "OK"})
    await dz.update(notes, new, {"finances": "Struggling"})
    (row,) = await dz.fetch(notes.query().filter(id=new))
    assert (row["assessment_score"], row["finances"]) == (7, "Struggling")


@pytest.mark.parametrize("name", ["Wellcheck Notes", "wellcheck-notes", "", "notes/9"])
def test_an_api_name_with_other_characters_is_a_query_error(name: str) -> None:
    with pytest.raises(QueryError, match="lower-case letters, digits and underscores"):
        ExtensionDatabase(name)


def test_query_from_path_reads_both_extension_forms() -> None:
    for path in (
        "/v2/extension_database/wellcheck_notes/referral/2289",
        "/v2/extension_database/wellcheck_notes_9/referral/2289",
    ):
        assert Query.from_path(path).path == path


REFERRAL = {
    "client": 3,
    "client_type": 1,
    "date": "2024-02-01",
    "project": 2,
    "template": 1,
    "stage": 1,
    "response_description": "Phoned back",
}


async def test_a_branch_system_needs_branch_on_referral_create() -> None:
    async with FakeDizions(clients=10, seed=5, branches=True) as fake, fake.client() as dz:
        assert (await dz.check_keys())["uses_branches"] == "Y"
        with pytest.raises(APIError) as info:
            await dz.create_referral(REFERRAL)
        assert info.value.status == 400 and "branch" in str(info.value)
        rid = await dz.create_referral({**REFERRAL, "branch": 2})
        assert (await dz.fetch_one(Query("referrals").id(rid)))["branch"] == 2


async def test_attendances_have_rate_and_treatments_and_clinics_their_size(dz: Client) -> None:
    rows = await dz.fetch(Query("attendances").fields("id", "rate", "treatments"))
    rates = [r["rate"] for r in rows]
    assert any(rates) and all(rate is None or isinstance(rate, float) for rate in rates)
    treated = [r for r in rows if r["treatments"]]
    assert treated
    assert set(treated[0]["treatments"][0]) == {"ticked", "paid", "treatment", "amount_paid"}
    clinics = await dz.fetch(Query("clinics").fields("id", "name", "maximum_number_of_members"))
    assert clinics and all(r["maximum_number_of_members"] >= 10 for r in clinics)


async def test_an_int_retry_after_is_sent_as_seconds(fake: FakeDizions) -> None:
    fake.faults.set("GET /v2/workers", rate_429=1.0, retry_after=1, times=1)
    async with (
        aiohttp.ClientSession(fake.url, headers=fake.headers) as http,
        http.get("/v2/workers") as response,
    ):
        assert response.status == 429
        assert response.headers["Retry-After"] == "1"


def test_a_negative_or_odd_retry_after_is_refused() -> None:
    from dizions_async.testing import FaultConfig

    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="retry_after"):
            FaultConfig(retry_after=bad)  # type: ignore[arg-type]


async def _serve(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dizions_async.cli",
        "serve",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_serve_on_a_port_in_use_says_so_in_one_line_and_exits_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await _serve("--port", str(port), "--clients", "5")
    assert code == 2
    assert err.splitlines() == [err.strip()] and f"127.0.0.1:{port}" in err
    assert "address already in use" in err and "Traceback" not in err


async def test_serve_with_an_unwritable_db_says_so_in_one_line_and_exits_2(
    tmp_path: Path,
) -> None:
    db = tmp_path / "missing" / "x.db"
    code, _, err = await _serve("--port", "0", "--db", str(db), "--clients", "5")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--db" in err and "Traceback" not in err


async def test_dict_cli_takes_one_segment(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "dict", "client_type", "--format", "json")
    assert result.exit_code == 0, result.output
    assert '"name"' in result.output
