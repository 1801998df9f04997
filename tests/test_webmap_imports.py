"""The web package's imports: no cycle, nobody imports its ``__init__``, the engine imports none."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "webmap"
JS = WEB / "static" / "js"


def _modules() -> dict[str, Path]:
    found = {"planner_web": WEB / "__init__.py"}
    found |= {f"planner_web.{p.stem}": p for p in WEB.glob("*.py") if p.stem != "__init__"}
    return found


def _imports(path: Path) -> set[str]:
    """Every module of planner and planner_web that ``path`` imports, at any depth of its code."""
    modules = _modules()
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                # `from planner_web import api` imports the submodule, not the package's names.
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in modules else node.module)
    return {m for m in out if m.split(".")[0] in ("planner", "planner_web")}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_in_the_web_package():
    modules = _modules()
    graph = {name: _imports(path) & set(modules) for name, path in modules.items()}
    assert _cycles(graph) == []
    # The package's __init__ imports the blueprints; none of them imports it back.
    assert [name for name, deps in graph.items() if "planner_web" in deps] == []


def test_the_engine_imports_nothing_of_the_web_package():
    for path in (ROOT / "planner").rglob("*.py"):
        if "cli" in path.parts:  # `planner serve` is a shell over the web app
            continue
        assert not any(m.startswith("planner_web") for m in _imports(path)), path


def test_no_import_cycle_in_the_map_scripts():
    graph = {
        p.name: set(re.findall(r'^import [^;]*? from "\./([^"]+)";', p.read_text(), re.M))
        for p in JS.glob("*.js")
    }
    assert len(graph) > 5 and _cycles(graph) == []
