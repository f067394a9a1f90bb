"""Theorem 1 (alignment bound, linear in r_e).

If the last-layer change is exactly linear, ``h_{r_e} = h + r_e Δ``, and Δ separates the
behaviors with margin ``2λ > 0`` (``<u_s − u_{s'}, Δ> ≥ 2λ`` for every ``s ∈ S+``, ``s' ∈ S−``),
then the behavior expectation obeys ``B_{r_e} ≥ tanh(λ r_e + artanh B_0)`` for every ``r_e ≥ 0``
and ``B_{r_e} ≤ tanh(λ r_e + artanh B_0)`` for every ``r_e ≤ 0``, with equality when all
positive shifts are equal, all negative shifts are equal and their gap is exactly ``2λ``.
Consequences: the gain is linear, ``B_{r_e} ≥ B_0 + λ(1 − B_0²) r_e − λ² B_0 (1 − B_0²) r_e² +
O(r_e³)``, and ``B_{r_e} ≥ 1 − ε`` once ``r_e ≥ (artanh(1 − ε) − artanh B_0)/λ``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp
from scipy.special import logsumexp

from theory import _common as chk
from theory._common import Statement
from theory.symbols import B_0, epsilon, lam, r_e

#: The Theorem 1 curve tanh(λ r_e + artanh B_0) (the paper's fitted tanh(a r_e + b)).
bound: sp.Expr = sp.tanh(lam * r_e + sp.atanh(B_0))
#: First-order truncation of ``bound`` at r_e = 0.
linear_gain: sp.Expr = B_0 + lam * (1 - B_0**2) * r_e
#: The r_e² term of ``bound``'s Taylor series.
second_order_term: sp.Expr = -(lam**2) * B_0 * (1 - B_0**2) * r_e**2
#: The r_e that guarantees B_{r_e} ≥ 1 − ε (any B_0 > −1, 0 < ε < 2).
guarantee_coefficient: sp.Expr = (sp.atanh(1 - epsilon) - sp.atanh(B_0)) / lam

B_r = sp.Symbol("B_{r_e}", real=True)
THEOREM = Statement("Theorem 1", sp.Ge(B_r, bound), "exact linear h, margin 2λ > 0, r_e ≥ 0")
THEOREM_MIRRORED = Statement("Theorem 1", sp.Le(B_r, bound), "exact linear h, margin 2λ > 0, r_e ≤ 0")
GUARANTEE = Statement("Guarantee", sp.Ge(r_e, guarantee_coefficient), "implies B_{r_e} ≥ 1 − ε")


def evaluate(r_e: Any, B0: Any, lam: Any) -> np.ndarray:
    """The bound ``tanh(λ r_e + artanh B0)``, broadcast over numpy arrays."""
    r = chk.finite("r_e", r_e)
    b0 = chk.open_interval("B0", B0, -1.0, 1.0)
    la = chk.positive("lam", lam)
    return np.tanh(la * r + np.arctanh(b0))


def guarantee(B0: Any, lam: Any, epsilon: Any) -> np.ndarray:
    """Numeric ``guarantee_coefficient``: the r_e beyond which the bound exceeds 1 − ε."""
    b0 = chk.open_interval("B0", B0, -1.0, 1.0)
    la = chk.positive("lam", lam)
    eps = chk.open_interval("epsilon", epsilon, 0.0, 2.0)
    return (np.arctanh(1 - eps) - np.arctanh(b0)) / la


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
    """The λ that logit shifts certify: ``(min_{s∈S+} g_s − max_{s'∈S−} g_{s'}) / 2``.

    ``shifts`` has shape (..., K); ``positive`` is a length-K boolean mask or index list of S+.
    A result ≤ 0 means the shifts certify no λ (Theorem 1 needs λ > 0).
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


__all__ = [
    "bound", "linear_gain", "second_order_term", "guarantee_coefficient", "THEOREM",
    "THEOREM_MIRRORED", "GUARANTEE", "evaluate", "guarantee", "margin", "behavior",
]
