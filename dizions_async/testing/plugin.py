"""The pytest plugin of ``dizions_async``: a ``fake_dizions`` fixture for users' test suites.

Registered through the ``pytest11`` entry point, so installing the package is enough::

    async def test_my_code(fake_dizions):
        ...  # fake_dizions.url, fake_dizions.headers, fake_dizions.store

The fixture is function-scoped: each test gets a fresh server with 200 clients, seed 1.
It needs pytest-asyncio (``asyncio_mode = "auto"``, or mark the tests ``asyncio``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dizions_async.testing._fake import FakeDizions

__all__ = ["fake_dizions"]

try:
    import pytest_asyncio
except ImportError:  # the plugin loads in every pytest run: never break one without it

    @pytest.fixture
    def fake_dizions() -> FakeDizions:
        """Unavailable: the fixture needs pytest-asyncio."""
        pytest.fail("the fake_dizions fixture needs pytest-asyncio: pip install pytest-asyncio")

else:

    @pytest_asyncio.fixture
    async def fake_dizions() -> AsyncIterator[FakeDizions]:  # type: ignore[misc]
        """A running fake Dizions server (200 clients, seed 1), stopped after the test."""
        async with FakeDizions(clients=200, seed=1) as fake:
            yield fake
