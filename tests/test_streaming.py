"""Incremental decoding of record arrays from chunked bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dizions_async._streaming import BACKEND_NAME, record_batches
from dizions_async.errors import DecodeError, TransportError

LABEL = "GET /v2/clients"


async def chunked(body: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


async def decode(body: bytes, size: int = 7, chunk_size: int = 64 * 1024) -> list[object]:
    out: list[object] = []
    async for batch in record_batches(chunked(body, size), label=LABEL, chunk_size=chunk_size):
        assert batch  # batches are never empty
        out.extend(batch)
    return out


def test_the_c_backend_is_used() -> None:
    assert BACKEND_NAME == "yajl2_c"


RECORDS = st.lists(
    st.dictionaries(
        st.text(max_size=8),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**53), 2**53),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=20),
            st.lists(st.integers(-(2**62), 2**62), max_size=3),  # yajl: int64 only
        ),
        max_size=6,
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(records=RECORDS, size=st.integers(1, 64), pretty=st.booleans())
async def test_streamed_records_equal_a_whole_body_decode(
    records: list[dict[str, object]], size: int, pretty: bool
) -> None:
    body = orjson.dumps(records, option=orjson.OPT_INDENT_2 if pretty else 0)
    assert await decode(body, size) == orjson.loads(body)


async def test_batches_follow_chunk_boundaries_so_memory_stays_at_a_chunk() -> None:
    records = [{"id": i, "name": "x" * 50} for i in range(2000)]
    body = orjson.dumps(records)
    sizes: list[int] = []
    async for batch in record_batches(chunked(body, 4096), label=LABEL, chunk_size=4096):
        sizes.append(len(batch))
    assert sum(sizes) == 2000
    assert max(sizes) <= 4096 // 60 + 1  # never more records than one chunk holds


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   \n ", "empty"),
        (b'{"error": "x"}', "not a JSON array"),
        (b"[1, 2]", "holds a int, not a record"),
        (b'[{"id": 1}, {"id": ', "not valid JSON, or is cut short"),
        (b'[{"id": 1}, {"id": 2}', "not valid JSON, or is cut short"),
        (b'[{"id": 1} {"nhs": "9434765919"}]', "not valid JSON"),
    ],
)
async def test_bad_bodies_are_decode_errors(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        await decode(body, 3)
    assert str(info.value).startswith(LABEL)
    assert "9434765919" not in str(info.value)  # no record data in messages


async def test_a_network_failure_mid_body_propagates_unchanged() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b'[{"id": 1}, {"id": 2},'
        raise TransportError("GET /v2/clients: the response body was cut short")

    got: list[object] = []
    with pytest.raises(TransportError, match="cut short") as info:
        async for batch in record_batches(broken(), label=LABEL):
            got.extend(batch)
    assert type(info.value) is TransportError  # not disguised as a DecodeError
    assert got in ([], [{"id": 1}], [{"id": 1}, {"id": 2}])


async def test_an_empty_array_yields_nothing() -> None:
    assert await decode(b" [ ] ") == []
