"""Every write through the Client, end to end against FakeDizions: write, then read it back."""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from dizions_async import Client, ExtensionDatabase, Query, RetryPolicy, UploadResult
from dizions_async.catalogue import OperationKind, get_resource, operation_path
from dizions_async.errors import (
    ConnectError,
    DizionsError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
)
from dizions_async.protocol import Request, Response
from dizions_async.testing import FakeDizions
from dizions_async.transport import MockTransport, json_response

STAFF = ExtensionDatabase("Staff Disciplinary", 13)


class FakeTime:
    """A clock that only moves when slept on, so retries never wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(params=["seed", "wiki"])
def verbs(request: pytest.FixtureRequest) -> str:
    """Each write test runs in both conventions, against a fake that takes only that one
    (the other's verb is a 405), so a write sent the wrong way fails the test."""
    return str(request.param)


@pytest.fixture
async def fake(verbs: str) -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=20, seed=3, write_verbs=verbs) as server:
        yield server


@pytest.fixture
async def dz(fake: FakeDizions, verbs: Any) -> AsyncIterator[Client]:
    time = FakeTime()
    policy = RetryPolicy(jitter=False, clock=time.clock, sleep=time.sleep)
    async with fake.client(retry=policy, write_verbs=verbs) as client:
        yield client


def some_client(fake: FakeDizions, index: int = 0) -> int:
    return int(fake.store.rows("clients")[index]["id"])


def some_referral(fake: FakeDizions) -> dict[str, Any]:
    return fake.store.rows("referrals")[0]


def referral_fields(client: int) -> dict[str, object]:
    return {
        "client": client,
        "client_type": 1,
        "date": dt.date(2024, 3, 1),
        "project": 1,
        "template": 1,
        "stage": 1,
        "response_description": "Phoned back",
    }


def due_fields() -> dict[str, object]:
    return {
        "user": 1,
        "description": "Home visit",
        "start_date": dt.datetime(2024, 3, 4, 9),
        "end_date": dt.datetime(2024, 3, 4, 10),
    }


async def read_one(dz: Client, resource: str | ExtensionDatabase, rid: int) -> dict[str, Any]:
    name = resource.resource if isinstance(resource, ExtensionDatabase) else resource
    return await dz.fetch_one(Query(name).id(rid))


# -- creates and updates, read back ---------------------------------------------------


async def test_create_client_is_read_back(dz: Client) -> None:
    fields = {"first_name": "Ann", "surname": "Lee", "active": True, "date_of_birth": None}
    cid = await dz.create("clients", fields)
    row = await read_one(dz, "clients", cid)
    assert (row["first_name"], row["surname"], row["active"]) == ("Ann", "Lee", "Y")
    assert row["date_of_birth"] is None  # None was not sent


async def test_create_client_by_external_id_is_found_by_it(dz: Client, fake: FakeDizions) -> None:
    cid = await dz.create_client({"first_name": "Ann", "surname": "Lee"}, external_id="CRM/42 a")
    assert fake.requests[-1].method == ("PUT" if dz.write_verbs == "seed" else "POST")
    assert fake.requests[-1].path == "/v2/clients/external_id/CRM%2F42%20a"
    rows = await dz.fetch(Query("clients").filter(external_id="CRM/42 a").fields("id"))
    assert rows == [{"id": cid}]


async def test_update_client_is_read_back(dz: Client) -> None:
    cid = await dz.create_client({"first_name": "Ann", "surname": "Lee"})
    assert await dz.update("clients", cid, {"postcode": "AB1 2CD", "gender": 2}) == cid
    row = await read_one(dz, "clients", cid)
    assert (row["postcode"], row["gender"], row["surname"]) == ("AB1 2CD", 2, "Lee")


async def test_create_referral_is_read_back(dz: Client, fake: FakeDizions) -> None:
    client = some_client(fake)
    rid = await dz.create_referral(referral_fields(client))
    row = await read_one(dz, "referrals", rid)
    assert (row["client"], row["date"], row["response_description"]) == (
        client,
        "2024-03-01",
        "Phoned back",
    )
    await dz.update("referrals", rid, {"stage": 2})
    assert (await read_one(dz, "referrals", rid))["stage"] == 2


@pytest.mark.parametrize("resource", [STAFF, "extension_database/staff_disciplinary_13"])
async def test_extension_database_records_are_created_and_updated_by_slug(
    dz: Client, fake: FakeDizions, resource: str | ExtensionDatabase
) -> None:
    referral = some_referral(fake)["id"]
    eid = await dz.create(resource, {"referral": referral, "date_43": dt.date(2018, 11, 8)})
    rows = await dz.fetch(STAFF.query().filter(referral=referral))
    assert {"id": eid, "date_43": "2018-11-08"}.items() <= next(
        r for r in rows if r["id"] == eid
    ).items()
    await dz.update(resource, eid, {"notes_45": "Verbal warning"})
    assert (await read_one(dz, STAFF, eid))["notes_45"] == "Verbal warning"


async def test_due_contact_is_created_updated_and_read_back(dz: Client, fake: FakeDizions) -> None:
    referral = some_referral(fake)["id"]
    due = await dz.create_due_contact(referral, due_fields())
    row = await read_one(dz, "due_contacts", due)
    assert (row["referral"], row["start_date"], row["description"]) == (
        referral,
        "2024-03-04T09:00:00",
        "Home visit",
    )
    await dz.update_due_contact(due, {"description": "Phone call"})
    assert (await read_one(dz, "due_contacts", due))["description"] == "Phone call"


async def test_completed_contact_moves_from_due_to_done(dz: Client, fake: FakeDizions) -> None:
    due = await dz.create_due_contact(some_referral(fake)["id"], due_fields())
    start, end = dt.datetime(2024, 3, 4, 9, 5), dt.datetime(2024, 3, 4, 9, 50)
    assert await dz.complete_contact(due, start, end, travel_time=15) == due
    done = await read_one(dz, "done_contacts", due)
    assert (done["start_date"], done["end_date"], done["travel_time"]) == (
        "2024-03-04T09:05:00",
        "2024-03-04T09:50:00",
        15,
    )
    with pytest.raises(NotFoundError):  # no longer due
        await read_one(dz, "due_contacts", due)
    await dz.update_done_contact(due, {"travel_mileage": 3})
    assert (await read_one(dz, "done_contacts", due))["travel_mileage"] == 3


async def test_relationship_shows_on_both_clients(dz: Client, fake: FakeDizions) -> None:
    first, second = some_client(fake, 0), some_client(fake, 1)
    await dz.relate_clients(first, second, 1, 2, carer_first_to_second=3, carer_second_to_first=4)
    carers = await relationships(dz, first, second, "carer_relationship_details")
    assert carers == {
        first: [{"id": second, "relationship": 3}],
        second: [{"id": first, "relationship": 4}],
    }
    plain = await relationships(dz, first, second, "relationship_details")
    assert [(r["id"], r["relationship"]) for r in plain[first]] == [(second, 1)]
    assert [(r["id"], r["relationship"]) for r in plain[second]] == [(first, 2)]


async def relationships(dz: Client, first: int, second: int, field: str) -> dict[int, Any]:
    rows = await dz.fetch(Query("clients").id(first, second).fields("id", field))
    return {r["id"]: r[field] for r in rows}


async def test_relationship_without_carers_shows_on_both_clients(
    dz: Client, fake: FakeDizions
) -> None:
    first, second = some_client(fake, 2), some_client(fake, 3)
    await dz.relate_clients(first, second, 5, 6)
    plain = await relationships(dz, first, second, "relationship_details")
    assert [(r["id"], r["relationship"]) for r in plain[first]] == [(second, 5)]
    assert [(r["id"], r["relationship"]) for r in plain[second]] == [(first, 6)]
    assert await relationships(dz, first, second, "carer_relationship_details") == {
        first: [],
        second: [],
    }


async def test_external_referral_lands_in_the_staging_table(dz: Client, fake: FakeDizions) -> None:
    one = await dz.external_referral(
        {"org_type_id": 2, "surname": "Ng", "description": "Needs help", "project": 1}
    )
    many = await dz.external_referral(
        [
            {"org_type_id": 2, "surname": "Oh", "description": "First"},
            {"org_type_id": 3, "surname": "Poe", "description": "Second", "first_name": "Al"},
        ]
    )
    assert isinstance(one, int) and len(many) == 2
    staged = {r["id"]: r for r in fake.store.rows("external_referral")}
    assert (staged[one]["surname"], staged[one]["project"]) == ("Ng", 1)
    assert [(staged[i]["surname"], staged[i]["org_type_id"]) for i in many] == [
        ("Oh", 2),
        ("Poe", 3),
    ]
    assert staged[many[1]]["first_name"] == "Al"


# -- uploads --------------------------------------------------------------------------


# -- the wiki's operations (issue 13) ---------------------------------------------------


DONE = {
    "user": 2,
    "stage": 3,
    "start_date": dt.datetime(2024, 3, 5, 14),
    "end_date": dt.datetime(2024, 3, 5, 15),
    "description": "Visited at home",
}
OPTIONAL = {"travel_time": 20, "travel_mileage": "4.5", "transport_method": 2, "contact_type": 1}


async def test_done_contact_is_created_for_a_referral_with_its_optional_fields(
    dz: Client, fake: FakeDizions
) -> None:
    referral = some_referral(fake)["id"]
    done = await dz.create_done_contact(referral, {**DONE, **OPTIONAL, "priority": 2})
    row = await read_one(dz, "done_contacts", done)
    assert {k: row[k] for k in ("referral", "user", "stage", "description")} == {
        "referral": referral,
        "user": 2,
        "stage": 3,
        "description": "Visited at home",
    }
    expected = {**OPTIONAL, "travel_mileage": 4.5, "priority": 2}
    assert {k: row[k] for k in expected} == expected
    await dz.update_done_contact(done, {"stage": 4, "transport_method": 3})
    row = await read_one(dz, "done_contacts", done)
    assert (row["stage"], row["transport_method"]) == (4, 3)


async def test_a_done_contact_missing_a_mandatory_field_is_refused_before_sending(
    dz: Client, fake: FakeDizions
) -> None:
    before = len(fake.requests)
    with pytest.raises(ValidationError) as info:
        await dz.create_done_contact(1, {k: v for k, v in DONE.items() if k != "stage"})
    assert info.value.field == "stage"
    assert len(fake.requests) == before


async def test_completing_a_due_contact_carries_stage_and_the_optional_fields(
    dz: Client, fake: FakeDizions
) -> None:
    due = await dz.create_due_contact(some_referral(fake)["id"], due_fields())
    start, end = dt.datetime(2024, 3, 4, 9, 5), dt.datetime(2024, 3, 4, 9, 50)
    await dz.complete_contact(due, start, end, stage=2, transport_method=1, priority=3)
    done = await read_one(dz, "done_contacts", due)
    assert (done["stage"], done["transport_method"], done["priority"]) == (2, 1, 3)


async def test_set_relationship_is_read_back_from_both_clients(
    dz: Client, fake: FakeDizions
) -> None:
    first, second = some_client(fake, 4), some_client(fake, 5)
    got = await dz.set_relationship(
        first,
        second,
        first_to_second=1,
        second_to_first=2,
        major=True,
        send_one_letter_to_both=True,
        joint_address="Mr and Mrs Smith",
        carer_first_to_second=1,
        carer_second_to_first=2,
    )
    assert got == first
    assert fake.requests[-1].method == "PUT"
    assert fake.requests[-1].path == f"/v2/relationship_details/{first}/{second}"
    shared = {"major": "Y", "send_one_letter_to_both": "Y", "joint_address": "Mr and Mrs Smith"}
    assert await relationships(dz, first, second, "relationship_details") == {
        first: [{"id": second, "relationship": 1, **shared}],
        second: [{"id": first, "relationship": 2, **shared}],
    }
    assert await relationships(dz, first, second, "carer_relationship_details") == {
        first: [{"id": second, "relationship": 1}],
        second: [{"id": first, "relationship": 2}],
    }
    # Setting it again replaces it (one relationship per pair).
    await dz.set_relationship(first, second, first_to_second=3, second_to_first=3)
    plain = await relationships(dz, first, second, "relationship_details")
    assert [(r["id"], r["relationship"]) for r in plain[first]] == [(second, 3)]


async def test_external_referral_people_relate_by_position(dz: Client, fake: FakeDizions) -> None:
    family = [
        {
            "first_name": "Alice",
            "surname": "Smith",
            "org_type_id": 1,
            "description": "Help",
            "relationships": {1: 5, 2: 5},
        },
        {
            "first_name": "Bob",
            "surname": "Smith",
            "org_type_id": 2,
            "description": "Son",
            "relationships": {0: 8, 2: 15},
            "carer_relationships": {0: 1},
        },
        {
            "first_name": "Charlie",
            "surname": "Smith",
            "org_type_id": 2,
            "description": "Son",
            "relationships": {0: 8, 1: 15},
        },
    ]
    family[0]["carer_relationships"] = {1: 2}
    ids = await dz.external_referral(family)
    staged = {r["id"]: r for r in fake.store.rows("external_referral")}
    data = [orjson.loads(staged[i]["data"]) for i in ids]
    assert data[0]["relationships"] == {"1": 5, "2": 5}
    assert data[1]["relationships"] == {"0": 8, "2": 15}
    assert data[1]["carer_relationships"] == {"0": 1}
    assert data[0]["carer_relationships"] == {"1": 2}


async def test_a_list_of_one_external_referral_goes_as_a_json_array(
    dz: Client, fake: FakeDizions
) -> None:
    ids = await dz.external_referral([{"org_type_id": 1, "surname": "Solo", "description": "x"}])
    assert len(ids) == 1
    assert fake.requests[-1].headers["Content-Type"] == "application/json"


def stored(fake: FakeDizions, upload_id: int) -> tuple[dict[str, Any], bytes]:
    (row,) = fake.store.rows("uploads", id=upload_id)
    return row, Path(row["stored_path"]).read_bytes()


async def test_upload_stores_each_files_bytes_and_visibility(
    dz: Client, fake: FakeDizions, tmp_path: Path
) -> None:
    client = some_client(fake)
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(b"%PDF-1.4 " + bytes(range(256)) * 100)
    scan = io.BytesIO(b"PREFIX" + os.urandom(70_000))
    scan.seek(6)  # read from the current position
    expected_scan = scan.getvalue()[6:]
    result = await dz.upload(
        "clients", client, [letter, scan], user_visibility=[3, 4], group_visibility=2
    )
    assert isinstance(result, UploadResult)
    assert result.filenames == ("letter.pdf", "upload-1")
    (row_a, bytes_a), (row_b, bytes_b) = (stored(fake, i) for i in result.ids)
    assert bytes_a == letter.read_bytes() and bytes_b == expected_scan
    for row in (row_a, row_b):
        assert (row["resource"], row["record"]) == ("clients", client)
        assert (row["user_visibility"], row["group_visibility"]) == ("3,4", "2")
    assert row_a["filename"] == "letter.pdf"
    assert not scan.closed  # the caller's object is the caller's to close


async def test_upload_to_a_referral_from_an_open_file(
    dz: Client, fake: FakeDizions, tmp_path: Path
) -> None:
    referral = some_referral(fake)["id"]
    path = tmp_path / "notes.txt"
    path.write_bytes(b"line one\nline two\n")
    with path.open("rb") as handle:
        result = await dz.upload(
            "referrals", referral, handle, user_visibility=1, group_visibility=[1, 2]
        )
        assert not handle.closed
    row, data = stored(fake, result.ids[0])
    assert (row["resource"], row["record"], row["filename"], data) == (
        "referrals",
        referral,
        "notes.txt",
        b"line one\nline two\n",
    )
    assert row["group_visibility"] == "1,2"


# -- refused before sending -----------------------------------------------------------

Call = Callable[[Client, FakeDizions, Path], Awaitable[object]]


def _unreadable(dz: Client, fake: FakeDizions, tmp: Path) -> Awaitable[object]:
    path = tmp / "secret.pdf"
    path.write_bytes(b"x")
    path.chmod(0)
    return dz.upload("clients", 1, path, user_visibility=1, group_visibility=1)


REFUSED: list[tuple[str, Call, str | None]] = [
    ("client without surname", lambda d, f, t: d.create_client({"first_name": "A"}), "surname"),
    (
        "client by external id without first name",
        lambda d, f, t: d.create_client({"surname": "L"}, external_id="X"),
        "first_name",
    ),
    (
        "referral without project",
        lambda d, f, t: d.create_referral({**referral_fields(1), "project": None}),
        "project",
    ),
    (
        "due contact without user",
        lambda d, f, t: d.create_due_contact(1, {**due_fields(), "user": None}),
        "user",
    ),
    (
        "external referral without description",
        lambda d, f, t: d.external_referral({"org_type_id": 1, "surname": "N"}),
        "description",
    ),
    (
        "one of several external referrals without org_type_id",
        lambda d, f, t: d.external_referral(
            [{"org_type_id": 1, "surname": "N", "description": "d"}, {"surname": "M"}]
        ),
        "org_type_id",
    ),
    (
        "due contact ending before it starts",
        lambda d, f, t: d.create_due_contact(
            1, {**due_fields(), "end_date": dt.datetime(2024, 3, 4, 8)}
        ),
        "end_date",
    ),
    (
        "completion ending before it starts",
        lambda d, f, t: d.complete_contact(1, dt.date(2024, 3, 2), dt.date(2024, 3, 1)),
        "end_date",
    ),
    (
        "update ending before it starts",
        lambda d, f, t: d.update_done_contact(
            1, {"start_date": "2024-03-02", "end_date": "2024-03-01"}
        ),
        "end_date",
    ),
    ("empty update", lambda d, f, t: d.update("clients", 1, {}), None),
    ("update of only None", lambda d, f, t: d.update("clients", 1, {"postcode": None}), None),
    (
        "float value",
        lambda d, f, t: d.update_done_contact(1, {"travel_mileage": 2.5}),
        "travel_mileage",
    ),
    ("dict value", lambda d, f, t: d.update("clients", 1, {"town": {"a": 1}}), "town"),
    ("key not an identifier", lambda d, f, t: d.update("clients", 1, {"Town": "x"}), "Town"),
    ("create on done contacts", lambda d, f, t: d.create("done_contacts", {"a": 1}), None),
    ("update of a read-only resource", lambda d, f, t: d.update("workers", 1, {"a": 1}), None),
    (
        "carer pair without the standard pair",
        lambda d, f, t: d.update("clients", 1, {"relationship_first_to_second_carer": 3}),
        "id_second",
    ),
    ("client related to itself", lambda d, f, t: d.relate_clients(4, 4, 1, 2), "id_second"),
    (
        "upload to a due contact",
        lambda d, f, t: d.upload("due_contacts", 1, t, user_visibility=1, group_visibility=1),
        None,
    ),
    (
        "upload of a missing file",
        lambda d, f, t: d.upload(
            "clients", 1, t / "missing.pdf", user_visibility=1, group_visibility=1
        ),
        "files",
    ),
    (
        "upload of a directory",
        lambda d, f, t: d.upload("clients", 1, [t], user_visibility=1, group_visibility=1),
        "files",
    ),
    ("upload of an unreadable file", _unreadable, "files"),
    (
        "upload without visibility",
        lambda d, f, t: d.upload(
            "clients", 1, io.BytesIO(b"x"), user_visibility=[], group_visibility=1
        ),
        "user_visibility",
    ),
]


@pytest.mark.parametrize(("call", "field"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
async def test_refused_writes_send_nothing(
    dz: Client,
    fake: FakeDizions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    call: Call,
    field: str | None,
) -> None:
    # Tests may run as root, who reads any file: answer the permission check as a user would.
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, m: real_access(p, m) and os.stat(p).st_mode & 0o444 != 0
    )
    before = len(fake.requests)
    with pytest.raises(ValidationError) as err:
        await call(dz, fake, tmp_path)
    assert err.value.field == field
    assert len(fake.requests) == before


# -- retries and unknown outcomes -----------------------------------------------------


def route(dz: Client, resource: str, kind: OperationKind, **values: object) -> str:
    """The fault route ("METHOD /v2/path") of a write in the client's convention."""
    spec = get_resource(resource)
    method = spec.operation(kind).shape(dz.write_verbs).method
    return f"{method} {operation_path(spec, kind, dz.write_verbs, **values)}"


def count_clients(fake: FakeDizions, **where: object) -> int:
    return len(fake.store.rows("clients", **where))


@pytest.mark.parametrize("fault", [{"rate_429": 1.0, "retry_after": "0"}, {"rate_503": 1.0}])
async def test_a_create_refused_before_acting_is_resent_and_made_once(
    dz: Client, fake: FakeDizions, fault: dict[str, Any]
) -> None:
    fake.faults.set(route(dz, "clients", OperationKind.CREATE), times=1, **fault)
    cid = await dz.create_client({"first_name": "Once", "surname": "Only"})
    assert [r.status for r in fake.requests[-2:]] == [429 if "rate_429" in fault else 503, 201]
    assert count_clients(fake, surname="Only") == 1
    assert (await read_one(dz, "clients", cid))["first_name"] == "Once"


@pytest.mark.parametrize(("mode", "error"), [("500", ServerError), ("drop", TransportError)])
async def test_a_create_with_unknown_outcome_is_not_resent_and_says_so(
    dz: Client, fake: FakeDizions, mode: str, error: type[DizionsError]
) -> None:
    create = route(dz, "clients", OperationKind.CREATE)
    fake.faults.set(create, commit_then_fail=1.0, commit_fail_mode=mode, times=1)
    before = len(fake.requests)
    with pytest.raises(error) as err:
        await dz.create("clients", {"first_name": "Maybe", "surname": "Twice"})
    assert err.value.outcome_unknown is True
    assert len(fake.requests) == before + 1  # never resent
    assert count_clients(fake, surname="Twice") == 1  # committed exactly once


@pytest.mark.parametrize("mode", ["500", "drop"])
async def test_create_by_external_id_with_unknown_outcome_says_how_to_check(
    dz: Client, fake: FakeDizions, mode: str
) -> None:
    create = route(dz, "clients", OperationKind.CREATE)
    fake.faults.set(create, commit_then_fail=1.0, commit_fail_mode=mode, times=1)
    with pytest.raises(DizionsError) as err:
        await dz.create_client({"first_name": "Ann", "surname": "Lee"}, external_id="CRM 7")
    assert err.value.outcome_unknown is True
    assert isinstance(err.value, ServerError if mode == "500" else TransportError)
    assert "read GET /v2/clients/external_id/*** " in str(err.value)
    assert "CRM" not in str(err.value)
    assert err.value.external_id == "CRM 7"
    assert count_clients(fake, external_id="CRM 7") == 1
    # The check the message names finds the record, so the caller need not create it again.
    (row,) = await dz.fetch(Query("clients").filter(external_id="CRM 7"))
    assert row["surname"] == "Lee"


async def test_an_update_with_unknown_outcome_is_not_resent(dz: Client, fake: FakeDizions) -> None:
    cid = some_client(fake)
    fake.faults.set(
        route(dz, "clients", OperationKind.UPDATE, id=cid), commit_then_fail=1.0, times=1
    )
    before = len(fake.requests)
    with pytest.raises(ServerError) as err:
        await dz.update("clients", cid, {"postcode": "ZZ1 1ZZ"})
    assert err.value.outcome_unknown is True
    assert len(fake.requests) == before + 1
    assert (await read_one(dz, "clients", cid))["postcode"] == "ZZ1 1ZZ"


async def test_a_rate_limited_upload_is_resent_whole(
    dz: Client, fake: FakeDizions, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(300_000))
    buffer = io.BytesIO(b"skip" + os.urandom(200_000))
    buffer.seek(4)
    client = some_client(fake)
    fake.faults.set(f"POST /v2/clients/id/{client}/uploads", rate_429=1.0, retry_after="0", times=1)
    result = await dz.upload(
        "clients", client, [path, buffer], user_visibility=1, group_visibility=1
    )
    assert [r.status for r in fake.requests[-2:]] == [429, 201]
    assert stored(fake, result.ids[0])[1] == path.read_bytes()
    assert stored(fake, result.ids[1])[1] == buffer.getvalue()[4:]
    assert fake.store.count("uploads") == 2


async def test_an_upload_from_an_unseekable_stream_is_not_resent(
    dz: Client, fake: FakeDizions
) -> None:
    client = some_client(fake)
    fake.faults.set(f"POST /v2/clients/id/{client}/uploads", rate_429=1.0, retry_after="0", times=1)
    read_end, write_end = os.pipe()
    os.write(write_end, b"piped bytes")
    os.close(write_end)
    before = len(fake.requests)
    with os.fdopen(read_end, "rb") as pipe, pytest.raises(RateLimitError) as err:
        await dz.upload("clients", client, pipe, user_visibility=1, group_visibility=1)
    assert err.value.outcome_unknown is False  # the server did not act
    assert len(fake.requests) == before + 1
    assert fake.store.count("uploads") == 0


async def test_an_upload_with_unknown_outcome_is_not_resent(dz: Client, fake: FakeDizions) -> None:
    client = some_client(fake)
    fake.faults.set(f"POST /v2/clients/id/{client}/uploads", commit_then_fail=1.0, times=1)
    before = len(fake.requests)
    with pytest.raises(ServerError) as err:
        await dz.upload(
            "clients", client, io.BytesIO(b"abc"), user_visibility=1, group_visibility=1
        )
    assert err.value.outcome_unknown is True
    assert len(fake.requests) == before + 1
    assert fake.store.count("uploads") == 1


async def test_a_write_whose_connection_failed_before_sending_is_resent() -> None:
    attempts: list[Request] = []

    def handler(request: Request) -> Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise ConnectError("refused", method=request.method)
        return json_response({"id": 41}, 201)

    time = FakeTime()
    policy = RetryPolicy(jitter=False, clock=time.clock, sleep=time.sleep)
    async with Client("s", "o", "u", transport=MockTransport(handler), retry=policy) as dz:
        assert await dz.create("clients", {"first_name": "A", "surname": "B"}) == 41
    assert len(attempts) == 2
    assert all(not r.idempotent for r in attempts)
    assert attempts[0].body == b"first_name=A&surname=B"
    assert dict(attempts[0].headers)["Content-Type"] == "application/x-www-form-urlencoded"


async def test_write_requests_are_not_idempotent_and_carry_the_form() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return json_response({"id": 7})

    async with Client("s", "o", "u", transport=MockTransport(handler)) as dz:
        await dz.update("referrals", 7, {"stage": 2, "referral_complete": False})
        await dz.external_referral([{"org_type_id": 1, "surname": "N", "description": "d"}])
    update, staged = seen
    assert (update.method, update.url.raw_path, update.body) == (
        "POST",
        "/v2/referrals/id/7",
        b"stage=2&referral_complete=N",
    )
    assert not update.idempotent and not staged.idempotent
    assert dict(staged.headers)["Content-Type"] == "application/json"


# -- memory ---------------------------------------------------------------------------


def run_upload_benchmark(*flags: str) -> dict[str, Any]:
    """Run benchmarks/bench_upload_memory.py in a fresh process, importing this checkout."""
    import json
    import subprocess
    import sys

    root = Path(__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "bench_upload_memory.py"), *flags],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
        env=env,
    )
    assert done.stdout, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_uploading_200_mb_grows_peak_memory_under_50_mb() -> None:
    result = run_upload_benchmark("--megabytes", "200", "--limit", "50")
    assert result["stored_intact"], result
    assert result["growth_mib"] < 50, result
    # The control reads the same file whole: the measurement does see such a buffer. Its
    # growth is what the process's earlier peak leaves visible of the 200 MB (132 MiB seen
    # with more imported), so the bar is twice the limit above, not the file's size.
    control = run_upload_benchmark("--megabytes", "200", "--in-memory")
    assert control["growth_mib"] > 100, control
