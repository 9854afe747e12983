"""The fake server's cache of read answers, valid while the store's data is unchanged.

Client benchmarks and test suites send the same read many times; scanning thousands of rows
for each would make the fake, not the client, the thing measured. An answer is kept, as the
bytes sent, under its raw path (query string included) and the whole cache is dropped the
moment :attr:`Store.version <dizions_async.testing.Store.version>` moves, so no write,
through the API or straight into the store, is ever answered from before it.
"""

from __future__ import annotations

__all__ = ["ReadCache"]


class ReadCache:
    """Read answers by raw path, for one version of the data.

    Args:
        max_bytes: the most body bytes held; past it the cache starts again empty.
        max_item: bodies larger than this are never kept.
    """

    def __init__(self, max_bytes: int = 64 << 20, max_item: int = 4 << 20) -> None:
        self._max_bytes = max_bytes
        self._max_item = max_item
        self._bodies: dict[str, bytes] = {}
        self._size = 0
        self._version: object = None

    def get(self, version: object, path: str) -> bytes | None:
        """The kept answer to ``path`` at data ``version``, or None."""
        if version != self._version:
            self.clear()
            self._version = version
            return None
        return self._bodies.get(path)

    def put(self, version: object, path: str, body: bytes) -> None:
        """Keep ``body`` as the answer to ``path`` at data ``version``."""
        if version != self._version or len(body) > self._max_item:
            return
        if self._size + len(body) > self._max_bytes:
            self.clear()
        self._bodies[path] = body
        self._size += len(body)

    def clear(self) -> None:
        """Forget every answer."""
        self._bodies.clear()
        self._size = 0

    def __len__(self) -> int:
        return len(self._bodies)
