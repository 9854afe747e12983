"""Static checks of the typed-record API: ``mypy --strict tests/typing`` (CI runs it).

Never run, only type-checked: each ``assert_type`` fails the check if a call's type is
not exactly the one stated, and (with ``warn_unused_ignores``, part of ``--strict``) each
``type: ignore`` fails it if the line stops being an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from typing import Any

from typing_extensions import assert_type

from dizions_async import Client, ExtensionDatabase, Query, models


async def reads(dz: Client, q: Query) -> None:
    assert_type(await dz.fetch(q), list[dict[str, Any]])
    assert_type(await dz.fetch(q, as_=models.Client), list[models.Client])
    assert_type(await dz.fetch(q, models.Referral, split="month"), list[models.Referral])
    assert_type(await dz.fetch_one(q, as_=models.Worker), models.Worker)
    assert_type(dz.stream(q, as_=models.DoneContact), AsyncIterator[models.DoneContact])
    assert_type(dz.stream_many([q], as_=models.Schedule), AsyncIterator[models.Schedule])
    assert_type(await dz.gather([q], as_=models.Client), list[Any])


async def bound(dz: Client) -> None:
    assert_type(await dz.query("clients").filter(gender=1).typed(), list[models.Client])
    assert_type(await dz.query("referrals").fields("id").typed(), list[models.Referral])
    assert_type(await dz.query("done_contacts").typed(), list[models.DoneContact])
    assert_type(await dz.query("due_contacts").typed(), list[models.DueContact])
    assert_type(await dz.query("workers").typed(), list[models.Worker])
    assert_type(await dz.query("schedules").typed(), list[models.Schedule])
    assert_type(await dz.query("attendances").typed(), list[models.Attendance])
    assert_type(await dz.query("clinics").id(4).typed_one(), models.Clinic)
    db = ExtensionDatabase("Staff Disciplinary", 13)
    assert_type(await dz.query(db).typed(), list[models.ExtensionRecord])
    name: str = "clients"
    assert_type(await dz.query(name).typed(), list[models.Record])
    assert_type(await dz.query("clients"), list[dict[str, Any]])


def fields(client: models.Client, contact: models.DoneContact) -> None:
    assert_type(client.id, int | None)
    assert_type(client.date_of_birth, dt.date | None)
    assert_type(client.active, bool | None)
    assert_type(client.surname, str | None)
    assert_type(client.relationship_details, list[dict[str, Any]] | None)
    assert_type(contact.start_date, dt.datetime | None)
    assert_type(contact.travel_mileage, float | None)
    assert_type(client.extra, Mapping[str, Any])
    assert_type(client.to_dict(), dict[str, Any])
    client.id = 4  # type: ignore[misc]  # frozen
    models.Client(surname=3)  # type: ignore[arg-type]
    models.Client(nickname="x")  # type: ignore[call-arg]
    models.Client(1)  # type: ignore[call-arg, arg-type]  # keyword-only


async def writes(dz: Client) -> None:
    assert_type(await dz.create(models.Client(first_name="Ann", surname="Lee")), int)
    assert_type(await dz.create("clients", models.Client(first_name="Ann", surname="Lee")), int)
    assert_type(await dz.create("clients", {"first_name": "Ann", "surname": "Lee"}), int)
    assert_type(await dz.update(models.Client(id=4, postcode="AB1 2CD")), int)
    assert_type(await dz.update("clients", 4, models.Client(postcode="AB1 2CD")), int)
    await dz.create({"first_name": "Ann"})  # type: ignore[call-overload]
