"""The field table is the one source of the models, the catalogue and the fake's schema."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from dizions_async import _fields, models
from dizions_async._fields import FIELDS, Kind, fields_of
from dizions_async.catalogue import RESOURCES, get_resource
from dizions_async.testing._schema import TABLES, VIEWS

#: Documented fields the fake does not answer yet (lists of related records).
NOT_IN_FAKE = {"relationship_details", "carer_relationship_details", "treatments"}
SQL = {Kind.ID: "INTEGER", Kind.INT: "INTEGER", Kind.FLOAT: "REAL"}


def test_models_module_is_generated_from_the_table() -> None:
    # Stale after a table change: run `python -m dizions_async._fields`.
    assert Path(models.__file__).read_text() == _fields.render_models()


@pytest.mark.parametrize("resource", sorted(FIELDS))
def test_each_model_declares_the_tables_fields_in_order(resource: str) -> None:
    cls = models.MODELS[resource]
    declared = [a.name for a in attrs.fields(cls) if a.name != "extra"]
    assert declared == [f.name for f in FIELDS[resource]]


def test_catalogue_reads_the_table() -> None:
    for name, resource in RESOURCES.items():
        assert resource.fields == fields_of(name)
    assert get_resource("extension_database/notes_9").fields == FIELDS["extension_database"]


@pytest.mark.parametrize("resource", [r for r in FIELDS if r != "extension_database"])
def test_fake_stores_every_stored_field_with_the_tables_type(resource: str) -> None:
    view = VIEWS[resource]
    columns = TABLES[view.table]
    for field in fields_of(resource):
        if field.joined:
            continue
        expected = "INTEGER PRIMARY KEY" if field.name == "id" else SQL.get(field.kind, "TEXT")
        assert columns[field.name] == expected, field.name


@pytest.mark.parametrize("resource", [r for r in FIELDS if r != "extension_database"])
def test_fake_answers_every_documented_field(resource: str) -> None:
    missing = {f.name for f in fields_of(resource)} - set(VIEWS[resource].columns)
    assert missing <= NOT_IN_FAKE


def test_fake_extension_databases_start_with_the_tables_fields() -> None:
    for slug in (n.partition("/")[2] for n in VIEWS if n.startswith("extension_database/")):
        known = [f.name for f in FIELDS["extension_database"]]
        assert list(TABLES[slug])[: len(known)] == known
