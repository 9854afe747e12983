"""The pure batching policy: date windows, value splits, URL-length splits, merging."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dizions_async import Query
from dizions_async.batching import (
    MissingPieces,
    Piece,
    SeenIds,
    date_windows,
    merge_records,
    pieces_may_overlap,
    plan_pieces,
    split_dates,
    split_to_fit,
    split_values,
    url_length,
)
from dizions_async.errors import NotFoundError, QueryError, ServerError

BASE = "https://api.dizions.co.uk"
D = dt.date


# -- date windows ---------------------------------------------------------------------------

WINDOW_TABLE = [
    # (start, end, unit, expected windows)
    (D(2024, 1, 1), D(2024, 1, 3), "day", [(D(2024, 1, d), D(2024, 1, d)) for d in (1, 2, 3)]),
    (
        D(2024, 1, 15),
        D(2024, 3, 10),
        "month",
        [
            (D(2024, 1, 15), D(2024, 1, 31)),
            (D(2024, 2, 1), D(2024, 2, 29)),  # leap year
            (D(2024, 3, 1), D(2024, 3, 10)),
        ],
    ),
    (
        D(2023, 2, 1),
        D(2023, 3, 31),
        "month",
        [(D(2023, 2, 1), D(2023, 2, 28)), (D(2023, 3, 1), D(2023, 3, 31))],
    ),
    (D(1900, 2, 1), D(1900, 2, 28), "month", [(D(1900, 2, 1), D(1900, 2, 28))]),  # not leap
    (
        D(2000, 2, 1),
        D(2000, 3, 1),
        "month",
        [(D(2000, 2, 1), D(2000, 2, 29)), (D(2000, 3, 1),) * 2],
    ),
    (
        D(2023, 11, 30),
        D(2024, 1, 31),
        "month",
        [
            (D(2023, 11, 30), D(2023, 11, 30)),
            (D(2023, 12, 1), D(2023, 12, 31)),  # December rolls the year
            (D(2024, 1, 1), D(2024, 1, 31)),
        ],
    ),
    (
        # 2024-01-03 is a Wednesday; ISO weeks end on Sunday.
        D(2024, 1, 3),
        D(2024, 1, 16),
        "week",
        [
            (D(2024, 1, 3), D(2024, 1, 7)),
            (D(2024, 1, 8), D(2024, 1, 14)),
            (D(2024, 1, 15), D(2024, 1, 16)),
        ],
    ),
    (
        D(2022, 6, 1),
        D(2024, 2, 29),
        "year",
        [
            (D(2022, 6, 1), D(2022, 12, 31)),
            (D(2023, 1, 1), D(2023, 12, 31)),
            (D(2024, 1, 1), D(2024, 2, 29)),
        ],
    ),
    (
        D(2024, 2, 27),
        D(2024, 3, 5),
        3,
        [
            (D(2024, 2, 27), D(2024, 2, 29)),
            (D(2024, 3, 1), D(2024, 3, 3)),
            (D(2024, 3, 4), D(2024, 3, 5)),
        ],
    ),
    (D(2024, 5, 5), D(2024, 5, 5), "year", [(D(2024, 5, 5), D(2024, 5, 5))]),
    (D(2024, 5, 5), D(2024, 5, 5), 30, [(D(2024, 5, 5), D(2024, 5, 5))]),
]


@pytest.mark.parametrize(("start", "end", "unit", "expected"), WINDOW_TABLE)
def test_date_windows_follow_the_calendar(
    start: dt.date, end: dt.date, unit: str | int, expected: list[tuple[dt.date, dt.date]]
) -> None:
    assert date_windows(start, end, unit) == expected


UNITS = st.one_of(st.sampled_from(["day", "week", "month", "year"]), st.integers(1, 400))
DATES = st.dates(min_value=D(1899, 1, 1), max_value=D(2101, 12, 31))


@settings(max_examples=300)
@given(a=DATES, b=DATES, unit=UNITS)
def test_date_windows_partition_the_range(a: dt.date, b: dt.date, unit: str | int) -> None:
    start, end = min(a, b), max(a, b)
    assume(unit != "day" or (end - start).days < 1000)
    windows = date_windows(start, end, unit)
    assert windows[0][0] == start
    assert windows[-1][1] == end
    for first, last in windows:
        assert first <= last
    for (_, prev_last), (next_first, _) in itertools.pairwise(windows):
        assert next_first == prev_last + dt.timedelta(days=1)  # no gap, no overlap


@settings(max_examples=200)
@given(a=DATES, b=DATES, unit=st.sampled_from(["week", "month", "year"]))
def test_calendar_windows_are_whole_units_except_at_the_ends(
    a: dt.date, b: dt.date, unit: str
) -> None:
    start, end = min(a, b), max(a, b)
    windows = date_windows(start, end, unit)
    for i, (first, last) in enumerate(windows):
        if unit == "week":
            assert first.isocalendar()[:2] == last.isocalendar()[:2]
            starts, ends = first.weekday() == 0, last.weekday() == 6
        elif unit == "month":
            assert (first.year, first.month) == (last.year, last.month)
            starts, ends = first.day == 1, (last + dt.timedelta(days=1)).day == 1
        else:
            assert first.year == last.year
            starts, ends = (first.month, first.day) == (1, 1), (last.month, last.day) == (12, 31)
        assert starts or i == 0
        assert ends or i == len(windows) - 1


@settings(max_examples=100)
@given(a=DATES, b=DATES, days=st.integers(1, 100))
def test_numeric_windows_are_that_many_days_except_the_last(
    a: dt.date, b: dt.date, days: int
) -> None:
    start, end = min(a, b), max(a, b)
    windows = date_windows(start, end, days)
    for first, last in windows[:-1]:
        assert (last - first).days + 1 == days
    assert (windows[-1][1] - windows[-1][0]).days + 1 <= days


@pytest.mark.parametrize("unit", ["fortnight", "Month", 0, -3, True, 2.5, None])
def test_date_windows_refuse_bad_units(unit: object) -> None:
    with pytest.raises(QueryError, match=r"unit|at least 1 day"):
        date_windows(D(2024, 1, 1), D(2024, 2, 1), unit)  # type: ignore[arg-type]


def test_date_windows_refuse_a_reversed_range() -> None:
    with pytest.raises(QueryError, match="after it ends"):
        date_windows(D(2024, 2, 1), D(2024, 1, 1), "day")


# -- split_dates ----------------------------------------------------------------------------


def test_split_dates_cuts_only_the_date_range_and_keeps_the_rest() -> None:
    q = (
        Query("referrals")
        .filter(project=[5, 6])
        .date_range("date_active", "2024-01-20", "2024-03-02")
        .fields("id", "client")
        .resolve_ids("project")
    )
    pieces = q.split_dates("month")
    assert [p.path for p in pieces] == [
        "/v2/referrals/project/5;6/date_active/2024-01-20,2024-01-31/field/id;client",
        "/v2/referrals/project/5;6/date_active/2024-02-01,2024-02-29/field/id;client",
        "/v2/referrals/project/5;6/date_active/2024-03-01,2024-03-02/field/id;client",
    ]
    assert all(p.resolve == ("project",) for p in pieces)
    assert pieces == split_dates(q, "month")


def test_split_dates_needs_a_key_when_there_are_several_ranges() -> None:
    q = Query("referrals").date_range("date", "2024-01-01", "2024-02-10")
    q = q.date_range("date_active", "2023-01-01", "2024-12-31")
    with pytest.raises(QueryError, match="several date ranges"):
        q.split_dates("month")
    pieces = q.split_dates("month", key="date")
    assert [p.date_ranges for p in pieces] == [
        (("date", D(2024, 1, 1), D(2024, 1, 31)), ("date_active", D(2023, 1, 1), D(2024, 12, 31))),
        (("date", D(2024, 2, 1), D(2024, 2, 10)), ("date_active", D(2023, 1, 1), D(2024, 12, 31))),
    ]


def test_split_dates_refuses_a_query_without_that_date_range() -> None:
    with pytest.raises(QueryError, match="no date range to split"):
        Query("clients").split_dates("month")
    with pytest.raises(QueryError, match="no date range 'date_active'"):
        Query("referrals").date_range("date", "2024-01-01", "2024-01-02").split_dates(
            "day", key="date_active"
        )


# -- split_values ---------------------------------------------------------------------------


def test_split_values_cuts_ids_in_order() -> None:
    q = Query("clients").id(*range(1, 8)).filter(active=True)
    pieces = q.split_values("id", 3)
    assert [p.ids for p in pieces] == [(1, 2, 3), (4, 5, 6), (7,)]
    assert all(p.filters == (("active", ("Y",)),) for p in pieces)


def test_split_values_cuts_a_filter_list_and_keeps_the_others() -> None:
    q = Query("clients").filter(religion=[1, 3, 10], ethnicity=[1, 2])
    pieces = split_values(q, "religion", 2)
    assert [p.path for p in pieces] == [
        "/v2/clients/religion/1;3/ethnicity/1;2",
        "/v2/clients/religion/10/ethnicity/1;2",
    ]


@pytest.mark.parametrize("size", [0, -1, True, 1.5])
def test_split_values_refuses_sizes_below_one(size: object) -> None:
    with pytest.raises(QueryError, match="size of at least 1"):
        Query("clients").id(1, 2).split_values("id", size)  # type: ignore[arg-type]


def test_split_values_names_the_lists_it_has_when_the_key_is_missing() -> None:
    with pytest.raises(QueryError, match=r"no value list 'gender'.*'id', 'religion'"):
        Query("clients").id(1).filter(religion=1).split_values("gender", 5)


# -- split_to_fit ---------------------------------------------------------------------------


def test_a_query_that_fits_comes_back_alone() -> None:
    q = Query("clients").id(*range(100))
    assert split_to_fit(q, BASE, 4096) == [q]


def test_a_10000_id_list_is_cut_into_the_fewest_runs_that_fit() -> None:
    q = Query("clients").id(*range(10_000, 20_000)).filter(active=True).fields("id", "surname")
    limit = 1000
    pieces = split_to_fit(q, BASE, limit)
    assert all(url_length(p, BASE) <= limit for p in pieces)
    assert [i for p in pieces for i in p.ids] == list(q.ids)
    # Fewest: no two neighbouring pieces could have been one.
    for left, right in itertools.pairwise(pieces):
        merged = attrs.evolve(q, ids=left.ids + right.ids)
        assert url_length(merged, BASE) > limit


def test_the_longest_list_is_chosen_by_encoded_length_not_by_count() -> None:
    long_values = [f"AB{i} {i}CD/x" for i in range(40)]  # space and slash are escaped
    q = Query("clients").id(*range(60)).filter(postcode=long_values)
    ids_len = len(";".join(map(str, range(60))))
    assert ids_len < len(";".join(long_values))  # shorter even before escaping
    pieces = split_to_fit(q, BASE, url_length(q, BASE) - 50)
    assert len(pieces) == 2
    assert all(p.ids == q.ids for p in pieces)
    assert [v for p in pieces for v in p.filters[0][1]] == long_values


def test_when_one_list_is_not_enough_the_others_are_cut_too() -> None:
    a = [f"value-a-{i:04d}" for i in range(200)]
    b = [f"value-b-{i:04d}" for i in range(150)]
    q = Query("clients", strict=False).filter(alpha=a, beta=b)
    limit = 600  # either list alone is longer than this
    pieces = split_to_fit(q, BASE, limit)
    assert all(url_length(p, BASE) <= limit for p in pieces)
    combos = Counter(
        (x, y) for p in pieces for x in dict(p.filters)["alpha"] for y in dict(p.filters)["beta"]
    )
    assert set(combos) == set(itertools.product(a, b))
    assert set(combos.values()) == {1}  # every pair asked for exactly once


def test_a_value_that_cannot_fit_alone_is_a_query_error_naming_its_key() -> None:
    secret = "9434765919" * 50
    q = Query("clients").filter(nhs_number=[secret, "1"], religion=[1, 2, 3])
    with pytest.raises(QueryError, match="'nhs_number'") as info:
        split_to_fit(q, BASE, 300)
    assert secret not in str(info.value)
    assert "9434765919" not in str(info.value)


def test_a_long_url_without_value_lists_is_a_query_error() -> None:
    q = Query("clients").fields(*(f"field_{i}" for i in range(100)))
    with pytest.raises(QueryError, match="no value list"):
        split_to_fit(q, BASE, 200)


@pytest.mark.parametrize("base", ["http://h", "https://proxy.example/dz/", "http://h:8080/a/b"])
def test_pieces_fit_under_any_base_and_with_a_query_string(base: str) -> None:
    q = Query("clients").id(*range(2000)).filter(gender=[1, 2]).resolve_ids("ethnicity", "ALL")
    planned = plan_pieces(q, base, 700)
    assert len(planned) > 1
    for piece in planned:
        assert piece.path == piece.query.path
        assert url_length(piece.query, base) <= 700
    # Fewest: the first piece could not have taken one more id.
    first = planned[0].query
    bigger = attrs.evolve(first, ids=q.ids[: len(first.ids) + 1])
    assert url_length(bigger, base) > 700


def test_the_base_url_counts_towards_the_limit() -> None:
    q = Query("clients").id(*range(300))
    short = split_to_fit(q, "http://h", 500)
    long = split_to_fit(q, "http://" + "h" * 200 + ".example", 500)
    assert len(long) > len(short)


VALUE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)


@settings(max_examples=150, deadline=None)
@given(
    ids=st.lists(st.integers(0, 10**9), max_size=60),
    postcodes=st.lists(VALUE, min_size=1, max_size=25),
    genders=st.lists(st.integers(0, 99), max_size=15),
    limit=st.integers(80, 700),
)
def test_split_to_fit_pieces_fit_and_ask_for_every_combination_once(
    ids: list[int], postcodes: list[str], genders: list[int], limit: int
) -> None:
    q = Query("clients").filter(postcode=postcodes)
    if ids:
        q = q.id(*ids)
    if genders:
        q = q.filter(gender=genders)
    try:
        pieces = split_to_fit(q, BASE, limit)
    except QueryError as exc:
        assert "cannot be split" in str(exc)
        smallest = q
        for key in ("id", "postcode", "gender"):
            if (key == "id" and not ids) or (key == "gender" and not genders):
                continue
            parts = smallest.split_values(key, 1)
            smallest = max(parts, key=lambda p: url_length(p, BASE))
        assert url_length(smallest, BASE) > limit
        return
    assert all(url_length(p, BASE) <= limit for p in pieces)
    planned = plan_pieces(q, BASE, limit)
    assert [p.query for p in planned] == pieces
    assert all(p.path == p.query.path for p in planned)  # paths cut, not recompiled

    def combos(p: Query) -> list[tuple[object, ...]]:
        f = dict(p.filters)
        return list(itertools.product(p.ids or [None], f["postcode"], f.get("gender", [None])))

    assert Counter(c for p in pieces for c in combos(p)) == Counter(combos(q))


# -- merging --------------------------------------------------------------------------------


def test_merge_keeps_piece_order_and_drops_repeated_ids() -> None:
    parts = [
        [{"id": 3, "n": "a"}, {"id": 1, "n": "b"}],
        [{"id": 1, "n": "b2"}, {"id": 2, "n": "c"}],
        [],
        [{"id": 3, "n": "a2"}, {"id": 4, "n": "d"}],
    ]
    assert merge_records(parts) == [
        {"id": 3, "n": "a"},
        {"id": 1, "n": "b"},
        {"id": 2, "n": "c"},
        {"id": 4, "n": "d"},
    ]


def test_merge_keeps_every_record_without_an_id() -> None:
    parts = [[{"n": 1}, {"n": 1}], [{"n": 1}, {"id": None}, {"id": None}, {"id": [1]}]]
    assert len(merge_records(parts)) == 6


def test_seen_ids_tell_int_and_str_ids_apart_by_value() -> None:
    seen = SeenIds()
    assert seen.accept({"id": 7})
    assert not seen.accept({"id": 7})
    assert seen.accept({"id": "7"})
    assert seen.accept(["not", "a", "mapping"])
    assert len(seen) == 2


def test_missing_pieces_are_empty_unless_every_piece_is_missing() -> None:
    def not_found() -> NotFoundError:
        return NotFoundError(404, "not found")

    some = MissingPieces(3)
    assert some.absorb(not_found())
    assert not some.absorb(ServerError(503, "busy"))  # other errors are not absorbed
    assert some.absorb(not_found())
    some.check()  # one piece answered: no error
    every = MissingPieces(2)
    every.absorb(not_found())
    every.absorb(not_found())
    with pytest.raises(NotFoundError):
        every.check()
    whole = MissingPieces(1)  # an unsplit query's 404 is its own
    assert not whole.absorb(not_found())


def test_pieces_overlap_unless_cut_only_from_distinct_ids() -> None:
    ids = Query("clients").id(*range(3000)).filter(gender=[1, 2])
    assert not pieces_may_overlap(ids, plan_pieces(ids, BASE, 1000))
    repeated = Query("clients").id(*range(3000), 5)
    assert pieces_may_overlap(repeated, plan_pieces(repeated, BASE, 1000))
    postcodes = Query("clients").filter(postcode=[f"AB{i} 1CD" for i in range(300)])
    assert pieces_may_overlap(postcodes, plan_pieces(postcodes, BASE, 1000))
    dated = Query("referrals").date_range("date_active", "2024-01-01", "2024-03-31")
    windows = [Piece(w, w.path) for w in dated.split_dates("month")]
    assert pieces_may_overlap(dated, windows)
    assert not pieces_may_overlap(dated, windows[:1])


def test_the_batching_module_exports_its_planning_names() -> None:
    import dizions_async.batching as batching

    assert sorted(batching.__all__) == [
        "DateUnit",
        "MissingPieces",
        "Piece",
        "SeenIds",
        "Split",
        "date_windows",
        "merge_records",
        "pieces_may_overlap",
        "plan_pieces",
        "plan_requests",
        "split_by",
        "split_dates",
        "split_to_fit",
        "split_values",
        "url_length",
    ]
    assert all(hasattr(batching, name) for name in batching.__all__)


def test_plan_requests_splits_first_then_cuts_each_piece_to_the_url_limit() -> None:
    from dizions_async.batching import plan_requests, split_by

    year = Query("referrals").date_range("date", "2024-01-01", "2024-12-31")
    assert split_by(year, None) == [year]
    assert split_by(year, "month") == year.split_dates("month")
    ids = Query("clients").id(*range(1, 101))
    assert split_by(ids, ("id", 30)) == ids.split_values("id", 30)
    base = "https://api.example"
    planned = plan_requests(ids, base, 120, split=("id", 50))
    assert len(planned) > 2 and all(len(base + p.path) <= 120 for p in planned)
    assert [i for p in planned for i in p.query.ids] == list(range(1, 101))
    assert [p.path for p in plan_requests(year, base, 4096)] == [year.path]


RECORD = st.one_of(
    st.fixed_dictionaries({"id": st.one_of(st.integers(0, 20), st.none(), st.just([1]))}),
    st.fixed_dictionaries({"name": st.text(max_size=2)}),
)


@given(parts=st.lists(st.lists(RECORD, max_size=8), max_size=5))
def test_seen_ids_filter_is_accept_record_by_record(parts: list[list[dict[str, object]]]) -> None:
    fast, slow = SeenIds(), SeenIds()
    for part in parts:
        assert fast.filter(part) == [r for r in part if slow.accept(r)]
    assert len(fast) == len(slow)


@pytest.mark.parametrize("unit", ["day", "week", "month", "year", 1, 7, 400])
def test_date_windows_reach_an_open_ended_range_ending_on_date_max(unit: str | int) -> None:
    start = D(9998, 11, 15)
    windows = date_windows(start, dt.date.max, unit)
    assert windows[0][0] == start
    assert windows[-1][1] == dt.date.max
    for (_, prev_last), (next_first, _) in itertools.pairwise(windows):
        assert next_first == prev_last + dt.timedelta(days=1)
    if unit == "month":
        assert windows[-2:] == [(D(9999, 11, 1), D(9999, 11, 30)), (D(9999, 12, 1), dt.date.max)]


@pytest.mark.parametrize("days", [10**6, 10**10])
def test_a_window_longer_than_the_calendar_is_the_whole_range(days: int) -> None:
    assert date_windows(D(2020, 1, 1), D(2020, 2, 1), days) == [(D(2020, 1, 1), D(2020, 2, 1))]
