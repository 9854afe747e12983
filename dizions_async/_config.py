"""Client configuration: keys from arguments or the environment, the base URL, timeouts.

Pure: reads an environment mapping it is given and checks values; no I/O. The keys are
held in :class:`Keys`, each wrapped in a ``Secret`` whose repr never shows it, and the
environment is read through :class:`Environment`, whose repr never shows its values.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from yarl import URL

from dizions_async._redact import Secret
from dizions_async.catalogue import ENV_WRITE_VERBS, WRITE_VERBS, WriteVerbs
from dizions_async.errors import ConfigurationError

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_BASE_URL",
    "ENV_KEYS",
    "Environment",
    "Keys",
    "Timeouts",
    "check_base_url",
    "key_fingerprint",
    "resolve_keys",
    "resolve_write_verbs",
]

DEFAULT_BASE_URL = "https://api.dizions.co.uk"
ENV_BASE_URL = "DIZIONS_BASE_URL"
#: Argument name -> (environment variable, header name).
ENV_KEYS = {
    "source": ("DIZIONS_SOURCE", "Source"),
    "org": ("DIZIONS_ORG", "Org"),
    "user": ("DIZIONS_USER", "User"),
}


def _positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # `not value > 0` refuses NaN too; a bool is not a number of seconds.
    if value is not None and (
        not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0
    ):
        raise ConfigurationError(f"Timeouts.{attribute.name} must be a positive number or None")


@attrs.frozen
class Timeouts:
    """Time limits, in seconds; ``None`` means no limit.

    Args:
        connect: per attempt, to open a connection (not counting time queued in the SDK).
        read: per attempt, the longest wait for the response to start (from the
            attempt's start) and then between bytes of its body; a stalled read fails
            within a quarter more than this.
        total: per call, across every attempt and backoff; an attempt still running
            when it runs out is cut short (for a stream: until the response starts).
            Time spent queued for a concurrency slot does not count.
    """

    connect: float | None = attrs.field(default=10.0, validator=_positive)
    read: float | None = attrs.field(default=60.0, validator=_positive)
    total: float | None = attrs.field(default=300.0, validator=_positive)


@attrs.frozen(repr=False)
class Keys:
    """The Source, Org and User keys, each a :class:`Secret`; never shown in a repr."""

    source: Secret
    org: Secret
    user: Secret

    def __repr__(self) -> str:
        return "Keys(source=***, org=***, user=***)"


def key_fingerprint(key: str | Secret, salt: bytes) -> str:
    """A salted hash of a key (HMAC-SHA256, 128 bits in hex): tells two keys apart
    without storing either. A different ``salt`` per record keeps fingerprints from being
    compared across records.

    >>> key_fingerprint("k", b"salt") == key_fingerprint("k", b"salt") != key_fingerprint("k", b"x")
    True
    """
    text = key.reveal() if isinstance(key, Secret) else key
    return hmac.new(salt, str(text).encode(), hashlib.sha256).hexdigest()[:32]


#: Characters an HTTP header value cannot carry: C0 controls and DEL (tab included: a
#: key has none), and anything past Latin-1.
_UNSAFE = re.compile("[\x00-\x1f\x7f\u0100-\U0010ffff]")


class Environment(Mapping[str, str]):
    """A read-only view of an environment mapping whose ``repr`` hides every value.

    ``os.environ`` holds the keys (``DIZIONS_SOURCE``...): passed around as itself, it
    would be printed whole by a traceback that shows local variables.
    """

    __slots__ = ("_env",)

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env

    def __getitem__(self, name: str) -> str:
        return self._env[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)

    def __repr__(self) -> str:
        return f"<Environment of {len(self._env)} variables>"


def _key_problem(key: Secret, header: str) -> str | None:
    """What is wrong with one wrapped key, or None (the text stays inside this call)."""
    if not isinstance(key.reveal(), str):
        return f"the {header} key must be a string"
    if not key.reveal().strip():
        return "no {header} key: pass {name}=... to Client() or set {variable}"
    if _UNSAFE.search(key.reveal()):
        return (
            f"the {header} key holds a control character or a character outside "
            "Latin-1, which no HTTP header can carry; check how it was copied"
        )
    return None


def resolve_keys(
    source: str | Secret | None,
    org: str | Secret | None,
    user: str | Secret | None,
    env: Mapping[str, str],
) -> Keys:
    """The keys from the arguments, falling back to ``DIZIONS_SOURCE`` / ``_ORG`` / ``_USER``.

    Every key is wrapped in :class:`Secret` before anything else is done with it, so no
    frame of a traceback from here holds a raw key.

    Raises:
        ConfigurationError: a key is missing from both (the message names the argument
            and the environment variable), is not a string, or holds a C0 control
            character, DEL or a character outside Latin-1. Messages never show a key.
    """
    given = {"source": Secret(source), "org": Secret(org), "user": Secret(user)}
    found: dict[str, Secret] = {}
    for name, (variable, header) in ENV_KEYS.items():
        key = given[name] if given[name] else Secret(env.get(variable, ""))
        if isinstance(key.reveal(), str):
            key = Secret(key.reveal().strip())
        problem = _key_problem(key, header)
        if problem is not None:
            raise ConfigurationError(problem.format(header=header, name=name, variable=variable))
        found[name] = key
    return Keys(**found)


def _is_loopback(host: str) -> bool:
    # Only the exact name: "evil.localhost" resolves wherever a resolver says it does.
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(
    base_url: str | URL | None, env: Mapping[str, str], *, allow_insecure: bool
) -> URL:
    """The base URL (argument, else ``DIZIONS_BASE_URL``, else the default), checked.

    ``https`` always; ``http`` only to a loopback IP literal (127.0.0.0/8, ``::1``), the
    exact name ``localhost``, or with ``allow_insecure=True``, because the keys travel
    in headers.

    Raises:
        ConfigurationError: not an absolute http(s) URL; ``http`` to another host; a
            query string or fragment.
    """
    raw = base_url if base_url is not None else env.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    try:
        url = raw if isinstance(raw, URL) else URL(raw)
    except (TypeError, ValueError):
        raise ConfigurationError("base_url is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"base_url must be an absolute http(s) URL, got {str(url.with_query(None))!r}"
        )
    if url.query_string or url.fragment or url.user or url.password:
        raise ConfigurationError("base_url must not carry a query, fragment or credentials")
    if url.scheme == "http" and not allow_insecure and not _is_loopback(url.host):
        raise ConfigurationError(
            f"base_url {str(url)!r} is plain http to a non-loopback host; the keys would "
            "travel unencrypted. Use https, or pass allow_insecure=True"
        )
    # One trailing-slash-free form, so paths are appended by plain concatenation.
    return url.with_path(url.path.rstrip("/"))


def resolve_write_verbs(value: str | None, env: Mapping[str, str]) -> WriteVerbs:
    """The write-verb convention: the argument, else ``DIZIONS_WRITE_VERBS``, else ``seed``.

    Raises:
        ConfigurationError: anything but ``seed`` or ``wiki``; the message says what each
            means.
    """
    raw = value if value is not None else env.get(ENV_WRITE_VERBS, "").strip() or "seed"
    for verbs in WRITE_VERBS:
        if raw == verbs:
            return verbs
    raise ConfigurationError(
        f"write_verbs must be 'seed' (PUT creates, POST updates, as the API document) or "
        f"'wiki' (POST creates, PUT updates, as the wiki's entity pages); got {raw!r} "
        f"(argument or {ENV_WRITE_VERBS})"
    )
