"""The migration engine against an in-memory fake of the three client calls it uses."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dizions_async.errors import APIError, AuthenticationError, ServerError, TransportError
from dizions_async.jobs import Journal, JournalMismatch, MigrationSummary
from dizions_async.jobs import migrate as _migrate
from dizions_async.jobs._journal import DONE, FAILED, PENDING, UNKNOWN, Mark
from dizions_async.query import Query

# The in-memory book applies a create at once, so reads back need no settling time;
# the settle test below passes its own.
migrate = functools.partial(_migrate, settle=0.0)

# Faults a send can meet, queued per source key:
REFUSE = "refuse"  # 400: not applied, outcome known
LOST = "lost"  # dropped before the server acted: not applied, outcome unknown
COMMIT_THEN_FAIL = "commit_then_fail"  # applied, then a 500: outcome unknown
HANG = "hang"  # applied, then the answer never comes (the process is killed meanwhile)
LATE = "late"  # the answer is lost at once, and the server applies the create LATE_DELAY later
#: Long, so a run with no settle pause reads back before it lands on a loaded machine too.
LATE_DELAY = 0.5


class FakeBook:
    """Records creates like the server would; faults are queued per key for exact tests."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.faults: dict[str, list[str]] = {}
        self.sends: Counter[str] = Counter()
        self.reads = 0
        self.fail_reads = False
        self.in_flight = 0
        self.peak_in_flight = 0
        self.hung = asyncio.Event()
        # like the fake server: refuse a second client with the same external ID
        self.unique_external_ids = False
        self._next_id = 1000

    base_url = "https://book.test"

    def org_fingerprint(self, salt: bytes) -> str:
        return "f" * 32

    def _apply(self, resource: str, fields: Mapping[str, Any]) -> int:
        self._next_id += 1
        self.records.setdefault(resource, []).append({"id": self._next_id, **fields})
        return self._next_id

    async def _send(self, resource: str, tag: str, fields: Mapping[str, Any]) -> int:
        self.sends[tag] += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            queued = self.faults.get(tag, [])
            fault = queued.pop(0) if queued else None
            if fault == REFUSE:
                raise APIError(400, "surname is too long", method="PUT", url=f"/v2/{resource}")
            if self.unique_external_ids and self.by_external_id()[tag]:
                raise APIError(400, f"external_id {tag!r} already exists", method="PUT")
            if fault == LOST:
                raise TransportError("connection dropped", method="PUT", outcome_unknown=True)
            if fault == LATE:
                asyncio.get_running_loop().call_later(LATE_DELAY, self._apply, resource, fields)
                raise TransportError("read timed out", method="PUT", outcome_unknown=True)
            new_id = self._apply(resource, fields)
            if fault == COMMIT_THEN_FAIL:
                raise ServerError(500, "oops", method="PUT", outcome_unknown=True)
            if fault == HANG:
                self.hung.set()
                await asyncio.Event().wait()
            return new_id
        finally:
            self.in_flight -= 1

    async def create_client(self, fields: Mapping[str, Any], external_id: str | None = None) -> int:
        body = dict(fields)
        if external_id is not None:
            body["external_id"] = external_id
        return await self._send("clients", external_id or str(fields.get("surname")), body)

    async def create(self, resource: str, fields: Mapping[str, Any]) -> int:
        return await self._send(resource, str(fields.get("description")), fields)

    async def fetch(self, query: Query) -> list[dict[str, Any]]:
        self.reads += 1
        await asyncio.sleep(0)
        if self.fail_reads:
            raise TransportError("read timed out")
        wanted = dict(query.filters)["external_id"]
        return [
            {"id": r["id"]}
            for r in self.records.get("clients", [])
            if (r.get("external_id"),) == wanted
        ]

    def by_external_id(self) -> Counter[str]:
        return Counter(r["external_id"] for r in self.records.get("clients", []))


def _clients(n: int) -> list[dict[str, Any]]:
    return [
        {"external_id": f"EXT{i:04d}", "first_name": f"F{i}", "surname": f"S{i}"} for i in range(n)
    ]


@pytest.fixture
def book() -> FakeBook:
    return FakeBook()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "job.sqlite"


def _statuses(path: Path) -> dict[str, str]:
    with Journal(path) as j:
        return {e.source_key: e.status for e in j.entries()}


async def test_every_row_is_created_once_and_journaled_done(
    book: FakeBook, journal_path: Path
) -> None:
    rows = _clients(40)
    summary = await migrate(book, rows, journal=journal_path, concurrency=4)
    assert book.by_external_id() == Counter({r["external_id"]: 1 for r in rows})
    assert (summary.rows, summary.created, summary.complete) == (40, 40, True)
    with Journal(journal_path) as j:
        entry = j.get("EXT0003")
        assert entry is not None and entry.status == DONE and entry.attempts == 1
        assert entry.dizions_id in {r["id"] for r in book.records["clients"]}


async def test_external_id_goes_in_the_create_call_not_the_body(
    book: FakeBook, journal_path: Path
) -> None:
    calls: list[tuple[dict[str, Any], str | None]] = []
    original = book.create_client

    async def spy(fields: Mapping[str, Any], external_id: str | None = None) -> int:
        calls.append((dict(fields), external_id))
        return await original(fields, external_id)

    book.create_client = spy  # type: ignore[method-assign]
    await migrate(book, _clients(1), journal=journal_path)
    assert calls == [({"first_name": "F0", "surname": "S0"}, "EXT0000")]


async def test_concurrency_bounds_creates_in_flight(book: FakeBook, journal_path: Path) -> None:
    await migrate(book, _clients(60), journal=journal_path, concurrency=3)
    assert 1 < book.peak_in_flight <= 3


async def test_rerun_skips_done_rows_without_sending(book: FakeBook, journal_path: Path) -> None:
    rows = _clients(20)
    await migrate(book, rows, journal=journal_path)
    again = await migrate(book, rows, journal=journal_path)
    assert (again.skipped_done, again.created) == (20, 0)
    assert sum(book.sends.values()) == 20 and book.reads == 0


async def test_commit_then_fail_is_read_back_not_created_twice(
    book: FakeBook, journal_path: Path
) -> None:
    book.faults = {"EXT0001": [COMMIT_THEN_FAIL], "EXT0005": [COMMIT_THEN_FAIL]}
    summary = await migrate(book, _clients(8), journal=journal_path)
    assert set(book.by_external_id().values()) == {1}
    assert (summary.created, summary.recovered) == (6, 2)
    assert book.sends["EXT0001"] == 1 and book.reads == 2


async def test_unknown_outcome_found_absent_is_sent_again(
    book: FakeBook, journal_path: Path
) -> None:
    book.faults = {"EXT0002": [LOST, LOST]}
    summary = await migrate(book, _clients(4), journal=journal_path)
    assert book.sends["EXT0002"] == 3 and book.by_external_id()["EXT0002"] == 1
    assert summary.created == 4
    with Journal(journal_path) as j:
        entry = j.get("EXT0002")
        assert entry is not None and entry.attempts == 3


@pytest.mark.parametrize(("settle", "copies"), [(0.0, 2), (2 * LATE_DELAY, 1)])
async def test_settle_lets_a_create_still_being_applied_be_seen_before_any_resend(
    book: FakeBook, journal_path: Path, settle: float, copies: int
) -> None:
    # Without a pause the read-back misses the late create and the row is sent again:
    # the duplicate the settle delay exists to prevent.
    book.faults = {"EXT0001": [LATE]}
    await migrate(book, _clients(3), journal=journal_path, settle=settle)
    await asyncio.sleep(2 * LATE_DELAY)  # let a late create land, if one is still pending
    assert book.by_external_id()["EXT0001"] == copies
    assert _statuses(journal_path)["EXT0001"] == DONE


async def test_unknown_outcome_that_cannot_be_checked_is_left_unknown(
    book: FakeBook, journal_path: Path
) -> None:
    book.faults = {"EXT0000": [LOST]}
    book.fail_reads = True
    summary = await migrate(book, _clients(2), journal=journal_path)
    assert summary.unknown == 1 and not summary.complete
    assert _statuses(journal_path)["EXT0000"] == UNKNOWN
    # next run, reads work again: checked, found absent, created once
    book.fail_reads = False
    again = await migrate(book, _clients(2), journal=journal_path)
    assert (again.created, again.skipped_done) == (1, 1)
    assert book.by_external_id()["EXT0000"] == 1


async def test_refused_and_invalid_rows_are_failed_with_reasons_and_do_not_stop_the_job(
    book: FakeBook, journal_path: Path
) -> None:
    rows = _clients(5)
    del rows[3]["surname"]
    book.faults = {"EXT0001": [REFUSE]}
    summary = await migrate(book, rows, journal=journal_path)
    assert (summary.created, summary.failed) == (3, 2)
    reasons = {p.key: p.reason for p in summary.problems}
    assert "surname is too long" in reasons["EXT0001"]
    assert "surname" in reasons["EXT0003"] and "missing" in reasons["EXT0003"]
    assert book.sends["EXT0003"] == 0
    assert _statuses(journal_path)["EXT0001"] == FAILED


async def test_failed_rows_are_skipped_on_rerun_and_redone_with_retry_failed(
    book: FakeBook, journal_path: Path
) -> None:
    book.faults = {"EXT0001": [REFUSE]}
    await migrate(book, _clients(3), journal=journal_path)
    plain = await migrate(book, _clients(3), journal=journal_path)
    assert (plain.skipped_failed, plain.skipped_done, plain.created) == (1, 2, 0)
    assert "retry-failed" in plain.describe()
    retried = await migrate(book, _clients(3), journal=journal_path, retry_failed=True)
    assert (retried.created, retried.skipped_done, retried.complete) == (1, 2, True)
    assert book.by_external_id()["EXT0001"] == 1


async def test_resource_without_external_id_unknown_outcome_is_never_resent(
    book: FakeBook, journal_path: Path
) -> None:
    rows = [{"legacy": f"L{i}", "description": f"d{i}"} for i in range(3)]
    book.faults = {"d1": [COMMIT_THEN_FAIL]}
    summary = await migrate(
        book, rows, journal=journal_path, resource="external_referral", key="legacy"
    )
    # external_referral needs org_type_id and surname too: every row fails validation
    assert summary.failed == 3 and book.sends["d0"] == 0

    rows = [{**r, "org_type_id": 1, "surname": "X"} for r in rows]
    other = journal_path.with_name("ok.sqlite")
    summary = await migrate(book, rows, journal=other, resource="external_referral", key="legacy")
    assert (summary.created, summary.unknown) == (2, 1)
    assert "settle" in summary.describe() and book.reads == 0
    again = await migrate(book, rows, journal=other, resource="external_referral", key="legacy")
    assert (again.unknown, again.skipped_done, book.sends["d1"]) == (1, 2, 1)


async def test_pending_row_left_by_a_crash_is_read_before_creating(
    book: FakeBook, journal_path: Path
) -> None:
    rows = _clients(3)
    # A crash after EXT0000's create reached the server, and one before EXT0001's did.
    book._apply("clients", {**rows[0]})
    with Journal(journal_path) as j:
        j.begin_job("clients", "external_id")
        j.apply([Mark("EXT0000", PENDING), Mark("EXT0001", PENDING)])
    summary = await migrate(book, rows, journal=journal_path)
    assert (summary.recovered, summary.created) == (1, 2)
    assert book.sends["EXT0000"] == 0 and book.reads == 2
    assert set(book.by_external_id().values()) == {1}


async def test_pending_row_without_external_id_becomes_unknown_on_rerun(
    book: FakeBook, journal_path: Path
) -> None:
    rows = [{"legacy": "L1", "description": "d", "org_type_id": 1, "surname": "X"}]
    with Journal(journal_path) as j:
        j.begin_job("external_referral", "legacy")
        j.apply([Mark("L1", PENDING)])
    summary = await migrate(
        book, rows, journal=journal_path, resource="external_referral", key="legacy"
    )
    assert summary.unknown == 1 and sum(book.sends.values()) == 0
    assert _statuses(journal_path) == {"L1": UNKNOWN}


async def test_a_run_killed_mid_flight_resumes_to_exactly_once(
    book: FakeBook, journal_path: Path
) -> None:
    rows = _clients(30)
    book.faults = {"EXT0010": [HANG]}
    task = asyncio.ensure_future(migrate(book, rows, journal=journal_path, concurrency=4))
    await asyncio.wait_for(book.hung.wait(), 30)
    task.cancel()  # the in-process stand-in for a kill; the subprocess test uses SIGKILL
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _statuses(journal_path)["EXT0010"] == PENDING
    summary = await migrate(book, rows, journal=journal_path, concurrency=4)
    assert book.by_external_id() == Counter({r["external_id"]: 1 for r in rows})
    assert summary.recovered >= 1 and summary.complete


async def test_create_refused_because_the_client_exists_is_recorded_done(
    book: FakeBook, journal_path: Path
) -> None:
    rows = _clients(2)
    existing = book._apply("clients", dict(rows[0]))  # created by other means, not journaled
    book.unique_external_ids = True
    summary = await migrate(book, rows, journal=journal_path)
    assert (summary.created, summary.recovered, summary.failed) == (1, 1, 0)
    with Journal(journal_path) as j:
        entry = j.get("EXT0000")
        assert entry is not None and entry.dizions_id == existing
        assert "already exists" in (entry.reason or "")


async def test_refused_create_of_an_absent_client_stays_failed(
    book: FakeBook, journal_path: Path
) -> None:
    book.faults = {"EXT0000": [REFUSE]}
    summary = await migrate(book, _clients(1), journal=journal_path)
    assert (summary.failed, summary.recovered, book.reads) == (1, 0, 1)


async def test_rows_without_a_key_are_rejected_and_repeats_ignored(
    book: FakeBook, journal_path: Path
) -> None:
    rows: list[dict[str, Any]] = [*_clients(2), {"surname": "NoKey"}, _clients(1)[0]]
    summary = await migrate(book, rows, journal=journal_path)
    assert (summary.created, summary.rejected, summary.duplicates) == (2, 1, 1)
    assert summary.problems[0].key == "row 3"
    assert len(_statuses(journal_path)) == 2


async def test_authentication_error_stops_the_job(book: FakeBook, journal_path: Path) -> None:
    async def refuse(fields: Mapping[str, Any], external_id: str | None = None) -> int:
        raise AuthenticationError(401, "bad keys", method="PUT")

    book.create_client = refuse  # type: ignore[method-assign]
    with pytest.raises(AuthenticationError):
        await migrate(book, _clients(50), journal=journal_path, concurrency=2)
    # nothing was applied; the rows are pending, and a fixed run will read them first
    assert set(_statuses(journal_path).values()) <= {PENDING}


async def test_rows_from_csv_and_jsonl_files(
    book: FakeBook, tmp_path: Path, journal_path: Path
) -> None:
    csv_path = tmp_path / "book.csv"
    csv_path.write_text("external_id,first_name,surname\nC1,Ann,Lee\nC2,Bo,Roe\n")
    jsonl_path = tmp_path / "book.jsonl"
    jsonl_path.write_text('{"external_id": "J1", "first_name": "Cy", "surname": "Doe"}\n')
    progress: list[tuple[int, int | None]] = []
    first = await migrate(
        book, csv_path, journal=journal_path, on_progress=lambda d, t: progress.append((d, t))
    )
    second = await migrate(book, jsonl_path, journal=tmp_path / "j2.sqlite")
    assert (first.created, second.created) == (2, 1)
    assert progress[-1] == (2, 2)
    with Journal(journal_path) as j:
        assert j.meta()["source"] == str(csv_path)


async def test_journal_of_another_resource_is_refused(book: FakeBook, journal_path: Path) -> None:
    await migrate(book, _clients(1), journal=journal_path)
    with pytest.raises(JournalMismatch):
        await migrate(book, [], journal=journal_path, resource="referrals")


async def test_summary_describe_says_what_is_left_and_how_to_resume() -> None:
    summary = MigrationSummary(
        resource="clients", journal="job.sqlite", rows=10, created=7, failed=2, unknown=1
    )
    text = summary.describe()
    assert "created 7" in text and "2 failed now" in text and "1 unknown" in text
    assert "dizions migrate status job.sqlite" in text and "Resume" in text
    assert "Every row is done" in MigrationSummary(resource="clients", journal="j").describe()


async def test_summary_says_rows_without_a_key_are_fixed_in_the_input() -> None:
    text = MigrationSummary(resource="clients", journal="j", rows=3, rejected=1).describe()
    assert "1 rows have no usable source key" in text
    assert "fix them in the input and run again" in text


async def test_bad_concurrency_is_refused(book: FakeBook, journal_path: Path) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        await migrate(book, [], journal=journal_path, concurrency=0)


async def test_a_journal_that_fails_mid_run_stops_the_job_and_nothing_unjournaled_was_sent(
    book: FakeBook, journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from dizions_async.jobs import JournalWriteError

    rows = _clients(600)  # three chunks: the second chunk's claim is the commit that fails
    real_apply = Journal.apply
    calls = 0

    def apply(self: Journal, marks: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise sqlite3.OperationalError("disk I/O error")
        real_apply(self, marks)

    monkeypatch.setattr(Journal, "apply", apply)
    with pytest.raises(JournalWriteError, match="disk I/O error"):
        await migrate(book, rows, journal=journal_path, concurrency=4)
    monkeypatch.undo()
    statuses = _statuses(journal_path)
    # every create sent had its pending committed first
    assert set(book.by_external_id()) <= set(statuses)
    summary = await migrate(book, rows, journal=journal_path, concurrency=4)
    assert book.by_external_id() == Counter({r["external_id"]: 1 for r in rows})
    assert summary.complete


async def test_a_key_repeated_with_other_values_is_rejected_not_silently_dropped(
    book: FakeBook, journal_path: Path
) -> None:
    same = _clients(1)[0]
    other = {**same, "surname": "Someone Else"}
    rows: list[dict[str, Any]] = [same, *_clients(3)[1:], dict(same), other]
    summary = await migrate(book, rows, journal=journal_path)
    assert (summary.created, summary.duplicates, summary.rejected) == (3, 1, 1)
    assert not summary.complete
    assert summary.problems[0].key == "row 5" and "row 1" in summary.problems[0].reason
    assert "fix them in the input" in summary.describe()


async def test_retry_failed_reads_a_client_back_before_resending_it(
    book: FakeBook, journal_path: Path
) -> None:
    # every send's outcome was unknown and each read-back found nothing, so the row
    # failed; but the last send was still being applied, and lands after the run
    book.faults = {"EXT0001": [LOST, LOST, LATE]}
    first = await migrate(book, _clients(2), journal=journal_path)
    assert first.failed == 1
    await asyncio.sleep(2 * LATE_DELAY)
    assert book.by_external_id()["EXT0001"] == 1
    retried = await migrate(book, _clients(2), journal=journal_path, retry_failed=True)
    assert book.by_external_id()["EXT0001"] == 1 and book.sends["EXT0001"] == 3
    assert (retried.recovered, retried.complete) == (1, True)


async def test_summary_beyond_the_listed_problems_says_where_the_rest_are(
    book: FakeBook, journal_path: Path
) -> None:
    rows: list[dict[str, Any]] = [{"surname": "NoKey"} for _ in range(60)]
    book.faults = {f"EXT{i:04d}": [REFUSE] for i in range(5)}
    summary = await migrate(book, [*rows, *_clients(5)], journal=journal_path)
    assert (summary.rejected, summary.failed, len(summary.problems)) == (60, 5, 50)
    text = summary.describe()
    assert "... and 5 more failed or unknown: `dizions migrate status" in text
    assert "... and 10 more rejected rows (not in the journal; check the input)" in text
