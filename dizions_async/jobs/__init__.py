"""Bulk jobs: streaming export and crash-safe, journaled migration.

``migrate`` creates one record per input row exactly once, recording each row in a
SQLite journal so that a killed run resumes without losing or duplicating a record.
``verify`` reads a migration's journaled rows back and reports what Dizions holds
differently. ``export`` streams a query's records to JSONL, CSV or Parquet with flat memory.
"""

from __future__ import annotations

from dizions_async.jobs._export import ExportClient, ExportProgress, ExportSummary, export
from dizions_async.jobs._journal import Entry, Journal, JournalMismatch, Target, TargetMismatch
from dizions_async.jobs._migrate import MigrationClient, MigrationSummary, Problem, migrate
from dizions_async.jobs._recorder import JournalWriteError
from dizions_async.jobs._sources import RowFileError, iter_rows
from dizions_async.jobs._verify import VerifyClient, VerifyReport, verify

__all__ = [
    "Entry",
    "ExportClient",
    "ExportProgress",
    "ExportSummary",
    "Journal",
    "JournalMismatch",
    "JournalWriteError",
    "MigrationClient",
    "MigrationSummary",
    "Problem",
    "RowFileError",
    "Target",
    "TargetMismatch",
    "VerifyClient",
    "VerifyReport",
    "export",
    "iter_rows",
    "migrate",
    "verify",
]
