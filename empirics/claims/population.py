"""The prompt populations the synthetic worlds are drawn from, read off a real run.

From a run's ``sweep.csv`` and ``estimates.csv`` (``python -m empirics.validate --out DIR``):
per two-outcome behavior prompt B₀, the logit gap's slope g_a − g_b = 2γ̂λ̂, its curvature
w_a − w_b and third derivative t_a − t_b (symmetric differences of the measured log-odds
2 artanh B, exact for two outcomes); per helpfulness prompt P₀, α̂, s = λ̂σ̂β̂ and the path term
½∇ᵀw = measured c2 − c2 of the actual Δ̂ (Theorem 2R's second part). ``DEFAULT`` holds those of
the default run of the embedded model (``empirics.claims.default_run``).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from empirics.claims import default_run
from empirics.claims.differences import curvature, slope, stencil


@dataclass(frozen=True)
class BehaviorPrompts:
    """Two-outcome prompts of one group: per prompt B₀, g_gap = 2γλ, w_gap, t_gap ``(M,)``."""

    name: str
    B0: np.ndarray
    g_gap: np.ndarray
    w_gap: np.ndarray
    t_gap: np.ndarray


@dataclass(frozen=True)
class HelpfulnessPrompts:
    """Helpfulness prompts: per prompt P₀, α̂, s = λ̂σ̂β̂ and the path term ½∇ᵀw ``(M,)``."""

    name: str
    P0: np.ndarray
    alpha: np.ndarray
    s: np.ndarray
    path: np.ndarray


@dataclass(frozen=True)
class RandomSpread:
    """How one seeded random direction moves the helpfulness prompts: the spread over prompts
    of its measured slope c1 and r² coefficient c2 at 0 (the run's control direction)."""

    c1_sd: float
    c2_sd: float


@dataclass(frozen=True)
class Population:
    """A run's grid, its prompt groups and its random direction's spread."""

    grid: np.ndarray
    behaviors: tuple[BehaviorPrompts, ...]
    helpfulness: tuple[HelpfulnessPrompts, ...]
    random: RandomSpread

    def behavior(self, name: str) -> BehaviorPrompts:
        """The behavior group ``name`` (e.g. "harmfulness/harmful")."""
        for group in self.behaviors:
            if group.name == name:
                return group
        raise ValueError(f"no behavior group {name!r}; have {[b.name for b in self.behaviors]}")

    def helpful(self, name: str) -> HelpfulnessPrompts:
        """The helpfulness group ``name`` (e.g. "harmfulness/knowledge")."""
        for group in self.helpfulness:
            if group.name == name:
                return group
        raise ValueError(f"no helpfulness group {name!r}; have "
                         f"{[h.name for h in self.helpfulness]}")


def _third(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """y''' at 0 from ±h, ±2h: (y(2h) − 2y(h) + 2y(−h) − y(−2h))/(2h³)."""
    s = stencil(grid)
    y = values
    return (y[:, s.plus[1]] - 2 * y[:, s.plus[0]] + 2 * y[:, s.minus[0]]
            - y[:, s.minus[1]]) / (2 * s.h**3)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def read_run(out: Path) -> Population:
    """The population of the run written to ``out`` (its sweep.csv and estimates.csv)."""
    sweep, est = out / "sweep.csv", out / "estimates.csv"
    for f in (sweep, est):
        if not f.is_file():
            raise FileNotFoundError(f"{f} not found: give the --out directory of a "
                                    "`python -m empirics.validate` run")
    cells: dict[tuple[str, str, str], dict[str, dict[float, float]]] = defaultdict(
        lambda: defaultdict(dict))
    for row in _read(sweep):
        key = (row["direction"], row["group"], row["measure"])
        cells[key][row["item_id"]][float(row["coefficient"])] = float(row["value"])
    estimates = {(r["direction"], r["item_id"]): r for r in _read(est)}
    grid = np.array(sorted(next(iter(next(iter(cells.values())).values()))))
    behaviors, helpful = [], []
    random = RandomSpread(float("nan"), float("nan"))
    for (direction, group, measure), items in sorted(cells.items()):
        ids = sorted(items)
        if measure not in ("B", "p_correct"):
            continue
        values = np.array([[items[i][r] for r in grid] for i in ids])
        if direction == "control":
            if measure == "p_correct":
                random = RandomSpread(float(slope(grid, values).std()),
                                      float(curvature(grid, values).std()))
            continue
        rows = [estimates[(direction, i)] for i in ids]
        name = f"{direction}/{group}"
        if measure == "B":
            logodds = 2 * np.arctanh(np.clip(values, -1 + 1e-12, 1 - 1e-12))
            behaviors.append(BehaviorPrompts(
                name, values[:, int(np.flatnonzero(grid == 0)[0])],
                np.array([2 * float(r["gamma_lam"]) for r in rows]),
                2 * curvature(grid, logodds), _third(grid, logodds)))
        else:
            c2 = np.array([float(r["c2_actual"]) for r in rows])
            helpful.append(HelpfulnessPrompts(
                name, np.array([float(r["P0"]) for r in rows]),
                np.array([float(r["alpha_hat"]) for r in rows]),
                np.array([float(r["s"]) for r in rows]), curvature(grid, values) - c2))
    return Population(grid, tuple(behaviors), tuple(helpful), random)


def default_population() -> Population:
    """The default run's population (embedded model, embedded data; ``default_run``)."""
    return Population(
        np.asarray(default_run.GRID, float),
        tuple(BehaviorPrompts(name, *(np.asarray(c, float) for c in cols))
              for name, cols in default_run.BEHAVIORS.items()),
        tuple(HelpfulnessPrompts(name, *(np.asarray(c, float) for c in cols))
              for name, cols in default_run.HELPFULNESS.items()),
        RandomSpread(*default_run.RANDOM))


def constants_source(pop: Population) -> str:
    """``pop`` as the Python source of ``empirics/claims/default_run.py``."""
    def arr(x: np.ndarray, indent: int = 12) -> str:
        vals = [f"{float(v):.6g}" for v in x]
        rows = [", ".join(vals[i:i + 7]) for i in range(0, len(vals), 7)]
        pad = " " * indent
        return f"(\n{pad}" + f",\n{pad}".join(rows) + f",\n{' ' * (indent - 4)})"

    lines = ['"""Per-prompt parameters of the default run (embedded SmolLM2-135M-Instruct, embedded',
             'data), written by ``empirics.claims.population.constants_source(read_run(OUT))``."""',
             "", f"GRID = {arr(pop.grid, 4)}", "", "BEHAVIORS = {"]
    for b in pop.behaviors:
        lines.append(f"    {b.name!r}: (")
        lines += [f"        {arr(c)}," for c in (b.B0, b.g_gap, b.w_gap, b.t_gap)]
        lines.append("    ),")
    lines += ["}", "", "HELPFULNESS = {"]
    for h in pop.helpfulness:
        lines.append(f"    {h.name!r}: (")
        lines += [f"        {arr(c)}," for c in (h.P0, h.alpha, h.s, h.path)]
        lines.append("    ),")
    lines += ["}", "", f"RANDOM = ({pop.random.c1_sd:.6g}, {pop.random.c2_sd:.6g})", ""]
    return "\n".join(lines)
