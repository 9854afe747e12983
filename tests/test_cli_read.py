"""``dizions get``, ``report`` and ``dict`` through click's runner against the fake server.

The ``cli`` fixture (conftest) runs each command in a worker thread and checks that no
key is ever printed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import orjson
import pytest
from click.testing import Result

from dizions_async.testing import FakeDizions

if TYPE_CHECKING:
    from conftest import Cli


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=60, seed=3) as server:
        yield server


def _no_keys(fake: FakeDizions, result: Result) -> None:
    for key in (fake.keys.source, fake.keys.org, fake.keys.user):
        assert key not in (result.stderr or "")


async def test_get_jsonl_prints_the_matching_records(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "get", "clients", "--filter", "gender=1,2", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    got = [orjson.loads(line) for line in result.stdout.splitlines()]
    want = [r for r in fake.store.rows("clients") if r["gender"] in (1, 2)]
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in want)
    _no_keys(fake, result)


async def test_get_csv_has_the_selected_fields_as_columns(fake: FakeDizions, cli: Cli) -> None:
    args = ["--id", "3", "--id", "4", "--fields", "id,surname", "--format", "csv"]
    result = await cli(fake, "get", "clients", *args)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["id", "surname"]
    assert [r[0] for r in rows[1:]] == ["3", "4"]


async def test_get_json_is_one_array(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "get", "clients", "--id", "5", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in orjson.loads(result.stdout)] == [5]


async def test_get_table_shows_values_as_text(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(
        fake, "get", "clients", "--id", "7", "--fields", "id,surname", "--format", "table"
    )
    surname = fake.store.rows("clients", id=7)[0]["surname"]
    assert result.exit_code == 0 and surname in result.stdout


async def test_unknown_filter_key_is_a_usage_error_in_one_line(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "get", "clients", "--filter", "religon=1")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "religion" in result.stderr
    assert "Traceback" not in result.output


async def test_malformed_filter_option_is_a_usage_error(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "get", "clients", "--filter", "gender")
    assert result.exit_code == 2 and "KEY=VALUE" in result.stderr


async def test_wrong_keys_exit_1_with_one_line_and_no_key_echoed(
    fake: FakeDizions, cli: Cli
) -> None:
    result = await cli(fake, "get", "clients", "--id", "1", DIZIONS_USER="not-the-user-key-123")
    assert result.exit_code == 1
    assert result.stderr.startswith("dizions: error: 401")
    assert "not-the-user-key-123" not in result.output
    _no_keys(fake, result)


async def test_keys_from_options_override_the_environment(fake: FakeDizions, cli: Cli) -> None:
    env = {"DIZIONS_BASE_URL": fake.url}
    k = fake.keys
    args = ["--source", k.source, "--org", k.org, "--user", k.user]
    result = await cli(fake, "get", "clients", "--id", "1", "--format", "jsonl", *args, env=env)
    assert result.exit_code == 0, result.output
    _no_keys(fake, result)


async def test_missing_keys_are_a_usage_error_naming_the_variable(
    fake: FakeDizions, cli: Cli
) -> None:
    result = await cli(fake, "get", "clients", env={"DIZIONS_BASE_URL": fake.url})
    assert result.exit_code == 2 and "DIZIONS_" in result.stderr


async def test_debug_shows_the_traceback(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "get", "clients", "--filter", "religon=1", "--debug")
    assert result.exit_code == 2 and "Traceback" in result.stderr


async def test_debug_traceback_of_an_api_failure_shows_no_key(fake: FakeDizions, cli: Cli) -> None:
    wrong = "not-the-user-key-456"
    result = await cli(fake, "get", "clients", "--id", "1", "--user", wrong, "--debug")
    assert result.exit_code == 1 and "Traceback" in result.stderr
    assert "AuthenticationError" in result.stderr and wrong not in result.output
    _no_keys(fake, result)


async def test_network_failure_exits_1(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "get", "clients", "--id", "1", DIZIONS_BASE_URL="http://127.0.0.1:9")
    assert result.exit_code == 1 and result.stderr.startswith("dizions: error:")


async def test_report_csv_counts_add_up(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "report", "clients", "--dimension", "gender", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["gender", "count"]
    assert sum(int(r[1]) for r in rows[1:]) == fake.store.count("clients")


async def test_report_with_metric_as_table(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "report", "clients", "--dimension", "district", "--metric", "gender")
    assert result.exit_code == 0, result.output
    assert f"total: {fake.store.count('clients')}" in result.stdout


async def test_dict_lists_and_searches(fake: FakeDizions, cli: Cli) -> None:
    result = await cli(fake, "dict", "clients", "gender", "--format", "json")
    assert result.exit_code == 0, result.output
    names = [e["name"] for e in orjson.loads(result.stdout)]
    assert "Female" in names and len(names) == 4
    found = await cli(fake, "dict", "clients", "gender", "--search", "male", "--format", "csv")
    assert found.exit_code == 0 and "Female" in found.stdout
