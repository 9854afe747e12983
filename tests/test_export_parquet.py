"""Parquet export and ``fetch_arrow``: typed columns from the models, read back equal to JSONL."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dizions_async import Client, MockTransport, Query, models
from dizions_async._arrow import import_pyarrow
from dizions_async._convert import structure_records
from dizions_async.errors import ConfigurationError, DecodeError
from dizions_async.jobs import export
from dizions_async.jobs._writers import ParquetWriter
from dizions_async.protocol import Request, Response
from dizions_async.testing import FakeDizions
from dizions_async.transport import json_response

if TYPE_CHECKING:
    from conftest import Cli

ROOT = Path(__file__).resolve().parents[1]
HINT = 'pip install "dizions_async[parquet]"'


@pytest.fixture
async def fake() -> AsyncIterator[FakeDizions]:
    async with FakeDizions(clients=80, seed=5) as server:
        yield server


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def expected_rows(records: list[dict[str, Any]], resource: str) -> list[dict[str, Any]]:
    """What a Parquet row of each JSONL record must be: its model's typed fields, then
    ``extra`` as JSON (None when empty)."""
    cls = models.MODELS[resource.partition("/")[0]]
    out = []
    for record in structure_records(records, cls, "test"):
        row = {name: getattr(record, name) for name in attrs_names(cls)}
        row = {k: orjson.dumps(v).decode() if isinstance(v, list) else v for k, v in row.items()}
        row["extra"] = orjson.dumps(dict(record.extra)).decode() if record.extra else None
        out.append(row)
    return out


def attrs_names(cls: type[models.Record]) -> list[str]:
    import attrs

    return [a.name for a in attrs.fields(cls) if a.name != "extra"]


@pytest.mark.parametrize(
    "resource",
    ["clients", "referrals", "done_contacts", "attendances", "clinics", "schedules"],
)
async def test_parquet_reads_back_equal_to_the_jsonl_export_types_included(
    fake: FakeDizions, tmp_path: Path, resource: str
) -> None:
    async with fake.client() as dz:
        await export(dz, Query(resource), tmp_path / "out.jsonl")
        summary = await export(dz, Query(resource), tmp_path / "out.parquet", format="parquet")
    table = pq.read_table(tmp_path / "out.parquet")
    records = jsonl(tmp_path / "out.jsonl")
    assert summary.records == table.num_rows == len(records) > 0
    assert table.to_pylist() == expected_rows(records, resource)
    assert summary.columns == tuple(table.schema.names)
    assert table.schema.field("id").type == pa.int64()
    assert not list(tmp_path.glob("*.part"))


async def test_parquet_column_types_follow_the_field_kinds(
    fake: FakeDizions, tmp_path: Path
) -> None:
    async with fake.client() as dz:
        await export(dz, Query("clients"), tmp_path / "c.parquet", format="parquet")
        await export(dz, Query("done_contacts"), tmp_path / "d.parquet", format="parquet")
    clients = pq.read_schema(tmp_path / "c.parquet")
    contacts = pq.read_schema(tmp_path / "d.parquet")
    assert clients.field("date_of_birth").type == pa.date32()
    assert clients.field("active").type == pa.bool_()
    assert clients.field("surname").type == pa.string()
    assert clients.field("people_in_household").type == pa.int64()
    assert clients.field("relationship_details").type == pa.string()  # JSON text
    assert clients.field("extra").type == pa.string()
    assert contacts.field("start_date").type == pa.timestamp("us")
    assert contacts.field("travel_mileage").type == pa.float64()
    assert all(field.nullable for field in clients)


async def test_selected_fields_choose_the_columns(fake: FakeDizions, tmp_path: Path) -> None:
    query = Query("clients").fields("surname", "id", "website_photo_consent")
    async with fake.client() as dz:
        await export(dz, query, tmp_path / "c.parquet", format="parquet")
        wire = await dz.fetch(query)
    table = pq.read_table(tmp_path / "c.parquet")
    assert table.schema.names == ["surname", "id", "website_photo_consent", "extra"]
    # An extension field the table does not know is a string column (JSON for numbers).
    assert table.schema.field("website_photo_consent").type == pa.string()
    consent = [
        None if r.get("website_photo_consent") is None else str(r["website_photo_consent"])
        for r in wire
    ]
    assert table.column("website_photo_consent").to_pylist() == consent
    assert table.column("extra").null_count == table.num_rows


async def test_split_parquet_export_writes_each_record_once(
    fake: FakeDizions, tmp_path: Path
) -> None:
    query = Query("referrals").date_range("date_active", "2018-01-01", "2021-12-31")
    async with fake.client() as dz:
        await export(
            dz, query.fields("date"), tmp_path / "r.parquet", format="parquet", split="month"
        )
        wire = await dz.fetch(query)
    table = pq.read_table(tmp_path / "r.parquet")
    # id was fetched to find repeats, then left out: only the selected column (and extra).
    assert table.schema.names == ["date", "extra"]
    assert table.num_rows == len(wire)
    assert table.column("extra").null_count == table.num_rows


def test_row_groups_are_written_as_records_arrive() -> None:
    sink = io.BytesIO()
    writer = ParquetWriter(sink, "workers", row_group=100)
    for i in range(100):
        writer.write({"id": i, "surname": f"S{i}", "active": "Y"})
    written = sink.tell()
    assert written > 1000  # the first row group is out before the export ends
    for i in range(100, 250):
        writer.write({"id": i, "surname": f"S{i}", "active": "N"})
    writer.finish()
    meta = pq.ParquetFile(io.BytesIO(sink.getvalue())).metadata
    assert (meta.num_rows, meta.num_row_groups) == (250, 3)


async def test_a_value_that_does_not_fit_fails_the_export_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    def handler(request: Request) -> Response:
        return json_response([{"id": 1, "active": "Y"}, {"id": 2, "active": "secret-ish"}])

    out = tmp_path / "c.parquet"
    async with Client(
        "s", "o", "u", base_url="https://api.example", transport=MockTransport(handler)
    ) as dz:
        with pytest.raises(DecodeError) as caught:
            await export(dz, Query("clients"), out, format="parquet")
    assert "record 1 (id 2) does not fit Client: field 'active': expected Y or N" in str(
        caught.value
    )
    assert "secret-ish" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


async def test_fetch_arrow_builds_the_same_table(fake: FakeDizions, tmp_path: Path) -> None:
    query = Query("referrals").date_range("date", "2018-01-01", "2023-12-31")
    async with fake.client(max_concurrency=4) as dz:
        await export(dz, query, tmp_path / "r.parquet", format="parquet")
        table = await dz.fetch_arrow(query)
        split = await dz.fetch_arrow(
            dz.query("referrals").date_range("date", "2018-01-01", "2023-12-31"), split="year"
        )
        progress: list[tuple[int, int]] = []
        narrow = await dz.fetch_arrow(
            query.fields("id", "date"), split="year", on_progress=lambda *p: progress.append(p)
        )
        empty = await dz.fetch_arrow(Query("clients").filter(postcode="none such"))
    assert table.equals(pq.read_table(tmp_path / "r.parquet"))
    assert split.sort_by("id").equals(table.sort_by("id"))
    assert narrow.schema.names == ["id", "date", "extra"]
    assert progress[0] == (0, 6) and progress[-1] == (6, 6)
    assert narrow.sort_by("id").column("date").equals(table.sort_by("id").column("date"))
    assert empty.num_rows == 0
    assert empty.schema.names == [*attrs_names(models.Client), "extra"]


@pytest.fixture
def no_pyarrow(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if pyarrow were not installed: any import of it fails."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    import_pyarrow.cache_clear()
    yield
    import_pyarrow.cache_clear()


@pytest.mark.usefixtures("no_pyarrow")
async def test_missing_extra_is_one_line_naming_the_install(
    fake: FakeDizions, tmp_path: Path, cli: Cli
) -> None:
    async with fake.client() as dz:
        with pytest.raises(ConfigurationError) as caught:
            await export(dz, Query("clients"), tmp_path / "c.parquet", format="parquet")
        with pytest.raises(ConfigurationError, match="need pyarrow"):
            await dz.fetch_arrow(Query("clients"))
    assert HINT in str(caught.value) and "\n" not in str(caught.value)
    result = await cli(fake, "export", "clients", "--out", str(tmp_path / "c.parquet"))
    assert result.exit_code == 2  # a setup problem, as missing keys are
    assert result.stderr.strip().splitlines() == [f"dizions: error: {caught.value}"]
    assert list(tmp_path.iterdir()) == []


async def test_cli_exports_parquet_by_suffix_or_format(
    fake: FakeDizions, tmp_path: Path, cli: Cli
) -> None:
    by_suffix = tmp_path / "c.parquet"
    by_flag = tmp_path / "c.data"
    first = await cli(fake, "export", "clients", "--out", str(by_suffix))
    second = await cli(fake, "export", "clients", "--format", "parquet", "--out", str(by_flag))
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert pq.read_table(by_suffix).equals(pq.read_table(by_flag))
    assert pq.read_table(by_suffix).num_rows == 80
    assert "as parquet" in first.stderr


def test_pyarrow_is_never_imported_unless_used() -> None:
    code = (
        "import sys\n"
        "import dizions_async, dizions_async.jobs, dizions_async.models\n"
        "import dizions_async.cli._app, dizions_async.testing\n"
        "from dizions_async.jobs._writers import make_writer\n"
        "import io\n"
        "make_writer('jsonl', io.BytesIO()).finish()\n"
        "assert 'pyarrow' not in sys.modules, 'pyarrow was imported'\n"
        "from dizions_async._arrow import import_pyarrow\n"
        "import_pyarrow()\n"
        "assert 'pyarrow' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
