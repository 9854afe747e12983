"""The pure part of writes: encoding, checks, bodies and paths, before any I/O."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import io
import os
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from dizions_async import ExtensionDatabase
from dizions_async._writes import (
    FORM,
    JSON,
    encode_fields,
    encode_value,
    form_body,
    open_upload,
    prepare_complete_contact,
    prepare_create,
    prepare_create_client,
    prepare_done_contact,
    prepare_due_contact,
    prepare_external_referral,
    prepare_relationship,
    prepare_set_relationship,
    prepare_update,
    prepare_upload,
)
from dizions_async.catalogue import OperationKind
from dizions_async.errors import DecodeError, ValidationError
from dizions_async.protocol import FilePart, Multipart, Request, Response, decode_created_ids

CLIENT = {"first_name": "Ann", "surname": "Lee"}
REFERRAL = {
    "client": 7,
    "client_type": 1,
    "date": dt.date(2024, 3, 1),
    "project": 5,
    "template": 2,
    "stage": 1,
    "response_description": "Phoned back",
}
DUE = {
    "user": 3,
    "start_date": dt.datetime(2024, 3, 1, 9, 0),
    "end_date": dt.datetime(2024, 3, 1, 10, 0),
    "description": "Home visit",
}
EXTERNAL = {"org_type_id": 2, "surname": "Lee", "description": "Needs help"}


def body_of(write: Any) -> list[tuple[str, str]]:
    return parse_qsl(write.body.decode("ascii"), keep_blank_values=True)


class Colour(enum.IntEnum):
    RED = 4


# -- values ---------------------------------------------------------------------------

ENCODED = [
    (True, "Y"),
    (False, "N"),
    (0, "0"),
    (42, "42"),
    (Colour.RED, "4"),
    ("Ann", "Ann"),
    ("", ""),
    ("a/b;c,d?e#f%g h&i=j", "a/b;c,d?e#f%g h&i=j"),
    (dt.date(2018, 11, 8), "2018-11-08"),
    (dt.datetime(2018, 11, 8, 14, 30), "2018-11-08T14:30:00"),
    (dt.datetime(2018, 11, 8, 14, 30, tzinfo=dt.timezone.utc), "2018-11-08T14:30:00+00:00"),
    ([1, 3, 10], "1,3,10"),
    ((5,), "5"),
    ({10, 2, 7}, "2,7,10"),
    (["4", 5], "4,5"),
]


@pytest.mark.parametrize(("value", "text"), ENCODED)
def test_values_encode_as_the_api_expects(value: object, text: str) -> None:
    assert encode_value("f", value) == text


def test_none_means_leave_unset_and_is_not_sent() -> None:
    assert encode_value("f", None) is None
    assert encode_fields({"a": 1, "b": None, "c": "x"}) == (("a", "1"), ("c", "x"))


@pytest.mark.parametrize(
    "value",
    [1.5, Decimal("2.5"), b"bytes", {"a": 1}, object(), [1.5], [True], [None], ["x1"], [-1], []],
)
def test_values_that_cannot_be_sent_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(ValidationError) as err:
        encode_fields({"travel_mileage": value})
    assert err.value.field == "travel_mileage"
    assert "travel_mileage" in str(err.value)


@pytest.mark.parametrize("key", ["First_name", "1st", "first name", "a-b", "", "é", 3])
def test_keys_must_be_identifiers(key: Any) -> None:
    with pytest.raises(ValidationError, match="identifier"):
        encode_fields({key: "x"})


def test_fields_must_be_a_mapping() -> None:
    with pytest.raises(ValidationError, match="mapping"):
        encode_fields([("a", 1)])  # type: ignore[arg-type]


def test_validation_error_is_a_value_error() -> None:
    assert issubclass(ValidationError, ValueError)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
        st.one_of(st.integers(min_value=0), st.text(), st.booleans(), st.dates()),
        max_size=8,
    )
)
def test_form_body_round_trips_every_sendable_value(fields: dict[str, object]) -> None:
    pairs = encode_fields(fields)
    assert parse_qsl(form_body(pairs).decode("ascii"), keep_blank_values=True) == list(pairs)


# -- creates --------------------------------------------------------------------------

CREATES = [
    ("clients", CLIENT, "/v2/clients"),
    ("referrals", REFERRAL, "/v2/referrals"),
    ("external_referral", EXTERNAL, "/v2/external_referral"),
    ("extension_database/staff_disciplinary_13", {"referral": 2289}, None),
    (ExtensionDatabase("Staff Disciplinary", 13), {"referral": 2289}, None),
]


@pytest.mark.parametrize(("resource", "fields", "path"), CREATES)
def test_create_is_a_put_of_a_form_body(resource: object, fields: Any, path: str | None) -> None:
    write = prepare_create(resource, fields)
    assert write.method == "PUT"
    assert write.path == (path or "/v2/extension_database/staff_disciplinary_13")
    assert write.content_type == FORM
    assert write.kind is OperationKind.CREATE
    assert dict(body_of(write)) == {k: encode_value(k, v) for k, v in fields.items()}


def test_extension_database_create_matches_the_seed_example() -> None:
    write = prepare_create(
        ExtensionDatabase("Staff Disciplinary", 13),
        {"referral": 2289, "date_43": dt.date(2018, 11, 8)},
    )
    assert write.body == b"referral=2289&date_43=2018-11-08"


@pytest.mark.parametrize(
    ("resource", "fields"),
    [
        ("clients", CLIENT),
        ("referrals", REFERRAL),
        ("due_contacts", DUE),
        ("external_referral", EXTERNAL),
    ],
)
def test_each_mandatory_field_missing_is_refused_by_name(resource: str, fields: Any) -> None:
    prepare = (
        (lambda f: prepare_due_contact(1, f))
        if resource == "due_contacts"
        else (lambda f: prepare_create(resource, f))
    )
    prepare(fields)  # complete: accepted
    for name in fields:
        for gone in ({k: v for k, v in fields.items() if k != name}, {**fields, name: None}):
            with pytest.raises(ValidationError) as err:
                prepare(gone)
            assert err.value.field == name
            assert repr(name) in str(err.value)


def test_an_empty_string_does_not_satisfy_a_mandatory_field() -> None:
    with pytest.raises(ValidationError) as err:
        prepare_create("clients", {"first_name": "Ann", "surname": ""})
    assert err.value.field == "surname"


def test_missing_fields_are_all_named_and_the_first_is_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        prepare_create("referrals", {"client": 1})
    assert err.value.field == "client_type"
    assert "'project'" in str(err.value) and "'response_description'" in str(err.value)


@pytest.mark.parametrize(
    ("resource", "hint"),
    [
        ("done_contacts", "does not support create"),
        ("due_contacts", "does not support create"),
        ("workers", "does not support create"),
        ("schedules", "does not support create"),
        ("clientz", "did you mean 'clients'"),
    ],
)
def test_create_on_a_resource_without_plain_create_is_refused(resource: str, hint: str) -> None:
    with pytest.raises(ValidationError, match=hint):
        prepare_create(resource, {"a": 1})


def test_id_cannot_be_written_as_a_field() -> None:
    with pytest.raises(ValidationError) as err:
        prepare_create("clients", {**CLIENT, "id": 5})
    assert err.value.field == "id"
    with pytest.raises(ValidationError):
        prepare_update("clients", 5, {"id": 6})


def test_resource_must_be_a_name_or_extension_database() -> None:
    with pytest.raises(ValidationError, match="resource must be"):
        prepare_create(42, CLIENT)


# -- create_client by external id ------------------------------------------------------


def test_create_client_without_external_id_puts_to_clients() -> None:
    assert prepare_create_client(CLIENT).path == "/v2/clients"


def test_create_client_by_external_id_puts_to_the_external_id_path_quoted() -> None:
    write = prepare_create_client(CLIENT, external_id="CRM/42 a;b")
    assert write.method == "PUT"
    assert write.path == "/v2/clients/external_id/CRM%2F42%20a%3Bb"
    assert write.kind is OperationKind.CREATE_BY_EXTERNAL_ID
    assert prepare_create_client(CLIENT, external_id=77).path == "/v2/clients/external_id/77"


@pytest.mark.parametrize("ext", ["", "  ", True, 1.5, b"x"])
def test_create_client_refuses_a_bad_external_id(ext: Any) -> None:
    with pytest.raises(ValidationError) as err:
        prepare_create_client(CLIENT, external_id=ext)
    assert err.value.field == "external_id"


def test_create_client_refuses_a_conflicting_external_id_field() -> None:
    with pytest.raises(ValidationError, match="external_id"):
        prepare_create_client({**CLIENT, "external_id": "B"}, external_id="A")
    ok = prepare_create_client({**CLIENT, "external_id": "A"}, external_id="A")
    assert ("external_id", "A") in body_of(ok)


def test_create_client_still_needs_its_mandatory_fields() -> None:
    with pytest.raises(ValidationError) as err:
        prepare_create_client({"first_name": "Ann"}, external_id="X1")
    assert err.value.field == "surname"


# -- updates --------------------------------------------------------------------------

UPDATES = [
    ("clients", 7, "/v2/clients/id/7"),
    ("referrals", 510, "/v2/referrals/id/510"),
    ("due_contacts", 3, "/v2/due_contacts/id/3"),
    ("done_contacts", 4, "/v2/done_contacts/id/4"),
    ("extension_database/wellcheck_notes_9", 17, "/v2/extension_database/wellcheck_notes_9/id/17"),
    (ExtensionDatabase("Wellcheck Notes", 9), 17, "/v2/extension_database/wellcheck_notes_9/id/17"),
]


@pytest.mark.parametrize(("resource", "rid", "path"), UPDATES)
def test_update_is_a_post_to_the_record(resource: object, rid: int, path: str) -> None:
    write = prepare_update(resource, rid, {"postcode": "AB1 2CD", "active": True})
    assert (write.method, write.path, write.kind) == ("POST", path, OperationKind.UPDATE)
    assert write.body == b"postcode=AB1+2CD&active=Y"


@pytest.mark.parametrize("fields", [{}, {"postcode": None}, {"a": None, "b": None}])
def test_an_empty_update_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="no field to send"):
        prepare_update("clients", 7, fields)


@pytest.mark.parametrize("resource", ["workers", "clinics", "attendances", "external_referral"])
def test_update_on_a_resource_without_update_is_refused(resource: str) -> None:
    with pytest.raises(ValidationError, match="does not support update"):
        prepare_update(resource, 1, {"a": 1})


@pytest.mark.parametrize("rid", [-1, True, "7", 7.0, None])
def test_update_refuses_a_bad_record_id(rid: Any) -> None:
    with pytest.raises(ValidationError) as err:
        prepare_update("clients", rid, {"a": 1})
    assert err.value.field == "id"


def test_update_does_not_need_mandatory_create_fields() -> None:
    assert prepare_update("referrals", 1, {"stage": 2}).body == b"stage=2"


# -- dates in order -------------------------------------------------------------------

IN_ORDER = [
    (dt.date(2024, 1, 1), dt.date(2024, 1, 1)),
    (dt.datetime(2024, 1, 1, 9), dt.datetime(2024, 1, 1, 9)),
    (dt.datetime(2024, 1, 1, 9), dt.datetime(2024, 1, 1, 10)),
    (dt.datetime(2024, 1, 1, 9), dt.date(2024, 1, 1)),  # a date is the whole day
    ("2024-01-01", "2024-01-02"),
    ("2024-01-01T09:00:00", "2024-01-01 10:00:00"),
]
OUT_OF_ORDER = [
    (dt.date(2024, 1, 2), dt.date(2024, 1, 1)),
    (dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 1, 9, 59)),
    (dt.date(2024, 1, 2), dt.datetime(2024, 1, 1, 23)),
    ("2024-01-02", "2024-01-01"),
    ("2024-01-01T10:00:00", "2024-01-01T09:00:00"),
]


@pytest.mark.parametrize(("start", "end"), IN_ORDER)
def test_an_end_at_or_after_its_start_is_accepted(start: object, end: object) -> None:
    prepare_update("due_contacts", 1, {"start_date": start, "end_date": end})
    prepare_complete_contact(1, start, end, {})


@pytest.mark.parametrize(("start", "end"), OUT_OF_ORDER)
def test_an_end_before_its_start_is_refused(start: object, end: object) -> None:
    for prepare in (
        lambda: prepare_update("due_contacts", 1, {"start_date": start, "end_date": end}),
        lambda: prepare_due_contact(1, {**DUE, "start_date": start, "end_date": end}),
        lambda: prepare_complete_contact(1, start, end, {}),
    ):
        with pytest.raises(ValidationError, match="before") as err:
            prepare()
        assert err.value.field == "end_date"


def test_mixing_aware_and_naive_datetimes_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        prepare_complete_contact(
            1, dt.datetime(2024, 1, 1, 9, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 1, 10), {}
        )


@pytest.mark.parametrize("bad", ["01/02/2024", "soon", 5])
def test_a_start_that_is_not_a_date_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        prepare_complete_contact(1, bad, dt.date(2024, 1, 2), {})
    assert err.value.field == "start_date"


# -- due and done contacts ------------------------------------------------------------


def test_due_contact_puts_to_its_referral() -> None:
    write = prepare_due_contact(510, DUE)
    assert (write.method, write.path) == ("PUT", "/v2/due_contacts/referral/510")
    assert write.kind is OperationKind.CREATE_FOR_REFERRAL
    assert dict(body_of(write))["start_date"] == "2024-03-01T09:00:00"


def test_due_contact_refuses_a_bad_referral_id() -> None:
    with pytest.raises(ValidationError) as err:
        prepare_due_contact(-5, DUE)
    assert err.value.field == "referral_id"


def test_complete_contact_posts_start_and_end_to_done_contacts() -> None:
    write = prepare_complete_contact(
        9, dt.datetime(2024, 3, 1, 9), dt.datetime(2024, 3, 1, 9, 45), {"travel_time": 15}
    )
    assert (write.method, write.path) == ("POST", "/v2/done_contacts/id/9")
    assert body_of(write) == [
        ("start_date", "2024-03-01T09:00:00"),
        ("end_date", "2024-03-01T09:45:00"),
        ("travel_time", "15"),
    ]


@pytest.mark.parametrize("missing", ["start", "end"])
def test_complete_contact_needs_both_start_and_end(missing: str) -> None:
    start = None if missing == "start" else dt.date(2024, 1, 1)
    end = None if missing == "end" else dt.date(2024, 1, 1)
    with pytest.raises(ValidationError) as err:
        prepare_complete_contact(1, start, end, {})
    assert err.value.field == f"{missing}_date"


def test_complete_contact_refuses_start_date_in_the_fields_too() -> None:
    with pytest.raises(ValidationError) as err:
        prepare_complete_contact(1, "2024-01-01", "2024-01-01", {"end_date": "2024-01-02"})
    assert err.value.field == "end_date"


# -- relationships --------------------------------------------------------------------


def test_relationship_is_a_client_update_carrying_id_second_and_the_pair() -> None:
    write = prepare_relationship(7, 8, 1, 2)
    assert (write.method, write.path) == ("POST", "/v2/clients/id/7")
    assert body_of(write) == [
        ("id_second", "8"),
        ("relationship_first_to_second", "1"),
        ("relationship_second_to_first", "2"),
    ]


def test_relationship_carries_the_carer_pair_when_given() -> None:
    write = prepare_relationship(7, 8, 1, 2, carer_first_to_second=3, carer_second_to_first=4)
    assert dict(body_of(write)) == {
        "id_second": "8",
        "relationship_first_to_second": "1",
        "relationship_second_to_first": "2",
        "relationship_first_to_second_carer": "3",
        "relationship_second_to_first_carer": "4",
    }


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((7, 7, 1, 2), "id_second"),
        ((7, -8, 1, 2), "id_second"),
        ((7, 8, None, 2), "relationship_first_to_second"),
        ((7, 8, 1, "2"), "relationship_second_to_first"),
        ((True, 8, 1, 2), "first_id"),
    ],
)
def test_relationship_refuses_bad_ids(args: Any, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        prepare_relationship(*args)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"second_id": 7}, "second_id"),
        ({"first_to_second": -1}, "first_to_second"),
        ({"carer_first_to_second": 1}, "carer_second_to_first"),
        ({"carer_second_to_first": 1}, "carer_first_to_second"),
        ({"major": 1.5}, "major"),
    ],
)
def test_set_relationship_refuses_before_sending(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"first_to_second": 6, "second_to_first": 5, **kwargs}
    second = args.pop("second_id", 59)
    with pytest.raises(ValidationError) as err:
        prepare_set_relationship(7, second, **args)
    assert err.value.field == field


def test_set_relationship_sends_only_what_is_given() -> None:
    write = prepare_set_relationship(37, 59, first_to_second=6, second_to_first=5, major=False)
    assert orjson.loads(write.body) == [
        {"relation_first_to_second": "6", "relation_second_to_first": "5", "major": "N"}
    ]


# -- external referrals: people related by position --------------------------------------


def person(**extra: object) -> dict[str, object]:
    return {"org_type_id": 1, "surname": "Smith", "description": "x", **extra}


@pytest.mark.parametrize(
    ("people", "message"),
    [
        ([person(relationships={1: 5}), person(relationships={0: 8, 2: 15})], "list has 2"),
        ([person(relationships={1: 5}), person()], "relationships go in pairs"),
        ([person(relationships={0: 5}), person()], "to itself"),
        ([person(carer_relationships={1: 1}), person(relationships={0: 1})], "in pairs"),
        ([person(relationships={-1: 5}), person()], "non-negative"),
        ([person(relationships=[1]), person()], "map another person's position"),
        ([person(relationships={1: "mother"}), person(relationships={0: 8})], "non-negative"),
    ],
)
def test_external_referral_links_are_checked_before_sending(
    people: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        prepare_external_referral(people)


def test_one_person_with_links_is_refused_and_a_list_of_one_is_json() -> None:
    with pytest.raises(ValidationError, match="pass a list of people"):
        prepare_external_referral(person(relationships={1: 5}))
    write = prepare_external_referral([person()])
    assert write.content_type == "application/json"
    assert orjson.loads(write.body) == [
        {"org_type_id": "1", "surname": "Smith", "description": "x"}
    ]


# -- done contacts ------------------------------------------------------------------------


def test_done_contact_needs_the_wikis_fields() -> None:
    fields = {
        "user": 1,
        "stage": 2,
        "start_date": "2024-01-01",
        "end_date": "2024-01-01",
        "description": "x",
    }
    for name in fields:
        with pytest.raises(ValidationError) as err:
            prepare_done_contact(5, {k: v for k, v in fields.items() if k != name})
        assert err.value.field == name
    write = prepare_done_contact(5, {**fields, "travel_time": 10, "priority": 3})
    assert (write.method, write.path) == ("PUT", "/v2/done_contacts/referral/5")
    assert prepare_done_contact(5, fields, "wiki").method == "POST"


def test_relationship_refuses_a_bad_carer_id() -> None:
    with pytest.raises(ValidationError) as err:
        prepare_relationship(7, 8, 1, 2, carer_second_to_first=1.5)  # type: ignore[arg-type]
    assert err.value.field == "relationship_second_to_first_carer"


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"relationship_first_to_second_carer": 3}, "id_second"),
        ({"id_second": 8, "relationship_first_to_second_carer": 3}, "relationship_first_to_second"),
        ({"id_second": 8, "relationship_first_to_second": 1}, "relationship_second_to_first"),
    ],
)
def test_a_client_update_with_partial_relationship_fields_is_refused(
    fields: dict[str, object], missing: str
) -> None:
    with pytest.raises(ValidationError) as err:
        prepare_update("clients", 7, fields)
    assert err.value.field == missing


# -- external referrals ---------------------------------------------------------------


def test_one_external_referral_is_form_encoded_and_may_carry_project() -> None:
    write = prepare_external_referral({**EXTERNAL, "project": 5})
    assert (write.method, write.path, write.content_type) == ("PUT", "/v2/external_referral", FORM)
    assert ("project", "5") in body_of(write)


def test_several_external_referrals_are_one_json_array() -> None:
    write = prepare_external_referral([EXTERNAL, {**EXTERNAL, "surname": "Ng", "active": True}])
    assert write.content_type == JSON
    assert orjson.loads(write.body) == [
        {"org_type_id": "2", "surname": "Lee", "description": "Needs help"},
        {"org_type_id": "2", "surname": "Ng", "description": "Needs help", "active": "Y"},
    ]


def test_external_referral_names_the_person_missing_a_field() -> None:
    with pytest.raises(ValidationError, match="person 1") as err:
        prepare_external_referral([EXTERNAL, {"surname": "Ng", "description": "x"}])
    assert err.value.field == "org_type_id"


@pytest.mark.parametrize("people", [[], "Lee", 5])
def test_external_referral_refuses_no_people(people: Any) -> None:
    with pytest.raises(ValidationError):
        prepare_external_referral(people)


# -- uploads --------------------------------------------------------------------------


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4 hello")
    return path


def test_upload_of_a_path_posts_to_the_record_with_visibility(report: Path) -> None:
    up = prepare_upload("clients", 7, report, user_visibility=[3, 4], group_visibility=2)
    assert (up.method, up.path) == ("POST", "/v2/clients/id/7/uploads")
    assert up.fields == (("user_visibility", "3,4"), ("group_visibility", "2"))
    (part,) = up.files
    assert (part.source, part.filename, part.content_type) == (
        report,
        "report.pdf",
        "application/pdf",
    )


def test_upload_takes_several_paths_and_file_objects(report: Path, tmp_path: Path) -> None:
    other = tmp_path / "notes.bin"
    other.write_bytes(b"\x00\x01")
    buffer = io.BytesIO(b"abc")
    with other.open("rb") as handle:
        up = prepare_upload(
            "referrals", 510, [str(report), handle, buffer], user_visibility=1, group_visibility=1
        )
        assert [f.filename for f in up.files] == ["report.pdf", "notes.bin", "upload-2"]
        assert up.files[1].source is handle
        assert up.path == "/v2/referrals/id/510/uploads"


@pytest.mark.parametrize("resource", ["done_contacts", "due_contacts", "workers", "nope"])
def test_upload_goes_only_to_clients_and_referrals(resource: str, report: Path) -> None:
    with pytest.raises(ValidationError, match="clients or referrals"):
        prepare_upload(resource, 1, report, user_visibility=1, group_visibility=1)


def test_upload_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist") as err:
        prepare_upload("clients", 1, tmp_path / "gone.pdf", user_visibility=1, group_visibility=1)
    assert err.value.field == "files"


def test_upload_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not a regular file"):
        prepare_upload("clients", 1, tmp_path, user_visibility=1, group_visibility=1)


def test_upload_refuses_an_unreadable_file(report: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests may run as root, who can read anything: fake the permission answer.
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == report else real(p, m))
    with pytest.raises(ValidationError, match="not readable"):
        prepare_upload("clients", 1, report, user_visibility=1, group_visibility=1)


def test_upload_refuses_text_closed_and_write_only_file_objects(tmp_path: Path) -> None:
    closed = io.BytesIO(b"x")
    closed.close()
    with (tmp_path / "w.bin").open("wb") as write_only:
        for bad, why in [
            (io.StringIO("text"), "text mode"),
            (closed, "closed"),
            (write_only, "not open for reading"),
            (42, "expected a path"),
        ]:
            with pytest.raises(ValidationError, match=why):
                prepare_upload("clients", 1, [bad], user_visibility=1, group_visibility=1)


@pytest.mark.parametrize(
    ("user", "group"), [([], 1), (1, []), (True, 1), (1, "1"), (1, [1.5]), (None, 1)]
)
def test_upload_refuses_bad_visibility(user: Any, group: Any, report: Path) -> None:
    with pytest.raises(ValidationError, match="visibility"):
        prepare_upload("clients", 1, report, user_visibility=user, group_visibility=group)


def test_upload_refuses_no_files() -> None:
    with pytest.raises(ValidationError, match="at least one file"):
        prepare_upload("clients", 1, [], user_visibility=1, group_visibility=1)


def test_open_upload_files_opens_paths_and_leaves_caller_objects_open(report: Path) -> None:
    buffer = io.BytesIO(b"0123456789")
    buffer.seek(4)
    up = prepare_upload("clients", 1, [report, buffer], user_visibility=1, group_visibility=1)
    with contextlib.ExitStack() as stack:
        body = open_upload(up, stack)
        opened = body.files
        assert opened[0].stream.read() == b"%PDF-1.4 hello"
        assert opened[0].offset == 0
        assert opened[1].stream is buffer and opened[1].offset == 4
        assert body.fields == up.fields
        assert body.rewindable
    assert opened[0].stream.closed
    assert not buffer.closed


def test_open_upload_files_refuses_a_file_that_vanished(report: Path) -> None:
    up = prepare_upload("clients", 1, report, user_visibility=1, group_visibility=1)
    report.unlink()
    with contextlib.ExitStack() as stack, pytest.raises(ValidationError, match="cannot be read"):
        open_upload(up, stack)


def test_an_unseekable_stream_has_no_offset() -> None:
    read_end, write_end = os.pipe()
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        up = prepare_upload("clients", 1, pipe, user_visibility=1, group_visibility=1)
        with contextlib.ExitStack() as stack:
            body = open_upload(up, stack)
            assert body.files[0].offset is None
            assert not body.rewindable


# -- answers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "ids"), [({"id": 4}, [4]), ({"id": 4, "ids": [4, 5]}, [4, 5]), ({"ids": [9]}, [9])]
)
def test_created_ids_reads_ids_or_id(data: object, ids: list[int]) -> None:
    assert decode_created_ids(*_answer(data)) == ids


@pytest.mark.parametrize("data", [{}, [], 5, {"ids": []}, {"ids": ["1"]}, {"id": True}, None])
def test_created_ids_refuses_a_body_without_ids(data: object) -> None:
    with pytest.raises(DecodeError, match="PUT /v2/x"):
        decode_created_ids(*_answer(data))


def _answer(data: object) -> tuple[Request, Response]:
    request = Request.build("PUT", URL("https://api.example/v2/x"), ())
    return request, Response(201, {}, orjson.dumps(data))


# -- the multipart boundary in protocol -------------------------------------------------


def _multipart(offset: int | None) -> Multipart:
    part = FilePart("files[]", "a.pdf", "application/pdf", io.BytesIO(b"x"), offset)
    return Multipart((("user_visibility", "1"),), (part,))


def test_a_request_carries_a_multipart_body_without_a_content_type_of_its_own() -> None:
    request = Request.build(
        "POST",
        URL("https://h/v2/clients/id/1/uploads"),
        (),
        multipart=_multipart(0),
        idempotent=False,
    )
    assert request.body is None and request.content_type is None
    assert "Content-Type" not in dict(request.headers)  # the transport sets the boundary
    assert request.resendable
    assert repr(request.multipart) == "<Multipart 1 fields, 1 files>"


def test_a_request_with_an_unseekable_file_is_not_resendable() -> None:
    request = Request.build("POST", URL("https://h/v2/x"), (), multipart=_multipart(None))
    assert not request.resendable
    assert Request.build("POST", URL("https://h/v2/x"), (), body=b"a=1").resendable


def test_a_request_cannot_have_both_body_bytes_and_multipart() -> None:
    with pytest.raises(ValueError, match="either"):
        Request.build("POST", URL("https://h/v2/x"), (), body=b"a", multipart=_multipart(0))
