"""``dizions migrate``: load a file of rows exactly once, and look after its journal.

``migrate clients FILE --journal JOB.sqlite`` runs (or resumes) a migration;
``migrate status`` reports a journal, ``migrate retry-failed`` redoes its failed rows,
``migrate settle`` records by hand what became of a row whose outcome is unknown and
``migrate verify`` reads the journaled rows back from Dizions. Exit code 1 when a run
leaves any row not done, or verify finds a difference; 2 for a journal of another target.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from dizions_async._redact import shown
from dizions_async.cli._common import (
    ClientOptions,
    client_options,
    debug_option,
    echo_table,
    progress_bar,
    run,
    say,
)
from dizions_async.errors import ConfigurationError
from dizions_async.jobs import Journal, MigrationSummary, VerifyReport, migrate, verify
from dizions_async.jobs._journal import FAILED, PENDING, UNKNOWN
from dizions_async.jobs._migrate import read_to_make
from dizions_async.jobs._sources import RowFormat, source_format

_FORMAT = click.Choice(["csv", "jsonl"])


@contextlib.contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int | None], None] | None]:
    """A rich bar on standard error (rows done of total, rows/s); None off a terminal."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with progress_bar(*columns) as bar:
        if bar is None:
            yield None
            return
        task = bar.add_task(label, total=None, rate="")

        def update(done: int, total: int | None) -> None:
            speed = bar.tasks[0].speed
            rate = f"{speed:,.0f} rows/s" if speed else ""
            bar.update(task, completed=done, total=total, rate=rate)

        yield update


def _run_migration(
    conn: ClientOptions,
    debug: bool,
    *,
    resource: str,
    file: str,
    journal: str,
    key: str,
    fmt: RowFormat | None,
    retry_failed: bool = False,
    settle: float = 2.0,
) -> None:
    # --concurrency is a connection option (see client_options); migrations default to 8.
    concurrency = conn.concurrency or 8
    # Usage errors found before any work starts: exit 2 with one line, not a traceback.
    try:
        source_format(file, fmt)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None
    if os.path.exists(journal):
        _open_journal(journal).close()

    async def job() -> MigrationSummary:
        with _progress_bar(f"{resource}") as on_progress:
            async with conn.client(max_concurrency=concurrency) as dz:
                return await migrate(
                    dz,
                    file,
                    journal=journal,
                    resource=resource,
                    key=key,
                    concurrency=concurrency,
                    retry_failed=retry_failed,
                    format=fmt,
                    on_progress=on_progress,
                    settle=settle,
                )

    try:
        summary = run(debug, job)
    except SystemExit as exc:
        if exc.code != 2:  # stopped by the API, the network, the journal or Ctrl-C
            _echo_stopped(journal)
        raise
    say(summary.describe())
    if not summary.complete:
        raise SystemExit(1)


def _echo_stopped(journal: str) -> None:
    """After a run stopped part-way: what the journal holds, and how to resume."""
    if not os.path.exists(journal):
        return
    try:
        with Journal(journal) as book:
            counts = book.counts()
    except (ConfigurationError, sqlite3.Error):
        return
    held = ", ".join(f"{name} {n}" for name, n in counts.items())
    say(
        f"dizions: stopped part-way; the journal {journal} holds {held}. Run the same command "
        "again to resume: done rows are skipped and pending ones are read back before "
        f"anything is resent (`dizions migrate status {journal}` lists the rows not done).",
        err=True,
    )


@click.group(name="migrate")
def migrate_group() -> None:
    """Load rows into Dizions exactly once, journaled so a crash can be resumed.

    \b
    The recipe:
      dizions migrate clients book.csv --journal book.sqlite   # run; re-run to resume
      dizions migrate status book.sqlite                       # what is not done, and why
      dizions migrate verify book.sqlite                       # read it all back
    A journal is bound to its target: the base URL and the Org key (a salted hash of
    it, never the key) of its first run. Another target is refused before anything is
    sent: use a new journal for a new target.
    """


_journal_option = click.option(
    "--journal",
    required=True,
    type=click.Path(dir_okay=False),
    help=(
        "The SQLite journal: created on the first run (bound to this base URL and Org "
        "key), reused to resume."
    ),
)
_settle_option = click.option(
    "--settle",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait after a create with an unknown outcome before reading it back.",
)
_format_option = click.option(
    "--format", "fmt", type=_FORMAT, default=None, help="Row file format [default: by suffix]."
)


@migrate_group.command(name="clients")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_journal_option
@click.option("--key", default="external_id", show_default=True, help="Source key column.")
@_format_option
@_settle_option
@client_options
def migrate_clients(
    file: str,
    journal: str,
    key: str,
    fmt: RowFormat | None,
    settle: float,
    conn: ClientOptions,
    debug: bool,
) -> None:
    """Create one client per row of FILE (CSV or JSONL), by external ID, exactly once.

    \b
    Example:
      dizions migrate clients book.csv --journal book.sqlite --concurrency 8
      dizions migrate verify book.sqlite
    Run the same command again to resume after a crash. Before any resend a client is
    read back by its external ID, so a create the server applied is never made twice.
    Rows are named in messages by their line in FILE (the header is line 1).
    """
    _run_migration(
        conn,
        debug,
        resource="clients",
        file=file,
        journal=journal,
        key=key,
        fmt=fmt,
        settle=settle,
    )


@migrate_group.command(name="records")
@click.argument("resource")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_journal_option
@click.option("--key", required=True, help="The column holding each row's unique source key.")
@_format_option
@client_options
def migrate_records(
    resource: str,
    file: str,
    journal: str,
    key: str,
    fmt: RowFormat | None,
    conn: ClientOptions,
    debug: bool,
) -> None:
    """Create one RESOURCE record per row of FILE (e.g. referrals), exactly once or flagged.

    Without an external ID an interrupted create cannot be read back: such rows (and
    writes answered with a body that cannot be read) are marked unknown and never
    resent, even by retry-failed; `migrate status` lists the read to make, and
    `dizions migrate settle` records what you found.
    """
    _run_migration(
        conn,
        debug,
        resource=resource,
        file=file,
        journal=journal,
        key=key,
        fmt=fmt,
    )


def _open_journal(path: str) -> Journal:
    if not os.path.exists(path):
        raise click.BadParameter(f"no journal at {path!r}", param_hint="JOURNAL")
    try:
        return Journal(path)
    except ConfigurationError as exc:  # a link, a directory, not a journal: one line
        raise click.BadParameter(str(exc), param_hint="JOURNAL") from None


@migrate_group.command(name="retry-failed")
@click.argument("journal", type=click.Path(dir_okay=False))
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@_format_option
@_settle_option
@client_options
def retry_failed(
    journal: str,
    file: str | None,
    fmt: RowFormat | None,
    settle: float,
    conn: ClientOptions,
    debug: bool,
) -> None:
    """Resume the migration of JOURNAL, sending its failed rows again.

    FILE defaults to the row file the journal was started with. Fix the rows first:
    `dizions migrate status JOURNAL` lists each failure's reason. Failed rows are
    those the server certainly did not apply; unknown rows are never resent (settle them).
    Clients are read back by external ID before any resend.
    """
    with _open_journal(journal) as book:
        meta = book.meta()
    if "resource" not in meta or "key" not in meta:
        raise click.BadParameter(f"{journal!r} records no migration to retry", param_hint="JOURNAL")
    source = file or meta.get("source")
    if not source:
        raise click.UsageError("the journal does not record its row file: pass FILE")
    _run_migration(
        conn,
        debug,
        resource=meta["resource"],
        file=source,
        journal=journal,
        key=meta["key"],
        fmt=fmt,
        retry_failed=True,
        settle=settle,
    )


@migrate_group.command(name="status")
@click.argument("journal", type=click.Path(dir_okay=False))
@click.option("--limit", default=50, show_default=True, help="Most rows to list.")
def status(journal: str, limit: int) -> None:
    """Report JOURNAL: its target, counts per status, the rows not done with their
    reasons, and for unknown rows the read that settles them."""
    with _open_journal(journal) as book:
        meta = book.meta()
        target = book.target()
        counts = book.counts()
        open_rows = list(book.entries(FAILED, UNKNOWN, PENDING, limit=limit))
    say(
        f"{meta.get('resource', '?')} migration keyed by {meta.get('key', '?')}, "
        f"started {meta.get('started', '?')}, rows from {meta.get('source', '(iterable)')}"
    )
    where = target.describe() if target is not None else "not recorded (an older journal)"
    say(f"target: {where}")
    say(", ".join(f"{name}: {n}" for name, n in counts.items()))
    if open_rows:
        echo_table(
            ["source key", "status", "attempts", "reason"],
            ([e.source_key, e.status, e.attempts, e.reason] for e in open_rows),
        )
    if counts[FAILED]:
        say(f"Fix the failed rows, then: dizions migrate retry-failed {journal}")
    if counts[UNKNOWN]:
        say(
            "Unknown rows may have been created: they are never resent. Look each up in "
            f"Dizions, then: dizions migrate settle {journal} KEY --id ID (it exists) or "
            "--not-created (then retry-failed). The read to make:"
        )
        by_external_id = meta.get("resource") == "clients" and meta.get("key") == "external_id"
        for entry in open_rows:
            if entry.status == UNKNOWN:
                ext = entry.source_key if by_external_id else None
                say(f"  {entry.source_key}: {read_to_make(meta['resource'], ext)}")
    if counts[PENDING]:
        say("Pending rows were interrupted: run the migration again to check them.")


@migrate_group.command(name="verify")
@click.argument("journal", type=click.Path(dir_okay=False))
@client_options
def verify_command(journal: str, conn: ClientOptions, debug: bool) -> None:
    """Read the rows of JOURNAL back from Dizions and report what differs.

    Clients are read back by their journaled external IDs, in batches: the report lists
    done rows missing in Dizions, external IDs held by more than one client (with their
    ids), ids that differ from the journal, and rows Dizions holds that the journal does
    not hold as done. Other resources are read back by each done row's id. Exit 1 if
    anything differs. Run it after a migration, and again later if any row was settled.
    The keys and base URL must be the journal's target.
    """
    _open_journal(journal).close()

    async def job() -> VerifyReport:
        # --concurrency is a connection option (see client_options); migrations default to 8.
        async with conn.client(max_concurrency=conn.concurrency or 8) as dz:
            return await verify(dz, journal)

    report = run(debug, job)
    say(report.describe())
    if not report.ok:
        raise SystemExit(1)


@migrate_group.command(name="settle")
@click.argument("journal", type=click.Path(dir_okay=False))
@click.argument("key")
@click.option("--id", "dizions_id", type=int, default=None, help="The record exists: its id.")
@click.option("--not-created", is_flag=True, help="The record does not exist in Dizions.")
@debug_option
def settle(journal: str, key: str, dizions_id: int | None, not_created: bool, debug: bool) -> None:
    """Record what you found in Dizions for the row KEY of JOURNAL."""
    if (dizions_id is None) == (not not_created):
        raise click.UsageError("give exactly one of --id ID and --not-created")
    with _open_journal(journal) as book:
        try:
            entry = book.settle(key, dizions_id=dizions_id)
        except KeyError:
            raise click.BadParameter(
                f"no row {shown(key)} in the journal", param_hint="KEY"
            ) from None
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    found = f" (id {entry.dizions_id})" if entry.dizions_id is not None else ""
    say(f"{entry.source_key}: {entry.status}{found}")
