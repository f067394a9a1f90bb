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
from empirics.estimates import PromptEstimates, pooled_sigma


# --------------------------------------------------------------------------------------------
# Predicted curves
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PredictedCurve:
    """One fit-free prediction: per prompt ``(N, C)``, its nan-mean over prompts ``(C,)`` and
    the number of prompts with a finite value per coefficient ``(C,)``."""

    per_prompt: np.ndarray
    mean: np.ndarray
    defined: np.ndarray

    @classmethod
    def of(cls, per_prompt: np.ndarray) -> PredictedCurve:
        n = np.isfinite(per_prompt).sum(axis=0)
        with np.errstate(invalid="ignore"):
            total = np.nansum(np.where(np.isfinite(per_prompt), per_prompt, 0.0), axis=0)
            mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        return cls(per_prompt, mean, n)


@dataclass(frozen=True)
class BehaviorPredictions:
    """Behavior prompts: Theorem 1's bound ``tanh_bound`` (NaN where γ̂λ̂ ≤ 0) and the exact
    linear model ``linear_B`` (B of softmax(z + r g))."""

    grid: np.ndarray
    tanh_bound: PredictedCurve
    linear_B: PredictedCurve


@dataclass(frozen=True)
class HelpfulnessPredictions:
    """Helpfulness prompts: the linear model ``linear_P``, Theorem 2's ``expansion``, the exact
    random-direction ``expected`` (and its ``expected_stderr``), Theorem 2′'s
    ``spread_bound`` (sigmoid(m)+δ minimised over ε, NaN where no ε gives m ≥ 0) and the paper's
    fitted form ``spread_bound_quadratic``, with the σ they used."""

    grid: np.ndarray
    sigma_mode: str
    sigma_pooled: float
    sigma_random: float | None
    linear_P: PredictedCurve
    expansion: PredictedCurve
    expected: PredictedCurve
    expected_stderr: PredictedCurve
    spread_bound: PredictedCurve
    spread_bound_quadratic: PredictedCurve


def linear_model_curves(estimates: Sequence[PromptEstimates], grid: Sequence[float] | np.ndarray) -> np.ndarray:
    """(N, C): B (behavior) or P(correct) (helpfulness) of softmax(z + r g) over the candidates —
    what exact linear response predicts with the actual shifts."""
    r = np.asarray(grid, dtype=float)
    out = np.empty((len(estimates), len(r)))
    for i, e in enumerate(estimates):
        if e.scores is not None:
            out[i] = formulas.behavior_response_curve(e.z, e.g, e.scores, r)
        else:
            assert e.correct is not None
            out[i] = formulas.helpfulness_response_curve(e.z, e.g, e.correct, r)
    return out


def _checked(estimates: Sequence[PromptEstimates], grid: Sequence[float] | np.ndarray,
             kind: str) -> np.ndarray:
    r = np.asarray(grid, dtype=float)
    if r.ndim != 1 or len(r) == 0 or not np.all(np.isfinite(r)):
        raise ValueError("grid must be a non-empty 1-D finite array")
    if not estimates:
        raise ValueError("estimates is empty")
    wrong = sorted({e.kind for e in estimates} - {kind})
    if wrong:
        raise ValueError(f"estimates mix kinds {wrong} into {kind} predictions; predict each "
                         "kind separately")
    return r


def behavior_predictions(estimates: Sequence[PromptEstimates],
                         grid: Sequence[float] | np.ndarray) -> BehaviorPredictions:
    """Fit-free curves of behavior prompts on ``grid``."""
    r = _checked(estimates, grid, "behavior")
    bound = np.full((len(estimates), len(r)), np.nan)
    for i, e in enumerate(estimates):
        assert e.scores is not None and e.B0 is not None and e.gamma_lam is not None
        if e.gamma_lam > 0 and abs(e.B0) < 1:
            bound[i] = formulas.theorem1_bound(r, e.B0, e.gamma_lam)
    return BehaviorPredictions(r, PredictedCurve.of(bound),
                               PredictedCurve.of(linear_model_curves(estimates, r)))


def _sigma(sigma: str | float, hidden_size: int | None) -> float | None:
    """Checks ``sigma``; returns the random-direction σ = 1/√d (None without ``hidden_size``)."""
    sig_random = float(formulas.random_sigma(hidden_size)) if hidden_size else None
    if isinstance(sigma, str):
        if sigma not in ("pooled", "prompt", "random"):
            raise ValueError(f"sigma {sigma!r} must be 'pooled', 'prompt', 'random' or a number")
        if sigma == "random" and sig_random is None:
            raise ValueError("sigma='random' needs hidden_size")
    elif not (isinstance(sigma, (int, float)) and sigma >= 0):
        raise ValueError(f"sigma {sigma!r} must be a non-negative number")
    return sig_random


def _sigma_of(e: PromptEstimates, sigma: str | float, pooled: float,
              random: float | None) -> float:
    if sigma == "pooled":
        return pooled
    if sigma == "prompt":
        return e.sigma_hat
    if sigma == "random" and random is not None:
        return random
    return float(sigma)


def helpfulness_predictions(estimates: Sequence[PromptEstimates],
                            grid: Sequence[float] | np.ndarray, *, sigma: str | float = "pooled",
                            hidden_size: int | None = None) -> HelpfulnessPredictions:
    """Fit-free curves of helpfulness prompts on ``grid``. ``sigma``: "pooled" (default),
    "prompt", "random" (needs ``hidden_size``: σ = 1/√d), or a number."""
    r = _checked(estimates, grid, "helpfulness")
    sig_random = _sigma(sigma, hidden_size)
    sig_pooled = pooled_sigma(estimates)
    n, c = len(estimates), len(r)
    expansion, expected, stderr, spread, quadratic = (np.full((n, c), np.nan) for _ in range(5))
    for i, e in enumerate(estimates):
        assert e.correct is not None and e.P0 is not None and e.alpha_hat is not None
        s = e.shift_scale(_sigma_of(e, sigma, sig_pooled, sig_random))
        expansion[i] = formulas.iid_curve(e.P0, e.alpha_hat, s, r)
        if math.isfinite(s):
            expected[i], stderr[i] = formulas.expected_curve(e.p, e.correct, s, r)
            spread[i] = formulas.spread_bound(e.p, e.correct, s, r)
        if 0 < e.P0 < 1:
            quadratic[i] = formulas.spread_bound_quadratic(e.P0, s, r)
    return HelpfulnessPredictions(
        r, str(sigma), sig_pooled, sig_random, PredictedCurve.of(linear_model_curves(estimates, r)),
        PredictedCurve.of(expansion), PredictedCurve.of(expected), PredictedCurve.of(stderr),
        PredictedCurve.of(spread), PredictedCurve.of(quadratic))


# --------------------------------------------------------------------------------------------
# Proposition 1 remainder
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
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
    rem = formulas.response_remainder(fh, h[None], d[None], r[:, None])   # (C, N)
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
