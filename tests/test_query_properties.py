"""Hypothesis properties of Query: quoting round-trips, segment counts, immutability, equality."""

from __future__ import annotations

import copy
import datetime as dt

import attrs
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dizions_async import Query
from dizions_async.catalogue import get_resource

BASE = "https://api.dizions.co.uk"
SETTINGS = settings(max_examples=200, deadline=None)

#: Any text the caller might put in a value, surrogates excluded (they are not text).
any_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1)
#: Text weighted towards the characters of the path grammar.
grammar_text = st.text(
    st.one_of(st.sampled_from(list("/;,?#%. &=+[]")), st.characters(blacklist_categories=("Cs",))),
    min_size=1,
)
values = st.one_of(any_text, grammar_text)
value_lists = st.lists(values, min_size=1, max_size=4)

idents = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31))


@SETTINGS
@given(value=values)
def test_any_text_value_round_trips_through_the_path(value: str) -> None:
    q = Query("clients").filter(postcode=value)
    assert Query.from_path(q.path).filters == (("postcode", (value,)),)


@SETTINGS
@given(value_list=value_lists)
@example(value_list=[".."])
def test_any_list_of_text_values_round_trips_through_the_path_and_url(
    value_list: list[str],
) -> None:
    q = Query("clients").filter(gp_name=value_list)
    assert Query.from_path(q.path) == q
    assert Query.from_path(q.url(BASE)) == q


@SETTINGS
@given(first=value_lists, second=values)
# Dot-segments: URL normalisation drops "." and pops a segment for "..".
@example(first=[".."], second=".")
@example(first=["."], second="..")
def test_no_value_changes_the_number_of_segments_or_values(first: list[str], second: str) -> None:
    q = Query("clients").filter(gp_name=first, postcode=second).fields("id")
    assert len(q.segments) == 7
    assert q.path.count("/") == 8
    # On the wire too: URL normalisation must not merge or drop a segment.
    assert len(q.url(BASE).raw_parts) == 9
    assert q.segments[2].count(";") == len(first) - 1
    assert ";" not in q.segments[4]


@st.composite
def queries(draw: st.DrawFn) -> Query:
    """A valid query on referrals: any mix of id, filters, a date range, report, fields."""
    q = Query("referrals")
    if draw(st.booleans()):
        q = q.id(*draw(st.lists(st.integers(0, 10**9), min_size=1, max_size=3)))
    ref_keys = sorted(get_resource("referrals").filter_keys - {"id", "date"})
    chosen = draw(st.lists(st.sampled_from(ref_keys), unique=True, max_size=6))
    for key in chosen:
        value = draw(st.one_of(value_lists, st.integers(0, 10**6), st.booleans(), dates))
        q = q.filter(**{key: value})
    if draw(st.booleans()):
        start, end = sorted(draw(st.lists(dates, min_size=2, max_size=2)))
        q = q.date_range(draw(st.sampled_from(["date", "date_active"])), start, end)
    if draw(st.booleans()):
        q = q.dimension(draw(idents))
        if draw(st.booleans()):
            q = q.metric(draw(idents))
    if draw(st.booleans()):
        q = q.fields(*draw(st.lists(idents, min_size=1, max_size=4)))
    if draw(st.booleans()):
        q = q.resolve_ids(
            *draw(st.lists(st.one_of(idents, st.just("ALL")), min_size=1, max_size=3))
        )
    return q


@SETTINGS
@given(q=queries())
def test_from_path_of_a_valid_query_gives_it_back(q: Query) -> None:
    assert Query.from_path(q.path + (f"?{q.query_string}" if q.query_string else "")) == q
    assert Query.from_path(q.url(BASE)) == q
    # Without the query string, the same query less its resolveIds.
    assert Query.from_path(q.path) == attrs.evolve(q, resolve=())


@SETTINGS
@given(q=queries(), value=value_lists)
def test_builder_methods_never_mutate_the_receiver(q: Query, value: list[str]) -> None:
    before = copy.deepcopy(q)
    path_before = repr(q)
    q.fields("zz_extra")
    q.resolve_ids("ALL")
    if q.dimension_key is None:
        q.dimension("district")
    if q.metric_key is None:
        q.metric("gender")
    if len(q.filters) + len(q.date_ranges) + bool(q.ids) < 10:
        q.filter(zz_extension_field=value)
    assert q == before
    assert repr(q) == path_before


@SETTINGS
@given(q=queries())
def test_equal_queries_built_twice_are_equal_and_hash_equal(q: Query) -> None:
    twin = Query.from_path(q.url(BASE))
    assert twin == q
    assert hash(twin) == hash(q)
    assert len({q, twin}) == 1


@SETTINGS
@given(a=value_lists, b=value_lists)
def test_queries_differing_in_a_value_are_unequal(a: list[str], b: list[str]) -> None:
    qa, qb = Query("clients").filter(postcode=a), Query("clients").filter(postcode=b)
    assert (qa == qb) == (a == b)
    assert (qa.path == qb.path) == (a == b)
