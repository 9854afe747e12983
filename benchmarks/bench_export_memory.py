"""Peak memory and speed of ``dizions export`` to JSONL, CSV and Parquet.

``dizions serve --clients N`` runs in its own process (its memory is not counted); each
export runs as a separate ``dizions export clients --out FILE`` process, and its peak
resident set size is its own ``VmHWM``, written as it exits (``tests/peak_rss.py``). The
CSV run has no ``--fields``, so it takes the two-pass path (records spooled as JSONL while
the column union grows). Parquet (typed columns, row groups written as records arrive)
needs the ``[parquet]`` extra. For scale, the peak of ``dizions --help`` (interpreter and
imports only) is printed too. Each size is run ``--rounds`` times, formats alternating;
records per second are the median, and Parquet's speed is given as the median of its
per-round ratio to JSONL. Targets: JSONL and CSV under 150 MB; Parquet under 250 MB at
every size, its peaks within 1.3x of each other across sizes.

Run: ``python benchmarks/bench_export_memory.py [--records 100000 1000000] [--rounds 1]
[--formats jsonl csv parquet] [--db-dir DIR]`` (``--db-dir`` keeps each size's seeded
server data between runs: seeding 1,000,000 clients takes minutes.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _servers import ROOT, dizions_serve

MB = 1024 * 1024


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dizions_async.cli", *args]


def peak_rss(cmd: list[str], env: dict[str, str]) -> tuple[int, float, int]:
    """Run ``cmd`` (``python -m MODULE ...``); return its exit status, seconds taken and
    peak RSS in bytes: the process's own ``VmHWM``, written at its exit by
    ``tests/peak_rss.py`` (``ru_maxrss`` from ``wait4`` carries over this script's size
    through fork and exec)."""
    python, dash_m, module, *args = cmd
    assert dash_m == "-m", cmd
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peak"
        runner = [python, str(ROOT / "tests" / "peak_rss.py"), str(out), module, *args]
        started = time.perf_counter()
        code = subprocess.call(runner, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        peak = int(out.read_text()) if out.exists() else 0
    return code, seconds, peak


def _count(out: str, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(out).metadata.num_rows)
    with open(out, "rb") as handle:
        return sum(1 for _ in handle) - (1 if fmt == "csv" else 0)


LIMITS = {"jsonl": 150 * MB, "csv": 150 * MB, "parquet": 250 * MB}


def run_size(records: int, db: str | None, formats: list[str], rounds: int) -> dict[str, int]:
    """Export ``records`` clients in each format; print a line each; return peak RSS."""
    args = ["--clients", str(records), *(["--db", db] if db else [])]
    peaks: dict[str, int] = {}
    with dizions_serve(*args) as (url, keys):
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DIZIONS_SOURCE": keys[0],
            "DIZIONS_ORG": keys[1],
            "DIZIONS_USER": keys[2],
            "DIZIONS_BASE_URL": url,
        }
        _, _, idle = peak_rss(_cli("--help"), env)
        print(f"records: {records}; interpreter + imports (dizions --help): {idle / MB:.0f} MB")
        rates: dict[str, list[float]] = {fmt: [] for fmt in formats}
        sizes: dict[str, float] = {}
        with tempfile.TemporaryDirectory() as folder:
            for _ in range(rounds):
                for fmt in formats:
                    out = os.path.join(folder, f"clients.{fmt}")
                    cmd = _cli("export", "clients", "--format", fmt, "--out", out)
                    code, seconds, peak = peak_rss(cmd, env)
                    if code != 0:
                        raise SystemExit(f"export to {fmt} failed with exit code {code}")
                    if _count(out, fmt) != records:
                        raise SystemExit(f"export to {fmt} holds the wrong number of records")
                    rates[fmt].append(records / seconds)
                    peaks[fmt] = max(peaks.get(fmt, 0), peak)
                    sizes[fmt] = os.path.getsize(out) / MB
        for fmt in formats:
            verdict = "ok" if peaks[fmt] < LIMITS[fmt] else f"OVER {LIMITS[fmt] // MB} MB"
            line = (
                f"{fmt:8}: {sizes[fmt]:5.0f} MB file, {statistics.median(rates[fmt]):8,.0f} "
                f"records/s, peak RSS {peaks[fmt] / MB:4.0f} MB ({verdict})"
            )
            if fmt != "jsonl" and "jsonl" in rates:
                ratios = [r / j for r, j in zip(rates[fmt], rates["jsonl"], strict=True)]
                line += f"; speed vs JSONL {statistics.median(ratios):.2f}"
            print(line)
    return peaks


def main(sizes: list[int], db_dir: str | None, formats: list[str], rounds: int) -> None:
    peaks = []
    for records in sizes:
        db = os.path.join(db_dir, f"fake-{records}.sqlite") if db_dir else None
        peaks.append(run_size(records, db, formats, rounds))
    if "parquet" in formats and len(peaks) > 1:
        parquet = [p["parquet"] for p in peaks]
        spread = max(parquet) / min(parquet)
        verdict = "ok" if spread <= 1.3 else "OVER 1.3x"
        print(f"parquet peak RSS, largest / smallest size: {spread:.2f}x ({verdict})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--formats", nargs="+", default=["jsonl", "csv", "parquet"])
    parser.add_argument("--db-dir", default=None)
    parsed = parser.parse_args()
    main(parsed.records, parsed.db_dir, parsed.formats, parsed.rounds)
