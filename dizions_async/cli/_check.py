"""``dizions check``: test the three keys against ``GET /v2/business/configuration``."""

from __future__ import annotations

import click

from dizions_async.cli._common import ClientOptions, client_options, run


@click.command()
@client_options
def check(conn: ClientOptions, debug: bool) -> None:
    """Test the Source, Org and User keys (the keys are never printed).

    Exit 0 and "keys accepted for <base URL>" when the server accepts them; exit 1 with
    a one-line reason otherwise (2 when a key or the URL is missing or malformed).

    \b
    Example:
      dizions check
    """

    async def job() -> str:
        async with conn.client() as dz:
            await dz.check_keys()
            return dz.base_url

    click.echo(f"keys accepted for {run(debug, job)}")
