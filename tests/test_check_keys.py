"""The key test: ``Client.check_keys`` and ``dizions check`` (wiki page API_Authentication)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from dizions_async import Client
from dizions_async.errors import AuthenticationError
from dizions_async.testing import FakeDizions

if TYPE_CHECKING:
    from conftest import Cli


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=5, seed=2) as server:
        yield server


async def test_check_keys_gets_business_configuration_and_returns_its_mapping(
    fake: FakeDizions,
) -> None:
    # API_Authentication: "If you want to test that you have the keys correct, it's
    # useful to call: [GET] https://api.dizions.co.uk/v2/business/configuration"
    async with fake.client() as dz:
        answer = await dz.check_keys()
    assert isinstance(answer, dict) and answer
    assert fake.requests[-1].method == "GET"
    assert fake.requests[-1].path == "/v2/business/configuration"


async def test_check_keys_with_a_wrong_key_raises_authentication_error(fake: FakeDizions) -> None:
    async with Client("wrong", fake.keys.org, fake.keys.user, base_url=fake.url) as dz:
        with pytest.raises(AuthenticationError) as caught:
            await dz.check_keys()
    assert caught.value.status == 401
    assert fake.keys.org not in str(caught.value)


async def test_dizions_check_says_keys_accepted_for_the_base_url(
    fake: FakeDizions, cli: Cli
) -> None:
    result = await cli(fake, "check")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"keys accepted for {fake.url}"


async def test_dizions_check_with_a_wrong_key_exits_1_with_one_line(
    fake: FakeDizions, cli: Cli
) -> None:
    result = await cli(fake, "check", DIZIONS_USER="not-the-user-key")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "401" in lines[0]
    assert "not-the-user-key" not in result.output


async def test_dizions_check_without_keys_exits_2_naming_the_variable(
    fake: FakeDizions, cli: Cli
) -> None:
    result = await cli(fake, "check", env={"DIZIONS_BASE_URL": fake.url})
    assert result.exit_code == 2
    assert "DIZIONS_SOURCE" in result.output
