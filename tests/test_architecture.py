"""The one-way layering of ../shared/STYLE.md, checked on the import statements of every module:
imports point down the layers, search / ranking / ads never import each other, and no package has an
import cycle among its modules (module-level imports; ``TYPE_CHECKING`` and function-local ones run later)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"data": 0, "embeddings": 1, "features": 2, "search": 3, "ranking": 3, "ads": 3, "services": 4}


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


_TREES = {p: _parse(p) for pkg in LAYER for p in sorted((ROOT / pkg).rglob("*.py"))}
"""Every module parsed once at collection, before any test starts background threads: CPython 3.11's AST
construction is not thread-safe (gh-106905; CI saw ``SystemError: AST constructor recursion depth
mismatch`` in a pytest worker where a Ray session's threads were running)."""


def _tree(path: Path) -> ast.Module:
    return _TREES[path] if path in _TREES else _parse(path)


def _imports(path: Path) -> list[str]:
    tree = _tree(path)
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules() -> list[tuple[str, Path]]:
    return [(pkg, p) for pkg in LAYER for p in sorted((ROOT / pkg).rglob("*.py"))]  # the keys of _TREES


@pytest.mark.parametrize(("package", "path"), _modules(), ids=lambda v: str(v))
def test_imports_point_down_the_layers(package: str, path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        if top not in LAYER or top == package:
            continue
        assert LAYER[top] < LAYER[package], f"{path.relative_to(ROOT)} imports {name}: {package} may not import {top}"


def test_index_never_imports_the_encoder() -> None:
    for path in sorted((ROOT / "embeddings").glob("index*.py")):
        assert not any(n.startswith("embeddings.encoder") for n in _imports(path)), path


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from services.app import create_app\nimport ranking.model\n")
    assert _imports(bad) == ["services.app", "ranking.model"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``path`` imports when it is imported (not under ``TYPE_CHECKING``,
    not inside functions); ``from pkg import mod`` counts as importing ``pkg.mod``."""
    tree = _tree(path)
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    out: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name in known)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                for alias in node.names:
                    if f"{base}.{alias.name}" in known:
                        out.add(f"{base}.{alias.name}")
                    elif base in known:
                        out.add(base)
            elif isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body + node.orelse + node.finalbody)
                for handler in node.handlers:
                    visit(handler.body)

    visit(tree.body)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


@pytest.mark.parametrize("package", sorted(LAYER))
def test_no_import_cycles_inside_a_package(package: str) -> None:
    paths = {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}
    known = set(paths)
    graph = {name: _top_level_imports(path, known) - {name} for name, path in paths.items()}
    assert _cycles(graph) == [], f"import cycles in {package}/"


def test_the_cycle_checker_sees_a_cycle(tmp_path: Path) -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    module = ROOT / "search" / "engine.py"
    imported = _top_level_imports(module, {"search.request", "search.catalog", "ranking.model"})
    assert imported == {"search.request", "search.catalog"}
