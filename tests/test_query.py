"""Query: the documented vectors in both directions, and every QueryError the builder raises."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from yarl import URL

from dizions_async import ExtensionDatabase, Query
from dizions_async.errors import DizionsError, QueryError

BASE = "https://api.dizions.co.uk"


def target(q: Query) -> str:
    """Path plus query string, as it goes on the wire."""
    return q.path + (f"?{q.query_string}" if q.query_string else "")


# One table, used both ways: building gives the path, parsing the path gives the query back.
VECTORS: list[tuple[str, Callable[[], Query], str]] = [
    (
        "seed: religion and ethnicity",
        lambda: Query("clients").filter(religion=[1, 3, 10], ethnicity=1),
        "/v2/clients/religion/1;3;10/ethnicity/1",
    ),
    ("seed: one referral", lambda: Query("referrals").id(510), "/v2/referrals/id/510"),
    (
        "seed: single-record extension field",
        lambda: Query("clients").filter(website_photo_consent=109),
        "/v2/clients/website_photo_consent/109",
    ),
    (
        "seed: date_active range",
        lambda: Query("referrals").date_range(
            "date_active", dt.date(2018, 10, 1), dt.date(2018, 10, 31)
        ),
        "/v2/referrals/date_active/2018-10-01,2018-10-31",
    ),
    (
        "seed: field selection",
        lambda: Query("clients").fields("id", "surname", "website_photo_consent"),
        "/v2/clients/field/id;surname;website_photo_consent",
    ),
    (
        "seed: report by district",
        lambda: Query("clients").dimension("district"),
        "/v2/clients/dimension/district",
    ),
    (
        "seed: report by district and gender",
        lambda: Query("clients").dimension("district").metric("gender"),
        "/v2/clients/dimension/district/metric/gender",
    ),
    (
        "seed: multiple-record extension database",
        lambda: ExtensionDatabase("Staff Disciplinary", 13).query(),
        "/v2/extension_database/staff_disciplinary_13",
    ),
    (
        "seed: extension database by referral",
        lambda: ExtensionDatabase("Wellcheck Notes", 9).query().filter(referral=2289),
        "/v2/extension_database/wellcheck_notes_9/referral/2289",
    ),
    (
        "wiki: resolveIds for two fields",
        lambda: Query("clients").resolve_ids("ethnicity", "main_language"),
        "/v2/clients?resolveIds[]=ethnicity&resolveIds[]=main_language",
    ),
    (
        "wiki: resolveIds ALL",
        lambda: Query("referrals").fields("id", "project").resolve_ids("ALL"),
        "/v2/referrals/field/id;project?resolveIds[]=ALL",
    ),
    (
        "several ids are semicolon-joined",
        lambda: Query("referrals").id(1, 2, 3),
        "/v2/referrals/id/1;2;3",
    ),
    (
        "bools are Y/N and dates ISO",
        lambda: Query("clients").filter(active=True, deceased=False),
        "/v2/clients/active/Y/deceased/N",
    ),
    (
        "a space is percent-encoded",
        lambda: Query("clients").filter(postcode="AB1 2CD"),
        "/v2/clients/postcode/AB1%202CD",
    ),
    (
        "grammar characters in a value are percent-encoded",
        lambda: Query("clients").filter(gp_name=["a/b", "c;d", "e,f?g#h%i"]),
        "/v2/clients/gp_name/a%2Fb;c%3Bd;e%2Cf%3Fg%23h%25i",
    ),
    (
        "non-ASCII text is UTF-8 percent-encoded",
        lambda: Query("clients").filter(gp_surgery="Zoë"),
        "/v2/clients/gp_surgery/Zo%C3%AB",
    ),
    (
        "dot-segment values are encoded so URL normalisation keeps them",
        lambda: Query("clients").filter(postcode="..", gp_name="."),
        "/v2/clients/postcode/%2E%2E/gp_name/%2E",
    ),
    (
        "segments come in canonical order whatever the call order",
        lambda: (
            Query("referrals")
            .fields("id")
            .metric("stage")
            .dimension("project")
            .date_range("date", "2024-01-01", "2024-03-31")
            .filter(priority=2)
            .id(7)
        ),
        "/v2/referrals/id/7/priority/2/date/2024-01-01,2024-03-31"
        "/dimension/project/metric/stage/field/id",
    ),
    (
        "a date range on an extension database (date keys unpublished)",
        lambda: (
            ExtensionDatabase("Notes", 9).query().date_range("date_43", "2018-11-01", "2018-11-30")
        ),
        "/v2/extension_database/notes_9/date_43/2018-11-01,2018-11-30",
    ),
]

#: Other spellings of a vector's path that from_path also accepts: (spelling, canonical path).
ALIASES: list[tuple[str, str]] = [
    # The seed writes this one without /v2.
    (
        "/clients/field/id;surname;website_photo_consent",
        "/v2/clients/field/id;surname;website_photo_consent",
    ),
    (f"{BASE}/v2/clients/religion/1;3;10/ethnicity/1", "/v2/clients/religion/1;3;10/ethnicity/1"),
    (f"{BASE}/v2/referrals/id/510", "/v2/referrals/id/510"),
    (f"{BASE}/v2/clients/website_photo_consent/109", "/v2/clients/website_photo_consent/109"),
    (
        f"{BASE}/v2/referrals/date_active/2018-10-01,2018-10-31",
        "/v2/referrals/date_active/2018-10-01,2018-10-31",
    ),
    (f"{BASE}/v2/clients/dimension/district", "/v2/clients/dimension/district"),
    (
        f"{BASE}/v2/clients/dimension/district/metric/gender",
        "/v2/clients/dimension/district/metric/gender",
    ),
    (
        f"{BASE}/v2/extension_database/staff_disciplinary_13",
        "/v2/extension_database/staff_disciplinary_13",
    ),
    (
        f"{BASE}/v2/extension_database/wellcheck_notes_9/referral/2289",
        "/v2/extension_database/wellcheck_notes_9/referral/2289",
    ),
    (
        f"{BASE}/v2/clients?resolveIds[]=ethnicity&resolveIds[]=main_language",
        "/v2/clients?resolveIds[]=ethnicity&resolveIds[]=main_language",
    ),
    # Encoded brackets, as some HTTP clients send them.
    ("/v2/clients?resolveIds%5B%5D=ethnicity", "/v2/clients?resolveIds[]=ethnicity"),
    ("/v2/clients/religion/1;3;10/ethnicity/1/", "/v2/clients/religion/1;3;10/ethnicity/1"),
    # A metric before its dimension, and a field list split over two segments.
    (
        "/v2/clients/metric/gender/dimension/district",
        "/v2/clients/dimension/district/metric/gender",
    ),
    ("/v2/clients/field/id/field/surname", "/v2/clients/field/id;surname"),
]

_BY_PATH = {path: build for _, build, path in VECTORS}


@pytest.mark.parametrize(
    ("build", "path"), [(b, p) for _, b, p in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_building_a_vector_gives_its_path(build: Callable[[], Query], path: str) -> None:
    assert target(build()) == path


@pytest.mark.parametrize(
    ("build", "path"), [(b, p) for _, b, p in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_parsing_a_vector_path_gives_an_equal_query(build: Callable[[], Query], path: str) -> None:
    parsed = Query.from_path(path)
    assert parsed == build()
    assert hash(parsed) == hash(build())


@pytest.mark.parametrize(("spelling", "canonical"), ALIASES)
def test_other_spellings_parse_to_the_canonical_query(spelling: str, canonical: str) -> None:
    parsed = Query.from_path(spelling)
    assert target(parsed) == canonical
    if canonical in _BY_PATH:
        assert parsed == _BY_PATH[canonical]()


def test_from_path_accepts_a_yarl_url() -> None:
    url = URL(f"{BASE}/v2/referrals/id/510")
    assert Query.from_path(url) == Query("referrals").id(510)


def test_url_joins_path_and_query_string_under_the_base_without_requoting() -> None:
    q = Query("clients").filter(postcode="AB1 2CD").resolve_ids("ALL")
    assert str(q.url(BASE)) == f"{BASE}/v2/clients/postcode/AB1%202CD?resolveIds[]=ALL"
    assert str(q.url(URL(BASE))) == str(q.url(BASE))


def test_segments_hold_the_extension_database_resource_as_two_segments() -> None:
    q = ExtensionDatabase("Wellcheck Notes", 9).query().filter(referral=2289)
    assert q.segments == ("extension_database", "wellcheck_notes_9", "referral", "2289")


def test_filter_accepts_key_then_values_positionally() -> None:
    assert Query("clients").filter("religion", 1, 3) == Query("clients").filter(religion=[1, 3])
    assert Query("clients").filter("religion", [1, 3]) == Query("clients").filter(religion=[1, 3])


def test_filter_values_are_stored_unquoted_as_text() -> None:
    q = Query("clients").filter(postcode="AB1 2CD", active=True, religion=(1, 2))
    assert q.filters == (("postcode", ("AB1 2CD",)), ("active", ("Y",)), ("religion", ("1", "2")))


def test_date_filter_values_are_sent_as_iso_text() -> None:
    q = Query("referrals").filter(updated=dt.date(2024, 2, 29))
    assert q.path == "/v2/referrals/updated/2024-02-29"


def test_filter_id_is_the_same_as_the_id_method() -> None:
    assert Query("referrals").filter(id=[5, "6"]) == Query("referrals").id(5, 6)


def test_date_range_accepts_iso_strings_and_datetimes() -> None:
    by_date = Query("referrals").date_range("date", dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert Query("referrals").date_range("date", "2024-01-01", "2024-01-31") == by_date
    by_datetime = Query("referrals").date_range(
        "date", dt.datetime(2024, 1, 1, 9), dt.datetime(2024, 1, 31, 17)
    )
    assert by_datetime == by_date


def test_a_one_day_range_is_allowed() -> None:
    q = Query("attendances").date_range("start", "2024-05-01", "2024-05-01")
    assert q.path == "/v2/attendances/start/2024-05-01,2024-05-01"


def test_fields_and_resolve_ids_drop_repeats_and_keep_order() -> None:
    q = Query("clients").fields("id", "surname").fields("surname", "postcode")
    assert q.field_names == ("id", "surname", "postcode")
    r = Query("clients").resolve_ids("ethnicity").resolve_ids("ethnicity", "ALL")
    assert r.resolve == ("ethnicity", "ALL")


def test_is_report_is_true_only_with_a_dimension() -> None:
    assert not Query("clients").is_report
    assert Query("clients").dimension("district").is_report


def test_repr_shows_the_path() -> None:
    assert repr(Query("referrals").id(510)) == "Query('/v2/referrals/id/510')"


def test_strictness_is_not_part_of_equality_because_the_wire_is_the_same() -> None:
    assert Query("clients", strict=False) == Query("clients")
    assert hash(Query("clients", strict=False)) == hash(Query("clients"))
    assert Query.from_path("/v2/clients", strict=False) == Query("clients", strict=False)


def test_ten_filters_counting_the_id_and_a_date_range_are_allowed() -> None:
    keys = [
        "project",
        "stage",
        "template",
        "priority",
        "referrer",
        "client",
        "description",
        "updated",
    ]
    q = Query("referrals").id(1).date_range("date", "2024-01-01", "2024-01-02")
    q = q.filter(**dict.fromkeys(keys, 1)).fields("id").dimension("project").metric("stage")
    assert len(q.filters) + len(q.date_ranges) + 1 == 10


# -- every QueryError ------------------------------------------------------------------------

_TEN_CLIENT_KEYS = [
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
]
_NINE = dict.fromkeys(_TEN_CLIENT_KEYS[:9], 1)
_TEN = dict.fromkeys(_TEN_CLIENT_KEYS, 1)
_NINE_REF = dict.fromkeys(
    [
        "project",
        "stage",
        "template",
        "priority",
        "referrer",
        "client",
        "description",
        "updated",
        "id",
    ],
    1,
)

# (case, the call that must fail, text the message must contain: usually the offending key)
ERRORS: list[tuple[str, Callable[[], object], list[str]]] = [
    (
        "11 filters in one call",
        lambda: Query("clients").filter(**_TEN, postcode="x"),
        ["'postcode'", "10"],
    ),
    (
        "an 11th chained filter",
        lambda: Query("clients").filter(**_TEN).filter(school=1),
        ["'school'"],
    ),
    ("the id is the 11th filter", lambda: Query("clients").filter(**_TEN).id(1), ["'id'"]),
    (
        "a date range is the 11th filter",
        lambda: (
            Query("referrals")
            .filter(**_NINE_REF)
            .filter(client_gender=1)
            .date_range("date", "2024-01-01", "2024-01-02")
        ),
        ["'date'"],
    ),
    (
        "ten filters then a date range",
        lambda: (
            Query("referrals")
            .filter(**_NINE_REF, client_gender=1)
            .date_range("date_active", "2024-01-01", "2024-01-02")
        ),
        ["'date_active'"],
    ),
    (
        "a key twice across calls",
        lambda: Query("clients").filter(religion=1).filter(religion=2),
        ["'religion'", "twice"],
    ),
    (
        "positional and keyword key twice",
        lambda: Query("clients").filter("religion", 1, religion=2),
        ["'religion'", "twice"],
    ),
    ("id() twice", lambda: Query("referrals").id(1).id(2), ["'id'", "twice"]),
    ("id() then filter id", lambda: Query("referrals").id(1).filter(id=2), ["'id'", "twice"]),
    (
        "filter then date_range on one key",
        lambda: (
            Query("referrals")
            .filter(date="2024-01-01")
            .date_range("date", "2024-01-01", "2024-01-02")
        ),
        ["'date'", "twice"],
    ),
    (
        "date_range then filter on one key",
        lambda: (
            Query("referrals")
            .date_range("date", "2024-01-01", "2024-01-02")
            .filter(date="2024-01-01")
        ),
        ["'date'", "twice"],
    ),
    (
        "date_range twice on one key",
        lambda: (
            Query("referrals")
            .date_range("date", "2024-01-01", "2024-01-02")
            .date_range("date", "2024-02-01", "2024-02-02")
        ),
        ["'date'", "twice"],
    ),
    ("an empty value list", lambda: Query("clients").filter(religion=[]), ["'religion'", "empty"]),
    ("an empty id list", lambda: Query("referrals").filter(id=[]), ["'id'", "empty"]),
    ("a None value", lambda: Query("clients").filter(religion=None), ["'religion'", "None"]),
    (
        "a None inside a list",
        lambda: Query("clients").filter(religion=[1, None]),
        ["'religion'", "None"],
    ),
    ("an empty string", lambda: Query("clients").filter(postcode=""), ["'postcode'", "empty"]),
    (
        "a datetime value",
        lambda: Query("referrals").filter(updated=dt.datetime(2024, 1, 1, 9)),
        ["'updated'", "datetime"],
    ),
    ("a float value", lambda: Query("clients").filter(religion=1.5), ["'religion'", "float"]),
    ("a bytes value", lambda: Query("clients").filter(postcode=b"AB1"), ["'postcode'", "bytes"]),
    ("a dict value", lambda: Query("clients").filter(postcode={"a": 1}), ["'postcode'", "dict"]),
    ("a lone surrogate", lambda: Query("clients").filter(postcode="a\ud800"), ["'postcode'"]),
    (
        "filter with a key and no values",
        lambda: Query("clients").filter("religion"),
        ["'religion'"],
    ),
    ("filter with nothing", lambda: Query("clients").filter(), ["filter()"]),
    ("an unknown resource, with a suggestion", lambda: Query("client"), ["'client'", "'clients'"]),
    ("an unknown resource far from any", lambda: Query("zzzzzzzz"), ["'zzzzzzzz'"]),
    (
        "a typo on done_contacts",
        lambda: Query("done_contacts").filter(client_gendr=1),
        ["'client_gendr'", "'client_gender'"],
    ),
    (
        "an unknown done_contacts key",
        lambda: Query("done_contacts").filter(website_photo_consent=1),
        ["'website_photo_consent'"],
    ),
    (
        "a typo on clients",
        lambda: Query("clients").filter(religon=1),
        ["'religon'", "'religion'", "strict=False"],
    ),
    ("a typo on referrals", lambda: Query("referrals").filter(projct=1), ["'projct'", "'project'"]),
    (
        "two edits from a clients key",
        lambda: Query("clients").filter(gendr_=1),
        ["'gendr_'", "'gender'"],
    ),
    ("field as a filter key", lambda: Query("clients").filter(field="id"), ["'field'", ".field()"]),
    ("dimension as a filter key", lambda: Query("clients").filter(dimension="x"), ["'dimension'"]),
    ("metric as a filter key", lambda: Query("clients").filter(metric="x"), ["'metric'"]),
    (
        "a date range on clients",
        lambda: Query("clients").date_range("date", "2024-01-01", "2024-01-02"),
        ["'clients'", "'date'"],
    ),
    (
        "a date range on workers",
        lambda: Query("workers").date_range("date", "2024-01-01", "2024-01-02"),
        ["'workers'"],
    ),
    (
        "a date range on clinics",
        lambda: Query("clinics").date_range("date", "2024-01-01", "2024-01-02"),
        ["'clinics'"],
    ),
    (
        "start after end",
        lambda: Query("referrals").date_range("date", "2024-02-01", "2024-01-31"),
        ["'date'", "after it ends"],
    ),
    (
        "a bad date string",
        lambda: Query("referrals").date_range("date", "2024-13-01", "2024-12-31"),
        ["'date'", "a str of 10 characters"],
    ),
    (
        "a non-ISO date string",
        lambda: Query("referrals").date_range("date", "01/02/2024", "2024-12-31"),
        ["'date'"],
    ),
    (
        "a date of the wrong type",
        lambda: Query("referrals").date_range("date", 20240101, "2024-12-31"),
        ["'date'"],
    ),  # type: ignore[arg-type]
    (
        "a non-date key",
        lambda: Query("referrals").date_range("dat", "2024-01-01", "2024-01-02"),
        ["'dat'", "'date'"],
    ),
    (
        "a non-date key far from any",
        lambda: Query("referrals").date_range("project", "2024-01-01", "2024-01-02"),
        ["'project'"],
    ),
    (
        "id as a date range key",
        lambda: ExtensionDatabase("Notes", 9).query().date_range("id", "2024-01-01", "2024-01-02"),
        ["'id'"],
    ),
    (
        "field as a date range key",
        lambda: (
            ExtensionDatabase("Notes", 9).query().date_range("field", "2024-01-01", "2024-01-02")
        ),
        ["'field'"],
    ),
    (
        "a metric without a dimension, at compile",
        lambda: Query("clients").metric("gender").path,
        ["'gender'", "dimension"],
    ),
    (
        "segments of a metric without a dimension",
        lambda: Query("clients").metric("gender").segments,
        ["'gender'"],
    ),
    (
        "dimension twice",
        lambda: Query("clients").dimension("district").dimension("gender"),
        ["'gender'", "'district'"],
    ),
    (
        "metric twice",
        lambda: Query("clients").metric("gender").metric("religion"),
        ["'religion'", "'gender'"],
    ),
    ("an upper-case filter key", lambda: Query("clients").filter(Religion=1), ["'Religion'"]),
    ("a filter key with a slash", lambda: Query("clients").filter("reli/gion", 1), ["'reli/gion'"]),
    (
        "a filter key starting with a digit",
        lambda: Query("clients").filter("1religion", 1),
        ["'1religion'"],
    ),
    ("a non-str filter key", lambda: Query("clients").filter(3, 1), ["3"]),
    ("a bad field name", lambda: Query("clients").fields("id", "Sur name"), ["'Sur name'"]),
    ("fields with nothing", lambda: Query("clients").fields(), ["fields()"]),
    ("a bad dimension", lambda: Query("clients").dimension("dis-trict"), ["'dis-trict'"]),
    ("a bad metric", lambda: Query("clients").metric("gen der"), ["'gen der'"]),
    (
        "a bad date range key",
        lambda: Query("referrals").date_range("Date", "2024-01-01", "2024-01-02"),
        ["'Date'"],
    ),
    ("a bad resolve_ids name", lambda: Query("clients").resolve_ids("All"), ["'All'"]),
    ("resolve_ids with nothing", lambda: Query("clients").resolve_ids(), ["resolve_ids()"]),
    ("id() with nothing", lambda: Query("referrals").id(), ["id()"]),
    ("a negative id", lambda: Query("referrals").id(-1), ["-1"]),
    ("a bool id", lambda: Query("referrals").id(True), ["True"]),
    ("a non-ASCII digit id", lambda: Query("referrals").filter(id="²"), ["a str of 1 character"]),
    ("an id that is not a number", lambda: Query("referrals").filter(id="abc"), ["a str of 3"]),
    ("a path naming no resource", lambda: Query.from_path("/v2/"), ["'/v2/'"]),
    (
        "a path with a key and no value",
        lambda: Query.from_path("/v2/clients/religion"),
        ["'religion'"],
    ),
    (
        "a path with an empty segment",
        lambda: Query.from_path("/v2/clients/religion//ethnicity/1/"),
        ["empty segment"],
    ),
    (
        "a path with a non-numeric id",
        lambda: Query.from_path("/v2/referrals/id/51x"),
        ["a str of 3"],
    ),
    (
        "a path with a superscript id",
        lambda: Query.from_path("/v2/referrals/id/²"),
        ["whole number"],
    ),
    (
        "a path with dimension twice",
        lambda: Query.from_path("/v2/clients/dimension/a/dimension/b"),
        ["'b'", "'a'"],
    ),
    (
        "a path with an empty value",
        lambda: Query.from_path("/v2/clients/religion/1;;3"),
        ["'religion'"],
    ),
    (
        "a path of an unknown resource",
        lambda: Query.from_path("/v2/referals/id/1"),
        ["'referals'", "'referrals'"],
    ),
]


@pytest.mark.parametrize(
    ("call", "fragments"), [(c, f) for _, c, f in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_bad_input_raises_query_error_naming_the_problem(
    call: Callable[[], object], fragments: list[str]
) -> None:
    with pytest.raises(QueryError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value)


def test_query_error_is_a_value_error_and_a_dizions_error() -> None:
    with pytest.raises(QueryError) as info:
        Query("clients").filter(religion=[])
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, DizionsError)


def test_repr_of_a_metric_without_dimension_shows_invalid_instead_of_raising() -> None:
    shown = repr(Query("clients").metric("gender"))
    assert shown.startswith("Query(") and "<invalid:" in shown and "'gender'" in shown


@pytest.mark.parametrize(
    ("resource", "key"),
    [("clients", "website_photo_consent"), ("referrals", "wellbeing_score"), ("clients", "zzz")],
)
def test_extension_field_keys_are_accepted_on_clients_and_referrals(
    resource: str, key: str
) -> None:
    assert Query(resource).filter(**{key: 1}).filters == ((key, ("1",)),)


@pytest.mark.parametrize(
    ("resource", "key"),
    [
        ("clients", "religon"),
        ("clients", "gendr_"),
        ("referrals", "projct"),
        ("done_contacts", "anything"),
    ],
)
def test_strict_false_accepts_keys_near_known_ones(resource: str, key: str) -> None:
    with pytest.raises(QueryError):
        Query(resource).filter(**{key: 1})
    assert Query(resource, strict=False).filter(**{key: 1}).filters == ((key, ("1",)),)


@pytest.mark.parametrize(
    "resource", ["due_contacts", "workers", "schedules", "attendances", "clinics"]
)
def test_resources_with_unpublished_keys_accept_any_well_formed_key(resource: str) -> None:
    assert Query(resource).filter(some_new_key=1).path == f"/v2/{resource}/some_new_key/1"


def test_the_documented_wiki_keys_are_accepted_strictly() -> None:
    Query("clients").filter(type=1, email="a@b.example")
    Query("done_contacts").filter(branch=1)


def test_url_keeps_a_path_prefix_of_the_base_url() -> None:
    q = Query("clients").filter(gender=1).resolve_ids("ethnicity")
    assert str(q.url("https://proxy.example/dz/")) == (
        "https://proxy.example/dz/v2/clients/gender/1?resolveIds[]=ethnicity"
    )
    assert str(q.url("https://api.dizions.co.uk")) == (
        "https://api.dizions.co.uk/v2/clients/gender/1?resolveIds[]=ethnicity"
    )


def test_an_int_enum_value_is_sent_as_its_number_on_every_python() -> None:
    import enum

    class Gender(enum.IntEnum):
        FEMALE = 1

    # str() of an IntEnum member is its name before Python 3.11.
    assert Query("clients").filter(gender=Gender.FEMALE).path == "/v2/clients/gender/1"
