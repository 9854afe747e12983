"""The fake server's writes: creates, updates, relationships, contacts, staging, uploads."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest

from dizions_async.catalogue import WriteVerbs, get_resource, match_write
from dizions_async.errors import QueryError
from dizions_async.testing import FakeDizions


@pytest.fixture(params=["seed", "wiki"])
def verbs(request: pytest.FixtureRequest) -> WriteVerbs:
    """Every test runs against a fake taking only one convention; the requests below are
    written in the seed's and sent as :func:`in_convention` translates them."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def fake(tmp_path: Path, verbs: WriteVerbs) -> AsyncIterator[FakeDizions]:
    async with FakeDizions(
        clients=200, seed=1, upload_dir=tmp_path / "uploads", write_verbs=verbs
    ) as server:
        yield server


@attrs.frozen
class Http:
    session: aiohttp.ClientSession
    verbs: WriteVerbs


@pytest.fixture
async def http(fake: FakeDizions, verbs: WriteVerbs) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession(fake.url, headers=fake.headers) as session:
        yield Http(session, verbs)


def in_convention(verbs: WriteVerbs, method: str, path: str) -> tuple[str, str]:
    """A write given in the seed convention, as ``verbs`` sends it (from the catalogue)."""
    segs = path.split("/")[2:]
    width = 2 if segs[0] == "extension_database" else 1
    try:
        spec = get_resource("/".join(segs[:width]))
    except QueryError:
        return method, path
    for match in match_write(spec, segs[width:]):
        if match.verbs == "seed" and match.method == method:
            shape = spec.operation(match.kind).shape(verbs)
            return shape.method, shape.path.format(resource=spec.name, **match.values)
    return method, path


async def send(
    http: Http,
    method: str,
    path: str,
    status: int,
    data: Any = None,
    json: Any = None,
) -> Any:
    method, path = in_convention(http.verbs, method, path)
    async with http.session.request(method, path, data=data, json=json) as response:
        body = await response.json()
        assert response.status == status, body
        return body


REFERRAL = {
    "client": "3",
    "client_type": "1",
    "date": "2024-02-01",
    "project": "2",
    "template": "1",
    "stage": "1",
    "response_description": "Phoned back",
}


async def test_create_client_returns_new_id_and_stores_it(fake: FakeDizions, http: Http) -> None:
    body = await send(
        http, "PUT", "/v2/clients", 201, data={"first_name": "Ann", "surname": "Lee", "gender": "1"}
    )
    assert body == {"id": 201}
    (row,) = fake.store.rows("clients", id=201)
    assert (row["first_name"], row["surname"], row["gender"]) == ("Ann", "Lee", 1)
    (read,) = await send(http, "GET", "/v2/clients/id/201/field/id;surname", 200)
    assert read == {"id": 201, "surname": "Lee"}


async def test_create_accepts_a_json_object(fake: FakeDizions, http: Http) -> None:
    body = await send(
        http, "PUT", "/v2/clients", 201, json={"first_name": "Bo", "surname": "Ng", "school": 2}
    )
    assert fake.store.rows("clients", id=body["id"])[0]["school"] == 2


@pytest.mark.parametrize(
    ("path", "data", "table"),
    [
        ("/v2/clients", {"first_name": "Ann"}, "clients"),
        ("/v2/clients", {"first_name": "Ann", "surname": ""}, "clients"),
        ("/v2/clients", {"first_name": "Ann", "surname": "Lee", "shoe_size": "9"}, "clients"),
        ("/v2/clients", {"first_name": "Ann", "surname": "Lee", "gender": "male"}, "clients"),
        ("/v2/referrals", {k: v for k, v in REFERRAL.items() if k != "stage"}, "referrals"),
        ("/v2/referrals", {**REFERRAL, "client": "99999"}, "referrals"),
        ("/v2/external_referral", {"surname": "Lee", "description": "x"}, "external_referral"),
        ("/v2/due_contacts/referral/1", {"user": "1", "description": "x"}, "contacts"),
    ],
)
async def test_bad_create_is_400_and_writes_nothing(
    fake: FakeDizions, http: Http, path: str, data: dict[str, str], table: str
) -> None:
    before = fake.store.count(table)
    body = await send(http, "PUT", path, 400, data=data)
    assert body["error"]
    assert fake.store.count(table) == before


async def test_create_by_external_id_then_a_second_is_400_naming_the_first(
    fake: FakeDizions, http: Http
) -> None:
    data = {"first_name": "Cy", "surname": "Ode"}
    created = await send(http, "PUT", "/v2/clients/external_id/CRM%2F77", 201, data=data)
    assert fake.store.rows("clients", id=created["id"])[0]["external_id"] == "CRM/77"
    again = await send(http, "PUT", "/v2/clients/external_id/CRM%2F77", 400, data=data)
    assert again["id"] == created["id"]
    assert "already exists" in again["error"]
    assert len(fake.store.rows("clients", external_id="CRM/77")) == 1


async def test_update_changes_the_record(fake: FakeDizions, http: Http) -> None:
    body = await send(http, "POST", "/v2/clients/id/7", 200, data={"postcode": "AB1 2CD"})
    assert body == {"id": 7}
    assert fake.store.rows("clients", id=7)[0]["postcode"] == "AB1 2CD"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v2/clients/id/99999", 404),
        ("/v2/referrals/id/99999", 404),
        ("/v2/workers/id/1", 404),
        ("/v2/extension_database/staff_disciplinary_13/id/99999", 404),
    ],
)
async def test_update_of_unknown_record_is_404(http: Http, path: str, status: int) -> None:
    await send(http, "POST", path, status, data={"description": "x"})


async def test_relationship_on_client_update_is_seen_from_both_clients(
    fake: FakeDizions, http: Http
) -> None:
    data = {
        "id_second": "9",
        "relationship_first_to_second": "1",
        "relationship_second_to_first": "2",
        "relationship_first_to_second_carer": "1",
    }
    await send(http, "POST", "/v2/clients/id/8", 200, data=data)
    (row,) = fake.store.rows("relationships", first=8)
    assert (row["second"], row["first_to_second"], row["second_to_first"]) == (9, 1, 2)
    fields = "field/id;relationship_details;carer_relationship_details"
    (eight,) = await send(http, "GET", f"/v2/clients/id/8/{fields}", 200)
    (nine,) = await send(http, "GET", f"/v2/clients/id/9/{fields}", 200)
    unset = {"major": None, "send_one_letter_to_both": None, "joint_address": None}
    assert eight["relationship_details"] == [{"id": 9, "relationship": 1, **unset}]
    assert nine["relationship_details"] == [{"id": 8, "relationship": 2, **unset}]
    assert eight["carer_relationship_details"] == [{"id": 9, "relationship": 1}]
    assert nine["carer_relationship_details"] == []


async def test_relationship_needs_both_directions(fake: FakeDizions, http: Http) -> None:
    data = {"id_second": "9", "relationship_first_to_second": "1"}
    await send(http, "POST", "/v2/clients/id/8", 400, data=data)
    assert fake.store.count("relationships") == 0


async def test_referral_create_and_update(fake: FakeDizions, http: Http) -> None:
    created = await send(http, "PUT", "/v2/referrals", 201, data=REFERRAL)
    rid = created["id"]
    await send(http, "POST", f"/v2/referrals/id/{rid}", 200, data={"stage": "3"})
    (row,) = fake.store.rows("referrals", id=rid)
    assert (row["client"], row["stage"], row["date"]) == (3, 3, "2024-02-01")


async def test_completing_a_due_contact_makes_it_done_with_the_same_id(
    fake: FakeDizions, http: Http
) -> None:
    due = {
        "user": "1",
        "start_date": "2024-03-01 10:00:00",
        "end_date": "2024-03-01 11:00:00",
        "description": "Call back",
    }
    created = await send(http, "PUT", "/v2/due_contacts/referral/1", 201, data=due)
    cid = created["id"]
    assert await send(http, "GET", f"/v2/due_contacts/id/{cid}/field/id;referral", 200) == [
        {"id": cid, "referral": 1}
    ]
    await send(http, "GET", f"/v2/done_contacts/id/{cid}", 404)
    # Posting to done_contacts without both dates does not complete it.
    await send(http, "POST", f"/v2/done_contacts/id/{cid}", 400, data={"description": "x"})
    done = {"start_date": "2024-03-02 10:00:00", "end_date": "2024-03-02 10:30:00"}
    assert await send(http, "POST", f"/v2/done_contacts/id/{cid}", 200, data=done) == {"id": cid}
    (row,) = await send(http, "GET", f"/v2/done_contacts/id/{cid}/field/id;date", 200)
    assert row == {"id": cid, "date": "2024-03-02"}
    await send(http, "GET", f"/v2/due_contacts/id/{cid}", 404)
    await send(http, "POST", f"/v2/due_contacts/id/{cid}", 404, data={"description": "x"})


async def test_due_contact_for_unknown_referral_is_404(http: Http) -> None:
    data = {"user": "1", "start_date": "2024-01-01", "end_date": "2024-01-01", "description": "x"}
    await send(http, "PUT", "/v2/due_contacts/referral/99999", 404, data=data)


async def test_external_referrals_are_staged_from_form_or_json_array(
    fake: FakeDizions, http: Http
) -> None:
    one = {"org_type_id": "2", "surname": "Hale", "description": "Needs help", "postcode": "LS1"}
    body = await send(http, "PUT", "/v2/external_referral", 201, data=one)
    (row,) = fake.store.rows("external_referral", id=body["id"])
    assert row["surname"] == "Hale"
    assert row["data"] == '{"postcode":"LS1"}'
    people = [
        {"org_type_id": 1, "surname": "Ames", "description": "a", "project": 3},
        {"org_type_id": 1, "surname": "Bell", "description": "b"},
    ]
    many = await send(http, "PUT", "/v2/external_referral", 201, json=people)
    assert len(many["ids"]) == 2
    assert fake.store.count("external_referral") == 3
    # One bad person stages nobody.
    await send(http, "PUT", "/v2/external_referral", 400, json=[people[0], {"surname": "X"}])
    assert fake.store.count("external_referral") == 3


async def test_extension_database_records_create_and_update(fake: FakeDizions, http: Http) -> None:
    slug = "/v2/extension_database/staff_disciplinary_13"
    body = await send(http, "PUT", slug, 201, data={"referral": "2289", "date_43": "2018-11-08"})
    rid = body["id"]
    await send(http, "POST", f"{slug}/id/{rid}", 200, data={"notes_45": "Resolved"})
    (row,) = fake.store.rows("staff_disciplinary_13", id=rid)
    assert (row["referral"], row["date_43"], row["notes_45"]) == (2289, "2018-11-08", "Resolved")
    await send(http, "PUT", slug, 400, data={"colour": "red"})


async def test_uploads_are_streamed_to_disk_with_visibility(fake: FakeDizions, http: Http) -> None:
    content = b"%PDF-1.4 " + bytes(range(256)) * 1000
    form = aiohttp.FormData()
    form.add_field("files", content, filename="letter.pdf", content_type="application/pdf")
    form.add_field("files", b"hello", filename="../../note.txt", content_type="text/plain")
    form.add_field("user_visibility", "1,2")
    form.add_field("group_visibility", "5")
    body = await send(http, "POST", "/v2/clients/id/4/uploads", 201, data=form)
    rows = fake.store.rows("uploads", resource="clients", record=4)
    assert [r["id"] for r in rows] == body["ids"]
    pdf, note = rows
    assert Path(pdf["stored_path"]).read_bytes() == content
    assert (pdf["user_visibility"], pdf["group_visibility"], pdf["size"]) == (
        "1,2",
        "5",
        len(content),
    )
    stored = Path(note["stored_path"])
    assert stored.read_bytes() == b"hello"
    assert fake.upload_dir in stored.parents
    assert fake.requests[-1].body_size >= len(content)


async def test_upload_to_unknown_record_or_without_files_is_refused(
    http: Http,
) -> None:
    form = aiohttp.FormData()
    form.add_field("files", b"x", filename="a.txt")
    await send(http, "POST", "/v2/referrals/id/99999/uploads", 404, data=form)
    empty = aiohttp.FormData()
    empty.add_field("user_visibility", "1")
    empty.add_field("group_visibility", "1")
    await send(http, "POST", "/v2/referrals/id/1/uploads", 400, data=empty)


def stored_files(fake: FakeDizions) -> list[Path]:
    return sorted(p for p in fake.upload_dir.rglob("*") if p.is_file())


async def test_a_refused_upload_leaves_no_files_behind(fake: FakeDizions, http: Http) -> None:
    await send(http, "POST", "/v2/clients/id/4/uploads", 201, data={"f": io.BytesIO(b"kept")})
    kept = stored_files(fake)
    with aiohttp.MultipartWriter("form-data") as body:
        first = body.append(b"written before the bad part", {"Content-Type": "text/plain"})
        first.set_content_disposition("form-data", name="files", filename="a.txt")
        body.append(aiohttp.MultipartWriter("mixed"))  # nested: refused after a.txt is on disk
    error = await send(http, "POST", "/v2/clients/id/4/uploads", 400, data=body)
    assert "nested" in error["error"]
    assert stored_files(fake) == kept
    assert len(fake.store.rows("uploads")) == 1


async def test_an_upload_cut_off_mid_file_leaves_no_files_behind(fake: FakeDizions) -> None:
    host, port = fake.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    head = "".join(f"{k}: {v}\r\n" for k, v in fake.headers.items())
    part = (
        b"--b\r\nContent-Disposition: form-data; name=files; filename=big.bin\r\n\r\n"
        + b"x" * 200_000
    )
    writer.write(
        b"POST /v2/clients/id/4/uploads HTTP/1.1\r\nHost: x\r\n"
        + head.encode()
        + b"Content-Type: multipart/form-data; boundary=b\r\n"
        + b"Content-Length: 10000000\r\n\r\n"
        + part
    )
    await writer.drain()
    writer.close()  # gone before the body ends
    await writer.wait_closed()

    async def logged() -> None:
        while not fake.requests:  # logged once the handler has finished with the request
            await asyncio.sleep(0.01)

    await asyncio.wait_for(logged(), 10)  # (asyncio.timeout is 3.11+; we support 3.10)
    assert stored_files(fake) == []
    assert fake.store.rows("uploads") == []
    assert fake.requests[-1].status == 0


async def test_writes_need_keys(fake: FakeDizions) -> None:
    async with (
        aiohttp.ClientSession(fake.url) as session,
        session.put("/v2/clients", data={"first_name": "A", "surname": "B"}) as response,
    ):
        assert response.status == 401
    assert fake.store.count("clients") == 200


async def test_text_values_keep_leading_zeros_in_filters(http: Http) -> None:
    data = {"first_name": "Zed", "surname": "Zero", "nhs_number": "0012345678"}
    created = await send(http, "PUT", "/v2/clients", 201, data=data)
    rows = await send(http, "GET", "/v2/clients/nhs_number/0012345678/field/id;nhs_number", 200)
    assert rows == [{"id": created["id"], "nhs_number": "0012345678"}]
    assert await send(http, "GET", "/v2/clients/nhs_number/12345678", 200) == []
