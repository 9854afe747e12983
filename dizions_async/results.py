"""Result values the client returns besides plain records: reports and dictionary entries.

Both are immutable. A :class:`Report` is a read-only mapping from dimension value to a
count, or (with a metric) to a read-only mapping from metric value to a count.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Union

import attrs

__all__ = ["DictionaryEntry", "Report", "ReportValue"]

#: A report cell: a count, or with a metric, counts per metric value.
ReportValue = Union[int, Mapping[str, int]]  # noqa: UP007 (a runtime alias on 3.10)


@attrs.frozen(slots=True)
class DictionaryEntry:
    """One entry of a Dizions dictionary: an ID and its friendly name."""

    id: int
    name: str


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"a count must be a number, got {type(value).__name__}")
    # Messages say what is wrong, never the value: a report's text can be personal data.
    try:
        number = int(value)
        whole = number == float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"a count must be a whole number, got a {type(value).__name__}") from None
    if not whole:
        raise ValueError("a count must be a whole number")
    return number


class Report(Mapping[str, ReportValue]):
    """A report's counts, as a read-only mapping.

    Without a metric, ``report["Leeds"] == 12``; with one,
    ``report["Leeds"]["2"] == 5``. Keys are the API's dimension (and metric) values as
    strings, in the order the server gave them.

    Example::

        report = await dz.report(Query("clients").dimension("district").metric("gender"))
        for district, gender, count in report.rows(): ...
        report.total   # every record counted once
    """

    __slots__ = ("_data", "_metric")

    def __init__(self, data: Mapping[str, ReportValue], *, metric: bool) -> None:
        self._data: Mapping[str, ReportValue] = MappingProxyType(dict(data))
        self._metric = metric

    @classmethod
    def from_json(cls, data: Mapping[str, object], *, metric: bool) -> Report:
        """Build from the decoded body; counts are checked to be whole numbers.

        Raises:
            TypeError, ValueError: a count is not a whole number, or the nesting is wrong.
        """
        out: dict[str, ReportValue] = {}
        for key, value in data.items():
            if metric:
                if not isinstance(value, Mapping):
                    raise TypeError("with a metric, each dimension value needs an object of counts")
                out[str(key)] = MappingProxyType({str(k): _count(v) for k, v in value.items()})
            else:
                out[str(key)] = _count(value)
        return cls(out, metric=metric)

    @property
    def has_metric(self) -> bool:
        """True when each value is a mapping of metric value to count."""
        return self._metric

    @property
    def total(self) -> int:
        """The sum of every count."""
        return sum(count for _, _, count in self.rows())

    def rows(self) -> list[tuple[str, str | None, int]]:
        """Long form: ``(dimension value, metric value or None, count)`` tuples."""
        out: list[tuple[str, str | None, int]] = []
        for key, value in self._data.items():
            if isinstance(value, Mapping):
                out.extend((key, metric, count) for metric, count in value.items())
            else:
                out.append((key, None, value))
        return out

    def __getitem__(self, key: str) -> ReportValue:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Report):
            return self._metric == other._metric and dict(self._data) == dict(other._data)
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        plain = {k: dict(v) if isinstance(v, Mapping) else v for k, v in self._data.items()}
        return f"Report({plain!r})"
