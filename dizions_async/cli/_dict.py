"""``dizions dict``: one dictionary's entries (id and name), optionally searched."""

from __future__ import annotations

import csv
import sys

import click
import orjson

from dizions_async.cli._common import ClientOptions, client_options, echo_table, run
from dizions_async.results import DictionaryEntry


@click.command(name="dict")
@click.argument("group")
@click.argument("table")
@click.option("--search", default=None, metavar="TERM", help="Only entries matching TERM.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@client_options
def dict_(
    group: str,
    table: str,
    search: str | None,
    fmt: str,
    conn: ClientOptions,
    debug: bool,
) -> None:
    """List the entries of dictionary GROUP TABLE (e.g. organisations district).

    \b
    Example:
      dizions dict organisations district --search leeds
    """

    async def job() -> list[DictionaryEntry]:
        async with conn.client() as dz:
            if search:
                return await dz.dictionary_search(group, table, search)
            return await dz.dictionary(group, table)

    entries = run(debug, job)
    if fmt == "json":
        data = [{"id": e.id, "name": e.name} for e in entries]
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["id", "name"])
        writer.writerows([e.id, e.name] for e in entries)
    else:
        echo_table(["id", "name"], ([e.id, e.name] for e in entries))
