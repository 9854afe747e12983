"""Peak resident set size of the running process, for the memory benchmarks.

Imported by the scripts beside it (``python benchmarks/NAME.py`` puts this folder first
on ``sys.path``).
"""

from __future__ import annotations

import resource
import sys

MIB = 1024 * 1024


def peak_rss_mib() -> float:
    """The process's peak resident set size so far, in MiB.

    On Linux ``VmHWM`` of this memory image: ``ru_maxrss`` is carried over fork and exec,
    so a benchmark started by a large process (a test run) would report that parent's peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / MIB
