"""A process's own peak memory, and a runner that reports it for any module.

``ru_maxrss`` is no good for a child process on Linux: it is carried over fork and exec,
so a child of a large pytest process reports its parent's size (376 MB after the whole
suite). ``VmHWM`` belongs to the memory image exec made.

As a program: ``python tests/peak_rss.py OUT MODULE [ARGS...]`` runs ``MODULE`` as
``python -m MODULE ARGS...`` would and, when the process exits, writes its peak RSS in
bytes to the file ``OUT``.
"""

from __future__ import annotations

import atexit
import resource
import runpy
import sys
from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's own peak resident set size, in bytes."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    out, module, *args = sys.argv[1:]
    atexit.register(lambda: Path(out).write_text(str(peak_rss_bytes())))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
