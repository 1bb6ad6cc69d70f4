"""The one-way layering of ../shared/STYLE.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"data": 0, "embeddings": 1, "features": 2, "ranking": 3, "ads": 3, "services": 4}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules() -> list[tuple[str, Path]]:
    return [(pkg, p) for pkg in LAYER for p in sorted((ROOT / pkg).rglob("*.py"))]


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
