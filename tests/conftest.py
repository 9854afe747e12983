"""Shared fixtures: running ``dizions`` commands against a fake server."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings

from dizions_async.cli._app import app
from dizions_async.testing import FakeDizions

# No test may depend on how fast the machine is: Hypothesis's per-example deadline (200 ms
# by default) failed on a shared 2-core machine with other CPU-bound work beside it.
# Examples are derived from the test (derandomize), so a run is repeatable and CI never
# meets an example the developer did not.
settings.register_profile(
    "dizions",
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("dizions")


class Cli:
    """Runs ``dizions`` commands through click's runner against a fake server.

    A command runs its own event loop (``asyncio.run``), so it is invoked in a worker
    thread while the fake server keeps serving on the test's loop. Every result is
    checked for the server's keys: they must never be printed.
    """

    @staticmethod
    def env(fake: FakeDizions) -> dict[str, str]:
        """The environment that points ``dizions`` at ``fake``."""
        return _env(fake.keys.source, fake.keys.org, fake.keys.user, fake.url)

    @staticmethod
    def serve_env(banner: Sequence[str]) -> dict[str, str]:
        """The environment that points ``dizions`` at a ``dizions serve`` process.

        ``banner`` is the first four lines it prints: "Fake Dizions server at URL", then
        "  Source: KEY", "  Org: KEY" and "  User: KEY".
        """
        source, org, user = (line.split(":", 1)[1].strip() for line in banner[1:4])
        return _env(source, org, user, banner[0].split()[-1])

    async def __call__(
        self, fake: FakeDizions, *args: str, env: dict[str, str] | None = None, **extra: str
    ) -> Result:
        """Run ``dizions ARGS``; ``env`` replaces the environment, ``extra`` adds to it."""
        environment = {**(self.env(fake) if env is None else env), **extra}
        result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=environment)
        for key in (fake.keys.source, fake.keys.org, fake.keys.user):
            assert key not in result.output
        return result


def _env(source: str, org: str, user: str, url: str) -> dict[str, str]:
    return {
        "DIZIONS_SOURCE": source,
        "DIZIONS_ORG": org,
        "DIZIONS_USER": user,
        "DIZIONS_BASE_URL": url,
    }


@pytest.fixture
def cli() -> Cli:
    return Cli()
