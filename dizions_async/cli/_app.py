"""The click group; each command module adds itself here."""

from __future__ import annotations

import click

from dizions_async import __version__
from dizions_async.cli._check import check
from dizions_async.cli._demo import demo
from dizions_async.cli._dict import dict_
from dizions_async.cli._export import export_command
from dizions_async.cli._get import get
from dizions_async.cli._migrate import migrate_group
from dizions_async.cli._paths import paths
from dizions_async.cli._report import report
from dizions_async.cli._serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dizions")
def app() -> None:
    """dizions: the Dizions API from the command line (reads, reports, export, migration)."""


app.add_command(check)
app.add_command(paths)
app.add_command(serve)
app.add_command(get)
app.add_command(report)
app.add_command(dict_)
app.add_command(migrate_group)
app.add_command(export_command)
app.add_command(demo)
