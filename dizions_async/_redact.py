"""Redaction: what counts as a value or a key, and how both are masked in messages.

Every message the SDK builds about a request or a record (errors, log lines, the CLI's
error line) goes through here, so there is one rule:

- **Values** (filter and path values other than IDs, external IDs, form-body values,
  file names, dates given as filters) are personal data. They appear as ``***`` unless
  the caller opted in: ``Client(log_values=True)``, or ``DIZIONS_LOG_VALUES=1`` in the
  environment (read when a message is built, so it also covers the pure query builder).
  A message still names the key or field and says what is wrong.
- **Keys** (Source, Org, User) are never shown, opted in or not. They live in
  :class:`Secret`, whose ``repr``/``str`` are masked, from the moment they are read.

Pure: no I/O beyond reading one environment variable, no aiohttp.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any, Final, NoReturn, final
from urllib.parse import parse_qsl, unquote

from dizions_async.catalogue import API_PREFIX, EXTENSION_DATABASE

__all__ = [
    "ENV_LOG_VALUES",
    "MASK",
    "VISIBLE_KEYS",
    "Secret",
    "cut",
    "described",
    "form_values",
    "json_values",
    "opted_in",
    "path_values",
    "redact_path",
    "reveal",
    "scrub",
    "shown",
    "values_opted_in",
]

MASK: Final = "***"
ENV_LOG_VALUES: Final = "DIZIONS_LOG_VALUES"
#: Path keys whose values are structure or record IDs, not personal data.
VISIBLE_KEYS: Final = frozenset({"id", "field", "dimension", "metric"})
_TRUE = frozenset({"1", "true", "yes", "on"})
#: A value shorter than this is masked in server text only as a whole word: masking every
#: "1" or "Li" inside other words would make messages unreadable without protecting much.
_WORD_ONLY_BELOW = 4


#: Set (by :func:`opted_in`) while a client with ``log_values`` runs pure code (a write's
#: checks), so that code's messages follow the client's choice.
_OPTED_IN: ContextVar[bool | None] = ContextVar("dizions_values_opted_in", default=None)


def values_opted_in(flag: bool | None = None) -> bool:
    """Whether values may appear in messages: ``flag`` if given, else the client's choice
    while :func:`opted_in` is active, else ``DIZIONS_LOG_VALUES``."""
    if flag is not None:
        return flag
    scoped = _OPTED_IN.get()
    if scoped is not None:
        return scoped
    return os.environ.get(ENV_LOG_VALUES, "").strip().lower() in _TRUE


@contextlib.contextmanager
def opted_in(flag: bool) -> Iterator[None]:
    """Within the block, :func:`values_opted_in` answers ``flag`` (synchronous code only)."""
    token = _OPTED_IN.set(flag)
    try:
        yield
    finally:
        _OPTED_IN.reset(token)


def shown(value: object, opted_in: bool | None = None) -> str:
    """``repr(value)`` when values are opted in, else ``***``."""
    return repr(value) if values_opted_in(opted_in) else MASK


def described(value: object, opted_in: bool | None = None) -> str:
    """``value`` for a message: its repr when opted in, else its kind and size only.

    >>> described("Smith", False), described(4857773456, False)
    ('a str of 5 characters', 'an int')
    """
    if values_opted_in(opted_in):
        return repr(value)
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    if isinstance(value, str):
        return f"{article} {kind} of {len(value)} character{'' if len(value) == 1 else 's'}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return f"{article} {kind} of {len(value)}"
    return f"{article} {kind}"


# -- paths ----------------------------------------------------------------------------------


def _value_slots(parts: list[str]) -> range | list[int]:
    """Indexes of ``parts`` (a path split at ``/``) that hold values, not structure."""
    start = 2 if len(parts) > 1 and "/" + parts[1] == API_PREFIX else 1
    if len(parts) <= start:
        return []
    head = parts[start]
    if head == "dictionary":
        search = len(parts) > start + 4 and parts[start + 1] == "search"
        return range(start + 4, len(parts)) if search else []
    # A plain loop, not a generator or comprehension: this runs for every request's label.
    out: list[int] = []
    i = start + (2 if head == EXTENSION_DATABASE else 1)
    while i + 1 < len(parts):
        if parts[i] not in VISIBLE_KEYS:
            out.append(i + 1)
        i += 2
    return out


def redact_path(path: str) -> str:
    """Mask the values in a Dizions path; keys, IDs, fields, dimension and metric stay.

    A dictionary search term is masked; a query string is dropped.

    >>> redact_path("/v2/clients/nhs_number/4857773456/field/id;surname")
    '/v2/clients/nhs_number/***/field/id;surname'
    """
    parts = path.partition("?")[0].split("/")
    for i in _value_slots(parts):
        parts[i] = MASK
    return "/".join(parts)


def path_values(path: str) -> list[str]:
    """The values a path carries, percent-decoded, each list split at ``;`` and ``,``."""
    parts = path.partition("?")[0].split("/")
    out: list[str] = []
    for i in _value_slots(parts):
        raw = parts[i]
        out.append(raw)
        out.append(unquote(raw))
        out.extend(unquote(v) for v in re.split("[;,]", raw))
    return out


def form_values(body: bytes) -> list[str]:
    """The values of an ``application/x-www-form-urlencoded`` body (whole and split at ``,``)."""
    out: list[str] = []
    for _, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=False):
        out.append(value)
        out.extend(value.split(","))
    return out


def json_values(data: Any) -> list[str]:
    """Every string and number inside parsed JSON (a JSON write body)."""
    out: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
            out.append(str(item))
    return out


# -- free text ------------------------------------------------------------------------------


def scrub(text: str, *, keys: Iterable[str] = (), values: Iterable[str] = ()) -> str:
    """``text`` with every key and value replaced by ``***``, ignoring case.

    Keys are masked wherever they occur; values of fewer than four characters only as
    whole words (see ``_WORD_ONLY_BELOW``). Longer strings are masked first, so a value
    inside another is not left half shown.
    """
    patterns: list[str] = []
    for secret in sorted({*keys} - {""}, key=len, reverse=True):
        patterns.append(re.escape(secret))
    for value in sorted({v.strip() for v in values} - {""}, key=len, reverse=True):
        if len(value) < _WORD_ONLY_BELOW:
            patterns.append(rf"(?<!\w){re.escape(value)}(?!\w)")
        else:
            patterns.append(re.escape(value))
    if not patterns or not text:
        return text
    return re.sub("|".join(patterns), MASK, text, flags=re.IGNORECASE)


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks a cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# -- keys -----------------------------------------------------------------------------------


@final
class Secret:
    """A key (Source, Org or User): ``repr``/``str`` masked, the text only through :meth:`reveal`.

    The SDK wraps each key as soon as it reads it, so a traceback that shows local
    variables (error trackers do) shows ``Secret(***)``. Secrets refuse pickling: a key
    must not reach a file by accident.
    """

    __slots__ = ("_value",)

    def __init__(self, value: object) -> None:
        # Any object is accepted: the caller's checks (type, emptiness) happen later,
        # on the wrapped value, so no frame ever holds the raw key while it raises.
        self._value = value.reveal() if isinstance(value, Secret) else value

    def reveal(self) -> Any:
        """The wrapped key itself (normally a str), for the request headers."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret (an API key) cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: object) -> Secret:
        return self


def reveal(value: str | Secret) -> str:
    """The text of a header value, unwrapping a :class:`Secret`."""
    return value.reveal() if isinstance(value, Secret) else value
