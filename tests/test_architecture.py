"""Rules of the code's shape that import-linter cannot see (its contracts are in pyproject.toml and
run by ./scripts/test): where units of work begin and end, and no import hidden inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "coopmarket"
# Generated Alembic revisions are data, not code.
MODULES = sorted(p for p in SRC.rglob("*.py") if "versions" not in p.parts)
# Where units of work are opened and ended (db.py) and where Alembic's connection is committed.
ENDS_UNITS_OF_WORK = {SRC / "db.py", SRC / "migrate.py", SRC / "migrations" / "env.py"}


def _calls(tree: ast.AST) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.func.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    ]


def test_the_modules_are_found() -> None:
    assert SRC / "db.py" in MODULES and SRC / "flows" / "payment.py" in MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_only_the_opener_of_a_unit_of_work_ends_it(path: Path) -> None:
    """``Database.unit_of_work()`` opens, commits and rolls back sessions; nothing else does (db.py)."""
    if path in ENDS_UNITS_OF_WORK:
        return
    found = [
        f"{path.relative_to(SRC)}:{line} .{name}()"
        for line, name in _calls(ast.parse(path.read_text(encoding="utf-8")))
        if name in {"commit", "rollback", "session"}
    ]
    assert found == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_of_ours_is_imported_inside_a_function(path: Path) -> None:
    """A function-local import is how a cycle between slices hides from the linter and the reader."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if id(node) in top_level:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("coopmarket"):
            found.append(f"{path.relative_to(SRC)}:{node.lineno} from {node.module}")
        if isinstance(node, ast.Import) and any(a.name.startswith("coopmarket") for a in node.names):
            found.append(f"{path.relative_to(SRC)}:{node.lineno} import")
    assert found == []


def test_a_slice_s_models_are_imported_by_that_slice_only() -> None:
    """A slice reads another slice's tables through its service, never its models (ARCHITECTURE.md).

    Only the slice itself, the aggregate ``coopmarket.models`` and the migrations may import
    ``coopmarket.<slice>.models``; this holds for every slice, present and future.
    """
    graph = grimp.build_graph("coopmarket")
    found = []
    for module in sorted(graph.modules):
        parts = module.split(".")
        if len(parts) != 3 or parts[2] != "models" or parts[1] == "core":
            continue
        owner = f"coopmarket.{parts[1]}"
        for importer in sorted(graph.find_modules_that_directly_import(module)):
            if importer == "coopmarket.models" or importer.startswith((owner + ".", "coopmarket.migrations")):
                continue
            found.append(f"{importer} imports {module}")
    assert found == []
