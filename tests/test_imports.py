"""The organizer tool's modules form a hierarchy: no two import each other, even lazily.

A cycle (once ``cli → executors → ray_executor → cli``, for an error class) makes import
order matter and hides which module owns a concept; function-level imports count too, since
they are how such cycles usually creep back in.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"generator": ROOT / "generator", "micokit": ROOT / "starting_kit" / "micokit"}


def import_graph(folder: Path) -> dict[str, set[str]]:
    """Module -> the sibling modules it imports anywhere in its body (relative imports)."""
    modules = {p.stem for p in folder.glob("*.py")}
    graph = {}
    for path in folder.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found |= {alias.name for alias in node.names}
        graph[path.stem] = found & modules - {path.stem}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated last), or None."""
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> list[str] | None:
        state[module] = "open"
        for dependency in sorted(graph[module]):
            if state.get(dependency) == "open":
                return trail[trail.index(dependency) :] + [dependency]
            if dependency not in state:
                cycle = visit(dependency, trail + [dependency])
                if cycle:
                    return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [module])
            if cycle:
                return cycle
    return None


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_module_imports_one_that_imports_it_back(package):
    cycle = find_cycle(import_graph(PACKAGES[package]))
    assert cycle is None, " → ".join(cycle or [])


def test_the_cycle_finder_finds_a_lazy_cycle(tmp_path):
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from . import a\n")
    (tmp_path / "c.py").write_text("from .a import y\n")
    assert find_cycle(import_graph(tmp_path)) == ["a", "b", "a"]
