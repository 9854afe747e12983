"""Retry policy: which failures are retried, and how long to wait first.

Pure arithmetic with time injected: :class:`RetryPolicy` carries the clock, wall clock,
sleep function and random source it uses, so tests swap them for fakes and never wait.
It never imports aiohttp; the client feeds it an outcome (a status code, or a
:class:`Failure`) and gets back a delay in seconds, or ``None`` to give up.

The rules:

* Reads (idempotent requests) are retried on connection errors, timeouts, dropped
  connections and on 408, 429, 500, 502, 503, 504.
* Writes are retried only when the server did not act: a connection that failed before
  the request was sent, and the statuses in ``write_retry_statuses`` (429 and 503 by
  default, on the **assumption** that the API answers them only before acting; behind a
  gateway a 503 can follow a commit, so take 503 out if yours does). A client create by
  external ID is read back before every resend instead of trusting the status.
* Backoff is exponential from ``backoff_base`` (0.5 s), capped at ``backoff_max`` (8 s),
  with "equal jitter" (a uniform draw from the upper half of the step).
* ``Retry-After`` (seconds or an HTTP date) replaces the backoff; beyond
  ``max_retry_after`` (120 s) the request is given up, so the caller sees a
  :class:`~dizions_async.errors.RateLimitError` carrying the wait.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import enum
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

__all__ = ["READ_RETRY_STATUSES", "WRITE_RETRY_STATUSES", "Failure", "RetryPolicy"]

#: Statuses after which a read is sent again.
READ_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Statuses assumed to mean the server did not act, so even a write may be sent again.
WRITE_RETRY_STATUSES = frozenset({429, 503})


def _statuses(value: object) -> frozenset[int]:
    if isinstance(value, int) or not isinstance(value, (set, frozenset, list, tuple)):
        raise TypeError(f"RetryPolicy.write_retry_statuses takes a set of statuses, got {value!r}")
    out = frozenset(value)
    if not all(isinstance(s, int) and 400 <= s < 600 for s in out):
        raise ValueError(f"RetryPolicy.write_retry_statuses must be 4xx/5xx statuses: {value!r}")
    return out


class Failure(enum.Enum):
    """A request that got no response, by whether it may have reached the server."""

    #: The connection failed before the request was sent: nothing was acted on.
    NOT_SENT = "not_sent"
    #: A timeout or dropped connection after sending began: the server may have acted.
    MAYBE_SENT = "maybe_sent"


def _check_non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must not be negative, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How a client retries failed requests.

    Args:
        max_retries: retries after the first attempt (so ``3`` means up to 4 attempts);
            ``0`` turns retrying off.
        backoff_base: the first backoff step, in seconds; each retry doubles it.
        backoff_max: the longest backoff step, in seconds.
        max_retry_after: the longest ``Retry-After`` honoured, in seconds; a longer one
            gives up with ``RateLimitError``.
        jitter: spread retries randomly over the upper half of each step.
        write_retry_statuses: statuses after which a write is sent again, because the
            server is assumed not to have acted (default 429 and 503: an assumption about
            the API, which no public source states). A 5xx left out of it makes a write's
            error ``outcome_unknown``. Client creates by external ID are read back
            before any resend whatever this says.
        clock: monotonic seconds (pauses and deadlines).
        wall_clock: epoch seconds (``Retry-After`` given as an HTTP date).
        sleep: awaited to wait.
        random: a uniform draw in ``[0, 1)``.

    Example::

        Client(retry=RetryPolicy(max_retries=5, backoff_max=30))
        Client(retry=RetryPolicy(max_retries=0))        # never retry
        Client(retry=RetryPolicy(write_retry_statuses={429}))  # a 503 may follow a commit
    """

    max_retries: int = attrs.field(default=3, validator=_check_non_negative)
    backoff_base: float = attrs.field(default=0.5, validator=_check_non_negative)
    backoff_max: float = attrs.field(default=8.0, validator=_check_non_negative)
    max_retry_after: float = attrs.field(default=120.0, validator=_check_non_negative)
    jitter: bool = True
    write_retry_statuses: frozenset[int] = attrs.field(
        default=WRITE_RETRY_STATUSES, converter=_statuses
    )
    clock: Callable[[], float] = attrs.field(
        default=time.monotonic, kw_only=True, eq=False, repr=False
    )
    wall_clock: Callable[[], float] = attrs.field(
        default=time.time, kw_only=True, eq=False, repr=False
    )
    sleep: Callable[[float], Awaitable[object]] = attrs.field(
        default=asyncio.sleep, kw_only=True, eq=False, repr=False
    )
    random: Callable[[], float] = attrs.field(
        default=random.random, kw_only=True, eq=False, repr=False
    )

    def retryable(
        self, *, idempotent: bool, status: int | None = None, failure: Failure | None = None
    ) -> bool:
        """Whether this outcome may be retried at all (ignoring the retry count)."""
        if failure is not None:
            return idempotent or failure is Failure.NOT_SENT
        if status is None:
            return False
        return status in (READ_RETRY_STATUSES if idempotent else self.write_retry_statuses)

    def backoff(self, retries: int) -> float:
        """The wait before retry number ``retries + 1`` when the server named none."""
        step = float(min(self.backoff_max, self.backoff_base * 2.0 ** min(retries, 62)))
        if self.jitter:
            return step / 2 + step / 2 * self.random()
        return step

    def delay(
        self,
        *,
        idempotent: bool,
        retries: int,
        status: int | None = None,
        failure: Failure | None = None,
        retry_after: float | None = None,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up.

        Args:
            idempotent: True for reads; writes are retried only when certainly not acted on.
            retries: how many retries have been made already.
            status: the response status, if a response came back.
            failure: why no response came back, otherwise.
            retry_after: the parsed ``Retry-After`` in seconds, if the server sent one.
        """
        if retries >= self.max_retries:
            return None
        if not self.retryable(idempotent=idempotent, status=status, failure=failure):
            return None
        if retry_after is not None and status in (429, 503):
            if retry_after > self.max_retry_after:
                return None
            return max(retry_after, 0.0)
        return self.backoff(retries)

    def parse_retry_after(self, value: str | None) -> float | None:
        """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent
        or unreadable. A date in the past gives ``0.0``."""
        return parse_retry_after(value, now=self.wall_clock())


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Parse a ``Retry-After`` header (RFC 9110: delta-seconds or an HTTP date).

    Args:
        value: the header, or None.
        now: the current time in epoch seconds, to turn a date into a wait.

    Returns:
        The wait in seconds (never negative), or None if absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN is unreadable
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(when.timestamp() - now, 0.0)
