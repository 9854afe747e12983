"""`dizions demo` runs a real job through the SDK against the in-process fake server."""

from __future__ import annotations

from click.testing import CliRunner

from dizions_async.cli._app import app


def test_demo_pulls_every_client_and_reports_the_same_total() -> None:
    result = CliRunner().invoke(app, ["demo", "--clients", "300", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "Pulled 300 clients" in result.output
    assert "300 in all" in result.output  # the report's total agrees with the pull
    assert "in 72 monthly windows" in result.output  # the split pull ran
    assert "Carers Support" in result.output  # the dictionary search found the project


def test_demo_refuses_a_non_positive_size_before_starting() -> None:
    result = CliRunner().invoke(app, ["demo", "--clients", "0"])
    assert result.exit_code == 2
    assert "--clients" in result.output


def test_demo_draws_no_progress_bar_off_a_terminal() -> None:
    result = CliRunner().invoke(app, ["demo", "--clients", "40", "--seed", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].startswith("Pulled 40 clients")  # no blank line left by a hidden bar
    assert "\x1b[" not in result.output and "clients by district" not in result.output
