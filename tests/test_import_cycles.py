"""Dependencies inside the package point one way: no module imports, even lazily or only
for type checking, a module that imports it back (directly or through others).

The graph is read from the source with ``ast``: every ``import`` statement counts,
including those inside functions and ``if TYPE_CHECKING:`` blocks, since a lazy import
is a cycle deferred, not removed. ``from dizions_async import X`` is an edge to the
package ``__init__`` unless ``X`` is a submodule.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "dizions_async"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module that importing ``name`` runs, or None if it is not ours."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` imports the submodule; `from pkg import name`, pkg.
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != module:
                    found.add(resolved)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules its import statements name."""
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


#: Cycles known and not yet folded, each with why. models.Record.to_dict() calls the
#: converter (_convert.record_to_wire) and the converter looks the models up, both lazily
#: so that `import dizions_async` does not build the model classes (issue 15). Remove the
#: entry once the models stop calling up into the converter.
KNOWN: list[list[str]] = [[f"{PACKAGE}._convert", f"{PACKAGE}.models"]]


def test_the_package_has_no_import_cycle() -> None:
    cycles = [c for c in find_cycles(import_graph()) if c not in KNOWN]
    assert cycles == [], f"import cycles: {cycles}"


def test_the_checker_sees_a_cycle_through_a_lazy_or_type_only_import() -> None:
    # The checker itself can fail: a two-module and a three-module cycle are found.
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert find_cycles(graph) == [["a", "b"], ["c", "d", "e"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_reads_lazy_type_only_and_package_imports(tmp_path: Path) -> None:
    modules = {
        PACKAGE: ROOT / "__init__.py",
        f"{PACKAGE}.query": ROOT / "query.py",
        f"{PACKAGE}.batching": ROOT / "batching.py",
    }
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        f"    from {PACKAGE}.query import Query\n"
        "def f():\n"
        f"    from {PACKAGE} import batching, __version__\n",
        encoding="utf-8",
    )
    found = _imports(f"{PACKAGE}.m", source, modules)
    assert found == {PACKAGE, f"{PACKAGE}.query", f"{PACKAGE}.batching"}
