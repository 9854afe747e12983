"""Migration safety as a new user meets it: the journal's target, and writes the server
applied although their answer could not be read.

Against the bundled fake and against a lenient in-test server (``_lenient.py``) that,
like a less careful real server, stores a second client with the same external ID.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from _lenient import LenientServer
from yarl import URL

from dizions_async import Client
from dizions_async.errors import DecodeError, ServerError, TransportError
from dizions_async.jobs import Journal, TargetMismatch, migrate, verify
from dizions_async.jobs._journal import DONE, FAILED, UNKNOWN, Mark
from dizions_async.protocol import Request, Response, decode_created_id
from dizions_async.query import Query
from dizions_async.retry import RetryPolicy
from dizions_async.testing import FakeDizions, FaultConfig
from dizions_async.testing._faults import parse_fault_rule

if TYPE_CHECKING:
    from conftest import Cli

FAST = RetryPolicy(backoff_base=0.001, backoff_max=0.001, jitter=False)


@pytest.fixture
async def lenient() -> AsyncIterator[LenientServer]:
    async with LenientServer() as server:
        yield server


def _lenient_client(server: LenientServer, **options: Any) -> Client:
    return Client("s", "o", "u", base_url=server.url, retry=FAST, **options)


def _referrals(n: int) -> list[dict[str, Any]]:
    return [
        {
            "ref": f"R{i}",
            "client": 1,
            "client_type": 1,
            "date": "2024-01-02",
            "project": 1,
            "template": 1,
            "stage": 1,
            "response_description": f"row {i}",
        }
        for i in range(n)
    ]


def _book(path: Path, prefix: str, n: int) -> Path:
    lines = ["external_id,first_name,surname"]
    lines += [f"{prefix}-{i},First{i},Sur{i}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_a_journal_reused_against_another_server_stops_before_sending(
    cli: Cli, tmp_path: Path
) -> None:
    book = _book(tmp_path / "book.csv", "T", 5)
    journal = tmp_path / "job.sqlite"
    async with FakeDizions(clients=2, seed=1) as test, FakeDizions(clients=2, seed=2) as prod:
        first = await cli(test, "migrate", "clients", str(book), "--journal", str(journal))
        assert first.exit_code == 0, first.output
        second = await cli(prod, "migrate", "clients", str(book), "--journal", str(journal))
        assert second.exit_code == 2, second.output
        assert test.url in second.stderr and prod.url in second.stderr
        assert "use a new journal for a new target" in second.stderr
        assert not prod.requests  # stopped before sending anything
        assert not prod.store.rows("clients", external_id="T-0")


async def test_a_committed_write_answered_2xx_html_is_unknown_and_never_resent(
    lenient: LenientServer, tmp_path: Path
) -> None:
    lenient.faults = ["commit_then_html"] * 5
    rows = _referrals(20)
    journal = tmp_path / "job.sqlite"
    async with _lenient_client(lenient) as dz:
        first = await migrate(dz, rows, journal=journal, resource="referrals", key="ref")
        again = await migrate(
            dz, rows, journal=journal, resource="referrals", key="ref", retry_failed=True
        )
    assert lenient.count("referrals") == 20
    assert (first.created, first.unknown, first.failed) == (15, 5, 0)
    assert (again.created, again.unknown) == (0, 5)
    with Journal(journal) as j:
        assert j.counts()[UNKNOWN] == 5


async def test_status_shows_the_target_and_never_the_key(cli: Cli, tmp_path: Path) -> None:
    book = _book(tmp_path / "book.csv", "S", 2)
    journal = tmp_path / "job.sqlite"
    async with FakeDizions(clients=2, seed=1) as fake:
        await cli(fake, "migrate", "clients", str(book), "--journal", str(journal))
        status = await cli(fake, "migrate", "status", str(journal))
    assert status.exit_code == 0, status.output
    assert f"target: {fake.url} (Org key #" in status.stdout
    assert fake.keys.org.encode() not in journal.read_bytes()


async def test_the_same_server_with_another_org_key_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "job.sqlite"
    rows = [{"external_id": "O-1", "first_name": "A", "surname": "B"}]
    async with FakeDizions(clients=2, seed=1) as fake:
        async with fake.client() as dz:
            await migrate(dz, rows, journal=journal)
        other = Client("s", "another-org", "u", base_url=fake.url)
        async with other as dz:
            with pytest.raises(TargetMismatch, match="use a new journal for a new target"):
                await migrate(dz, rows, journal=journal)


async def test_an_older_journal_is_adopted_on_the_next_run_with_a_one_line_notice(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "job.sqlite"
    with Journal(journal) as j:
        j.begin_job("clients", "external_id")  # as an older version left it
    rows = [{"external_id": "A-1", "first_name": "A", "surname": "B"}]
    async with FakeDizions(clients=2, seed=1) as fake, fake.client() as dz:
        summary = await migrate(dz, rows, journal=journal)
    assert len(summary.notices) == 1 and fake.url in summary.notices[0]
    assert summary.describe().splitlines()[0] == summary.notices[0]
    with Journal(journal) as j:
        target = j.target()
    assert target is not None and target.base_url == fake.url


# -- 2xx answers that cannot be read, after a write --------------------------------------


async def test_a_write_answered_2xx_html_is_a_decode_error_with_outcome_unknown(
    lenient: LenientServer,
) -> None:
    lenient.faults = ["commit_then_html"]
    async with _lenient_client(lenient) as dz:
        with pytest.raises(DecodeError) as caught:
            await dz.create("referrals", _referrals(1)[0])
    assert caught.value.outcome_unknown
    assert "check before sending it again" in str(caught.value)
    assert lenient.count("referrals") == 1 and len(lenient.writes()) == 1


@pytest.mark.parametrize("body", [b"{}", b'{"id": null}', b"[]", b'"ok"', b""])
def test_a_2xx_without_an_id_after_a_write_is_outcome_unknown(body: bytes) -> None:
    url = URL("https://api.example/v2/referrals")
    write = Request.build("PUT", url, (), body=b"x=1", idempotent=False)
    with pytest.raises(DecodeError) as caught:
        decode_created_id(write, Response(200, {}, body))
    assert caught.value.outcome_unknown
    read = Request.build("GET", url, ())
    with pytest.raises(DecodeError) as caught:
        decode_created_id(read, Response(200, {}, body))
    assert not caught.value.outcome_unknown


async def test_a_connection_dropped_while_reading_a_2xx_body_is_outcome_unknown(
    lenient: LenientServer,
) -> None:
    lenient.faults = ["commit_then_cut"]
    async with _lenient_client(lenient) as dz:
        with pytest.raises(TransportError) as caught:
            await dz.create("referrals", _referrals(1)[0])
    assert caught.value.outcome_unknown
    assert lenient.count("referrals") == 1 and len(lenient.writes()) == 1


# -- resends of writes --------------------------------------------------------------------


async def test_a_client_create_answered_503_after_commit_is_read_back_not_resent(
    lenient: LenientServer,
) -> None:
    lenient.faults = ["commit_then_503"]
    async with _lenient_client(lenient) as dz:
        new_id = await dz.create_client({"first_name": "A", "surname": "B"}, external_id="E1")
    assert lenient.records["clients"] == [
        {"id": new_id, "first_name": "A", "surname": "B", "external_id": "E1"}
    ]
    methods = [m for m, _, _ in lenient.requests]
    assert methods == ["PUT", "GET"]  # the read back, and no second create


async def test_a_client_create_answered_503_before_commit_is_read_back_then_resent(
    lenient: LenientServer,
) -> None:
    lenient.faults = ["late_503"]
    lenient.late_delay = 3600.0  # never, within this test
    async with _lenient_client(lenient) as dz:
        await dz.create_client({"first_name": "A", "surname": "B"}, external_id="E1")
    assert [m for m, _, _ in lenient.requests] == ["PUT", "GET", "PUT"]
    assert lenient.count("clients") == 1


async def test_migrating_clients_through_503s_after_commit_creates_no_duplicate(
    lenient: LenientServer, tmp_path: Path
) -> None:
    lenient.faults = ["commit_then_503", None] * 10
    rows = [{"external_id": f"C{i}", "first_name": "A", "surname": "B"} for i in range(20)]
    async with _lenient_client(lenient) as dz:
        summary = await migrate(dz, rows, journal=tmp_path / "j.sqlite", concurrency=4)
    assert summary.complete
    held = [r["external_id"] for r in lenient.records["clients"]]
    assert sorted(held) == sorted(r["external_id"] for r in rows)


async def test_a_failed_read_back_before_a_resend_leaves_the_outcome_unknown(
    lenient: LenientServer,
) -> None:
    lenient.faults = ["commit_then_503"]
    async with _lenient_client(lenient) as dz:
        real_send = dz._send

        async def send(request: Request) -> Response:
            if request.method == "GET":
                raise TransportError("read failed", method="GET")
            return await real_send(request)

        dz._send = send  # type: ignore[method-assign]
        with pytest.raises(ServerError) as caught:
            await dz.create_client({"first_name": "A", "surname": "B"}, external_id="E1")
    assert caught.value.outcome_unknown and "reading it back" in str(caught.value)
    assert lenient.count("clients") == 1


@pytest.mark.parametrize(
    ("statuses", "sends", "unknown"), [(None, 2, None), (frozenset({429}), 1, True)]
)
async def test_write_retry_statuses_decide_whether_a_503_resends_other_writes(
    lenient: LenientServer, statuses: frozenset[int] | None, sends: int, unknown: bool | None
) -> None:
    lenient.faults = ["late_503"]
    lenient.late_delay = 3600.0
    policy = FAST if statuses is None else attrs.evolve(FAST, write_retry_statuses=statuses)
    async with Client("s", "o", "u", base_url=lenient.url, retry=policy) as dz:
        try:
            await dz.create("referrals", _referrals(1)[0])
        except ServerError as exc:
            assert exc.outcome_unknown is unknown
        else:
            assert unknown is None
    assert len(lenient.writes()) == sends


def test_write_retry_statuses_default_to_429_and_503_and_refuse_nonsense() -> None:
    assert RetryPolicy().write_retry_statuses == frozenset({429, 503})
    assert RetryPolicy(write_retry_statuses=[429]).write_retry_statuses == frozenset({429})
    with pytest.raises(ValueError, match="4xx/5xx"):
        RetryPolicy(write_retry_statuses={200})
    with pytest.raises(TypeError):
        RetryPolicy(write_retry_statuses=503)  # type: ignore[arg-type]


# -- the fake server's commit_then_garble fault --------------------------------------------


async def test_commit_then_garble_commits_then_answers_200_html_to_writes_only() -> None:
    async with FakeDizions(clients=3, seed=3) as fake, fake.client(retry=FAST) as dz:
        fake.faults.set(commit_then_garble=1.0)
        assert await dz.fetch(Query("workers"))  # reads are answered normally
        with pytest.raises(DecodeError) as caught:
            await dz.create_client({"first_name": "Gar", "surname": "Bled"}, external_id="G1")
        assert caught.value.outcome_unknown and caught.value.external_id == "G1"  # type: ignore[attr-defined]
        assert "GET /v2/clients/external_id/*** " in str(caught.value)  # the ID masked
        assert len(fake.store.rows("clients", external_id="G1")) == 1
        assert [r.fault for r in fake.requests] == [None, "commit_then_garble"]
        assert fake.requests[-1].status == 200


def test_commit_then_garble_parses_from_the_command_line_form() -> None:
    rule = parse_fault_rule("PUT /v2/referrals:commit_then_garble=0.2,drop=0.1")
    assert rule == FaultConfig("PUT /v2/referrals", commit_then_garble=0.2, drop=0.1)
    with pytest.raises(ValueError, match="at most 1"):
        FaultConfig(commit_then_fail=0.6, commit_then_garble=0.6)


async def test_retry_failed_never_resends_a_row_that_may_have_been_applied(
    cli: Cli, tmp_path: Path
) -> None:
    journal = tmp_path / "job.sqlite"
    rows = tmp_path / "referrals.csv"
    header = ",".join(_referrals(1)[0])
    rows.write_text("\n".join([header, *(",".join(map(str, r.values())) for r in _referrals(6))]))
    async with FakeDizions(clients=3, seed=4) as fake:
        fake.faults.set("PUT /v2/referrals", commit_then_garble=1.0, times=2)
        args = ("migrate", "records", "referrals", str(rows), "--journal", str(journal))
        first = await cli(fake, *args, "--key", "ref")
        assert first.exit_code == 1 and "2 unknown" in first.stdout, first.output
        held = len(fake.store.rows("referrals"))
        again = await cli(fake, "migrate", "retry-failed", str(journal))
        assert again.exit_code == 1 and "2 unknown" in again.stdout, again.output
        assert len(fake.store.rows("referrals")) == held  # nothing resent
        status = await cli(fake, "migrate", "status", str(journal))
        assert "unknown: 2" in status.stdout
        reads = [ln for ln in status.stdout.splitlines() if "look for a referrals record" in ln]
        assert len(reads) == 2
        unknown_key = reads[0].split(":")[0].strip()
        settled = await cli(fake, "migrate", "settle", str(journal), unknown_key, "--id", "7")
        assert settled.exit_code == 0 and "done" in settled.stdout


# -- verify -----------------------------------------------------------------------------


async def test_verify_finds_a_duplicate_planted_by_a_late_commit(
    lenient: LenientServer, tmp_path: Path
) -> None:
    # The first create is answered 503 and applied 50 ms later: the read-back before the
    # resend finds nothing, so the client is created again, and the late commit lands.
    lenient.faults = ["late_503"]
    rows = [{"external_id": f"L{i}", "first_name": "A", "surname": "B"} for i in range(3)]
    journal = tmp_path / "j.sqlite"
    async with _lenient_client(lenient) as dz:
        summary = await migrate(dz, rows, journal=journal, concurrency=1)
        assert summary.complete
        while lenient.count("clients") < 4:
            await asyncio.sleep(0.01)  # waiting for the late commit, not a backoff
        report = await verify(dz, journal)
    assert not report.ok and report.checked == 3
    [(key, ids)] = report.duplicates
    assert key == "L0" and len(ids) == 2
    assert ids == tuple(
        sorted(r["id"] for r in lenient.records["clients"] if r["external_id"] == "L0")
    )
    assert "present more than once" in report.describe() and "L0" in report.describe()


async def test_verify_reports_missing_mismatched_and_unexpected_client_rows(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "j.sqlite"
    rows = [{"external_id": f"V{i}", "first_name": "A", "surname": "B"} for i in range(40)]
    # a short URL limit: the 40 external IDs are read back in several requests
    async with FakeDizions(clients=3, seed=5) as fake, fake.client(max_url_length=200) as dz:
        await migrate(dz, rows, journal=journal)
        before = len(fake.requests)
        clean = await verify(dz, journal)
        reads = len(fake.requests) - before
        assert clean.ok and clean.checked == 40 and reads > 1, clean.describe()
        with Journal(journal) as j:
            j.apply(
                [
                    Mark("GHOST", DONE, dizions_id=5),
                    Mark("V1", DONE, dizions_id=999_999),
                    Mark("V2", FAILED, reason="settled by hand: not created"),
                ]
            )
        report = await verify(dz, journal)
        real = {r["external_id"]: r["id"] for r in fake.store.rows("clients")}
    assert report.missing == (("GHOST", 5),)
    assert report.mismatched == (("V1", 999_999, real["V1"]),)
    assert report.unexpected == (("V2", FAILED, (real["V2"],)),)
    assert not report.duplicates and report.checked == 41


async def test_verify_reads_other_resources_back_by_id(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    async with FakeDizions(clients=3, seed=5) as fake, fake.client() as dz:
        client_id = fake.store.rows("clients")[0]["id"]
        rows = [{**r, "client": client_id} for r in _referrals(4)]
        await migrate(dz, rows, journal=journal, resource="referrals", key="ref")
        assert (await verify(dz, journal)).ok
        with Journal(journal) as j:
            j.apply([Mark("R9", DONE, dizions_id=999_999)])
        report = await verify(dz, journal)
    assert report.missing == (("R9", 999_999),) and report.checked == 5


async def test_cli_verify_exits_0_when_all_is_well_1_when_not_2_for_another_target(
    cli: Cli, tmp_path: Path
) -> None:
    book = _book(tmp_path / "book.csv", "W", 5)
    journal = tmp_path / "job.sqlite"
    async with FakeDizions(clients=2, seed=1) as fake, FakeDizions(clients=2, seed=2) as other:
        await cli(fake, "migrate", "clients", str(book), "--journal", str(journal))
        good = await cli(fake, "migrate", "verify", str(journal))
        assert good.exit_code == 0 and "Every done row is in Dizions once" in good.stdout
        with Journal(journal) as j:
            j.apply([Mark("W-9", DONE, dizions_id=77)])
        bad = await cli(fake, "migrate", "verify", str(journal))
        assert bad.exit_code == 1 and "W-9 (id 77)" in bad.stdout, bad.output
        elsewhere = await cli(other, "migrate", "verify", str(journal))
        assert elsewhere.exit_code == 2 and "use a new journal" in elsewhere.stderr
