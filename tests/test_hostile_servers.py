"""A client against hostile servers: every answer ends in one of our errors, memory stays
bounded, and the client stays usable.

The server (``tests/hostile_server.py``) runs in its own process on raw asyncio sockets;
each client run is its own process (``tests/hostile_client.py``) under an address-space
cap, so a regression ends in a MemoryError there, never in this machine running out of
memory. Peak RSS comes from the client process itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
PEAK_RSS = 300 * 1024 * 1024
LIMIT = 32 * 1024 * 1024  # a max_response_bytes small enough to reach quickly


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, str(HERE / "hostile_server.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        yield f"http://127.0.0.1:{server.stdout.readline().strip()}"
    finally:
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


def run_client(
    base_url: str, mode: str, op: str, *limit: int, peak_rss: int = PEAK_RSS
) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / "hostile_client.py"), base_url, mode, op, *map(str, limit)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert out["peak_rss"] < peak_rss, out
    assert out["usable_after"], out
    return out


CASES = [
    # mode, op, the error that must come out, what its message says
    ("endless_array", "fetch", "ResponseTooLarge", "max_response_bytes=33554432"),
    ("gzip_bomb", "fetch", "ResponseTooLarge", "(decoded)"),
    ("endless_500", "fetch", "ServerError", "500 GET"),
    ("endless_500", "stream", "ServerError", "500 GET"),
    ("endless_string", "stream", "DecodeError", "max_record_bytes"),
    ("endless_500", "create", "ServerError", "500 PUT"),
    ("endless_500", "upload", "ServerError", "500 POST"),
    ("deep", "stream", "DecodeError", "deeper than 1024 levels"),
    ("deep", "stream_many", "DecodeError", "deeper than 1024 levels"),
    ("deep", "fetch", "DecodeError", "deeper than 1024 levels"),
    ("stall", "stream", "RequestTimeout", "within the read timeout"),
    ("stall", "fetch", "RequestTimeout", "timeout"),
    ("redirect", "fetch", "APIError", "to evil.example not followed"),
]


@pytest.mark.parametrize(("mode", "op", "error", "says"), CASES)
def test_a_hostile_answer_ends_in_our_error_with_memory_bounded(
    hostile: str, mode: str, op: str, error: str, says: str
) -> None:
    out = run_client(hostile, mode, op, LIMIT)
    assert (out["error"], out["ours"]) == (error, True), out
    assert says in out["message"]


def test_a_trickling_stream_is_bounded_from_outside_and_the_client_stays_usable(
    hostile: str,
) -> None:
    # Each byte arrives within the read timeout, so only a bound on the whole stream ends
    # it; the client must be clean after that cancellation.
    out = run_client(hostile, "trickle", "stream_bounded")
    assert (out["error"], out["ours"]) == ("TimeoutError", False), out


@pytest.mark.slow
def test_an_endless_array_is_read_whole_only_up_to_the_default_limit(hostile: str) -> None:
    # The body is held up to the limit, so memory peaks near it (plus the interpreter).
    out = run_client(hostile, "endless_array", "fetch", peak_rss=256 * 1024 * 1024 + PEAK_RSS // 3)
    assert out["error"] == "ResponseTooLarge" and "max_response_bytes=268435456" in out["message"]


@pytest.mark.slow
def test_an_endless_array_streams_in_flat_memory(hostile: str) -> None:
    out = run_client(hostile, "endless_array", "stream_some")
    assert out["error"] is None and out["records"] * 130 > 200 * 1024 * 1024
