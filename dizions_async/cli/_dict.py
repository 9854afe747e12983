"""``dizions dict``: one dictionary's entries (id and name), optionally searched."""

from __future__ import annotations

import click
import orjson

from dizions_async.cli._common import (
    ClientOptions,
    client_options,
    echo_grid,
    grid_format_option,
    run,
)
from dizions_async.results import DictionaryEntry


@click.command(name="dict")
@click.argument("group")
@click.argument("table", required=False)
@click.option("--search", default=None, metavar="TERM", help="Only entries matching TERM.")
@grid_format_option
@client_options
def dict_(
    group: str,
    table: str | None,
    search: str | None,
    fmt: str,
    conn: ClientOptions,
    debug: bool,
) -> None:
    """List the entries of dictionary GROUP TABLE (e.g. organisations district), or of a
    one-segment dictionary (client_type, branch, relationships, carer_relationships, rates).

    \b
    Examples:
      dizions dict organisations district --search leeds
      dizions dict client_type
    """

    async def job() -> list[DictionaryEntry]:
        async with conn.client() as dz:
            if search:
                if table is None:
                    raise click.UsageError("--search needs GROUP and TABLE")
                return await dz.dictionary_search(group, table, search)
            return await dz.dictionary(group, table)

    entries = run(debug, job)
    if fmt == "json":
        data = [{"id": e.id, "name": e.name} for e in entries]
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        echo_grid(["id", "name"], ([e.id, e.name] for e in entries), fmt)
