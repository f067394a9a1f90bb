"""The layout of ``empirics``: no import cycle, the report imports no computation, the top
modules import at the top (no imports hidden inside functions), a small public surface."""

from __future__ import annotations

import ast
from pathlib import Path

import empirics

PKG = Path(empirics.__file__).parent
TOP = ("validate", "pipeline", "report", "results", "settings", "prompts", "cache", "jvp",
       "estimates", "formulas", "verdicts", "theory_link")


def _imports(module: str) -> tuple[set[str], list[int]]:
    """empirics modules imported by ``module`` and the line numbers of imports in functions."""
    tree = ast.parse((PKG / f"{module}.py").read_text())
    found: set[str] = set()
    inner: list[int] = []
    # Imports under `if TYPE_CHECKING:` are for annotations only and make no runtime edge.
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "empirics":
                found |= {a.name for a in node.names}
            elif node.module.startswith("empirics."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("empirics.")}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner += [n.lineno for n in ast.walk(fn)
                      if isinstance(n, (ast.Import, ast.ImportFrom))
                      and (isinstance(n, ast.Import) or (n.module or "").startswith("empirics"))]
    return found, inner


def _graph() -> dict[str, set[str]]:
    mods = [p.stem for p in PKG.glob("*.py") if p.stem != "__init__"]
    return {m: _imports(m)[0] & set(mods) for m in mods}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)):
                return c
        state[m] = 2
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_no_import_cycle() -> None:
    assert _cycle(_graph()) is None, _cycle(_graph())


def test_cycle_detector_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_report_imports_no_computation() -> None:
    found, _ = _imports("report")
    assert not found & {"pipeline", "formulas", "fits", "verdicts", "theory_link", "jvp",
                        "validate", "sweep", "cache"}
    text = (PKG / "report.py").read_text()
    assert "import theory" not in text and "from theory" not in text
    # and the pipeline does not call back into the command line or the report
    assert not _imports("pipeline")[0] & {"validate", "report"}


def test_top_modules_import_at_the_top() -> None:
    for m in TOP:
        assert _imports(m)[1] == [], f"empirics.{m} imports inside a function"


def test_formulas_is_the_only_door_to_theory_numerics() -> None:
    planner = [f"plan/{p.stem}" for p in sorted((PKG / "plan").glob("*.py"))]
    for m in (*TOP, *planner, "plan_file"):
        if m == "formulas":
            continue
        text = (PKG / f"{m}.py").read_text()
        assert "from theory" not in text and "import theory" not in text, m


def test_public_surface_small_and_documented() -> None:
    assert len(empirics.__all__) <= 20
    for name in empirics.__all__:
        obj = getattr(empirics, name)
        assert (obj.__doc__ or "").strip(), name
