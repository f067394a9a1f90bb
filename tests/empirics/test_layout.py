"""The layout of ``empirics`` (sub-packages included): no import cycle — imports under
``TYPE_CHECKING`` and inside functions count as edges —, modules ≤ 400 lines and functions ≤ 60
lines, no module importing another's private names, the report importing no computation, imports
at the top of each module, ``theory`` reached only through ``formulas``, a small public surface.

Exceptions are named here with their reason, and each is justified in docs/architecture.md
("Exceptions to the layout rules"); a listed exception that no longer occurs fails too (remove it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import empirics

PKG = Path(empirics.__file__).parent
DOCS = PKG.parent / "docs" / "architecture.md"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

#: Import cycles allowed for now: the planner and its report import each other (a function-level
#: import one way, a TYPE_CHECKING one the other).
KNOWN_CYCLES: dict[frozenset[str], str] = {}
#: Modules (``name``) and functions (``name:qualname``) over the size limits.
SIZE_EXCEPTIONS: dict[str, str] = {}
#: Modules that import ``empirics`` inside functions.
INNER_IMPORT_EXCEPTIONS: dict[str, str] = {}
#: (importing module, imported module) pairs that take private names.
PRIVATE_IMPORT_EXCEPTIONS: dict[tuple[str, str], str] = {}
#: Modules that compute (sweeps, passes, fits, theory): the output layer imports none of them.
COMPUTATION = {"pipeline", "prepared", "directions", "analysis", "curves", "recommend",
               "formulas", "fits", "verdicts", "theory_link", "jvp", "sweep",
               "cache", "generate", "sequence", "generation_stage", "validate", "plan", "engine"}


# ------------------------------------------------------------------------------ the graph
@dataclass(frozen=True)
class Import:
    """One ``import``/``from … import`` of an ``empirics`` module."""

    target: str          # the module imported (dotted, relative to the package)
    names: tuple[str, ...]
    line: int
    in_function: bool


def module_names(root: Path = PKG) -> dict[str, Path]:
    """Dotted module names under ``root`` (``engine.kv``; a package is its ``__init__``; the
    package's own ``__init__`` is ``""``)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, known: set[str]) -> str | None:
    """The longest known module that ``name`` (dotted) starts with."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in known:
            return ".".join(parts)
        parts.pop()
    return None


def _function_nodes(tree: ast.Module) -> set[int]:
    return {id(n) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(fn)}


def imports(module: str, root: Path = PKG) -> list[Import]:
    """Every import of a package module by ``module``: at the top, under ``TYPE_CHECKING`` or
    inside a function alike."""
    names = module_names(root)
    known = set(names)
    path = names[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    inner = _function_nodes(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                dotted = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module == "empirics" or (node.module or "").startswith("empirics."):
                dotted = (node.module or "")[len("empirics."):]
            else:
                continue
            for alias in node.names:   # ``from pkg import submodule`` imports the submodule
                sub = f"{dotted}.{alias.name}" if dotted else alias.name
                target = sub if sub in known else _resolve(dotted, known)
                if target is not None and target != "":
                    out.append(Import(target, (alias.name,), node.lineno, id(node) in inner))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("empirics."):
                    target = _resolve(alias.name[len("empirics."):], known)
                    if target:
                        out.append(Import(target, (), node.lineno, id(node) in inner))
    return out


def graph(root: Path = PKG) -> dict[str, set[str]]:
    return {m: {i.target for i in imports(m, root)} - {m} for m in module_names(root) if m}


def cycles(g: dict[str, set[str]]) -> list[frozenset[str]]:
    """The import cycles: strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        for n in sorted(g.get(m, ())):
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in stack:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            comp = []
            while True:
                n = stack.pop()
                comp.append(n)
                if n == m:
                    break
            if len(comp) > 1:
                found.append(frozenset(comp))

    for m in sorted(g):
        if m not in index:
            visit(m)
    return found


# ------------------------------------------------------------------------------ sizes
def oversized(root: Path = PKG) -> Iterator[tuple[str, int]]:
    """(``module`` or ``module:qualname``, lines) over the limits."""
    for name, path in module_names(root).items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            yield name, len(text.splitlines())
        yield from ((f"{name}:{q}", n) for q, n in _function_lengths(ast.parse(text))
                    if n > MAX_FUNCTION_LINES)


def _function_lengths(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            yield f"{prefix}{node.name}", node.end_lineno - node.lineno + 1
            yield from _function_lengths(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _function_lengths(node, f"{prefix}{node.name}.")
        else:
            yield from _function_lengths(node, prefix)


# ------------------------------------------------------------------------------ the rules
def test_no_import_cycle() -> None:
    found = set(cycles(graph()))
    new = found - set(KNOWN_CYCLES)
    assert not new, f"import cycles (TYPE_CHECKING and function-level imports count): {new}"
    assert not set(KNOWN_CYCLES) - found, "a listed cycle is gone: remove it from KNOWN_CYCLES"


def test_cycle_detector_sees_hidden_edges(tmp_path: Path) -> None:
    """A cycle closed by a TYPE_CHECKING import or an import inside a function, in a
    sub-package with relative imports, is found; a clean package has none."""
    (tmp_path / "engine").mkdir()
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "engine" / "__init__.py").write_text("from .kv import Cache\n")
    (tmp_path / "engine" / "kv.py").write_text("from empirics.engine import Step\n")
    (tmp_path / "engine" / "step.py").write_text("x = 1\n")
    (tmp_path / "stage.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from empirics.run import Run\n")
    (tmp_path / "run.py").write_text("def go():\n    from empirics import stage\n")
    found = set(cycles(graph(tmp_path)))
    assert found == {frozenset({"stage", "run"}), frozenset({"engine", "engine.kv"})}
    (tmp_path / "run.py").write_text("x = 1\n")
    (tmp_path / "engine" / "kv.py").write_text("from . import step\n")
    assert cycles(graph(tmp_path)) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [frozenset("abc")]


def test_sizes() -> None:
    found = dict(oversized())
    new = {k: v for k, v in found.items() if k not in SIZE_EXCEPTIONS}
    assert not new, (f"modules over {MAX_MODULE_LINES} lines or functions over "
                     f"{MAX_FUNCTION_LINES} lines: {new}")
    assert not set(SIZE_EXCEPTIONS) - set(found), (
        f"no longer over the limit, remove from SIZE_EXCEPTIONS: "
        f"{set(SIZE_EXCEPTIONS) - set(found)}")


def test_size_check_sees_methods_and_nested_functions(tmp_path: Path) -> None:
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "big.py").write_text(f"class A:\n    def m(self):\n{body}\n\n\ndef f():\n"
                                     f"    def g():\n{body}\n")
    assert {k for k, _ in oversized(tmp_path)} == {"big:A.m", "big:f", "big:f.g"}


EXCEPTIONS_HEADING = "## Exceptions to the layout rules"


def test_exceptions_are_justified_in_the_docs() -> None:
    text = DOCS.read_text()
    assert EXCEPTIONS_HEADING in text, f"docs/architecture.md needs a section {EXCEPTIONS_HEADING!r}"
    docs = text.split(EXCEPTIONS_HEADING, 1)[1].split("\n## ", 1)[0]
    named = [*SIZE_EXCEPTIONS, *INNER_IMPORT_EXCEPTIONS,
             *(" ↔ ".join(sorted(c)) for c in KNOWN_CYCLES),
             *(f"{a} → {b}" for a, b in PRIVATE_IMPORT_EXCEPTIONS)]
    missing = [n for n in named if f"`{n}`" not in docs]
    assert not missing, f"docs/architecture.md does not justify: {missing}"


def test_imports_at_the_top() -> None:
    inner = {m for m in module_names() if m and any(i.in_function for i in imports(m))}
    assert inner <= set(INNER_IMPORT_EXCEPTIONS), f"imports inside functions: {inner}"
    assert set(INNER_IMPORT_EXCEPTIONS) <= inner, "stale INNER_IMPORT_EXCEPTIONS entry"


def test_no_private_names_across_modules() -> None:
    found = {(m, i.target) for m in module_names() if m for i in imports(m)
             if any(n.startswith("_") for n in i.names)}
    assert found <= set(PRIVATE_IMPORT_EXCEPTIONS), f"private names imported: {found}"
    assert set(PRIVATE_IMPORT_EXCEPTIONS) <= found, "stale PRIVATE_IMPORT_EXCEPTIONS entry"


def test_output_layer_imports_no_computation() -> None:
    for m in ("report", "generation_report", "plots"):
        top = {i.target.split(".")[0] for i in imports(m)}
        assert not top & COMPUTATION, (m, top & COMPUTATION)
    # and the stages do not call back into the command line or the report
    for m in ("pipeline", "prepared", "analysis"):
        assert not {i.target for i in imports(m)} & {"validate", "report"}, m


def test_formulas_is_the_only_door_to_theory() -> None:
    for name, path in module_names().items():
        if name == "formulas":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mods = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not any(m == "theory" or m.startswith("theory.") for m in mods), name


def test_public_surface_small_and_documented() -> None:
    assert len(empirics.__all__) <= 20
    for name in empirics.__all__:
        obj = getattr(empirics, name)
        assert (obj.__doc__ or "").strip(), name
