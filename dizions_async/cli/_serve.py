"""``dizions serve``: run the fake Dizions server until interrupted.

It prints the URL and the three keys it accepts (the fake server's own test keys, not
secrets of any real system; nothing else ever prints or logs them). ``--fault`` (repeatable)
injects faults as ``fake.faults.set`` does, e.g.
``--fault "PUT /v2/clients:commit_then_fail=0.1,drop=0.05,latency=0.01"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
from typing import NoReturn

import attrs
import click

from dizions_async.testing import FakeDizions, FaultConfig
from dizions_async.testing._faults import parse_fault_rule


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
        for rule in fake.faults.rules:
            click.echo(f"Fault rule: {_describe(rule)}")
        click.echo(f"Write verbs: {fake.write_verbs}; branches: {'on' if fake.branches else 'off'}")
        click.echo("Press Ctrl+C to stop.")
        sys.stdout.flush()
        await stop.wait()
    click.echo("Stopped.")


def _describe(rule: FaultConfig) -> str:
    changed = [
        f"{a.name}={getattr(rule, a.name)}"
        for a in attrs.fields(FaultConfig)
        if a.name != "route" and getattr(rule, a.name) != a.default
    ]
    return f"{rule.route or 'every request'}: {', '.join(changed) or 'nothing'}"


def _parse_faults(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> list[FaultConfig]:
    try:
        return [parse_fault_rule(text) for text in value]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port (0: any free).")
@click.option("--db", "db_path", default=None, help="SQLite file to keep data across restarts.")
@click.option("--clients", default=500, show_default=True, type=int, help="Clients to seed.")
@click.option("--seed", default=1, show_default=True, type=int, help="Seed of the data and keys.")
@click.option("--upload-dir", default=None, help="Folder for uploads (default: a temp folder).")
@click.option(
    "--write-verbs",
    type=click.Choice(["seed", "wiki", "both"]),
    default="both",
    show_default=True,
    help="Write convention(s) to accept; the other's verb is answered 405.",
)
@click.option(
    "--branches", is_flag=True, help="The organisation uses branches (referrals need one)."
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    callback=_parse_faults,
    metavar="[ROUTE:]KEY=VALUE,...",
    help=(
        "A fault rule (repeatable; a later rule for the same route replaces an earlier one), "
        'e.g. "PUT /v2/clients:commit_then_fail=0.1,drop=0.05,latency=0.01" or '
        '"rate_429=0.02,retry_after=3". Keys: latency, rate_429, retry_after, rate_503, '
        "drop, commit_then_fail, commit_fail_mode (500 or drop), commit_then_garble "
        "(commit, then answer 200 with an HTML page), times."
    ),
)
def serve(
    host: str,
    port: int,
    db_path: str | None,
    clients: int,
    seed: int,
    upload_dir: str | None,
    write_verbs: str,
    branches: bool,
    faults: list[FaultConfig],
) -> None:
    """Run the fake Dizions server (for trying the SDK and for tests) until interrupted."""
    fake = FakeDizions(
        clients=clients,
        seed=seed,
        db_path=db_path,
        upload_dir=upload_dir,
        host=host,
        port=port,
        write_verbs=write_verbs,
        branches=branches,
    )
    for rule in faults:
        fake.faults.set(**attrs.asdict(rule))
    try:
        asyncio.run(_serve(fake))
    except KeyboardInterrupt:
        click.echo("Stopped.")
    except sqlite3.Error as exc:
        _fail(f"cannot use --db {db_path!r}: {exc}")
    except OSError as exc:
        # The store opens first, so an OSError here is the listening socket (port in use,
        # address not available, no permission for a low port) or the upload folder.
        reason = exc.strerror or str(exc)
        if upload_dir is not None and exc.filename is not None:
            _fail(f"cannot use --upload-dir {upload_dir!r}: {reason}")
        _fail(f"cannot listen on {host}:{port}: {reason}")


def _fail(message: str) -> NoReturn:
    click.echo(f"dizions: error: {message}", err=True)
    raise SystemExit(2)
