"""Fit-free predictions beside the paper's fits, from Δ by a JVP at r_e = 0 (no fitted parameter).

* Theorem 1 (``formulas.theorem1_bound``): per behavior prompt tanh(γ̂λ̂ r + artanh B_0), γ̂λ̂ the
  certified margin of Δ̂ on the agree vs refuse first tokens and B_0 their unsteered B; the curve
  is the mean over the prompts whose margin is positive (the theorem's hypothesis). It is a statement about the next-token B of those tokens, which the
  figures show beside the generated-text B the authors measure.
* Theorem 2′'s quadratic form (``formulas.spread_bound_quadratic``):
  1/(1 + ((1 − P_0)/P_0)(1 + s² r²/2)) per question with s = λ̂ σ̂ β̂ (σ̂ pooled over the questions'
  letter cosines, β̂ the RMS letter norm), P_0 the unsteered P(correct) of the panel (full
  vocabulary, or renormalised over A–D: the theorem applied to the four outcomes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from empirics import formulas
from empirics.estimates import estimate_prompts, pooled_sigma
from empirics.jvp import delta_jvp
from empirics.models import LoadedModel
from empirics.tasks import ScoredPrompt


@dataclass
class Theorem1Prediction:
    curve: np.ndarray          # (C,) prompt mean of the tanh bound
    slope: float               # mean γ̂λ̂(1 − B_0²)
    gamma_lam: np.ndarray      # (N,)
    B0: np.ndarray             # (N,)


@dataclass
class Theorem2Prediction:
    curve_full: np.ndarray     # (C,)
    curve_options: np.ndarray  # (C,)
    s: np.ndarray              # (N,) λ̂ σ̂ β̂
    sigma: float


def deltas(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
           prompts: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(h0, Δ) of every prompt, one packed JVP call (``empirics.jvp.delta_jvp``)."""
    return delta_jvp(lm, vectors, prompts)


def behavior_prompts(ids: Sequence[Sequence[int]], candidates: Sequence[int],
                     positive: Sequence[bool], group: str) -> list[ScoredPrompt]:
    scores = tuple(1 if p else -1 for p in positive)
    return [ScoredPrompt("", tuple(x), tuple(candidates), group, f"{group}:{i}", scores=scores)
            for i, x in enumerate(ids)]


def theorem1(lm: LoadedModel, prompts: Sequence[ScoredPrompt], h0: torch.Tensor,
             delta: torch.Tensor, unsteered_logprobs: np.ndarray,
             grid: Sequence[float]) -> Theorem1Prediction:
    est = estimate_prompts(lm, prompts, h0, delta, unsteered_logprobs)
    gl = np.array([e.gamma_lam for e in est], dtype=float)
    b0 = np.array([e.B0 for e in est], dtype=float)
    g = np.asarray(grid, dtype=float)
    # The bound needs its hypothesis, a positive margin: prompts without one are left out of the
    # curve (the report gives their share); the slope γ̂λ̂(1 − B₀²) averages every prompt.
    curves = [formulas.theorem1_bound(g, float(b), float(a))
              for b, a in zip(b0, gl, strict=True) if a > 0]
    curve = np.mean(curves, axis=0) if curves else np.full(g.shape, np.nan)
    slope = float(np.mean([formulas.theorem1_slope(float(b), float(a))
                           for b, a in zip(b0, gl, strict=True)]))
    return Theorem1Prediction(curve, slope, gl, b0)


def letter_prompts(ids: Sequence[Sequence[int]], letter_ids: np.ndarray, correct: Sequence[int],
                   group: str) -> list[ScoredPrompt]:
    """One scored prompt per question; candidates = each letter's most probable form at r = 0."""
    return [ScoredPrompt("", tuple(x), tuple(int(t) for t in letter_ids[i]), group,
                         f"{group}:{i}", correct=int(correct[i])) for i, x in enumerate(ids)]


def theorem2_prime(lm: LoadedModel, prompts: Sequence[ScoredPrompt], h0: torch.Tensor,
                   delta: torch.Tensor, letter_logprobs0: np.ndarray, p0_full: np.ndarray,
                   p0_options: np.ndarray,
                   grid: Sequence[float] | np.ndarray) -> Theorem2Prediction:
    est = estimate_prompts(lm, prompts, h0, delta, letter_logprobs0)
    sigma = pooled_sigma(est)
    s = np.array([e.shift_scale(sigma) for e in est], dtype=float)
    g = np.asarray(grid, dtype=float)

    def mean_curve(p0: np.ndarray) -> np.ndarray:
        safe = np.clip(np.asarray(p0, dtype=float), 1e-12, 1.0)
        return np.stack([formulas.spread_bound_quadratic(float(p), float(si), g)
                         for p, si in zip(safe, s, strict=True)]).mean(0)

    return Theorem2Prediction(mean_curve(p0_full), mean_curve(p0_options), s, float(sigma))
