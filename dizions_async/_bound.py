"""A Query bound to a client: chains like Query, and awaiting it fetches the records.

``rows = await dz.query("clients").filter(gender=1)`` gives dicts;
``clients = await dz.query("clients").filter(gender=1).typed()`` gives ``models.Client``
records: a bound query knows the model of its resource, in its type too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast, overload

from dizions_async.errors import QueryError
from dizions_async.query import FilterValue, Query

if TYPE_CHECKING:
    from dizions_async.models import Record
    from dizions_async.results import Report

__all__ = ["BoundQuery", "Runner", "model_of", "unwrap"]

T = TypeVar("T")
#: The model of the bound query's resource (``models.Record`` when not known statically).
M = TypeVar("M", bound="Record")


class Runner(Protocol):
    """What a BoundQuery needs of its client (``Client`` is one): it runs the query.

    A protocol, not ``Client`` itself, so this module depends only on the pure layers
    and the client modules import it, never the other way round.
    """

    async def fetch(self, query: Query, as_: Any = None) -> list[Any]: ...

    async def fetch_one(self, query: Query, as_: Any = None) -> Any: ...

    async def report(self, query: Query) -> Report: ...


class BoundQuery(Generic[M]):
    """A :class:`Query` plus the client that will run it.

    Every builder method returns a new BoundQuery; ``.query`` is the plain Query.
    Awaiting runs :meth:`Client.fetch`; :meth:`fetch_one` and :meth:`report` run those;
    :meth:`typed` and :meth:`typed_one` give the resource's model records.
    """

    __slots__ = ("_client", "query")

    def __init__(self, client: Runner, query: Query) -> None:
        self._client = client
        self.query = query

    def _with(self, query: Query) -> BoundQuery[M]:
        return BoundQuery(self._client, query)

    def filter(self, *key_values: Any, **pairs: FilterValue) -> BoundQuery[M]:
        """As :meth:`Query.filter`."""
        return self._with(self.query.filter(*key_values, **pairs))

    def id(self, *ids: int) -> BoundQuery[M]:
        """As :meth:`Query.id`."""
        return self._with(self.query.id(*ids))

    def fields(self, *names: str) -> BoundQuery[M]:
        """As :meth:`Query.fields`."""
        return self._with(self.query.fields(*names))

    def date_range(self, key: str, start: dt.date | str, end: dt.date | str) -> BoundQuery[M]:
        """As :meth:`Query.date_range`."""
        return self._with(self.query.date_range(key, start, end))

    def dimension(self, name: str) -> BoundQuery[M]:
        """As :meth:`Query.dimension`."""
        return self._with(self.query.dimension(name))

    def metric(self, name: str) -> BoundQuery[M]:
        """As :meth:`Query.metric`."""
        return self._with(self.query.metric(name))

    def resolve_ids(self, *names: str) -> BoundQuery[M]:
        """As :meth:`Query.resolve_ids`."""
        return self._with(self.query.resolve_ids(*names))

    @property
    def path(self) -> str:
        return self.query.path

    @overload
    async def fetch(self, as_: None = None) -> list[dict[str, Any]]: ...
    @overload
    async def fetch(self, as_: type[T]) -> list[T]: ...
    async def fetch(self, as_: type[T] | None = None) -> list[dict[str, Any]] | list[T]:
        """The records, as :meth:`Client.fetch`."""
        return await self._client.fetch(self.query, as_=as_)

    async def fetch_one(self) -> dict[str, Any]:
        """The one record, as :meth:`Client.fetch_one`."""
        return cast("dict[str, Any]", await self._client.fetch_one(self.query))

    async def typed(self) -> list[M]:
        """The records as the resource's model (``models.Client`` for clients...).

        Raises:
            As :meth:`Client.fetch`; ``DecodeError`` names a record's field that does not
            fit its type.
        """
        return cast("list[M]", await self._client.fetch(self.query, as_=model_of(self.query)))

    async def typed_one(self) -> M:
        """The one record of an ``/id/N`` query, as the resource's model."""
        return cast(M, await self._client.fetch_one(self.query, as_=model_of(self.query)))

    async def report(self) -> Report:
        """The report, as :meth:`Client.report`."""
        return await self._client.report(self.query)

    def __await__(self) -> Generator[Any, None, list[dict[str, Any]]]:
        return self._client.fetch(self.query).__await__()

    def __repr__(self) -> str:
        return f"<BoundQuery {self.query!r}>"


def model_of(query: Query) -> type[Record]:
    """The model of ``query``'s resource; ``ExtensionRecord`` for an extension database.

    Raises:
        QueryError: the resource has no model (``external_referral`` is write-only).
    """
    from dizions_async.models import MODELS

    found = MODELS.get(query.resource) or MODELS.get(query.resource.partition("/")[0])
    if found is None:
        raise QueryError(f"resource {query.resource!r} has no typed records: it cannot be read")
    return found


def unwrap(query: Query | BoundQuery[Any]) -> Query:
    """The plain :class:`Query` of ``query`` (itself, unless it is bound).

    Raises:
        QueryError: ``query`` is neither (a resource name passed as is, say).
    """
    if isinstance(query, Query):
        return query
    if isinstance(query, BoundQuery):
        return query.query
    raise QueryError(
        f"expected a Query, got {type(query).__name__}: build one with Query(...) or dz.query(...)"
    )
