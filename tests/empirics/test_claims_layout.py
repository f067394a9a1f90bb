"""The layout of ``empirics.claims``: small modules and functions, no import cycle, no private
import across modules, ``theory`` reached only through ``empirics.formulas``; and the population
reader recovers a known world from a run's CSV files."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np
import pytest

import empirics.claims as claims
from empirics.claims.population import constants_source, default_population, read_run
from empirics.claims.synthetic import two_outcome_prompts

PKG = Path(claims.__file__).parent
MODULES = sorted(p for p in PKG.glob("*.py") if p.stem != "default_run")


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def _edges(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("empirics.claims."):
            out.add((node.module or "").split(".")[2])
    return out


def test_small_modules_and_functions() -> None:
    for path in MODULES:
        assert len(path.read_text().splitlines()) <= 400, path.name
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 60, f"{path.name}:{node.name} has {length} lines"


def test_no_cycle_no_private_imports_no_theory() -> None:
    graph = {p.stem: _edges(p) for p in MODULES}
    seen: dict[str, int] = {}

    def visit(m: str) -> None:
        seen[m] = 1
        for n in graph.get(m, set()):
            assert seen.get(n) != 1, f"import cycle through {m} -> {n}"
            if n not in seen:
                visit(n)
        seen[m] = 2

    for m in graph:
        if m not in seen:
            visit(m)
    for path in [*MODULES, PKG.parent / "calibrate.py"]:
        text = path.read_text()
        assert "import theory" not in text and "from theory" not in text, path.name
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("empirics"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private}"


def test_public_api_documented() -> None:
    assert len(claims.__all__) <= 25
    for name in claims.__all__:
        assert (getattr(claims, name).__doc__ or "").strip(), name


def _write_run(out: Path, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A run directory with one two-outcome group and one helpfulness group."""
    pop = default_population().behavior("bias/stereoset_race")
    pr = two_outcome_prompts(pop, 6, np.random.default_rng(0))
    b = pr.readout(grid).values
    help_values = 0.5 + 0.01 * grid[None] - 0.003 * grid[None] ** 2 + np.zeros((4, 1))
    with (out / "sweep.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["direction", "group", "item_id", "coefficient", "measure", "value"])
        for direction, group, measure, values in [("bias", "race", "B", b),
                                                  ("bias", "knowledge", "p_correct", help_values),
                                                  ("control", "knowledge", "p_correct",
                                                   help_values)]:
            for i, row in enumerate(values):
                for r, v in zip(grid, row, strict=True):
                    w.writerow([direction, group, f"{group}:{i}", r, measure, v])
    fields = ["direction", "kind", "group", "item_id", "gamma_lam", "P0", "alpha_hat", "s",
              "c2_actual"]
    with (out / "estimates.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for i in range(6):
            w.writerow(["bias", "behavior", "race", f"race:{i}", pr.g[i, 0], "", "", "", ""])
        for i in range(4):
            w.writerow(["bias", "helpfulness", "knowledge", f"knowledge:{i}", "", 0.5, 0.1, 0.2,
                        -0.001])
    return pr.w[:, 0] - pr.w[:, 1], pr.g[:, 0] - pr.g[:, 1]


def test_read_run_recovers_a_known_world(tmp_path: Path) -> None:
    grid = default_population().grid
    w_gap, g_gap = _write_run(tmp_path, grid)
    pop = read_run(tmp_path)
    got = pop.behavior("bias/race")
    assert got.g_gap == pytest.approx(g_gap)
    assert got.w_gap == pytest.approx(w_gap, rel=0.02)
    assert pop.helpful("bias/knowledge").path == pytest.approx(-0.003 + 0.001, abs=1e-9)
    assert pop.random.c2_sd == pytest.approx(0.0, abs=1e-12)
    namespace: dict[str, object] = {}
    exec(constants_source(pop), namespace)      # the generated module is valid Python
    assert namespace["GRID"] == tuple(grid.tolist())
    with pytest.raises(FileNotFoundError, match="--out directory"):
        read_run(tmp_path / "missing")
