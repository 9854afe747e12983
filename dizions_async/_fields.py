"""The fields of every resource and their types: the one table the SDK and the fake read.

For each resource that can be read, the documented fields in wire order, each with a
:class:`Kind` (what it holds on the wire and what it becomes in Python and Arrow).
``dizions_async.models`` is generated from this table (``python -m dizions_async._fields``
rewrites it; a test fails when it is stale), the catalogue exposes it as
``Resource.fields``, and the fake server builds its tables and column types from it.

Sources: the seed document's filter lists, the fields the wiki's pages name
(relationship details, attendance rates and treatments, clinic sizes), and the fields the
fake server has always returned. Single-record extension fields (collaborator names) are
per charity, so they are not here: a typed record keeps them in ``extra``.

A field is ``joined`` when it is read from a related record (a referral's ``client_*``
fields, a contact's referral fields, lists of related records): the server answers it,
but it is not stored on the record itself, and a write does not set it.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Mapping

import attrs

__all__ = ["FIELDS", "Field", "Kind", "fields_of", "render_models"]


class Kind(str, enum.Enum):
    """What a field holds on the wire, and so what it becomes in Python and Arrow."""

    ID = "id"  # a record or dictionary ID: int
    INT = "int"  # a count or amount: int
    FLOAT = "float"
    TEXT = "text"  # str
    DATE = "date"  # an ISO date: datetime.date
    DATETIME = "datetime"  # an ISO date and time (space or T): datetime.datetime
    FLAG = "flag"  # "Y" / "N": bool
    LIST = "list"  # a JSON array of objects: list[dict[str, Any]]

    @property
    def annotation(self) -> str:
        """The Python type the models declare for this kind."""
        return _ANNOTATIONS[self]


_ANNOTATIONS = {
    Kind.ID: "int",
    Kind.INT: "int",
    Kind.FLOAT: "float",
    Kind.TEXT: "str",
    Kind.DATE: "datetime.date",
    Kind.DATETIME: "datetime.datetime",
    Kind.FLAG: "bool",
    Kind.LIST: "list[dict[str, Any]]",
}


@attrs.frozen
class Field:
    """One field of a resource: its wire name, its kind, and whether it is joined."""

    name: str
    kind: Kind
    joined: bool = False


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _f(spec: str, joined: bool = False) -> tuple[Field, ...]:
    """Fields from ``"name:KIND name:KIND ..."`` (compact, so the table reads as a table)."""
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append(Field(name, Kind[kind], joined))
    return tuple(out)


_CLIENT = _f(
    """
    id:ID first_name:TEXT surname:TEXT date_of_birth:DATE email:TEXT telephone:TEXT
    address_1:TEXT town:TEXT county:ID postcode:TEXT district:ID type:ID external_id:TEXT
    gender:ID ethnicity:ID religion:ID main_language:ID marital_status:ID
    sexual_orientation:ID accommodation:ID employment_status:ID age_range:ID
    main_disability:ID preferred_communication_method:ID registered_disabled:FLAG
    blue_badge_holder:FLAG consent:FLAG deceased:FLAG active:FLAG gp_name:TEXT
    gp_surgery:ID nhs_number:TEXT social_services_number:TEXT people_in_household:INT
    school:ID usual_support_worker:ID
    """
) + _f("relationship_details:LIST carer_relationship_details:LIST", joined=True)

# The client fields a referral or contact reads as ``client_<name>`` (the seed's list).
_SEED_CLIENT_KEYS = _words(
    "accommodation active age_range blue_badge_holder county district employment_status "
    "ethnicity external_id gender gp_name gp_surgery main_disability main_language "
    "marital_status nhs_number people_in_household postcode preferred_communication_method "
    "registered_disabled religion school sexual_orientation"
)
_CLIENT_PREFIXED = _f(
    " ".join(f"client_{f.name}:{f.kind.name}" for f in _CLIENT if f.name in _SEED_CLIENT_KEYS),
    joined=True,
)
_PROJECT = _f("project_name:TEXT project_category:ID project_active:FLAG", joined=True)

_REFERRAL = (
    _f(
        """
        id:ID client:ID client_type:ID date:DATE project:ID template:ID stage:ID
        response_description:TEXT description:TEXT referrer:ID priority:ID
        contact_method:ID contact_type:ID funding_sponsor:ID introduction_source:ID
        response_method:ID referral_complete:FLAG additional_org_person:ID
        updated:DATETIME branch:ID
        """
    )
    + _CLIENT_PREFIXED
    + _PROJECT
)

# Done and due contacts are one kind of record (a due contact becomes a done one).
_CONTACT = (
    _f(
        """
        id:ID referral:ID user:ID branch:ID start_date:DATETIME end_date:DATETIME
        description:TEXT due_stage:ID travel_mileage:FLOAT travel_time:INT
        transport_method:ID stage:ID contact_type:ID priority:ID
        """
    )
    + _f(
        """
        client:ID project:ID date:DATE contact_method:ID funding_sponsor:ID
        introduction_source:ID referral_complete:FLAG referrer:ID
        response_method:ID template:ID client_type:ID
        """,
        joined=True,
    )
    + _CLIENT_PREFIXED
    + _PROJECT
)

FIELDS: Mapping[str, tuple[Field, ...]] = {
    "clients": _CLIENT,
    "referrals": _REFERRAL,
    "done_contacts": _CONTACT,
    "due_contacts": _CONTACT,
    "workers": _f("id:ID first_name:TEXT surname:TEXT email:TEXT branch:ID active:FLAG"),
    # API_schedules: status is text (``completed``, ...).
    "schedules": _f(
        "id:ID worker:ID client:ID project:ID status:TEXT start_date:DATE end_date:DATE"
    ),
    "attendances": _f("id:ID clinic:ID client:ID project:ID start:DATETIME attended:FLAG")
    + _f("rate:FLOAT")
    + _f("treatments:LIST", joined=True),
    "clinics": _f("id:ID name:TEXT project_id:ID location:TEXT maximum_number_of_members:INT"),
    # A multiple-record extension database: only these are known; the rest is per database.
    "extension_database": _f("id:ID referral:ID client:ID"),
}

#: Resource -> model class name, in the order the models module defines them.
_MODELS = {
    "clients": "Client",
    "referrals": "Referral",
    "done_contacts": "DoneContact",
    "due_contacts": "DueContact",
    "workers": "Worker",
    "schedules": "Schedule",
    "attendances": "Attendance",
    "clinics": "Clinic",
    "extension_database": "ExtensionRecord",
}


def fields_of(resource: str) -> tuple[Field, ...]:
    """The documented fields of ``resource`` (an extension database's ``id``, ``referral``
    and ``client``); empty for a resource that cannot be read."""
    if resource.startswith("extension_database/"):
        resource = "extension_database"
    return FIELDS.get(resource, ())


def render_models() -> str:
    """The source of ``dizions_async/models.py``, generated from :data:`FIELDS`."""
    lines = [
        '"""Typed records: one frozen attrs class per resource, generated from the field table.',
        "",
        "Do not edit by hand: change ``dizions_async/_fields.py`` and run",
        "``python -m dizions_async._fields`` (a test fails while this file is stale).",
        "",
        "Every field is optional (``None`` when the record does not carry it, e.g. after",
        "``.fields(...)``, or when the server sent an empty value). Fields the class does not",
        "know, such as a charity's extension fields, are kept in ``extra``, so nothing is",
        "dropped. ``Y``/``N`` become bools, ISO dates ``datetime.date``, IDs ints.",
        "",
        "Example::",
        "",
        "    clients = await dz.fetch(Query('clients'), as_=models.Client)",
        "    clients[0].date_of_birth  # datetime.date(1970, 1, 1)",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import datetime",
        "from collections.abc import Mapping",
        "from types import MappingProxyType",
        "from typing import Any",
        "",
        "import attrs",
        "",
        "__all__ = [",
        '    "MODELS",',  # ruff's isort-style order: constants first
        *(f'    "{name}",' for name in sorted([*_MODELS.values(), "Record"])),
        "]",
        "",
        "_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})",
        "",
        "",
        "def _as_dict(extra: Mapping[str, Any]) -> str:",
        "    return repr(dict(extra))",
        "",
        "",
        "# Not slotted: a typed fetch builds each record by setting its __dict__ in one go,",
        "# which is much faster than setting frozen slots one by one (see _convert).",
        "@attrs.frozen(kw_only=True, slots=False)",
        "class Record:",
        '    """Base of every typed record: the fields the class does not know, by wire name."""',
        "",
        "    # Compared, but not hashed (a mapping cannot be): records with no list field",
        "    # are hashable.",
        "    extra: Mapping[str, Any] = attrs.field(",
        "        default=_NO_EXTRA, kw_only=True, repr=_as_dict, hash=False",
        "    )",
        "",
        "    def to_dict(self) -> dict[str, Any]:",
        '        """The record as the API sends it: set fields (``Y``/``N``, ISO dates), then',
        '        ``extra``; None fields are left out."""',
        "        from dizions_async._convert import record_to_wire",
        "",
        "        return record_to_wire(self)",
        "",
        "",
        "# A typed fetch leaves an empty extra out of a record's __dict__ and this class-level",
        "# default stands in: a __dict__ of plain values is not tracked by the cyclic garbage",
        "# collector, which otherwise slowed a 100,000-record typed fetch by a quarter.",
        "Record.extra = _NO_EXTRA",
    ]
    for resource, cls in _MODELS.items():
        lines += ["", "", "@attrs.frozen(kw_only=True, slots=False)", f"class {cls}(Record):"]
        lines.append(f'    """A record of ``{resource}``."""')
        lines.append("")
        lines += [f"    {f.name}: {f.kind.annotation} | None = None" for f in fields_of(resource)]
    lines += [
        "",
        "",
        "#: Resource path name -> its model (extension databases: ``ExtensionRecord``).",
        "MODELS: Mapping[str, type[Record]] = MappingProxyType(",
        "    {",
        *(f'        "{resource}": {cls},' for resource, cls in _MODELS.items()),
        "    }",
        ")",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - the generator's command line
    from pathlib import Path

    target = Path(__file__).with_name("models.py")
    target.write_text(render_models())
    sys.stdout.write(f"wrote {target}\n")
