"""``dizions export``: stream a resource's records to a JSONL, CSV or Parquet file (or stdout).

A rich progress bar on standard error (records, rate, pieces done of a split query) when
standard error is a terminal; none when it is not. The closing line goes to standard
error too, so ``--out -`` output stays clean.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import click
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

from dizions_async.batching import DateUnit
from dizions_async.cli._common import (
    ClientOptions,
    QueryOptions,
    client_options,
    progress_bar,
    query_options,
    run,
    say,
)
from dizions_async.jobs import ExportProgress, ExportSummary, export

#: Redraw the bar at most once per this many records (a redraw costs more than a record).
_EVERY = 500


@contextlib.contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[ExportProgress], None] | None]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[records]:,} records"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("pieces {task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
    )
    with progress_bar(*columns) as bar:
        if bar is None:
            yield None
            return
        task = bar.add_task(label, total=1, records=0, rate="")
        shown = [-1, -1]  # records and pieces last drawn
        latest: list[ExportProgress] = []

        def draw(p: ExportProgress) -> None:
            shown[:] = [p.records, p.pieces_done]
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{p.records / elapsed:,.0f}/s" if elapsed > 0 else ""
            total = max(p.pieces_total, 1)
            bar.update(task, completed=p.pieces_done, total=total, records=p.records, rate=rate)

        def update(p: ExportProgress) -> None:
            latest[:] = [p]
            if p.pieces_done != shown[1] or p.records - shown[0] >= _EVERY:
                draw(p)

        yield update
        if latest:  # the final counts, which the throttle may have skipped
            draw(latest[0])


def _format_for(out: str) -> str:
    """The format a file name asks for: by its extension, else JSONL."""
    name = out.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "jsonl"


def _parse_split(text: str | None) -> DateUnit | tuple[str, int] | None:
    """``day|week|month|year``, ``N`` (days), or ``KEY:N`` (value chunks of N)."""
    if text is None:
        return None
    if text in ("day", "week", "month", "year"):
        return text  # type: ignore[return-value]
    if text.isdigit() and int(text) > 0:
        return int(text)
    key, sep, size = text.partition(":")
    if sep and key and size.isdigit() and int(size) > 0:
        return key, int(size)
    raise click.BadParameter(
        f"{text!r}: use day, week, month, year, a number of days, or KEY:N", param_hint="--split"
    )


@click.command(name="export")
@click.argument("resource")
@query_options
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Output file ('-' for standard output); written whole or not at all.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "parquet"]),
    default=None,
    help="Output format [default: csv for *.csv, parquet for *.parquet, else jsonl]. "
    'Parquet needs pyarrow: pip install "dizions_async[parquet]".',
)
@click.option(
    "--split",
    default=None,
    metavar="UNIT",
    help="Pull in pieces, concurrently: the date range by day, week, month, year or N days, "
    "or a value list in chunks (KEY:N).",
)
@click.option(
    "--escape-formulas/--no-escape-formulas",
    default=True,
    show_default=True,
    help="CSV: write text starting with = + - @ with a leading ' so spreadsheets do not "
    "run it as a formula.",
)
@client_options
def export_command(
    resource: str,
    selection: QueryOptions,
    out: str,
    fmt: str | None,
    split: str | None,
    escape_formulas: bool,
    conn: ClientOptions,
    debug: bool,
) -> None:
    """Stream every record of RESOURCE matching the filters to --out, memory flat.

    \b
    Example:
      dizions export referrals --date date=2024-01-01..2024-12-31 --split month --out r.csv
    """
    format_ = fmt or _format_for(out)
    split_unit = _parse_split(split)

    async def job() -> ExportSummary:
        query = selection.build(resource)
        with _progress_bar(resource) as on_progress:
            async with conn.client() as dz:
                return await export(
                    dz,
                    query,
                    out,
                    format=format_,  # type: ignore[arg-type]
                    split=split_unit,
                    on_progress=on_progress,
                    escape_formulas=escape_formulas,
                )

    summary = run(debug, job)
    say(summary.describe(), err=True)
