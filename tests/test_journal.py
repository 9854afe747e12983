from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dizions_async.errors import ConfigurationError
from dizions_async.jobs import Journal, JournalMismatch, Target, TargetMismatch
from dizions_async.jobs._journal import DONE, FAILED, PENDING, UNKNOWN, Mark


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "job.sqlite")
    yield j  # type: ignore[misc]
    j.close()


def test_journal_is_wal_with_full_sync(journal: Journal) -> None:
    db = journal._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_journal_table_has_the_agreed_columns(journal: Journal) -> None:
    columns = [r[1] for r in journal._db.execute("PRAGMA table_info(journal)")]
    assert columns == ["source_key", "status", "dizions_id", "reason", "attempts", "updated_at"]


def test_pending_then_done_keeps_the_id_and_counts_one_attempt(journal: Journal) -> None:
    journal.apply([Mark("A1", PENDING)])
    journal.apply([Mark("A1", DONE, dizions_id=42)])
    entry = journal.get("A1")
    assert entry is not None
    assert (entry.status, entry.dizions_id, entry.attempts, entry.reason) == (DONE, 42, 1, None)


def test_each_pending_mark_counts_an_attempt(journal: Journal) -> None:
    journal.apply([Mark("A1", PENDING), Mark("A1", FAILED, reason="400 bad")])
    journal.apply([Mark("A1", PENDING)])
    entry = journal.get("A1")
    assert entry is not None and entry.attempts == 2 and entry.status == PENDING


def test_later_mark_in_one_batch_wins(journal: Journal) -> None:
    journal.apply([Mark("A1", PENDING), Mark("A1", UNKNOWN, reason="timeout")])
    entry = journal.get("A1")
    assert entry is not None and (entry.status, entry.reason) == (UNKNOWN, "timeout")


def test_lookup_returns_only_known_keys_across_chunks(journal: Journal) -> None:
    journal.apply([Mark(f"k{i}", DONE, dizions_id=i) for i in range(1200)])
    wanted = [f"k{i}" for i in range(0, 1300, 3)]
    found = journal.lookup(wanted)
    assert set(found) == {k for k in wanted if int(k[1:]) < 1200}
    assert found["k300"].dizions_id == 300


def test_counts_include_every_status(journal: Journal) -> None:
    journal.apply([Mark("a", DONE, dizions_id=1), Mark("b", FAILED, reason="x")])
    assert journal.counts() == {PENDING: 0, DONE: 1, FAILED: 1, UNKNOWN: 0}


def test_entries_filter_by_status(journal: Journal) -> None:
    journal.apply([Mark("a", DONE, dizions_id=1), Mark("b", FAILED, reason="x")])
    assert [e.source_key for e in journal.entries(FAILED)] == ["b"]
    assert len(list(journal.entries())) == 2


def test_begin_job_records_meta_once_and_refuses_another_resource(journal: Journal) -> None:
    journal.begin_job("clients", "external_id", "rows.csv")
    first = journal.meta()
    journal.begin_job("clients", "external_id", "other.csv")
    assert journal.meta() == first
    assert first["source"] == "rows.csv" and first["resource"] == "clients"
    with pytest.raises(JournalMismatch, match="resource='clients'"):
        journal.begin_job("referrals", "external_id")
    with pytest.raises(JournalMismatch, match="key"):
        journal.begin_job("clients", "legacy_id")


def test_settle_with_id_marks_done_and_without_marks_failed(journal: Journal) -> None:
    journal.apply([Mark("u1", UNKNOWN, reason="t"), Mark("u2", UNKNOWN, reason="t")])
    assert journal.settle("u1", dizions_id=9).status == DONE
    settled = journal.settle("u2", dizions_id=None)
    assert settled.status == FAILED and settled.reason is not None
    with pytest.raises(ValueError, match="already done"):
        journal.settle("u1", dizions_id=10)
    with pytest.raises(KeyError):
        journal.settle("nope", dizions_id=1)


def test_committed_marks_are_visible_to_another_connection(journal: Journal) -> None:
    journal.apply([Mark("a", PENDING)])
    other = sqlite3.connect(journal.path)
    try:
        assert other.execute("SELECT status FROM journal").fetchall() == [(PENDING,)]
    finally:
        other.close()


def test_status_outside_the_four_is_refused(journal: Journal) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        journal.apply([Mark("a", "sent")])


def test_target_is_recorded_once_then_another_is_refused_naming_both_urls(
    journal: Journal,
) -> None:
    here = Target("https://test.example", "a" * 32)
    assert journal.begin_job("clients", "external_id", target=here) is None
    assert journal.target() == here
    journal.begin_job("clients", "external_id", target=here)  # the same target: fine
    for other in (Target("https://prod.example", "a" * 32), Target(here.base_url, "b" * 32)):
        with pytest.raises(TargetMismatch) as caught:
            journal.begin_job("clients", "external_id", target=other)
        message = str(caught.value)
        assert here.base_url in message and other.base_url in message
        assert "use a new journal for a new target" in message


def test_an_older_journal_without_a_target_is_adopted_with_a_notice(journal: Journal) -> None:
    journal.begin_job("clients", "external_id")  # as an older version left it
    here = Target("https://test.example", "a" * 32)
    notice = journal.begin_job("clients", "external_id", target=here)
    assert notice is not None and "https://test.example" in notice and "\n" not in notice
    assert journal.target() == here
    assert journal.begin_job("clients", "external_id", target=here) is None


def test_salt_is_made_once_and_kept(journal: Journal) -> None:
    salt = journal.salt()
    assert len(salt) == 16 and journal.salt() == salt


def test_jobs_package_exports_exactly_these_names() -> None:
    import dizions_async.jobs as jobs

    assert sorted(jobs.__all__) == [
        "Entry",
        "ExportClient",
        "ExportProgress",
        "ExportSummary",
        "Journal",
        "JournalMismatch",
        "JournalWriteError",
        "MigrationClient",
        "MigrationSummary",
        "Problem",
        "RowFileError",
        "Target",
        "TargetMismatch",
        "VerifyClient",
        "VerifyReport",
        "export",
        "iter_rows",
        "migrate",
        "verify",
    ]
    assert all(hasattr(jobs, name) for name in jobs.__all__)


def test_a_journal_path_that_is_a_symlink_is_refused_and_nothing_is_made_behind_it(
    tmp_path: Path,
) -> None:
    # SQLite would follow the link and make the file it points to with the umask's mode.
    target = tmp_path / "elsewhere.sqlite"
    link = tmp_path / "job.sqlite"
    link.symlink_to(target)
    with pytest.raises(ConfigurationError, match="symbolic link"):
        Journal(link)
    assert not target.exists()


@pytest.mark.parametrize("kind", ["directory", "not a journal"])
def test_a_journal_path_that_cannot_be_one_is_our_error_naming_it(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "job.sqlite"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("notes, not a database\n" * 100, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"job\.sqlite") as caught:
        Journal(path)
    assert ("directory" if kind == "directory" else "not a migration journal") in str(caught.value)
