"""k seeded random steering directions, each swept over the helpfulness prompts at r = 0, ±h,
±2h only (h: the run's smallest symmetric step; r = 0, the unsteered model, is swept once for
all of them), with each direction's Δ̂ by JVP (all directions in one pass: they share the
unsteered primal): what Theorem 2's i.i.d. and random-direction
forms and Theorem 2′ speak about (an average over random directions, never one chosen vector;
docs/claims.md).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from empirics.directions import sweep_direction
from empirics.jvp import cached_delta_jvps
from empirics.prepared import Prepared
from empirics.reading_vectors import random_directions
from empirics.results import RandomSweeps
from empirics.sweep import SweepResult

SEED_OFFSET = 2000   # the directions' seeds: settings.seed + SEED_OFFSET + j (the control: + 1000)


def stencil_grid(grid: np.ndarray) -> np.ndarray | None:
    """−2h, −h, 0, h, 2h with h the smallest r > 0 whose −r is also on ``grid`` (None: none)."""
    g = np.asarray(grid, dtype=float)
    pos = sorted(float(r) for r in g if r > 0 and np.any(np.isclose(g, -r)))
    if not pos:
        return None
    h = pos[0]
    return np.array([-2 * h, -h, 0.0, h, 2 * h])


def random_sweeps(p: Prepared, k: int) -> RandomSweeps | None:
    """Sweep ``k`` seeded random unit directions (cached like every sweep) and take each one's
    Δ̂ by JVP on the same prompts; None when ``k`` is 0 or the grid has no symmetric step."""
    grid = stencil_grid(np.asarray(p.settings.grid, float))
    prompts = p.helpfulness_prompts
    if k <= 0 or grid is None or len(prompts) < 2:
        return None
    print(f"Sweeping {k} random directions at r = {', '.join(f'{x:g}' for x in grid)}",
          file=sys.stderr)
    t0 = time.time()
    ids = [list(q.input_ids) for q in prompts]
    vecs = [random_directions(p.layers, p.lm.hidden_size, p.settings.seed + SEED_OFFSET + j)
            for j in range(k)]
    values, sweeps, orders = [], [], []
    first: SweepResult | None = None   # its r = 0 row serves every direction (unsteered)
    for j, vec in enumerate(vecs):
        run = sweep_direction(p, f"random{j}", vec, prompts, keep_hidden=False,
                              grid=[float(x) for x in grid], unsteered=first)
        first = run.result if first is None else first
        sweeps.append(run.sweep)
        values.append(np.asarray(run.pooled_helpfulness().p_correct))   # rows: group order
        orders.append([run.prompts[i].item_id for g in run.helpfulness_groups()
                       for i in run.rows[g]])
    # Every direction's Δ̂ together: at r = 0 they share the unsteered primal.
    deltas = cached_delta_jvps(p.lm, vecs, ids, p.cache, [f"random{j}" for j in range(k)],
                               p.settings.progress)
    norms = []
    for (_, delta), order in zip(deltas, orders, strict=True):
        lam_j = dict(zip((q.item_id for q in prompts),
                         np.linalg.norm(np.asarray(delta, dtype=float), axis=1), strict=True))
        norms.append([lam_j[i] for i in order])
    lam = np.sqrt(np.mean(np.square(norms), axis=0))
    print(f"random directions done ({time.time() - t0:.0f} s)", file=sys.stderr)
    return RandomSweeps(grid, np.stack(values), lam, orders[-1], sweeps)
