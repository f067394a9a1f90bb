"""Exact E[P_r(c)]: quadrature vs Monte Carlo at equal error (4 answers), and for many answers.

Part 1: Monte Carlo is sized from a pilot run so that its standard error is the target (default
1e-5); quadrature's own error is far below that (< 1e-9). One row per s·r_e and the ratio of
total times (target: quadrature >= 100x faster). Part 2: the default (quadrature, exact for any
K) against Monte Carlo with 20 000 draws (stderr ~1e-3) for K = 10, 2001 (uniform wrong mass)
and 301 (Dirichlet wrong mass), with the time ratio. ``python benchmarks/theory_expectation.py``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from theory.helpfulness import expected  # noqa: E402

P = np.array([0.6, 0.2, 0.15, 0.05])


def _timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--target", type=float, default=1e-5, help="standard error to match")
    ap.add_argument("--t", type=float, nargs="+", default=[0.3, 1.0], help="values of s·r_e")
    args = ap.parse_args()
    print(f"p = {P.tolist()}, correct = 0, target error {args.target:g}")
    print(f"{'s*r_e':>6} {'quadrature':>12} {'q time [s]':>11} {'MC n':>10} {'MC value':>12} "
          f"{'MC stderr':>10} {'MC time [s]':>11} {'|diff|/se':>9}")
    tq_total = tm_total = 0.0
    for t in args.t:
        tq, q = _timed(lambda t=t: expected(P, 0, 1.0, t), repeat=5)
        pilot = expected(P, 0, 1.0, t, method="monte_carlo", n_mc=20_000, seed=1)
        # stderr ∝ 1/√n: size n so the predicted standard error is the target
        n = int(math.ceil(20_000 * (float(pilot.stderr) / args.target) ** 2))
        tm, mc = _timed(lambda t=t, n=n: expected(P, 0, 1.0, t, method="monte_carlo", n_mc=n, seed=2))
        tq_total += tq
        tm_total += tm
        z = abs(float(mc.value) - float(q.value)) / float(mc.stderr)
        print(f"{t:>6.2f} {float(q.value):>12.9f} {tq:>11.4f} {n:>10d} {float(mc.value):>12.9f} "
              f"{float(mc.stderr):>10.2e} {tm:>11.3f} {z:>9.2f}")
    print(f"total: quadrature {tq_total:.4f} s, Monte Carlo {tm_total:.2f} s, "
          f"ratio {tm_total / tq_total:.0f}x (target >= 100x)")
    print()
    print(f"{'K':>6} {'wrong mass':>10} {'quadrature':>12} {'q time [s]':>11} {'MC(2e4) value':>14} "
          f"{'MC stderr':>10} {'MC time [s]':>11} {'MC/q time':>9}")
    rng = np.random.default_rng(0)
    for k, kind in ((10, "dirichlet"), (2001, "uniform"), (301, "dirichlet")):
        rest = (np.full(k - 1, 1 / (k - 1)) if kind == "uniform" else rng.dirichlet(np.ones(k - 1)))
        p = np.concatenate([[0.6], 0.4 * rest])
        tq, q = _timed(lambda p=p: expected(p, 0, 1.0, 1.0), repeat=3)
        tm, mc = _timed(lambda p=p: expected(p, 0, 1.0, 1.0, method="monte_carlo", n_mc=20_000))
        print(f"{k:>6d} {kind:>10} {float(q.value):>12.9f} {tq:>11.4f} {float(mc.value):>14.9f} "
              f"{float(mc.stderr):>10.2e} {tm:>11.3f} {tm / tq:>8.1f}x")


if __name__ == "__main__":
    main()
