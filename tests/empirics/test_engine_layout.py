"""The execution layer's shape: the engine, its drivers and the planner in modules of at most
400 lines and functions of at most 60, no private name imported across modules, no import cycle
through them (``TYPE_CHECKING`` and function-level imports count), and one module per family."""

from __future__ import annotations

import ast
from pathlib import Path

import empirics

PKG = Path(empirics.__file__).parent
DRIVERS = ("sweep", "jvp", "generate", "decoding", "cache", "sequence", "steering", "models",
           "reading_vectors", "hooked", "inputs", "plan_file")
MAX_LINES, MAX_FUNCTION = 400, 60


def _name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _owned() -> list[Path]:
    files = [PKG / f"{m}.py" for m in DRIVERS]
    return files + sorted((PKG / "engine").rglob("*.py")) + sorted((PKG / "plan").glob("*.py"))


def _edges(path: Path) -> set[str]:
    """Every ``empirics`` module ``path`` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("empirics"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("empirics")}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_name(p): p for p in PKG.rglob("*.py")}
    return {m: {e for e in _edges(p) if e in modules and e != m} for m, p in modules.items()}


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start, if any."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def test_modules_and_functions_are_small() -> None:
    for path in _owned():
        text = path.read_text()
        assert len(text.splitlines()) <= MAX_LINES, (path, len(text.splitlines()))
        for fn in ast.walk(ast.parse(text)):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = (fn.end_lineno or fn.lineno) - fn.lineno + 1
                assert size <= MAX_FUNCTION, (path, fn.name, size)


def test_no_private_name_crosses_a_module() -> None:
    for path in _owned():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("empirics"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, (path, node.module, private)


def test_no_import_cycle_through_the_execution_layer() -> None:
    graph = _graph()
    for path in _owned():
        assert _cycle_through(graph, _name(path)) is None, _cycle_through(graph, _name(path))


def test_the_cycle_finder_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle_through(graph, "a") == ["a", "b", "c", "a"]
    assert _cycle_through(graph, "d") is None
    code = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from empirics.x import A\n"
            "def f():\n    from empirics.y import B\n")
    (tmp_path / "m.py").write_text(code)
    assert {"empirics.x", "empirics.y"} <= _edges(tmp_path / "m.py")


def test_one_module_per_family() -> None:
    """Every module of ``engine/families`` names its adapter ``FAMILY``; ``adapters`` finds
    them all (so adding a family touches one file), and no model type has two adapters."""
    from empirics.engine.families import adapters

    modules = [p for p in (PKG / "engine" / "families").glob("*.py") if p.stem != "__init__"]
    found = adapters()
    assert len(found) == len(modules) >= 2
    types = [t for a in found for t in a.model_types]
    assert len(types) == len(set(types)) and {"llama", "mistral", "qwen2", "qwen3"} <= set(types)
