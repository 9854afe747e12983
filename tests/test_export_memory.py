"""Peak memory of a 100,000-record export (slow: run with ``-m slow``).

The export runs as its own ``dizions export`` process against ``dizions serve`` in
another process; it reports its own peak RSS when it exits (``tests/peak_rss.py``: not
``os.wait4``'s ``ru_maxrss``, which Linux carries over from the pytest process that forks it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Cli

ROOT = Path(__file__).resolve().parents[1]
RECORDS = 100_000
MB = 1024 * 1024
#: Parquet's bound is the issue's: pyarrow alone adds some 60 MB to the process.
LIMITS = {"jsonl": 150 * MB, "csv": 150 * MB, "parquet": 250 * MB}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(LIMITS))
def test_export_of_100k_records_peaks_under_its_limit(fmt: str, cli: Cli, tmp_path: Path) -> None:
    dizions = [sys.executable, "-m", "dizions_async.cli"]
    server = subprocess.Popen(
        [*dizions, "serve", "--port", "0", "--clients", str(RECORDS)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(4)]
        env = {**os.environ, **cli.serve_env(lines)}
        out = tmp_path / f"clients.{fmt}"
        peak_file = tmp_path / "peak_rss"
        proc = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("peak_rss.py")),
                str(peak_file),
                "dizions_async.cli",
                "export",
                "clients",
                "--out",
                str(out),
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    finally:
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    assert proc.returncode == 0
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert pq.ParquetFile(out).metadata.num_rows == RECORDS
    else:
        with out.open("rb") as handle:
            assert sum(1 for _ in handle) == RECORDS + (1 if fmt == "csv" else 0)
    assert int(peak_file.read_text()) < LIMITS[fmt]
