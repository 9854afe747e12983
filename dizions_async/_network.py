"""Where a client's connections go and how their certificates are checked: proxy and TLS.

Pure except for reading a CA bundle: the proxy comes from ``Client(proxy=...)`` or, when
``trust_env`` is on, from the environment mapping it is given, read as requests and httpx
read it (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``, lower case first, ``NO_PROXY``
with host names, domain suffixes, ``host:port``, ``*`` or IP networks);
the TLS setting from ``ssl=``/``ca_file=``. A client talks to one host, so both are decided
once, when the client is made, never per request. Proxy credentials live only in
:class:`Proxy`, whose repr and :attr:`Proxy.display` mask them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl as _ssl
from collections.abc import Mapping
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

import attrs
from yarl import URL

from dizions_async.errors import ConfigurationError

__all__ = ["Proxy", "TlsSetting", "choose_proxy", "tls_setting", "verification_off"]

#: What the transport is given for TLS: True (verify with the default trust store),
#: False (no verification), or a context of the caller's (or one built from ca_file).
TlsSetting = bool | _ssl.SSLContext


@attrs.frozen(repr=False)
class Proxy:
    """A forward proxy: its URL without credentials, and the credentials apart."""

    url: URL
    login: str | None = None
    password: str | None = None

    @property
    def display(self) -> str:
        """The proxy's URL for messages: credentials masked."""
        if self.login is None:
            return str(self.url)
        return str(self.url).replace("://", "://***@", 1)

    def __repr__(self) -> str:
        return f"Proxy({self.display!r})"


def _parse_proxy(raw: str | URL, where: str) -> Proxy:
    # Messages name where the URL came from, never the URL: it may hold a password.
    try:
        url = raw if isinstance(raw, URL) else URL(raw.strip())
    except (TypeError, ValueError):
        raise ConfigurationError(f"the proxy URL{where} is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"the proxy URL{where} must be an absolute http:// or https:// URL"
        )
    bare = url.with_user(None).with_path("").with_query(None).with_fragment(None)
    return Proxy(bare, url.user, url.password if url.user is not None else None)


def _env(env: Mapping[str, str], name: str) -> str:
    # Lower case first, as urllib, requests and httpx do. Under CGI, HTTP_PROXY can be set
    # by a client's "Proxy:" header (httpoxy), so only http_proxy counts there.
    value = env.get(name, "")
    if not value and not (name == "http_proxy" and "REQUEST_METHOD" in env):
        value = env.get(name.upper(), "")
    return value.strip()


def choose_proxy(
    base_url: URL, proxy: str | URL | None, *, trust_env: bool, env: Mapping[str, str]
) -> Proxy | None:
    """The proxy for requests to ``base_url``, or None to connect directly.

    An explicit ``proxy`` wins. Otherwise, with ``trust_env``, ``https_proxy`` (for an
    https base URL) or ``http_proxy``, else ``all_proxy``, unless ``no_proxy`` covers the
    host (a comma-separated list of hosts, domain suffixes, ``host:port``, IP networks
    such as ``10.0.0.0/8``, or ``*``).

    Raises:
        ConfigurationError: the proxy URL is not an absolute http(s) URL (the message
            never quotes it).
    """
    if proxy is not None:
        return _parse_proxy(proxy, "")
    if not trust_env:
        return None
    scheme = base_url.scheme
    name = f"{scheme}_proxy"
    raw = _env(env, name)
    if not raw:
        name, raw = "all_proxy", _env(env, "all_proxy")
    if not raw:
        return None
    no_proxy = _env(env, "no_proxy")
    if no_proxy and _bypassed(base_url, no_proxy):
        return None
    return _parse_proxy(raw, f" in {name.upper()}")


def _bypassed(base_url: URL, no_proxy: str) -> bool:
    """Whether ``no_proxy`` covers the host: urllib's matching (names, suffixes, ``*``,
    ``host:port``), plus IP networks such as ``10.0.0.0/8``, as requests allows."""
    host = base_url.host or ""
    if proxy_bypass_environment(f"{host}:{base_url.port}", {"no": no_proxy}):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    for entry in no_proxy.split(","):
        with contextlib.suppress(ValueError):
            if "/" in entry and address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
    return False


def tls_setting(ssl: TlsSetting | None, ca_file: str | os.PathLike[str] | None) -> TlsSetting:
    """The TLS setting for the transport from ``Client(ssl=..., ca_file=...)``.

    ``ca_file`` gives the default context (the system's trust store, which honours
    ``SSL_CERT_FILE``) plus that bundle, for a private CA.

    Raises:
        ConfigurationError: both are given, ``ssl`` is neither a context nor False, or
            the bundle cannot be read as PEM certificates.
    """
    if ca_file is not None:
        if ssl is not None:
            raise ConfigurationError("pass ssl= or ca_file=, not both")
        context = _ssl.create_default_context()
        try:
            context.load_verify_locations(cafile=os.fspath(ca_file))
        except (OSError, _ssl.SSLError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not PEM"
            raise ConfigurationError(
                f"the CA file {os.fspath(ca_file)!r} cannot be loaded ({why})"
            ) from None
        return context
    if ssl is None or ssl is True:
        return True
    if ssl is False or isinstance(ssl, _ssl.SSLContext):
        return ssl
    raise ConfigurationError("ssl must be an ssl.SSLContext or False")


def verification_off(setting: TlsSetting) -> bool:
    """Whether ``setting`` accepts any certificate (and so any server)."""
    if isinstance(setting, _ssl.SSLContext):
        return setting.verify_mode == _ssl.CERT_NONE
    return setting is False
