"""The import graph: no cycles, and S2I's assemble never loads the container tools' owners.

Read from the source (module-level imports, outside `if TYPE_CHECKING:`), so the test
sees what a newcomer reads. `from package import module` counts as importing the module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ((ROOT / "builder", "nb2svc"), (ROOT / "runtimes", "nb2svc_runtime"))


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root, package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = here[: len(here) - node.level + 1] if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            submodules = {f"{base}.{a.name}" for a in node.names} & known.keys()
            found.update(submodules or {base})
    return found & known.keys()


GRAPH = {name: imported(name, path, modules()) for name, path in modules().items()}


def cycles() -> Iterator[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> Iterator[list[str]]:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                yield from visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            if len(component) > 1:
                yield sorted(component)

    for v in sorted(GRAPH):
        if v not in index:
            yield from visit(v)


def closure(name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(GRAPH[module])
    return seen


def test_the_graph_was_read() -> None:
    assert "nb2svc.plan" in GRAPH["nb2svc.pipeline"]
    assert "nb2svc.plan" in GRAPH["nb2svc.s2i.assemble"]


def test_no_module_imports_itself_through_others() -> None:
    assert list(cycles()) == []


@pytest.mark.parametrize("owner", ["nb2svc.engine.buildah", "nb2svc.engine.podman"])
def test_s2i_assemble_never_loads_a_container_tool(owner: str) -> None:
    assert owner not in closure("nb2svc.s2i.assemble")


def test_the_builder_and_the_runtime_share_only_the_contract() -> None:
    builder = {m for m in GRAPH if m.startswith("nb2svc.")}
    used = {dep for m in builder for dep in GRAPH[m] if dep.startswith("nb2svc_runtime")}
    assert used <= {"nb2svc_runtime", "nb2svc_runtime.contract"}
    runtime = {m for m in GRAPH if m.startswith("nb2svc_runtime")}
    assert not any(dep.startswith("nb2svc.") for m in runtime for dep in GRAPH[m])
