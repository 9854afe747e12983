"""The migration journal: one SQLite file recording, per source key, how far its row got.

A row's life is ``pending`` (its create may have been sent) -> ``done`` (with the new
Dizions id), or ``failed`` (refused, with the reason; safe to redo) or ``unknown`` (the
create may or may not have been applied; never resent automatically). A row with no
entry was never sent.

Durability: WAL mode with ``synchronous=FULL``. ``pending`` is the promise "this create
may now be sent", so its commit must survive not only a killed process (which NORMAL
already covers) but a power cut too: under NORMAL a WAL commit is not fsynced, and a
lost ``pending`` whose request did reach the server would make a re-run create the row
a second time. FULL costs one fsync per commit, which :class:`Journal` amortises by
committing every mark that is waiting in one transaction (group commit).

One writer: the job owns the connection and uses it from a single thread. The journal
holds source keys, new ids, reasons and counters; never API keys nor row contents.

Bound to its target: the first run records the base URL and a salted hash of the Org key
(see :class:`Target`); a later run against another server or organisation is refused
before anything is sent, since its "done" rows were done somewhere else.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs

from dizions_async._redact import shown
from dizions_async.errors import ConfigurationError
from dizions_async.jobs._files import private_file

__all__ = [
    "DONE",
    "FAILED",
    "PENDING",
    "STATUSES",
    "UNKNOWN",
    "Entry",
    "Journal",
    "JournalMismatch",
    "Mark",
    "Outcome",
    "Target",
    "TargetMismatch",
]

PENDING = "pending"
DONE = "done"
FAILED = "failed"
UNKNOWN = "unknown"
STATUSES = (PENDING, DONE, FAILED, UNKNOWN)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    source_key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed', 'unknown')),
    dizions_id INTEGER,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_status ON journal (status);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# One statement for every mark: a new row or an update of an existing one. ``attempts``
# counts the times the row was marked pending, i.e. the times a create may have been sent.
_UPSERT = """
INSERT INTO journal (source_key, status, dizions_id, reason, attempts, updated_at)
VALUES (:key, :status, :dizions_id, :reason, :bump, :now)
ON CONFLICT (source_key) DO UPDATE SET
    status = excluded.status,
    dizions_id = COALESCE(excluded.dizions_id, journal.dizions_id),
    reason = excluded.reason,
    attempts = journal.attempts + excluded.attempts,
    updated_at = excluded.updated_at
"""

# SQLite's default limit on host parameters is 999 on old builds; stay well below it.
_LOOKUP_CHUNK = 500


class JournalMismatch(ValueError):
    """The journal was started for another resource or key field than this run asks for."""


class TargetMismatch(JournalMismatch):
    """The journal was started against another base URL or organisation (Org key)."""


@attrs.frozen
class Target:
    """Where a journal's rows were created.

    Attributes:
        base_url: the API base URL.
        org_fingerprint: a salted hash of the Org key (``Client.org_fingerprint``), with
            the journal's own salt; never the key.
    """

    base_url: str
    org_fingerprint: str

    def describe(self) -> str:
        """``URL (Org key #abcd1234)``: the URL and the start of the fingerprint."""
        return f"{self.base_url} (Org key #{self.org_fingerprint[:8]})"


@attrs.frozen
class Entry:
    """One journal row."""

    source_key: str
    status: str
    dizions_id: int | None
    reason: str | None
    attempts: int
    updated_at: str


@attrs.frozen
class Mark:
    """A status change to record; ``pending`` marks count an attempt."""

    source_key: str
    status: str
    dizions_id: int | None = None
    reason: str | None = None


#: ``(source key, status, dizions id)``: one row's outcome, as :meth:`Journal.outcomes` reads it.
Outcome = tuple[str, str, int | None]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class Journal:
    """The SQLite journal of one migration.

    Use it from one thread at a time (the migration engine gives it a thread of its own).

    Args:
        path: the journal file; created with its tables when missing.

    Raises:
        ConfigurationError: ``path`` is a symbolic link, cannot be opened (a directory,
            no permission), or is not a migration journal.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        if os.path.islink(self.path):
            # SQLite would follow it, and create the file it points to with the umask's
            # mode: a journal holds the rows' keys, so it is opened only as itself.
            raise ConfigurationError(
                f"the journal {self.path!r} is a symbolic link: give the path of the file "
                "itself (a journal is never opened through a link)"
            )
        try:
            # Created 0600 before SQLite opens it; its -wal and -shm files take that mode.
            private_file(self.path)
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
            # check_same_thread=False: the engine opens it in the event loop's thread and
            # then uses it only from its single journal thread.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if os.path.isdir(self.path):
                why += "; is it a directory?"
            raise ConfigurationError(
                f"the journal {self.path!r} cannot be opened ({why})"
            ) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ConfigurationError(f"{self.path!r} is not a migration journal ({exc})") from None

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (committing nothing: every mark is committed when applied)."""
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta -------------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        """The job's description: ``resource``, ``key``, ``started`` and, if known,
        ``source``, ``base_url``, ``org_fingerprint`` and ``salt``."""
        return dict(self._db.execute("SELECT name, value FROM meta").fetchall())

    def salt(self) -> bytes:
        """This journal's salt for the Org key fingerprint, made on first use."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('salt', ?) ON CONFLICT DO NOTHING",
                (secrets.token_hex(16),),
            )
        return bytes.fromhex(self.meta()["salt"])

    def target(self) -> Target | None:
        """The target recorded by the first run, or None (a new or an older journal)."""
        known = self.meta()
        if "base_url" not in known or "org_fingerprint" not in known:
            return None
        return Target(known["base_url"], known["org_fingerprint"])

    def check_target(self, target: Target) -> None:
        """Refuse ``target`` if the journal records another one.

        Raises:
            TargetMismatch: another base URL or Org key; the message names both URLs.
        """
        recorded = self.target()
        if recorded is not None and recorded != target:
            raise TargetMismatch(
                f"journal {self.path!r} belongs to {recorded.describe()}, but this run "
                f"targets {target.describe()}: its done rows were created there, not here; "
                "use a new journal for a new target"
            )

    def unbind_untouched(self) -> bool:
        """Forget the recorded target if no row is ``done`` or ``unknown`` (nothing can
        have been created there); returns whether it was forgotten. For a first run whose
        keys were refused, so that the run with the right keys is not refused too."""
        counts = self.counts()
        if counts[DONE] or counts[UNKNOWN]:
            return False
        with self._transaction():
            self._db.execute("DELETE FROM meta WHERE name IN ('base_url', 'org_fingerprint')")
        return True

    def begin_job(
        self, resource: str, key: str, source: str | None = None, target: Target | None = None
    ) -> str | None:
        """Record what this journal is for, or check that it matches an earlier run.

        Args:
            resource, key: the resource created and the source key field.
            source: the row file, if any.
            target: where the rows go; checked against the recorded one, recorded when
                there is none.

        Returns:
            A one-line notice when an older journal without a target was adopted for
            ``target``, else None.

        Raises:
            TargetMismatch: the journal belongs to another base URL or organisation.
            JournalMismatch: the journal belongs to a migration of another resource or key.
        """
        known = self.meta()
        notice = None
        if target is not None:
            self.check_target(target)
            if "resource" in known and "base_url" not in known:
                notice = (
                    f"journal {self.path!r} recorded no target (made by an older version): "
                    f"bound from now on to {target.describe()}"
                )
        for name, value in (("resource", resource), ("key", key)):
            if name in known and known[name] != value:
                raise JournalMismatch(
                    f"journal {self.path!r} records a migration with {name}={known[name]!r}, "
                    f"not {value!r}: use another journal file"
                )
        wanted = {"resource": resource, "key": key, "started": _now()}
        if source is not None:
            wanted["source"] = source
        if target is not None:
            wanted["base_url"] = target.base_url
            wanted["org_fingerprint"] = target.org_fingerprint
        with self._transaction():
            for name, value in wanted.items():
                # the first run's values stay (started, source), later runs fill gaps only
                self._db.execute(
                    "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (name, value),
                )
        return notice

    # -- reads ------------------------------------------------------------------------

    def lookup(self, keys: Sequence[str]) -> dict[str, Entry]:
        """The entries of those of ``keys`` that the journal knows."""
        found: dict[str, Entry] = {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT source_key, status, dizions_id, reason, attempts, updated_at "
                f"FROM journal WHERE source_key IN ({marks})",
                chunk,
            ):
                found[row[0]] = Entry(*row)
        return found

    def get(self, key: str) -> Entry | None:
        """The entry of one source key, or None when the row was never sent."""
        return self.lookup([key]).get(key)

    def counts(self) -> dict[str, int]:
        """How many rows are in each status (every status present, zero when none)."""
        out = dict.fromkeys(STATUSES, 0)
        out.update(self._db.execute("SELECT status, COUNT(*) FROM journal GROUP BY status"))
        return out

    def entries(self, *statuses: str, limit: int | None = None) -> Iterator[Entry]:
        """Entries in the given statuses (all when none given), oldest change first."""
        sql = "SELECT source_key, status, dizions_id, reason, attempts, updated_at FROM journal"
        args: list[Any] = []
        if statuses:
            sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
            args.extend(statuses)
        sql += " ORDER BY updated_at, source_key"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        for row in self._db.execute(sql, args):
            yield Entry(*row)

    def outcomes(self) -> list[Outcome]:
        """Every row's ``(source key, status, dizions id)``, in source key order (plain
        tuples: a verify of a large migration reads them all)."""
        sql = "SELECT source_key, status, dizions_id FROM journal ORDER BY source_key"
        return self._db.execute(sql).fetchall()

    # -- writes -----------------------------------------------------------------------

    def apply(self, marks: Iterable[Mark]) -> None:
        """Record ``marks`` in one durable transaction (in order: a later mark wins)."""
        now = _now()
        params = [
            {
                "key": m.source_key,
                "status": m.status,
                "dizions_id": m.dizions_id,
                "reason": m.reason,
                "bump": 1 if m.status == PENDING else 0,
                "now": now,
            }
            for m in marks
        ]
        if not params:
            return
        with self._transaction():
            self._db.executemany(_UPSERT, params)

    def settle(self, key: str, *, dizions_id: int | None) -> Entry:
        """Settle a row by hand after checking Dizions yourself.

        Args:
            key: the source key of an ``unknown``, ``pending`` or ``failed`` row.
            dizions_id: the id of the record you found (the row becomes ``done``), or
                None when it was not created (the row becomes ``failed``, so that a
                ``retry-failed`` run sends it again).

        Returns:
            The row's new entry.

        Raises:
            KeyError: the journal has no such row.
            ValueError: the row is already ``done``.
        """
        entry = self.get(key)
        if entry is None:
            raise KeyError(key)
        if entry.status == DONE:
            raise ValueError(f"row {shown(key)} is already done (id {entry.dizions_id})")
        if dizions_id is None:
            mark = Mark(key, FAILED, reason="settled by hand: not created")
        else:
            mark = Mark(key, DONE, dizions_id=dizions_id, reason="settled by hand")
        self.apply([mark])
        settled = self.get(key)
        assert settled is not None
        return settled

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back when the body raises."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
