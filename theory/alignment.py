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

from typing import Any

import numpy as np
import sympy as sp
from scipy.special import logsumexp

from theory import _common as chk
from theory._common import Statement
from theory.symbols import B_0, delta_minus, delta_plus, epsilon, gamma, lam, r_e

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


__all__ = [
    "bound", "linear_gain", "second_order_term", "guarantee_coefficient", "sequence_slope",
    "B_r", "THEOREM", "THEOREM_MIRRORED", "EQUALITY", "GUARANTEE", "SEQUENCE_SLOPE", "evaluate",
    "guarantee", "margin", "behavior", "sequence_slope_value", "importance_curve",
]
