"""Fault injection for the fake server: deterministic, from a seed, per server or per route.

A :class:`FaultConfig` is one rule; :class:`Faults` holds the rules and decides, for each
request, which fault (if any) it gets. The newest rule that matches a request applies.
Rates are shares drawn from one ``random.Random(seed)``: a request draws once, and the
draw falls into 429, 503, drop, commit-then-fail or commit-then-garble by the cumulative
shares, so at most one fault hits a request. The commit faults are for writes only: a
read (GET, HEAD) that draws one is answered normally, as it has nothing to commit.
``times=N`` limits a rule to the next N matching requests.
"""

from __future__ import annotations

import enum
import random
import re
from typing import Any

import attrs

__all__ = ["Fault", "FaultConfig", "Faults", "parse_fault_rule"]

# Methods with nothing to commit: commit-then-fail never applies to them.
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class Fault(str, enum.Enum):
    """What happens to one request."""

    NONE = "none"
    RATE_LIMIT = "429"
    UNAVAILABLE = "503"
    DROP = "drop"
    COMMIT_THEN_500 = "commit_then_500"
    COMMIT_THEN_DROP = "commit_then_drop"
    #: handled (committed), then answered 200 with an HTML page, as a proxy might
    COMMIT_THEN_GARBLE = "commit_then_garble"


def _header_value(value: object) -> str:
    """``retry_after`` as header text: an int is whole seconds (``1`` sends ``Retry-After: 1``)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"retry_after is seconds (an int) or header text, got {value!r}")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"retry_after must not be negative, got {value}")
    return str(value)


@attrs.frozen
class FaultConfig:
    """One fault rule.

    Attributes:
        route: None for every request, or ``"METHOD /v2/prefix"`` (``"GET /v2/clients"``
            matches ``/v2/clients`` and everything below it, for GET only).
        latency: seconds to wait before handling each matching request.
        rate_429: share of matching requests answered 429 with ``Retry-After``.
        retry_after: the ``Retry-After`` header value: seconds (an int or text) or an
            HTTP date.
        rate_503: share answered 503.
        drop: share whose connection is closed without a response.
        commit_then_fail: share of writes that are handled (committed) and then answered
            500, or dropped, as ``commit_fail_mode`` says (``"500"`` or ``"drop"``). Reads
            that draw it are answered normally.
        commit_then_garble: share of writes that are handled (committed) and then
            answered 200 with an HTML body (a proxy's page): the client cannot read the
            new id. Reads that draw it are answered normally.
        times: apply to the next ``times`` matching requests only; None for ever.
    """

    route: str | None = None
    latency: float = 0.0
    rate_429: float = 0.0
    retry_after: str = attrs.field(default="1", converter=_header_value)
    rate_503: float = 0.0
    drop: float = 0.0
    commit_then_fail: float = 0.0
    commit_fail_mode: str = "500"
    times: int | None = None
    commit_then_garble: float = 0.0

    def __attrs_post_init__(self) -> None:
        shares = (
            self.rate_429,
            self.rate_503,
            self.drop,
            self.commit_then_fail,
            self.commit_then_garble,
        )
        if any(not 0.0 <= s <= 1.0 for s in shares) or sum(shares) > 1.0 + 1e-9:
            raise ValueError("fault rates are shares between 0 and 1 and may sum to at most 1")
        if self.commit_fail_mode not in ("500", "drop"):
            raise ValueError("commit_fail_mode is '500' or 'drop'")
        if self.latency < 0 or (self.times is not None and self.times < 1):
            raise ValueError("latency must be >= 0 and times >= 1")
        if self.route is not None:
            method, _, prefix = self.route.partition(" ")
            if not method.isupper() or not prefix.startswith("/"):
                raise ValueError(f"route {self.route!r} is not 'METHOD /v2/prefix'")

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule covers a request."""
        if self.route is None:
            return True
        want_method, _, prefix = self.route.partition(" ")
        prefix = prefix.rstrip("/")
        return method == want_method and (path == prefix or path.startswith(prefix + "/"))


@attrs.define
class _Rule:
    config: FaultConfig
    left: int | None


@attrs.frozen
class Decision:
    """What the server does to one request."""

    fault: Fault = Fault.NONE
    latency: float = 0.0
    retry_after: str = "1"


class Faults:
    """The fault rules of one server.

    Args:
        seed: seed of the generator every share is drawn from.
    """

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._rules: list[_Rule] = []

    def set(
        self,
        route: str | None = None,
        *,
        latency: float = 0.0,
        rate_429: float = 0.0,
        retry_after: str | int = "1",
        rate_503: float = 0.0,
        drop: float = 0.0,
        commit_then_fail: float = 0.0,
        commit_fail_mode: str = "500",
        times: int | None = None,
        commit_then_garble: float = 0.0,
    ) -> FaultConfig:
        """Add a rule (replacing any earlier rule for the same route); returns it.

        Raises:
            ValueError: a share outside 0..1, shares summing over 1, a bad route or mode.
        """
        config = FaultConfig(
            route,
            latency=latency,
            rate_429=rate_429,
            retry_after=retry_after,
            rate_503=rate_503,
            drop=drop,
            commit_then_fail=commit_then_fail,
            commit_fail_mode=commit_fail_mode,
            times=times,
            commit_then_garble=commit_then_garble,
        )
        self._rules = [r for r in self._rules if r.config.route != route]
        self._rules.append(_Rule(config, times))
        return config

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()

    @property
    def rules(self) -> list[FaultConfig]:
        """The rules still in force, oldest first."""
        return [r.config for r in self._rules]

    def decide(self, method: str, path: str) -> Decision:
        """Choose the fault for one request (and use up one of its rule's ``times``)."""
        for rule in reversed(self._rules):
            if rule.config.matches(method, path):
                break
        else:
            return Decision()
        if rule.left is not None:
            rule.left -= 1
            if rule.left <= 0:
                self._rules.remove(rule)
        c = rule.config
        draw = self._rng.random()
        fault = Fault.NONE
        edge = 0.0
        for share, kind in (
            (c.rate_429, Fault.RATE_LIMIT),
            (c.rate_503, Fault.UNAVAILABLE),
            (c.drop, Fault.DROP),
            (
                c.commit_then_fail,
                Fault.COMMIT_THEN_500 if c.commit_fail_mode == "500" else Fault.COMMIT_THEN_DROP,
            ),
            (c.commit_then_garble, Fault.COMMIT_THEN_GARBLE),
        ):
            edge += share
            if share and draw < edge:
                fault = kind
                break
        if fault in _COMMIT_FAULTS and method in _READS:
            fault = Fault.NONE
        return Decision(fault, c.latency, c.retry_after)


_COMMIT_FAULTS = frozenset(
    {Fault.COMMIT_THEN_500, Fault.COMMIT_THEN_DROP, Fault.COMMIT_THEN_GARBLE}
)
_FLOAT_SETTINGS = frozenset(
    {"latency", "rate_429", "rate_503", "drop", "commit_then_fail", "commit_then_garble"}
)
_TEXT_SETTINGS = frozenset({"retry_after", "commit_fail_mode"})
_ROUTE = re.compile(r"([A-Z]+ /[^:]*):(.*)\Z", re.DOTALL)


def parse_fault_rule(text: str) -> FaultConfig:
    """Parse a rule written ``[METHOD /prefix:]key=value[,key=value...]`` (the
    ``dizions serve --fault`` syntax).

    Keys are :class:`FaultConfig`'s (``latency``, ``rate_429``, ``retry_after``,
    ``rate_503``, ``drop``, ``commit_then_fail``, ``commit_fail_mode``,
    ``commit_then_garble``, ``times``). A
    ``retry_after`` HTTP date may contain commas: a piece without ``=`` continues the
    value before it.

    Returns:
        The rule; pass its attributes to :meth:`Faults.set`.

    Raises:
        ValueError: an unknown key, a bad number, or a rule :class:`FaultConfig` refuses.

    Example::

        parse_fault_rule("PUT /v2/clients:commit_then_fail=0.1,drop=0.05,latency=0.01")
    """
    route: str | None = None
    settings = text.strip()
    if m := _ROUTE.match(settings):
        route, settings = m.group(1).strip(), m.group(2)
    pieces: list[str] = []
    for piece in settings.split(","):
        if "=" in piece or not pieces:
            pieces.append(piece)
        else:
            pieces[-1] += "," + piece
    values: dict[str, Any] = {}
    for piece in pieces:
        key, sep, value = piece.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ValueError(f"fault setting {piece.strip()!r} is not key=value")
        if key in _FLOAT_SETTINGS:
            try:
                values[key] = float(value)
            except ValueError:
                raise ValueError(f"fault setting {key} needs a number, got {value!r}") from None
        elif key == "times":
            if not value.isdigit():
                raise ValueError(f"fault setting times needs a whole number, got {value!r}")
            values[key] = int(value)
        elif key in _TEXT_SETTINGS:
            values[key] = value
        else:
            known = ", ".join(sorted({*_FLOAT_SETTINGS, *_TEXT_SETTINGS, "times"}))
            raise ValueError(f"unknown fault setting {key!r}; known: {known}")
    return FaultConfig(route, **values)
