"""Shared fixtures: running ``dizions`` commands against a fake server."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner, Result

from dizions_async.cli._app import app
from dizions_async.testing import FakeDizions


class Cli:
    """Runs ``dizions`` commands through click's runner against a fake server.

    A command runs its own event loop (``asyncio.run``), so it is invoked in a worker
    thread while the fake server keeps serving on the test's loop. Every result is
    checked for the server's keys: they must never be printed.
    """

    @staticmethod
    def env(fake: FakeDizions) -> dict[str, str]:
        """The environment that points ``dizions`` at ``fake``."""
        return {
            "DIZIONS_SOURCE": fake.keys.source,
            "DIZIONS_ORG": fake.keys.org,
            "DIZIONS_USER": fake.keys.user,
            "DIZIONS_BASE_URL": fake.url,
        }

    async def __call__(
        self, fake: FakeDizions, *args: str, env: dict[str, str] | None = None, **extra: str
    ) -> Result:
        """Run ``dizions ARGS``; ``env`` replaces the environment, ``extra`` adds to it."""
        environment = {**(self.env(fake) if env is None else env), **extra}
        result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=environment)
        for key in (fake.keys.source, fake.keys.org, fake.keys.user):
            assert key not in result.output
        return result


@pytest.fixture
def cli() -> Cli:
    return Cli()
