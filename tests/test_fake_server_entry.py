"""The fake server's entry points: persistence, the pytest fixture, ``dizions serve``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import aiohttp
import pytest

import dizions_async
import dizions_async.testing
from dizions_async import Query
from dizions_async.testing import FakeDizions, Keys, keys_from_seed

pytest_plugins = ("pytester",)

REPO_ROOT = Path(dizions_async.__file__).resolve().parent.parent


def test_exports() -> None:
    assert set(dizions_async.testing.__all__) == {
        "FakeDizions",
        "FaultConfig",
        "Faults",
        "Keys",
        "LoggedRequest",
        "Store",
        "keys_from_seed",
    }


async def test_data_and_writes_survive_a_restart_with_a_db_file(tmp_path: Path) -> None:
    db = tmp_path / "fake.sqlite3"
    async with FakeDizions(clients=30, seed=2, db_path=db) as fake:
        async with (
            aiohttp.ClientSession(fake.url, headers=fake.headers) as http,
            http.put("/v2/clients", data={"first_name": "Kept", "surname": "Row"}) as response,
        ):
            assert response.status == 201
            new_id = (await response.json())["id"]
        before = fake.store.rows("clients")
    # The second start reuses the file: nothing is reseeded, the write is still there.
    async with FakeDizions(clients=999, seed=7, db_path=db) as again:
        assert again.store.rows("clients") == before
        async with (
            aiohttp.ClientSession(again.url, headers=again.headers) as http,
            http.get(f"/v2/clients/id/{new_id}/field/surname") as response,
        ):
            assert await response.json() == [{"surname": "Row"}]


async def test_the_store_after_stop_raises_a_clear_error() -> None:
    async with FakeDizions(clients=5, seed=1) as fake:
        store = fake.store
        assert store.count("clients") == 5
    for read in (lambda: store.count("clients"), lambda: fake.store.rows("clients")):
        with pytest.raises(RuntimeError, match=r"store is closed.*FakeDizions\.stop"):
            read()
    await fake.stop()  # stopping twice is harmless


async def test_same_seed_gives_same_data_and_keys() -> None:
    async with FakeDizions(clients=40, seed=9) as a, FakeDizions(clients=40, seed=9) as b:
        assert a.store.rows("referrals") == b.store.rows("referrals")
        assert a.keys == b.keys == keys_from_seed(9)
        assert a.url != b.url


async def test_fixed_keys_are_accepted() -> None:
    async with FakeDizions(clients=5, keys=("s", "o", "u")) as fake:
        assert fake.keys == Keys("s", "o", "u")
        async with (
            aiohttp.ClientSession(fake.url, headers={"Source": "s", "Org": "o", "User": "u"}) as h,
            h.get("/v2/workers") as response,
        ):
            assert response.status == 200


def _plugin_args() -> list[str]:
    # Installed from this checkout the entry point loads the plugin; an older editable
    # install's metadata may predate it, so then load it by name instead (never both).
    registered = any(ep.name == "dizions_async" for ep in entry_points(group="pytest11"))
    return [] if registered else ["-p", "dizions_async.testing.plugin"]


def test_fixture_works_in_a_users_test_suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    pytester.makepyfile(
        test_user="""
        import aiohttp

        async def test_reads_clients(fake_dizions):
            async with aiohttp.ClientSession(headers=fake_dizions.headers) as http:
                async with http.get(fake_dizions.url + "/v2/clients/field/id") as response:
                    assert response.status == 200
                    rows = await response.json()
            assert len(rows) == fake_dizions.store.count("clients") == 200

        async def test_each_test_gets_a_fresh_server(fake_dizions):
            assert fake_dizions.requests == []
        """
    )
    result = pytester.runpytest_subprocess(*_plugin_args())
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
async def test_dizions_serve_prints_url_and_keys_serves_and_stops(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dizions_async.cli",
        "serve",
        "--port",
        "0",
        "--clients",
        "20",
        "--seed",
        "4",
        "--db",
        str(tmp_path / "served.sqlite3"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    try:
        lines = [(await asyncio.wait_for(process.stdout.readline(), 60)).decode()]
        lines += [(await process.stdout.readline()).decode() for _ in range(3)]
        url = lines[0].split(" at ")[1].strip()
        keys = {line.split(":")[0].strip(): line.split(":")[1].strip() for line in lines[1:]}
        assert Keys(keys["Source"], keys["Org"], keys["User"]) == keys_from_seed(4)
        async with (
            aiohttp.ClientSession(url, headers=keys) as http,
            http.get("/v2/clients/field/id") as response,
        ):
            assert response.status == 200
            assert len(await response.json()) == 20
    finally:
        process.send_signal(stop_signal)
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert b"Stopped." in out


async def test_dizions_serve_fault_option_injects_faults_on_its_route(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "dizions_async.cli", "serve", "--port", "0", "--clients", "5"),
        *("--fault", "GET /v2/workers:rate_503=1,latency=0"),
        *("--fault", "PUT /v2/clients:commit_then_fail=1,times=1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    try:
        lines = [(await asyncio.wait_for(process.stdout.readline(), 60)).decode()]
        lines += [(await process.stdout.readline()).decode() for _ in range(5)]
        url = lines[0].split(" at ")[1].strip()
        assert lines[4:] == [
            "Fault rule: GET /v2/workers: rate_503=1.0\n",
            "Fault rule: PUT /v2/clients: commit_then_fail=1.0, times=1\n",
        ]
        async with aiohttp.ClientSession(url, headers=keys_from_seed(1).headers) as http:
            statuses = []
            for method, path in [
                ("GET", "/v2/workers"),
                ("GET", "/v2/clients"),
                ("PUT", "/v2/clients"),
                ("PUT", "/v2/clients"),
            ]:
                data = {"first_name": "A", "surname": "B"} if method == "PUT" else None
                async with http.request(method, path, data=data) as response:
                    statuses.append(response.status)
        assert statuses == [503, 200, 500, 201]
    finally:
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("drop=2", "shares between 0 and 1"),
        ("PUT /v2/clients:shoe=1", "unknown fault setting 'shoe'"),
        ("drop", "is not key=value"),
        ("latency=soon", "needs a number"),
    ],
)
def test_dizions_serve_refuses_a_bad_fault_rule(rule: str, message: str) -> None:
    from click.testing import CliRunner

    from dizions_async.cli._serve import serve

    result = CliRunner().invoke(serve, ["--fault", rule])
    assert result.exit_code == 2
    assert message in result.output


async def test_fake_client_is_a_client_for_this_server_with_the_options_given() -> None:
    async with FakeDizions(clients=5, seed=4) as fake, fake.client(max_concurrency=2) as dz:
        rows = await dz.fetch(Query("clients").fields("id"))
        assert sorted(r["id"] for r in rows) == [1, 2, 3, 4, 5]
        assert repr(dz) == f"<Client {fake.url} max_concurrency=2>"
