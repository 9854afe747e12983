"""The catalogue: filter keys against the seed, slugs, operations and their paths."""

from __future__ import annotations

import pytest

from dizions_async.catalogue import (
    RESOURCES,
    OperationKind,
    extension_slug,
    get_resource,
    operation_path,
)
from dizions_async.errors import QueryError

# The three filter lists of seed/dizions-api-details.txt, copied as written there.
SEED_CLIENTS = [
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
    "id",
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
    "usual_support_worker",
]
SEED_REFERRALS = [
    "additional_org_person",
    "client",
    "client_accommodation",
    "client_active",
    "client_age_range",
    "client_blue_badge_holder",
    "client_county",
    "client_district",
    "client_employment_status",
    "client_ethnicity",
    "client_external_id",
    "client_gender",
    "client_gp_name",
    "client_gp_surgery",
    "client_main_disability",
    "client_main_language",
    "client_marital_status",
    "client_nhs_number",
    "client_people_in_household",
    "client_postcode",
    "client_preferred_communication_method",
    "client_registered_disabled",
    "client_religion",
    "client_school",
    "client_sexual_orientation",
    "client_type",
    "contact_method",
    "contact_type",
    "date",
    "description",
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
    "updated",
]
SEED_DONE_CONTACTS = [
    "client",
    "client_accommodation",
    "client_active",
    "client_age_range",
    "client_blue_badge_holder",
    "client_county",
    "client_district",
    "client_employment_status",
    "client_ethnicity",
    "client_external_id",
    "client_gender",
    "client_gp_name",
    "client_gp_surgery",
    "client_main_disability",
    "client_main_language",
    "client_marital_status",
    "client_nhs_number",
    "client_people_in_household",
    "client_postcode",
    "client_preferred_communication_method",
    "client_registered_disabled",
    "client_religion",
    "client_school",
    "client_sexual_orientation",
    "client_type",
    "contact_method",
    "contact_type",
    "due_stage",
    "end_date",
    "funding_sponsor",
    "id",
    "introduction_source",
    "priority",
    "project",
    "project_active",
    "project_category",
    "project_name",
    "referral",
    "referral_complete",
    "referrer",
    "response_method",
    "stage",
    "template",
    "travel_mileage",
    "travel_time",
    "user",
]

# The wiki additions documented in catalogue.py.
WIKI_ADDITIONS = {"clients": {"type", "email"}, "referrals": set(), "done_contacts": {"branch"}}


@pytest.mark.parametrize(
    ("resource", "seed"),
    [
        ("clients", SEED_CLIENTS),
        ("referrals", SEED_REFERRALS),
        ("done_contacts", SEED_DONE_CONTACTS),
    ],
)
def test_filter_keys_are_exactly_the_seed_list_plus_the_wiki_additions(
    resource: str, seed: list[str]
) -> None:
    assert len(seed) == len(set(seed))
    spec = get_resource(resource)
    assert spec.filter_keys == set(seed) | WIKI_ADDITIONS[resource]
    assert spec.keys_complete


def test_extension_fields_are_allowed_on_clients_and_referrals_only() -> None:
    allowed = {name for name, r in RESOURCES.items() if r.extension_fields}
    assert allowed == {"clients", "referrals"}


@pytest.mark.parametrize(
    ("resource", "date_keys"),
    [
        ("referrals", {"date", "date_active"}),
        ("done_contacts", {"date"}),
        ("due_contacts", {"date"}),
        ("schedules", {"date_active"}),
        ("attendances", {"start"}),
        ("clients", set()),
        ("workers", set()),
        ("clinics", set()),
    ],
)
def test_date_keys_are_those_of_the_wiki(resource: str, date_keys: set[str]) -> None:
    spec = get_resource(resource)
    assert spec.date_keys == date_keys
    assert spec.date_keys_complete


_READS = {OperationKind.READ, OperationKind.REPORT}
# API.md's resource table.
OPERATIONS: list[tuple[str, set[OperationKind]]] = [
    (
        "clients",
        _READS
        | {
            OperationKind.CREATE,
            OperationKind.CREATE_BY_EXTERNAL_ID,
            OperationKind.UPDATE,
            OperationKind.UPLOAD,
        },
    ),
    ("referrals", _READS | {OperationKind.CREATE, OperationKind.UPDATE, OperationKind.UPLOAD}),
    ("due_contacts", _READS | {OperationKind.CREATE_FOR_REFERRAL, OperationKind.UPDATE}),
    # API_done_contacts adds the create; API_due_contacts the completion at its own path.
    (
        "done_contacts",
        _READS | {OperationKind.CREATE_FOR_REFERRAL, OperationKind.UPDATE, OperationKind.COMPLETE},
    ),
    ("workers", _READS),
    ("schedules", _READS),
    ("attendances", _READS),
    ("clinics", _READS),
    ("external_referral", {OperationKind.CREATE}),
    ("relationship_details", {OperationKind.RELATE}),  # API_relationships
    (
        "extension_database/staff_disciplinary_13",
        _READS | {OperationKind.CREATE, OperationKind.UPDATE},
    ),
]


def test_every_resource_of_the_api_document_is_in_the_catalogue() -> None:
    assert set(RESOURCES) == {name for name, _ in OPERATIONS if "/" not in name}


@pytest.mark.parametrize(("resource", "kinds"), OPERATIONS)
def test_each_resource_supports_exactly_its_documented_operations(
    resource: str, kinds: set[OperationKind]
) -> None:
    spec = get_resource(resource)
    assert set(spec.operations) == kinds
    for kind in OperationKind:
        assert spec.supports(kind) == (kind in kinds)


# (resource, kind, values, method, path): every write path of the seed.
PATHS: list[tuple[str, OperationKind, dict[str, object], str, str]] = [
    ("clients", OperationKind.CREATE, {}, "PUT", "/v2/clients"),
    (
        "clients",
        OperationKind.CREATE_BY_EXTERNAL_ID,
        {"external_id": "X1"},
        "PUT",
        "/v2/clients/external_id/X1",
    ),
    ("clients", OperationKind.UPDATE, {"id": 7}, "POST", "/v2/clients/id/7"),
    ("clients", OperationKind.UPLOAD, {"id": 7}, "POST", "/v2/clients/id/7/uploads"),
    ("referrals", OperationKind.CREATE, {}, "PUT", "/v2/referrals"),
    ("referrals", OperationKind.UPDATE, {"id": 510}, "POST", "/v2/referrals/id/510"),
    ("referrals", OperationKind.UPLOAD, {"id": 510}, "POST", "/v2/referrals/id/510/uploads"),
    (
        "due_contacts",
        OperationKind.CREATE_FOR_REFERRAL,
        {"referral": 9},
        "PUT",
        "/v2/due_contacts/referral/9",
    ),
    ("due_contacts", OperationKind.UPDATE, {"id": 3}, "POST", "/v2/due_contacts/id/3"),
    ("done_contacts", OperationKind.UPDATE, {"id": 3}, "POST", "/v2/done_contacts/id/3"),
    ("external_referral", OperationKind.CREATE, {}, "PUT", "/v2/external_referral"),
    ("workers", OperationKind.READ, {}, "GET", "/v2/workers"),
    (
        "extension_database/staff_disciplinary_13",
        OperationKind.CREATE,
        {},
        "PUT",
        "/v2/extension_database/staff_disciplinary_13",
    ),
    (
        "extension_database/wellcheck_notes_9",
        OperationKind.UPDATE,
        {"id": 17},
        "POST",
        "/v2/extension_database/wellcheck_notes_9/id/17",
    ),
    # Values are data: quoted so they cannot add a segment.
    (
        "clients",
        OperationKind.CREATE_BY_EXTERNAL_ID,
        {"external_id": "A/B 1;2?#%"},
        "PUT",
        "/v2/clients/external_id/A%2FB%201%3B2%3F%23%25",
    ),
    (
        "clients",
        OperationKind.CREATE_BY_EXTERNAL_ID,
        {"external_id": "Zoë"},
        "PUT",
        "/v2/clients/external_id/Zo%C3%AB",
    ),
]


@pytest.mark.parametrize(("resource", "kind", "values", "method", "path"), PATHS)
def test_operation_path_fills_and_quotes_the_template(
    resource: str, kind: OperationKind, values: dict[str, object], method: str, path: str
) -> None:
    spec = get_resource(resource)
    assert spec.operation(kind).method == method
    assert operation_path(spec, kind, **values) == path


@pytest.mark.parametrize(
    ("resource", "kind", "offered"),
    [
        ("workers", OperationKind.CREATE, "read, report"),
        ("external_referral", OperationKind.UPDATE, "create"),
        (
            "done_contacts",
            OperationKind.CREATE,
            "complete, create_for_referral, read, report, update",
        ),
    ],
)
def test_an_unsupported_operation_names_what_the_resource_supports(
    resource: str, kind: OperationKind, offered: str
) -> None:
    with pytest.raises(QueryError) as info:
        get_resource(resource).operation(kind)
    message = str(info.value)
    assert f"'{resource}'" in message and kind.value in message and message.endswith(offered)


@pytest.mark.parametrize(
    ("resource", "required"),
    [
        ("clients", ("first_name", "surname")),
        (
            "referrals",
            (
                "client",
                "client_type",
                "date",
                "project",
                "template",
                "stage",
                "response_description",
            ),
        ),
        ("external_referral", ("org_type_id", "surname", "description")),
    ],
)
def test_creates_require_the_documented_fields(resource: str, required: tuple[str, ...]) -> None:
    assert set(get_resource(resource).required) == set(required)


@pytest.mark.parametrize(
    ("name", "db_id", "slug"),
    [
        ("Staff Disciplinary", 13, "staff_disciplinary_13"),
        ("Wellcheck Notes", 9, "wellcheck_notes_9"),
        ("  Wellcheck   Notes ", 9, "wellcheck_notes_9"),
        ("notes", 0, "notes_0"),
        ("Form 2B", 4, "form_2b_4"),
    ],
)
def test_extension_slug_lowercases_and_underscores_then_appends_the_id(
    name: str, db_id: int, slug: str
) -> None:
    assert extension_slug(name, db_id) == slug
    assert get_resource(f"extension_database/{slug}").name == f"extension_database/{slug}"


@pytest.mark.parametrize(
    ("name", "db_id", "named"),
    [
        ("", 13, "''"),
        ("   ", 13, "'   '"),
        ("Staff/Disciplinary", 13, "'Staff/Disciplinary'"),
        ("Notes; drop", 13, "'Notes; drop'"),
        ("Café", 13, "'Café'"),
        ("Notes", -1, "-1"),
        ("Notes", True, "True"),
        ("Notes", "13", "'13'"),
    ],
)
def test_extension_slug_refuses_bad_names_and_ids(name: str, db_id: object, named: str) -> None:
    with pytest.raises(QueryError) as info:
        extension_slug(name, db_id)  # type: ignore[arg-type]
    assert named in str(info.value)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("client", "'clients'"),
        ("referal", "'referrals'"),
        ("extension_database/Staff Disciplinary", None),
        ("extension_database/Notes-2", None),
    ],
)
def test_unknown_resources_are_refused_with_the_nearest_name(name: str, hint: str | None) -> None:
    with pytest.raises(QueryError) as info:
        get_resource(name)
    assert repr(name) in str(info.value)
    if hint is not None:
        assert hint in str(info.value)
