"""The migration engine: rows in, one create per row, exactly once, journaled.

Before anything is sent, the journal's target (base URL, Org key fingerprint) is checked
against the client's: a journal is never resumed against another server or organisation.
For each row, in order of need:

1. The row's source key (``key`` field) is looked up in the journal. ``done`` rows are
   skipped; ``failed`` rows are skipped unless ``retry_failed``.
2. A row the journal holds as ``pending`` (the last run died while its create may have
   been in flight), ``unknown``, or ``failed`` and retried, is first checked: clients with
   an external ID are read back by ``/clients/external_id/{EXT}``; found means done, not
   found means "send".
   Without an external ID there is nothing to read by, so the row is left ``unknown``
   and listed; it is never resent automatically.
3. ``pending`` is committed durably, then the create is sent (clients by external ID).
   Client rows with an external ID are claimed a chunk at a time (one commit for up to
   256 rows, ahead of their sends), since a claimed-but-unsent row costs a re-run one
   read; rows without one are claimed singly, just before their own create, since a
   re-run could only flag them ``unknown``.
4. The answer is recorded: ``done`` with the new id; ``failed`` with the reason when the
   server refused it or the row was invalid; when the outcome is unknown
   (``exc.outcome_unknown``: a timeout, a 5xx, a 2xx whose body cannot be read), clients
   with an external ID are read back and created again only if absent; other rows become
   ``unknown``, which no run resends (``retry_failed`` redoes ``failed`` rows only). The
   client itself reads a client back before any resend it makes (after a 429 or 503).

So a row is sent only after its ``pending`` is on disk, and sent again only after a read
showed it absent: killed at any instant and re-run with the same journal, every client
with an external ID is created exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import attrs
import orjson

from dizions_async._redact import shown
from dizions_async.catalogue import get_resource
from dizions_async.errors import (
    APIError,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    DizionsError,
)
from dizions_async.jobs._journal import (
    DONE,
    FAILED,
    PENDING,
    UNKNOWN,
    Entry,
    Journal,
    Mark,
    Target,
)
from dizions_async.jobs._recorder import Recorder
from dizions_async.jobs._sources import (
    RowFormat,
    RowSource,
    SourceRow,
    check_rows,
    count_rows,
    iter_rows,
)
from dizions_async.query import Query

__all__ = ["MigrationClient", "MigrationSummary", "Problem", "migrate"]

#: Rows read, checked against the journal and queued together.
_CHUNK = 256
#: Most problems a summary lists one by one; the journal holds them all.
_MAX_PROBLEMS = 50
#: Times a client create is sent when each attempt's outcome is unknown and a read then
#: shows it absent, before the row is recorded as failed.
_MAX_SENDS = 3
_EXTERNAL_ID = "external_id"
#: Errors that would fail every row alike (wrong keys, closed client): the job stops.
_FATAL_ERRORS = (AuthenticationError, ClientClosedError, ConfigurationError)


class MigrationClient(Protocol):
    """What ``migrate`` needs of a client (``dizions_async.Client`` has all of it)."""

    @property
    def base_url(self) -> str: ...

    def org_fingerprint(self, salt: bytes) -> str: ...

    async def create_client(
        self, fields: Mapping[str, Any], external_id: str | None = None
    ) -> int: ...

    async def create(self, resource: str, fields: Mapping[str, Any]) -> int: ...

    async def fetch(self, query: Query) -> list[dict[str, Any]]: ...


@attrs.frozen
class Problem:
    """A row the job did not complete: its source key (or where it is in the input:
    ``line 7`` of a file, ``row 3`` of an iterable), status, why."""

    key: str
    status: str
    reason: str


@attrs.frozen
class MigrationSummary:
    """What a migration run did and did not do.

    Attributes:
        resource: the resource created.
        journal: the journal file's path.
        rows: input rows read.
        created: rows created by this run.
        recovered: rows found already created (by reading their external ID) after a
            crash or an unknown outcome, and recorded without a second create.
        skipped_done: rows already done in the journal.
        failed: rows that failed in this run (invalid, or refused by the server).
        skipped_failed: rows that had failed in an earlier run and were not retried.
        unknown: rows whose create may or may not have happened; never resent.
        rejected: input rows that could not be read, have no usable source key, or
            repeat an earlier row's source key with different values (not in the
            journal; listed in ``problems``).
        duplicates: input rows that repeat an earlier row exactly, source key and
            values (ignored).
        problems: up to 50 failed, unknown or rejected rows, one by one.
        elapsed: seconds the run took.
        notices: one-line notices about the journal (an older journal adopted).
    """

    resource: str
    journal: str
    rows: int = 0
    created: int = 0
    recovered: int = 0
    skipped_done: int = 0
    failed: int = 0
    skipped_failed: int = 0
    unknown: int = 0
    rejected: int = 0
    duplicates: int = 0
    problems: tuple[Problem, ...] = ()
    elapsed: float = 0.0
    notices: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every input row is now done in Dizions (nothing to settle or redo)."""
        return not (self.failed or self.skipped_failed or self.unknown or self.rejected)

    def describe(self) -> str:
        """The summary as text: what was done, what was not, and how to carry on."""
        j = self.journal
        lines = [
            *self.notices,
            f"{self.resource}: {self.rows} rows read in {self.elapsed:.1f}s; "
            f"created {self.created}, found already created {self.recovered}, "
            f"skipped as done earlier {self.skipped_done}.",
        ]
        if self.complete:
            lines.append("Every row is done.")
        if self.failed or self.skipped_failed:
            lines.append(
                f"Not done: {self.failed} failed now, {self.skipped_failed} failed earlier "
                f"(reasons in the journal: `dizions migrate status {j}`); fix those rows "
                f"and run `dizions migrate retry-failed {j}` (or migrate(retry_failed=True))."
            )
        if self.unknown:
            lines.append(
                f"Not done: {self.unknown} unknown: each create may or may not have reached "
                "Dizions and is not resent automatically. Look each one up in Dizions, then "
                f"`dizions migrate settle {j} KEY --id ID` if it exists, or "
                f"`dizions migrate settle {j} KEY --not-created` and retry-failed."
            )
        if self.rejected:
            lines.append(
                f"Not done: {self.rejected} rows have no usable source key (unreadable, no "
                "key, or a key an earlier row has with other values; listed, not in the "
                "journal); fix them in the input and run again."
            )
        if self.duplicates:
            lines.append(f"Ignored: {self.duplicates} rows repeat an earlier row exactly.")
        if not self.complete:
            lines.append(
                f"Resume any time with the same command and journal ({j}): done rows are "
                "skipped, interrupted ones are checked before anything is resent."
            )
        for p in self.problems:
            lines.append(f"  {p.status:8} {p.key}: {p.reason}")
        listed_rejected = sum(p.status == "rejected" for p in self.problems)
        journaled = self.failed + self.unknown - (len(self.problems) - listed_rejected)
        if journaled > 0:
            lines.append(
                f"  ... and {journaled} more failed or unknown: `dizions migrate status {j}`"
            )
        if self.rejected > listed_rejected:
            # rejected rows never reach the journal: only the input can show them
            lines.append(
                f"  ... and {self.rejected - listed_rejected} more rejected rows (not in the "
                "journal; check the input)"
            )
        return "\n".join(lines)


@attrs.define
class _Work:
    key: str
    fields: dict[str, Any]
    external_id: str | None
    prior: Entry | None
    invalid: str | None
    #: already marked pending by the feeder for its first send
    claimed: bool = False


@attrs.define
class _Tally:
    rows: int = 0
    created: int = 0
    recovered: int = 0
    skipped_done: int = 0
    failed: int = 0
    skipped_failed: int = 0
    unknown: int = 0
    rejected: int = 0
    duplicates: int = 0
    finished: int = 0
    problems: list[Problem] = attrs.field(factory=list)

    def problem(self, key: str, status: str, reason: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(Problem(key, status, reason))

    def summary(
        self, resource: str, journal: str, elapsed: float, notices: tuple[str, ...] = ()
    ) -> MigrationSummary:
        """The run's summary: every counter of the tally, under the same name."""
        counts = attrs.asdict(
            self, recurse=False, filter=lambda a, _: a.name not in ("finished", "problems")
        )
        return MigrationSummary(
            resource=resource,
            journal=journal,
            problems=tuple(self.problems),
            elapsed=elapsed,
            notices=notices,
            **counts,
        )


def read_to_make(resource: str, external_id: str | None) -> str:
    """The read that tells whether an ``unknown`` row's record exists in Dizions."""
    if external_id is not None:
        value = shlex.quote(f"external_id={external_id}")
        return f"dizions get clients --filter {value} --fields id"
    return (
        f"look for a {resource} record holding the row's values "
        f"(dizions get {resource} --filter FIELD=VALUE ...)"
    )


def _values_hash(fields: Mapping[str, Any]) -> int:
    try:
        return hash(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS))
    except TypeError:  # a mapping row holding values JSON cannot hold
        return hash(repr(sorted(fields.items(), key=lambda kv: kv[0])))


class _Fatal(Exception):
    """A failure that would fail every row alike (wrong keys, closed client): stop."""


class _Engine:
    def __init__(
        self,
        client: MigrationClient,
        recorder: Recorder,
        *,
        resource: str,
        key: str,
        retry_failed: bool,
        on_progress: Callable[[int, int | None], None] | None,
        total: int | None,
        settle: float = 0.0,
    ) -> None:
        self.client = client
        self.settle = settle
        self.recorder = recorder
        self.resource = resource
        self.key = key
        self.required = get_resource(resource).required
        self.by_external_id = resource == "clients"
        self.retry_failed = retry_failed
        self.on_progress = on_progress
        self.total = total
        self.tally = _Tally()
        # source key -> (where its row is, a hash of its values): a repeat is told apart
        # from a different record that was given the same key by mistake
        self.seen: dict[str, tuple[int, int]] = {}

    # -- feeding ----------------------------------------------------------------------

    async def feed(self, rows: Sequence[SourceRow], queue: asyncio.Queue[_Work | None]) -> None:
        work: list[_Work] = []
        for row in rows:
            self.tally.rows += 1
            item = self._prepare(row)
            if item is not None:
                work.append(item)
        if not work:
            return
        known = await self.recorder.call(self.recorder.journal.lookup, [w.key for w in work])
        todo: list[_Work] = []
        for item in work:
            item.prior = known.get(item.key)
            if self._settled_without_sending(item):
                self._finish()
            else:
                todo.append(item)
        # Claim fresh client rows for the whole chunk in one commit, ahead of sending:
        # one fsync per chunk instead of a commit wait before every create. A crash
        # leaves the unsent ones pending, and a re-run reads each back (one GET) before
        # sending it. Rows without an external ID cannot be read back, so they are
        # claimed one by one just before their create (see _one), never ahead.
        ahead = [i for i in todo if i.external_id is not None and i.invalid is None]
        ahead = [i for i in ahead if i.prior is None or i.prior.status == FAILED]
        if ahead:
            await self.recorder.durable(*(Mark(i.key, PENDING) for i in ahead))
            for item in ahead:
                item.claimed = True
        for item in todo:
            await queue.put(item)

    def _prepare(self, row: SourceRow) -> _Work | None:
        label = row.label
        if row.fields is None:
            self._reject(label, row.error or "unreadable")
            return None
        raw = row.fields.get(self.key)
        source_key = "" if raw is None else str(raw).strip()
        if not source_key:
            self._reject(label, f"no {self.key!r} value")
            return None
        values = _values_hash(row.fields)
        first = self.seen.get(source_key)
        if first is not None:
            if first[1] == values:
                self.tally.duplicates += 1
                self._finish()
            else:
                # dropping it would lose a record; creating it, duplicate a key: ask
                self._reject(
                    label,
                    f"repeats the {self.key} {shown(source_key)} of {row.unit} {first[0]} "
                    "with other "
                    "values: give one of them another key, or remove one",
                )
            return None
        self.seen[source_key] = (row.number, values)
        fields = {k: v for k, v in row.fields.items() if k != self.key}
        external_id: str | None = None
        if self.by_external_id:
            ext = source_key if self.key == _EXTERNAL_ID else fields.pop(_EXTERNAL_ID, None)
            external_id = (str(ext).strip() or None) if ext is not None else None
        missing = [name for name in self.required if name not in fields]
        invalid = f"missing required field(s): {', '.join(missing)}" if missing else None
        return _Work(source_key, fields, external_id, None, invalid)

    def _reject(self, label: str, reason: str) -> None:
        self.tally.rejected += 1
        self.tally.problem(label, "rejected", reason)
        self._finish()

    def _settled_without_sending(self, item: _Work) -> bool:
        prior = item.prior
        if prior is None:
            return False
        if prior.status == DONE:
            self.tally.skipped_done += 1
            return True
        if prior.status == FAILED and not self.retry_failed:
            self.tally.skipped_failed += 1
            return True
        if prior.status in (PENDING, UNKNOWN) and item.external_id is None:
            reason = prior.reason or "interrupted while its create was in flight"
            # PENDING: a crash left it in flight and nothing can be read back: never resend
            self._unknown(item, reason, record=prior.status == PENDING)
            return True
        return False

    # -- working ----------------------------------------------------------------------

    async def work(self, queue: asyncio.Queue[_Work | None]) -> None:
        while (item := await queue.get()) is not None:
            await self._one(item)
            self._finish()

    async def _one(self, item: _Work) -> None:
        # An earlier run may have created it: read before anything else. That includes a
        # failed client retried: it may have failed after sends whose outcomes were
        # unknown, the last of which the server may have applied since.
        checkable = (PENDING, UNKNOWN, FAILED) if item.external_id is not None else ()
        interrupted = item.prior is not None and item.prior.status in checkable
        if interrupted and await self._found(item, "after an interrupted run"):
            return
        if item.invalid is not None:
            self._fail(item.key, item.invalid)
            return
        for attempt in range(_MAX_SENDS):
            if attempt or not item.claimed:
                await self.recorder.durable(Mark(item.key, PENDING))
            try:
                new_id = await self._create(item)
            except _FATAL_ERRORS as exc:
                raise _Fatal(str(exc)) from exc
            except DizionsError as exc:
                if not exc.outcome_unknown:
                    await self._refused(item, exc)
                    return
                if item.external_id is None:
                    self._unknown(item, str(exc))
                    return
                # The server may still be applying the create we lost track of (a read
                # timeout, a dropped connection): give it time before reading back, or
                # the read could miss a record that is about to exist.
                await asyncio.sleep(self.settle)
                if await self._found(item, f"after an unknown outcome ({exc})"):
                    return
                continue  # read back and absent: safe to send again
            self.recorder.record(Mark(item.key, DONE, dizions_id=new_id))
            self.tally.created += 1
            return
        self._fail(item.key, f"{_MAX_SENDS} sends, each outcome unknown, each found absent")

    async def _create(self, item: _Work) -> int:
        if self.by_external_id:
            return await self.client.create_client(item.fields, external_id=item.external_id)
        return await self.client.create(self.resource, item.fields)

    async def _found(self, item: _Work, why: str) -> bool:
        """Read the client back by external ID; record it done if it exists.

        Returns True when it exists (recorded done) or cannot be checked (recorded
        unknown); False when it certainly does not exist, so it may be sent.
        """
        assert item.external_id is not None
        try:
            ids = await self._read_back(item.external_id)
        except DizionsError as exc:
            self._unknown(item, f"could not check {why}: {exc}")
            return True
        if not ids:
            return False
        self._recovered(item.key, ids, None)
        return True

    async def _read_back(self, external_id: str) -> list[int]:
        """The ids of the clients with this external ID (``/clients/external_id/{EXT}``)."""
        query = Query("clients").filter(external_id=external_id).fields("id")
        try:
            records = await self.client.fetch(query)
        except _FATAL_ERRORS as exc:
            raise _Fatal(str(exc)) from exc
        return sorted(int(r["id"]) for r in records if r.get("id") is not None)

    def _recovered(self, key: str, ids: list[int], note: str | None) -> None:
        if len(ids) > 1:
            note = f"{note + '; ' if note else ''}{len(ids)} clients have this external_id: {ids}"
        self.recorder.record(Mark(key, DONE, dizions_id=ids[0], reason=note))
        self.tally.recovered += 1

    async def _refused(self, item: _Work, exc: DizionsError) -> None:
        """Record a create the server refused (or that was never sent) as failed.

        A client refused with a 4xx is read back first: a server may refuse a second
        create of an external ID that already exists (the fake server does), and then
        the row is done, not failed.
        """
        refused = isinstance(exc, APIError) and 400 <= exc.status < 500
        if item.external_id is not None and refused:
            with contextlib.suppress(DizionsError):
                ids = await self._read_back(item.external_id)
                if ids:
                    self._recovered(item.key, ids, f"create refused ({exc}); found existing")
                    return
        self._fail(item.key, str(exc))

    def _fail(self, key: str, reason: str) -> None:
        self.recorder.record(Mark(key, FAILED, reason=reason))
        self.tally.failed += 1
        self.tally.problem(key, FAILED, reason)

    def _unknown(self, item: _Work, reason: str, *, record: bool = True) -> None:
        """Count the row as unknown (listed with the read that settles it); ``record`` it
        so in the journal unless it already is."""
        if record:
            self.recorder.record(Mark(item.key, UNKNOWN, reason=reason))
        self.tally.unknown += 1
        # the external ID only when it is the source key, which the listing shows anyway
        check = read_to_make(self.resource, item.key if self.key == _EXTERNAL_ID else None)
        self.tally.problem(item.key, UNKNOWN, f"{reason}; to check: {check}")

    def _finish(self) -> None:
        self.tally.finished += 1
        if self.on_progress is not None:
            self.on_progress(self.tally.finished, self.total)


async def migrate(
    client: MigrationClient,
    rows: RowSource,
    *,
    journal: str | os.PathLike[str],
    resource: str = "clients",
    key: str = _EXTERNAL_ID,
    concurrency: int = 8,
    retry_failed: bool = False,
    format: RowFormat | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    settle: float = 2.0,
) -> MigrationSummary:
    """Create one record per row, exactly once, recording each row in a SQLite journal.

    Re-running with the same journal resumes: done rows are skipped, rows a crash left
    in flight are read back (clients by external ID) before anything is resent.

    Rows are read one chunk at a time; what grows with the input is only the set of
    source keys already seen in this run (to catch a key repeated in the input: an exact
    repeat is ignored, a key repeated with other values is rejected, never dropped).

    Args:
        client: a ``Client`` (or anything with ``create_client``, ``create``, ``fetch``).
        rows: an iterable of mappings, or the path of a CSV or JSONL file.
        journal: the journal file; created if missing, resumed if it exists.
        resource: what each row creates. ``"clients"`` are created by external ID.
        key: the field holding each row's source key (unique per row; not sent, except
            that for clients ``external_id`` goes into the create's path).
        concurrency: creates in flight at once.
        retry_failed: also redo rows that failed in an earlier run.
        format: ``"csv"`` or ``"jsonl"`` when a file's suffix does not say.
        on_progress: called as ``on_progress(rows_finished, total_or_None)``.
        settle: seconds to wait, after a client create whose outcome is unknown, before
            reading it back: a create the server is still applying must be seen, not
            sent again. Raise it for a slow server; only unknown outcomes pay it.

    Returns:
        A :class:`MigrationSummary`; ``summary.describe()`` says what is left and how to resume.

    Raises:
        TargetMismatch: the journal was started against another base URL or Org key
            (nothing is sent: use a new journal for a new target).
        JournalMismatch: the journal belongs to another resource or key.
        JournalWriteError: the journal cannot be written (nothing unrecorded is sent).
        AuthenticationError: the keys are refused (the job stops; re-run to resume).
        RowFileError: the CSV header repeats a column, lacks ``key`` or is not UTF-8
            (nothing is sent). Rows that cannot be read (not UTF-8, a broken quote, bad
            JSON) are rejected one by one, with the reason, and do not stop the job.
        ValueError: a bad argument (concurrency < 1, a file of unknown format).
        OSError: the row file or the journal cannot be opened.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if settle < 0:
        raise ValueError(f"settle must be at least 0 seconds, got {settle}")
    get_resource(resource)  # an unknown resource fails here, before the journal is made
    started = time.monotonic()
    source = os.fspath(rows) if isinstance(rows, (str, os.PathLike)) else None
    check_rows(rows, format=format, key=key)  # a wrong header stops here, before the journal
    reader = iter_rows(rows, format=format, key=key)
    total = count_rows(rows, format=format, key=key) if on_progress is not None else None
    book = Journal(journal)
    recorder = Recorder(book)
    engine = _Engine(
        client,
        recorder,
        resource=resource,
        key=key,
        retry_failed=retry_failed,
        on_progress=on_progress,
        total=total,
        settle=settle,
    )
    notice: str | None = None
    try:
        target = await _target(client, recorder)
        bound_before = await recorder.call(book.target)
        notice = await recorder.call(book.begin_job, resource, key, source, target)
        try:
            await _run(engine, reader, concurrency)
        except AuthenticationError as exc:
            # Keys refused (401) before anything was done: the journal is not bound to a
            # target that never accepted a write, so the run with the right keys may go on.
            if exc.status == 401 and bound_before is None:
                await recorder.drain()
                await recorder.call(book.unbind_untouched)
            raise
    finally:
        await recorder.aclose()
    notices = () if notice is None else (notice,)
    return engine.tally.summary(resource, book.path, time.monotonic() - started, notices)


async def _target(client: MigrationClient, recorder: Recorder) -> Target:
    """Where ``client`` sends, as the journal records it (with the journal's salt)."""
    salt = await recorder.call(recorder.journal.salt)
    return Target(client.base_url, client.org_fingerprint(salt))


async def _run(engine: _Engine, reader: Iterator[SourceRow], concurrency: int) -> None:
    queue: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=2 * concurrency)
    workers = [asyncio.ensure_future(engine.work(queue)) for _ in range(concurrency)]

    async def feed() -> None:
        chunk: list[SourceRow] = []
        for row in reader:
            chunk.append(row)
            if len(chunk) == _CHUNK:
                await engine.feed(chunk, queue)
                chunk = []
        await engine.feed(chunk, queue)
        for _ in workers:
            await queue.put(None)

    feeder = asyncio.ensure_future(feed())
    everything = [feeder, *workers]
    try:
        done, _ = await asyncio.wait(everything, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # re-raise the first failure
    except _Fatal as exc:
        cause = exc.__cause__
        raise (cause if cause is not None else exc) from None
    finally:
        for task in everything:
            task.cancel()
        await asyncio.gather(*everything, return_exceptions=True)
