"""The layout of ``empirics.wolf``: small modules, no cycle, theory only through
``empirics.formulas``, and a narrow coupling to the default protocol (whose pipeline, results
and report are being rewritten): none of their modules is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import empirics.wolf

PKG = Path(empirics.wolf.__file__).parent
FORBIDDEN = {"empirics.pipeline", "empirics.results", "empirics.report", "empirics.measures",
             "empirics.validate", "empirics.verdicts", "empirics.theory_link"}


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text()) for p in PKG.glob("*.py")}


def _imported(tree: ast.Module) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_no_forbidden_imports_and_theory_only_through_formulas() -> None:
    for name, tree in _modules().items():
        imported = _imported(tree)
        assert not imported & FORBIDDEN, (name, imported & FORBIDDEN)
        assert not any(m == "theory" or m.startswith("theory.") for m in imported), name


def test_no_cycle_inside_the_package() -> None:
    graph = {name: {m.split(".")[2] for m in _imported(tree)
                    if m.startswith("empirics.wolf.") and m.count(".") == 2}
             for name, tree in _modules().items()}
    seen: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        seen[m] = 1
        for n in graph.get(m, set()):
            assert seen.get(n) != 1, f"import cycle {path + [n]}"
            if n not in seen:
                visit(n, path + [n])
        seen[m] = 2

    for m in graph:
        if m not in seen:
            visit(m, [m])


def test_small_modules_and_functions() -> None:
    for p in PKG.glob("*.py"):
        assert len(p.read_text().splitlines()) <= 400, p.name
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 60, f"{p.name}:{node.name} has {length} lines"
