"""The Dizions resources, as data: the single source of truth for the SDK and the fake server.

For each resource this module records its filter keys (from the seed document and the
wiki), its date-range keys, the operations it supports with their HTTP method and path
shape, and the fields a create must carry. Nothing here does I/O or imports aiohttp.

Path shapes are templates over ``{resource}``, ``{id}``, ``{external_id}`` and
``{referral}``; :func:`operation_path` fills them in, quoting each value.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from urllib.parse import quote

import attrs

from dizions_async._fields import Field, fields_of
from dizions_async._text import closest
from dizions_async.errors import QueryError

__all__ = [
    "API_PREFIX",
    "EXTENSION_DATABASE",
    "KEY_PATTERN",
    "MAX_FILTERS",
    "RESOURCES",
    "Operation",
    "OperationKind",
    "Resource",
    "extension_slug",
    "get_resource",
    "operation_path",
]

API_PREFIX = "/v2"
MAX_FILTERS = 10
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
#: The resource prefix of multiple-record extension databases: ``extension_database/{slug}``.
EXTENSION_DATABASE = "extension_database"
_SLUG = re.compile(r"[a-z0-9_]*_[0-9]+\Z")


class OperationKind(str, enum.Enum):
    READ = "read"
    REPORT = "report"
    CREATE = "create"
    CREATE_BY_EXTERNAL_ID = "create_by_external_id"
    CREATE_FOR_REFERRAL = "create_for_referral"
    UPDATE = "update"
    UPLOAD = "upload"


@attrs.frozen
class Operation:
    """One thing a resource supports: its HTTP method and path template."""

    kind: OperationKind
    method: str
    path: str


@attrs.frozen
class Resource:
    """What the API offers on one resource.

    Attributes:
        name: the path segment(s), e.g. ``clients`` or ``extension_database/notes_9``.
        filter_keys: filter keys the seed and wiki document.
        keys_complete: True when ``filter_keys`` is the whole list, so an unknown key is
            refused; False when the list is partial and any identifier is accepted.
        extension_fields: True when single-record extension fields (collaborator names)
            may be used as filters and selected fields (clients, referrals).
        date_keys: keys accepted by ``date_range``; empty when the resource has none.
        date_keys_complete: False when date keys are not published (any key accepted).
        operations: what can be done, by kind.
        required: fields a create must carry.
    """

    name: str
    filter_keys: frozenset[str] = frozenset()
    keys_complete: bool = False
    extension_fields: bool = False
    date_keys: frozenset[str] = frozenset()
    date_keys_complete: bool = True
    operations: Mapping[OperationKind, Operation] = attrs.field(factory=dict)
    required: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[Field, ...]:
        """The documented fields of a read, with their types (from the one field table)."""
        return fields_of(self.name)

    def supports(self, kind: OperationKind) -> bool:
        return kind in self.operations

    def operation(self, kind: OperationKind) -> Operation:
        """The operation of ``kind``, or a QueryError naming what the resource does support."""
        try:
            return self.operations[kind]
        except KeyError:
            offered = ", ".join(sorted(k.value for k in self.operations)) or "nothing"
            raise QueryError(
                f"resource {self.name!r} does not support {kind.value}; it supports: {offered}"
            ) from None


def _ops(*kinds: OperationKind) -> dict[OperationKind, Operation]:
    shapes = {
        OperationKind.READ: ("GET", "{resource}"),
        OperationKind.REPORT: ("GET", "{resource}"),
        OperationKind.CREATE: ("PUT", "{resource}"),
        OperationKind.CREATE_BY_EXTERNAL_ID: ("PUT", "{resource}/external_id/{external_id}"),
        OperationKind.CREATE_FOR_REFERRAL: ("PUT", "{resource}/referral/{referral}"),
        OperationKind.UPDATE: ("POST", "{resource}/id/{id}"),
        OperationKind.UPLOAD: ("POST", "{resource}/id/{id}/uploads"),
    }
    return {k: Operation(k, shapes[k][0], f"{API_PREFIX}/{shapes[k][1]}") for k in kinds}


_R, _RP, _C, _CX, _CR, _U, _UP = (
    OperationKind.READ,
    OperationKind.REPORT,
    OperationKind.CREATE,
    OperationKind.CREATE_BY_EXTERNAL_ID,
    OperationKind.CREATE_FOR_REFERRAL,
    OperationKind.UPDATE,
    OperationKind.UPLOAD,
)

_CLIENT_FIELDS = [
    "accommodation",
    "active",
    "age_range",
    "blue_badge_holder",
    "consent",
    "county",
    "deceased",
    "district",
    "employment_status",
    "ethnicity",
    "external_id",
    "gender",
    "gp_name",
    "gp_surgery",
    "main_disability",
    "main_language",
    "marital_status",
    "nhs_number",
    "people_in_household",
    "postcode",
    "preferred_communication_method",
    "registered_disabled",
    "religion",
    "school",
    "sexual_orientation",
    "social_services_number",
]
# Referrals and done contacts filter on the client's fields, prefixed, and on `client_type`.
_NOT_PREFIXED = {"consent", "deceased", "social_services_number"}
_CLIENT_PREFIXED = frozenset(f"client_{f}" for f in _CLIENT_FIELDS if f not in _NOT_PREFIXED) | {
    "client_type"
}
_REFERRAL_SHARED = frozenset(
    [
        "client",
        "contact_method",
        "contact_type",
        "funding_sponsor",
        "id",
        "introduction_source",
        "priority",
        "project",
        "project_active",
        "project_category",
        "project_name",
        "referral_complete",
        "referrer",
        "response_method",
        "stage",
        "template",
    ]
)

RESOURCES: Mapping[str, Resource] = {
    r.name: r
    for r in (
        Resource(
            "clients",
            # seed list, plus `type` and `email` which the wiki shows in use
            frozenset(_CLIENT_FIELDS) | {"id", "usual_support_worker", "type", "email"},
            keys_complete=True,
            extension_fields=True,
            operations=_ops(_R, _RP, _C, _CX, _U, _UP),
            required=("first_name", "surname"),
        ),
        Resource(
            "referrals",
            _CLIENT_PREFIXED
            | _REFERRAL_SHARED
            | {"additional_org_person", "date", "description", "updated"},
            keys_complete=True,
            extension_fields=True,
            date_keys=frozenset({"date", "date_active"}),
            operations=_ops(_R, _RP, _C, _U, _UP),
            required=(
                "client",
                "client_type",
                "date",
                "project",
                "template",
                "stage",
                "response_description",
            ),
        ),
        Resource(
            "done_contacts",
            _CLIENT_PREFIXED
            | _REFERRAL_SHARED
            | {"due_stage", "end_date", "referral", "travel_mileage", "travel_time", "user"}
            | {"branch"},  # wiki
            keys_complete=True,
            date_keys=frozenset({"date"}),
            operations=_ops(_R, _RP, _U),
        ),
        Resource(
            "due_contacts",
            frozenset({"id", "referral", "client", "project", "user", "branch"}),
            date_keys=frozenset({"date"}),
            operations=_ops(_R, _RP, _CR, _U),
            required=("user", "start_date", "end_date", "description"),
        ),
        Resource("workers", frozenset({"id"}), operations=_ops(_R, _RP)),
        Resource(
            "schedules",
            frozenset({"id", "worker", "status", "client"}),
            date_keys=frozenset({"date_active"}),
            operations=_ops(_R, _RP),
        ),
        Resource(
            "attendances",
            frozenset({"id", "project", "clinic", "attended"}),
            date_keys=frozenset({"start"}),
            operations=_ops(_R, _RP),
        ),
        Resource("clinics", frozenset({"id", "project_id"}), operations=_ops(_R, _RP)),
        Resource(
            "external_referral",
            operations=_ops(_C),
            required=("org_type_id", "surname", "description"),
        ),
    )
}


def extension_slug(name: str, db_id: int) -> str:
    """The path name of a multiple-record extension database.

    Lower-case the name, turn spaces into underscores, then append ``_`` and the ID:
    ``extension_slug("Staff Disciplinary", 13) == "staff_disciplinary_13"``.
    """
    if not isinstance(db_id, int) or isinstance(db_id, bool) or db_id < 0:
        raise QueryError(f"extension database id must be a non-negative int, got {db_id!r}")
    stem = "_".join(name.strip().lower().split())
    slug = f"{stem}_{db_id}"
    if not stem or not _SLUG.match(slug):
        raise QueryError(
            f"extension database name {name!r} must be letters, digits and spaces "
            f"(it becomes {slug!r})"
        )
    return slug


def get_resource(name: str) -> Resource:
    """Look up a resource by its path name; extension databases are ``extension_database/slug``.

    Raises:
        QueryError: the resource is unknown; the message suggests the nearest one.
    """
    found = RESOURCES.get(name)
    if found is not None:
        return found
    prefix, _, slug = name.partition("/")
    if prefix == EXTENSION_DATABASE and _SLUG.match(slug):
        return _extension_resource(name)
    hint = closest(name, [*RESOURCES, f"{EXTENSION_DATABASE}/<name>_<id>"])
    raise QueryError(f"unknown resource {name!r}" + (f"; did you mean {hint!r}?" if hint else ""))


def _extension_resource(name: str) -> Resource:
    return Resource(
        name,
        frozenset({"id", "referral", "client"}),
        date_keys_complete=False,
        operations=_ops(_R, _RP, _C, _U),
    )


def operation_path(resource: Resource, kind: OperationKind, **values: object) -> str:
    """Fill in the path template of ``resource``'s ``kind`` operation, quoting each value.

    >>> operation_path(get_resource("clients"), OperationKind.UPDATE, id=7)
    '/v2/clients/id/7'
    """
    op = resource.operation(kind)
    quoted = {k: quote(str(v), safe="") for k, v in values.items()}
    return op.path.format(resource=resource.name, **quoted)
