"""``dizions get``: records of one resource, printed as a table, JSON, JSONL or CSV."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

from dizions_async.cli._common import (
    ClientOptions,
    QueryOptions,
    client_options,
    dry_run_option,
    echo_dry_run,
    echo_records,
    query_options,
    run,
)


@click.command()
@click.argument("resource")
@query_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "jsonl", "csv"]),
    default=None,
    help="Output format [default: table on a terminal, else jsonl].",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Print the first N records; the response is not read past them.",
)
@dry_run_option
@client_options
def get(
    resource: str,
    selection: QueryOptions,
    fmt: str | None,
    limit: int | None,
    dry_run: bool,
    conn: ClientOptions,
    debug: bool,
) -> None:
    """Read the records of RESOURCE that match the filters.

    \b
    Examples:
      dizions get clients --filter religion=1,3 --fields id,surname --format csv
      dizions get referrals --filter client_active=yes --limit 10
      dizions get clients --id 7 --dry-run
    """

    async def job() -> list[dict[str, Any]]:
        query = selection.build(resource)
        if dry_run:
            echo_dry_run(conn, [query])
            return []
        async with conn.client() as dz:
            if limit is None:
                return await dz.fetch(query)
            records: list[dict[str, Any]] = []
            # Streamed, so a big answer is dropped unread once N records are in.
            async with contextlib.aclosing(dz.stream(query)) as stream:
                async for record in stream:
                    records.append(record)
                    if len(records) == limit:
                        break
            return records

    records = run(debug, job)
    if dry_run:
        return
    if fmt is None:
        fmt = "table" if sys.stdout.isatty() else "jsonl"
    echo_records(records, fmt)
