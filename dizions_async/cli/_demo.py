"""``dizions demo``: a real job through the SDK against the bundled fake server.

It starts :class:`~dizions_async.testing.FakeDizions` in this process on 127.0.0.1, then
uses the public :class:`~dizions_async.Client` exactly as a user would: a concurrent pull of
every client (one query per district, through ``gather``), six years of active referrals
split into monthly windows and merged without duplicates (``fetch(split="month")``), a
report by district and gender with names from the dictionaries, and a dictionary search.
Nothing leaves loopback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dizions_async import Query, Report
from dizions_async.cli._common import console
from dizions_async.testing import FakeDizions


def _report_table(
    report: Report, districts: Mapping[int, str], genders: Mapping[int, str]
) -> Table:
    def name(names: Mapping[int, str], key: str | None) -> str:
        return names.get(int(key), key) if key and key.isdigit() else str(key)

    cells: dict[str, dict[str, int]] = {}
    for district, gender, count in report.rows():
        cells.setdefault(name(districts, district), {})[name(genders, gender)] = count
    table = Table(title=f"Clients by district and gender (report; {report.total:,} in all)")
    table.add_column("district")
    columns = [genders[g] for g in sorted(genders)]
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("total", justify="right", style="bold")
    for district in sorted(cells):
        counts = cells[district]
        table.add_row(
            district, *(str(counts.get(c, 0)) for c in columns), str(sum(counts.values()))
        )
    return table


def _progress(console: Console, what: str) -> Progress:
    return Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # piped or redirected: no bar, no blank line
    )


async def _demo(clients: int, seed: int, console: Console) -> None:
    async with FakeDizions(clients=clients, seed=seed) as fake:
        console.print(f"[bold]Fake Dizions server[/] at {fake.url} with {clients:,} clients")
        async with fake.client() as dz:
            districts = {e.id: e.name for e in await dz.dictionary("organisations", "district")}
            genders = {e.id: e.name for e in await dz.dictionary("clients", "gender")}

            # 1. Every client: one query per district, run concurrently by gather().
            queries = [
                Query("clients").filter(district=d).fields("id", "surname", "district")
                for d in districts
            ]
            started = time.perf_counter()
            with _progress(console, "clients by district") as bar:
                task = bar.add_task("pull", total=len(queries))
                parts = await dz.gather(
                    queries, on_progress=lambda done, total: bar.update(task, completed=done)
                )
            elapsed = time.perf_counter() - started
            pulled = sum(len(part) for part in parts)
            console.print(
                f"Pulled {pulled:,} clients in {len(queries)} concurrent queries, "
                f"{elapsed:.2f} s ({pulled / elapsed:,.0f} records/s)"
            )

            # 2. Six years of referrals active by month: 72 windows, merged, de-duplicated.
            active = Query("referrals").date_range("date_active", "2018-01-01", "2023-12-31")
            started = time.perf_counter()
            with _progress(console, "referrals by month") as bar:
                task = bar.add_task("pull", total=None)
                referrals = await dz.fetch(
                    active.fields("id", "client", "date"),
                    split="month",
                    on_progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
            elapsed = time.perf_counter() - started
            console.print(
                f"Pulled {len(referrals):,} distinct active referrals in "
                f"{len(active.split_dates('month'))} monthly windows, {elapsed:.2f} s "
                f"({len(referrals) / elapsed:,.0f} records/s)"
            )

            report = await dz.report(Query("clients").dimension("district").metric("gender"))
            console.print(_report_table(report, districts, genders))

            found = await dz.dictionary_search("referrals", "project", "Carers")
            table = Table(title="Dictionary search: referrals/project matching 'Carers'")
            table.add_column("id", justify="right")
            table.add_column("name")
            for entry in found:
                table.add_row(str(entry.id), entry.name)
            console.print(table)


@click.command()
@click.option("--clients", default=5000, show_default=True, type=click.IntRange(1, 200_000))
@click.option("--seed", default=1, show_default=True, type=int)
def demo(clients: int, seed: int) -> None:
    """Start the bundled fake server and run a real job through the SDK against it."""
    asyncio.run(_demo(clients, seed, console()))
