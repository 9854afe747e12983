"""The two write-verb conventions: one setting, catalogue data, and a fake that tells them apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest

from dizions_async import Client
from dizions_async.catalogue import RESOURCES, WRITE_VERBS, OperationKind, get_resource
from dizions_async.errors import APIError, ConfigurationError
from dizions_async.testing import FakeDizions

if TYPE_CHECKING:
    from conftest import Cli


@pytest.fixture
async def seed_only() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=5, seed=4, write_verbs="seed") as server:
        yield server


def test_every_write_has_a_shape_in_both_conventions_and_the_reads_never_differ() -> None:
    for spec in RESOURCES.values():
        for kind, op in spec.operations.items():
            for verbs in WRITE_VERBS:
                assert op.shape(verbs).method in ("GET", "PUT", "POST")
            if kind in (OperationKind.READ, OperationKind.REPORT):
                assert not op.differs


def test_the_wiki_reverses_the_verbs_of_clients_referrals_and_contact_edits() -> None:
    differing = {
        (name, kind.value)
        for name, spec in RESOURCES.items()
        for kind, op in spec.operations.items()
        if op.differs
    }
    assert differing == {
        ("clients", "create"),
        ("clients", "create_by_external_id"),
        ("clients", "update"),
        ("referrals", "create"),
        ("referrals", "update"),
        ("due_contacts", "create_for_referral"),
        ("due_contacts", "update"),
        ("done_contacts", "create_for_referral"),
        ("done_contacts", "update"),
        ("done_contacts", "complete"),
    }
    ext = get_resource("extension_database/wellcheck_notes")
    assert not any(op.differs for op in ext.operations.values())


def test_client_takes_the_convention_from_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIZIONS_WRITE_VERBS", "wiki")
    assert Client("s", "o", "u").write_verbs == "wiki"
    assert Client("s", "o", "u", write_verbs="seed").write_verbs == "seed"
    monkeypatch.delenv("DIZIONS_WRITE_VERBS")
    assert Client("s", "o", "u").write_verbs == "seed"


def test_an_unknown_convention_is_a_configuration_error_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIZIONS_WRITE_VERBS", "rest")
    with pytest.raises(ConfigurationError) as info:
        Client("s", "o", "u")
    message = str(info.value)
    assert "'seed'" in message and "'wiki'" in message and "DIZIONS_WRITE_VERBS" in message


async def test_the_other_conventions_verb_is_a_405_that_did_nothing_and_names_the_setting(
    seed_only: FakeDizions,
) -> None:
    before = seed_only.store.count("clients")
    async with seed_only.client(write_verbs="wiki") as dz:
        with pytest.raises(APIError) as info:
            await dz.create_client({"first_name": "Ann", "surname": "Lee"})
    error = info.value
    assert error.status == 405
    assert error.outcome_unknown is False
    assert "nothing was done" in str(error)
    assert "write_verbs='seed'" in str(error)
    assert seed_only.store.count("clients") == before
    assert [r.status for r in seed_only.requests] == [405]  # not resent


async def test_the_405_carries_an_allow_header_naming_the_verb_taken(
    seed_only: FakeDizions,
) -> None:
    async with (
        aiohttp.ClientSession(seed_only.url, headers=seed_only.headers) as http,
        http.post("/v2/clients", data={"first_name": "A", "surname": "B"}) as response,
    ):
        assert response.status == 405
        assert response.headers["Allow"] == "PUT"


async def test_a_wiki_only_server_refuses_the_seed_update_and_takes_the_wiki_one() -> None:
    async with FakeDizions(clients=5, seed=4, write_verbs="wiki") as fake:
        async with fake.client(write_verbs="seed") as dz:
            with pytest.raises(APIError) as info:
                await dz.update("clients", 1, {"postcode": "AB1 2CD"})
            assert info.value.status == 405 and "write_verbs='wiki'" in str(info.value)
        async with fake.client(write_verbs="wiki") as dz:
            assert await dz.update("clients", 1, {"postcode": "AB1 2CD"}) == 1
        assert fake.requests[-1].method == "PUT"
        assert fake.store.rows("clients", id=1)[0]["postcode"] == "AB1 2CD"


async def test_a_server_taking_both_answers_either(tmp_path: Path) -> None:
    async with FakeDizions(clients=5, seed=4, write_verbs="both") as fake:
        for verbs in WRITE_VERBS:
            async with fake.client(write_verbs=verbs) as dz:
                await dz.create_client({"first_name": verbs, "surname": "Both"})
        assert len(fake.store.rows("clients", surname="Both")) == 2


def test_the_fake_refuses_an_unknown_convention() -> None:
    with pytest.raises(ValueError, match="write_verbs"):
        FakeDizions(write_verbs="rest")


async def test_cli_write_verbs_option_and_environment_pick_the_convention(
    seed_only: FakeDizions, cli: Cli, tmp_path: Path
) -> None:
    book = tmp_path / "book.csv"
    book.write_text("external_id,first_name,surname\nW-1,Ann,Lee\n", encoding="utf-8")
    journal = str(tmp_path / "job.sqlite")
    refused = await cli(
        seed_only, "migrate", "clients", str(book), "--journal", journal, "--write-verbs", "wiki"
    )
    assert refused.exit_code == 1
    assert seed_only.store.rows("clients", external_id="W-1") == []
    assert {r.method for r in seed_only.requests if r.status == 405} == {"POST"}
    journal2 = str(tmp_path / "job2.sqlite")
    taken = await cli(
        seed_only,
        "migrate",
        "clients",
        str(book),
        "--journal",
        journal2,
        DIZIONS_WRITE_VERBS="seed",
    )
    assert taken.exit_code == 0, taken.output
    assert len(seed_only.store.rows("clients", external_id="W-1")) == 1


async def test_serve_help_offers_write_verbs_and_branches(cli: Cli, seed_only: FakeDizions) -> None:
    result = await cli(seed_only, "serve", "--help")
    assert "--write-verbs [seed|wiki|both]" in result.output and "--branches" in result.output
