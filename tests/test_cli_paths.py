"""``dizions paths``: prints each documented example with its URL."""

from __future__ import annotations

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
