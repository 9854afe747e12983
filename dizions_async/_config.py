"""Client configuration: keys from arguments or the environment, the base URL, timeouts.

Pure: reads an environment mapping it is given and checks values; no I/O. The keys are
held in :class:`Keys`, whose repr never shows them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from typing import Any

import attrs
from yarl import URL

from dizions_async.errors import ConfigurationError

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_BASE_URL",
    "ENV_KEYS",
    "Keys",
    "Timeouts",
    "check_base_url",
    "key_fingerprint",
    "resolve_keys",
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
    if value is not None and (not isinstance(value, (int, float)) or value <= 0):
        raise ConfigurationError(f"Timeouts.{attribute.name} must be a positive number or None")


@attrs.frozen
class Timeouts:
    """Time limits, in seconds; ``None`` means no limit.

    Args:
        connect: per attempt, to open a connection (not counting time queued in the SDK).
        read: per attempt, between bytes of the response.
        total: per call, across every attempt and backoff; an attempt still running
            when it runs out is cut short (for a stream: until the response starts).
            Time spent queued for a concurrency slot does not count.
    """

    connect: float | None = attrs.field(default=10.0, validator=_positive)
    read: float | None = attrs.field(default=60.0, validator=_positive)
    total: float | None = attrs.field(default=300.0, validator=_positive)


@attrs.frozen(repr=False)
class Keys:
    """The Source, Org and User keys; never shown in a repr."""

    source: str
    org: str
    user: str

    def __repr__(self) -> str:
        return "Keys(source=***, org=***, user=***)"


def key_fingerprint(key: str, salt: bytes) -> str:
    """A salted hash of a key (HMAC-SHA256, 128 bits in hex): tells two keys apart
    without storing either. A different ``salt`` per record keeps fingerprints from being
    compared across records.

    >>> key_fingerprint("k", b"salt") == key_fingerprint("k", b"salt") != key_fingerprint("k", b"x")
    True
    """
    return hmac.new(salt, key.encode(), hashlib.sha256).hexdigest()[:32]


def resolve_keys(
    source: str | None, org: str | None, user: str | None, env: Mapping[str, str]
) -> Keys:
    """The keys from the arguments, falling back to ``DIZIONS_SOURCE`` / ``_ORG`` / ``_USER``.

    Raises:
        ConfigurationError: a key is missing from both; the message names the argument
            and the environment variable (never a key's value).
    """
    given = {"source": source, "org": org, "user": user}
    found: dict[str, str] = {}
    for name, (variable, header) in ENV_KEYS.items():
        value = given[name] or env.get(variable, "")
        if not isinstance(value, str):
            raise ConfigurationError(f"the {header} key must be a string")
        value = value.strip()
        if not value:
            raise ConfigurationError(
                f"no {header} key: pass {name}=... to Client() or set {variable}"
            )
        if any(c in value for c in "\r\n\0"):
            raise ConfigurationError(f"the {header} key holds a line break or NUL character")
        found[name] = value
    return Keys(**found)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(
    base_url: str | URL | None, env: Mapping[str, str], *, allow_insecure: bool
) -> URL:
    """The base URL (argument, else ``DIZIONS_BASE_URL``, else the default), checked.

    ``https`` always; ``http`` only to a loopback host (127.0.0.0/8, ::1, localhost) or
    with ``allow_insecure=True``, because the keys travel in headers.

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
