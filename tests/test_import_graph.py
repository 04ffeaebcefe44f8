"""The import graph of ``simbarl/`` goes only down its declared layers, has no cycle,
and every module imports.

A cycle or an upward import is how a layered package decays: the loops, the
agent loader and the warm start once imported each other, held together by
imports hidden inside functions. The graph here counts those function-level
imports too. The layers are declared once, bottom-up, in ``simbarl/layers.py``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import simbarl
from simbarl.layers import layer_block, layer_names

ROOT = Path(simbarl.__file__).parent
DOCS = ROOT.parent / "docs"
OPTIONAL = ("humanoid_bench", "myosuite", "playground", "mujoco_playground", "ray", "minari")


def _module_name(path: Path, base: Path = ROOT.parent) -> str:
    parts = path.relative_to(base).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str], base: Path = ROOT.parent) -> set[str]:
    """simbarl modules that ``path`` imports, anywhere in the file."""
    name = _module_name(path, base)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # `from pkg import mod` imports the module pkg.mod when it is one
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """``{module: simbarl modules it imports}`` of the package at ``root``."""
    files = sorted(root.rglob("*.py"))
    modules = {_module_name(f, root.parent) for f in files}
    return {_module_name(f, root.parent): _imports(f, modules, root.parent) for f in files}


def _layer(module: str, layers: list[str]) -> int | None:
    """The layer index of ``module``; the package root (the public API) is above all."""
    parts = module.split(".")
    if len(parts) == 1:
        return len(layers)
    return layers.index(parts[1]) if parts[1] in layers else None


def upward_imports(graph: dict[str, set[str]], layers: list[str]) -> list[str]:
    """Every import of ``graph`` into a higher layer, and every module of no layer,
    as readable lines (``layers`` bottom-up)."""
    problems = []
    for module, deps in sorted(graph.items()):
        own = _layer(module, layers)
        if own is None:
            problems.append(f"{module}: in no layer of simbarl/layers.py")
            continue
        for dep in sorted(deps):
            to = _layer(dep, layers)
            if to is not None and to > own:
                problems.append(f"{module} ({layers[own]}) imports {dep} ({layers[to]}, above)")
    return problems


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_graph_sees_function_level_imports():
    graph = import_graph()
    # simbarl/cli.py imports its commands inside functions; they must be edges.
    assert "simbarl.train.run" in graph["simbarl.cli"]


def test_simbarl_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_upward_imports_finds_a_planted_upward_import():
    layers = ["config", "runs", "train"]
    graph = {
        "simbarl": {"simbarl.train.run"},  # the public API may import any layer
        "simbarl.config.io": {"simbarl.config.schema"},
        "simbarl.runs.load": {"simbarl.config.io", "simbarl.train.learner"},
        "simbarl.train.learner": {"simbarl.runs.load"},
        "simbarl.extras": set(),
    }
    assert upward_imports(graph, layers) == [
        "simbarl.extras: in no layer of simbarl/layers.py",
        "simbarl.runs.load (runs) imports simbarl.train.learner (train, above)",
    ]
    del graph["simbarl.extras"], graph["simbarl.runs.load"]
    assert upward_imports(graph, layers) == []


def test_simbarl_imports_only_go_down_the_declared_layers():
    problems = upward_imports(import_graph(), layer_names())
    assert not problems, "imports against simbarl/layers.py:\n  " + "\n  ".join(problems)


def test_every_declared_layer_exists():
    for name in layer_names():
        assert (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file(), name


def test_architecture_page_draws_the_declared_layers():
    """The page's layer block is generated from ``simbarl/layers.py`` (so it cannot
    drift), and the generated block lists every layer, top-down."""
    assert "<!-- generated: layers -->" in (DOCS / "architecture.md").read_text()
    block = layer_block()
    listed = [
        line.split()[0].removesuffix("/").removesuffix(".py") for line in block.splitlines()[1:-1]
    ]
    assert listed == layer_names()[::-1]


@pytest.mark.parametrize("module", sorted(import_graph()))
def test_every_module_imports(module):
    try:
        importlib.import_module(module)
    except ImportError as e:  # an optional extra that is not installed
        if not any(name in str(e) for name in OPTIONAL):
            raise
