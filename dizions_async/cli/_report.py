"""``dizions report``: counts per dimension (and metric) value, as a table, CSV or JSON."""

from __future__ import annotations

import click
import orjson

from dizions_async.cli._common import (
    ClientOptions,
    build_query,
    client_options,
    dry_run_option,
    echo_dry_run,
    echo_grid,
    grid_format_option,
    run,
    strict_option,
)
from dizions_async.results import Report


@click.command()
@click.argument("resource")
@click.option("--dimension", required=True, help="Count records per value of this field.")
@click.option("--metric", default=None, help="Break each dimension value down by this field.")
@click.option("--filter", "filters", multiple=True, metavar="KEY=V1,V2", help="Filter.")
@click.option("--date", "dates", multiple=True, metavar="KEY=START..END", help="Date range.")
@click.option("--resolve", default=None, metavar="A,B|ALL", help="Names instead of ids.")
@strict_option
@grid_format_option
@dry_run_option
@client_options
def report(
    resource: str,
    dimension: str,
    metric: str | None,
    filters: tuple[str, ...],
    dates: tuple[str, ...],
    resolve: str | None,
    strict: bool,
    fmt: str,
    dry_run: bool,
    conn: ClientOptions,
    debug: bool,
) -> None:
    """Count RESOURCE's records per value of --dimension (and of --metric).

    \b
    Example:
      dizions report clients --dimension district --metric gender
    """

    async def job() -> Report | None:
        query = build_query(
            resource,
            filters=filters,
            dates=dates,
            resolve=resolve,
            dimension=dimension,
            metric=metric,
            strict=strict,
        )
        if dry_run:
            echo_dry_run(conn, [query])
            return None
        async with conn.client() as dz:
            return await dz.report(query)

    result = run(debug, job)
    if result is None:  # a dry run
        return
    header = [dimension, *([metric] if metric else []), "count"]
    rows = [[d, *([m] if metric else []), n] for d, m, n in result.rows()]
    if fmt == "json":
        click.echo(orjson.dumps(dict(result), option=orjson.OPT_INDENT_2).decode())
    else:
        echo_grid(header, rows, fmt)
        if fmt == "table":
            click.echo(f"total: {result.total}")
