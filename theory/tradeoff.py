"""Corollary (the efficient regime): steering buys more alignment than it costs in helpfulness.

Gain ``G(r_e) = B_{r_e} − B_0 ≥ λ(1 − B_0²) r_e + O(r_e²)`` (Theorem 1) and loss
``L(r_e) = P_0 − H(r_e) = α P_0 (λσβ)² r_e² + O(r_e⁴)`` (Theorem 2), so ``G/L → ∞`` as
``r_e → 0⁺``. With utility ``U = G − κ L`` (κ ≥ 0) the second-order model has its maximum at
``r* = (1 − B_0²)/(2 κ α P_0 σ² β² λ)`` and a net benefit exactly on ``0 < r_e < 2 r*``; with the
exact curves (gain from the Theorem 1 tanh bound, loss from the exact expected helpfulness or from
the spread bound) ``r*`` and the break-even point are found numerically by ``exact``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from scipy.optimize import brentq, minimize_scalar

from theory import _common as chk
from theory import alignment, helpfulness
from theory._common import Statement
from theory.symbols import B_0, P_0, alpha, beta, kappa, lam, r_e, sigma

#: Second-order gain, loss and utility.
gain: sp.Expr = lam * (1 - B_0**2) * r_e
loss: sp.Expr = alpha * P_0 * (lam * sigma * beta) ** 2 * r_e**2
utility: sp.Expr = gain - kappa * loss
#: The maximiser of ``utility`` (for κα > 0) and the positive root of ``utility``.
optimal_coefficient: sp.Expr = (1 - B_0**2) / (2 * kappa * alpha * P_0 * sigma**2 * beta**2 * lam)
break_even: sp.Expr = 2 * optimal_coefficient

THEOREM = Statement("Corollary", sp.Eq(sp.Symbol("r*", positive=True), optimal_coefficient),
                    "second-order model, κα > 0; net benefit on 0 < r_e < 2r*")


@dataclass(frozen=True)
class Tradeoff:
    """Best coefficient ``r_star`` (``math.inf`` when U has no maximiser: it keeps rising, e.g.
    κα ≤ 0), ``utility_star`` = U(r_star) (its supremum on the searched range when r_star is inf),
    ``break_even`` the first r_e > 0 where U returns to 0 (``math.inf`` when U stays positive)."""

    r_star: float
    utility_star: float
    break_even: float
    method: str


def _s(lam_: float, s: Any, sigma_: Any, beta_: Any) -> float:
    if s is not None:
        if sigma_ is not None or beta_ is not None:
            raise ValueError("give either s or (sigma, beta), not both")
        return float(chk.nonnegative("s", s))
    if sigma_ is None or beta_ is None:
        raise ValueError("give s = λσβ, or both sigma and beta")
    return lam_ * float(chk.positive("sigma", sigma_)) * float(chk.positive("beta", beta_))


def second_order(B0: float, lam: float, P0: float, alpha: float, kappa: float, *,
                 s: float | None = None, sigma: float | None = None,
                 beta: float | None = None) -> Tradeoff:
    """The closed-form optimum of the second-order model, ``s = λσβ`` or (sigma, beta) given."""
    b0 = float(chk.open_interval("B0", B0, -1.0, 1.0))
    la = float(chk.positive("lam", lam))
    p0 = float(chk.open_interval("P0", P0, 0.0, 1.0))
    al = float(chk.finite("alpha", alpha))
    ka = float(chk.nonnegative("kappa", kappa))
    s_ = _s(la, s, sigma, beta)
    curv = ka * al * p0 * s_**2  # U = a r − curv r², a = λ(1 − B0²)
    a = la * (1 - b0**2)
    if curv <= 0:
        return Tradeoff(math.inf, math.inf, math.inf, "second-order")
    r_star = a / (2 * curv)
    return Tradeoff(r_star, a * a / (4 * curv), 2 * r_star, "second-order")


def utility_curve(r: Any, B0: float, lam: float, kappa: float, s: float, *, P0: float | None = None,
                  p: Any = None, correct: int | None = None, loss: str = "expected") -> np.ndarray:
    """Exact-curve utility ``U(r) = (tanh(λr + artanh B0) − B0) − κ (P0 − H(r))`` where H is the
    exact expectation (``loss="expected"``: needs p, correct) or the spread bound (``"spread"``)."""
    rr = chk.finite("r_e", r)
    ka = float(chk.nonnegative("kappa", kappa))
    g = alignment.evaluate(rr, B0, lam) - float(B0)
    if loss == "expected":
        if p is None or correct is None:
            raise ValueError("loss='expected' needs the probabilities p and the correct index")
        pv = chk.prob_vector("p", p)
        c = chk.index("correct", correct, pv.size)
        h = helpfulness.expected(pv, c, s, rr).value
        p0 = float(chk.open_interval("P0 (= p[correct])", pv[c], 0.0, 1.0))
    elif loss == "spread":
        if P0 is None:
            if p is None or correct is None:
                raise ValueError("loss='spread' needs P0 (or p and correct)")
            P0 = float(chk.prob_vector("p", p)[chk.index("correct", correct, len(p))])
        p0 = float(chk.open_interval("P0", P0, 0.0, 1.0))
        h = helpfulness.spread_bound_value(p0, s, rr)
    else:
        raise ValueError(f"loss must be 'expected' or 'spread', got {loss!r}")
    return np.asarray(g - ka * (p0 - h))


def exact(B0: float, lam: float, kappa: float, s: float, *, P0: float | None = None, p: Any = None,
          correct: int | None = None, loss: str = "expected", r_max: float | None = None,
          n_grid: int = 48) -> Tradeoff:
    """``r*`` and the break-even point of the exact-curve utility (``utility_curve``), r_e > 0.

    Grid search on (0, r_max] (geometric), then bounded refinement (scipy ``minimize_scalar``)
    and ``brentq`` for the root. ``r_max`` defaults to where both curves have saturated:
    max(guarantee coefficient at ε = 1e-9, 12/s).
    """
    la = float(chk.positive("lam", lam))
    s_ = float(chk.nonnegative("s", s))
    chk.open_interval("B0", B0, -1.0, 1.0)
    if n_grid < 8:
        raise ValueError(f"n_grid must be >= 8, got {n_grid}")
    if r_max is None:
        r_max = float(alignment.guarantee(B0, la, 1e-9))
        if s_ > 0:
            r_max = max(r_max, 12.0 / s_)
    r_max = float(chk.positive("r_max", r_max))

    def u(r: Any) -> np.ndarray:
        return utility_curve(r, B0, la, kappa, s_, P0=P0, p=p, correct=correct, loss=loss)

    grid = np.geomspace(r_max * 1e-5, r_max, n_grid)
    vals = u(grid)
    i = int(np.argmax(vals))
    method = f"exact ({loss})"
    if i == n_grid - 1:  # U still rising at the end of the saturated range: no finite maximiser
        return Tradeoff(math.inf, float(vals[-1]), math.inf, method)
    lo, hi = grid[max(i - 1, 0)], grid[i + 1]
    res = minimize_scalar(lambda r: -float(u(r)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-10 * hi})
    r_star, u_star = (float(res.x), -float(res.fun)) if -res.fun >= vals[i] else (grid[i], vals[i])
    after = np.flatnonzero((grid > r_star) & (vals <= 0))
    if after.size == 0:
        return Tradeoff(r_star, u_star, math.inf, method)
    j = int(after[0])
    left = max(r_star, grid[j - 1])
    root = brentq(lambda r: float(u(r)), left, grid[j], xtol=1e-12 * grid[j])
    return Tradeoff(r_star, u_star, float(root), method)


__all__ = ["gain", "loss", "utility", "optimal_coefficient", "break_even", "THEOREM", "Tradeoff",
           "second_order", "utility_curve", "exact"]
