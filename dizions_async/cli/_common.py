"""What every API command shares: key options, building a Client, the query options,
output helpers, the progress bar switch, and the one mapping from errors to exit codes.

Exit codes: 0 ok; 2 usage (bad options, a query or row the SDK refuses, missing keys);
1 the API or the network failed, or a job left work undone. Errors print one line on
standard error; ``--debug`` adds the traceback. The keys are read from ``--source``,
``--org``, ``--user`` or ``DIZIONS_SOURCE``/``DIZIONS_ORG``/``DIZIONS_USER`` (and
``DIZIONS_BASE_URL``) and are never echoed: messages come from the SDK's errors, which
never hold them.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import inspect
import os
import sqlite3
import sys
import traceback
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from typing import IO, Any, NoReturn, TypeVar

import attrs
import click
import orjson
from rich.console import Console
from rich.progress import Progress, ProgressColumn
from rich.table import Table
from rich.text import Text

from dizions_async._config import ENV_KEYS, Environment, Timeouts, check_base_url
from dizions_async._redact import Secret, shown
from dizions_async._text import printable
from dizions_async.batching import Piece, plan_requests
from dizions_async.catalogue import WRITE_VERBS, WriteVerbs, get_resource
from dizions_async.cli._values import check_names, filter_value, known_fields
from dizions_async.client import Client
from dizions_async.errors import (
    ConfigurationError,
    ConnectError,
    DizionsError,
    QueryError,
    ValidationError,
)
from dizions_async.jobs import JournalMismatch, JournalWriteError, RowFileError
from dizions_async.jobs._writers import CsvWriter, csv_cell
from dizions_async.query import Query

__all__ = [
    "ClientOptions",
    "QueryOptions",
    "build_query",
    "client_options",
    "console",
    "dry_run_option",
    "echo_dry_run",
    "echo_grid",
    "echo_records",
    "echo_table",
    "grid_format_option",
    "progress_bar",
    "progress_wanted",
    "query_options",
    "run",
    "say",
    "stderr_console",
    "stdout_bytes",
    "strict_option",
    "usage_line",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: Errors that mean "the invocation is wrong": exit 2.
_USAGE_ERRORS: tuple[type[BaseException], ...] = (
    QueryError,
    ValidationError,
    ConfigurationError,
    JournalMismatch,
    RowFileError,
)


debug_option = click.option("--debug", is_flag=True, help="Show tracebacks on errors.")


#: The connection settings every API command takes besides the keys, by parameter name.
_NETWORK_SETTINGS = ("proxy", "ca_file", "timeout", "concurrency", "allow_insecure")


class ClientOptions:
    """The connection options of one invocation; ``repr`` never shows the keys or a
    proxy URL (it may hold a password)."""

    def __init__(
        self,
        source: Secret | None,
        org: Secret | None,
        user: Secret | None,
        base_url: str | None,
        write_verbs: WriteVerbs | None = None,
        *,
        proxy: str | None = None,
        ca_file: str | None = None,
        timeout: float | None = None,
        concurrency: int | None = None,
        allow_insecure: bool = False,
    ) -> None:
        self._keys = (source, org, user)
        self.base_url = base_url
        self.write_verbs = write_verbs
        self._proxy = proxy
        self.ca_file = ca_file
        self.timeout = timeout
        #: ``--concurrency``, or None for the command's own default.
        self.concurrency = concurrency
        self.allow_insecure = allow_insecure

    def __repr__(self) -> str:
        return f"ClientOptions(base_url={self.base_url!r}, keys=***)"

    def client(self, **settings: Any) -> Client:
        """A Client from these options, falling back to the environment for each one.

        ``settings`` are the command's own defaults (e.g. ``max_concurrency``); options
        given on the command line win over them.

        Raises:
            ConfigurationError: worded for the command line: every missing key's flag
                and variable, ``--allow-insecure`` for a plain-http URL.
        """
        self._check_for_the_command_line()
        if self.concurrency is not None:
            settings["max_concurrency"] = self.concurrency
        if self.timeout is not None:
            settings["timeout"] = Timeouts(total=self.timeout)
        # No local names for the keys: a traceback that shows locals shows only ``self``.
        return Client(
            *self._keys,
            base_url=self.base_url,
            proxy=self._proxy,
            ca_file=self.ca_file,
            allow_insecure=self.allow_insecure,
            write_verbs=self.write_verbs,
            **settings,
        )

    def _check_for_the_command_line(self) -> None:
        # The SDK's own messages name Python arguments (source=..., allow_insecure=True);
        # the two a command line meets first are checked here, in its own words.
        env = Environment()  # its repr hides the values: a traceback may show locals
        missing = [
            (f"--{name}", variable)
            for (name, (variable, _)), given in zip(ENV_KEYS.items(), self._keys, strict=True)
            if not given and not env.get(variable, "").strip()
        ]
        if missing:
            flags = " ".join(f"{flag} KEY" for flag, _ in missing)
            variables = " and ".join(variable for _, variable in missing)
            raise ConfigurationError(f"missing keys: pass {flags}, or set {variables}")
        url = check_base_url(self.base_url, env, allow_insecure=True)
        if not self.allow_insecure:
            try:
                check_base_url(url, env, allow_insecure=False)
            except ConfigurationError:
                raise ConfigurationError(
                    f"{url} is plain http to a non-loopback host, so the keys would travel "
                    "unencrypted: use https, or pass --allow-insecure "
                    "(DIZIONS_ALLOW_INSECURE=1) if you mean it"
                ) from None


def _secret(ctx: click.Context, param: click.Parameter, value: str | None) -> Secret | None:
    # click keeps every parameter in ctx.params and passes them through its own frames:
    # a key is wrapped as click reads it, so none of those frames holds it raw.
    return None if value is None else Secret(value)


def client_options(command: F) -> F:
    """Add the connection options every API command takes (gathered as ``conn``):
    ``--source/--org/--user/--base-url``, ``--proxy``, ``--ca-file``, ``--timeout``,
    ``--concurrency``, ``--allow-insecure``, each with its ``DIZIONS_*`` variable; and
    ``--debug``."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # The keys go straight into ClientOptions (whose repr hides them), never into a
        # local of their own that a traceback showing locals would print.
        names = ("source", "org", "user", "base_url", "write_verbs")
        conn = ClientOptions(
            *(kwargs.pop(name) for name in names),
            **{name: kwargs.pop(name) for name in _NETWORK_SETTINGS},
        )
        return command(*args, conn=conn, **kwargs)

    options = [
        click.option(
            "--source", callback=_secret, metavar="KEY", help="Source key [DIZIONS_SOURCE]."
        ),
        click.option("--org", callback=_secret, metavar="KEY", help="Org key [DIZIONS_ORG]."),
        click.option("--user", callback=_secret, metavar="KEY", help="User key [DIZIONS_USER]."),
        click.option("--base-url", default=None, help="API base URL [DIZIONS_BASE_URL]."),
        click.option(
            "--write-verbs",
            type=click.Choice(WRITE_VERBS),
            default=None,
            help="Write convention: seed (PUT creates, POST updates) or wiki (POST creates, "
            "PUT updates) [DIZIONS_WRITE_VERBS; default seed].",
        ),
        click.option(
            "--proxy",
            default=None,
            metavar="URL",
            envvar="DIZIONS_PROXY",
            help="Forward proxy, http://[user:password@]host:port [DIZIONS_PROXY; "
            "else HTTPS_PROXY, NO_PROXY].",
        ),
        click.option(
            "--ca-file",
            default=None,
            metavar="PEM",
            envvar="DIZIONS_CA_FILE",
            type=click.Path(dir_okay=False),
            help="Extra CA certificates to trust, e.g. a private CA [DIZIONS_CA_FILE].",
        ),
        click.option(
            "--timeout",
            default=None,
            metavar="SECONDS",
            envvar="DIZIONS_TIMEOUT",
            type=click.FloatRange(min=0, min_open=True),
            help="Give up on a request after this long, retries included "
            "[DIZIONS_TIMEOUT; default 300].",
        ),
        click.option(
            "--concurrency",
            default=None,
            metavar="N",
            envvar="DIZIONS_CONCURRENCY",
            type=click.IntRange(1, 256),
            help="Requests in flight at once [DIZIONS_CONCURRENCY; default 16, migrate 8].",
        ),
        click.option(
            "--allow-insecure",
            is_flag=True,
            envvar="DIZIONS_ALLOW_INSECURE",
            help="Allow a plain-http base URL to a non-loopback host [DIZIONS_ALLOW_INSECURE].",
        ),
        debug_option,
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def _split_pair(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value:
        raise click.BadParameter(f"{shown(text)}: expected KEY=VALUE", param_hint=what)
    return key.strip(), value


def _filter_values(text: str, value: str) -> list[str]:
    """``v1,v2`` split at commas, CSV-style: ``"Lee, Jr",Roe`` keeps the quoted comma
    (and ``""`` inside quotes is one ``"``)."""
    if '"' not in value:
        return [v for v in value.split(",") if v]
    try:
        cells = next(csv.reader([value], strict=True))
    except csv.Error as exc:
        raise click.BadParameter(
            f"{shown(text)}: {exc} (quote a value holding commas: KEY='\"a, b\",c')",
            param_hint="--filter",
        ) from None
    return [v for v in cells if v]


def build_query(
    resource: str,
    *,
    filters: Sequence[str] = (),
    dates: Sequence[str] = (),
    fields: str | None = None,
    ids: Sequence[int] = (),
    resolve: str | None = None,
    dimension: str | None = None,
    metric: str | None = None,
    strict: bool = True,
) -> Query:
    """The Query the command-line options describe.

    ``filters`` are ``key=v1,v2`` (a value holding a comma is quoted, CSV-style:
    ``surname="Lee, Jr",Roe``); ``dates`` are ``key=START..END``; ``fields`` and
    ``resolve`` are comma-separated (``resolve`` may be ``ALL``). Values and names are
    read forgivingly and checked (:mod:`dizions_async.cli._values`); ``strict=False``
    (``--no-strict``) sends unknown names as given.

    Raises:
        click.BadParameter: an option is malformed, a value means nothing for its key,
            or a name is unknown.
        QueryError: the SDK refuses the query (unknown key, too many filters, ...).
    """
    q = Query(resource, strict=strict)
    spec = get_resource(q.resource)
    known = known_fields(spec)
    if ids:
        q = q.id(*ids)
    for text in filters:
        key, value = _split_pair(text, "--filter")
        check_names(spec, [key], "--filter", known=spec.filter_keys | {"id"}, strict=strict)
        q = q.filter(key, *[filter_value(spec, key, v) for v in _filter_values(text, value)])
    for text in dates:
        key, value = _split_pair(text, "--date")
        start, sep, end = value.partition("..")
        if not sep:
            raise click.BadParameter(f"{shown(text)}: expected KEY=START..END", param_hint="--date")
        q = q.date_range(key, start, end)
    for name, option in ((dimension, "--dimension"), (metric, "--metric")):
        if name:
            check_names(spec, [name], option, known=known, strict=strict)
    if dimension:
        q = q.dimension(dimension)
    if metric:
        q = q.metric(metric)
    if fields:
        names = [f.strip() for f in fields.split(",") if f.strip()]
        check_names(spec, names, "--fields", known=known, strict=strict)
        q = q.fields(*names)
    if resolve:
        q = q.resolve_ids(*[f.strip() for f in resolve.split(",") if f.strip()])
    return q


@attrs.frozen
class QueryOptions:
    """The ``--filter``, ``--date``, ``--fields``, ``--id`` and ``--resolve`` values given."""

    filters: tuple[str, ...]
    dates: tuple[str, ...]
    fields: str | None
    ids: tuple[int, ...]
    resolve: str | None
    strict: bool = True

    def build(self, resource: str) -> Query:
        """The Query these options describe on ``resource`` (see :func:`build_query`).

        Raises:
            click.BadParameter: an option is malformed.
            QueryError: the SDK refuses the query.
        """
        return build_query(
            resource,
            filters=self.filters,
            dates=self.dates,
            fields=self.fields,
            ids=self.ids,
            resolve=self.resolve,
            strict=self.strict,
        )


strict_option = click.option(
    "--strict/--no-strict",
    default=True,
    help="Refuse filter keys and field names that look mistyped [default: strict]; "
    "--no-strict sends them as given (e.g. an extension field's collaborator name).",
)


def query_options(command: F) -> F:
    """Add ``--filter``, ``--date``, ``--fields``, ``--id``, ``--resolve``, ``--no-strict``
    (gathered as ``selection``, a :class:`QueryOptions`)."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        filters: tuple[str, ...],
        dates: tuple[str, ...],
        fields: str | None,
        ids: tuple[int, ...],
        resolve: str | None,
        strict: bool,
        **kwargs: Any,
    ) -> Any:
        selection = QueryOptions(filters, dates, fields, ids, resolve, strict)
        return command(*args, selection=selection, **kwargs)

    options = [
        click.option(
            "--filter",
            "filters",
            multiple=True,
            metavar="KEY=V1,V2",
            help="Filter; repeat for more keys. Y/N fields also take yes/no, true/false, 1/0. "
            "Quote a value holding a comma: KEY='\"a, b\",c'.",
        ),
        click.option(
            "--date", "dates", multiple=True, metavar="KEY=START..END", help="Date range."
        ),
        click.option("--fields", default=None, metavar="A,B", help="Fields to return."),
        click.option("--id", "ids", multiple=True, type=int, help="Record id; repeatable."),
        click.option("--resolve", default=None, metavar="A,B|ALL", help="Names instead of ids."),
        strict_option,
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


#: The longest URL a Client sends by default (a longer read is cut into pieces), read from
#: the Client itself so that a dry run cuts as a real run does.
_MAX_URL_LENGTH: int = inspect.signature(Client).parameters["max_url_length"].default

dry_run_option = click.option(
    "--dry-run",
    is_flag=True,
    help="Print the URL of each request that would be sent, and send nothing.",
)


def echo_dry_run(conn: ClientOptions, queries: Sequence[Query]) -> None:
    """Print ``GET URL`` for each request ``queries`` would be sent as; send nothing.

    Record queries are cut to the URL limit as a client cuts them; a report is one
    request. Filter values are shown: this is the user's own terminal. The keys are not.

    Raises:
        ConfigurationError: the base URL would be refused.
        QueryError: a query cannot be cut to fit.
    """
    base = str(check_base_url(conn.base_url, os.environ, allow_insecure=conn.allow_insecure))
    for query in queries:
        if query.is_report:
            pieces = [Piece(query, query.path)]
        else:
            pieces = plan_requests(query, base, _MAX_URL_LENGTH)
        for piece in pieces:
            resolve = f"?{piece.query.query_string}" if piece.query.resolve else ""
            click.echo(f"GET {base}{piece.path}{resolve}")


def console(*, stderr: bool = False) -> Console:
    """A rich console on standard output (or error). Off a terminal it never wraps a line:
    a pipe or a file has no width, and a sentence cut at 80 columns reads as two."""
    out = Console(stderr=stderr)
    out.soft_wrap = not out.is_terminal
    return out


def stderr_console() -> Console:
    """The console progress bars and summaries go to (standard error)."""
    return console(stderr=True)


def progress_wanted() -> bool:
    """Progress bars only on a terminal: piped or redirected runs stay clean."""
    return stderr_console().is_terminal


@contextlib.contextmanager
def progress_bar(*columns: str | ProgressColumn) -> Iterator[Progress | None]:
    """A rich progress display on standard error, or None when that is not a terminal."""
    if not progress_wanted():
        yield None
        return
    with Progress(*columns, console=stderr_console()) as bar:
        yield bar


def run(debug: bool, job: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``job`` to completion, mapping failures to exit codes and one-line messages.

    Raises:
        SystemExit: 2 for a usage error, 1 for an API, network, file or journal failure.
    """
    try:
        return asyncio.run(job())
    except click.ClickException as exc:
        if debug:
            _echo_traceback(exc)
        raise
    except BrokenPipeError:
        # a reader that closed the pipe (``dizions get ... | head``): click exits quietly
        raise
    except _USAGE_ERRORS as exc:
        _fail(exc, debug, 2)
    except (DizionsError, JournalWriteError, OSError, sqlite3.Error) as exc:
        _fail(exc, debug, 1)
    except KeyboardInterrupt:
        click.echo("dizions: interrupted", err=True)
        raise SystemExit(130) from None


def usage_line(message: str, command: str) -> str:
    """A usage error as one line, naming the help that explains it."""
    text = " ".join(message.split())
    return f"dizions: error: {text} (see `{command} --help`)"


def _echo_traceback(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    click.echo(printable(text), err=True, nl=False)


def _fail(exc: BaseException, debug: bool, code: int) -> NoReturn:
    if debug:
        _echo_traceback(exc)
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    ctx = click.get_current_context(silent=True)
    # A refused query or value is what the command's help explains; a setup problem
    # (keys, an extra, a journal or row file) is not.
    if isinstance(exc, (QueryError, ValidationError)) and ctx is not None:
        say(usage_line(message, ctx.command_path), err=True)
    else:
        say(f"dizions: error: {message}{_hint(exc)}", err=True)
    raise SystemExit(code) from None


def _hint(exc: BaseException) -> str:
    """What the command line can do about ``exc``, when it is plain."""
    if isinstance(exc, ConnectError) and "unknown authority" in str(exc):
        # A server behind a private CA (a proxy that inspects TLS, a test server).
        return "; if its CA is a private one, pass --ca-file PEM (DIZIONS_CA_FILE)"
    return ""


def say(text: str, *, err: bool = False) -> None:
    """Print a line meant for a person, its control characters neutralised (ESC and the
    rest, see :func:`~dizions_async._text.printable`): it may quote data or a server."""
    click.echo(printable(text), err=err)


def stdout_bytes() -> IO[bytes]:
    """Standard output as bytes, after flushing what was written to it as text.

    Looked up at each call: click's test runner swaps ``sys.stdout``.
    """
    sys.stdout.flush()
    return sys.stdout.buffer


def echo_records(records: Sequence[dict[str, Any]], format: str) -> None:
    """Print records as ``json`` (an array), ``jsonl``, ``csv`` or a ``table``."""
    out = stdout_bytes()
    if format == "json":
        out.write(orjson.dumps(list(records), option=orjson.OPT_INDENT_2) + b"\n")
    elif format == "jsonl":
        for record in records:
            out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
    elif format == "csv":
        writer = CsvWriter(out)
        for record in records:
            writer.write(record)
        writer.finish()
    else:
        columns: dict[str, None] = {}
        for record in records:
            columns.update(dict.fromkeys(record))
        echo_table(list(columns), ([r.get(c) for c in columns] for r in records))
    out.flush()


grid_format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table"
)


def echo_grid(columns: Sequence[str], rows: Iterable[Sequence[Any]], format: str) -> None:
    """Print a header and rows as ``csv``, or else as a ``table``."""
    if format == "csv":
        # spreadsheets open this: neutralise formulas as the exports do
        writer = csv.writer(sys.stdout)
        writer.writerow([csv_cell(c, escape_formulas=True) for c in columns])
        writer.writerows([csv_cell(v, escape_formulas=True) for v in row] for row in rows)
    else:
        echo_table(columns, rows)


def echo_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A rich table on standard output (values shown as text, never as rich markup, and
    their control characters neutralised: a surname must not drive the terminal)."""
    table = Table()
    for column in columns:
        table.add_column(Text(printable(column)))
    for row in rows:
        table.add_row(*(Text(printable(csv_cell(v))) for v in row))
    Console().print(table)
