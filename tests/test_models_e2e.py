"""Typed records end to end: the fake server's records through the models and back."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dizions_async import Client, ExtensionDatabase, MockTransport, Query, models
from dizions_async.errors import DecodeError, QueryError, ValidationError
from dizions_async.protocol import Request, Response
from dizions_async.testing import FakeDizions
from dizions_async.transport import json_response

RESOURCES = [
    "clients",
    "referrals",
    "done_contacts",
    "due_contacts",
    "workers",
    "schedules",
    "attendances",
    "clinics",
    "extension_database/staff_disciplinary_13",
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=80, seed=5) as server:
        yield server


def without_empty(row: dict[str, Any]) -> dict[str, Any]:
    """A wire record as a model gives it back: None and "" read as "not set"."""
    return {k: v for k, v in row.items() if v is not None and v != ""}


@pytest.mark.parametrize("resource", RESOURCES)
async def test_fake_records_to_models_and_back_equal_the_wire(
    fake: FakeDizions, resource: str
) -> None:
    query = Query(resource)
    cls = models.MODELS[resource.partition("/")[0]]
    async with fake.client() as dz:
        wire = await dz.fetch(query)
        typed = await dz.fetch(query, as_=cls)
    assert len(typed) == len(wire) > 0
    assert all(type(r) is cls for r in typed)
    assert [r.to_dict() for r in typed] == [without_empty(row) for row in wire]


async def test_selected_and_extension_fields_are_typed_or_kept(fake: FakeDizions) -> None:
    query = Query("clients").fields("id", "date_of_birth", "active", "website_photo_consent")
    async with fake.client() as dz:
        wire = await dz.fetch(query)
        typed = await dz.fetch(query, as_=models.Client)
    first = typed[0]
    assert first.surname is None  # not selected: None, not an error
    assert (
        first.date_of_birth is not None
        and first.date_of_birth.isoformat() == (wire[0]["date_of_birth"])
    )
    assert first.active is (wire[0]["active"] == "Y")
    assert "website_photo_consent" in first.extra or wire[0]["website_photo_consent"] is None


async def test_stream_fetch_one_split_and_bound_queries_give_models(fake: FakeDizions) -> None:
    async with fake.client(max_concurrency=4) as dz:
        expected = await dz.fetch(Query("referrals"), as_=models.Referral)
        async with contextlib.aclosing(dz.stream(Query("referrals"), as_=models.Referral)) as it:
            streamed = [r async for r in it]
        split = await dz.fetch(
            Query("referrals").date_range("date", "2018-01-01", "2023-12-31"),
            as_=models.Referral,
            split="year",
        )
        one = await dz.fetch_one(Query("referrals").id(expected[0].id or 0), as_=models.Referral)
        bound = await dz.query("referrals").typed()
        bound_one = await dz.query("clients").id(3).typed_one()
        ext = await dz.query(ExtensionDatabase("Staff Disciplinary", 13)).typed()
    assert streamed == expected == bound
    assert sorted(r.id or 0 for r in split) == sorted(r.id or 0 for r in expected)
    assert one == expected[0]
    assert isinstance(bound_one, models.Client) and bound_one.id == 3
    assert ext and all(isinstance(r, models.ExtensionRecord) for r in ext)
    assert all("outcome_44" in r.extra for r in ext)


async def test_writes_accept_models_and_send_only_set_fields(fake: FakeDizions) -> None:
    async with fake.client() as dz:
        new_id = await dz.create(models.Client(first_name="Ann", surname="Lee", active=True))
        other = await dz.create("clients", models.Client(first_name="Bo", surname="Ng"))
        before = fake.store.rows("clients", id=new_id)[0]
        await dz.update(models.Client(id=new_id, postcode="AB1 2CD"))
        await dz.update("clients", other, models.Client(town="Leeds"))
        after = await dz.fetch_one(Query("clients").id(new_id), as_=models.Client)
    assert (after.first_name, after.surname, after.active) == ("Ann", "Lee", True)
    assert after.postcode == "AB1 2CD"
    # Nothing but the postcode changed: no None field was sent as an empty value.
    changed = {k for k, v in fake.store.rows("clients", id=new_id)[0].items() if before[k] != v}
    assert changed == {"postcode"}
    assert fake.store.rows("clients", id=other)[0]["town"] == "Leeds"


async def test_model_writes_that_cannot_be_sent_fail_before_sending(fake: FakeDizions) -> None:
    async with fake.client() as dz:
        with pytest.raises(ValidationError, match="ExtensionRecord does not name its database"):
            await dz.create(models.ExtensionRecord(referral=1))
        with pytest.raises(ValidationError, match="needs the record's id"):
            await dz.update(models.Client(postcode="AB1 2CD"))
        with pytest.raises(ValidationError, match="mandatory"):
            await dz.create(models.Client(first_name="Ann"))
        with pytest.raises(
            ValidationError, match="a Client record cannot be written to 'referrals'"
        ):
            await dz.create("referrals", models.Client(first_name="Ann", surname="Lee"))
        with pytest.raises(QueryError, match="has no typed records"):
            await dz.query("external_referral").typed()
        with pytest.raises(ValidationError, match=r"one record of dizions_async\.models"):
            await dz.create({"first_name": "Ann", "surname": "Lee"})  # type: ignore[call-overload]
    assert not fake.requests  # nothing was sent


async def test_a_record_that_does_not_fit_raises_decode_error_naming_the_field() -> None:
    def handler(request: Request) -> Response:
        return json_response([{"id": 1, "date_of_birth": "31/12/1970"}])

    transport = MockTransport(handler)
    async with Client("s", "o", "u", base_url="https://api.example", transport=transport) as dz:
        with pytest.raises(DecodeError) as caught:
            await dz.fetch(Query("clients"), as_=models.Client)
    message = str(caught.value)
    assert "field 'date_of_birth': expected an ISO date" in message
    assert "31/12/1970" not in message
