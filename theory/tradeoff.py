"""Corollary (the efficient regime): steering buys more alignment than it costs in helpfulness.

Gain ``G(r_e) = B_{r_e} − B_0 ≥ γλ(1 − B_0²) r_e + O(r_e²)`` (Theorem 1) and loss
``L(r_e) = P_0 − H(r_e) = α P_0 (λσβ)² r_e² + O(r_e⁴)`` (Theorem 2), so ``G/L → ∞`` as
``r_e → 0⁺``. With utility ``U = G − κ L`` (κ ≥ 0) the second-order model has its maximum at
``r* = γ(1 − B_0²)/(2 κ α P_0 σ² β² λ)`` (general form ``r* = g₁/(2κℓ₂)``) and a net benefit on
``0 < r_e < 2 r*``. It is trusted only where ``λσβ r* ≤ 0.5``; beyond, ``exact`` finds r* and
the break-even point from the exact curves (Theorem 1 tanh, exact H by quadrature) and
``optimum`` picks the right one and says which.
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
from theory.symbols import (
    B_0,
    P_0,
    G_gain,
    L_loss,
    alpha,
    beta,
    ell_1,
    ell_2,
    g_1,
    g_2,
    gamma,
    kappa,
    lam,
    r_e,
    sigma,
)

#: Second-order gain, loss and utility (γλ = Theorem 1's half-margin, λσβ = shift scale).
gain: sp.Expr = gamma * lam * (1 - B_0**2) * r_e
loss: sp.Expr = alpha * P_0 * (lam * sigma * beta) ** 2 * r_e**2
utility: sp.Expr = gain - kappa * loss
#: The maximiser of ``utility`` (for κα > 0) and the positive root of ``utility``.
optimal_coefficient: sp.Expr = gamma * (1 - B_0**2) / (2 * kappa * alpha * P_0 * sigma**2 * beta**2 * lam)
break_even: sp.Expr = 2 * optimal_coefficient
#: General form: gain slope g₁, loss curvature ℓ₂ > 0 (measured or predicted): r* = g₁/(2κℓ₂).
general_utility: sp.Expr = g_1 * r_e - kappa * ell_2 * r_e**2
general_optimum: sp.Expr = g_1 / (2 * kappa * ell_2)
general_break_even: sp.Expr = 2 * general_optimum

r_star = sp.Symbol("r*", positive=True)
THEOREM = Statement("Corollary", sp.Eq(r_star, optimal_coefficient),
                    "second-order model, κα > 0; net benefit on 0 < r_e < 2r*; "
                    "trusted where λσβ r* ≤ 0.5")
THEOREM_GENERAL = Statement("Corollary (general)", sp.Eq(r_star, general_optimum),
                            "U = g₁ r_e − κ ℓ₂ r_e², κ > 0, ℓ₂ > 0; net benefit on 0 < r_e < 2r*")


VALID_LIMIT = 0.5  # THEORY.md: the second-order model is trusted where λσβ r* ≲ 0.5


@dataclass(frozen=True)
class Tradeoff:
    """Best coefficient ``r_star`` (``math.inf`` when U has no maximiser: it keeps rising, e.g.
    κα ≤ 0), ``utility_star`` = U(r_star) (its supremum on the searched range when r_star is inf),
    ``break_even`` the first r_e > 0 where U returns to 0 (``math.inf`` when U stays positive),
    ``method`` what produced them ("second-order" | "exact"), ``valid`` whether the second-order
    model is trusted at this r* (``s r* ≤ 0.5``; False when s is unknown), ``note`` why / what
    decided."""

    r_star: float
    utility_star: float
    break_even: float
    method: str
    valid: bool
    note: str


def _validity(s: float | None, r_star: float) -> tuple[bool, str]:
    if s is None:
        return False, "s = λσβ not given: validity of the second-order model not checked"
    if math.isinf(r_star):
        return False, "no finite second-order optimum (κℓ₂ ≤ 0)"
    sr = s * r_star
    if sr <= VALID_LIMIT:
        return True, f"s·r* = {sr:.3g} <= {VALID_LIMIT}: second-order model trusted"
    return False, (f"s·r* = {sr:.3g} > {VALID_LIMIT}: second-order model not trusted; "
                   "use the exact curves (tradeoff.exact / tradeoff.optimum)")


def general(g1: float, l2: float, kappa: float, *, s: float | None = None) -> Tradeoff:
    """General second-order optimum of ``U = g₁ r − κ ℓ₂ r²``: ``r* = g₁/(2κℓ₂)``,
    ``U* = g₁²/(4κℓ₂)``, break-even ``2r*``; ``valid`` from ``s`` (``s r* ≤ 0.5``)."""
    g = float(chk.finite("g1", g1))
    ell = float(chk.finite("l2", l2))
    ka = float(chk.nonnegative("kappa", kappa))
    s_ = None if s is None else float(chk.nonnegative("s", s))
    if g <= 0:
        return Tradeoff(0.0, 0.0, 0.0, "second-order", False,
                        f"gain slope g1 = {g:.3g} <= 0: steering in this direction gains nothing")
    curv = ka * ell
    if curv <= 0:
        return Tradeoff(math.inf, math.inf, math.inf, "second-order", False,
                        "κℓ₂ <= 0: the second-order utility keeps rising (no finite r*)")
    r_star = g / (2 * curv)
    valid, note = _validity(s_, r_star)
    return Tradeoff(r_star, g * g / (4 * curv), 2 * r_star, "second-order", valid, note)


def _s(lam_: float, s: Any, sigma_: Any, beta_: Any) -> float:
    if s is not None:
        if sigma_ is not None or beta_ is not None:
            raise ValueError("give either s or (sigma, beta), not both")
        return float(chk.nonnegative("s", s))
    if sigma_ is None or beta_ is None:
        raise ValueError("give s = λσβ, or both sigma and beta")
    return lam_ * float(chk.positive("sigma", sigma_)) * float(chk.positive("beta", beta_))


def second_order(B0: float, gamma: float, lam: float, P0: float, alpha: float, kappa: float, *,
                 s: float | None = None, sigma: float | None = None,
                 beta: float | None = None) -> Tradeoff:
    """The closed-form optimum ``r* = γ(1 − B0²)/(2καP0σ²β²λ)`` of the second-order model,
    ``s = λσβ`` or (sigma, beta) given; ``valid`` says whether ``s r* ≤ 0.5``."""
    b0 = float(chk.open_interval("B0", B0, -1.0, 1.0))
    ga = float(chk.positive("gamma", gamma))
    la = float(chk.positive("lam", lam))
    p0 = float(chk.open_interval("P0", P0, 0.0, 1.0))
    al = float(chk.finite("alpha", alpha))
    s_ = _s(la, s, sigma, beta)
    return general(ga * la * (1 - b0**2), al * p0 * s_**2, kappa, s=s_)


def utility_curve(r: Any, B0: float, gamma: float, lam: float, kappa: float, s: float, *, p: Any,
                  correct: int) -> np.ndarray:
    """Exact-curve utility ``U(r) = (tanh(γλr + artanh B0) − B0) − κ (P0 − H(r))`` with H the
    exact expectation under i.i.d. N(0, s²) shifts (quadrature). The Theorem 2′ spread bound is
    not offered as a loss: it is an upper bound on H, i.e. a lower bound on the loss."""
    rr = chk.finite("r_e", r)
    ka = float(chk.nonnegative("kappa", kappa))
    g = alignment.evaluate(rr, B0, gamma, lam) - float(B0)
    pv = chk.prob_vector("p", p)
    c = chk.index("correct", correct, pv.size)
    p0 = float(chk.open_interval("P0 (= p[correct])", pv[c], 0.0, 1.0))
    h = helpfulness.expected(pv, c, s, rr).value
    return np.asarray(g - ka * (p0 - h))


def exact(B0: float, gamma: float, lam: float, kappa: float, s: float, *, p: Any, correct: int,
          r_max: float | None = None, n_grid: int = 48) -> Tradeoff:
    """``r*`` and the break-even point of the exact-curve utility (``utility_curve``), r_e > 0.

    Grid search on (0, r_max] (geometric), then bounded refinement (scipy ``minimize_scalar``)
    and ``brentq`` for the root. ``r_max`` defaults to where both curves have saturated:
    max(guarantee coefficient at ε = 1e-9, 12/s).
    """
    ga = float(chk.positive("gamma", gamma))
    la = float(chk.positive("lam", lam))
    s_ = float(chk.nonnegative("s", s))
    chk.open_interval("B0", B0, -1.0, 1.0)
    if n_grid < 8:
        raise ValueError(f"n_grid must be >= 8, got {n_grid}")
    if r_max is None:
        r_max = max(float(alignment.guarantee(B0, ga, la, 1e-9)), 1e-3)
        if s_ > 0:
            r_max = max(r_max, 12.0 / s_)
    r_max = float(chk.positive("r_max", r_max))

    def u(r: Any) -> np.ndarray:
        return utility_curve(r, B0, ga, la, kappa, s_, p=p, correct=correct)

    grid = np.geomspace(r_max * 1e-5, r_max, n_grid)
    vals = u(grid)
    i = int(np.argmax(vals))
    method = "exact"
    if i == n_grid - 1:  # U still rising at the end of the saturated range: no finite maximiser
        return Tradeoff(math.inf, float(vals[-1]), math.inf, method, False,
                        f"exact curves: U still rising at r_max = {r_max:.3g}")
    lo, hi = grid[max(i - 1, 0)], grid[i + 1]
    res = minimize_scalar(lambda r: -float(u(r)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-10 * hi})
    r_star, u_star = (float(res.x), -float(res.fun)) if -res.fun >= vals[i] else (grid[i], vals[i])
    valid, why = _validity(s_, r_star)
    note = f"exact curves (Theorem 1 tanh, quadrature H) decided; at this r*: {why}"
    after = np.flatnonzero((grid > r_star) & (vals <= 0))
    if after.size == 0:
        return Tradeoff(r_star, u_star, math.inf, method, valid, note)
    j = int(after[0])
    left = max(r_star, grid[j - 1])
    root = brentq(lambda r: float(u(r)), left, grid[j], xtol=1e-12 * grid[j])
    return Tradeoff(r_star, u_star, float(root), method, valid, note)


def optimum(B0: float, gamma: float, lam: float, kappa: float, s: float, *, p: Any, correct: int,
            r_max: float | None = None) -> Tradeoff:
    """The second-order optimum where it is trusted (``s r* ≤ 0.5``), else the exact one;
    ``.method`` says which was used and ``.note`` why."""
    pv = chk.prob_vector("p", p)
    c = chk.index("correct", correct, pv.size)
    p0 = float(chk.open_interval("P0 (= p[correct])", pv[c], 0.0, 1.0))
    so = second_order(B0, gamma, lam, p0, helpfulness.alpha(pv, c), kappa, s=s)
    if so.valid:
        return so
    ex = exact(B0, gamma, lam, kappa, s, p=pv, correct=c, r_max=r_max)
    return Tradeoff(ex.r_star, ex.utility_star, ex.break_even, ex.method, ex.valid,
                    f"second-order r* = {so.r_star:.4g} rejected ({so.note}); {ex.note}")


# ------------------------------------------------------------------------------------------
# Version 3: the corollary in general form (G = g₁r + g₂r², L = ℓ₁r + ℓ₂r²)
# ------------------------------------------------------------------------------------------
#: The utility U = G − κL of a gain G and a loss L.
utility_general: sp.Expr = G_gain - kappa * L_loss
#: Second-order utility with a first-order loss and a curved gain.
response_utility: sp.Expr = (g_1 - kappa * ell_1) * r_e + (g_2 - kappa * ell_2) * r_e**2
#: Its maximiser (when κℓ₂ − g₂ > 0 and g₁ − κℓ₁ > 0), its value there, and its positive root.
response_optimum: sp.Expr = (g_1 - kappa * ell_1) / (2 * (kappa * ell_2 - g_2))
response_utility_star: sp.Expr = (g_1 - kappa * ell_1) ** 2 / (4 * (kappa * ell_2 - g_2))
response_break_even: sp.Expr = 2 * response_optimum

_np_utility = sp.lambdify((G_gain, L_loss, kappa), utility_general, "numpy")


def utility_value(gain: Any, loss: Any, kappa: Any) -> np.ndarray:
    """``U = G − κL`` (lambdified ``utility_general``), broadcast over numpy arrays."""
    return np.asarray(_np_utility(chk.finite("gain", gain), chk.finite("loss", loss),
                                  chk.nonnegative("kappa", kappa)), dtype=float)


def _response_inputs(g1: Any, l1: Any, g2: Any, l2: Any,
                     kappa: Any) -> tuple[float, float, float]:
    """(slope g₁ − κℓ₁, r² coefficient g₂ − κℓ₂, curvature κℓ₂ − g₂) of the utility."""
    ka = float(chk.nonnegative("kappa", kappa))
    vals = [float(chk.finite(n, x)) for n, x in (("g1", g1), ("l1", l1), ("g2", g2), ("l2", l2))]
    slope = vals[0] - ka * vals[1]
    quad = vals[2] - ka * vals[3]
    return slope, quad, -quad


def efficient_regime_exists(g1: Any, l1: Any, g2: Any, l2: Any, kappa: Any) -> bool:
    """Whether U = G − κL > 0 on some (0, r₀): ``g₁ − κℓ₁ > 0``, or ``= 0`` and ``g₂ − κℓ₂ > 0``."""
    slope, quad, _ = _response_inputs(g1, l1, g2, l2, kappa)
    return slope > 0 or (slope == 0 and quad > 0)


def general_response(g1: float, l1: float, g2: float, l2: float, kappa: float, *,
                     radius: float | None = None) -> Tradeoff:
    """The second-order optimum of ``U = (g₁ − κℓ₁) r + (g₂ − κℓ₂) r²``: ``r* = (g₁ − κℓ₁)/
    (2(κℓ₂ − g₂))``, ``U* = (g₁ − κℓ₁)²/(4(κℓ₂ − g₂))``, break-even ``2r*`` when both are
    positive. ``r* = 0`` when ``g₁ − κℓ₁ < 0`` (or ``= 0`` without a rescuing r² term): no
    efficient regime; ``inf`` when the curvature term does not bound U. ``valid``: ``r* ≤ radius``
    (the second-order validity radius; False with a note when ``radius`` is None)."""
    slope, quad, curv = _response_inputs(g1, l1, g2, l2, kappa)
    rad = None if radius is None else float(chk.positive("radius", radius))
    if slope < 0 or (slope == 0 and quad <= 0):
        rescue = ("; the r² term does not rescue it (g₂ − κℓ₂ <= 0)" if slope == 0 else
                  "; at second order U < 0 for small r whatever g₂ − κℓ₂")
        return Tradeoff(0.0, 0.0, 0.0, "second-order", False,
                        f"g₁ − κℓ₁ = {slope:.3g} <= 0: no efficient regime at first order{rescue}")
    if curv <= 0 or slope == 0:
        why = ("g₁ − κℓ₁ = 0 but g₂ − κℓ₂ > 0: the r² term rescues the efficient regime, and"
               if slope == 0 else "κℓ₂ − g₂ <= 0:")
        return Tradeoff(math.inf, math.inf, math.inf, "second-order", False,
                        f"{why} the second-order utility keeps rising (no finite r*)")
    r_star = slope / (2 * curv)
    if rad is None:
        valid, note = False, "no validity radius given: second-order r* not checked"
    elif r_star <= rad:
        valid, note = True, f"r* = {r_star:.3g} <= radius {rad:.3g}: second-order model trusted"
    else:
        valid, note = False, (f"r* = {r_star:.3g} > radius {rad:.3g}: second-order model not "
                              "trusted; the exact curves decide")
    return Tradeoff(r_star, slope * slope / (4 * curv), 2 * r_star, "second-order", valid, note)


__all__ = ["utility_general", "response_utility", "response_optimum", "response_utility_star",
           "response_break_even", "utility_value", "efficient_regime_exists", "general_response",
           "gain", "loss", "utility", "optimal_coefficient", "break_even", "general_utility",
           "general_optimum", "general_break_even", "r_star", "THEOREM", "THEOREM_GENERAL",
           "VALID_LIMIT", "Tradeoff", "general", "second_order", "utility_curve", "exact", "optimum"]
