"""``verify``: read a migration's journaled rows back from Dizions and report what differs.

A migration's journal says which rows are done and with which ids; ``verify`` checks
that Dizions agrees. Clients journaled by external ID are read back in batches by their
external IDs (the client cuts each batch into value lists that fit the URL limit and
reads them concurrently), which shows rows missing, an external ID held by more than one
client (a create applied late, after its row was settled or resent), ids that differ
from the journal, and rows present although the journal does not hold them as done.
Other resources are read back by each done row's id, concurrently; those not found are
missing.

Nothing is written to Dizions; the journal only gains its fingerprint salt if it had none.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from dizions_async.errors import NotFoundError
from dizions_async.jobs._journal import DONE, Journal, JournalMismatch, Outcome, Target
from dizions_async.query import Query

__all__ = ["VerifyClient", "VerifyReport", "verify"]

#: Journaled rows read back per batch (the client splits each to fit the URL limit).
_BATCH = 5_000
#: Batches in flight at once: one's records are compared while others' requests run.
_BATCHES_IN_FLIGHT = 4
#: Reads by id in flight at once (the client's own ``max_concurrency`` also applies).
_BY_ID_CONCURRENCY = 32
#: Rows of each kind a description lists one by one.
_LISTED = 50


class VerifyClient(Protocol):
    """What ``verify`` needs of a client (``dizions_async.Client`` has all of it)."""

    @property
    def base_url(self) -> str: ...

    def org_fingerprint(self, salt: bytes) -> str: ...

    async def fetch(self, query: Query) -> list[dict[str, Any]]: ...


@attrs.frozen
class VerifyReport:
    """What ``verify`` found.

    Attributes:
        resource: the migration's resource.
        journal: the journal's path.
        checked: journaled rows read back.
        missing: ``(source key, journaled id)`` of done rows not found in Dizions.
        duplicates: ``(source key, ids)`` of external IDs more than one client holds.
        mismatched: ``(source key, journaled id, id found)`` where Dizions has the row
            under another id than the journal records.
        unexpected: ``(source key, status, ids)`` of rows the journal does not hold as
            done (unknown, failed, pending) that Dizions holds: settle them.
        elapsed: seconds the check took.
    """

    resource: str
    journal: str
    checked: int = 0
    missing: tuple[tuple[str, int | None], ...] = ()
    duplicates: tuple[tuple[str, tuple[int, ...]], ...] = ()
    mismatched: tuple[tuple[str, int | None, int], ...] = ()
    unexpected: tuple[tuple[str, str, tuple[int, ...]], ...] = ()
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when Dizions holds every done row once, under its journaled id."""
        return not (self.missing or self.duplicates or self.mismatched or self.unexpected)

    def describe(self) -> str:
        """The report as text: counts, then the rows that differ (50 of each kind)."""
        lines = [
            f"{self.resource}: {self.checked} journaled rows read back in {self.elapsed:.1f}s."
        ]
        if self.ok:
            lines.append("Every done row is in Dizions once, with the id the journal records.")
        kinds: list[tuple[str, Sequence[str]]] = [
            (
                "missing in Dizions (the journal says done)",
                [f"{k} (id {i})" for k, i in self.missing],
            ),
            (
                "present more than once",
                [f"{k} (ids {', '.join(map(str, ids))})" for k, ids in self.duplicates],
            ),
            (
                "under another id than the journal's",
                [f"{k} (journal {j}, Dizions {i})" for k, j, i in self.mismatched],
            ),
            (
                "present although not done in the journal (settle them with --id)",
                [f"{k} ({s}; ids {', '.join(map(str, ids))})" for k, s, ids in self.unexpected],
            ),
        ]
        for title, items in kinds:
            if items:
                lines.append(f"{len(items)} {title}:")
                lines.extend(f"  {item}" for item in items[:_LISTED])
                if len(items) > _LISTED:
                    lines.append(f"  ... and {len(items) - _LISTED} more")
        return "\n".join(lines)


async def verify(client: VerifyClient, journal: str | os.PathLike[str]) -> VerifyReport:
    """Read a migration's journaled rows back from Dizions and report what differs.

    Args:
        client: a ``Client`` for the journal's target.
        journal: the journal of a migration (``migrate``'s ``journal=``).

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is False when anything differs and
        ``report.describe()`` lists it.

    Raises:
        TargetMismatch: the journal belongs to another base URL or Org key.
        JournalMismatch: the journal records no migration.
        APIError, TransportError: a read failed (after its retries).
    """
    started = time.monotonic()
    with Journal(journal) as book:
        meta = book.meta()
        if "resource" not in meta:
            raise JournalMismatch(f"journal {book.path!r} records no migration to verify")
        book.check_target(Target(client.base_url, client.org_fingerprint(book.salt())))
        entries = book.outcomes()
        path = book.path
    resource = meta["resource"]
    found = _Found()
    if resource == "clients" and meta.get("key") == "external_id":
        await _by_external_id(client, entries, found)
    else:
        await _by_id(client, resource, [e for e in entries if e[1] == DONE], found)
    return VerifyReport(
        resource=resource,
        journal=path,
        checked=found.checked,
        missing=tuple(found.missing),
        duplicates=tuple(found.duplicates),
        mismatched=tuple(found.mismatched),
        unexpected=tuple(found.unexpected),
        elapsed=time.monotonic() - started,
    )


@attrs.define
class _Found:
    checked: int = 0
    missing: list[tuple[str, int | None]] = attrs.field(factory=list)
    duplicates: list[tuple[str, tuple[int, ...]]] = attrs.field(factory=list)
    mismatched: list[tuple[str, int | None, int]] = attrs.field(factory=list)
    unexpected: list[tuple[str, str, tuple[int, ...]]] = attrs.field(factory=list)

    def compare(self, row: Outcome, ids: Sequence[int]) -> None:
        """Compare one journal row with the ids Dizions holds for it."""
        key, status, journaled = row
        self.checked += 1
        if status != DONE:
            if ids:
                self.unexpected.append((key, status, tuple(ids)))
            return
        if not ids:
            self.missing.append((key, journaled))
        elif len(ids) > 1:
            self.duplicates.append((key, tuple(ids)))
        elif ids[0] != journaled:
            self.mismatched.append((key, journaled, ids[0]))

    def sort(self) -> None:
        """Put each list in source key order (batches finish in any order)."""
        for rows in (self.missing, self.duplicates, self.mismatched, self.unexpected):
            rows.sort(key=lambda row: row[0])


async def _by_external_id(client: VerifyClient, rows: Sequence[Outcome], found: _Found) -> None:
    slots = asyncio.Semaphore(_BATCHES_IN_FLIGHT)

    async def batch(part: Sequence[Outcome]) -> None:
        async with slots:
            keys = [row[0] for row in part]
            query = Query("clients").filter(external_id=keys).fields("id", "external_id")
            held = _ids_by(await client.fetch(query), "external_id")
        for row in part:
            found.compare(row, held.get(row[0], ()))

    await asyncio.gather(*(batch(rows[i : i + _BATCH]) for i in range(0, len(rows), _BATCH)))
    found.sort()


def _ids_by(records: Iterable[Mapping[str, Any]], field: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for record in records:
        value, rid = record.get(field), record.get("id")
        if value is not None and isinstance(rid, int):
            out.setdefault(str(value), []).append(rid)
    for ids in out.values():
        ids.sort()
    return out


async def _by_id(
    client: VerifyClient, resource: str, rows: Sequence[Outcome], found: _Found
) -> None:
    slots = asyncio.Semaphore(_BY_ID_CONCURRENCY)

    async def one(row: Outcome) -> None:
        if row[2] is None:
            found.compare(row, ())
            return
        async with slots:
            try:
                records = await client.fetch(Query(resource).id(row[2]).fields("id"))
            except NotFoundError:
                records = []
        ids = sorted({r["id"] for r in records if isinstance(r.get("id"), int)})
        found.compare(row, ids)

    for start in range(0, len(rows), _BATCH):
        await asyncio.gather(*(one(row) for row in rows[start : start + _BATCH]))
    found.sort()
