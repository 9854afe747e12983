"""``dizions paths``: the documented example queries and the paths they compile to; with
``--writes``, the documented writes as the chosen write-verb convention sends them."""

from __future__ import annotations

import datetime as dt

import click

from dizions_async import _writes
from dizions_async.catalogue import WRITE_VERBS, WriteVerbs, get_resource
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
        *wiki_examples(),
    ]


def wiki_examples() -> list[tuple[str, Query]]:
    """The example reads of the newer wiki pages (API_clients, API_referrals, ...)."""
    d = dt.date
    return [
        ("people of client type 7", Query("clients").filter(type=7)),
        (
            "referrals by date and project",
            Query("referrals")
            .filter(project=[1, 2, 3])
            .date_range("date", d(2022, 1, 1), d(2022, 12, 31)),
        ),
        (
            "due contacts by project and user",
            Query("due_contacts")
            .filter(project=[3, 5, 7], user=[4, 6, 8])
            .date_range("date", d(2023, 1, 31), d(2023, 12, 31)),
        ),
        (
            "done contacts by project and branch",
            Query("done_contacts")
            .filter(project=[3, 5, 7], branch=[4, 6, 8])
            .date_range("date", d(2023, 1, 31), d(2023, 12, 31)),
        ),
        (
            "schedules with status",
            Query("schedules")
            .date_range("date_active", d(2021, 4, 1), d(2021, 4, 30))
            .fields("id", "status"),
        ),
        (
            "completed schedules by client",
            Query("schedules")
            .filter(status="completed")
            .date_range("date_active", d(2021, 4, 1), d(2021, 4, 30))
            .dimension("client_gender")
            .metric("client_district"),
        ),
        (
            "attendances with rates",
            Query("attendances")
            .date_range("start", d(2024, 12, 1), d(2024, 12, 31))
            .fields("client", "attended", "rate"),
        ),
        ("clinic sizes", Query("clinics").fields("id", "name", "maximum_number_of_members")),
        (
            "relationships of a client",
            Query("clients").id(37).fields("postcode", "email", "relationship_details"),
        ),
        (
            "extension database by API name",
            ExtensionDatabase("wellcheck_notes").query().filter(referral=2289),
        ),
    ]


def write_examples(verbs: WriteVerbs) -> list[tuple[str, str, str]]:
    """The documented writes as ``verbs`` sends them: (title, method, path)."""
    w = _writes
    person = {"first_name": "J", "surname": "S"}
    due = {"start_date": "2024-03-04", "end_date": "2024-03-04", "user": 4, "description": "x"}
    referral = dict.fromkeys(get_resource("referrals").required, 1)
    staged = [{"org_type_id": 1, "surname": "S", "description": "x"}]
    examples = [
        ("create a client", w.prepare_create("clients", person, verbs)),
        ("create a client by external ID", w.prepare_create_client(person, "EXT", verbs)),
        ("update a client", w.prepare_update("clients", 7, {"postcode": "x"}, verbs)),
        ("create a referral", w.prepare_create("referrals", referral, verbs)),
        ("update a referral", w.prepare_update("referrals", 510, {"stage": 3}, verbs)),
        ("create a due contact", w.prepare_due_contact(127, due, verbs)),
        ("edit a due contact", w.prepare_update("due_contacts", 456, {"user": 6}, verbs)),
        (
            "complete a due contact",
            w.prepare_complete_contact(456, "2024-03-04", "2024-03-04", {}, verbs),
        ),
        ("create a done contact", w.prepare_done_contact(127, {**due, "stage": 2}, verbs)),
        ("edit a done contact", w.prepare_update("done_contacts", 456, {"priority": 3}, verbs)),
        (
            "relate two clients",
            w.prepare_set_relationship(37, 59, first_to_second=6, second_to_first=5),
        ),
        ("stage an external referral", w.prepare_external_referral(staged, verbs)),
        (
            "extension database record",
            w.prepare_create(ExtensionDatabase("wellcheck_notes"), {"referral": 2289}, verbs),
        ),
    ]
    return [(title, write.method, write.path) for title, write in examples]


@click.command()
@click.option("--base-url", default="https://api.dizions.co.uk", show_default=True)
@click.option("--writes", is_flag=True, help="Print the documented writes instead.")
@click.option(
    "--write-verbs",
    type=click.Choice(WRITE_VERBS),
    default="seed",
    show_default=True,
    help="The write-verb convention of --writes.",
)
def paths(base_url: str, writes: bool, write_verbs: WriteVerbs) -> None:
    """Print the documented example queries and the URLs they compile to."""
    if writes:
        root = base_url.rstrip("/")
        for title, method, path in write_examples(write_verbs):
            click.echo(f"{title:36} {method:4} {root}{path}")
        return
    for title, query in documented_examples():
        click.echo(f"{title:36} {query.url(base_url)}")
