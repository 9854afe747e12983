"""``dizions get``: records of one resource, printed as a table, JSON, JSONL or CSV."""

from __future__ import annotations

import sys
from typing import Any

import click

from dizions_async.cli._common import (
    ClientOptions,
    QueryOptions,
    client_options,
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
@client_options
def get(
    resource: str,
    selection: QueryOptions,
    fmt: str | None,
    conn: ClientOptions,
    debug: bool,
) -> None:
    """Read the records of RESOURCE that match the filters.

    \b
    Example:
      dizions get clients --filter religion=1,3 --fields id,surname --format csv
    """

    async def job() -> list[dict[str, Any]]:
        query = selection.build(resource)
        async with conn.client() as dz:
            return await dz.fetch(query)

    records = run(debug, job)
    if fmt is None:
        fmt = "table" if sys.stdout.isatty() else "jsonl"
    echo_records(records, fmt)
