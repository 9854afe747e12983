"""Typed records: one frozen attrs class per resource, generated from the field table.

Do not edit by hand: change ``dizions_async/_fields.py`` and run
``python -m dizions_async._fields`` (a test fails while this file is stale).

Every field is optional (``None`` when the record does not carry it, e.g. after
``.fields(...)``, or when the server sent an empty value). Fields the class does not
know, such as a charity's extension fields, are kept in ``extra``, so nothing is
dropped. ``Y``/``N`` become bools, ISO dates ``datetime.date``, IDs ints.

Example::

    clients = await dz.fetch(Query('clients'), as_=models.Client)
    clients[0].date_of_birth  # datetime.date(1970, 1, 1)
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = [
    "MODELS",
    "Attendance",
    "Client",
    "Clinic",
    "DoneContact",
    "DueContact",
    "ExtensionRecord",
    "Record",
    "Referral",
    "Schedule",
    "Worker",
]

_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


def _as_dict(extra: Mapping[str, Any]) -> str:
    return repr(dict(extra))


# Not slotted: a typed fetch builds each record by setting its __dict__ in one go,
# which is much faster than setting frozen slots one by one (see _convert).
@attrs.frozen(kw_only=True, slots=False)
class Record:
    """Base of every typed record: the fields the class does not know, by wire name."""

    # Compared, but not hashed (a mapping cannot be): records with no list field
    # are hashable.
    extra: Mapping[str, Any] = attrs.field(
        default=_NO_EXTRA, kw_only=True, repr=_as_dict, hash=False
    )

    def to_dict(self) -> dict[str, Any]:
        """The record as the API sends it: set fields (``Y``/``N``, ISO dates), then
        ``extra``; None fields are left out."""
        from dizions_async._convert import record_to_wire

        return record_to_wire(self)


# A typed fetch leaves an empty extra out of a record's __dict__ and this class-level
# default stands in: a __dict__ of plain values is not tracked by the cyclic garbage
# collector, which otherwise slowed a 100,000-record typed fetch by a quarter.
Record.extra = _NO_EXTRA


@attrs.frozen(kw_only=True, slots=False)
class Client(Record):
    """A record of ``clients``."""

    id: int | None = None
    first_name: str | None = None
    surname: str | None = None
    date_of_birth: datetime.date | None = None
    email: str | None = None
    telephone: str | None = None
    address_1: str | None = None
    town: str | None = None
    county: int | None = None
    postcode: str | None = None
    district: int | None = None
    type: int | None = None
    external_id: str | None = None
    gender: int | None = None
    ethnicity: int | None = None
    religion: int | None = None
    main_language: int | None = None
    marital_status: int | None = None
    sexual_orientation: int | None = None
    accommodation: int | None = None
    employment_status: int | None = None
    age_range: int | None = None
    main_disability: int | None = None
    preferred_communication_method: int | None = None
    registered_disabled: bool | None = None
    blue_badge_holder: bool | None = None
    consent: bool | None = None
    deceased: bool | None = None
    active: bool | None = None
    gp_name: str | None = None
    gp_surgery: int | None = None
    nhs_number: str | None = None
    social_services_number: str | None = None
    people_in_household: int | None = None
    school: int | None = None
    usual_support_worker: int | None = None
    relationship_details: list[dict[str, Any]] | None = None
    carer_relationship_details: list[dict[str, Any]] | None = None


@attrs.frozen(kw_only=True, slots=False)
class Referral(Record):
    """A record of ``referrals``."""

    id: int | None = None
    client: int | None = None
    client_type: int | None = None
    date: datetime.date | None = None
    project: int | None = None
    template: int | None = None
    stage: int | None = None
    response_description: str | None = None
    description: str | None = None
    referrer: int | None = None
    priority: int | None = None
    contact_method: int | None = None
    contact_type: int | None = None
    funding_sponsor: int | None = None
    introduction_source: int | None = None
    response_method: int | None = None
    referral_complete: bool | None = None
    additional_org_person: int | None = None
    updated: datetime.datetime | None = None
    branch: int | None = None
    client_county: int | None = None
    client_postcode: str | None = None
    client_district: int | None = None
    client_external_id: str | None = None
    client_gender: int | None = None
    client_ethnicity: int | None = None
    client_religion: int | None = None
    client_main_language: int | None = None
    client_marital_status: int | None = None
    client_sexual_orientation: int | None = None
    client_accommodation: int | None = None
    client_employment_status: int | None = None
    client_age_range: int | None = None
    client_main_disability: int | None = None
    client_preferred_communication_method: int | None = None
    client_registered_disabled: bool | None = None
    client_blue_badge_holder: bool | None = None
    client_active: bool | None = None
    client_gp_name: str | None = None
    client_gp_surgery: int | None = None
    client_nhs_number: str | None = None
    client_people_in_household: int | None = None
    client_school: int | None = None
    project_name: str | None = None
    project_category: int | None = None
    project_active: bool | None = None


@attrs.frozen(kw_only=True, slots=False)
class DoneContact(Record):
    """A record of ``done_contacts``."""

    id: int | None = None
    referral: int | None = None
    user: int | None = None
    branch: int | None = None
    start_date: datetime.datetime | None = None
    end_date: datetime.datetime | None = None
    description: str | None = None
    due_stage: int | None = None
    travel_mileage: float | None = None
    travel_time: int | None = None
    transport_method: int | None = None
    stage: int | None = None
    contact_type: int | None = None
    priority: int | None = None
    client: int | None = None
    project: int | None = None
    date: datetime.date | None = None
    contact_method: int | None = None
    funding_sponsor: int | None = None
    introduction_source: int | None = None
    referral_complete: bool | None = None
    referrer: int | None = None
    response_method: int | None = None
    template: int | None = None
    client_type: int | None = None
    client_county: int | None = None
    client_postcode: str | None = None
    client_district: int | None = None
    client_external_id: str | None = None
    client_gender: int | None = None
    client_ethnicity: int | None = None
    client_religion: int | None = None
    client_main_language: int | None = None
    client_marital_status: int | None = None
    client_sexual_orientation: int | None = None
    client_accommodation: int | None = None
    client_employment_status: int | None = None
    client_age_range: int | None = None
    client_main_disability: int | None = None
    client_preferred_communication_method: int | None = None
    client_registered_disabled: bool | None = None
    client_blue_badge_holder: bool | None = None
    client_active: bool | None = None
    client_gp_name: str | None = None
    client_gp_surgery: int | None = None
    client_nhs_number: str | None = None
    client_people_in_household: int | None = None
    client_school: int | None = None
    project_name: str | None = None
    project_category: int | None = None
    project_active: bool | None = None


@attrs.frozen(kw_only=True, slots=False)
class DueContact(Record):
    """A record of ``due_contacts``."""

    id: int | None = None
    referral: int | None = None
    user: int | None = None
    branch: int | None = None
    start_date: datetime.datetime | None = None
    end_date: datetime.datetime | None = None
    description: str | None = None
    due_stage: int | None = None
    travel_mileage: float | None = None
    travel_time: int | None = None
    transport_method: int | None = None
    stage: int | None = None
    contact_type: int | None = None
    priority: int | None = None
    client: int | None = None
    project: int | None = None
    date: datetime.date | None = None
    contact_method: int | None = None
    funding_sponsor: int | None = None
    introduction_source: int | None = None
    referral_complete: bool | None = None
    referrer: int | None = None
    response_method: int | None = None
    template: int | None = None
    client_type: int | None = None
    client_county: int | None = None
    client_postcode: str | None = None
    client_district: int | None = None
    client_external_id: str | None = None
    client_gender: int | None = None
    client_ethnicity: int | None = None
    client_religion: int | None = None
    client_main_language: int | None = None
    client_marital_status: int | None = None
    client_sexual_orientation: int | None = None
    client_accommodation: int | None = None
    client_employment_status: int | None = None
    client_age_range: int | None = None
    client_main_disability: int | None = None
    client_preferred_communication_method: int | None = None
    client_registered_disabled: bool | None = None
    client_blue_badge_holder: bool | None = None
    client_active: bool | None = None
    client_gp_name: str | None = None
    client_gp_surgery: int | None = None
    client_nhs_number: str | None = None
    client_people_in_household: int | None = None
    client_school: int | None = None
    project_name: str | None = None
    project_category: int | None = None
    project_active: bool | None = None


@attrs.frozen(kw_only=True, slots=False)
class Worker(Record):
    """A record of ``workers``."""

    id: int | None = None
    first_name: str | None = None
    surname: str | None = None
    email: str | None = None
    branch: int | None = None
    active: bool | None = None


@attrs.frozen(kw_only=True, slots=False)
class Schedule(Record):
    """A record of ``schedules``."""

    id: int | None = None
    worker: int | None = None
    client: int | None = None
    project: int | None = None
    status: str | None = None
    start_date: datetime.date | None = None
    end_date: datetime.date | None = None


@attrs.frozen(kw_only=True, slots=False)
class Attendance(Record):
    """A record of ``attendances``."""

    id: int | None = None
    clinic: int | None = None
    client: int | None = None
    project: int | None = None
    start: datetime.datetime | None = None
    attended: bool | None = None
    rate: float | None = None
    treatments: list[dict[str, Any]] | None = None


@attrs.frozen(kw_only=True, slots=False)
class Clinic(Record):
    """A record of ``clinics``."""

    id: int | None = None
    name: str | None = None
    project_id: int | None = None
    location: str | None = None
    maximum_number_of_members: int | None = None


@attrs.frozen(kw_only=True, slots=False)
class ExtensionRecord(Record):
    """A record of ``extension_database``."""

    id: int | None = None
    referral: int | None = None
    client: int | None = None


#: Resource path name -> its model (extension databases: ``ExtensionRecord``).
MODELS: Mapping[str, type[Record]] = MappingProxyType(
    {
        "clients": Client,
        "referrals": Referral,
        "done_contacts": DoneContact,
        "due_contacts": DueContact,
        "workers": Worker,
        "schedules": Schedule,
        "attendances": Attendance,
        "clinics": Clinic,
        "extension_database": ExtensionRecord,
    }
)
