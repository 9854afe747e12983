"""Peak memory of ``dizions export`` over 100,000 records, to JSONL and to CSV.

``dizions serve --clients 100000`` runs in its own process (its memory is not counted);
each export runs as a separate ``dizions export clients --out FILE`` process, and its
peak resident set size is read from the kernel when it exits (``os.wait4``). The CSV run
has no ``--fields``, so it takes the two-pass path (records spooled as JSONL while the
column union grows). For scale, the peak of ``dizions --help`` (interpreter and imports
only) is printed too. Target: each export's peak under 150 MB.

Run: ``python benchmarks/bench_export_memory.py [--records 100000] [--db PATH]``
(``--db`` keeps the seeded server data between runs: seeding 100,000 clients takes a while.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from _servers import ROOT, dizions_serve

MB = 1024 * 1024


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dizions_async.cli", *args]


def peak_rss(cmd: list[str], env: dict[str, str]) -> tuple[int, float, int]:
    """Run ``cmd``; return its exit status, seconds taken and peak RSS in bytes."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in kilobytes on Linux
    return proc.returncode, time.perf_counter() - started, usage.ru_maxrss * 1024


def main(records: int, db: str | None) -> None:
    args = ["--clients", str(records), *(["--db", db] if db else [])]
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
        with tempfile.TemporaryDirectory() as folder:
            for fmt in ("jsonl", "csv"):
                out = os.path.join(folder, f"clients.{fmt}")
                code, seconds, peak = peak_rss(_cli("export", "clients", "--out", out), env)
                if code != 0:
                    raise SystemExit(f"export to {fmt} failed with exit code {code}")
                with open(out, "rb") as handle:
                    lines_out = sum(1 for _ in handle) - (1 if fmt == "csv" else 0)
                size = os.path.getsize(out) / MB
                verdict = "ok" if peak < 150 * MB else "OVER 150 MB"
                print(
                    f"{fmt:5}: {lines_out} records, {size:.0f} MB file, {seconds:.1f}s, "
                    f"peak RSS {peak / MB:.0f} MB ({verdict})"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--db", default=None)
    parsed = parser.parse_args()
    main(parsed.records, parsed.db)
