"""The pure layers never import aiohttp (DESIGN.md: layers 1-3); the client leaves it to the
transport."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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
    "dizions_async._network",
    "dizions_async._otel",
    "dizions_async._fields",
    "dizions_async.models",
    "dizions_async._convert",
    "dizions_async._arrow",
    "dizions_async._redact",
    "dizions_async._text",
    "dizions_async.jobs._files",
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


#: Modules that may import aiohttp at run time (DESIGN.md: the transport makes the session).
AIOHTTP_ALLOWED = {"transport.py"}


def _runtime_imports(path: Path) -> set[str]:
    """Top-level module names imported by ``path``, outside ``if TYPE_CHECKING:`` blocks."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                names.update(alias.name.split(".")[0] for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                names.add(child.module.split(".")[0])
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return names


PACKAGE = Path(__file__).resolve().parent.parent / "dizions_async"
CLIENT_MODULES = ["client.py", "_core.py", "_client_writes.py", "_client_batching.py"]


@pytest.mark.parametrize("name", CLIENT_MODULES)
def test_client_modules_leave_aiohttp_to_the_transport(name: str) -> None:
    assert name not in AIOHTTP_ALLOWED
    assert "aiohttp" not in _runtime_imports(PACKAGE / name)


def test_the_transport_is_where_aiohttp_is_imported() -> None:
    # The check above must be able to fail: it sees the transport's import.
    assert "aiohttp" in _runtime_imports(PACKAGE / "transport.py")
