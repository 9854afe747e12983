"""The retry policy: pure arithmetic with injected time; nothing here waits."""

from __future__ import annotations

import email.utils

import pytest

from dizions_async.retry import Failure, RetryPolicy, parse_retry_after

NO_JITTER = RetryPolicy(jitter=False)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_reads_retry_on_transient_statuses(status: int) -> None:
    assert NO_JITTER.delay(idempotent=True, retries=0, status=status) == 0.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 414, 302])
def test_reads_do_not_retry_on_caller_errors(status: int) -> None:
    assert NO_JITTER.delay(idempotent=True, retries=0, status=status) is None


@pytest.mark.parametrize(
    ("status", "retried"),
    [(429, True), (503, True), (500, False), (502, False), (504, False), (408, False)],
)
def test_writes_retry_only_when_the_server_certainly_did_not_act(
    status: int, retried: bool
) -> None:
    delay = NO_JITTER.delay(idempotent=False, retries=0, status=status)
    assert (delay is not None) is retried


@pytest.mark.parametrize(
    ("idempotent", "failure", "retried"),
    [
        (True, Failure.NOT_SENT, True),
        (True, Failure.MAYBE_SENT, True),
        (False, Failure.NOT_SENT, True),
        (False, Failure.MAYBE_SENT, False),
    ],
)
def test_network_failures(idempotent: bool, failure: Failure, retried: bool) -> None:
    delay = NO_JITTER.delay(idempotent=idempotent, retries=0, failure=failure)
    assert (delay is not None) is retried


def test_backoff_doubles_from_base_and_caps() -> None:
    delays = [NO_JITTER.delay(idempotent=True, retries=n, status=503) for n in range(3)]
    assert delays == [0.5, 1.0, 2.0]
    policy = RetryPolicy(max_retries=10, jitter=False)
    assert [policy.backoff(n) for n in (4, 5, 9)] == [8.0, 8.0, 8.0]


def test_gives_up_after_max_retries() -> None:
    assert RetryPolicy(max_retries=2).delay(idempotent=True, retries=2, status=503) is None
    assert RetryPolicy(max_retries=0).delay(idempotent=True, retries=0, status=503) is None


def test_jitter_draws_from_the_upper_half_of_the_step() -> None:
    low = RetryPolicy(random=lambda: 0.0)
    high = RetryPolicy(random=lambda: 0.999999)
    assert low.backoff(2) == 1.0
    assert 1.99 < high.backoff(2) < 2.0


def test_retry_after_replaces_backoff_up_to_the_cap() -> None:
    assert NO_JITTER.delay(idempotent=True, retries=0, status=429, retry_after=7.0) == 7.0
    assert NO_JITTER.delay(idempotent=False, retries=0, status=503, retry_after=2.0) == 2.0
    assert NO_JITTER.delay(idempotent=True, retries=0, status=429, retry_after=120.0) == 120.0
    assert NO_JITTER.delay(idempotent=True, retries=0, status=429, retry_after=121.0) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("5", 5.0),
        ("0.25", 0.25),
        (" 3 ", 3.0),
        ("-4", 0.0),
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=1_000_000.0) == expected


def test_parse_retry_after_http_date_uses_the_injected_wall_clock() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert RetryPolicy(wall_clock=lambda: now).parse_retry_after(header) == 30.0


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
