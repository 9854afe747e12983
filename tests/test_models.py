"""Typed records: the converter's rules per kind, extra fields, masked errors, the way back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dizions_async import models
from dizions_async._convert import (
    _general_hook,
    _model_hook,
    record_to_fields,
    record_to_wire,
    structure_records,
)
from dizions_async._fields import fields_of
from dizions_async.errors import DecodeError


def one(row: dict[str, Any], cls: type[models.Record] = models.Client) -> Any:
    # A copy: structure_records structures the rows it is given in place.
    return structure_records([dict(row)], cls, "GET /v2/clients")[0]


# (field, wire value, Python value) on a Client (attendances for the float and datetime)
KINDS = [
    ("id", 7, 7),
    ("id", "7", 7),
    ("people_in_household", " 3 ", 3),
    ("gender", "", None),
    ("active", "Y", True),
    ("active", "N", False),
    ("active", True, True),
    ("active", "", None),
    ("date_of_birth", "1970-01-02", dt.date(1970, 1, 2)),
    ("date_of_birth", "0000-00-00", None),
    ("date_of_birth", "", None),
    ("surname", "Lee", "Lee"),
    ("surname", "", None),
    ("nhs_number", 1234567890, "1234567890"),
    ("relationship_details", [{"id": 2}], [{"id": 2}]),
    ("email", None, None),
]


@pytest.mark.parametrize(("field", "wire", "value"), KINDS)
def test_each_kind_structures_from_its_wire_forms(field: str, wire: Any, value: Any) -> None:
    assert getattr(one({field: wire}), field) == value


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        ("2024-03-01 09:00:00", dt.datetime(2024, 3, 1, 9)),
        ("2024-03-01T09:00:00Z", dt.datetime(2024, 3, 1, 9, tzinfo=dt.timezone.utc)),
        ("2024-03-01", dt.datetime(2024, 3, 1)),
    ],
)
def test_datetimes_read_space_t_and_z(wire: str, value: dt.datetime) -> None:
    assert one({"start": wire}, models.Attendance).start == value


def test_numbers_and_numeric_strings_become_floats() -> None:
    assert one({"rate": "2.5"}, models.Attendance).rate == 2.5
    assert one({"rate": 3}, models.Attendance).rate == 3.0


def test_unknown_fields_are_kept_in_extra_not_dropped() -> None:
    record = one({"id": 1, "website_photo_consent": 109, "new_thing": {"a": 1}})
    assert record.id == 1
    assert dict(record.extra) == {"website_photo_consent": 109, "new_thing": {"a": 1}}
    assert one({"id": 1}).extra == {}


def test_extension_records_type_their_links_and_keep_the_rest() -> None:
    record = one({"id": "4", "referral": 9, "client": 2, "note_22": "x"}, models.ExtensionRecord)
    assert (record.id, record.referral, record.client) == (4, 9, 2)
    assert record.extra == {"note_22": "x"}


@pytest.mark.parametrize(
    ("field", "wire", "expected"),
    [
        ("active", "Maybe-secret", "expected Y or N, got a str of 12 characters"),
        ("date_of_birth", "02/01/1970", "expected an ISO date (YYYY-MM-DD), got a str of 10"),
        ("id", "12a", "expected an integer, got a str of 3 characters"),
        ("id", True, "expected an integer, got a bool"),
        ("surname", ["Lee"], "expected text, got a list"),
        ("relationship_details", {"id": 1}, "expected a list, got a dict"),
    ],
)
def test_a_value_that_does_not_fit_names_the_field_and_masks_the_value(
    field: str, wire: Any, expected: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        structure_records([{"id": 1}, {"id": 5, field: wire}], models.Client, "GET /v2/clients")
    message = str(caught.value)
    where = "record 1" if field == "id" else "record 1 (id 5)"  # a bad id is not shown
    assert f"{where} does not fit Client: field {field!r}: {expected}" in message
    assert str(wire) not in message


def test_records_are_frozen_and_every_field_is_optional() -> None:
    record = models.Referral()
    assert record.id is None and record.date is None
    with pytest.raises(AttributeError):
        record.id = 3  # type: ignore[misc]


def test_to_dict_gives_the_wire_form_back() -> None:
    wire = {
        "id": 3,
        "date_of_birth": "1970-01-02",
        "active": "N",
        "surname": "Lee",
        "website_photo_consent": 109,
    }
    record = one(wire)
    assert record.to_dict() == wire == record_to_wire(record)
    contact = one({"id": 1, "start_date": "2024-03-01 09:00:00"}, models.DoneContact)
    assert contact.to_dict() == {"id": 1, "start_date": "2024-03-01 09:00:00"}


def test_a_write_sends_set_writable_fields_and_extra_only() -> None:
    record = models.DoneContact(
        id=4, description="Call", travel_time=15, client=9, extra={"custom_1": "x"}
    )
    # id goes in the path; client is joined (read from the referral): neither is sent.
    assert record_to_fields(record) == {"description": "Call", "travel_time": 15, "custom_1": "x"}


def test_the_way_back_refuses_other_classes() -> None:
    with pytest.raises(TypeError, match=r"not one of dizions_async\.models"):
        record_to_wire(object())  # type: ignore[arg-type]


# Wire values of every shape the converter meets, good and bad.
WIRE = st.one_of(
    st.none(),
    st.integers(-5, 10**12),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "Y", "N", "y", "12", " 7 ", "-3", "1970-01-02", "0000-00-00"]),
    st.sampled_from(["2024-03-01 09:00:00", "2024-03-01T09:00:00Z", "2.5", "Lee", "x" * 10]),
    st.lists(st.dictionaries(st.sampled_from(["id", "relation"]), st.integers(0, 9)), max_size=2),
)


@given(
    st.sampled_from(sorted(models.MODELS)),
    st.data(),
)
def test_the_generated_hook_agrees_with_the_general_one(resource: str, data: st.DataObject) -> None:
    cls = models.MODELS[resource]
    names = [f.name for f in fields_of(resource)] + ["unknown_field"]
    row = data.draw(st.dictionaries(st.sampled_from(names), WIRE, max_size=12))
    fast, general = _model_hook(cls), _general_hook(cls)

    def run(hook: Any) -> Any:
        try:
            return hook(dict(row), cls)
        except ValueError as exc:  # the general hook's _FieldError
            return type(exc).__name__, str(exc)

    assert run(fast) == run(general)


@given(st.sampled_from(sorted(models.MODELS)), st.data())
def test_one_hook_structures_records_of_changing_shapes_as_the_general_one(
    resource: str, data: st.DataObject
) -> None:
    # One hook sees records of several key shapes, often of the same length (the hook
    # tries the last function for that length first), with unknown keys and bad values.
    cls = models.MODELS[resource]
    names = [*(f.name for f in fields_of(resource)[:5]), "unknown_field", "other", "extra"]
    rows = data.draw(st.lists(st.dictionaries(st.sampled_from(names), WIRE, max_size=6)))
    fast, general = _model_hook(cls), _general_hook(cls)

    def run(hook: Any, row: dict[str, Any]) -> Any:
        try:
            return hook(dict(row), cls)
        except ValueError as exc:  # the general hook's _FieldError
            return type(exc).__name__, str(exc)

    assert [run(fast, row) for row in rows] == [run(general, row) for row in rows]


def test_records_of_more_shapes_than_the_hook_keeps_still_structure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("dizions_async._convert._SHAPES", 2)
    fast = _model_hook(models.Client)
    rows = [{"id": 1}, {"surname": "Lee"}, {"id": "3", "active": "Y"}, {"id": 4, "custom": 5}]
    records = [fast(dict(row)) for row in rows]
    assert records == [
        models.Client(id=1),
        models.Client(surname="Lee"),
        models.Client(id=3, active=True),
        models.Client(id=4, extra={"custom": 5}),
    ]
    # Every field is in each record's __dict__ (Parquet output reads it), extra aside.
    assert all(len(vars(r)) >= len(fields_of("clients")) for r in records)


def test_records_compare_by_value_and_hash_without_their_extra() -> None:
    a = one({"id": 1, "surname": "Lee", "custom": 1})
    b = one({"id": 1, "surname": "Lee", "custom": 2})
    assert a != b  # extra is compared
    assert len({a, b, one({"id": 1, "surname": "Lee", "custom": 1})}) == 2
