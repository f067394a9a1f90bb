"""The one door from ``empirics`` to the proved objects of ``theory``: every gain, loss,
curvature, bound and optimum the pipeline reports is computed here by calling ``theory``.

Nothing here re-types a formula. Each function looks its ``theory`` function up at call time
through the module (so a test that patches ``theory.X`` sees the report follow). Theory v3
(v2's parametrisation, plus the second-order response: Theorem 2R, Theorem 1 to second order,
the general corollary; the "THEORY v3 forms" section): ``λ = ‖Δ‖`` and ``γ`` the margin per unit ‖Δ‖; the data determine the product
γλ (the certified margin), passed as ``gamma_lam``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import sympy as sp

from theory import alignment as th_alignment
from theory import helpfulness as th_helpfulness
from theory import response as th_response
from theory import symbols as th_symbols
from theory import tradeoff as th_tradeoff


# ------------------------------------------------------------------------------ Theorem 1
def margin(shifts: np.ndarray, positive: np.ndarray) -> float:
    """Certified γλ = (min_{S+} g − max_{S−} g)/2 of one prompt's logit shifts."""
    return float(th_alignment.margin(shifts, positive))


def behavior(logits: np.ndarray, positive: np.ndarray) -> float:
    """B = P(S+) − P(S−) of candidate logits (``theory.alignment.behavior``)."""
    return float(np.asarray(th_alignment.behavior(logits, positive)))


def theorem1_bound(grid: np.ndarray, B0: float, gamma_lam: float) -> np.ndarray:
    """tanh(γλ r_e + artanh B_0) on ``grid`` (``theory.alignment.evaluate``)."""
    return np.asarray(th_alignment.evaluate(grid, B0, gamma_lam, 1.0), dtype=float)


def _lambdified(expr: sp.Expr, **values: float) -> float:
    """Evaluate a theory expression at named symbol values (γλ given as ``gamma_lam``)."""
    gl = values.pop("gamma_lam", None)
    subs: dict[sp.Basic, float] = {}
    if gl is not None:  # γ and λ enter as their product γλ: put the product into γ
        subs[th_symbols.gamma] = gl
        subs[th_symbols.lam] = 1.0
    by_name = {str(x): x for x in expr.free_symbols}
    for key, val in values.items():
        if key in by_name:
            subs[by_name[key]] = val
    missing = expr.free_symbols - set(subs)
    if missing:
        raise ValueError(f"theory expression {expr} needs values for {sorted(map(str, missing))}")
    return float(expr.subs(subs))


def behavior_values(logits: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """B of every row of ``logits`` (..., K): ``theory.alignment.behavior`` over the last axis."""
    return np.asarray(th_alignment.behavior(logits, positive), dtype=float)


@functools.cache
def _numpy_fn(args: tuple[sp.Symbol, ...], expr: sp.Expr) -> Any:
    """``sp.lambdify(args, expr, "numpy")``, once per (args, expression): the planner evaluates
    these for every candidate inside bootstrap loops, and lambdify costs ~1 ms a call. Keyed by
    the expression itself, so a changed theory object is lambdified afresh."""
    return sp.lambdify(args, expr, "numpy")


def gain_slopes(B0: np.ndarray, gamma_lam: np.ndarray) -> np.ndarray:
    """Theorem 1's r_e coefficient γλ(1 − B_0²) of ``theory.alignment.linear_gain``, elementwise
    (lambdified: the planner needs it for every prompt of every candidate)."""
    fn = _numpy_fn((th_symbols.B_0, th_symbols.gamma, th_symbols.lam),
                   sp.diff(th_alignment.linear_gain, th_symbols.r_e))
    b, gl = np.broadcast_arrays(np.asarray(B0, float), np.asarray(gamma_lam, float))
    return np.asarray(fn(b, gl, np.ones_like(b)), dtype=float) * np.ones_like(b)


def sequence_slope(scores: np.ndarray, deltas: np.ndarray) -> float:
    """Fit-free dB/dr_e at 0 from answers sampled at r_e = 0 (sequence level, THEORY.md v2)."""
    return float(th_alignment.sequence_slope_value(scores, deltas))


def importance_curve(scores: np.ndarray, deltas: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Self-normalised importance-weighted B at each r_e of ``grid`` (sequence level)."""
    return np.asarray(th_alignment.importance_curve(scores, deltas, grid), dtype=float)


def theorem1_slope(B0: float, gamma_lam: float) -> float:
    """Fit-free dB/dr_e at 0: the r_e-coefficient of ``theory.tradeoff.gain`` (γλ(1 − B_0²))."""
    return _lambdified(th_tradeoff.gain, gamma_lam=gamma_lam, B_0=B0, r_e=1.0)


def tanh_slope_at_zero(a: float, b: float) -> float:
    """Slope at 0 of a fitted tanh(a r + b): Theorem 1's curve with γλ = a, B_0 = tanh b."""
    return theorem1_slope(float(np.tanh(b)), a)


# ------------------------------------------------------------------------------ Theorem 2
def alpha(p: np.ndarray, correct: int) -> float:
    """α = P_0(1 − P_0) − Σ_{a≠c} p_a² (``theory.helpfulness.alpha``)."""
    return float(th_helpfulness.alpha(np.asarray(p, dtype=float), int(correct)))


def iid_curve(P0: float, alpha_: float, s: float, grid: np.ndarray) -> np.ndarray:
    """i.i.d. Theorem 2 expansion P_0 − αP_0 s² r² (``theory.helpfulness.expansion_value``)."""
    return np.asarray(th_helpfulness.expansion_value(P0, alpha_, s, np.asarray(grid, float)),
                      dtype=float)


def iid_c2(P0: float, alpha_: float, s: float) -> float:
    """r_e² coefficient of the i.i.d. expansion (a polynomial in r_e: value at 1 minus P_0)."""
    return float(iid_curve(P0, alpha_, s, np.ones(1))[0]) - float(P0)


def random_direction_c2(p: np.ndarray, correct: int, U: np.ndarray, lam: float) -> float | None:
    """c2 for a uniformly random direction of norm λ with the real answer geometry ``U`` (K, d):
    ``theory.helpfulness.random_direction_second_order``; None when λ = 0."""
    if not lam > 0:
        return None
    return float(th_helpfulness.random_direction_second_order(
        np.asarray(p, float), int(correct), np.asarray(U, float), float(lam)))


def actual_coefficients(p: np.ndarray, correct: int, g: np.ndarray) -> tuple[float, float]:
    """(c1, c2) of P_{r_e}(c) for the fixed shifts ``g`` of the actual Δ̂ (μ = g, Σ = 0):
    ``theory.helpfulness.second_order(p, c, mean=g)``."""
    c1, c2 = th_helpfulness.second_order(np.asarray(p, float), int(correct),
                                         mean=np.asarray(g, float))
    return float(c1), float(c2)


def response_coefficients(p: np.ndarray, correct: int, g: np.ndarray,
                          g2: np.ndarray) -> tuple[float, float]:
    """(c1, c2) of P_{r_e}(c) when the logits respond as z + r g + (r²/2) g2 + O(r³):
    Theorem 2R for softmax_c, ``theory.helpfulness.response_coefficients`` (c1 = ∇ᵀg,
    c2 = ½ gᵀHc g + ½ ∇ᵀg2)."""
    c1, c2 = th_helpfulness.response_coefficients(np.asarray(p, float), int(correct),
                                                  np.asarray(g, float), np.asarray(g2, float))
    return float(c1), float(c2)


def response_curve(z: np.ndarray, correct: int, g: np.ndarray, g2: np.ndarray,
                   grid: np.ndarray) -> np.ndarray:
    """P_r(c) = softmax_c(z + r g + (r²/2) g2) on ``grid``, the exact softmax of the
    second-order logit path (its r and r² coefficients are ``response_coefficients``):
    ``theory.helpfulness.response_curve``."""
    return np.asarray(th_helpfulness.response_curve(z, g, int(correct), np.asarray(grid, float),
                                                    g2), dtype=float)


def behavior_coefficients(p: np.ndarray, scores: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """(c1, c2) of B_{r_e} = Σ_a B(a) P_{r_e}(a) for the actual shifts: Theorem 2's general
    expansion applied to every outcome, weighted by its score."""
    parts = [actual_coefficients(p, a, g) for a in range(len(p))]
    c1 = sum(float(s) * x[0] for s, x in zip(scores, parts, strict=True))
    c2 = sum(float(s) * x[1] for s, x in zip(scores, parts, strict=True))
    return c1, c2


def expected_curve(p: np.ndarray, correct: int, s: float,
                   grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact E[P_r(c)] under i.i.d. N(0, s²) shifts (``theory.helpfulness.expected``) and its
    error (Monte Carlo stderr or quadrature error estimate)."""
    res = th_helpfulness.expected(p, int(correct), float(s), np.asarray(grid, dtype=float))
    err = np.where(np.isfinite(res.error_estimate), res.error_estimate, 0.0)
    return np.asarray(res.value, dtype=float), np.maximum(np.asarray(res.stderr, dtype=float), err)


EPSILON_GRID = np.linspace(0.01, 0.99, 99)


def spread_bound(p: np.ndarray, correct: int, s: float, grid: np.ndarray) -> np.ndarray:
    """Theorem 2′ (``theory.helpfulness.theorem2_prime``): sigmoid(m) + δ minimised over ε in
    ``EPSILON_GRID`` among the ε with m ≥ 0 (each is a valid bound, so their minimum is);
    NaN where no ε gives m ≥ 0 or P_0 ∈ {0, 1}."""
    r = np.asarray(grid, dtype=float)
    p0 = float(p[correct])
    if not 0 < p0 < 1 or not np.isfinite(s):
        return np.full(r.shape, np.nan)
    best = np.full(r.shape, np.inf)
    for eps in EPSILON_GRID:
        sb = th_helpfulness.theorem2_prime(p, int(correct), float(s), r, float(eps))
        best = np.where(sb.applies, np.minimum(best, sb.bound), best)
    return np.where(np.isfinite(best), np.minimum(best, 1.0), np.nan)


def spread_bound_quadratic(P0: float, s: float, grid: np.ndarray) -> np.ndarray:
    """The paper's fitted form 1/(1 + ((1−P_0)/P_0)(1 + s²r²/2))
    (``theory.helpfulness.spread_bound_quadratic_value``)."""
    return np.asarray(th_helpfulness.spread_bound_quadratic_value(P0, s, np.asarray(grid, float)),
                      dtype=float)


# ------------------------------------------------------------------------------ Corollary
#: s·r* up to which the second-order model is trusted (THEORY.md, ``theory.tradeoff``).
VALID_LIMIT = float(th_tradeoff.VALID_LIMIT)


def general_utility(g1: float, l2: float, kappa: float, r: np.ndarray) -> np.ndarray:
    """U(r) = g₁ r − κ ℓ₂ r² (``theory.tradeoff.general_utility``) on the array ``r``."""
    fn = _numpy_fn((th_symbols.g_1, th_symbols.ell_2, th_symbols.kappa, th_symbols.r_e),
                   th_tradeoff.general_utility)
    rr = np.asarray(r, dtype=float)
    return np.asarray(fn(g1, l2, kappa, rr), dtype=float) * np.ones_like(rr)


#: r*, U* and break-even of U = G − κL with theory's validity flag: theory's own result type.
Optimum = th_tradeoff.Tradeoff


def second_order_optimum(g1: float, l2: float, kappa: float, s: float | None) -> Optimum | None:
    """``theory.tradeoff.general(g1, ℓ₂, κ, s=s)``: r* = g1/(2κℓ₂) with theory's validity flag
    (s·r* ≤ 0.5); None when an input is not finite."""
    if not (np.isfinite(g1) and np.isfinite(l2)):
        return None
    return th_tradeoff.general(g1, l2, kappa, s=s)


# ------------------------------------------------------------------------ THEORY v3 forms
def shift_scale(lam: Any, sigma: Any, beta: Any) -> np.ndarray:
    """s = λσβ (``theory.helpfulness.shift_scale``), elementwise."""
    return np.asarray(th_helpfulness.shift_scale(lam, sigma, beta), dtype=float)


def random_sigma(d: Any) -> np.ndarray:
    """σ = 1/√d of a uniformly random direction in R^d (``theory.helpfulness.random_sigma``)."""
    return np.asarray(th_helpfulness.random_sigma(d), dtype=float)


def utility(gain: Any, loss: Any, kappa: Any) -> np.ndarray:
    """U = G − κL (``theory.tradeoff.utility_value``), elementwise."""
    return np.asarray(th_tradeoff.utility_value(gain, loss, kappa), dtype=float)


def margin_from_slope(slope: Any, B0: Any) -> np.ndarray:
    """γλ = slope/(1 − B_0²), the margin whose Theorem 1 curve has this slope at 0
    (``theory.alignment.margin_from_slope``)."""
    return np.asarray(th_alignment.margin_from_slope(slope, B0), dtype=float)


def behavior_response_curve(z: Any, g: Any, scores: Any, grid: Any, w: Any = None) -> np.ndarray:
    """B_r of softmax(z + r g + (r²/2) w) with ±1 ``scores`` on ``grid`` (``w=None``: the
    exact linear model; ``theory.alignment.response_curve``)."""
    return np.asarray(th_alignment.response_curve(z, g, scores, grid, w), dtype=float)


def helpfulness_response_curve(z: Any, g: Any, correct: int, grid: Any,
                               w: Any = None) -> np.ndarray:
    """P_r(correct) of softmax(z + r g + (r²/2) w) on ``grid``
    (``theory.helpfulness.response_curve``)."""
    return np.asarray(th_helpfulness.response_curve(z, g, int(correct), grid, w), dtype=float)


def paper_tanh(r: Any, a: Any, b: Any) -> np.ndarray:
    """The paper's fitted tanh(a r + b) (``theory.alignment.paper_form``)."""
    return np.asarray(th_alignment.paper_form(r, a, b), dtype=float)


def paper_helpfulness(r: Any, a: Any, b: Any, options: int | None = None) -> np.ndarray:
    """The paper's fitted 1/(1 + a + a b² r²/2), or with ``options=4`` its A–D form
    0.5/(1 + a + a b² r²/2) + 0.25 (``theory.helpfulness.paper_form``)."""
    return np.asarray(th_helpfulness.paper_form(r, a, b, options), dtype=float)


def response_remainder(h_r: Any, h0: Any, delta: Any, r: Any, delta2: Any = None) -> np.ndarray:
    """Per-row ‖h_r − h0 − rΔ − (r²/2)Δ₂‖ (Proposition 1's remainder; first order without
    ``delta2``): ``theory.response.remainder``."""
    return np.asarray(th_response.remainder(h_r, h0, delta, r, delta2), dtype=float)


def helpfulness_response_coefficients(p: Any, correct: int, g: Any,
                                      w: Any) -> tuple[np.ndarray, np.ndarray]:
    """Theorem 2R for P(correct): (c1, c2) = (∇ᵀg, ½ gᵀHc g + ½ ∇ᵀw), rows (..., K)
    broadcast (0-d for one prompt): ``theory.helpfulness.response_coefficients``."""
    c1, c2 = th_helpfulness.response_coefficients(p, int(correct), g, w)
    return np.asarray(c1, dtype=float), np.asarray(c2, dtype=float)


def behavior_response_coefficients_2r(p: Any, scores: Any, g: Any,
                                      w: Any) -> tuple[np.ndarray, np.ndarray]:
    """Theorem 2R for B = Σ_a s_a P(a), with the path term ½∇Bᵀw:
    ``theory.alignment.response_coefficients`` (0-d for one prompt)."""
    c1, c2 = th_alignment.response_coefficients(p, scores, g, w)
    return np.asarray(c1, dtype=float), np.asarray(c2, dtype=float)


def theorem1_second_order(grid: Any, B0: Any, gamma_lam: Any, w_gap: Any) -> np.ndarray:
    """tanh(artanh B_0 + γλ r + (r²/4) w_gap) on ``grid``: Theorem 1 to second order for two
    outcomes, w_gap = w_a − w_b (``theory.alignment.second_order_curve``)."""
    return np.asarray(th_alignment.second_order_curve(grid, B0, gamma_lam, w_gap), dtype=float)


def departure_radius(B0: Any, gamma_lam: Any, w_gap: Any, tolerance: Any) -> np.ndarray:
    """The smallest r > 0 where Theorem 1's second-order curve leaves the linear bound by
    ``tolerance`` (inf if never; below the bound when w_gap < 0):
    ``theory.alignment.departure_radius``."""
    return np.asarray(th_alignment.departure_radius(B0, gamma_lam, w_gap, tolerance), dtype=float)


def general_response_optimum(g1: float, l1: float, g2: float, l2: float, kappa: float,
                             radius: float | None = None) -> Optimum:
    """r* = (g₁ − κℓ₁)/(2(κℓ₂ − g₂)), U*, break-even and validity (r* ≤ radius) of the general
    corollary: ``theory.tradeoff.general_response``."""
    return th_tradeoff.general_response(g1, l1, g2, l2, kappa, radius=radius)


def efficient_regime_exists(g1: float, l1: float, g2: float, l2: float, kappa: float) -> bool:
    """g₁ − κℓ₁ > 0 (or = 0 with g₂ − κℓ₂ > 0): ``theory.tradeoff.efficient_regime_exists``."""
    return bool(th_tradeoff.efficient_regime_exists(g1, l1, g2, l2, kappa))
