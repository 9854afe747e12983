"""Every exception the SDK raises, in one tree.

This module imports nothing else from the package, so any layer may use it::

    DizionsError                     base of everything below
    ├── QueryError (ValueError)      a query the caller built wrongly; raised before any I/O
    ├── ValidationError (ValueError) a write whose fields are wrong; raised before any I/O
    ├── ConfigurationError (ValueError)  missing keys, a refused base URL
    ├── ClientClosedError (RuntimeError) a request on a client that was closed
    │   └── WrongEventLoopError      ... or that belongs to another (or a closed) event loop
    ├── DecodeError                  a body that is not what the API promises
    │   └── ResponseTooLarge         a body over ``max_response_bytes`` (decoded)
    ├── TransportError               the network: nothing usable came back
    │   ├── ConnectError             could not connect; the request was never sent
    │   └── RequestTimeout           no complete answer in time
    └── APIError                     the server answered with an error status
        ├── AuthenticationError      401 / 403: wrong keys, or not allowed for this user
        ├── NotFoundError            404: unknown record or resource
        ├── RateLimitError           429: slow down; ``retry_after`` seconds
        └── ServerError              5xx: server trouble

Messages never hold the Source, Org or User keys. Values (filter and path values other
than IDs, external IDs, body values, file names, a server's echo of any of them) appear
in messages as ``***`` unless the caller opted in (``log_values=True`` or
``DIZIONS_LOG_VALUES=1``); the rule lives in ``dizions_async._redact``.

``outcome_unknown`` is True on an error raised by a write whose request may have reached
the server and been acted on (a 500 after sending, a read timeout, a dropped connection):
such a write is never resent automatically; the caller must check before trying again.
"""

from __future__ import annotations

__all__ = [
    "APIError",
    "AuthenticationError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectError",
    "DecodeError",
    "DizionsError",
    "NotFoundError",
    "QueryError",
    "RateLimitError",
    "RequestTimeout",
    "ResponseTooLarge",
    "ServerError",
    "TransportError",
    "ValidationError",
    "WrongEventLoopError",
]


class DizionsError(Exception):
    """Base class of every error the SDK raises."""

    #: True when a write may have been applied by the server although it failed here.
    outcome_unknown: bool = False
    #: For a failure in one piece of a split or batched pull: the (sub-)query that failed.
    query: object | None = None
    #: For a create by external ID whose outcome is unknown: that external ID, so code can
    #: read the client back (the message shows it masked unless values are opted in).
    external_id: str | None = None


class QueryError(DizionsError, ValueError):
    """A query that cannot be sent as built; the message names the offending part."""


class ValidationError(DizionsError, ValueError):
    """A create or update whose fields are wrong; ``field`` names the offending one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConfigurationError(DizionsError, ValueError):
    """The client cannot be set up as asked (a missing key, an insecure base URL)."""


class ClientClosedError(DizionsError, RuntimeError):
    """A request was made on a client that has been closed."""


class WrongEventLoopError(ClientClosedError):
    """A client used from an event loop other than the one it was opened on.

    A client's connections belong to one loop. Each ``asyncio.run()`` starts a new loop,
    so a client kept from one run to the next cannot be used in the second: create the
    client inside the coroutine that ``asyncio.run()`` runs (one per loop, or thread).
    """


class DecodeError(DizionsError):
    """A response body (or one record in it) is not what the API promises.

    After a write answered 2xx, ``outcome_unknown`` is True: the server acted, but what
    it did (the new record's id) cannot be read.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


class ResponseTooLarge(DecodeError):
    """A response body grew past the client's ``max_response_bytes`` while being read.

    The limit counts decoded bytes (after gzip or deflate), so a small compressed body
    that expands without end is refused too. The connection is closed, not reused.

    Attributes:
        limit: the limit that was crossed, in bytes.
        method: HTTP method of the request.
        url: the request URL with filter values masked.
    """

    def __init__(self, message: str, *, limit: int, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.limit = limit
        self.method = method
        self.url = url


class TransportError(DizionsError):
    """The request failed in the network, before a complete response arrived.

    Attributes:
        method: HTTP method of the request.
        url: the request URL with filter values masked.
        retries: how many times the request was retried before giving up.
        retryable: False when trying again at once cannot help (a host name that does
            not resolve): the client then gives up without retrying.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        retries: int = 0,
        outcome_unknown: bool = False,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.retries = retries
        self.outcome_unknown = outcome_unknown
        self.retryable = retryable


class ConnectError(TransportError):
    """The connection could not be made; the request certainly was not sent."""


class RequestTimeout(TransportError):
    """No complete response arrived within the timeout."""


class APIError(DizionsError):
    """The server answered with an error status.

    Attributes:
        status: the HTTP status code.
        method: HTTP method of the request.
        url: the request URL with filter values masked.
        message: the server's own error message (``{"error": "..."}``), if any.
        retries: how many times the request was retried before giving up.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str = "",
        url: str = "",
        retries: int = 0,
        outcome_unknown: bool = False,
    ) -> None:
        self.status = status
        self.message = message
        self.method = method
        self.url = url
        self.retries = retries
        self.outcome_unknown = outcome_unknown
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f" {self.method} {self.url}".rstrip() if self.method or self.url else ""
        text = f"{self.status}{where}: {self.message or 'no message'}"
        if self.retries:
            text += f" (after {self.retries} retries)"
        if self.outcome_unknown:
            text += " [outcome unknown: the server may have applied this write]"
        return text


class AuthenticationError(APIError):
    """401 or 403: the Source, Org or User key is wrong, or the user may not do this."""


class NotFoundError(APIError):
    """404: no such record or resource."""


class RateLimitError(APIError):
    """429: the server asked us to slow down for ``retry_after`` seconds."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: float | None = None,
        method: str = "",
        url: str = "",
        retries: int = 0,
        outcome_unknown: bool = False,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            status,
            message,
            method=method,
            url=url,
            retries=retries,
            outcome_unknown=outcome_unknown,
        )


class ServerError(APIError):
    """5xx: the server failed."""
