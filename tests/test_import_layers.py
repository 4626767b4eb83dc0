"""The house's import structure: no circle between hdfbench modules, and no arrow from a lower layer of
docs/architecture.md §2 ("The import layers") to a higher one; function-level imports count."""

from __future__ import annotations

import ast
import re

from tests.helpers import REPO

PACKAGE = REPO / "hdfbench"


def module_names() -> dict[str, object]:
    """Return every hdfbench module name → its file (a package by its ``__init__``)."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(modules: dict) -> dict[str, set[str]]:
    """Return module → the hdfbench modules its import statements name (anywhere in the file)."""
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                named = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                named = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in named:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith("hdfbench") and target != name:
                    targets.add(target)
        edges[name] = targets
    return edges


def layers() -> list[list[str]]:
    """Return the rows of the import-layer table of docs/architecture.md, top first."""
    text = (REPO / "docs/architecture.md").read_text()
    table = re.search(r"<!-- import-layers: top to bottom -->(.*?)<!-- /import-layers -->", text, re.S)
    assert table, "docs/architecture.md has no import-layer table"
    rows = [line for line in table.group(1).strip().splitlines()[2:] if line.startswith("|")]
    return [re.findall(r"`([\w.]+)`", row.split("|")[2]) for row in rows]


def layer_of(module: str, rows: list[list[str]]) -> int | None:
    """Return the row index (0 = top) of ``module``'s longest listed prefix."""
    best = None
    for i, row in enumerate(rows):
        for prefix in row:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (i, len(prefix))
    return None if best is None else best[0]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return every strongly connected set of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert cycles(imports(module_names())) == []


def test_every_import_arrow_points_down_the_documented_layers():
    rows = layers()
    edges = imports(module_names())
    unplaced = sorted(m for m in edges if layer_of(m, rows) is None)
    assert not unplaced, f"modules in no row of docs/architecture.md's import-layer table: {unplaced}"
    upward = [
        f"{m} ({rows[layer_of(m, rows)][0]}) -> {t} ({rows[layer_of(t, rows)][0]})"
        for m, targets in sorted(edges.items())
        for t in sorted(targets)
        if layer_of(t, rows) < layer_of(m, rows)
    ]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_the_checks_see_a_circle_and_an_upward_arrow():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    rows = [["hdfbench.cli"], ["hdfbench.config"], ["hdfbench"]]
    assert layer_of("hdfbench.config.loading", rows) == 1 and layer_of("hdfbench.registry", rows) == 2
