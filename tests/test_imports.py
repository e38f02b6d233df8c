"""The organizer tool's modules form a hierarchy: no two import each other, even lazily.

A cycle (once ``cli → executors → ray_executor → cli``, for an error class) makes import
order matter and hides which module owns a concept; function-level imports count too, since
they are how such cycles usually creep back in.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"generator": ROOT / "generator", "micokit": ROOT / "starting_kit" / "micokit"}


def module_names(folder: Path) -> dict[str, Path]:
    """Dotted module name inside the package (``spec.presets``, ``cli``) -> its file."""
    names = {}
    for path in folder.rglob("*.py"):
        parts = path.relative_to(folder).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def import_graph(folder: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports anywhere in its body.

    Relative imports of any level are resolved the way Python resolves them, from the
    importing module's own package; the package itself (``from .. import __version__``)
    is not an edge, the modules named in ``from . import a`` are.
    """
    modules = module_names(folder)
    graph = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        package = [part for part in package if part]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            base = package[: len(package) - node.level + 1]
            target = base + (node.module.split(".") if node.module else [])
            if ".".join(target) in modules and node.module:
                found.add(".".join(target))
            for alias in node.names:
                candidate = ".".join(target + [alias.name])
                if candidate in modules:
                    found.add(candidate)
        graph[name] = found - {name, ""}
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


# The generator's layers, lowest first: what a competition *is* (the preset, its schedule,
# splits and seeds: no torch), then building models from it, then publishing them. A module
# may import its own layer and the ones below, so the flow in docs/layouts.md is the code's.
LAYERS = {"spec": 1, "build": 2, "publish": 3}
COMMAND_MODULES = {"cli", "commands", "status", "__main__"}


def layer(module: str) -> int:
    """0 for the shared plumbing at the top (errors, paths, writes, locks), 4 for commands."""
    head = module.split(".")[0]
    if head in LAYERS:
        return LAYERS[head]
    return 4 if head in COMMAND_MODULES else 0


def test_generator_layers_import_only_downwards():
    graph = import_graph(PACKAGES["generator"])
    upward = [
        f"{module} → {dependency}"
        for module, dependencies in sorted(graph.items())
        for dependency in sorted(dependencies)
        if layer(dependency) > layer(module)
    ]
    assert upward == []


def test_the_import_graph_resolves_relative_imports_across_subpackages(tmp_path):
    (tmp_path / "low").mkdir()
    (tmp_path / "high").mkdir()
    (tmp_path / "low" / "__init__.py").write_text("")
    (tmp_path / "high" / "__init__.py").write_text("")
    (tmp_path / "base.py").write_text("")
    (tmp_path / "low" / "a.py").write_text("from ..base import x\nfrom . import b\n")
    (tmp_path / "low" / "b.py").write_text("")
    (tmp_path / "high" / "c.py").write_text("def f():\n    from ..low.a import y\n")
    graph = import_graph(tmp_path)
    assert graph["low.a"] == {"base", "low.b"}
    assert graph["high.c"] == {"low.a"}


def test_the_spec_layer_loads_without_torch():
    # `plan`, `status` and every preset error message read the spec alone: they must not pay
    # for (or depend on) importing PyTorch.
    spec = sorted(m for m in module_names(PACKAGES["generator"]) if m.startswith("spec."))
    program = "import sys\n" + "".join(f"import generator.{m}\n" for m in spec)
    program += "print(sorted(n for n in ('torch', 'opacus', 'transformers') if n in sys.modules))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "starting_kit")]))
    found = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True
    )
    assert len(spec) >= 7
    assert found.stdout.strip() == "[]"
