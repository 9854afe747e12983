"""``dizions paths``: the documented example queries and the paths they compile to."""

from __future__ import annotations

import datetime as dt

import click

from dizions_async.query import ExtensionDatabase, Query


def documented_examples() -> list[tuple[str, Query]]:
    """The example reads of the API document, built with Query."""
    return [
        (
            "clients by religion and ethnicity",
            Query("clients").filter(religion=[1, 3, 10], ethnicity=1),
        ),
        ("one referral", Query("referrals").id(510)),
        ("extension field filter", Query("clients").filter(website_photo_consent=109)),
        (
            "referrals active in October 2018",
            Query("referrals").date_range(
                "date_active", dt.date(2018, 10, 1), dt.date(2018, 10, 31)
            ),
        ),
        ("selected fields", Query("clients").fields("id", "surname", "website_photo_consent")),
        ("report by district", Query("clients").dimension("district")),
        ("report by district and gender", Query("clients").dimension("district").metric("gender")),
        ("extension database", ExtensionDatabase("Staff Disciplinary", 13).query()),
        (
            "extension database by referral",
            ExtensionDatabase("Wellcheck Notes", 9).query().filter(referral=2289),
        ),
        (
            "names instead of IDs",
            Query("clients").fields("id", "ethnicity").resolve_ids("ethnicity", "main_language"),
        ),
    ]


@click.command()
@click.option("--base-url", default="https://api.dizions.co.uk", show_default=True)
def paths(base_url: str) -> None:
    """Print the documented example queries and the URLs they compile to."""
    for title, query in documented_examples():
        click.echo(f"{title:36} {query.url(base_url)}")
