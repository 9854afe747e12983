"""The exception tree: its shape as drawn in errors.py, and what the messages carry."""

from __future__ import annotations

import pytest

from dizions_async import errors
from dizions_async.errors import (
    APIError,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    DecodeError,
    DizionsError,
    NotFoundError,
    QueryError,
    RateLimitError,
    RequestTimeout,
    ResponseTooLarge,
    ServerError,
    TransportError,
    ValidationError,
    WrongEventLoopError,
)

# (class, its parents) exactly as the docstring of errors.py draws the tree.
TREE: list[tuple[type[Exception], tuple[type[BaseException], ...]]] = [
    (DizionsError, (Exception,)),
    (QueryError, (DizionsError, ValueError)),
    (ValidationError, (DizionsError, ValueError)),
    (ConfigurationError, (DizionsError, ValueError)),
    (ClientClosedError, (DizionsError, RuntimeError)),
    (WrongEventLoopError, (ClientClosedError,)),
    (DecodeError, (DizionsError,)),
    (ResponseTooLarge, (DecodeError,)),
    (TransportError, (DizionsError,)),
    (ConnectError, (TransportError,)),
    (RequestTimeout, (TransportError,)),
    (APIError, (DizionsError,)),
    (AuthenticationError, (APIError,)),
    (NotFoundError, (APIError,)),
    (RateLimitError, (APIError,)),
    (ServerError, (APIError,)),
]


@pytest.mark.parametrize(("cls", "parents"), TREE, ids=[c.__name__ for c, _ in TREE])
def test_each_error_has_the_parents_drawn_in_the_tree(
    cls: type[Exception], parents: tuple[type[BaseException], ...]
) -> None:
    assert cls.__bases__ == parents


def test_the_tree_lists_every_exported_error() -> None:
    assert set(errors.__all__) == {cls.__name__ for cls, _ in TREE}


@pytest.mark.parametrize(
    ("caller_error", "other"),
    [(QueryError, TransportError), (TransportError, APIError), (APIError, QueryError)],
)
def test_branches_of_the_tree_are_disjoint(
    caller_error: type[Exception], other: type[Exception]
) -> None:
    assert not issubclass(caller_error, other)
    assert not issubclass(other, caller_error)


def test_api_error_needs_only_status_and_message() -> None:
    error = APIError(400, "bad filter")
    assert str(error) == "400: bad filter"
    assert (error.method, error.url, error.retries, error.outcome_unknown) == ("", "", 0, False)


def test_api_error_message_holds_status_method_url_and_server_message() -> None:
    error = NotFoundError(404, "no such client", method="GET", url="/v2/clients/id/9")
    assert str(error) == "404 GET /v2/clients/id/9: no such client"
    assert (error.status, error.method, error.url, error.message) == (
        404,
        "GET",
        "/v2/clients/id/9",
        "no such client",
    )


def test_api_error_message_says_retries_and_unknown_outcome() -> None:
    error = ServerError(500, "", method="PUT", url="/v2/clients", retries=2, outcome_unknown=True)
    text = str(error)
    assert text.startswith("500 PUT /v2/clients: no message (after 2 retries)")
    assert "outcome unknown" in text
    assert error.outcome_unknown


def test_rate_limit_error_carries_retry_after() -> None:
    error = RateLimitError(429, "slow down", retry_after=2.5, method="GET", url="/v2/clients")
    assert error.retry_after == 2.5
    assert "429 GET /v2/clients: slow down" in str(error)
    assert RateLimitError(429, "slow down").retry_after is None


def test_transport_error_keeps_its_message_and_context() -> None:
    error = RequestTimeout("read timed out", method="PUT", url="/v2/clients", outcome_unknown=True)
    assert str(error) == "read timed out"
    assert (error.method, error.url, error.retries, error.outcome_unknown) == (
        "PUT",
        "/v2/clients",
        0,
        True,
    )
    assert not ConnectError("refused").outcome_unknown


def test_validation_error_names_its_field() -> None:
    error = ValidationError("surname is required", field="surname")
    assert error.field == "surname"
    assert ValidationError("bad body").field is None
