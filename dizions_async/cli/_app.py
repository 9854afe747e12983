"""The click group; each command module adds itself here."""

from __future__ import annotations

import click

from dizions_async import __version__
from dizions_async.cli._demo import demo
from dizions_async.cli._paths import paths
from dizions_async.cli._serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dizions")
def app() -> None:
    """dizions: the Dizions API from the command line (reads, reports, export, migration)."""


app.add_command(paths)
app.add_command(serve)
app.add_command(demo)
