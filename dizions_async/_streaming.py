"""Incremental decoding of a record array from a body that arrives in chunks.

This module owns turning an async iterator of byte chunks (a streamed response body) into
records without ever holding the whole body. Memory stays at about one chunk plus the
records not yet consumed, however big the response.

Two decoders, one result:

- The fast path cuts the buffered bytes after their last ``}`` and hands ``[`` + that
  run + ``]`` to orjson. A cut that is not the end of a top-level record (a ``}`` inside a
  string, or closing a nested object) always leaves an unterminated string or an
  unbalanced brace, so orjson refuses it and the cut is retried when more bytes arrive:
  a run orjson accepts is exactly a run of whole records.
- If no cut succeeds within :data:`FAST_PATH_LIMIT` bytes (records that end in odd
  places, or a broken body), the rest of the body goes to ijson's C backend
  (``yajl2_c``), an exact incremental parser, through its async reader interface
  (``items_async``, which runs the whole pipeline in C; its push coroutine
  ``items_coro`` measured 2.5 times slower).

Why both: ijson alone decodes at about half the speed of orjson on the same bytes, which
would put streaming at well under half the speed of a plain fetch; the fast path keeps it
close to fetch, and ijson keeps every body decodable in bounded memory.
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from itertools import accumulate
from typing import Any

import ijson  # type: ignore[import-untyped]
import orjson

from dizions_async._logging import logger
from dizions_async.errors import DecodeError, DizionsError
from dizions_async.protocol import MAX_DEPTH, MAX_RECORD_BYTES, checked_records

__all__ = ["BACKEND_NAME", "FAST_PATH_LIMIT", "record_batches"]


try:
    _BACKEND: Any = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - depends on how ijson was built
    # Pure-Python ijson still works, several times slower; say so once, at import.
    _BACKEND = ijson
    logger.info("ijson's C backend (yajl2_c) is unavailable; streaming uses %s", ijson.backend)

#: Which ijson backend decodes streams the fast path cannot (``"yajl2_c"`` normally).
BACKEND_NAME: str = getattr(_BACKEND, "backend_name", None) or str(ijson.backend)

#: Bytes buffered without a successful cut before the rest of a body goes to ijson.
FAST_PATH_LIMIT = 1 << 20

_WHITESPACE = b" \t\r\n"


def _not_array(label: str) -> DecodeError:
    return DecodeError(f"{label}: the response body is not a JSON array of records")


def _invalid(label: str) -> DecodeError:
    # Parsers quote the body near a fault: keep record data out of error messages.
    return DecodeError(f"{label}: the body is not valid JSON, or is cut short")


#: The integers orjson decodes as ``int``; it decodes any other integer as a ``float``.
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


def _orjson_numbers(value: Any, label: str) -> Any:
    """``value`` with ijson's exact numbers made what ``orjson.loads`` gives for them.

    ijson runs with exact numbers (``Decimal`` for non-integers, ``int`` of any size)
    because its float mode is yajl's, which refuses integers beyond 64 bits that orjson
    (and so ``fetch``) reads: an integer past orjson's range becomes a float, a Decimal a
    float (both correctly rounded, as orjson's parser is), and an infinite one an error.
    Containers are changed in place, walked with a list, not recursion: a record may be
    nested :data:`~dizions_async.protocol.MAX_DEPTH` deep, past Python's recursion limit.
    """
    box = [value]
    todo: list[Any] = [box]
    while todo:
        node = todo.pop()
        for key, item in node.items() if type(node) is dict else enumerate(node):
            kind = type(item)
            if kind is dict or kind is list:
                todo.append(item)
            elif kind is Decimal or (kind is int and not _INT_MIN <= item <= _INT_MAX):
                node[key] = _float(item, label)
    return box[0]


def _float(value: int | Decimal, label: str) -> float:
    try:
        number = float(value)
    except OverflowError:
        number = float("inf")
    if number in (float("inf"), float("-inf")):
        raise DecodeError(f"{label}: the body holds a number too large for a float")
    return number


def _plain(item: Any, label: str) -> Any:
    # A C-level probe: orjson serializes the item only if it holds no Decimal and no
    # integer beyond 64 bits, so the Python walk runs only for records that need it.
    try:
        orjson.dumps(item)
    except orjson.JSONEncodeError:
        return _orjson_numbers(item, label)
    return item


_DIGITS = b"0123456789"

#: A backslash and the character it escapes (in valid JSON, only inside strings).
_ESCAPE = re.compile(rb"\\.", re.S)
#: Every byte but the four brackets, for ``bytes.translate`` to delete.
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
#: Passes that remove whole bracket pairs before levels are followed one by one.
_PASSES = 8
#: The change of depth at each bracket, by byte value.
_STEP = tuple(1 if c in b"[{" else -1 if c in b"]}" else 0 for c in range(256))


class _Shape:
    """The nesting depth and the size of the current record of a JSON body, followed
    chunk by chunk from its brackets and strings without parsing it, so a body that
    would make ijson's memory grow (deep nesting: quadratic; an endless record or
    string: linear) is refused before ijson reads it.

    Escapes are dropped, the text is split at quotes (every other piece is inside a
    string), and the levels of the brackets outside strings followed: all in C (``re``,
    ``bytes.split``, ``bytes.translate``, ``bytes.replace``, ``itertools.accumulate``).
    A record's size is counted from the end of the last chunk in which the body was back
    at depth one (between the outer array's elements), so a record is refused within one
    chunk of passing ``max_record_bytes``.
    """

    __slots__ = ("_boundary", "_depth", "_escaped", "_in_string", "_label", "_max", "_offset")

    def __init__(self, label: str, max_record_bytes: int) -> None:
        self._label = label
        self._max = max_record_bytes
        self._depth = 0
        self._in_string = False
        self._escaped = False  # the chunk before ended in a lone backslash
        self._offset = 0  # bytes seen, this chunk included
        self._boundary = 0  # where the current record is taken to start

    def feed(self, data: bytes) -> None:
        """Follow ``data``, the next bytes of the body.

        Raises:
            DecodeError: nesting deeper than MAX_DEPTH, or a record past the size limit.
        """
        self._offset += len(data)
        if self._escaped and data:
            data, self._escaped = data[1:], False
        if b"\\" in data:
            data = _ESCAPE.sub(b"", data)  # an escaped quote or bracket is not structure
            if data.endswith(b"\\"):  # escapes the first byte of the next chunk
                data, self._escaped = data[:-1], True
        pieces = data.split(b'"')
        was_in_string = self._in_string
        if len(pieces) % 2 == 0:
            self._in_string = not was_in_string
        if was_in_string and len(pieces) == 1:  # still inside one string
            self._check_size(back_at_one=False)
            return
        brackets = b"".join(pieces[1 if was_in_string else 0 :: 2]).translate(None, _NOT_BRACKETS)
        # Removing whole pairs ("{}", "[]", then what they enclosed) leaves the lowest
        # level as it was and lowers the highest by at most one per replace (two per
        # pass): a few passes shrink a chunk of records to a few brackets, whose levels
        # are cheap to follow.
        short, passes = brackets, 0
        while passes < _PASSES:
            shorter = short.replace(b"{}", b"").replace(b"[]", b"")
            if len(shorter) == len(short):
                break
            short, passes = shorter, passes + 1
        levels = list(accumulate(map(_STEP.__getitem__, short), initial=self._depth))
        if max(levels) + 2 * passes > MAX_DEPTH:  # perhaps too deep: follow every bracket
            levels = list(accumulate(map(_STEP.__getitem__, brackets), initial=self._depth))
            if max(levels) > MAX_DEPTH:
                raise DecodeError(f"{self._label}: the body nests deeper than {MAX_DEPTH} levels")
        self._depth = levels[-1]
        self._check_size(back_at_one=min(levels) <= 1)

    def _check_size(self, *, back_at_one: bool) -> None:
        if back_at_one:
            self._boundary = self._offset
        elif self._offset - self._boundary > self._max:
            raise DecodeError(
                f"{self._label}: a record passed max_record_bytes={self._max}; "
                "raise it with Client(max_record_bytes=...) if such records are expected"
            )


class _Reader:
    """The ``async read(n)`` ijson wants: buffered bytes first, then the chunk iterator.

    It counts reads, so the caller can cut record batches at chunk boundaries. It refuses
    a body nested too deep or with a record too large (:class:`_Shape`), and a run of
    more digits than ``int()`` takes (``sys.get_int_max_str_digits()``):
    ijson's C backend, in exact-number mode, crashes the process on such an integer
    instead of raising. No such number decodes anyway (orjson refuses past ~309 digits);
    the rare string of that many digits is refused with it.
    """

    __slots__ = (
        "_chunks",
        "_digits",
        "_label",
        "_long_run",
        "_max_digits",
        "_pending",
        "_shape",
        "reads",
    )

    def __init__(
        self, head: bytes, chunks: AsyncIterator[bytes], label: str, max_record_bytes: int
    ) -> None:
        self._chunks = chunks
        self._shape = _Shape(label, max_record_bytes)
        self._pending = head
        self._label = label
        self.reads = 0
        # 0: no limit (and Python before 3.10.7, which has no such limit, nor the function)
        self._max_digits: int = getattr(sys, "get_int_max_str_digits", lambda: 0)()
        self._long_run = re.compile(b"[0-9]{%d}" % (self._max_digits + 1))
        self._digits = 0  # digits at the end of what was read so far

    async def read(self, n: int) -> bytes:
        if n == 0:  # ijson probes the type of read() with read(0)
            return b""
        self.reads += 1
        data = self._pending
        while not data:
            data = await anext(self._chunks, None)  # type: ignore[arg-type]
            if data is None:
                return b""  # the end of the body; an empty chunk is not
        if len(data) > n:
            self._pending = data[n:]
            data = data[:n]
        else:
            self._pending = b""
        if self._max_digits:
            self._check_digits(data)
        self._shape.feed(data)
        return data

    def _check_digits(self, data: bytes) -> None:
        tail = len(data) - len(data.rstrip(_DIGITS))
        if tail == len(data):  # all digits: the run goes on
            run = self._digits + tail
        else:
            run = self._digits + len(data) - len(data.lstrip(_DIGITS))
            if self._long_run.search(data):
                run = self._max_digits + 1
        if run > self._max_digits:
            raise DecodeError(
                f"{self._label}: the body holds a run of more than {self._max_digits} digits"
            )
        self._digits = run if tail == len(data) else tail


async def _ijson_batches(
    head: bytes,
    chunks: AsyncIterator[bytes],
    label: str,
    chunk_size: int,
    skip_first: bool,
    max_record_bytes: int,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Records of the array whose text is ``head`` followed by ``chunks``, via ijson.

    ``skip_first`` drops a placeholder element the caller put before a ``,``.
    """
    reader = _Reader(head, chunks, label, max_record_bytes)
    # Exact numbers: see _orjson_numbers.
    items = _BACKEND.items_async(reader, "item", buf_size=chunk_size, use_float=False)
    batch: list[dict[str, Any]] = []
    seen_reads = 0
    try:
        async for item in items:
            if skip_first:
                skip_first = False
                continue
            if reader.reads != seen_reads:
                # The parser fetched a new chunk to finish this record: the batch so far
                # is everything the previous chunks held.
                seen_reads = reader.reads
                if batch:
                    yield batch
                    batch = []
            if type(item) is not dict:
                checked_records(label, [item])
            batch.append(_plain(item, label))
    except DizionsError:
        raise
    except (ijson.JSONError, ValueError):
        # ValueError: a string that is not valid UTF-8 after all (UnicodeDecodeError: yajl
        # lets encoded surrogates through), or an integer too long for int().
        raise _invalid(label) from None
    if batch:
        yield batch


def _skip_space(buf: bytearray, at: int) -> int:
    end = len(buf)
    while at < end and buf[at] in _WHITESPACE:
        at += 1
    return at


async def record_batches(
    chunks: AsyncIterator[bytes],
    *,
    label: str,
    chunk_size: int = 64 * 1024,
    fast_path_limit: int = FAST_PATH_LIMIT,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The records of a JSON array body, in batches, decoded as the chunks arrive.

    Args:
        chunks: the body as it arrives.
        label: the request's redacted label, for error messages.
        chunk_size: the most bytes ijson is handed at once.
        fast_path_limit: bytes buffered without a whole record before ijson takes over
            (0: ijson from the start).
        max_record_bytes: the largest record decoded. The fast path never buffers more
            than this (nor more than ``fast_path_limit``); ijson's input is checked for it
            and for nesting deeper than ``MAX_DEPTH`` before ijson reads it.

    Returns:
        An async iterator of non-empty lists of records (JSON objects), in body order.

    Raises:
        DecodeError: the body is empty, not an array, not valid JSON, cut short, holds
            something other than objects, a record over ``max_record_bytes`` or nesting
            deeper than ``MAX_DEPTH``.
        TransportError: from ``chunks``, when the connection fails mid-body.
    """
    # Whole records cut here are at most this long (orjson refuses nesting past
    # MAX_DEPTH itself); anything longer goes to ijson, behind the checks of _Shape.
    fast_path_limit = min(fast_path_limit, max_record_bytes)
    buf = bytearray()
    started = False  # the opening "[" has been consumed
    need_comma = False  # a record was cut out, so a "," must come before the next
    async for chunk in chunks:
        buf += chunk
        if not started:
            at = _skip_space(buf, 0)
            if at == len(buf):
                buf.clear()
                continue
            if buf[at] != ord("["):
                raise _not_array(label)
            del buf[: at + 1]
            started = True
        if len(buf) > fast_path_limit:
            break  # no whole record within the limit: let ijson do the rest
        cut = buf.rfind(b"}")
        if cut < 0:
            continue
        start = _skip_space(buf, 0)
        if need_comma:
            if buf[start] != ord(","):
                if buf[start] == ord("]"):
                    continue  # the end of the array; the tail is checked below
                raise _invalid(label)
            start += 1
        try:
            records = orjson.loads(b"[" + buf[start : cut + 1] + b"]")
        except orjson.JSONDecodeError:
            continue  # the last "}" is not a record's end: wait for more bytes
        del buf[: cut + 1]
        if records:
            need_comma = True
            yield checked_records(label, records)
    else:
        if not started:
            raise DecodeError(f"{label}: the response body is empty, not a JSON array")
        if bytes(buf).strip(_WHITESPACE) == b"]":
            return
        # Anything else (records the fast path could not cut, a broken or truncated
        # body) goes to ijson, which decides exactly.
    # ijson takes over from what is buffered, as the rest of an array, and what follows.
    # After a cut the rest starts with ",": a placeholder element keeps the text valid.
    head = (b"[0" if need_comma else b"[") + bytes(buf)
    batches = _ijson_batches(head, chunks, label, chunk_size, need_comma, max_record_bytes)
    async for batch in batches:
        yield batch
