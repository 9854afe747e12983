"""The fake server's SQLite schema and, per resource, the whitelist of what may be asked of it.

Every table, column and SQL expression the store ever puts into SQL text comes from this
module; request data only ever reaches SQL as bound parameters. Each API resource is a
:class:`View`: a ``FROM`` clause (with the joins that give referrals and contacts their
``client_*`` and ``project_*`` keys), a map from API field name to SQL expression, the
default fields of a read, the writable base-table columns, date-range keys, and which
fields are dictionary IDs (for ``resolveIds[]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from dizions_async._fields import Kind, fields_of

__all__ = [
    "DDL",
    "EXTENSION_DATABASES",
    "EXTENSION_FIELDS",
    "ONE_SEGMENT_DICTIONARIES",
    "TABLES",
    "VIEWS",
    "View",
    "dictionary_of",
]

# Base tables: name -> ordered (column, SQL type). `id` is always the first column. The
# tables behind API resources hold the stored fields of the SDK's field table, in its
# order (the seed inserts rows by position), plus what only the fake needs.
_SQL_TYPES = {Kind.ID: "INTEGER", Kind.INT: "INTEGER", Kind.FLOAT: "REAL"}


def _stored(resource: str, **more: str) -> dict[str, str]:
    """The columns of ``resource``'s stored fields (joined ones are read from other
    tables), typed for SQLite, then ``more``."""
    cols = {f.name: _SQL_TYPES.get(f.kind, "TEXT") for f in fields_of(resource) if not f.joined}
    cols["id"] = "INTEGER PRIMARY KEY"
    return {**cols, **more}


# single-record extension fields, by collaborator name (per charity: not in the field table)
_CLIENTS = _stored("clients", website_photo_consent="INTEGER", newsletter_opt_in="TEXT")
_REFERRALS = _stored("referrals", risk_level="INTEGER")
# Done and due contacts share one table; `done` tells them apart and comes after `referral`.
_contact_columns = list(_stored("done_contacts").items())
_contact_columns.insert(2, ("done", "INTEGER"))
_CONTACTS = dict(_contact_columns)
_WORKERS = _stored("workers")
_SCHEDULES = _stored("schedules")
_CLINICS = _stored("clinics")
_ATTENDANCES = _stored("attendances")
_EXTERNAL_REFERRAL = {
    "id": "INTEGER PRIMARY KEY",
    "org_type_id": "INTEGER",
    "surname": "TEXT",
    "first_name": "TEXT",
    "description": "TEXT",
    "project": "INTEGER",
    "data": "TEXT",
    "received": "TEXT",
}
_RELATIONSHIPS = {
    "id": "INTEGER PRIMARY KEY",
    "first": "INTEGER",
    "second": "INTEGER",
    "first_to_second": "INTEGER",
    "second_to_first": "INTEGER",
    "first_to_second_carer": "INTEGER",
    "second_to_first_carer": "INTEGER",
}
_UPLOADS = {
    "id": "INTEGER PRIMARY KEY",
    "resource": "TEXT",
    "record": "INTEGER",
    "filename": "TEXT",
    "stored_path": "TEXT",
    "size": "INTEGER",
    "content_type": "TEXT",
    "user_visibility": "TEXT",
    "group_visibility": "TEXT",
}
_PROJECTS = {
    "id": "INTEGER PRIMARY KEY",
    "name": "TEXT",
    "category": "INTEGER",
    "active": "TEXT",
}
_DICTIONARIES = {"grp": "TEXT", "tbl": "TEXT", "id": "INTEGER", "name": "TEXT"}

# -- what the newer wiki pages add that is the fake's own (issue 13) ---------------------
# (Their record fields, e.g. referral `branch`, a done contact's own `stage`, are in the
# SDK's field table, _fields.py.) API_relationships: major, send_one_letter_to_both,
# joint_address on a relationship.
_RELATIONSHIPS.update({"major": "TEXT", "send_one_letter_to_both": "TEXT", "joint_address": "TEXT"})
#: API_clinics: an attendance's treatments and activities (read as ``treatments``).
_TREATMENTS = {
    "id": "INTEGER PRIMARY KEY",
    "attendance": "INTEGER",
    "treatment": "INTEGER",
    "ticked": "TEXT",
    "paid": "TEXT",
    "amount_paid": "REAL",
}
#: API_Dictionaries and the entity pages: dictionaries addressed by one segment
#: (``/v2/dictionary/client_type``), as the (group, table) they are in this fake.
ONE_SEGMENT_DICTIONARIES: Mapping[str, tuple[str, str]] = {
    "client_type": ("clients", "type"),
    "branch": ("organisations", "branch"),
    "relationships": ("relationships", "relationships"),
    "carer_relationships": ("relationships", "carer_relationships"),
    "rates": ("attendances", "rates"),
}

#: Multiple-record extension databases: slug -> columns.
EXTENSION_DATABASES: Mapping[str, Mapping[str, str]] = {
    "staff_disciplinary_13": _stored(
        "extension_database", date_43="TEXT", outcome_44="INTEGER", notes_45="TEXT"
    ),
    "wellcheck_notes_9": _stored(
        "extension_database", date_21="TEXT", note_22="TEXT", score_23="INTEGER"
    ),
    # By its API name (API:_Extension_Databases), fields named as on that page.
    "wellcheck_notes": _stored("extension_database", assessment_score="INTEGER", finances="TEXT"),
}

TABLES: Mapping[str, Mapping[str, str]] = {
    "clients": _CLIENTS,
    "referrals": _REFERRALS,
    "contacts": _CONTACTS,
    "workers": _WORKERS,
    "schedules": _SCHEDULES,
    "clinics": _CLINICS,
    "attendances": _ATTENDANCES,
    "external_referral": _EXTERNAL_REFERRAL,
    "relationships": _RELATIONSHIPS,
    "uploads": _UPLOADS,
    "projects": _PROJECTS,
    "dictionaries": _DICTIONARIES,
    "attendance_treatments": _TREATMENTS,
    **EXTENSION_DATABASES,
}


def _ddl() -> list[str]:
    out = [
        f"CREATE TABLE IF NOT EXISTS {name} ("
        + ", ".join(f'"{col}" {kind}' for col, kind in cols.items())
        + ")"
        for name, cols in TABLES.items()
    ]
    out += [
        "CREATE VIEW IF NOT EXISTS done_contacts AS SELECT * FROM contacts WHERE done = 1",
        "CREATE VIEW IF NOT EXISTS due_contacts AS SELECT * FROM contacts WHERE done = 0",
    ]
    out += [
        f"CREATE INDEX IF NOT EXISTS {table}_{'_'.join(cols)} ON {table}({', '.join(cols)})"
        for table, cols in _INDEXES
    ]
    return out


# Indexes on the columns that selective filters, date ranges and joins use (district,
# religion and ethnicity have ten values each: an index finds a tenth of 10,000 clients in
# 0.9 ms instead of 1.4). Y/N flags and columns of a few values (gender: four) get none on
# purpose: SQLite has no statistics here and trusts any index, and a lookup per row over a
# quarter of the table is no faster than one scan (measured). Reports group by +column so
# that an index is never walked in group order for the same reason.
_INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("clients", ("external_id",)),
    ("clients", ("nhs_number",)),
    ("clients", ("postcode",)),
    ("clients", ("social_services_number",)),
    ("clients", ("district",)),
    ("clients", ("religion",)),
    ("clients", ("ethnicity",)),
    ("clients", ("usual_support_worker",)),
    ("referrals", ("client",)),
    ("referrals", ("date",)),
    ("referrals", ("updated",)),
    # date_active: done contacts in a window -> their referrals, from the index alone.
    ("contacts", ("done", "start_date", "referral")),
    ("contacts", ("referral", "done", "start_date")),
    ("contacts", ("user",)),
    ("schedules", ("client",)),
    ("schedules", ("worker",)),
    ("schedules", ("start_date",)),
    ("attendances", ("client",)),
    ("attendances", ("clinic",)),
    ("attendances", ("start",)),
    ("dictionaries", ("grp", "tbl", "id")),
    ("relationships", ("first",)),
    ("relationships", ("second",)),
    ("uploads", ("resource", "record")),
    ("attendance_treatments", ("attendance",)),
    *((slug, (col,)) for slug in EXTENSION_DATABASES for col in ("referral", "client")),
)


#: The statements that create the schema (idempotent, so a --db file can be reopened).
DDL: tuple[str, ...] = tuple(_ddl())

# Dictionary of each ID field: field -> (group, table).
_DICTIONARY: Mapping[str, tuple[str, str]] = {
    "district": ("organisations", "district"),
    "county": ("organisations", "county"),
    "branch": ("organisations", "branch"),
    "type": ("clients", "type"),
    "client_type": ("clients", "type"),
    "gender": ("clients", "gender"),
    "ethnicity": ("clients", "ethnicity"),
    "religion": ("clients", "religion"),
    "main_language": ("clients", "main_language"),
    "marital_status": ("clients", "marital_status"),
    "sexual_orientation": ("clients", "sexual_orientation"),
    "accommodation": ("clients", "accommodation"),
    "employment_status": ("clients", "employment_status"),
    "age_range": ("clients", "age_range"),
    "main_disability": ("clients", "main_disability"),
    "preferred_communication_method": ("clients", "preferred_communication_method"),
    "gp_surgery": ("clients", "gp_surgery"),
    "school": ("clients", "school"),
    "website_photo_consent": ("clients", "website_photo_consent"),
    "project": ("referrals", "project"),
    "project_id": ("referrals", "project"),
    "template": ("referrals", "template"),
    "stage": ("referrals", "stage"),
    "due_stage": ("referrals", "stage"),
    "referrer": ("referrals", "referrer"),
    "priority": ("referrals", "priority"),
    "funding_sponsor": ("referrals", "funding_sponsor"),
    "introduction_source": ("referrals", "introduction_source"),
    "response_method": ("referrals", "response_method"),
    "project_category": ("referrals", "project_category"),
    "risk_level": ("referrals", "risk_level"),
    "contact_method": ("contacts", "contact_method"),
    "contact_type": ("contacts", "contact_type"),
    "treatment": ("attendances", "treatments"),
    "transport_method": ("contacts", "transport_method"),
    "outcome_44": ("extension", "outcome"),
    "relationship_first_to_second": ("relationships", "relationships"),
    "relationship_second_to_first": ("relationships", "relationships"),
    "relationship_first_to_second_carer": ("relationships", "carer_relationships"),
    "relationship_second_to_first_carer": ("relationships", "carer_relationships"),
}


def dictionary_of(field: str) -> tuple[str, str] | None:
    """The ``(group, table)`` dictionary of an ID field, or None (``client_x`` maps as ``x``)."""
    found = _DICTIONARY.get(field)
    if found is None and field.startswith("client_"):
        found = _DICTIONARY.get(field.removeprefix("client_"))
    return found


@attrs.frozen
class View:
    """One API resource over the schema.

    Attributes:
        table: the base table written by creates and updates.
        from_sql: the FROM clause; the base table is always aliased ``t``.
        where: a fixed condition (e.g. done contacts only), or ``""``.
        columns: API field name -> SQL expression; every selectable and filterable field.
        defaults: the fields a read returns without ``/field/``.
        writable: base-table columns a create or update may set.
        date_keys: date-range key -> (SQL template with ``{lo}``/``{hi}`` placeholders).
    """

    table: str
    from_sql: str
    columns: Mapping[str, str]
    defaults: tuple[str, ...]
    writable: frozenset[str]
    where: str = ""
    date_keys: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def integer_fields(self) -> frozenset[str]:
        """Fields that are plain INTEGER columns (filter values for them bind as ints)."""
        return _INTEGER_FIELDS[self.from_sql]

    @property
    def real_fields(self) -> frozenset[str]:
        """Fields that are REAL columns."""
        return _REAL_FIELDS[self.from_sql]

    def from_for(self, used_sql: str) -> str:
        """The FROM clause without the LEFT JOINs (to clients ``c``, projects ``p``) that
        ``used_sql`` (the statement's other clauses) never refers to.

        Each such join matches at most one row, so leaving it out changes no result; it
        saves a lookup per row, which SQLite does not always spare itself.
        """
        sql = self.from_sql
        for alias, join in _OPTIONAL_JOINS:
            if join in sql and not re.search(rf"\b{alias}\.", used_sql):
                sql = sql.replace(join, "")
        return sql


#: Single-record extension fields: selectable and filterable, but not returned by default.
EXTENSION_FIELDS = frozenset({"website_photo_consent", "newsletter_opt_in", "risk_level"})


def _defaults(table: str) -> tuple[str, ...]:
    return tuple(c for c in TABLES[table] if c not in EXTENSION_FIELDS)


def _base(table: str, alias: str = "t") -> dict[str, str]:
    return {col: f'{alias}."{col}"' for col in TABLES[table]}


_CLIENT_JOIN = " LEFT JOIN clients c ON c.id = {ref}.client"
_PROJECT_JOIN = " LEFT JOIN projects p ON p.id = {ref}.project"
_OPTIONAL_JOINS = (
    *(("c", _CLIENT_JOIN.format(ref=ref)) for ref in ("t", "r")),
    *(("p", _PROJECT_JOIN.format(ref=ref)) for ref in ("t", "r")),
)
_NOT_PREFIXED = {"id", "consent", "deceased", "social_services_number", "first_name", "surname"}


def _client_prefixed() -> dict[str, str]:
    out = {
        f"client_{col}": f'c."{col}"'
        for col in _CLIENTS
        if col not in _NOT_PREFIXED and col != "type"
    }
    out["client_type"] = 'c."type"'
    return out


def _project_fields() -> dict[str, str]:
    return {
        "project_name": 'p."name"',
        "project_category": 'p."category"',
        "project_active": 'p."active"',
    }


def _referral_view() -> View:
    cols = {**_base("referrals"), **_client_prefixed(), **_project_fields()}
    # A referral's own client_type column wins over the client's type.
    cols["client_type"] = 't."client_type"'
    # Any completed contact in the window. Written as IN over the (done, start_date,
    # referral) index so the window is one range search, not a probe per referral.
    done_in_range = (
        "t.id IN (SELECT d.referral FROM contacts d WHERE d.done = 1 "
        "AND d.start_date >= {lo} AND d.start_date < {hi})"
    )
    return View(
        table="referrals",
        from_sql="referrals t" + _CLIENT_JOIN.format(ref="t") + _PROJECT_JOIN.format(ref="t"),
        columns=cols,
        defaults=_defaults("referrals"),
        writable=frozenset(_REFERRALS) - {"id", "updated"},
        date_keys={"date": "t.date >= {lo} AND t.date < {hi}", "date_active": done_in_range},
    )


def _contact_view(done: bool) -> View:
    # stage, contact_type and priority are the contact's own (API_done_contacts).
    shared = (
        "client",
        "contact_method",
        "funding_sponsor",
        "introduction_source",
        "project",
        "referral_complete",
        "referrer",
        "response_method",
        "template",
    )
    cols = {
        **_client_prefixed(),
        **_project_fields(),
        **{key: f'r."{key}"' for key in shared},
        "client_type": 'r."client_type"',
        **_base("contacts"),
        "date": "substr(t.start_date, 1, 10)",
    }
    del cols["done"]
    defaults = (*(c for c in _CONTACTS if c != "done"), "client", "project")
    return View(
        table="contacts",
        from_sql=(
            "contacts t JOIN referrals r ON r.id = t.referral"
            + _CLIENT_JOIN.format(ref="r")
            + _PROJECT_JOIN.format(ref="r")
        ),
        where=f"t.done = {int(done)}",
        columns=cols,
        defaults=defaults,
        writable=frozenset(_CONTACTS) - {"id", "done", "referral"},
        date_keys={"date": "t.start_date >= {lo} AND t.start_date < {hi}"},
    )


def _simple(table: str, **date_keys: str) -> View:
    return View(
        table=table,
        from_sql=f"{table} t",
        columns=_base(table),
        defaults=_defaults(table),
        writable=frozenset(TABLES[table]) - {"id"},
        date_keys=date_keys,
    )


def _schedule_view() -> View:
    # API_schedules reports on the client's fields: client_district, client_gender, ...
    return attrs.evolve(
        _simple(
            "schedules",
            date_active="t.start_date < {hi} AND (t.end_date IS NULL OR t.end_date >= {lo})",
        ),
        from_sql="schedules t" + _CLIENT_JOIN.format(ref="t"),
        columns={**_base("schedules"), **_client_prefixed()},
    )


def _views() -> dict[str, View]:
    out = {
        "clients": _simple("clients"),
        "referrals": _referral_view(),
        "done_contacts": _contact_view(True),
        "due_contacts": _contact_view(False),
        "workers": _simple("workers"),
        "schedules": _schedule_view(),
        "clinics": _simple("clinics"),
        "attendances": _simple("attendances", start="t.start >= {lo} AND t.start < {hi}"),
        "external_referral": _simple("external_referral"),
    }
    for slug in EXTENSION_DATABASES:
        out[f"extension_database/{slug}"] = _simple(slug)
    return out


_ALIASES = {"c": "clients", "r": "referrals", "p": "projects"}
_COLUMN_EXPR = re.compile(r'(\w+)\."(\w+)"\Z')


def _fields_of_type(view: View, sql_type: str) -> frozenset[str]:
    out = set()
    for field, expr in view.columns.items():
        m = _COLUMN_EXPR.match(expr)
        if m is not None:
            table = view.table if m.group(1) == "t" else _ALIASES[m.group(1)]
            kind = TABLES[table][m.group(2)]
            if kind.startswith(sql_type):
                out.add(field)
    return frozenset(out)


#: Resource path name -> View.
VIEWS: Mapping[str, View] = _views()
_INTEGER_FIELDS: Mapping[str, frozenset[str]] = {
    v.from_sql: _fields_of_type(v, "INTEGER") for v in VIEWS.values()
}
_REAL_FIELDS: Mapping[str, frozenset[str]] = {
    v.from_sql: _fields_of_type(v, "REAL") for v in VIEWS.values()
}
