"""Every example URL and body printed on the Dizions wiki pages, compiled by the SDK.

Each example is quoted as the page prints it, with the page's name. Reads are parsed with
``Query.from_path``, compiled back, and answered by the fake server; writes are prepared in
both write-verb conventions: the wiki's entity pages give the ``wiki`` shape, the seed
document (and API:_Creating_Records) the ``seed`` one. Pages read on 2026-12-02.
"""

# ruff: noqa: E501 (the wiki's URLs and bodies are quoted whole, one example a line)
from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from dizions_async import _writes
from dizions_async.catalogue import KEY_TEST_PATH, WriteVerbs
from dizions_async.query import Query
from dizions_async.testing import FakeDizions

HOST = "https://api.dizions.co.uk"

# (page, URL as printed). Reads.
READS: list[tuple[str, str]] = [
    ("API_Authentication", "https://api.dizions.co.uk/v2/business/configuration"),
    ("API_clients", "https://api.dizions.co.uk/v2/clients/type/7"),
    ("API_referrals", "https://api.dizions.co.uk/v2/referrals/date/2022-01-01,2022-12-31/project/1;2;3"),
    ("API_referrals", "https://api.dizions.co.uk/v2/referrals/date_active/2022-01-01,2022-12-31/project/1;2;3"),
    ("API_due_contacts", "https://api.dizions.co.uk/v2/due_contacts/selectable_fields"),
    ("API_due_contacts", "https://api.dizions.co.uk/v2/due_contacts/metrics"),
    ("API_due_contacts", "https://api.dizions.co.uk/v2/due_contacts/project/3;5;7/date/2023-01-31,2023-12-31/user/4;6;8"),
    ("API_due_contacts", "https://api.dizions.co.uk/v2/due_contacts/filterable_fields"),
    ("API_done_contacts", "https://api.dizions.co.uk/v2/done_contacts/project/3;5;7/date/2023-01-31,2023-12-31/branch/4;6;8"),
    ("API_done_contacts", "https://api.dizions.co.uk/v2/done_contacts/project/3;5;7/branch/4;6;8/date/2023-01-31,2023-12-31"),
    ("API_schedules", "https://api.dizions.co.uk/v2/schedules/date_active/2021-04-01,2021-04-30/field/id;status"),
    ("API_schedules", "https://api.dizions.co.uk/v2/schedules/worker/220/date_active/2021-04-01,2031-04-30/field/id;status"),
    ("API_schedules", "https://api.dizions.co.uk/v2/schedules/metric/client_district/dimension/client_gender/date_active/2021-04-01,2021-04-30/status/completed"),
    ("API_schedules", "https://api.dizions.co.uk/v2/schedules/friendly_names"),
    ("API_clinics", "https://api.dizions.co.uk/v2/attendances/project/1/start/2024-12-01,2024-12-31/attended/Y"),
    ("API_clinics", "https://api.dizions.co.uk/v2/attendances/clinic/3;7"),
    ("API_clinics", "https://api.dizions.co.uk/v2/attendances/start/2024-12-01,2024-12-31/field/client;attended"),
    ("API_clinics", "https://api.dizions.co.uk/v2/attendances/selectable_fields"),
    ("API_clinics", "https://api.dizions.co.uk/v2/clinics"),
    ("API_clinics", "https://api.dizions.co.uk/v2/clinics/project_id/5"),
    ("API_clinics", "https://api.dizions.co.uk/v2/clinics/field/id;name;maximum_number_of_members"),
    ("API_clinics", "https://api.dizions.co.uk/v2/clinics/selectable_fields"),
    ("API_clinics", "https://api.dizions.co.uk/v2/attendances/start/2024-12-01,2024-12-31/field/client;attended;rate"),
    ("API_clinics", "https://api.dizions.co.uk/v2/attendances/field/treatments"),
    ("API_relationships", "https://api.dizions.co.uk/v2/clients/id/37/field/postcode;email;relationship_details"),
    ("API:_Extension_Databases", "https://api.dizions.co.uk/v2/extension_database/wellcheck_notes"),
    ("API:_Extension_Databases", "https://api.dizions.co.uk/v2/extension_database/wellcheck_notes/field/assessment_score;finances"),
    ("API:_Extension_Databases", "https://api.dizions.co.uk/v2/extension_database/wellcheck_notes/referral/2289"),
    ("API_Dictionaries", "https://api.dizions.co.uk/v2/clients/id/1/field/id;ethnicity;main_language;school/?resolveIds[]=ethnicity&resolveIds[]=main_language"),
    ("API_Dictionaries", "https://api.dizions.co.uk/v2/clients/id/1/field/id;ethnicity;main_language;school/?resolveIds[]=ALL"),
]  # fmt: skip

# (page, URL as printed, the SDK call). Dictionaries.
DICTIONARIES: list[tuple[str, str, tuple[str, ...]]] = [
    ("API_clients", "https://api.dizions.co.uk/v2/dictionary/client_type", ("client_type",)),
    ("API_relationships", "https://api.dizions.co.uk/v2/dictionary/relationships", ("relationships",)),
    ("API_relationships", "https://api.dizions.co.uk/v2/dictionary/carer_relationships", ("carer_relationships",)),
    ("API_clinics", "https://api.dizions.co.uk/v2/dictionary/rates", ("rates",)),
    ("API_Dictionaries", "https://api.dizions.co.uk/v2/dictionary/organisations/district", ("organisations", "district")),
    ("API_Dictionaries", "https://api.dizions.co.uk/v2/dictionary/referrals/project", ("referrals", "project")),
    ("API_Dictionaries", "https://api.dizions.co.uk/v2/dictionary/contacts/contact_type", ("contacts", "contact_type")),
    # "INSERT_API_COLLABORATION_NAME_HERE" stands for a field's collaborator name.
    ("API_Dictionaries", "https://api.dizions.co.uk/v2/dictionary/extension_database/outcome_44", ("extension_database", "outcome_44")),
]  # fmt: skip

DUE = {"user": 4, "start_date": "2024-03-04 09:00", "end_date": "2024-03-04 10:00", "description": "Visit"}  # fmt: skip
DONE = {**DUE, "stage": 2}
REFERRAL = {
    "client": 3, "client_type": 1, "date": "2024-02-01", "project": 2, "template": 1,
    "stage": 1, "response_description": "Phoned back", "branch": 2,
}  # fmt: skip

Build = Callable[[WriteVerbs], _writes.PreparedWrite]

# (page, the wiki's "[METHOD] URL", the seed's "[METHOD] URL" for the same operation, build).
# Where a page shows one shape for both conventions, both columns are that shape.
WRITES: list[tuple[str, str, str, Build]] = [
    (
        "API_clients",  # "[POST] https://api.dizions.co.uk/v2/clients first_name: John surname: Smith type: 8"
        "[POST] https://api.dizions.co.uk/v2/clients",
        "[PUT] https://api.dizions.co.uk/v2/clients",  # seed, API:_Creating_Records
        lambda v: _writes.prepare_create("clients", {"first_name": "John", "surname": "Smith", "type": 8}, v),
    ),
    (
        "API_clients (external ID: no page shows it; it follows the plain create)",
        "[POST] https://api.dizions.co.uk/v2/clients/external_id/EXTERNAL_ID",
        "[PUT] https://api.dizions.co.uk/v2/clients/external_id/EXTERNAL_ID",  # seed
        lambda v: _writes.prepare_create_client({"first_name": "J", "surname": "S"}, "EXTERNAL_ID", v),
    ),
    (
        "API_clients (Mar 2025, as summarised in API.md): PUT updates",
        "[PUT] https://api.dizions.co.uk/v2/clients/id/7",
        "[POST] https://api.dizions.co.uk/v2/clients/id/7",  # seed
        lambda v: _writes.prepare_update("clients", 7, {"postcode": "AB1 2CD"}, v),
    ),
    (
        "API_referrals",  # "To create a referral, post to the endpoint ... x-wwww-form-urlencoded"
        "[POST] https://api.dizions.co.uk/v2/referrals",
        "[PUT] https://api.dizions.co.uk/v2/referrals",  # seed
        lambda v: _writes.prepare_create("referrals", REFERRAL, v),
    ),
    (
        # "Referrals can be updating in much the same way, by doing a PUT ...
        # [PUT] https://api.dizions.co.uk/v2/referrals" (the stored copy cuts the URL there)
        "API_referrals",
        "[PUT] https://api.dizions.co.uk/v2/referrals/id/510",
        "[POST] https://api.dizions.co.uk/v2/referrals/id/510",  # seed
        lambda v: _writes.prepare_update("referrals", 510, {"stage": 3}, v),
    ),
    (
        "API_due_contacts",  # "1) Create a due contact against an existing referral."
        "[POST] https://api.dizions.co.uk/v2/due_contacts/referral/127",
        "[PUT] https://api.dizions.co.uk/v2/due_contacts/referral/127",  # seed: .../REFERRAL_ID
        lambda v: _writes.prepare_due_contact(127, DUE, v),
    ),
    (
        "API_due_contacts",  # "2) Edit an existing due contact"
        "[POST] https://api.dizions.co.uk/v2/due_contacts/456",
        "[POST] https://api.dizions.co.uk/v2/due_contacts/id/456",  # seed
        lambda v: _writes.prepare_update("due_contacts", 456, {"user": 6}, v),
    ),
    (
        "API_due_contacts",  # "3) Complete the due contact ... made to the done_contact endpoint"
        "[POST] https://api.dizions.co.uk/v2/done_contacts/456",
        "[POST] https://api.dizions.co.uk/v2/done_contacts/id/456",  # seed
        lambda v: _writes.prepare_complete_contact(456, "2024-03-04 09:05", "2024-03-04 09:50", {"stage": 2}, v),
    ),
    (
        "API_done_contacts",  # "To create a done_contact, use the referral number"
        "[POST] https://api.dizions.co.uk/v2/done_contacts/referral/127",
        "[PUT] https://api.dizions.co.uk/v2/done_contacts/referral/127",  # by analogy with due
        lambda v: _writes.prepare_done_contact(127, {**DONE, "travel_time": 15, "transport_method": 1}, v),
    ),
    (
        "API_done_contacts",  # "... which can be used for editing ... like this"
        "[PUT] https://api.dizions.co.uk/v2/done_contacts/456",
        "[POST] https://api.dizions.co.uk/v2/done_contacts/id/456",  # seed
        lambda v: _writes.prepare_update("done_contacts", 456, {"priority": 3}, v),
    ),
    (
        "API_relationships",
        "[PUT] https://api.dizions.co.uk/v2/relationship_details/37/59",
        "[PUT] https://api.dizions.co.uk/v2/relationship_details/37/59",
        lambda v: _writes.prepare_set_relationship(37, 59, first_to_second=6, second_to_first=5),
    ),
    (
        "API:_External_Referrals",
        "[PUT] https://api.dizions.co.uk/v2/external_referral",
        "[PUT] https://api.dizions.co.uk/v2/external_referral",
        lambda v: _writes.prepare_external_referral([{"org_type_id": 1, "surname": "Smith", "description": "x"}], v),
    ),
    (
        "API:_Extension_Databases (and the seed)",
        "[PUT] https://api.dizions.co.uk/v2/extension_database/staff_disciplinary_13",
        "[PUT] https://api.dizions.co.uk/v2/extension_database/staff_disciplinary_13",
        lambda v: _writes.prepare_create("extension_database/staff_disciplinary_13", {"referral": 2289, "date_43": "2018-11-08"}, v),
    ),
    (
        "API:_Extension_Databases (and the seed)",
        "[POST] https://api.dizions.co.uk/v2/extension_database/wellcheck_notes_9/id/17",
        "[POST] https://api.dizions.co.uk/v2/extension_database/wellcheck_notes_9/id/17",
        lambda v: _writes.prepare_update("extension_database/wellcheck_notes_9", 17, {"note_22": "x"}, v),
    ),
]  # fmt: skip


def _request_line(text: str) -> tuple[str, str]:
    method, url = text.split(" ", 1)
    return method.strip("[]"), urlsplit(url).path


@pytest.mark.parametrize(("page", "url"), READS)
def test_each_read_example_compiles_and_round_trips(page: str, url: str) -> None:
    path = urlsplit(url).path.rstrip("/")
    if path == KEY_TEST_PATH or path.rsplit("/", 1)[-1] in (
        "selectable_fields", "filterable_fields", "metrics", "friendly_names",
    ):  # fmt: skip
        return  # not a record read: the client methods build these (see the e2e test)
    q = Query.from_path(url)
    assert Query.from_path(q.url(HOST)) == q
    # Same segments as printed, in the canonical order.
    printed = set(path.removeprefix("/v2/").split("/"))
    assert printed == set(q.path.removeprefix("/v2/").split("/"))
    asked = [v for k, v in parse_qsl(urlsplit(url).query) if k == "resolveIds[]"]
    assert list(q.resolve) == asked


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=60, seed=6) as server:
        yield server


async def test_the_fake_answers_every_read_and_dictionary_example(fake: FakeDizions) -> None:
    import aiohttp

    async with aiohttp.ClientSession(fake.url, headers=fake.headers) as http:
        for page, url in READS:
            parts = urlsplit(url)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            async with http.get(target) as response:
                assert response.status in (200, 404), (page, url, await response.text())
                if response.status == 404:  # only a record that the seed does not hold
                    assert "/id/" in url, (page, url)
        async with fake.client() as dz:
            for page, url, args in DICTIONARIES:
                entries = await dz.dictionary(*args)
                assert entries, (page, url)
                assert fake.requests[-1].path == urlsplit(url).path


@pytest.mark.parametrize("verbs", ["seed", "wiki"])
@pytest.mark.parametrize(("page", "wiki", "seed", "build"), WRITES)
def test_each_write_example_compiles_in_both_conventions(
    page: str, wiki: str, seed: str, build: Build, verbs: WriteVerbs
) -> None:
    prepared = build(verbs)
    expected = _request_line(wiki if verbs == "wiki" else seed)
    assert (prepared.method, prepared.path) == expected, page


def test_the_relationship_bodies_are_the_wikis() -> None:
    # API_relationships, first example body.
    printed = """[ { "relation_first_to_second": "6", "relation_second_to_first": "5",
        "major": "Y", "send_one_letter_to_both": "Y", "joint_address": "Mr and Mrs Smith" } ]"""
    prepared = _writes.prepare_set_relationship(
        37, 59, first_to_second=6, second_to_first=5, major=True,
        send_one_letter_to_both=True, joint_address="Mr and Mrs Smith",
    )  # fmt: skip
    assert prepared.content_type == "application/json"
    assert orjson.loads(prepared.body) == orjson.loads(printed)
    # API_relationships, the carer example (its trailing comma removed: not JSON).
    carer = """[ { "relation_first_to_second": "6", "relation_second_to_first": "5",
        "carer_relation_first_to_second": "1", "carer_relation_second_to_first": "2" } ]"""
    prepared = _writes.prepare_set_relationship(
        37, 59, first_to_second=6, second_to_first=5,
        carer_first_to_second=1, carer_second_to_first=2,
    )  # fmt: skip
    assert orjson.loads(prepared.body) == orjson.loads(carer)


async def test_the_fake_refuses_the_wikis_invalid_carer_only_body(fake: FakeDizions) -> None:
    import aiohttp

    # API_relationships: "this is not valid".
    invalid = [{"carer_relation_first_to_second": "1", "carer_relation_second_to_first": "2"}]
    async with (
        aiohttp.ClientSession(fake.url, headers=fake.headers) as http,
        http.put("/v2/relationship_details/1/2", json=invalid) as response,
    ):
        assert response.status == 400
        assert "relation_first_to_second" in (await response.json())["error"]


def test_the_external_referral_bodies_are_the_wikis() -> None:
    # API:_External_Referrals, the first example.
    printed = """[ { "org_type_id": "1", "surname": "Smith", "first_name": "Alice",
        "description": "Wants support with..." } ]"""
    person = {"org_type_id": 1, "surname": "Smith", "first_name": "Alice",
              "description": "Wants support with..."}  # fmt: skip
    prepared = _writes.prepare_external_referral([person])
    assert orjson.loads(prepared.body) == orjson.loads(printed)
    # ... and with 'project' => '7'.
    prepared = _writes.prepare_external_referral([{**person, "project": 7}])
    assert orjson.loads(prepared.body)[0]["project"] == "7"
    # Alice is 0 (mother, 5, of 1 and 2); Bob and Charlie are sons (8), brothers (15).
    family = [
        {"first_name": "Alice", "surname": "Smith", "org_type_id": 1, "description": "x",
         "relationships": {1: 5, 2: 5}},
        {"first_name": "Bob", "surname": "Smith", "org_type_id": 2, "description": "x",
         "relationships": {0: 8, 2: 15}},
        {"first_name": "Charlie", "surname": "Smith", "org_type_id": 2, "description": "x",
         "relationships": {0: 8, 1: 15}},
    ]  # fmt: skip
    body = orjson.loads(_writes.prepare_external_referral(family).body)
    assert [p["relationships"] for p in body] == [
        {"1": "5", "2": "5"},
        {"0": "8", "2": "15"},
        {"0": "8", "1": "15"},
    ]


def test_the_clients_create_body_is_the_wikis() -> None:
    # API_clients: "[POST] https://api.dizions.co.uk/v2/clients first_name: John surname:
    # Smith type: 8"
    prepared = _writes.prepare_create(
        "clients", {"first_name": "John", "surname": "Smith", "type": 8}, "wiki"
    )
    assert dict(parse_qsl(prepared.body.decode())) == {
        "first_name": "John", "surname": "Smith", "type": "8",
    }  # fmt: skip


def test_the_extension_database_body_is_the_seeds() -> None:
    # "Then add the body: referral 2289 date_43 2018-11-08"
    prepared = _writes.prepare_create(
        "extension_database/staff_disciplinary_13",
        {"referral": 2289, "date_43": dt.date(2018, 11, 8)},
    )
    assert dict(parse_qsl(prepared.body.decode())) == {"referral": "2289", "date_43": "2018-11-08"}
