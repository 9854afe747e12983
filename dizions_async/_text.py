"""Small text helpers shared by the query builder and the catalogue: edit distance, hints,
and the one encoder of a path segment."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["closest", "edit_distance", "quote_segment"]

_SAFE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote_segment(value: str) -> str:
    """``value`` percent-encoded as one path segment (or one ``;``-separated value).

    Every ``/ ; , ? # %`` and space is encoded, so no value can add a segment or a value.
    """
    # Most values are IDs or plain words: skip the general quoter for them.
    if _SAFE_CHARS.issuperset(value):
        # "." and ".." are dot-segments: URL normalisation (yarl, servers) would remove them,
        # and a segment with them, so they are encoded although "." is otherwise safe.
        return value if value != "." and value != ".." else value.replace(".", "%2E")
    return quote(value, safe="")


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
