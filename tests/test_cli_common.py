"""What every ``dizions`` command shares: the key options and the progress-bar switch."""

from __future__ import annotations

import io
import traceback
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

import dizions_async.cli as cli_package
from dizions_async.cli import _common, _export, _migrate
from dizions_async.errors import ConfigurationError
from dizions_async.jobs import ExportProgress

KEYS = ("SOURCE-SECRET-1", "ORG-SECRET-2", "USER-SECRET-3")
CLI_DIR = str(Path(cli_package.__file__).parent)


def test_cli_frames_of_a_failure_hold_no_key_a_traceback_with_locals_could_show(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:  # stands in for Client, failing at once
        raise ConfigurationError("refused")

    monkeypatch.setattr(_common, "Client", refuse)

    @click.command()
    @_common.client_options
    def probe(conn: _common.ClientOptions, debug: bool) -> None:
        conn.client()

    args = ["--source", KEYS[0], "--org", KEYS[1], "--user", KEYS[2], "--base-url", "https://x"]
    result = CliRunner().invoke(probe, args)
    assert isinstance(result.exception, ConfigurationError)
    frames = [
        frame
        for frame, _ in traceback.walk_tb(result.exception.__traceback__)
        if frame.f_code.co_filename.startswith(CLI_DIR)
    ]
    assert [f.f_code.co_name for f in frames] == ["wrapper", "client"]
    for frame in frames:
        shown = "".join(f"{name}={value!r}\n" for name, value in frame.f_locals.items())
        assert not any(key in shown for key in KEYS), shown


def test_client_options_repr_hides_the_keys() -> None:
    assert not any(key in repr(_common.ClientOptions(*KEYS, "http://x")) for key in KEYS)


def _console(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> io.StringIO:
    sink = io.StringIO()
    console = Console(file=sink, force_terminal=terminal, width=100)
    monkeypatch.setattr(_common, "stderr_console", lambda: console)
    return sink


@pytest.mark.parametrize("terminal", [False, True])
def test_migrate_progress_bar_is_drawn_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    sink = _console(monkeypatch, terminal)
    with _migrate._progress_bar("clients") as update:
        assert (update is not None) is terminal
        if update is not None:
            update(3, 10)
    assert ("3/10" in sink.getvalue()) is terminal
    assert ("\x1b[" in sink.getvalue()) is terminal


@pytest.mark.parametrize("terminal", [False, True])
def test_export_progress_bar_is_drawn_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    sink = _console(monkeypatch, terminal)
    with _export._progress_bar("clients") as update:
        assert (update is not None) is terminal
        if update is not None:
            update(ExportProgress(records=1234, pieces_done=2, pieces_total=4))
    assert ("1,234 records" in sink.getvalue()) is terminal
    assert ("\x1b[" in sink.getvalue()) is terminal


def test_report_and_dict_csv_neutralise_formulas(capsys: pytest.CaptureFixture[str]) -> None:
    _common.echo_grid(["=name", "count"], [["=cmd|' /C calc'!A0", 3], ["Leeds", -1]], "csv")
    assert capsys.readouterr().out.splitlines() == [
        "'=name,count",
        "'=cmd|' /C calc'!A0,3",
        "Leeds,-1",
    ]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("surname=Lee,Roe", ("Lee", "Roe")),
        ('surname="Lee, Jr",Roe', ("Lee, Jr", "Roe")),
        ('surname="say ""hi""",O\'Neil', ('say "hi"', "O'Neil")),
    ],
)
def test_filter_values_split_at_commas_and_a_quoted_value_keeps_its_commas(
    text: str, values: tuple[str, ...]
) -> None:
    assert _common.build_query("clients", filters=[text]).filters == (("surname", values),)


def test_filter_with_an_unclosed_quote_is_a_usage_error() -> None:
    with pytest.raises(click.BadParameter, match="unexpected end of data"):
        _common.build_query("clients", filters=['surname="Lee, Jr'])


def test_a_closed_output_pipe_is_left_to_click_to_end_quietly() -> None:
    async def job() -> None:
        raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        _common.run(False, job)
