"""``dizions serve``: run the fake Dizions server until interrupted.

It prints the URL and the three keys it accepts (the fake server's own test keys, not
secrets of any real system; nothing else ever prints or logs them).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import click

from dizions_async.testing import FakeDizions


async def _serve(fake: FakeDizions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # On Windows there are no loop signal handlers: Ctrl+C raises KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with fake:
        click.echo(f"Fake Dizions server at {fake.url}")
        click.echo(f"  Source: {fake.keys.source}")
        click.echo(f"  Org:    {fake.keys.org}")
        click.echo(f"  User:   {fake.keys.user}")
        click.echo("Press Ctrl+C to stop.")
        sys.stdout.flush()
        await stop.wait()
    click.echo("Stopped.")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port (0: any free).")
@click.option("--db", "db_path", default=None, help="SQLite file to keep data across restarts.")
@click.option("--clients", default=500, show_default=True, type=int, help="Clients to seed.")
@click.option("--seed", default=1, show_default=True, type=int, help="Seed of the data and keys.")
@click.option("--upload-dir", default=None, help="Folder for uploads (default: a temp folder).")
def serve(
    host: str, port: int, db_path: str | None, clients: int, seed: int, upload_dir: str | None
) -> None:
    """Run the fake Dizions server (for trying the SDK and for tests) until interrupted."""
    fake = FakeDizions(
        clients=clients, seed=seed, db_path=db_path, upload_dir=upload_dir, host=host, port=port
    )
    try:
        asyncio.run(_serve(fake))
    except KeyboardInterrupt:
        click.echo("Stopped.")
