"""The servers benchmarks talk to, each in a process of its own so its CPU is not counted.

``static_server`` runs an aiohttp app a benchmark builds (canned answers such as
``client_record``: the cheapest server there is, so the client's costs show);
``dizions_serve`` runs ``dizions serve`` (the fake Dizions server) and reads its URL and
keys from the banner it prints. Both are context managers that wait until the server
answers and stop it on the way out.

Imported by the scripts beside it (``python benchmarks/NAME.py`` puts this folder first
on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
Keys = tuple[str, str, str]


def client_record(i: int) -> dict[str, Any]:
    """Client ``i`` as a static server answers it: eleven ordinary fields, ~210 bytes."""
    return {
        "id": i,
        "first_name": f"Name{i}",
        "surname": f"Surname{i}",
        "date_of_birth": "1970-01-01",
        "gender": i % 3,
        "ethnicity": i % 17,
        "religion": i % 9,
        "district": i % 12,
        "postcode": "AB1 2CD",
        "email": f"person{i}@example.org",
        "active": "Y",
    }


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on just now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_up(url: str, *, timeout: float = 30.0) -> None:
    """Return once a GET of ``url`` gets any HTTP answer (an error status counts).

    Raises:
        RuntimeError: no answer within ``timeout`` seconds.
    """
    # Imported here, not at the top: bench_stream's measuring children import this
    # module, and their peak RSS should not carry a client they never use.
    import urllib.error
    import urllib.request

    # No proxies: a loopback server must be reached directly, whatever the environment says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with opener.open(url, timeout=5) as resp:
                resp.read()
            return
        except urllib.error.HTTPError:
            return  # it answered, if only to refuse (the fake server wants keys)
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"benchmark server did not answer {url} within {timeout:.0f}s")


def _run_app(port: int, build: Callable[..., web.Application], args: tuple[Any, ...]) -> None:
    web.run_app(build(*args), host=HOST, port=port, access_log=None, print=None)


@contextlib.contextmanager
def static_server(
    build: Callable[..., web.Application], *args: Any, probe: str = "/v2/clients"
) -> Iterator[str]:
    """Serve ``build(*args)`` in a child process; yield its base URL once ``probe`` answers.

    ``build`` runs in the child, so large canned bodies are made there, not copied over.
    """
    port = free_port()
    server = multiprocessing.Process(target=_run_app, args=(port, build, args), daemon=True)
    server.start()
    base = f"http://{HOST}:{port}"
    try:
        wait_up(base + probe)
        yield base
    finally:
        server.terminate()
        server.join()


@contextlib.contextmanager
def dizions_serve(*args: str) -> Iterator[tuple[str, Keys]]:
    """Run ``dizions serve --port 0 ARGS`` from this checkout; yield its URL and keys."""
    cmd = [sys.executable, "-m", "dizions_async.cli", "serve", "--port", "0", *args]
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        # "Fake Dizions server at URL", then "  Source: KEY", "  Org: KEY", "  User: KEY"
        banner = [server.stdout.readline() for _ in range(4)]
        if not all(banner):
            raise RuntimeError(f"dizions serve did not start: {banner!r}")
        url = banner[0].split()[-1]
        source, org, user = (line.split(":", 1)[1].strip() for line in banner[1:4])
        wait_up(url + "/v2/clients")
        yield url, (source, org, user)
    finally:
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
