"""``FakeDizions``: one running fake server on loopback, as an async context manager."""

from __future__ import annotations

import hashlib
import shutil
import socket
import ssl
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from dizions_async.catalogue import WRITE_VERBS
from dizions_async.client import Client
from dizions_async.testing._faults import Faults
from dizions_async.testing._server import Keys, LoggedRequest, ServerState, make_app
from dizions_async.testing._store import Store

__all__ = ["FakeDizions", "keys_from_seed"]


def keys_from_seed(seed: int) -> Keys:
    """Deterministic test keys for a seed (fake-server keys, not secrets of any real system)."""

    def key(name: str) -> str:
        return hashlib.sha256(f"dizions-fake:{seed}:{name}".encode()).hexdigest()[:32]

    return Keys(key("source"), key("org"), key("user"))


class FakeDizions:
    """A stateful fake Dizions API server on ``127.0.0.1``.

    Args:
        clients: how many synthetic clients to seed (other sizes scale from it).
        seed: seed of the synthetic data, the keys and the fault draws.
        keys: fixed keys to accept instead of keys derived from the seed.
        db_path: an SQLite file to keep data in (reused, not reseeded, when it exists);
            None for an in-memory database.
        upload_dir: where uploads are written; None for a temporary folder removed on exit.
        host: the interface to listen on.
        port: the port; 0 picks a free one.
        write_verbs: the write-verb convention(s) accepted: ``"seed"`` (PUT creates, POST
            updates), ``"wiki"`` (POST creates, PUT updates, contact edits at
            ``/{resource}/{ID}``) or ``"both"``. The other convention's verb is answered
            405 (nothing done).
        branches: the organisation uses branches, so a referral create needs ``branch``.
        ssl_context: serve HTTPS with this server-side context (e.g. from ``trustme``);
            :attr:`url` then starts with ``https://``.

    Example::

        async with FakeDizions(clients=200, seed=1) as fake:
            async with aiohttp.ClientSession(headers=fake.headers) as s:
                await s.get(fake.url + "/v2/clients/religion/1;3")
    """

    def __init__(
        self,
        clients: int = 500,
        seed: int = 1,
        *,
        keys: Keys | tuple[str, str, str] | None = None,
        db_path: str | Path | None = None,
        upload_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        write_verbs: str = "both",
        branches: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if write_verbs not in ("seed", "wiki", "both"):
            raise ValueError(f"write_verbs must be 'seed', 'wiki' or 'both', got {write_verbs!r}")
        self.write_verbs = write_verbs
        self.branches = branches
        self.clients = clients
        self.seed = seed
        if keys is None:
            keys = keys_from_seed(seed)
        elif not isinstance(keys, Keys):
            keys = Keys(*keys)
        self.keys = keys
        self.faults = Faults(seed)
        self._db_path = db_path
        self._upload_arg = Path(upload_dir) if upload_dir is not None else None
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._runner: web.AppRunner | None = None
        self._state: ServerState | None = None
        self._temp_dir: Path | None = None
        self.url = ""

    @property
    def state(self) -> ServerState:
        if self._state is None:
            raise RuntimeError("the fake server is not running: use 'async with FakeDizions()'")
        return self._state

    @property
    def store(self) -> Store:
        """Direct read access to the server's data, for assertions."""
        return self.state.store

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request handled so far, in order (keys masked)."""
        return self.state.requests

    @property
    def peak_in_flight(self) -> int:
        """The most requests that were being handled at once."""
        return self.state.peak_in_flight

    @property
    def headers(self) -> dict[str, str]:
        """The ``Source``, ``Org`` and ``User`` headers the server accepts."""
        return self.keys.headers

    def client(self, **options: Any) -> Client:
        """A :class:`~dizions_async.Client` for this server: its URL and keys, plus ``options``.

        Example::

            async with FakeDizions() as fake, fake.client(max_concurrency=4) as dz:
                rows = await dz.fetch(Query("clients"))
        """
        keys = self.keys
        return Client(keys.source, keys.org, keys.user, base_url=self.url, **options)

    @property
    def upload_dir(self) -> Path:
        """Where uploaded files are stored."""
        return self.state.upload_dir

    async def start(self) -> None:
        """Seed (or open) the store and start listening; sets :attr:`url`."""
        if self._upload_arg is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="dizions-fake-uploads-"))
        upload_dir = self._upload_arg or self._temp_dir
        assert upload_dir is not None
        store = Store(self._db_path, clients=self.clients, seed=self.seed)
        accepted = WRITE_VERBS if self.write_verbs == "both" else (self.write_verbs,)
        self._state = ServerState(
            store,
            self.keys,
            self.faults,
            upload_dir,
            write_verbs=frozenset(v for v in WRITE_VERBS if v in accepted),
            branches=self.branches,
        )
        self._runner = web.AppRunner(make_app(self._state), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl_context)
        try:
            await site.start()
        except BaseException:
            await self.stop()  # e.g. the port is in use: leave nothing open behind
            raise
        server = site._server
        assert server is not None
        sockets: list[socket.socket] = list(getattr(server, "sockets", []) or [])
        port = sockets[0].getsockname()[1] if sockets else self._port
        scheme = "http" if self._ssl_context is None else "https"
        self.url = f"{scheme}://{self._host}:{port}"

    async def stop(self) -> None:
        """Stop listening, close the store, and remove a temporary upload folder."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._state is not None:
            self._state.store.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    async def __aenter__(self) -> FakeDizions:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return (
            f"FakeDizions(url={self.url!r}, clients={self.clients}, seed={self.seed}, "
            f"write_verbs={self.write_verbs!r})"
        )
