"""Incremental decoding of record arrays from chunked bodies."""

from __future__ import annotations

import json
import sys
import unittest.mock
from collections.abc import AsyncIterator

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dizions_async import _streaming
from dizions_async._streaming import BACKEND_NAME, record_batches
from dizions_async.errors import DecodeError, TransportError
from dizions_async.protocol import MAX_DEPTH, MAX_RECORD_BYTES

LABEL = "GET /v2/clients"


async def chunked(body: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


async def decode(
    body: bytes,
    size: int = 7,
    chunk_size: int = 64 * 1024,
    fast_path_limit: int = 1 << 20,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> list[object]:
    out: list[object] = []
    async for batch in record_batches(
        chunked(body, size),
        label=LABEL,
        chunk_size=chunk_size,
        fast_path_limit=fast_path_limit,
        max_record_bytes=max_record_bytes,
    ):
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
            st.sampled_from(["}", "},{", '"}', "\\}", "]", "[{", "}]"]),  # cut bait
            st.lists(st.integers(-(2**62), 2**62), max_size=3),  # yajl: int64 only
            st.dictionaries(st.text(max_size=3), st.integers(0, 9), max_size=2),  # nested
        ),
        max_size=6,
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    records=RECORDS,
    size=st.integers(1, 64),
    pretty=st.booleans(),
    # 0: ijson only; small: ijson takes over part-way; large: the orjson fast path only
    limit=st.sampled_from([0, 1, 40, 200, 1 << 20]),
)
async def test_streamed_records_equal_a_whole_body_decode(
    records: list[dict[str, object]], size: int, pretty: bool, limit: int
) -> None:
    body = orjson.dumps(records, option=orjson.OPT_INDENT_2 if pretty else 0)
    assert await decode(body, size, fast_path_limit=limit) == orjson.loads(body)


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
        (b'[{"id": 1},]', "not valid JSON"),
        (b'[{"id": 1}] {"nhs": "9434765919"}', "not valid JSON"),
        (b'[{"id": 1}, 7, {"id": 2}]', "holds a int, not a record"),
        (b"[", "not valid JSON, or is cut short"),
    ],
)
@pytest.mark.parametrize("limit", [0, 1 << 20])
async def test_bad_bodies_are_decode_errors(body: bytes, message: str, limit: int) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        await decode(body, 3, fast_path_limit=limit)
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


@pytest.mark.parametrize("limit", [0, 1 << 20])
async def test_an_empty_array_yields_nothing(limit: int) -> None:
    assert await decode(b" [ ] ", fast_path_limit=limit) == []


async def test_a_record_too_big_for_the_fast_path_goes_to_ijson_intact() -> None:
    records = [{"id": 1, "notes": "}" * 5000}, {"id": 2, "nested": {"a": {"b": "},{"}}}]
    body = orjson.dumps(records * 20)
    assert await decode(body, 1000, fast_path_limit=3000) == records * 20


# Numbers as a server other than orjson may write them: integers of any size (orjson, and
# so fetch, reads those past 64 bits as floats), and floats at both ends of their range.
NUMBERS = st.one_of(
    st.integers(),
    st.integers(2**63 - 2, 2**64 + 2),
    st.integers(-(2**63) - 2, -(2**63) + 2),
    st.floats(allow_nan=False, allow_infinity=False),
)
WIDE_RECORDS = st.lists(
    st.dictionaries(
        st.sampled_from(["id", "n", "s", "xs", "o"]),
        st.one_of(
            NUMBERS,
            st.text(max_size=6),
            st.sampled_from(['\\"', "\\", '\\"}', "\\\\", '"],[{"', "é€😀", "\n\t\x00", "😀" * 9]),
            st.lists(NUMBERS, max_size=3),
            st.dictionaries(st.text(max_size=2), NUMBERS, max_size=2),
        ),
        max_size=5,
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    records=WIDE_RECORDS,
    size=st.integers(1, 48),
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),  # "\\ud83d\\ude00" escapes, split anywhere, or raw UTF-8
    limit=st.sampled_from([0, 1, 40, 1 << 20]),
)
async def test_numbers_beyond_64_bits_decode_as_a_whole_body_decode_does(
    records: list[dict[str, object]],
    size: int,
    indent: int | None,
    ascii_only: bool,
    limit: int,
) -> None:
    body = json.dumps(records, indent=indent, ensure_ascii=ascii_only).encode()
    assert await decode(body, size, fast_path_limit=limit) == orjson.loads(body)


@pytest.mark.parametrize("limit", [0, 1 << 20])
async def test_a_number_too_large_for_a_float_is_a_decode_error(limit: int) -> None:
    for body in (b'[{"n": 1e400}]', b'[{"n": -' + b"9" * 400 + b"}]"):
        with pytest.raises(DecodeError, match=r"^GET /v2/clients"):
            await decode(body, 5, fast_path_limit=limit)


@pytest.mark.parametrize("limit", [0, 1 << 20])
async def test_an_encoded_surrogate_in_a_string_is_a_decode_error(limit: int) -> None:
    # yajl accepts the bytes of a UTF-16 surrogate; Python's UTF-8 decoder does not.
    body = b'[{"id": 1}, {"name": "\xed\xa0\x80"}]'
    with pytest.raises(DecodeError, match="not valid JSON"):
        await decode(body, 4, fast_path_limit=limit)


@pytest.mark.parametrize("limit", [0, 1, 1 << 20])
async def test_empty_chunks_mid_body_are_not_the_end_of_it(limit: int) -> None:
    body = orjson.dumps([{"id": i, "s": "x,}]" * i} for i in range(20)])

    async def with_gaps() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 9):
            yield b""
            yield body[i : i + 9]
        yield b""

    out: list[object] = []
    async for batch in record_batches(with_gaps(), label=LABEL, fast_path_limit=limit):
        out.extend(batch)
    assert out == orjson.loads(body)


@pytest.mark.parametrize("size", [1, 7, 1 << 16])
@pytest.mark.parametrize("limit", [0, 1 << 20])
async def test_an_integer_longer_than_int_takes_is_a_decode_error_not_a_crash(
    size: int, limit: int
) -> None:
    # ijson's C backend, reading exact numbers, crashes the process on such an integer.
    digits = b"9" * (sys.get_int_max_str_digits() + 1)
    for body in (b'[{"n": ' + digits + b"}]", b'[{"id": 1}, {"n": -' + digits + b"}]"):
        with pytest.raises(DecodeError, match="digits"):
            await decode(body, size, fast_path_limit=limit)


def nested(depth: int) -> bytes:
    """An array holding one record whose value nests so the body is ``depth`` deep."""
    inner = depth - 2  # the outer array and the record
    return b'[{"a": ' + b"[" * inner + b"]" * inner + b"}]"


def flat(value: object) -> tuple[int, list[object]]:
    """The depth of ``value`` and its leaves in order, found without recursion (Python's
    own ``==`` on values nested 1,000 deep raises RecursionError)."""
    depth, leaves, todo = 0, [], [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, (list, dict)):
            depth = max(depth, level)
            children = list(item.values()) if isinstance(item, dict) else item
            todo.extend((child, level + 1) for child in reversed(children))
        else:
            leaves.append(item)
    return depth, leaves


@pytest.mark.parametrize("limit", [0, 1 << 20])
async def test_nesting_is_refused_past_the_depth_orjson_takes_on_every_path(limit: int) -> None:
    decoded = await decode(nested(MAX_DEPTH), 5, fast_path_limit=limit)
    assert flat(decoded) == flat(orjson.loads(nested(MAX_DEPTH))) == (MAX_DEPTH, [])
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(nested(MAX_DEPTH + 1))  # what fetch refuses
    for depth in (MAX_DEPTH + 1, 50_000):
        with pytest.raises(DecodeError, match=f"deeper than {MAX_DEPTH} levels"):
            await decode(nested(depth), 4096, fast_path_limit=limit)


@pytest.mark.parametrize("limit", [0, 1 << 20])
async def test_a_deep_record_with_big_numbers_decodes_without_recursion(limit: int) -> None:
    # Past orjson.dumps's depth, so the number walk runs: iteratively, not recursively.
    body = b'[{"a": ' + b"[" * 1000 + b"1.5, 99999999999999999999" + b"]" * 1000 + b"}]"
    assert flat(await decode(body, 64, fast_path_limit=limit)) == flat(orjson.loads(body))


@pytest.mark.parametrize("limit", [0, 40, 1 << 20])
async def test_a_record_over_max_record_bytes_is_refused_on_every_path(limit: int) -> None:
    # A record is refused within one chunk of the limit (here the fast path's 300 bytes).
    small, big = b'{"id": 1}', b'{"id": 2, "note": "' + b"x" * 1500 + b'"}'
    body = b"[" + small + b"," + big + b"," + small + b"]"
    assert len(await decode(body, 7, fast_path_limit=limit, max_record_bytes=1600)) == 3
    with pytest.raises(DecodeError, match="max_record_bytes=300"):
        await decode(body, 7, fast_path_limit=limit, max_record_bytes=300)
    endless = b'[{"id": 1, "note": "' + b"y" * 5000
    with pytest.raises(DecodeError, match="max_record_bytes=1000"):
        await decode(endless, 64, fast_path_limit=limit, max_record_bytes=1000)


@settings(max_examples=60)
@given(
    texts=st.lists(st.text(alphabet='[]{}"\\ab', max_size=12), min_size=1, max_size=6),
    size=st.integers(1, 9),
)
async def test_brackets_quotes_and_escapes_in_strings_never_count_as_nesting(
    texts: list[str], size: int
) -> None:
    # 3000 brackets inside strings, split at every chunk size: only real nesting counts.
    records = [{"t": text * 500, "n": [[text]]} for text in texts]
    body = orjson.dumps(records)
    assert await decode(body, size, fast_path_limit=0) == records


JSON_TEXT = st.text(alphabet='[]{}"\\\\ax,:', max_size=6)
JSON_VALUES = st.recursive(
    st.none() | st.integers(-(2**63), 2**63 - 1) | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_TEXT, inner, max_size=3),
    max_leaves=30,
)


@settings(max_examples=200)
@given(
    records=st.lists(st.dictionaries(JSON_TEXT, JSON_VALUES, max_size=3), max_size=4),
    size=st.integers(1, 40),
    limit=st.integers(1, 9),
)
async def test_the_depth_check_refuses_exactly_the_bodies_deeper_than_its_limit(
    records: list[dict[str, object]], size: int, limit: int
) -> None:
    # The same check as at MAX_DEPTH, at a small limit random bodies reach and pass:
    # brackets, quotes and backslashes in strings, split anywhere, never count.
    body = orjson.dumps(records)
    depth, _ = flat(records)
    with unittest.mock.patch.object(_streaming, "MAX_DEPTH", limit):
        if depth > limit:
            with pytest.raises(DecodeError, match=f"deeper than {limit} levels"):
                await decode(body, size, fast_path_limit=0)
        else:
            assert await decode(body, size, fast_path_limit=0) == records
