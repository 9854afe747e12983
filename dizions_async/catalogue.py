"""The Dizions resources, as data: the single source of truth for the SDK and the fake server.

For each resource this module records its filter keys (from the seed document and the
wiki), its date-range keys, the operations it supports with their HTTP method and path
shape, and the fields a create must carry. Nothing here does I/O or imports aiohttp.

Path shapes are templates over ``{resource}``, ``{id}``, ``{external_id}``,
``{referral}``, ``{first}`` and ``{second}``; :func:`operation_path` fills them in, encoding
each value as one path segment. Each write has a shape in both write-verb conventions
(``seed``: PUT creates, POST updates; ``wiki``: the entity pages' reverse), so the client
picks one by a setting and the fake server routes by :func:`match_write`, never by a branch
per call site.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from typing import Literal

import attrs

from dizions_async._fields import Field, fields_of
from dizions_async._text import closest, quote_segment
from dizions_async.errors import QueryError

__all__ = [
    "API_PREFIX",
    "CONTACT_OPTIONAL",
    "ENV_WRITE_VERBS",
    "EXTENSION_DATABASE",
    "KEY_PATTERN",
    "KEY_TEST_PATH",
    "MAX_FILTERS",
    "RELATIONSHIP_DETAILS",
    "RESOURCES",
    "WRITE_VERBS",
    "Operation",
    "OperationKind",
    "Resource",
    "Shape",
    "WriteMatch",
    "WriteVerbs",
    "extension_api_name",
    "extension_slug",
    "get_resource",
    "match_write",
    "operation_path",
]

API_PREFIX = "/v2"
MAX_FILTERS = 10
#: The wiki's key test (API Authentication): answers when the three keys are valid.
KEY_TEST_PATH = f"{API_PREFIX}/business/configuration"
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
#: The resource prefix of multiple-record extension databases: ``extension_database/{slug}``.
EXTENSION_DATABASE = "extension_database"
_SLUG = re.compile(r"[a-z0-9_]*_[0-9]+\Z")
#: An extension database's API name (API:_Extension_Databases), e.g. ``wellcheck_notes``;
#: the older ``{name}_{ID}`` slugs are of this form too.
_API_NAME = re.compile(r"[a-z0-9_]+\Z")
RELATIONSHIP_DETAILS = "relationship_details"
#: Optional fields of a done contact (API_done_contacts), also accepted when a due contact
#: is completed and when a contact is updated.
CONTACT_OPTIONAL = ("travel_time", "travel_mileage", "transport_method", "contact_type", "priority")


class OperationKind(str, enum.Enum):
    READ = "read"
    REPORT = "report"
    CREATE = "create"
    CREATE_BY_EXTERNAL_ID = "create_by_external_id"
    CREATE_FOR_REFERRAL = "create_for_referral"
    UPDATE = "update"
    COMPLETE = "complete"
    UPLOAD = "upload"
    RELATE = "relate"


#: A write-verb convention: ``"seed"`` (the API document and API:_Creating_Records: PUT
#: creates, POST updates, records at ``/id/{ID}``) or ``"wiki"`` (the entity pages: POST
#: creates, PUT updates, contact edits at ``/{resource}/{ID}``).
WriteVerbs = Literal["seed", "wiki"]
WRITE_VERBS: tuple[WriteVerbs, ...] = ("seed", "wiki")
ENV_WRITE_VERBS = "DIZIONS_WRITE_VERBS"


@attrs.frozen
class Shape:
    """An HTTP method and a path template over ``{resource}``, ``{id}``, ... (after /v2)."""

    method: str
    template: str

    @property
    def path(self) -> str:
        return f"{API_PREFIX}/{self.template}"


@attrs.frozen
class Operation:
    """One thing a resource supports: its method and path template in each convention.

    ``method`` and ``path`` are the seed convention's; :meth:`shape` picks by convention.
    """

    kind: OperationKind
    seed: Shape
    wiki: Shape

    @property
    def method(self) -> str:
        return self.seed.method

    @property
    def path(self) -> str:
        return self.seed.path

    def shape(self, verbs: WriteVerbs = "seed") -> Shape:
        return self.wiki if verbs == "wiki" else self.seed

    @property
    def differs(self) -> bool:
        """Whether the seed and the wiki disagree on this operation."""
        return self.seed != self.wiki


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
        optional: further fields the wiki documents for a create (done contacts).
        read_only_reason: why the API offers no writes here, when the wiki says.
    """

    name: str
    filter_keys: frozenset[str] = frozenset()
    keys_complete: bool = False
    extension_fields: bool = False
    date_keys: frozenset[str] = frozenset()
    date_keys_complete: bool = True
    operations: Mapping[OperationKind, Operation] = attrs.field(factory=dict)
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    read_only_reason: str = ""

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
            why = f" ({self.read_only_reason})" if self.read_only_reason else ""
            raise QueryError(
                f"resource {self.name!r} does not support {kind.value}{why}; it supports: {offered}"
            ) from None


_R, _RP, _C, _CX, _CR, _U, _CO, _UP, _REL = (
    OperationKind.READ,
    OperationKind.REPORT,
    OperationKind.CREATE,
    OperationKind.CREATE_BY_EXTERNAL_ID,
    OperationKind.CREATE_FOR_REFERRAL,
    OperationKind.UPDATE,
    OperationKind.COMPLETE,
    OperationKind.UPLOAD,
    OperationKind.RELATE,
)
#: The seed's shapes (API:_Creating_Records agrees): PUT creates, POST updates.
_SEED: Mapping[OperationKind, tuple[str, str]] = {
    _R: ("GET", "{resource}"),
    _RP: ("GET", "{resource}"),
    _C: ("PUT", "{resource}"),
    _CX: ("PUT", "{resource}/external_id/{external_id}"),
    _CR: ("PUT", "{resource}/referral/{referral}"),
    _U: ("POST", "{resource}/id/{id}"),
    _CO: ("POST", "{resource}/id/{id}"),
    _UP: ("POST", "{resource}/id/{id}/uploads"),
    _REL: ("PUT", "{resource}/{first}/{second}"),
}
#: Where the entity pages say otherwise. API_clients and API_referrals: POST creates, PUT
#: updates (the external-ID create follows the plain create: no page shows it).
_WIKI_RECORDS = {
    _C: ("POST", "{resource}"),
    _CX: ("POST", "{resource}/external_id/{external_id}"),
    _U: ("PUT", "{resource}/id/{id}"),
}
#: API_due_contacts: POST .../referral/127 creates, POST /v2/due_contacts/456 edits.
_WIKI_DUE = {_CR: ("POST", "{resource}/referral/{referral}"), _U: ("POST", "{resource}/{id}")}
#: API_done_contacts: POST .../referral/127 creates, PUT /v2/done_contacts/456 edits;
#: API_due_contacts: POST /v2/done_contacts/456 completes a due contact.
_WIKI_DONE = {
    _CR: ("POST", "{resource}/referral/{referral}"),
    _U: ("PUT", "{resource}/{id}"),
    _CO: ("POST", "{resource}/{id}"),
}


def _ops(
    *kinds: OperationKind, wiki: Mapping[OperationKind, tuple[str, str]] | None = None
) -> dict[OperationKind, Operation]:
    wiki = wiki or {}
    return {k: Operation(k, Shape(*_SEED[k]), Shape(*wiki.get(k, _SEED[k]))) for k in kinds}


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
            operations=_ops(_R, _RP, _C, _CX, _U, _UP, wiki=_WIKI_RECORDS),
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
            operations=_ops(_R, _RP, _C, _U, _UP, wiki=_WIKI_RECORDS),
            # API_referrals: `branch` is required too where the organisation uses branches.
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
            operations=_ops(_R, _RP, _CR, _U, _CO, wiki=_WIKI_DONE),
            # API_done_contacts
            required=("user", "stage", "start_date", "end_date", "description"),
            optional=CONTACT_OPTIONAL,
        ),
        Resource(
            "due_contacts",
            frozenset({"id", "referral", "client", "project", "user", "branch"}),
            date_keys=frozenset({"date"}),
            operations=_ops(_R, _RP, _CR, _U, wiki=_WIKI_DUE),
            required=("user", "start_date", "end_date", "description"),
        ),
        Resource("workers", frozenset({"id"}), operations=_ops(_R, _RP)),
        Resource(
            "schedules",
            frozenset({"id", "worker", "status", "client"}),
            date_keys=frozenset({"date_active"}),
            operations=_ops(_R, _RP),
            read_only_reason=(
                "API_schedules: schedules cannot be created through the API, only with "
                "Confirm Work Schedules in the web application"
            ),
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
        # API_relationships: PUT /v2/relationship_details/{ID_A}/{ID_B}, a JSON array body.
        Resource(RELATIONSHIP_DETAILS, operations=_ops(_REL)),
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
    if not isinstance(name, str):
        raise QueryError(f"a resource is named by a str, got {type(name).__name__}")
    found = RESOURCES.get(name)
    if found is not None:
        return found
    prefix, _, api_name = name.partition("/")
    if prefix == EXTENSION_DATABASE and _API_NAME.match(api_name):
        return _extension_resource(name)
    hint = closest(name, [*RESOURCES, f"{EXTENSION_DATABASE}/<api_name>"])
    raise QueryError(f"unknown resource {name!r}" + (f"; did you mean {hint!r}?" if hint else ""))


def _extension_resource(name: str) -> Resource:
    return Resource(
        name,
        frozenset({"id", "referral", "client"}),
        date_keys_complete=False,
        operations=_ops(_R, _RP, _C, _U),
    )


def extension_api_name(name: str) -> str:
    """An extension database's API name, checked: lower-case letters, digits and ``_``.

    Raises:
        QueryError: any other character, or an empty name.
    """
    if not isinstance(name, str) or not _API_NAME.match(name):
        raise QueryError(
            f"extension database API name {name!r} must be lower-case letters, digits and "
            "underscores (as set on the database record); for a name and ID such as "
            "'Staff Disciplinary', 13 pass both"
        )
    return name


def operation_path(
    resource: Resource, kind: OperationKind, verbs: WriteVerbs = "seed", **values: object
) -> str:
    """Fill in the path template of ``resource``'s ``kind`` operation in convention
    ``verbs``, encoding each value as one path segment (as Query does).

    >>> operation_path(get_resource("clients"), OperationKind.UPDATE, id=7)
    '/v2/clients/id/7'
    >>> operation_path(get_resource("done_contacts"), OperationKind.UPDATE, "wiki", id=7)
    '/v2/done_contacts/7'
    """
    shape = resource.operation(kind).shape(verbs)
    quoted = {k: quote_segment(str(v)) for k, v in values.items()}
    return shape.path.format(resource=resource.name, **quoted)


@attrs.frozen
class WriteMatch:
    """A write request recognised by :func:`match_write`.

    Attributes:
        kind: the operation.
        verbs: the convention whose method and path these are.
        method: the convention's method for this path (it may differ from the request's).
        values: the path's placeholders, still percent-encoded.
    """

    kind: OperationKind
    verbs: WriteVerbs
    method: str
    values: Mapping[str, str]


def match_write(resource: Resource, rest: Sequence[str]) -> list[WriteMatch]:
    """Every write operation of ``resource`` (either convention) whose path is
    ``/v2/{resource}/{rest...}``, whatever its method. Used by the fake server to route
    writes and to tell the other convention's verb (405) from an unknown path (404).
    """
    found: list[WriteMatch] = []
    for op in resource.operations.values():
        if op.kind in (_R, _RP):
            continue
        for verbs in WRITE_VERBS:
            shape = op.shape(verbs)
            parts = shape.template.split("/")[1:]
            if len(parts) != len(rest):
                continue
            values: dict[str, str] = {}
            for part, seg in zip(parts, rest, strict=True):
                if part.startswith("{"):
                    if not seg:
                        break
                    values[part[1:-1]] = seg
                elif part != seg:
                    break
            else:
                found.append(WriteMatch(op.kind, verbs, shape.method, values))
    return found
