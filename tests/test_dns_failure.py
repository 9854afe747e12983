"""A host name that does not resolve fails at once; a temporary resolver failure is retried.

The resolver is a stand-in given to the session's connector: no lookup leaves the machine.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from dizions_async import Client, Query, RetryPolicy
from dizions_async.errors import ConnectError


class _FailingResolver(AbstractResolver):
    def __init__(self, errno: int, text: str) -> None:
        self.errno, self.text, self.calls = errno, text, 0

    async def resolve(self, host: str, port: int = 0, family: Any = 0) -> list[ResolveResult]:
        self.calls += 1
        raise socket.gaierror(self.errno, self.text)

    async def close(self) -> None:
        pass


async def _fetch(resolver: _FailingResolver) -> ConnectError:
    async def no_wait(seconds: float) -> None:
        pass

    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        retry = RetryPolicy(sleep=no_wait)
        base = "https://no-such-host.example"
        async with Client("s", "o", "u", base_url=base, session=session, retry=retry) as dz:
            with pytest.raises(ConnectError) as caught:
                await dz.fetch(Query("clients"))
    return caught.value


async def test_a_name_that_does_not_resolve_is_not_retried() -> None:
    resolver = _FailingResolver(socket.EAI_NONAME, "Name or service not known")
    error = await _fetch(resolver)
    assert resolver.calls == 1
    assert error.retries == 0 and not error.retryable
    assert "could not connect to no-such-host.example" in str(error)
    assert "Name or service not known" in str(error)


async def test_a_temporary_resolver_failure_is_retried() -> None:
    resolver = _FailingResolver(socket.EAI_AGAIN, "Temporary failure in name resolution")
    error = await _fetch(resolver)
    assert resolver.calls == 4
    assert error.retries == 3 and error.retryable
