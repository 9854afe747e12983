"""Small text helpers shared by the query builder and the catalogue: edit distance, hints."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["closest", "edit_distance", "plural"]


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Levenshtein distance between ``a`` and ``b``, or ``limit`` if it is at least that."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) >= limit:
            return limit
        previous = current
    return min(previous[-1], limit)


def closest(word: str, candidates: Iterable[str], limit: int = 3) -> str | None:
    """The candidate nearest to ``word`` within ``limit`` edits (ties: alphabetical first)."""
    best: tuple[int, str] | None = None
    for candidate in candidates:
        d = edit_distance(word, candidate, limit)
        if d < limit and (best is None or (d, candidate) < best):
            best = (d, candidate)
    return best[1] if best else None


def plural(count: int, noun: str) -> str:
    """``count`` and ``noun``, in the plural unless it is one: ``1 record``, ``2 records``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")
