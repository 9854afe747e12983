"""The pure layers never import aiohttp (DESIGN.md: layers 1-3)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = [
    "dizions_async.protocol",
    "dizions_async.retry",
    "dizions_async.query",
    "dizions_async.catalogue",
    "dizions_async.results",
    "dizions_async._config",
    "dizions_async._writes",
    "dizions_async.batching",
    "dizions_async._concurrency",
    "dizions_async._streaming",
]


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_with_aiohttp_blocked(module: str) -> None:
    # Import the module file directly, bypassing the package __init__ (which pulls in
    # the client); a None entry in sys.modules makes any `import aiohttp` fail.
    code = (
        "import sys, importlib, types, pathlib\n"
        "sys.modules['aiohttp'] = None\n"
        "pkg = types.ModuleType('dizions_async')\n"
        "pkg.__path__ = [str(pathlib.Path('dizions_async').resolve())]\n"
        "sys.modules['dizions_async'] = pkg\n"
        f"importlib.import_module({module!r})\n"
        "assert 'aiohttp' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
