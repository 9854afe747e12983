"""The fake server's state: one SQLite database, its reads, reports and writes.

:class:`Store` answers in Python values and raises :class:`Problem` (an HTTP status and a
message) for anything the API would refuse; it knows nothing of HTTP otherwise. SQL text
is assembled only from the whitelists of ``_schema``; every value from a request is a bound
parameter, so no filter value or body field can change a statement.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from dizions_async.catalogue import OperationKind, get_resource
from dizions_async.query import Query
from dizions_async.testing._schema import (
    DDL,
    ONE_SEGMENT_DICTIONARIES,
    TABLES,
    VIEWS,
    View,
    dictionary_of,
)
from dizions_async.testing._seed import seed_database

__all__ = ["Problem", "Store"]

_RELATIONSHIP_FIELDS = (
    "relationship_first_to_second",
    "relationship_second_to_first",
    "relationship_first_to_second_carer",
    "relationship_second_to_first_carer",
)
#: Computed fields a read may select besides the view's columns (API_relationships,
#: API_clinics).
_COMPUTED = {
    "clients": ("relationship_details", "carer_relationship_details"),
    "attendances": ("treatments",),
}
#: The body of ``PUT /v2/relationship_details/{A}/{B}`` (API_relationships): key -> column.
_RELATION_KEYS = {
    "relation_first_to_second": "first_to_second",
    "relation_second_to_first": "second_to_first",
    "carer_relation_first_to_second": "first_to_second_carer",
    "carer_relation_second_to_first": "second_to_first_carer",
    "major": "major",
    "send_one_letter_to_both": "send_one_letter_to_both",
    "joint_address": "joint_address",
}


class Problem(Exception):
    """A request the API refuses: ``status`` and the ``{"error": message, **extra}`` body;
    ``allow`` (for a 405) becomes the ``Allow`` header."""

    def __init__(self, status: int, message: str, *, allow: str = "", **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.allow = allow
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


def _view(resource: str) -> View:
    found = VIEWS.get(resource)
    if found is None:
        raise Problem(404, f"unknown resource {resource!r}")
    return found


class Store:
    """SQLite-backed state of one fake server.

    Args:
        path: a database file (kept across restarts: seeded only when empty), or None
            for an in-memory database.
        clients: the number of synthetic clients to seed.
        seed: the seed of the synthetic data.
    """

    def __init__(self, path: str | Path | None = None, *, clients: int = 500, seed: int = 1):
        self._connection: sqlite3.Connection | None = sqlite3.connect(
            ":memory:" if path is None else str(path)
        )
        if path is not None:
            # A commit waiting for fsync took 1.5 ms per create; with WAL and NORMAL sync it
            # is 0.08 ms, and a crash of this process still loses nothing committed (only
            # the machine losing power could drop the last writes). An in-memory database
            # has no journal file or fsync to save, so it needs no such settings.
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        for statement in DDL:
            self._conn.execute(statement)
        if self.count("dictionaries") == 0:
            seed_database(self._conn, clients=clients, seed=seed)
        self._names: dict[tuple[str, str], dict[int, str]] = {}
        for grp, tbl, key, name in self._conn.execute(
            "SELECT grp, tbl, id, name FROM dictionaries ORDER BY grp, tbl, id"
        ):
            self._names.setdefault((grp, tbl), {})[key] = name

    def close(self) -> None:
        """Close the database; any later use raises ``RuntimeError``."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError(
                "the fake server's store is closed: FakeDizions.stop() (leaving 'async with') "
                "closes it; read fake.store while the server runs"
            )
        return self._connection

    @property
    def version(self) -> tuple[int, int]:
        """A value that changes whenever the data may have changed.

        It counts the rows changed through this connection (the API's writes, and any a
        test makes itself) and, for a file, commits by other connections. The server
        keeps read answers only while it stays the same.
        """
        data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        return self._conn.total_changes, int(data_version)

    # -- read access for tests --------------------------------------------------------------

    def tables(self) -> list[str]:
        """Every table and view a test may read with :meth:`rows`."""
        return [*TABLES, "done_contacts", "due_contacts"]

    def rows(self, table: str, **where: object) -> list[dict[str, Any]]:
        """The rows of ``table`` whose columns equal ``where``, in id order.

        Raises:
            KeyError: an unknown table or column.
        """
        columns = self._columns(table)
        unknown = set(where) - set(columns)
        if unknown:
            raise KeyError(f"{table} has no column(s) {sorted(unknown)}")
        conds = " AND ".join(f'"{k}" IS ?' for k in where) or "1"
        cur = self._conn.execute(f"SELECT * FROM {table} WHERE {conds}", tuple(where.values()))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def count(self, table: str) -> int:
        """How many rows ``table`` holds."""
        self._columns(table)
        return int(self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def _columns(self, table: str) -> tuple[str, ...]:
        if table in ("done_contacts", "due_contacts"):
            return tuple(TABLES["contacts"])
        if table not in TABLES:
            raise KeyError(f"unknown table {table!r}; tables: {', '.join(self.tables())}")
        return tuple(TABLES[table])

    # -- reads ----------------------------------------------------------------------------

    def selectable_fields(self, resource: str) -> list[str]:
        """Every field a read of ``resource`` may select."""
        return [*_view(resource).columns, *_COMPUTED.get(resource, ())]

    def filterable_fields(self, resource: str) -> list[str]:
        """Every filter key of ``resource``, date-range keys included."""
        view = _view(resource)
        return sorted({*view.columns, *view.date_keys})

    def friendly_names(self, resource: str) -> dict[str, str]:
        """Field -> friendly name, for every selectable field [assumed shape]."""
        return {
            name: name.replace("_", " ").capitalize() for name in self.selectable_fields(resource)
        }

    def metrics(self, resource: str) -> list[str]:
        """Fields a report on ``resource`` may use as dimension or metric."""
        return list(_view(resource).columns)

    def read(self, query: Query) -> list[dict[str, Any]]:
        """The records matching ``query``, with its selected fields, in id order."""
        view = _view(query.resource)
        names = self._field_names(view, query)
        plain = [n for n in names if n in view.columns]
        if "id" not in plain:
            plain.append("id")  # computed fields need it; dropped below if not asked for
        where, params = self._where(view, query)
        select = ", ".join(view.columns[n] for n in plain)
        from_sql = view.from_for(f"{select} {where}")
        sql = f"SELECT {select} FROM {from_sql} WHERE {where} ORDER BY t.id"
        out = [dict(zip(plain, row, strict=True)) for row in self._conn.execute(sql, params)]
        if "relationship_details" in names or "carer_relationship_details" in names:
            self._add_relationships(out, names)
        if "treatments" in names:
            self._add_treatments(out)
        if "id" not in names:
            for record in out:
                del record["id"]
        self._resolve(out, query.resolve, names)
        return out

    def read_json(self, query: Query) -> bytes:
        """:meth:`read`'s records as the JSON array the API sends.

        When nothing needs Python (no computed field, no ``resolveIds[]``, no REAL column,
        whose text SQLite and Python may write differently) SQLite writes each record's
        JSON object itself: no Python value per field, no dict per record.
        """
        view = _view(query.resource)
        names = self._field_names(view, query)
        if (
            query.resolve
            or len(set(names)) != len(names)
            or not view.real_fields.isdisjoint(names)
            or any(n not in view.columns for n in names)
        ):
            return orjson.dumps(self.read(query))
        where, params = self._where(view, query)
        # Field names are whitelisted identifiers ([a-z0-9_]), safe as SQL string literals.
        pairs = ", ".join(f"'{n}', {view.columns[n]}" for n in names)
        from_sql = view.from_for(f"{pairs} {where}")
        sql = f"SELECT json_object({pairs}) FROM {from_sql} WHERE {where} ORDER BY t.id"
        try:
            rows = self._conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # e.g. a BLOB a test wrote straight into the table
            return orjson.dumps(self.read(query))
        return ("[" + ",".join(row[0] for row in rows) + "]").encode()

    def _field_names(self, view: View, query: Query) -> list[str]:
        computed = _COMPUTED.get(query.resource, ())
        names = list(query.field_names or view.defaults)
        for name in names:
            if name not in view.columns and name not in computed:
                raise Problem(400, f"unknown field {name!r} for {query.resource}")
        return names

    def report(self, query: Query) -> dict[str, Any]:
        """Counts per dimension value, or per dimension and metric value."""
        view = _view(query.resource)
        keys = [k for k in (query.dimension_key, query.metric_key) if k is not None]
        for key in keys:
            if key not in view.columns:
                raise Problem(400, f"{key!r} cannot be a dimension or metric of {query.resource}")
        where, params = self._where(view, query)
        # Unary + keeps SQLite from walking an index in group order (a row lookup per
        # entry, slower than one scan and a sort); WHERE still uses indexes.
        group = ", ".join(f"+{view.columns[k]}" for k in keys)
        positions = ", ".join(str(i + 1) for i in range(len(keys)))
        from_sql = view.from_for(f"{group} {where}")
        sql = f"SELECT {group}, COUNT(*) FROM {from_sql} WHERE {where} GROUP BY {positions}"
        resolve = set(query.resolve)
        labels = [self._labeller(k, "ALL" in resolve or k in resolve) for k in keys]
        out: dict[str, Any] = {}
        for row in self._conn.execute(sql, params):
            dim = labels[0](row[0])
            if len(keys) == 1:
                out[dim] = row[1]
            else:
                out.setdefault(dim, {})[labels[1](row[1])] = row[2]
        return out

    def _labeller(self, field: str, resolve: bool) -> Any:
        names = self._names.get(dictionary_of(field) or ("", ""), {}) if resolve else {}

        def label(value: object) -> str:
            if value is None:
                return ""
            if isinstance(value, int) and value in names:
                return names[value]
            return str(value)

        return label

    def _where(self, view: View, query: Query) -> tuple[str, dict[str, object]]:
        conds = [view.where] if view.where else []
        params: dict[str, object] = {}

        def bind(value: object) -> str:
            name = f"p{len(params)}"
            params[name] = value
            return f":{name}"

        if query.ids:
            conds.append(f"t.id IN ({', '.join(bind(i) for i in query.ids)})")
        for key, values in query.filters:
            expr = view.columns.get(key)
            if expr is None:
                raise Problem(400, f"{key!r} is not a filter of {query.resource}")
            if key in view.integer_fields and all(v.lstrip("-").isdigit() for v in values):
                # Ints compare faster than text converted by column affinity on every row.
                conds.append(f"{expr} IN ({', '.join(bind(int(v)) for v in values)})")
            else:
                conds.append(f"{expr} IN ({', '.join(bind(v) for v in values)})")
        for key, lo, hi in query.date_ranges:
            template = view.date_keys.get(key)
            if template is None and key in view.columns:
                template = f"{view.columns[key]} >= {{lo}} AND {view.columns[key]} < {{hi}}"
            if template is None:
                raise Problem(400, f"{key!r} is not a date key of {query.resource}")
            # The end is inclusive: compare below the next day so datetimes on it match.
            bounds = {"lo": bind(lo.isoformat()), "hi": bind((hi + dt.timedelta(1)).isoformat())}
            conds.append(f"({template.format(**bounds)})")
        return " AND ".join(conds) or "1", params

    def _add_relationships(self, records: list[dict[str, Any]], names: list[str]) -> None:
        # Each client sees the relationship from its own side [assumed shape]:
        # relationship_details [{"id", "relationship", "major", "send_one_letter_to_both",
        # "joint_address"}], carer_relationship_details [{"id", "relationship"}].
        plain: dict[int, list[dict[str, Any]]] = {}
        carer: dict[int, list[dict[str, Any]]] = {}
        for first, second, f2s, s2f, f2s_c, s2f_c, major, one_letter, joint in self._conn.execute(
            "SELECT first, second, first_to_second, second_to_first, first_to_second_carer, "
            "second_to_first_carer, major, send_one_letter_to_both, joint_address "
            "FROM relationships ORDER BY id"
        ):
            shared = {"major": major, "send_one_letter_to_both": one_letter, "joint_address": joint}
            for me, other, rel, rel_c in ((first, second, f2s, f2s_c), (second, first, s2f, s2f_c)):
                plain.setdefault(me, []).append({"id": other, "relationship": rel, **shared})
                if rel_c is not None:
                    carer.setdefault(me, []).append({"id": other, "relationship": rel_c})
        for record in records:
            if "relationship_details" in names:
                record["relationship_details"] = plain.get(record["id"], [])
            if "carer_relationship_details" in names:
                record["carer_relationship_details"] = carer.get(record["id"], [])

    def _add_treatments(self, records: list[dict[str, Any]]) -> None:
        by_attendance: dict[int, list[dict[str, Any]]] = {}
        for attendance, treatment, ticked, paid, amount in self._conn.execute(
            "SELECT attendance, treatment, ticked, paid, amount_paid "
            "FROM attendance_treatments ORDER BY id"
        ):
            by_attendance.setdefault(attendance, []).append(
                {"ticked": ticked, "paid": paid, "treatment": treatment, "amount_paid": amount}
            )
        for record in records:
            record["treatments"] = by_attendance.get(record["id"], [])

    def _resolve(
        self, records: list[dict[str, Any]], asked: Iterable[str], names: list[str]
    ) -> None:
        wanted = set(asked)
        fields = names if "ALL" in wanted else [n for n in names if n in wanted]
        for field in fields:
            table = self._names.get(dictionary_of(field) or ("", ""))
            if not table:
                continue
            for record in records:
                value = record.get(field)
                if isinstance(value, int) and value in table:
                    record[field] = table[value]

    # -- dictionaries -----------------------------------------------------------------------

    def dictionary(self, group: str, table: str | None = None) -> list[dict[str, Any]]:
        """One dictionary as ``[{"id", "name"}]``: by group and table, by one name
        (``client_type``, ``branch``, ``relationships``, ``carer_relationships``, ``rates``),
        or ``extension_database`` and a field's collaborator name.

        Raises:
            Problem: 404 when there is no such dictionary.
        """
        key: tuple[str, str] | None = (group, table) if table is not None else None
        if table is None:
            key = ONE_SEGMENT_DICTIONARIES.get(group)
        elif group == "extension_database":
            key = dictionary_of(table)
        found = self._names.get(key) if key is not None else None
        if found is None:
            shown = group if table is None else f"{group}/{table}"
            raise Problem(404, f"unknown dictionary {shown}")
        return [{"id": k, "name": v} for k, v in found.items()]

    def dictionary_search(self, group: str, table: str, term: str) -> list[dict[str, Any]]:
        """The entries of a dictionary whose name contains ``term`` (case-insensitive)."""
        needle = term.casefold()
        return [e for e in self.dictionary(group, table) if needle in e["name"].casefold()]

    def dictionary_all(self) -> list[dict[str, Any]]:
        """Every dictionary entry, each with its ``group`` and ``table``."""
        return [
            {"group": grp, "table": tbl, "id": k, "name": v}
            for (grp, tbl), entries in self._names.items()
            for k, v in entries.items()
        ]

    # -- writes ---------------------------------------------------------------------------

    def exists(self, resource: str, record_id: int) -> bool:
        """Whether ``resource`` has a record ``record_id``."""
        view = _view(resource)
        cond = f" AND {view.where}" if view.where else ""
        sql = f"SELECT 1 FROM {view.table} t WHERE t.id = ?{cond}"
        return self._conn.execute(sql, (record_id,)).fetchone() is not None

    def create(self, resource: str, fields: Mapping[str, str], *, branches: bool = False) -> int:
        """Create one record; returns its ID.

        Args:
            resource: the resource's path name.
            fields: the body.
            branches: the organisation uses branches, so a referral needs ``branch``.

        Raises:
            Problem: 404 for a resource that cannot be created this way; 400 for a
                missing mandatory field, an unknown field, or a bad reference.
        """
        if branches and resource == "referrals" and not fields.get("branch"):
            raise Problem(400, "missing mandatory field(s): branch (this system uses branches)")
        view = _view(resource)
        if resource in ("done_contacts", "due_contacts") or not get_resource(resource).supports(
            OperationKind.CREATE
        ):
            raise Problem(404, f"{resource} cannot be created with PUT /v2/{resource}")
        if resource == "external_referral":
            return self.create_external_referrals([fields])[0]
        row = self._checked(resource, view, fields, create=True)
        with self._conn:
            if resource == "clients" and row.get("external_id") is not None:
                self._check_external_id(str(row["external_id"]))
            if resource == "referrals":
                self._check_ref("clients", row.get("client"), "client")
                row["updated"] = _now()
            return self._insert(view.table, row)

    def create_client_by_external_id(self, external_id: str, fields: Mapping[str, str]) -> int:
        """Create a client carrying ``external_id``.

        Raises:
            Problem: 400 with the existing ``id`` when a client already has that external ID.
        """
        body = {**fields, "external_id": external_id}
        return self.create("clients", body)

    def create_due_contact(self, referral: int, fields: Mapping[str, str]) -> int:
        """Create a due contact (an incomplete action) on ``referral``."""
        return self.create_contact("due_contacts", referral, fields)

    def create_contact(self, resource: str, referral: int, fields: Mapping[str, str]) -> int:
        """Create a due or done contact on ``referral`` (``resource`` says which)."""
        if not self.exists("referrals", referral):
            raise Problem(404, f"referral {referral} not found")
        row = self._checked(resource, VIEWS[resource], fields, create=True)
        done = int(resource == "done_contacts")
        with self._conn:
            return self._insert("contacts", {**row, "referral": referral, "done": done})

    def set_relationship(self, first: int, second: int, body: Mapping[str, str]) -> int:
        """Relate two clients (``PUT /v2/relationship_details/{first}/{second}``), replacing
        any relationship between them; returns ``first``.

        Raises:
            Problem: 400 for an unknown key, a missing standard relationship (a carer one
                needs it too), the same client twice; 404 for an unknown client.
        """
        unknown = sorted(set(body) - set(_RELATION_KEYS))
        if unknown:
            raise Problem(400, f"unknown relationship key(s): {', '.join(unknown)}")
        for key in list(_RELATION_KEYS)[:2]:
            if not body.get(key):
                raise Problem(400, f"a relationship needs {key}")
        if first == second:
            raise Problem(400, f"client {first} cannot be related to itself")
        for client in (first, second):
            if not self.exists("clients", client):
                raise Problem(404, f"client {client} not found")
        row: dict[str, object] = {"first": first, "second": second}
        for key, column in _RELATION_KEYS.items():
            value = body.get(key) or None
            is_id = key.startswith(("relation", "carer"))
            row[column] = _as_int(key, value) if is_id and value is not None else value
        with self._conn:
            self._conn.execute(
                "DELETE FROM relationships WHERE (first = ? AND second = ?) "
                "OR (first = ? AND second = ?)",
                (first, second, second, first),
            )
            self._insert("relationships", row)
        return first

    def create_external_referrals(self, people: Sequence[Mapping[str, str]]) -> list[int]:
        """Stage external referrals (all or none); returns their IDs."""
        view = VIEWS["external_referral"]
        client_fields = VIEWS["clients"].writable | set(_PERSON_LINKS)
        links = _person_links(people)
        rows = []
        for index, given in enumerate(people):
            person: dict[str, Any] = {**given, **links[index]}
            own = {k: v for k, v in person.items() if k in view.writable and k != "data"}
            extra = {k: v for k, v in person.items() if k not in own and v is not None}
            unknown = sorted(set(extra) - client_fields)
            if unknown:
                raise Problem(400, f"unknown field(s) for external_referral: {', '.join(unknown)}")
            row = self._checked("external_referral", view, own, create=True)
            row["data"] = orjson.dumps(extra).decode() if extra else None
            row["received"] = _now()
            rows.append(row)
        with self._conn:
            return [self._insert("external_referral", row) for row in rows]

    def update(self, resource: str, record_id: int, fields: Mapping[str, str]) -> int:
        """Update one record (clients may add a relationship; a due contact posted to
        ``done_contacts`` with start_date and end_date becomes done). Returns its ID.

        Raises:
            Problem: 404 for an unknown record; 400 for a bad body.
        """
        view = _view(resource)
        if resource == "external_referral" or not get_resource(resource).supports(
            OperationKind.UPDATE
        ):
            raise Problem(404, f"{resource} records cannot be updated")
        fields = dict(fields)
        completing = False
        if resource == "done_contacts" and not self.exists(resource, record_id):
            if not self.exists("due_contacts", record_id):
                raise Problem(404, f"done contact {record_id} not found")
            if not fields.get("start_date") or not fields.get("end_date"):
                raise Problem(400, "to complete a due contact send start_date and end_date")
            completing = True
        elif not self.exists(resource, record_id):
            raise Problem(404, f"{resource} record {record_id} not found")
        relation = self._relationship(record_id, fields) if resource == "clients" else None
        row = self._checked(resource, view, fields, create=False)
        if not row and relation is None:
            raise Problem(400, "the body has no fields to update")
        if completing:
            row["done"] = 1
        with self._conn:
            if resource == "clients" and row.get("external_id") is not None:
                self._check_external_id(str(row["external_id"]), record_id)
            if resource == "referrals":
                if "client" in row:
                    self._check_ref("clients", row["client"], "client")
                row["updated"] = _now()
            if row:
                sets = ", ".join(f'"{k}" = ?' for k in row)
                self._conn.execute(
                    f"UPDATE {view.table} SET {sets} WHERE id = ?", (*row.values(), record_id)
                )
            if relation is not None:
                self._insert("relationships", relation)
        return record_id

    def add_upload(self, resource: str, record_id: int, **values: object) -> int:
        """Record one stored upload against a client or referral; returns its ID."""
        with self._conn:
            return self._insert("uploads", {"resource": resource, "record": record_id, **values})

    def add_uploads(
        self, resource: str, record_id: int, files: Sequence[Mapping[str, object]]
    ) -> list[int]:
        """Record several stored uploads in one transaction (all or none); returns their IDs."""
        with self._conn:
            return [
                self._insert("uploads", {"resource": resource, "record": record_id, **values})
                for values in files
            ]

    def _relationship(self, record_id: int, fields: dict[str, str]) -> dict[str, object] | None:
        second = fields.pop("id_second", "")
        given = {k: fields.pop(k) for k in _RELATIONSHIP_FIELDS if k in fields}
        if not second:
            if given:
                raise Problem(400, "relationship fields need id_second")
            return None
        for key in _RELATIONSHIP_FIELDS[:2]:
            if not given.get(key):
                raise Problem(400, f"a relationship needs {key}")
        other = _as_int("id_second", second)
        if other == record_id or not self.exists("clients", other):
            raise Problem(400, f"id_second {other} is not another client")
        return {
            "first": record_id,
            "second": other,
            **{
                key.removeprefix("relationship_"): _as_int(key, value) if value else None
                for key, value in given.items()
            },
        }

    def _checked(
        self, resource: str, view: View, fields: Mapping[str, str], *, create: bool
    ) -> dict[str, object]:
        unknown = sorted(set(fields) - view.writable)
        if unknown:
            raise Problem(400, f"unknown field(s) for {resource}: {', '.join(unknown)}")
        if create:
            missing = [k for k in get_resource(resource).required if not fields.get(k)]
            if missing:
                raise Problem(400, f"missing mandatory field(s): {', '.join(missing)}")
        types = TABLES[view.table]
        row: dict[str, object] = {}
        for key, value in fields.items():
            if value == "":
                row[key] = None
            elif types[key] == "INTEGER":
                row[key] = _as_int(key, value)
            else:
                row[key] = value
        return row

    def _check_external_id(self, external_id: str, own_id: int | None = None) -> None:
        found = self._conn.execute(
            "SELECT id FROM clients WHERE external_id = ? AND id IS NOT ?", (external_id, own_id)
        ).fetchone()
        if found is not None:
            raise Problem(400, f"external_id {external_id!r} already exists", id=found[0])

    def _check_ref(self, resource: str, value: object, field: str) -> None:
        if not isinstance(value, int) or not self.exists(resource, value):
            raise Problem(400, f"{field} {value} does not exist")

    def _insert(self, table: str, row: Mapping[str, object]) -> int:
        names = ", ".join(f'"{k}"' for k in row)
        marks = ", ".join("?" for _ in row)
        cur = self._conn.execute(
            f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(row.values())
        )
        assert cur.lastrowid is not None
        return cur.lastrowid


_PERSON_LINKS = ("relationships", "carer_relationships")


def _person_links(people: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    """Each person's relationships to others of the array by position (API:_External_
    Referrals), checked: positions in range, not the person itself, and in pairs."""
    out: list[dict[str, Any]] = [{} for _ in people]
    for name in _PERSON_LINKS:
        table: list[dict[int, int]] = []
        for index, person in enumerate(people):
            raw = person.get(name) or "{}"
            try:
                given = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise Problem(400, f"person {index}: {name} must map positions to IDs") from None
            if not isinstance(given, dict):
                raise Problem(400, f"person {index}: {name} must map positions to IDs")
            own = {_as_int(name, k): _as_int(name, v) for k, v in given.items()}
            for other in own:
                if not 0 <= other < len(people) or other == index:
                    raise Problem(400, f"person {index}: {name} names person {other}")
            table.append(own)
            out[index][name] = {str(k): v for k, v in own.items()} or None
        for index, own in enumerate(table):
            for other in own:
                if index not in table[other]:
                    raise Problem(400, f"person {index}: {name} to person {other} has no pair")
    return out


def _as_int(field: str, value: object) -> int:
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise Problem(400, f"{field} must be a whole number, got {value!r}")
    return int(text)


def _now() -> str:
    return dt.datetime.now().replace(microsecond=0).isoformat(sep=" ")
