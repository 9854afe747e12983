"""Small text helpers: edit distance and hints (query builder, catalogue), the one encoder
of a path segment, and the neutralising of control characters in text printed to a
terminal (the CLI)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["closest", "edit_distance", "printable", "quote_segment", "quote_values"]

_SAFE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_SAFE_OR_SEMICOLON = _SAFE_CHARS | {";"}


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


def quote_values(values: tuple[str, ...]) -> str:
    """The values, each encoded by :func:`quote_segment`, joined by ``;`` (one value list)."""
    text = ";".join(values)
    # Usually every value is safe as it is: one check of the joined text then does. A
    # ";" inside a value (the count is off) or a "." (dot-segments) takes the long way.
    fits = _SAFE_OR_SEMICOLON.issuperset(text) and text.count(";") == len(values) - 1
    if fits and "." not in text:
        return text
    return ";".join([quote_segment(v) for v in values])


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


#: What a terminal would act on instead of showing: C0 controls but tab and newline (ESC
#: among them), DEL, C1 controls, and the bidirectional overrides that reorder a line.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` safe to print to a terminal: every control character shown as an escape.

    An ESC in a record's surname could otherwise retitle, clear or recolour the terminal.
    Tab and newline are kept; JSON, JSONL and CSV output does not pass through here.

    >>> printable("Smi\\x1b]0;pwned\\x07th")
    'Smi\\\\x1b]0;pwned\\\\x07th'
    """
    return _CONTROLS.sub(_escaped, text)
