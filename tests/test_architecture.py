"""The layout's rules, checked on the source: shared pieces know no task, and no module-level import
cycle (a cycle makes what works depend on which module happens to be imported first)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import visiontk

PACKAGE = Path(visiontk.__file__).parent
TASKS = ("style", "face", "gan", "sr", "similar", "cli", "server")   # server: like cli, it knows every task
SHARED = ("backbones", "weights", "serving", "imageio", "videoio", "runtime", "training", "charts", "errors",
          "plugins")


TASK_MODULE = re.compile(rf"visiontk\.({'|'.join(TASKS)})(\.\w+)*(:\w+)?")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports() -> dict[str, set[str]]:
    """Each visiontk module -> the visiontk modules it imports at load time (top level, not in functions)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("visiontk"):
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("visiontk"))
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def part_of(module: str) -> str:
    """The top-level piece a module belongs to: visiontk.sr.data -> sr, visiontk.runtime -> runtime."""
    return (module.split(".") + [""])[1]


def test_shared_pieces_import_no_task():
    offenders = [f"{name} imports {dep}" for name, deps in module_imports().items()
                 if part_of(name) in SHARED for dep in deps if part_of(dep) in TASKS]
    assert offenders == []


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}       # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            # A package's __init__ re-exporting its own submodules is not a cycle of the layout.
            if node == dep.rsplit(".", 1)[0]:
                continue
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return cycles


def test_the_cycle_finder_finds_cycles():
    assert find_cycles({"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}}) == [["a.x", "a.y", "a.z", "a.x"]]
    assert find_cycles({"a": {"a.x"}, "a.x": {"a"}}) == []      # a package re-exporting its submodule


def test_no_import_cycle():
    assert find_cycles(module_imports()) == []


def test_shared_pieces_name_no_task_module():
    """Not even by a string (importlib.import_module("visiontk.sr...")): tasks plug in (visiontk.plugins)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if part_of(module_name(path)) in SHARED:
            offenders += [f"{module_name(path)}: {node.value}" for node in ast.walk(ast.parse(path.read_text()))
                          if isinstance(node, ast.Constant) and isinstance(node.value, str)
                          and TASK_MODULE.fullmatch(node.value)]
    assert offenders == []


def test_every_task_registers_its_weights_through_the_plugin_group():
    from visiontk import weights
    from visiontk.plugins import load_catalogs

    assert set(load_catalogs()) == {"backbones", "style", "face", "gan", "sr"}
    tags = {tag for spec in weights.all_specs() for tag in spec.tags}
    assert {"backbone", "style", "face", "gan", "sr"} <= tags


def test_builders_take_weights_like_keras_applications(tmp_path):
    """weights=None: fresh; a .weights.h5 path: loaded; a name that is neither: a WeightsError."""
    import numpy as np
    import pytest

    from visiontk.backbones.edsr import EDSR
    from visiontk.errors import WeightsError
    from visiontk.training import save_weights

    trained = EDSR(2, blocks=1, features=8)
    path = save_weights(trained, tmp_path / "tiny.weights.h5")
    loaded = EDSR(2, blocks=1, features=8, weights=path)
    assert all(np.array_equal(a, b) for a, b in zip(trained.get_weights(), loaded.get_weights()))
    with pytest.raises(WeightsError, match="no such weights file or registry name"):
        EDSR(2, blocks=1, features=8, weights=tmp_path / "missing.weights.h5")
    with pytest.raises(WeightsError, match="do not fit"):
        EDSR(3, blocks=2, features=8, weights=path)


CONTRACT_MODULES = ("training", "export", "model", "evaluate")


def test_the_cli_imports_only_the_public_names_of_task_packages():
    """`visiontk/cli/` uses a task the way a Python user would: names in the package's __all__ (or its
    contract modules, below), never a task's inner modules; so a task can rearrange its rooms freely."""
    import importlib

    offenders = []
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("visiontk."):
                continue
            parts = node.module.split(".")
            if parts[1] not in TASKS or parts[1] in ("cli", "server"):
                continue
            if len(parts) > 2 and parts[2] not in CONTRACT_MODULES:
                offenders.append(f"{path.name}: from {node.module} import ...")
                continue
            public = importlib.import_module(node.module)
            exported = set(getattr(public, "__all__", ())) | set(CONTRACT_MODULES) if len(parts) == 2 else None
            for alias in node.names:
                if alias.name.startswith("_") or (exported is not None and alias.name not in exported):
                    offenders.append(f"{path.name}: from {node.module} import {alias.name}")
    assert offenders == []


def test_every_module_says_what_it_holds():
    """A one-line docstring at the top of every module: a newcomer reads it before opening the file."""
    missing = [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))
               if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []
