"""The client's batching and streaming methods: split fetches, gather, stream, stream_many.

A mixin over :class:`~dizions_async._core._ClientCore`. Policy (cutting, merging) is in
:mod:`dizions_async.batching`; the task pool and stream merger in
:mod:`dizions_async._concurrency`; incremental decoding in
:mod:`dizions_async._streaming`. These methods only compose them around the core's
``_send`` and ``_stream``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from dizions_async import _otel
from dizions_async._bound import BoundQuery, unwrap
from dizions_async._concurrency import (
    ProgressCallback,
    annotate_failure,
    merge_streams,
    run_pool,
)
from dizions_async._convert import structure_records
from dizions_async._core import _ClientCore
from dizions_async._streaming import record_batches
from dizions_async.batching import (
    DateUnit,
    MissingPieces,
    Piece,
    SeenIds,
    pieces_may_overlap,
    plan_requests,
)
from dizions_async.errors import DizionsError, QueryError
from dizions_async.protocol import Request, decode_records, decode_report, redact
from dizions_async.query import Query, describe_query

if TYPE_CHECKING:
    from dizions_async.results import Report

__all__ = ["_ClientBatching"]

T = TypeVar("T")


class _ClientBatching(_ClientCore):
    """Batching and streaming methods of :class:`~dizions_async.Client`."""

    def _describe(self, q: Query) -> str:
        """``q`` for an error message: its keys only, unless this client shows values."""
        return describe_query(q, self._log_values)

    async def _fetch_records(
        self,
        q: Query,
        as_: type[Any] | None,
        split: DateUnit | tuple[str, int] | None,
        on_progress: ProgressCallback | None,
    ) -> list[Any]:
        """The records of record query ``q``: one request if its URL fits, else pieces."""
        # (Past 2 * len(ids) the IDs alone are too long: no need to compile the path.)
        if split is None and 2 * len(q.ids) <= self._max_url_length:
            request = self._get_if_fits(q.path, q.query_string if q.resolve else "")
            if request is not None:
                # The hot path: one request, nothing planned.
                if on_progress is not None:
                    on_progress(0, 1)
                rows = decode_records(request, await self._send(request))
                if on_progress is not None:
                    on_progress(1, 1)
                if as_ is None:
                    return rows
                return structure_records(rows, as_, request.label)
        return await self._fetch_pieces(q, as_, split, on_progress)

    async def _fetch_report(self, q: Query) -> Report:
        """The report of report query ``q`` (for :meth:`Client.report` and gather)."""
        request = self._get(q.path, q.query_string if q.resolve else "")
        response = await self._send(request)
        return decode_report(request, response, metric=q.metric_key is not None)

    def _plan(self, query: Query, split: DateUnit | tuple[str, int] | None) -> list[Piece]:
        """The requests to send for ``query``: ``split`` first, then cut to the URL limit."""
        planned = plan_requests(query, self._base, self._max_url_length, split)
        _otel.count_pieces(len(planned))
        return planned

    def _piece_request(self, piece: Piece) -> Request:
        q = piece.query
        return self._get(piece.path, q.query_string if q.resolve else "")

    async def _fetch_pieces(
        self,
        query: Query,
        as_: type[T] | None,
        split: DateUnit | tuple[str, int] | None,
        on_progress: ProgressCallback | None,
    ) -> list[Any]:
        pieces = self._plan(query, split)
        total = len(pieces)
        seen = SeenIds() if pieces_may_overlap(query, pieces) else None
        missing = MissingPieces(total)
        out: list[Any] = []
        # Pieces are merged in planned order as soon as every earlier one is in, so the
        # merging overlaps the later pieces' I/O instead of following it.
        arrived: dict[int, tuple[Request, list[dict[str, Any]]]] = {}
        cursor = 0

        async def fetch_piece(index: int, piece: Piece) -> None:
            nonlocal cursor
            request = self._piece_request(piece)
            try:
                arrived[index] = (request, decode_records(request, await self._send(request)))
            except DizionsError as exc:
                where = f"piece {index + 1} of {total}"
                annotate_failure(exc, piece.query, request.label, where)
                if not missing.absorb(exc):
                    raise
                arrived[index] = (request, [])
            while cursor in arrived:
                done_request, rows = arrived.pop(cursor)
                kept = rows if seen is None else seen.filter(rows)
                if as_ is not None:
                    # A record that does not fit: the DecodeError names its own request.
                    kept = structure_records(kept, as_, done_request.label)
                out.extend(kept)
                cursor += 1

        await run_pool(pieces, fetch_piece, limit=self._max_concurrency, on_progress=on_progress)
        missing.check()
        return out

    async def gather(
        self,
        queries: Iterable[Query | BoundQuery[Any]],
        *,
        as_: type[Any] | None = None,
        return_exceptions: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> list[Any]:
        """Run many queries concurrently; their results come back in input order.

        A fixed pool of ``max_concurrency`` workers pulls the queries one by one, so a
        list of thousands never becomes thousands of waiting tasks. Record queries give
        what :meth:`fetch` gives (split if their URL is too long); report queries give a
        :class:`Report`.

        Args:
            queries: the queries, in order.
            as_: a class to structure records into, as in :meth:`fetch`.
            return_exceptions: put each failure in its query's place instead of raising.
            on_progress: called ``(done, total)`` with queries done, from ``(0, total)``.

        Returns:
            One result per query, in input order.

        Raises:
            DizionsError: without ``return_exceptions``, the first failure, after the other
                queries are cancelled; its ``query`` attribute is the query that failed.

        Example::

            by_project = await dz.gather(base.filter(project=p) for p in (5, 6, 7))
        """
        items = [unwrap(q) for q in queries]
        total = len(items)

        async def run(index: int, q: Query) -> Any:
            try:
                if q.dimension_key is not None:
                    return await self._fetch_report(q)
                return await self._fetch_records(q, as_, None, None)
            except DizionsError as exc:
                path = q.path if self._log_values else redact(q.path)
                annotate_failure(exc, q, f"GET {path}", f"query {index + 1} of {total}")
                raise

        return await run_pool(
            items,
            run,
            limit=self._max_concurrency,
            return_exceptions=return_exceptions,
            on_progress=on_progress,
        )

    async def _piece_batches(
        self,
        piece: Piece,
        as_: type[Any] | None,
        seen: SeenIds | None,
        where: str | None,
        missing: MissingPieces | None = None,
    ) -> AsyncGenerator[list[Any], None]:
        """One piece's records, streamed in batches, de-duplicated and structured.

        ``where`` names the piece in errors; a 404 that ``missing`` absorbs ends the piece
        with no records.
        """
        request = self._piece_request(piece)
        try:
            async with self._stream(request) as response:
                async for batch in record_batches(
                    response.chunks, label=request.label, max_record_bytes=self._max_record_bytes
                ):
                    if seen is not None:
                        batch = seen.filter(batch)
                        if not batch:
                            continue
                    yield batch if as_ is None else structure_records(batch, as_, request.label)
        except DizionsError as exc:
            if where is not None:
                annotate_failure(exc, piece.query, request.label, where)
            if missing is None or not missing.absorb(exc):
                raise

    # An async generator, typed as one so ``contextlib.aclosing`` accepts it.
    @overload
    def stream(
        self, query: Query | BoundQuery[Any], as_: None = None
    ) -> AsyncGenerator[dict[str, Any], None]: ...
    @overload
    def stream(self, query: Query | BoundQuery[Any], as_: type[T]) -> AsyncGenerator[T, None]: ...
    async def stream(
        self, query: Query | BoundQuery[Any], as_: type[Any] | None = None
    ) -> AsyncGenerator[Any, None]:
        """The records of a read query, decoded as the body arrives.

        Memory stays at about one network chunk plus the record in hand, however large
        the response. A query over ``max_url_length`` is cut as in :meth:`fetch` and its
        pieces streamed one after the other, de-duplicated by ``id``. The request holds
        one of the client's ``max_concurrency`` slots until the iteration ends; to leave
        early, close the iterator (``contextlib.aclosing``) to free it at once.
        With ``max_concurrency=1``, a request the loop body makes through this client
        waits for that slot, so it never starts: use another client or a larger limit.

        Args:
            query: a non-report query.
            as_: a class to structure each record into, as in :meth:`fetch`.

        Raises:
            QueryError, DecodeError, APIError, TransportError: as :meth:`fetch`. Retries
                apply until the response starts; a failure mid-body is raised.

        Example::

            async with contextlib.aclosing(dz.stream(q)) as rows:
                async for row in rows:
                    ...
        """
        q = unwrap(query)
        if q.dimension_key is not None:
            raise QueryError(
                f"{self._describe(q)} is a report query: use report() instead of stream()"
            )
        pieces = self._plan(q, None)
        seen = SeenIds() if pieces_may_overlap(q, pieces) else None
        missing = MissingPieces(len(pieces))
        for index, piece in enumerate(pieces):
            where = f"piece {index + 1} of {len(pieces)}" if len(pieces) > 1 else None
            batches = self._piece_batches(piece, as_, seen, where, missing)
            async with contextlib.aclosing(batches):
                async for batch in batches:
                    for row in batch:
                        yield row
        missing.check()

    @overload
    def stream_many(
        self,
        queries: Iterable[Query | BoundQuery[Any]],
        as_: None = None,
        *,
        dedupe: bool = False,
        buffer: int = 16,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncIterator[dict[str, Any]]: ...
    @overload
    def stream_many(
        self,
        queries: Iterable[Query | BoundQuery[Any]],
        as_: type[T],
        *,
        dedupe: bool = False,
        buffer: int = 16,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncIterator[T]: ...
    async def stream_many(
        self,
        queries: Iterable[Query | BoundQuery[Any]],
        as_: type[Any] | None = None,
        *,
        dedupe: bool = False,
        buffer: int = 16,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncIterator[Any]:
        """The records of many read queries, streamed concurrently, as they arrive.

        Up to ``max_concurrency - 1`` responses are read at once (one slot is left for
        other requests). Decoded records wait in a queue of at most ``buffer`` batches
        (a batch is what one 64 KiB network chunk held); when it is full the readers
        pause, so a slow consumer slows the pulls and memory does not grow.

        With ``max_concurrency=1`` no slot is left: the one reader holds the only slot
        until its response is read, so a request the loop body makes through this client
        waits for it, and once the buffer is full the two wait for each other for ever.
        If the loop body calls the client, use ``max_concurrency >= 2``.

        Args:
            queries: non-report queries; each is cut to ``max_url_length`` as in fetch.
            as_: a class to structure each record into.
            dedupe: drop records whose ``id`` was already yielded by any query (for
                pieces of one resource, e.g. ``q.split_dates("month")`` on
                ``date_active``). Without it, a query cut to ``max_url_length`` still gives
                each of its records once, as in fetch.
            buffer: the most decoded batches waiting for the consumer.
            on_progress: ``(done, total)`` over pieces.

        Returns:
            An async iterator of records; the order within one request is kept, the
            order across requests (queries, and pieces of a split query) is not.

        Raises:
            DizionsError: the first failure of any piece (its ``query`` names the piece),
                after the other pieces are cancelled.
        """
        everywhere = SeenIds() if dedupe else None
        pieces: list[tuple[Piece, MissingPieces, SeenIds | None]] = []
        for query in queries:
            q = unwrap(query)
            if q.dimension_key is not None:
                raise QueryError(
                    f"{self._describe(q)} is a report query; stream_many() reads records"
                )
            planned = self._plan(q, None)
            missing = MissingPieces(len(planned))
            # Pieces of one query that may overlap are de-duplicated, as fetch and stream
            # do, even without dedupe= (which is across queries).
            seen = everywhere
            if seen is None and pieces_may_overlap(q, planned):
                seen = SeenIds()
            pieces.extend((piece, missing, seen) for piece in planned)
        total = len(pieces)

        def open_piece(
            index: int, item: tuple[Piece, MissingPieces, SeenIds | None]
        ) -> AsyncIterator[list[Any]]:
            piece, missing, seen = item
            where = f"piece {index + 1} of {total}"
            return self._piece_batches(piece, as_, seen, where, missing)

        merged = merge_streams(
            pieces,
            open_piece,
            limit=max(1, self._max_concurrency - 1),
            buffer=buffer,
            on_progress=on_progress,
        )
        async with contextlib.aclosing(merged):
            async for row in merged:
                yield row
        for missing in {id(m): m for _, m, _ in pieces}.values():
            missing.check()
