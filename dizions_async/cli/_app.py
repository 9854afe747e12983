"""The click group; each command module adds itself here.

Usage errors, click's own (a bad option, a missing argument) and ours alike, print one line,
``dizions: error: MESSAGE (see `dizions COMMAND --help`)``, instead of click's four.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from dizions_async import __version__
from dizions_async.cli._check import check
from dizions_async.cli._common import say, usage_line
from dizions_async.cli._demo import demo
from dizions_async.cli._dict import dict_
from dizions_async.cli._export import export_command
from dizions_async.cli._get import get
from dizions_async.cli._migrate import migrate_group
from dizions_async.cli._paths import paths
from dizions_async.cli._report import report
from dizions_async.cli._serve import serve

#: click 8.2+ raises this (a UsageError) for a group called without a command; 8.1 exits.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


class _Dizions(click.Group):
    """The ``dizions`` group: click's handling, but a usage error is one line."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            if isinstance(exc, _NO_ARGS_IS_HELP):  # `dizions` alone: click shows the help
                exc.show()
                sys.exit(exc.exit_code)
            _exit_usage(exc)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _exit_usage(exc: click.UsageError) -> NoReturn:
    command = exc.ctx.command_path if exc.ctx is not None else "dizions"
    say(usage_line(exc.format_message(), command), err=True)
    sys.exit(exc.exit_code)


@click.group(name="dizions", cls=_Dizions, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dizions")
def app() -> None:
    """dizions: the Dizions API from the command line (reads, reports, export, migration).

    Keys come from --source/--org/--user or DIZIONS_SOURCE, DIZIONS_ORG and DIZIONS_USER
    (and DIZIONS_BASE_URL); `dizions serve` runs a fake server to try it all on.

    \b
    Shell completion (bash; for zsh and fish see docs/cli.md):
      eval "$(_DIZIONS_COMPLETE=bash_source dizions)"
    """


app.add_command(check)
app.add_command(paths)
app.add_command(serve)
app.add_command(get)
app.add_command(report)
app.add_command(dict_)
app.add_command(migrate_group)
app.add_command(export_command)
app.add_command(demo)
