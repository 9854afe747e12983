"""``dizions paths``: prints each documented example with its URL."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dizions_async import Query
from dizions_async.cli._app import app

EXPECTED_URLS = [
    "https://api.dizions.co.uk/v2/clients/religion/1;3;10/ethnicity/1",
    "https://api.dizions.co.uk/v2/referrals/id/510",
    "https://api.dizions.co.uk/v2/clients/website_photo_consent/109",
    "https://api.dizions.co.uk/v2/referrals/date_active/2018-10-01,2018-10-31",
    "https://api.dizions.co.uk/v2/clients/field/id;surname;website_photo_consent",
    "https://api.dizions.co.uk/v2/clients/dimension/district",
    "https://api.dizions.co.uk/v2/clients/dimension/district/metric/gender",
    "https://api.dizions.co.uk/v2/extension_database/staff_disciplinary_13",
    "https://api.dizions.co.uk/v2/extension_database/wellcheck_notes_9/referral/2289",
    "https://api.dizions.co.uk/v2/clients/field/id;ethnicity"
    "?resolveIds[]=ethnicity&resolveIds[]=main_language",
    # The newer wiki pages' examples (segments in the canonical order).
    "https://api.dizions.co.uk/v2/clients/type/7",
    "https://api.dizions.co.uk/v2/referrals/project/1;2;3/date/2022-01-01,2022-12-31",
    "https://api.dizions.co.uk/v2/due_contacts/project/3;5;7/user/4;6;8/date/2023-01-31,2023-12-31",
    "https://api.dizions.co.uk/v2/done_contacts/project/3;5;7/branch/4;6;8"
    "/date/2023-01-31,2023-12-31",
    "https://api.dizions.co.uk/v2/schedules/date_active/2021-04-01,2021-04-30/field/id;status",
    "https://api.dizions.co.uk/v2/schedules/status/completed/date_active/2021-04-01,2021-04-30"
    "/dimension/client_gender/metric/client_district",
    "https://api.dizions.co.uk/v2/attendances/start/2024-12-01,2024-12-31/field/client;attended;rate",
    "https://api.dizions.co.uk/v2/clinics/field/id;name;maximum_number_of_members",
    "https://api.dizions.co.uk/v2/clients/id/37/field/postcode;email;relationship_details",
    "https://api.dizions.co.uk/v2/extension_database/wellcheck_notes/referral/2289",
]


def test_paths_prints_every_documented_example_url_in_order() -> None:
    result = CliRunner().invoke(app, ["paths"])
    assert result.exit_code == 0, result.output
    urls = [line.split()[-1] for line in result.output.splitlines()]
    assert urls == EXPECTED_URLS


def test_paths_printed_urls_parse_back_to_queries() -> None:
    result = CliRunner().invoke(app, ["paths"])
    for url in (line.split()[-1] for line in result.output.splitlines()):
        assert str(Query.from_path(url).url("https://api.dizions.co.uk")) == url


def test_paths_uses_the_given_base_url() -> None:
    result = CliRunner().invoke(app, ["paths", "--base-url", "http://127.0.0.1:8080"])
    assert result.exit_code == 0, result.output
    urls = [line.split()[-1] for line in result.output.splitlines()]
    assert urls == [
        u.replace("https://api.dizions.co.uk", "http://127.0.0.1:8080") for u in EXPECTED_URLS
    ]


def test_paths_is_listed_in_the_app_help() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "paths" in result.output


@pytest.mark.parametrize(
    ("verbs", "expected"),
    [
        (
            "seed",
            {
                "create a client": "PUT /v2/clients",
                "update a client": "POST /v2/clients/id/7",
                "edit a due contact": "POST /v2/due_contacts/id/456",
                "create a done contact": "PUT /v2/done_contacts/referral/127",
                "relate two clients": "PUT /v2/relationship_details/37/59",
            },
        ),
        (
            "wiki",
            {
                "create a client": "POST /v2/clients",
                "update a client": "PUT /v2/clients/id/7",
                "edit a due contact": "POST /v2/due_contacts/456",
                "create a done contact": "POST /v2/done_contacts/referral/127",
                "relate two clients": "PUT /v2/relationship_details/37/59",
            },
        ),
    ],
)
def test_paths_writes_prints_each_write_in_the_chosen_convention(
    verbs: str, expected: dict[str, str]
) -> None:
    result = CliRunner().invoke(app, ["paths", "--writes", "--write-verbs", verbs])
    assert result.exit_code == 0, result.output
    lines = {line[:36].strip(): line[36:].split() for line in result.output.splitlines()}
    assert len(lines) == 13
    for title, request in expected.items():
        method, url = lines[title]
        assert f"{method} {url.removeprefix('https://api.dizions.co.uk')}" == request
