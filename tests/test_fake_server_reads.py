"""The fake server's reads, reports, dictionaries and error statuses, over plain aiohttp.

Paths are written out by hand, so a misunderstanding shared by the server and our Query
cannot hide; one test checks that Query builds the same paths.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from dizions_async import Query
from dizions_async.catalogue import RESOURCES, OperationKind
from dizions_async.testing import FakeDizions


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=200, seed=1) as server:
        yield server


@pytest.fixture
async def http(fake: FakeDizions) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(fake.url, headers=fake.headers) as session:
        yield session


async def get(http: aiohttp.ClientSession, path: str, status: int = 200) -> Any:
    async with http.get(path) as response:
        body = await response.json()
        assert response.status == status, body
        return body


async def test_value_lists_filter_with_or_and_pairs_with_and(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    rows = await get(http, "/v2/clients/religion/1;3;10/ethnicity/1/field/id")
    expected = [
        c["id"] for c in fake.store.rows("clients", ethnicity=1) if c["religion"] in (1, 3, 10)
    ]
    assert [r["id"] for r in rows] == expected
    assert expected


async def test_one_record_by_id_is_an_array_of_one(http: aiohttp.ClientSession) -> None:
    rows = await get(http, "/v2/referrals/id/5")
    assert len(rows) == 1
    assert rows[0]["id"] == 5


async def test_several_ids_are_semicolon_joined(http: aiohttp.ClientSession) -> None:
    rows = await get(http, "/v2/clients/id/3;1;2/field/id")
    assert rows == [{"id": 1}, {"id": 2}, {"id": 3}]


async def test_unknown_id_is_404_with_json_error(http: aiohttp.ClientSession) -> None:
    body = await get(http, "/v2/clients/id/999999", 404)
    assert "not found" in body["error"]


async def test_default_fields_leave_out_extension_fields(http: aiohttp.ClientSession) -> None:
    (row,) = await get(http, "/v2/clients/id/1")
    assert {"id", "surname", "postcode", "ethnicity"} <= set(row)
    assert "website_photo_consent" not in row


async def test_field_selection_returns_exactly_the_fields_asked(
    http: aiohttp.ClientSession,
) -> None:
    rows = await get(http, "/v2/clients/field/id;surname;website_photo_consent")
    assert len(rows) == 200
    assert all(set(r) == {"id", "surname", "website_photo_consent"} for r in rows)


async def test_extension_field_filters_by_collaborator_name(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    rows = await get(http, "/v2/clients/website_photo_consent/109/field/id;website_photo_consent")
    assert rows
    assert len(rows) == len(fake.store.rows("clients", website_photo_consent=109))
    assert {r["website_photo_consent"] for r in rows} == {109}


async def test_percent_encoded_value_matches_the_decoded_text(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    postcode = fake.store.rows("clients", id=1)[0]["postcode"]
    assert " " in postcode
    encoded = postcode.replace(" ", "%20")
    rows = await get(http, f"/v2/clients/postcode/{encoded}/field/id;postcode")
    assert {"id": 1, "postcode": postcode} in rows


async def test_a_filter_value_cannot_change_the_sql(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    rows = await get(http, "/v2/clients/surname/x'%29%20OR%201%3D1%20--/field/id")
    assert rows == []
    rows = await get(http, "/v2/clients/surname/x%27%3B%20DROP%20TABLE%20clients%3B--")
    assert rows == []
    assert fake.store.count("clients") == 200


async def test_date_range_includes_both_ends(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    day = fake.store.rows("referrals", id=1)[0]["date"]
    rows = await get(http, f"/v2/referrals/date/{day},{day}/field/id;date")
    assert {"id": 1, "date": day} in rows
    assert {r["date"] for r in rows} == {day}


async def test_date_active_matches_referrals_by_completed_contact(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    # A referral with completed contacts in two different months appears in both windows.
    by_referral: dict[int, set[str]] = {}
    for c in fake.store.rows("done_contacts"):
        by_referral.setdefault(c["referral"], set()).add(c["start_date"][:7])
    referral, months = next((r, sorted(m)) for r, m in by_referral.items() if len(m) >= 2)
    for month in months[:2]:
        first = dt.date.fromisoformat(month + "-01")
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        rows = await get(http, f"/v2/referrals/date_active/{first},{last}/field/id")
        assert {"id": referral} in rows


async def test_date_active_ignores_due_contacts(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    due = fake.store.rows("due_contacts")[0]
    day = due["start_date"][:10]
    done_days = {
        c["start_date"][:10] for c in fake.store.rows("done_contacts", referral=due["referral"])
    }
    rows = await get(http, f"/v2/referrals/date_active/{day},{day}/field/id")
    assert ({"id": due["referral"]} in rows) == (day in done_days)


async def test_done_contacts_filter_on_client_fields_and_dates(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    rows = await get(
        http,
        "/v2/done_contacts/client_ethnicity/1;2/date/2020-01-01,2020-12-31/field/id;client;date",
    )
    assert rows
    ethnicity = {c["id"]: c["ethnicity"] for c in fake.store.rows("clients")}
    assert all(ethnicity[r["client"]] in (1, 2) for r in rows)
    assert all("2020-01-01" <= r["date"] <= "2020-12-31" for r in rows)


async def test_resolve_ids_gives_friendly_names(http: aiohttp.ClientSession) -> None:
    (plain,) = await get(http, "/v2/clients/id/1/field/id;ethnicity;gender")
    (named,) = await get(http, "/v2/clients/id/1/field/id;ethnicity;gender?resolveIds[]=ethnicity")
    dictionary = await get(http, "/v2/dictionary/clients/ethnicity")
    names = {e["id"]: e["name"] for e in dictionary}
    assert named == {"id": 1, "ethnicity": names[plain["ethnicity"]], "gender": plain["gender"]}
    (everything,) = await get(http, "/v2/clients/id/1/field/id;ethnicity;gender?resolveIds[]=ALL")
    assert isinstance(everything["gender"], str)
    assert everything["id"] == 1


async def test_field_lists_cover_the_catalogue_keys(http: aiohttp.ClientSession) -> None:
    for name, resource in RESOURCES.items():
        if not resource.supports(OperationKind.READ):  # external_referral, relationship_details
            continue
        filterable = set(await get(http, f"/v2/{name}/filterable_fields"))
        assert resource.filter_keys <= filterable, name
        assert resource.date_keys <= filterable, name
        selectable = await get(http, f"/v2/{name}/selectable_fields")
        assert "id" in selectable
        assert "id" in await get(http, f"/v2/{name}/metrics")


async def test_report_counts_per_dimension(fake: FakeDizions, http: aiohttp.ClientSession) -> None:
    report = await get(http, "/v2/clients/dimension/district")
    expected: dict[str, int] = {}
    for c in fake.store.rows("clients"):
        expected[str(c["district"])] = expected.get(str(c["district"]), 0) + 1
    assert report == expected


async def test_report_with_metric_and_filter(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    report = await get(http, "/v2/clients/religion/1;2/dimension/district/metric/gender")
    wanted = [c for c in fake.store.rows("clients") if c["religion"] in (1, 2)]
    assert sum(n for per in report.values() for n in per.values()) == len(wanted)
    first = wanted[0]
    assert report[str(first["district"])][str(first["gender"])] >= 1


async def test_report_on_referrals_with_date_range(http: aiohttp.ClientSession) -> None:
    everything = await get(http, "/v2/referrals/dimension/project")
    some = await get(http, "/v2/referrals/date/2020-01-01,2020-06-30/dimension/project")
    assert 0 < sum(some.values()) < sum(everything.values())


async def test_dictionaries_whole_one_and_search(http: aiohttp.ClientSession) -> None:
    everything = await get(http, "/v2/dictionary")
    assert {"group", "table", "id", "name"} <= set(everything[0])
    projects = await get(http, "/v2/dictionary/referrals/project")
    assert {"id": 1, "name": "Befriending"} in projects
    found = await get(http, "/v2/dictionary/search/referrals/project/advice")
    assert found == [{"id": 2, "name": "Benefits Advice"}]
    assert await get(http, "/v2/dictionary/search/referrals/project/Home%20From") == [
        {"id": 4, "name": "Home From Hospital"}
    ]
    await get(http, "/v2/dictionary/referrals/nothing", 404)


async def test_extension_database_by_slug_and_filter(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    rows = await get(http, "/v2/extension_database/staff_disciplinary_13")
    assert len(rows) == fake.store.count("staff_disciplinary_13") > 0
    referral = rows[0]["referral"]
    some = await get(http, f"/v2/extension_database/staff_disciplinary_13/referral/{referral}")
    assert some and {r["referral"] for r in some} == {referral}
    await get(http, "/v2/extension_database/unknown_db_99", 404)


async def test_other_resources_read(http: aiohttp.ClientSession) -> None:
    for path in (
        "/v2/workers",
        "/v2/schedules/date_active/2020-01-01,2020-12-31",
        "/v2/attendances/start/2020-01-01,2020-12-31/attended/Y",
        "/v2/clinics/project_id/1",
        "/v2/due_contacts",
        "/v2/extension_database/wellcheck_notes_9",
    ):
        assert await get(http, path), path


async def test_query_built_paths_read_the_same_as_literal_paths(
    http: aiohttp.ClientSession,
) -> None:
    built = Query("clients").filter(religion=[1, 3, 10], ethnicity=1).fields("id")
    assert built.path == "/v2/clients/religion/1;3;10/ethnicity/1/field/id"
    assert await get(http, built.path) == await get(
        http, "/v2/clients/ethnicity/1/religion/1;3;10/field/id"
    )


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Source": "wrong"}, 401),
        ({"Org": "wrong"}, 401),
        ({"User": "wrong"}, 401),
    ],
)
async def test_missing_or_wrong_keys_are_401(
    fake: FakeDizions, headers: dict[str, str], status: int
) -> None:
    sent = {**fake.headers, **headers} if headers else {}
    async with (
        aiohttp.ClientSession(fake.url, headers=sent) as session,
        session.get("/v2/clients") as response,
    ):
        assert response.status == status
        assert "error" in await response.json()


async def test_a_key_header_that_is_not_utf8_is_401_not_500(fake: FakeDizions) -> None:
    # aiohttp's client will not send such bytes; write the request by hand.
    host, port = fake.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = "".join(f"{k}: {v}\r\n" for k, v in fake.headers.items() if k != "User")
    writer.write(
        b"GET /v2/clients HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + head.encode()
        + b"User: \xff\xfe\r\n\r\n"
    )
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"401"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v2/clients/" + "/".join(f"gender/{i}" for i in range(1)), 200),
        (
            "/v2/clients/gender/1/religion/1/ethnicity/1/district/1/county/1/age_range/1"
            "/accommodation/1/school/1/active/Y/deceased/N/consent/Y",
            400,
        ),
        ("/v2/clients/shoe_size/9", 400),
        ("/v2/clients/field/id;shoe_size", 400),
        ("/v2/clients/dimension/shoe_size", 400),
        ("/v2/clients/metric/gender", 400),
        ("/v2/referrals/date_active/2020-01-01", 400),
        ("/v2/spaceships", 404),
        ("/v2/external_referral", 404),
        ("/v3/clients", 404),
    ],
)
async def test_bad_paths_get_json_errors(
    http: aiohttp.ClientSession, path: str, status: int
) -> None:
    body = await get(http, path, status)
    if status != 200:
        assert isinstance(body["error"], str)


async def test_url_over_8192_bytes_is_414_from_our_handler(http: aiohttp.ClientSession) -> None:
    ids = ";".join(str(i) for i in range(1, 3000))
    assert len(f"/v2/clients/id/{ids}") > 8192
    body = await get(http, f"/v2/clients/id/{ids}", 414)
    assert "8192" in body["error"]
    ok = ";".join(str(i) for i in range(1, 1500))
    assert len(f"/v2/clients/id/{ok}/field/id") < 8192
    assert len(await get(http, f"/v2/clients/id/{ok}/field/id")) == 200


async def test_extension_database_date_range_on_its_own_date_field(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    rows = await get(
        http, "/v2/extension_database/staff_disciplinary_13/date_43/2018-01-01,2019-12-31"
    )
    expected = [
        r["id"]
        for r in fake.store.rows("staff_disciplinary_13")
        if "2018-01-01" <= r["date_43"] <= "2019-12-31"
    ]
    assert [r["id"] for r in rows] == expected
    assert expected


async def test_every_documented_example_query_is_answered(
    fake: FakeDizions, http: aiohttp.ClientSession
) -> None:
    from dizions_async.cli._paths import documented_examples

    for title, query in documented_examples():
        async with http.get(query.url(fake.url)) as response:
            # 200 clients have about 300 referrals: referral 510 may not exist.
            allowed = {200, 404} if query.ids else {200}
            assert response.status in allowed, (title, await response.text())


def test_records_written_as_json_by_sqlite_equal_the_python_records() -> None:
    from dizions_async.testing import Store
    from dizions_async.testing._schema import VIEWS

    store = Store(clients=40, seed=5)
    try:
        odd = 'Quote " back \\ slash\nnew\tline \x01 é 😀 </script>'
        made = store.create("clients", {"first_name": odd, "surname": "Zz", "gender": "2"})
        paths = [f"/v2/{resource}" for resource in VIEWS if resource != "external_referral"]
        paths += [
            f"/v2/clients/id/{made}",
            "/v2/clients/gender/2/field/surname;first_name;website_photo_consent",
            "/v2/referrals/date_active/2019-01-01,2019-12-31/field/client_district;project_name",
            "/v2/done_contacts/field/id;date;client_type",
            "/v2/due_contacts/client_gender/1",
        ]
        for path in paths:
            query = Query.from_path(path, strict=False)
            expected = [list(r.items()) for r in store.read(query)]
            assert expected, path
            written = orjson.loads(store.read_json(query))
            assert [list(r.items()) for r in written] == expected, path
    finally:
        store.close()
