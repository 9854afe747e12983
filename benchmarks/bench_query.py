"""Query build-and-compile cost, as a ratio to writing the same path with an f-string.

Run: ``python benchmarks/bench_query.py``. All figures come from one run on one machine,
so only the ratios mean anything. Targets: one ``.filter()`` call at most 4x the
f-string, ten chained ``.filter()`` calls at most 10x.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

from dizions_async import Query

#: Ten filters of three values each, and three fields: a large but ordinary read.
FILTERS: dict[str, list[int]] = {
    key: [i, i + 10, i + 20]
    for i, key in enumerate(
        [
            "religion",
            "ethnicity",
            "gender",
            "district",
            "county",
            "accommodation",
            "employment_status",
            "main_language",
            "marital_status",
            "sexual_orientation",
        ],
        start=1,
    )
}
FIELDS = ("id", "surname", "postcode")
TARGETS = {"one .filter() call": 4.0, "ten chained .filter() calls": 10.0}


def by_fstring() -> str:
    """The path as a user would write it by hand."""
    pairs = "/".join(f"{k}/{';'.join(str(v) for v in vs)}" for k, vs in FILTERS.items())
    return f"/v2/clients/{pairs}/field/{';'.join(FIELDS)}"


def by_one_call() -> str:
    return Query("clients").filter(**FILTERS).fields(*FIELDS).path


def by_chained_calls() -> str:
    q = Query("clients")
    for key, values in FILTERS.items():
        q = q.filter(**{key: values})
    return q.fields(*FIELDS).path


def best_time(fn: Callable[[], str], number: int, repeat: int) -> float:
    """Seconds per call: the minimum over ``repeat`` runs of ``number`` calls."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main(number: int = 2000, repeat: int = 7) -> dict[str, float]:
    """Time the three ways of building the path; print and return the ratios."""
    expected = by_fstring()
    assert by_one_call() == expected, (by_one_call(), expected)
    assert by_chained_calls() == expected, (by_chained_calls(), expected)
    base = best_time(by_fstring, number, repeat)
    print(f"f-string                       {base * 1e6:8.2f} us")
    ratios: dict[str, float] = {}
    for label, fn in (
        ("one .filter() call", by_one_call),
        ("ten chained .filter() calls", by_chained_calls),
    ):
        t = best_time(fn, number, repeat)
        ratios[label] = t / base
        verdict = "ok" if ratios[label] <= TARGETS[label] else "MISSED"
        print(
            f"{label:30} {t * 1e6:8.2f} us  ratio {ratios[label]:5.1f}"
            f"  (target <= {TARGETS[label]:g}: {verdict})"
        )
    return ratios


if __name__ == "__main__":
    main()
