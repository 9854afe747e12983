"""The pure wire layer: redaction, requests, decoding and error mapping."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict
from yarl import URL

from dizions_async.errors import (
    APIError,
    AuthenticationError,
    DecodeError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from dizions_async.protocol import (
    Request,
    Response,
    auth_headers,
    decode_created_id,
    decode_dictionary,
    decode_names,
    decode_records,
    decode_report,
    error_for_status,
    raise_for_status,
    redact,
)
from dizions_async.results import DictionaryEntry

HEADERS = auth_headers("SRC-secret", "ORG-secret", "USR-secret")


def get(path: str, *, idempotent: bool | None = None, method: str = "GET") -> Request:
    return Request.build(
        method, URL("https://api.example" + path, encoded=True), HEADERS, idempotent=idempotent
    )


def response(status: int, body: bytes, **headers: str) -> Response:
    return Response(status, CIMultiDict(headers), body)


REDACTIONS = [
    ("/v2/clients", "/v2/clients"),
    ("/v2/clients/nhs_number/4857773456", "/v2/clients/nhs_number/***"),
    ("/v2/clients/religion/1;3;10/ethnicity/1", "/v2/clients/religion/***/ethnicity/***"),
    ("/v2/referrals/id/510", "/v2/referrals/id/510"),
    (
        "/v2/clients/postcode/AB1%202CD/dimension/district/metric/gender",
        "/v2/clients/postcode/***/dimension/district/metric/gender",
    ),
    ("/v2/clients/field/id;surname", "/v2/clients/field/id;surname"),
    (
        "/v2/extension_database/notes_9/referral/2289",
        "/v2/extension_database/notes_9/referral/***",
    ),
    ("/v2/clients/selectable_fields", "/v2/clients/selectable_fields"),
    ("/v2/dictionary/organisations/district", "/v2/dictionary/organisations/district"),
    (
        "/v2/dictionary/search/referrals/project/Smith",
        "/v2/dictionary/search/referrals/project/***",
    ),
    ("/v2/clients/external_id/EXT-99", "/v2/clients/external_id/***"),
    ("/v2/clients/id/7/uploads", "/v2/clients/id/7/uploads"),
    ("/v2/clients/gender/1?resolveIds[]=gender", "/v2/clients/gender/***"),
]


@pytest.mark.parametrize(("path", "expected"), REDACTIONS)
def test_redact_masks_filter_values_and_keeps_structure(path: str, expected: str) -> None:
    assert redact(path) == expected


def test_request_label_is_redacted_and_repr_hides_keys_and_values() -> None:
    request = get("/v2/clients/nhs_number/4857773456")
    assert request.label == "GET /v2/clients/nhs_number/***"
    text = repr(request)
    assert "secret" not in text and "4857773456" not in text


def test_reads_are_idempotent_and_writes_are_not_by_default() -> None:
    assert get("/v2/clients").idempotent is True
    assert get("/v2/clients", method="PUT").idempotent is False


def test_body_content_type_is_added_to_headers() -> None:
    request = Request.build(
        "PUT",
        URL("https://x/v2/clients"),
        HEADERS,
        body=b"a=1",
        content_type="application/x-www-form-urlencoded",
    )
    assert ("Content-Type", "application/x-www-form-urlencoded") in request.headers
    assert request.idempotent is False


def test_decode_records_returns_list_of_dicts() -> None:
    assert decode_records(get("/v2/clients"), response(200, b'[{"id": 1}]')) == [{"id": 1}]


@pytest.mark.parametrize("body", [b'{"id": 1}', b"[1, 2]", b"not json", b""])
def test_decode_records_refuses_other_shapes(body: bytes) -> None:
    with pytest.raises(DecodeError, match="GET /v2/clients"):
        decode_records(get("/v2/clients"), response(200, body))


def test_decode_report_with_and_without_metric() -> None:
    plain = decode_report(get("/v2/x"), response(200, b'{"Leeds": 3, "York": 2}'), metric=False)
    assert dict(plain) == {"Leeds": 3, "York": 2} and plain.total == 5
    nested = decode_report(get("/v2/x"), response(200, b'{"Leeds": {"1": 2, "2": 1}}'), metric=True)
    assert nested["Leeds"]["2"] == 1
    assert nested.rows() == [("Leeds", "1", 2), ("Leeds", "2", 1)]
    assert nested.total == 3


def test_decode_report_refuses_wrong_nesting() -> None:
    with pytest.raises(DecodeError, match="malformed report"):
        decode_report(get("/v2/x"), response(200, b'{"Leeds": 3}'), metric=True)


def test_decode_names_and_dictionary_and_created_id() -> None:
    assert decode_names(get("/v2/x"), response(200, b'["id", "surname"]')) == ["id", "surname"]
    entries = decode_dictionary(get("/v2/x"), response(200, b'[{"id": 1, "name": "Leeds"}]'))
    assert entries == [DictionaryEntry(1, "Leeds")]
    assert decode_created_id(get("/v2/x", method="PUT"), response(201, b'{"id": 42}')) == 42
    with pytest.raises(DecodeError):
        decode_dictionary(get("/v2/x"), response(200, b'[{"name": "Leeds"}]'))


ERRORS = [
    (400, APIError),
    (401, AuthenticationError),
    (403, AuthenticationError),
    (404, NotFoundError),
    (429, RateLimitError),
    (500, ServerError),
    (503, ServerError),
]


@pytest.mark.parametrize(("status", "kind"), ERRORS)
def test_error_statuses_map_to_the_error_tree(status: int, kind: type[APIError]) -> None:
    request = get("/v2/clients/nhs_number/4857773456")
    with pytest.raises(kind) as caught:
        raise_for_status(request, response(status, b'{"error": "nope"}'), 2)
    error = caught.value
    assert type(error) is kind
    assert (error.status, error.method, error.url, error.message, error.retries) == (
        status,
        "GET",
        "/v2/clients/nhs_number/***",
        "nope",
        2,
    )
    assert "4857773456" not in str(error)


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("https://evil.example/v2/clients/nhs_number/999?x=1", "evil.example"),
        ("/v2/elsewhere/nhs_number/999", "api.example"),
        ("", None),
    ],
)
def test_a_redirect_is_an_error_naming_its_status_and_target_host_only(
    location: str, host: str | None
) -> None:
    request = get("/v2/clients/nhs_number/4857773456")
    headers = {"Location": location} if location else {}
    with pytest.raises(APIError) as caught:
        raise_for_status(request, Response(302, CIMultiDict(headers), b"moved"))
    text = str(caught.value)
    assert caught.value.status == 302 and text.startswith("302 GET")
    assert (f"to {host} not followed" if host else "without a readable Location") in text
    assert "999" not in text and "4857773456" not in text and "x=1" not in text


def test_success_statuses_do_not_raise() -> None:
    raise_for_status(get("/v2/clients"), response(200, b"[]"))
    raise_for_status(get("/v2/clients"), response(201, b"{}"))


def test_error_message_never_echoes_the_keys() -> None:
    body = b'{"error": "bad key SRC-secret for org ORG-secret"}'
    error = error_for_status(get("/v2/clients"), response(401, body))
    assert "secret" not in str(error) and "secret" not in error.message


def test_non_json_error_body_is_quoted_briefly() -> None:
    error = error_for_status(get("/v2/clients"), response(502, b"<html>Bad gateway</html>" * 50))
    assert error.message.startswith("<html>Bad gateway") and len(error.message) <= 200


@pytest.mark.parametrize(
    ("status", "method", "unknown"),
    [
        (500, "PUT", True),
        (502, "POST", True),
        (504, "PUT", True),
        (503, "PUT", False),
        (500, "GET", False),
    ],
)
def test_write_5xx_other_than_503_has_unknown_outcome(
    status: int, method: str, unknown: bool
) -> None:
    error = error_for_status(get("/v2/clients", method=method), response(status, b""))
    assert error.outcome_unknown is unknown


def test_rate_limit_error_carries_retry_after() -> None:
    error = error_for_status(get("/v2/clients"), response(429, b""), retry_after=300.0)
    assert isinstance(error, RateLimitError) and error.retry_after == 300.0
