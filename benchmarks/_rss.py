"""Peak resident set size of the running process, for the memory benchmarks.

Imported by the scripts beside it (``python benchmarks/NAME.py`` puts this folder first
on ``sys.path``).
"""

from __future__ import annotations

import resource
import sys

MIB = 1024 * 1024


def peak_rss_mib() -> float:
    """The process's peak resident set size so far, in MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / MIB
