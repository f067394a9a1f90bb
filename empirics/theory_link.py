"""Fit-free predicted curves from the per-prompt estimates, and the Proposition 1 remainder.

Every formula is a call into ``empirics.formulas`` (i.e. ``theory``). Per-prompt arrays are
prompts × coefficients ``(N, C)``; ``grid`` is the coefficient grid ``(C,)``.

``σ̂``: a prompt has only 2–4 answer tokens, so its own std of cosines is very noisy. The
default for the i.i.d. predictions is the *pooled* within-prompt std across prompts
(``sigma="pooled"``); ``"prompt"`` uses each prompt's own, ``"random"`` the random-direction
value ``1/√d``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from empirics import formulas
from empirics.estimates import PromptEstimates, _normalise, pooled_sigma


# --------------------------------------------------------------------------------------------
# Predicted curves
# --------------------------------------------------------------------------------------------
@dataclass
class Predictions:
    """Fit-free predicted curves on ``grid``; per-prompt arrays are (N, C), means (C,).

    Behavior: ``tanh_bound`` (Theorem 1, NaN where λ̂ ≤ 0), ``linear_B`` (softmax of z + r g).
    Helpfulness: ``linear_P``, ``expansion`` (Theorem 2), ``expected`` (+ ``expected_stderr``,
    exact random-direction expectation), ``spread_bound`` (Theorem 2′, sigmoid(m)+δ minimised
    over ε, NaN where no ε gives m ≥ 0), ``spread_bound_quadratic`` (the paper's fitted form).
    """

    grid: np.ndarray
    sigma_mode: str
    sigma_pooled: float
    sigma_random: float | None
    curves: dict[str, np.ndarray]        # name -> (N, C)
    means: dict[str, np.ndarray]         # name -> (C,) nan-mean over prompts
    n_defined: dict[str, np.ndarray]     # name -> (C,) prompts with a finite value



def linear_model_curves(estimates: Sequence[PromptEstimates], grid: Sequence[float] | np.ndarray) -> np.ndarray:
    """(N, C): B (behavior) or P(correct) (helpfulness) of softmax(z + r g) over the candidates —
    what exact linear response predicts with the actual shifts."""
    r = np.asarray(grid, dtype=float)
    out = np.empty((len(estimates), len(r)))
    for i, e in enumerate(estimates):
        probs = _normalise(e.z[None] + r[:, None] * e.g[None])
        if e.scores is not None:
            out[i] = (probs * e.scores[None]).sum(axis=1)
        else:
            out[i] = probs[:, e.correct]
    return out


def _nanmean_cols(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.isfinite(a).sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.where(n > 0, np.nansum(np.where(np.isfinite(a), a, 0.0), axis=0) / np.maximum(n, 1), np.nan)
    return mean, n


def predicted_curves(
    estimates: Sequence[PromptEstimates],
    grid: Sequence[float] | np.ndarray,
    *,
    sigma: str | float = "pooled",
    hidden_size: int | None = None,
) -> Predictions:
    """Fit-free curves for one kind of prompts (all behavior or all helpfulness).

    ``sigma``: "pooled" (default), "prompt", "random" (needs ``hidden_size``: σ = 1/√d), or a
    number. Only the helpfulness curves use σ.
    """
    r = np.asarray(grid, dtype=float)
    if r.ndim != 1 or len(r) == 0 or not np.all(np.isfinite(r)):
        raise ValueError("grid must be a non-empty 1-D finite array")
    if not estimates:
        raise ValueError("estimates is empty")
    kinds = {e.kind for e in estimates}
    if len(kinds) != 1:
        raise ValueError(f"estimates mix kinds {sorted(kinds)}; predict each kind separately")
    kind = kinds.pop()
    sig_pooled = pooled_sigma(estimates)
    sig_random = 1 / math.sqrt(hidden_size) if hidden_size else None
    if isinstance(sigma, str):
        if sigma not in ("pooled", "prompt", "random"):
            raise ValueError(f"sigma {sigma!r} must be 'pooled', 'prompt', 'random' or a number")
        if sigma == "random" and sig_random is None:
            raise ValueError("sigma='random' needs hidden_size")
    elif not (isinstance(sigma, (int, float)) and sigma >= 0):
        raise ValueError(f"sigma {sigma!r} must be a non-negative number")
    n, c = len(estimates), len(r)
    curves: dict[str, np.ndarray] = {}

    if kind == "behavior":
        tb = np.full((n, c), np.nan)
        lb = linear_model_curves(estimates, r)
        for i, e in enumerate(estimates):
            assert e.scores is not None and e.B0 is not None and e.gamma_lam is not None
            if e.gamma_lam > 0 and abs(e.B0) < 1:
                tb[i] = formulas.theorem1_bound(r, e.B0, e.gamma_lam)
        curves = {"tanh_bound": tb, "linear_B": lb}
    else:
        names = ("linear_P", "expansion", "expected", "expected_stderr", "spread_bound",
                 "spread_bound_quadratic")
        curves = {k: np.full((n, c), np.nan) for k in names}
        curves["linear_P"] = linear_model_curves(estimates, r)
        for i, e in enumerate(estimates):
            assert e.correct is not None and e.P0 is not None and e.alpha_hat is not None
            if sigma == "pooled":
                sg = sig_pooled
            elif sigma == "prompt":
                sg = e.sigma_hat
            elif sigma == "random":
                sg = float(sig_random)  # type: ignore[arg-type]
            else:
                sg = float(sigma)
            s = e.delta_norm * sg * e.beta_hat
            p0 = e.P0
            curves["expansion"][i] = formulas.iid_curve(p0, e.alpha_hat, s, r)
            if math.isfinite(s):
                curves["expected"][i], curves["expected_stderr"][i] = formulas.expected_curve(
                    e.p, e.correct, s, r)
                curves["spread_bound"][i] = formulas.spread_bound(e.p, e.correct, s, r)
            if 0 < p0 < 1:
                curves["spread_bound_quadratic"][i] = formulas.spread_bound_quadratic(p0, s, r)
    means, counts = {}, {}
    for k, v in curves.items():
        means[k], counts[k] = _nanmean_cols(v)
    return Predictions(r, str(sigma), sig_pooled, sig_random, curves, means, counts)


# --------------------------------------------------------------------------------------------
# Proposition 1 remainder
# --------------------------------------------------------------------------------------------
@dataclass
class Remainder:
    """‖h_r − h − rΔ‖ per coefficient and prompt, its size relative to ‖rΔ‖, the log-log
    scaling exponent near 0 (≈ 2 where Proposition 1 holds), and the linear-response range."""

    grid: np.ndarray            # (C,)
    remainder: np.ndarray       # (N, C)
    relative: np.ndarray        # (N, C), NaN at r = 0
    exponent: np.ndarray        # (N,) slope of log remainder vs log |r|
    exponent_pooled: float      # the same for the mean remainder over prompts
    fit_max_abs_r: float
    threshold: float
    linear_range: np.ndarray    # (N,) largest |r| with relative ≤ threshold for all smaller |r|
    linear_range_pooled: float  # the same for the median relative remainder
    median_relative: np.ndarray  # (C,) median over prompts of the relative remainder (NaN at 0)



def _loglog_slope(r: np.ndarray, y: np.ndarray) -> float:
    ok = (r > 0) & (y > 0) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(r[ok]), np.log(y[ok]), 1)[0])


def _linear_range(abs_r: np.ndarray, rel: np.ndarray, threshold: float) -> float:
    order = np.argsort(abs_r, kind="stable")
    best = 0.0
    for j in order:
        if abs_r[j] == 0:
            continue
        if not (rel[j] <= threshold):
            break
        best = float(abs_r[j])
    return best


def linear_response_remainder(
    h0: np.ndarray | torch.Tensor,
    delta: np.ndarray | torch.Tensor,
    final_hidden_by_coef: np.ndarray,
    grid: Sequence[float] | np.ndarray,
    *,
    threshold: float = 0.1,
    exponent_max_abs_r: float | None = None,
    exponent_min_abs_r: float = 0.0,
) -> Remainder:
    """Proposition 1's remainder on a sweep (``final_hidden_by_coef``: (C, N, d)).

    When r = 0 is on the grid, the sweep's own r = 0 row is used as h (instead of ``h0``) so
    both terms come from the same code path; differences between attention kernels (~1e-6)
    would otherwise put a floor under the remainder at small r. The exponent is fitted on the
    |r| in [``exponent_min_abs_r``, ``exponent_max_abs_r``] (default: all nonzero), both signs
    pooled. fp32 rounding through the stack puts a floor of about 1e-6 ‖h‖ under the remainder
    (≈ r = 0.05 for unit vectors on SmolLM2): keep the fit above it.
    """
    h = np.asarray(h0, dtype=np.float64)
    d = np.asarray(delta, dtype=np.float64)
    fh = np.asarray(final_hidden_by_coef, dtype=np.float64)
    r = np.asarray(grid, dtype=np.float64)
    if h.ndim != 2 or d.shape != h.shape:
        raise ValueError(f"h0 {h.shape} and delta {d.shape} must both be (N, d)")
    if r.ndim != 1 or fh.shape != (len(r), *h.shape):
        raise ValueError(f"final_hidden_by_coef has shape {fh.shape}, expected {(len(r), *h.shape)}")
    for name, arr in (("h0", h), ("delta", d), ("final_hidden_by_coef", fh), ("grid", r)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf")
    if not threshold > 0:
        raise ValueError(f"threshold {threshold} must be > 0")
    zero = np.flatnonzero(r == 0)
    if len(zero):
        h = fh[zero[0]]
    rem = np.linalg.norm(fh - h[None] - r[:, None, None] * d[None], axis=-1)
    lin = np.abs(r)[:, None] * np.linalg.norm(d, axis=-1)[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(lin > 0, rem / lin, np.nan)
    a = np.abs(r)
    cap = float(a.max()) if exponent_max_abs_r is None else float(exponent_max_abs_r)
    sel = (a > 0) & (a <= cap) & (a >= exponent_min_abs_r)
    exps = np.array([_loglog_slope(a[sel], rem[sel, i]) for i in range(h.shape[0])])
    pooled = _loglog_slope(a[sel], rem[sel].mean(axis=1))
    ranges = np.array([_linear_range(a, rel[:, i], threshold) for i in range(h.shape[0])])
    with warnings.catch_warnings():  # the r = 0 row is all NaN by construction
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(np.where(a[:, None] > 0, rel, np.nan), axis=1)
    return Remainder(r, rem.T, rel.T, exps, pooled, cap, threshold, ranges,
                     _linear_range(a, med, threshold), med)
