"""Theorem 1 (alignment bound, linear in r_e), THEORY.md version 2.

If the last-layer change is exactly linear, ``h_{r_e} = h + r_e Δ`` with ``λ = ‖Δ‖ > 0``, and Δ
separates the behaviors with margin ``2γλ`` (``<u_s − u_{s'}, Δ> ≥ 2γλ`` for every ``s ∈ S+``,
``s' ∈ S−``, ``γ > 0``), then ``B_{r_e} ≥ tanh(γλ r_e + artanh B_0)`` for every ``r_e ≥ 0`` and
``≤`` for every ``r_e ≤ 0``, with equality when all positive shifts are equal, all negative shifts
are equal and their gap is exactly ``2γλ``. Consequences: the linear gain, and ``B_{r_e} ≥ 1 − ε``
for every ``r_e ≥ max(0, (artanh(1 − ε) − artanh B_0)/(γλ))`` (the ``max`` is needed: the
theorem says nothing for r_e < 0). Sequence level: ``dB/dr_e|_0 = (1 − B_0²)/2 (δ̄_+ − δ̄_−)``
and the self-normalised importance-weighted curve, both from samples at r_e = 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy as sp
from scipy.optimize import brentq
from scipy.special import logsumexp

from theory import _common as chk
from theory import response
from theory._common import Statement
from theory.symbols import (
    B_0,
    a_fit,
    b_fit,
    delta_minus,
    delta_plus,
    epsilon,
    g_1,
    gamma,
    lam,
    r_e,
    w_gap,
)

#: The Theorem 1 curve tanh(γλ r_e + artanh B_0) (the paper's fitted tanh(a r_e + b), a = γλ).
bound: sp.Expr = sp.tanh(gamma * lam * r_e + sp.atanh(B_0))
#: First-order truncation of ``bound`` at r_e = 0.
linear_gain: sp.Expr = B_0 + gamma * lam * (1 - B_0**2) * r_e
#: The r_e² term of ``bound``'s Taylor series.
second_order_term: sp.Expr = -((gamma * lam) ** 2) * B_0 * (1 - B_0**2) * r_e**2
#: The smallest r_e ≥ 0 from which B_{r_e} ≥ 1 − ε is guaranteed (B_0 > −1, 0 < ε < 2).
guarantee_coefficient: sp.Expr = sp.Max(0, (sp.atanh(1 - epsilon) - sp.atanh(B_0)) / (gamma * lam))
#: Sequence level, no margin needed: dB/dr_e at 0 for answers y ~ P_0 (δ̄_± = E[δ | S±]).
sequence_slope: sp.Expr = (1 - B_0**2) / 2 * (delta_plus - delta_minus)

B_r = sp.Symbol("B_{r_e}", real=True)
_MARGIN = "exact linear h, λ = ‖Δ‖ > 0, margin 2γλ with γ > 0"
THEOREM = Statement("Theorem 1", sp.Ge(B_r, bound), f"{_MARGIN}, r_e ≥ 0")
THEOREM_MIRRORED = Statement("Theorem 1 (mirrored)", sp.Le(B_r, bound), f"{_MARGIN}, r_e ≤ 0")
EQUALITY = Statement("Theorem 1 (equality case)", sp.Eq(B_r, bound),
                     "exact linear h; all S+ shifts equal g_+, all S− shifts equal g_−, "
                     "g_+ − g_− = 2γλ; any real r_e")
GUARANTEE = Statement("Guarantee", sp.Ge(r_e, guarantee_coefficient),
                      f"{_MARGIN}, B_0 > −1, 0 < ε < 2; implies B_{{r_e}} ≥ 1 − ε")
dB_dr = sp.Symbol("dB/dr_e|_0", real=True)
SEQUENCE_SLOPE = Statement("Sequence-level slope", sp.Eq(dB_dr, sequence_slope),
                           "sequence log-likelihoods exactly linear in r_e up to normalisation; "
                           "δ̄_± = E_{P_0}[δ(y) | S±]")


def evaluate(r_e: Any, B0: Any, gamma: Any, lam: Any) -> np.ndarray:
    """The bound ``tanh(γλ r_e + artanh B0)``, broadcast over numpy arrays."""
    r = chk.finite("r_e", r_e)
    b0 = chk.open_interval("B0", B0, -1.0, 1.0)
    ga = chk.positive("gamma", gamma)
    la = chk.positive("lam", lam)
    return np.asarray(np.tanh(ga * la * r + np.arctanh(b0)))


def guarantee(B0: Any, gamma: Any, lam: Any, epsilon: Any) -> np.ndarray:
    """Numeric ``guarantee_coefficient``: ``max(0, (artanh(1 − ε) − artanh B0)/(γλ))``."""
    b0 = chk.open_interval("B0", B0, -1.0, 1.0)
    ga = chk.positive("gamma", gamma)
    la = chk.positive("lam", lam)
    eps = chk.open_interval("epsilon", epsilon, 0.0, 2.0)
    return np.asarray(np.maximum(0.0, (np.arctanh(1 - eps) - np.arctanh(b0)) / (ga * la)))


def _mask(positive: Any, k: int) -> np.ndarray:
    """A boolean S+ mask of length k from a mask or a list of indices; S+ and S− non-empty."""
    arr = np.asarray(positive)
    if arr.dtype == bool:
        if arr.shape != (k,):
            raise ValueError(f"positive must be a boolean mask of length {k}, got shape {arr.shape}")
        mask = arr.copy()
    else:
        mask = np.zeros(k, dtype=bool)
        for i in np.atleast_1d(arr).tolist():
            mask[chk.index("positive", i, k)] = True
    if mask.all() or not mask.any():
        raise ValueError("positive must select a non-empty proper subset of the outcomes "
                         f"(allowed: 1 to {k - 1} of {k} outcomes)")
    return mask


def margin(shifts: Any, positive: Any) -> np.ndarray:
    """The γλ that logit shifts certify: ``(min_{s∈S+} g_s − max_{s'∈S−} g_{s'}) / 2``.

    ``shifts`` has shape (..., K); ``positive`` is a length-K boolean mask or index list of S+.
    Divide by λ = ‖Δ‖ for γ. A result ≤ 0 certifies no margin (Theorem 1 needs γλ > 0).
    """
    g = chk.finite("shifts", shifts)
    if g.ndim < 1 or g.shape[-1] < 2:
        raise ValueError(f"shifts must have a last axis of length >= 2, got shape {g.shape}")
    mask = _mask(positive, g.shape[-1])
    return (g[..., mask].min(axis=-1) - g[..., ~mask].max(axis=-1)) / 2


def behavior(logits: Any, positive: Any) -> np.ndarray:
    """``B[P] = P(S+) − P(S−)`` for P = softmax(logits) over the last axis (computed stably)."""
    z = chk.finite("logits", logits)
    mask = _mask(positive, z.shape[-1])
    lp = logsumexp(z[..., mask], axis=-1)
    lm = logsumexp(z[..., ~mask], axis=-1)
    # B = tanh((log P(S+) − log P(S−))/2): exact and free of cancellation near ±1.
    return np.tanh((lp - lm) / 2)


def _scores_deltas(scores: Any, deltas: Any) -> tuple[np.ndarray, np.ndarray]:
    sc = chk.finite("scores", scores)
    de = chk.finite("deltas", deltas)
    if sc.ndim != 1 or sc.shape != de.shape or sc.size < 2:
        raise ValueError("scores and deltas must be 1-D arrays of the same length >= 2 (one entry "
                         f"per sampled answer), got shapes {sc.shape} and {de.shape}")
    if not np.all(np.abs(sc) == 1):
        raise ValueError("scores must be the behavior scores B(y_i) in {-1, +1}")
    return sc, de


def sequence_slope_value(scores: Any, deltas: Any) -> float:
    """Fit-free ``dB/dr_e`` at 0 from answers ``y_i ~ P_0``: the plug-in covariance of
    ``B(y_i) = ±1`` (``scores``) and ``δ(y_i)`` (``deltas``), i.e. the slope of
    ``importance_curve`` at 0; equals ``(1 − B̂_0²)/2 (δ̄_+ − δ̄_−)`` on the sample."""
    sc, de = _scores_deltas(scores, deltas)
    return float(np.mean(sc * de) - np.mean(sc) * np.mean(de))


def importance_curve(scores: Any, deltas: Any, r_e: Any) -> np.ndarray:
    """``Σ B(y_i) e^{r δ_i} / Σ e^{r δ_i}`` at each r_e (self-normalised importance weights of the
    exact linear model, computed in log space)."""
    sc, de = _scores_deltas(scores, deltas)
    r = chk.finite("r_e", r_e)
    logw = r[..., None] * de  # (..., n)
    pos, neg = sc > 0, sc < 0
    lp = logsumexp(np.where(pos, logw, -np.inf), axis=-1) if pos.any() else np.full(r.shape, -np.inf)
    ln = logsumexp(np.where(neg, logw, -np.inf), axis=-1) if neg.any() else np.full(r.shape, -np.inf)
    if not pos.any():
        return np.full(r.shape, -1.0)
    if not neg.any():
        return np.full(r.shape, 1.0)
    return np.asarray(np.tanh((lp - ln) / 2))


# ------------------------------------------------------------------------------------------
# Version 3: the margin from a measured slope, the paper's tanh, Theorem 1 to second order,
# Theorem 2R for f = B
# ------------------------------------------------------------------------------------------
#: γλ from a gain slope g₁ = dB/dr_e at 0: the inverse of ``linear_gain``'s r_e coefficient.
margin_from_slope_expr: sp.Expr = g_1 / (1 - B_0**2)
#: The paper's fitted curve tanh(a r_e + b) (Theorem 1's bound with a = γλ, b = artanh B_0).
paper_form_expr: sp.Expr = sp.tanh(a_fit * r_e + b_fit)
#: Theorem 1 to second order, two outcomes (w_gap = w_a − w_b): B_r up to O(r_e³).
second_order_bound: sp.Expr = sp.tanh(sp.atanh(B_0) + gamma * lam * r_e + r_e**2 / 4 * w_gap)

_np_margin_from_slope = sp.lambdify((g_1, B_0), margin_from_slope_expr, "numpy")
_np_paper = sp.lambdify((r_e, a_fit, b_fit), paper_form_expr, "numpy")
_np_second_order = sp.lambdify((r_e, B_0, gamma, lam, w_gap), second_order_bound, "numpy")


def margin_from_slope(slope: Any, B0: Any) -> np.ndarray:
    """``γλ = slope/(1 − B0²)`` (``margin_from_slope_expr``): the margin whose Theorem 1 curve
    has the given slope at r_e = 0."""
    sl = chk.finite("slope", slope)
    b0 = chk.open_interval("B0", B0, -1.0, 1.0)
    return np.asarray(_np_margin_from_slope(sl, b0), dtype=float)


def paper_form(r: Any, a: Any, b: Any) -> np.ndarray:
    """The paper's fitted ``tanh(a r + b)`` (``paper_form_expr``; a = γλ, b = artanh B_0 for
    Theorem 1's curve). a, b are free fit parameters (any finite value)."""
    return np.asarray(_np_paper(chk.finite("r", r), chk.finite("a", a), chk.finite("b", b)),
                      dtype=float)


def second_order_curve(r: Any, B0: Any, gamma_lam: Any, w_gap: Any) -> np.ndarray:
    """``tanh(artanh B0 + γλ r + (r²/4) w_gap)`` (``second_order_bound``): B_r of two outcomes
    to O(r³) when the logits respond as ``z + r g + (r²/2) w`` with ``g_a − g_b = 2γλ`` and
    ``w_gap = w_a − w_b``. ``gamma_lam`` may have either sign here (two outcomes: an identity)."""
    rr = chk.finite("r", r)
    b0 = chk.open_interval("B0", B0, -1.0, 1.0)
    gl = chk.finite("gamma_lam", gamma_lam)
    wg = chk.finite("w_gap", w_gap)
    return np.asarray(_np_second_order(rr, b0, gl, 1.0, wg), dtype=float)


DEPARTURE_POINTS = 4096  # geometric grid of the departure search (then brentq on one cell)


def _departure_one(b0: float, gl: float, wg: float, tol: float) -> float:
    """Smallest r > 0 with |tanh(x0 + γλr + wg r²/4) − tanh(x0 + γλr)| >= tol (inf if none)."""
    if wg == 0:
        return math.inf
    x0, q = math.atanh(b0), wg / 4

    def gap(r: np.ndarray | float) -> np.ndarray:
        u = x0 + gl * np.asarray(r)
        return np.asarray(np.abs(np.tanh(u + q * np.asarray(r) ** 2) - np.tanh(u)) - tol)

    # The curves' own scales: the quadratic term's, the linear term's, and where either
    # argument passes artanh B0's size; the grid spans them with wide margins.
    scales = [1 / math.sqrt(abs(q)), math.sqrt((abs(x0) + 1) / abs(q))]
    if gl != 0:
        scales += [1 / abs(gl), (abs(x0) + 1) / abs(gl)]
    grid = np.geomspace(1e-6 * min(scales), 1e6 * max(scales), DEPARTURE_POINTS)
    over = np.flatnonzero(gap(grid) >= 0)
    if over.size == 0:
        return math.inf
    i = int(over[0])
    if i == 0:
        return float(grid[0])
    return float(brentq(lambda x: float(gap(x)), grid[i - 1], grid[i], xtol=1e-14 * grid[i]))


def departure_radius(B0: Any, gamma_lam: Any, w_gap: Any, tolerance: Any) -> np.ndarray:
    """The smallest r > 0 at which ``|second_order_curve − tanh(γλ r + artanh B0)|`` reaches
    ``tolerance`` (inf if never; broadcast). For r > 0 the second-order curve lies above the
    linear bound when ``w_gap > 0`` and below it (crossing Theorem 1's bound) when ``w_gap < 0``:
    the sign of ``w_gap`` says on which side it leaves. Found on a geometric grid spanning the
    curves' scales (``DEPARTURE_POINTS``), then refined by ``brentq``."""
    b0 = chk.open_interval("B0", B0, -1.0, 1.0)
    gl = chk.finite("gamma_lam", gamma_lam)
    wg = chk.finite("w_gap", w_gap)
    tol = chk.open_interval("tolerance", tolerance, 0.0, 2.0)
    args = np.broadcast_arrays(b0, gl, wg, tol)
    out = np.array([_departure_one(*(float(x) for x in vals))
                    for vals in zip(*(x.ravel() for x in args), strict=True)])
    return out.reshape(args[0].shape)


def response_coefficients(p: Any, scores: Any, g: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
    """Theorem 2R for ``f = B = Σ_a s_a softmax_a``: ``(c1, c2)`` of ``B_r`` when the logits
    respond as ``z + r g + (r²/2) w`` (``w=None``: w = 0), with ``∂B/∂z_a = p_a(s_a − B_0)`` and
    ``∂²B/∂z_a∂z_b = p_a(δ_ab − p_b)(s_a − B_0) − p_a p_b(s_b − B_0)`` at ``p = softmax(z)``.
    ``p``, ``scores``, ``g``, ``w`` are (..., K) (scores: any real B(a)); 0-d for one prompt."""
    pr = chk.prob_rows("p", p)
    sc = chk.finite("scores", scores)
    if sc.ndim < 1 or sc.shape[-1] != pr.shape[-1]:
        raise ValueError(f"scores must have the last axis of p ({pr.shape[-1]} outcomes), "
                         f"got shape {sc.shape}")
    centred = sc - np.sum(pr * sc, axis=-1, keepdims=True)  # s_a − B_0
    grad = pr * centred
    eye = np.eye(pr.shape[-1])
    hess = (grad[..., :, None] * (eye - pr[..., None, :])
            - pr[..., :, None] * pr[..., None, :] * centred[..., None, :])
    return response.readout_coefficients(grad, hess, g, w)


def response_curve(z: Any, g: Any, scores: Any, r: Any, w: Any = None) -> np.ndarray:
    """``B_r = Σ_a s_a softmax_a(z + r g + (r²/2) w)`` at every r for ±1 ``scores`` (stable:
    ``tanh((log P(S+) − log P(S−))/2)``; ``w=None`` is the exact linear model). Shape (..., R)
    for z of shape (..., K), ``r.shape`` for 1-D z."""
    path = response.logit_path(z, g, r, w)
    sc = chk.finite("scores", scores)
    if sc.shape != (path.shape[-1],) or not np.all(np.abs(sc) == 1):
        raise ValueError(f"scores must be a vector of {path.shape[-1]} behavior scores in "
                         f"{{-1, +1}}, got {scores!r}")
    pos = sc > 0
    if pos.all() or not pos.any():
        return np.full(path.shape[:-1], 1.0 if pos.all() else -1.0)
    return behavior(path, pos)


__all__ = [
    "margin_from_slope_expr", "paper_form_expr", "second_order_bound", "margin_from_slope",
    "paper_form", "second_order_curve", "DEPARTURE_POINTS", "departure_radius",
    "response_coefficients", "response_curve",
    "bound", "linear_gain", "second_order_term", "guarantee_coefficient", "sequence_slope",
    "B_r", "THEOREM", "THEOREM_MIRRORED", "EQUALITY", "GUARANTEE", "SEQUENCE_SLOPE", "evaluate",
    "guarantee", "margin", "behavior", "sequence_slope_value", "importance_curve",
]
