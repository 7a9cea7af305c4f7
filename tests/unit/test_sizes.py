"""Sizes as a habit: no module in engine/ or notifications/ over 500 lines, no class over 300
(migrations are exempt). A module that grows past this wants splitting along what it owns;
docs/architecture.md says where things go."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "notifications")
EXEMPT = (REPO / "engine" / "migrations",)
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300


def modules() -> list[Path]:
    found = [p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))]
    return [p for p in found if not any(p.is_relative_to(root) for root in EXEMPT)]


def classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]


def test_the_packages_are_found() -> None:
    names = {p.relative_to(REPO).as_posix() for p in modules()}
    assert "engine/cli/main.py" in names and "notifications/outbox.py" in names
    assert not any(name.startswith("engine/migrations/") for name in names)


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_module_and_class_sizes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{lines} lines; split the module"
    for node in classes(ast.parse(text, filename=str(path))):
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        assert length <= MAX_CLASS_LINES, f"class {node.name} has {length} lines; split it"


def test_the_limits_catch_a_long_class() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_CLASS_LINES + 1))
    (node,) = classes(ast.parse(f"class Big:\n{body}\n"))
    assert (node.end_lineno or 0) - node.lineno + 1 > MAX_CLASS_LINES
