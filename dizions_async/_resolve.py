"""Client-side name resolution: replace dictionary IDs in records by their names.

:class:`DictionaryCache` fetches each dictionary at most once per client, even when
several resolves ask for it at the same moment (they share one task). A failed fetch is
forgotten, so the next resolve tries again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from dizions_async.results import DictionaryEntry

__all__ = ["DictionaryCache", "DictionaryName", "replace_ids"]

#: A dictionary: ``(group, table)``, or the one segment of those the wiki names alone.
DictionaryName = tuple[str, str] | str
Loader = Callable[[str, str | None], Awaitable[list[DictionaryEntry]]]


class DictionaryCache:
    """ID -> name maps per dictionary, loaded once and shared."""

    def __init__(self, load: Loader) -> None:
        self._load = load
        self._tasks: dict[DictionaryName, asyncio.Task[dict[int, str]]] = {}

    async def _fetch(self, key: DictionaryName) -> dict[int, str]:
        group, table = (key, None) if isinstance(key, str) else key
        return {entry.id: entry.name for entry in await self._load(group, table)}

    def _forget_failure(self, key: DictionaryName, task: asyncio.Task[dict[int, str]]) -> None:
        failed = task.cancelled() or task.exception() is not None
        if failed and self._tasks.get(key) is task:
            del self._tasks[key]

    async def names(self, key: DictionaryName) -> dict[int, str]:
        """The ID -> name map of one dictionary (fetched on first use)."""
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key))
            task.add_done_callback(lambda t: self._forget_failure(key, t))
            self._tasks[key] = task
        # shield: one caller being cancelled must not cancel the fetch the others await.
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        """Cancel fetches still running (the client is closing)."""
        pending = [t for t in self._tasks.values() if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()


def _one(value: Any, names: Mapping[int, str]) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return names.get(value, value)
    if isinstance(value, str):
        if value.isdigit():
            return names.get(int(value), value)
        if ";" in value:
            return ";".join(str(_one(part, names)) for part in value.split(";"))
        return value
    if isinstance(value, list):
        return [_one(item, names) for item in value]
    return value


def replace_ids(
    rows: Iterable[Mapping[str, Any]],
    fields: Mapping[str, Mapping[int, str]],
) -> list[dict[str, Any]]:
    """New records with each named field's ID(s) replaced by names.

    Handles an int, a digit string, a ``;``-joined list of IDs, and a JSON list of IDs;
    an ID missing from the dictionary is kept as it is.
    """
    out: list[dict[str, Any]] = []
    for row in rows:
        new = dict(row)
        for field, names in fields.items():
            if field in new:
                new[field] = _one(new[field], names)
        out.append(new)
    return out
