"""``dizions migrate ...`` through click's runner against the fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dizions_async.cli import _migrate as cli_migrate
from dizions_async.jobs import Journal
from dizions_async.jobs._journal import DONE, FAILED, UNKNOWN, Mark
from dizions_async.testing import FakeDizions

if TYPE_CHECKING:
    from conftest import Cli


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=3, seed=4) as server:
        yield server


@pytest.fixture
def book(tmp_path: Path) -> Path:
    path = tmp_path / "book.csv"
    path.write_text(
        "external_id,first_name,surname\nB-1,Ann,Lee\nB-2,Bo,\nB-3,Cy,Doe\n", encoding="utf-8"
    )
    return path


@pytest.fixture
async def ran_once(fake: FakeDizions, cli: Cli, book: Path, tmp_path: Path) -> str:
    """The journal of one ``migrate clients`` run over ``book`` (B-2 fails: no surname)."""
    journal = str(tmp_path / "job.sqlite")
    await cli(fake, "migrate", "clients", str(book), "--journal", journal)
    return journal


async def test_migrate_clients_prints_a_summary_and_exits_1_when_rows_failed(
    fake: FakeDizions, cli: Cli, book: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "job.sqlite"
    result = await cli(fake, "migrate", "clients", str(book), "--journal", str(journal))
    assert result.exit_code == 1, result.output
    assert "created 2" in result.stdout and "1 failed now" in result.stdout
    assert "retry-failed" in result.stdout
    assert "\x1b[" not in result.output  # no progress bar off a terminal
    assert len(fake.store.rows("clients", external_id="B-1")) == 1


async def test_rerun_skips_done_rows(
    fake: FakeDizions, cli: Cli, book: Path, ran_once: str
) -> None:
    again = await cli(fake, "migrate", "clients", str(book), "--journal", ran_once)
    assert "skipped as done earlier 2" in again.stdout and "1 failed earlier" in again.stdout


async def test_status_lists_failed_rows_with_reasons(
    fake: FakeDizions, cli: Cli, ran_once: str
) -> None:
    result = await cli(fake, "migrate", "status", ran_once)
    assert result.exit_code == 0, result.output
    assert "done: 2" in result.stdout and "failed: 1" in result.stdout
    assert "B-2" in result.stdout and "surname" in result.stdout


async def test_retry_failed_uses_the_journals_file_after_it_is_fixed(
    fake: FakeDizions, cli: Cli, book: Path, ran_once: str
) -> None:
    book.write_text(book.read_text().replace("B-2,Bo,", "B-2,Bo,Roe"))
    result = await cli(fake, "migrate", "retry-failed", ran_once)
    assert result.exit_code == 0, result.output
    assert "created 1" in result.stdout and "Every row is done" in result.stdout
    assert len(fake.store.rows("clients", external_id="B-2")) == 1


async def test_settle_records_what_was_found(fake: FakeDizions, cli: Cli, tmp_path: Path) -> None:
    journal = tmp_path / "job.sqlite"
    with Journal(journal) as j:
        j.begin_job("referrals", "legacy")
        j.apply([Mark("R1", UNKNOWN, reason="timeout"), Mark("R2", UNKNOWN, reason="timeout")])
    one = await cli(fake, "migrate", "settle", str(journal), "R1", "--id", "77")
    two = await cli(fake, "migrate", "settle", str(journal), "R2", "--not-created")
    assert (one.exit_code, two.exit_code) == (0, 0)
    assert "R1: done (id 77)" in one.stdout
    with Journal(journal) as j:
        assert [j.get("R1").status, j.get("R2").status] == [DONE, FAILED]  # type: ignore[union-attr]
    both = await cli(fake, "migrate", "settle", str(journal), "R2", "--id", "1", "--not-created")
    assert both.exit_code == 2


async def test_status_of_a_missing_journal_is_a_usage_error(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    result = await cli(fake, "migrate", "status", str(tmp_path / "nope.sqlite"))
    assert result.exit_code == 2 and not (tmp_path / "nope.sqlite").exists()


async def test_journal_of_another_resource_is_a_usage_error(
    fake: FakeDizions, cli: Cli, book: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "job.sqlite"
    with Journal(journal) as j:
        j.begin_job("referrals", "external_id")
    result = await cli(fake, "migrate", "clients", str(book), "--journal", str(journal))
    assert result.exit_code == 2 and "referrals" in result.stderr


async def test_row_file_of_unknown_format_is_a_usage_error_in_one_line(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    rows = tmp_path / "book.txt"
    rows.write_text("external_id,first_name,surname\nT-1,Ann,Lee\n", encoding="utf-8")
    journal = tmp_path / "job.sqlite"
    result = await cli(fake, "migrate", "clients", str(rows), "--journal", str(journal))
    assert result.exit_code == 2, result.output
    assert ".csv" in result.stderr and "Traceback" not in result.output
    assert not journal.exists() and fake.store.rows("clients", external_id="T-1") == []


@pytest.mark.parametrize("command", ["status", "run"])
async def test_a_journal_that_is_not_one_is_a_usage_error_in_one_line(
    fake: FakeDizions, cli: Cli, book: Path, tmp_path: Path, command: str
) -> None:
    journal = tmp_path / "notes.sqlite"
    journal.write_text("not a database\n" * 100, encoding="utf-8")
    if command == "status":
        result = await cli(fake, "migrate", "status", str(journal))
    else:
        result = await cli(fake, "migrate", "clients", str(book), "--journal", str(journal))
    assert result.exit_code == 2, result.output
    assert "not a migration journal" in result.stderr and "Traceback" not in result.output
    assert fake.store.rows("clients", external_id="B-1") == []


async def test_a_row_file_saved_as_ansi_fails_those_rows_in_one_line_each_not_a_traceback(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "ansi.csv"
    path.write_bytes(
        "external_id,first_name,surname\nA-1,Ann,Lee\nA-2,Ren\xe9e,Roe\n".encode("cp1252")
    )
    journal = tmp_path / "job.sqlite"
    result = await cli(fake, "migrate", "clients", str(path), "--journal", str(journal))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "created 1" in result.stdout and "line 3: not UTF-8" in result.stdout
    assert len(fake.store.rows("clients", external_id="A-1")) == 1


async def test_a_row_file_without_the_key_column_is_a_usage_error_before_any_send(
    fake: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "book.csv"
    path.write_text("ext_id,first_name,surname\nA-1,Ann,Lee\n")
    journal = tmp_path / "job.sqlite"
    before = len(fake.requests)
    result = await cli(fake, "migrate", "clients", str(path), "--journal", str(journal))
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "no 'external_id' column" in result.stderr
    assert len(fake.requests) == before and not journal.exists()


async def test_a_run_stopped_by_the_api_says_what_the_journal_holds_and_how_to_resume(
    fake: FakeDizions, cli: Cli, book: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "job.sqlite"
    result = await cli(
        fake, "migrate", "clients", str(book), "--journal", str(journal), DIZIONS_ORG="wrong"
    )
    assert result.exit_code == 1, result.output
    first, second = result.stderr.splitlines()
    assert first.startswith("dizions: error:") and "401" in first
    assert f"the journal {journal} holds pending 2, done 0, failed 1, unknown 0" in second
    assert "Run the same command again to resume" in second
    again = await cli(fake, "migrate", "clients", str(book), "--journal", str(journal))
    assert "created 2" in again.stdout
    assert len(fake.store.rows("clients", external_id="B-1")) == 1


async def test_an_interrupted_run_exits_130_saying_how_to_resume(
    fake: FakeDizions, cli: Cli, book: Path, ran_once: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_migrate, "migrate", interrupted)
    result = await cli(fake, "migrate", "clients", str(book), "--journal", ran_once)
    assert result.exit_code == 130
    assert "dizions: interrupted" in result.stderr
    assert f"the journal {ran_once} holds pending 0, done 2, failed 1" in result.stderr


async def test_retry_failed_on_a_journal_that_never_started_a_job_is_a_usage_error(
    fake: FakeDizions, cli: Cli, book: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "empty.sqlite"
    Journal(journal).close()  # the tables, but no job recorded
    result = await cli(fake, "migrate", "retry-failed", str(journal), str(book))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "records no migration" in result.stderr
