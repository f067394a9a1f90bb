"""Synthetic generated text with known truth, for the generation rules.

Per prompt, replies are aligned (+1) or not (−1) with P₀(+) = (1 + B₀)/2 at r = 0, and their
sequence log-likelihoods are exactly linear in r (THEORY.md, sequence level): δ(y) = ±gap/2 plus
a within-class spread, so the true behavior is B_r = tanh(artanh B₀ + r·gap/2). Replies at each
coefficient are sampled from that truth; the fit-free prediction is the importance-weighted
curve of the r = 0 samples (``formulas.importance_curve``). The next-token proxy of the same
prompts follows tanh(artanh B₀ + a r); the generated behavior follows it (``transfer`` = 1) or
not (``transfer`` = 0: the vector moves the proxy but not the behavior).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from empirics import formulas

#: The generation stage's defaults: 12 prompts, 4 samples, 5 coefficients.
PROMPTS, SAMPLES = 12, 4
COEFFICIENTS = np.array([-10.0, -5.0, 0.0, 5.0, 10.0])
GAP, GAP_SD, WITHIN_SD = 0.15, 0.04, 0.1     # δ's class gap and spreads (per unit r)
PROXY_SLOPE, PROXY_SD = 0.08, 0.02           # next-token log-odds slope per unit r


@dataclass(frozen=True)
class Replies:
    """Judged samples and predictions of one synthetic generation run.

    ``scores0`` / ``deltas0`` ``(N, S)``: the r = 0 samples; ``measured`` ``(N, C)``: B_gen per
    prompt; ``predicted`` ``(N, C)``: the importance-weighted curve (NaN when a prompt's r = 0
    samples are all in one class)."""

    coefficients: np.ndarray
    scores0: np.ndarray
    deltas0: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray


def _sample(b: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """±1 samples ``(..., S)`` with P(+1) = (1 + b)/2."""
    return np.where(rng.random((*b.shape, samples)) < (1 + b[..., None]) / 2, 1.0, -1.0)


def replies(rng: np.random.Generator, *, prompts: int = PROMPTS, samples: int = SAMPLES,
            coefficients: np.ndarray = COEFFICIENTS) -> Replies:
    """One synthetic generation run whose sequence log-likelihoods are linear in r."""
    r = np.asarray(coefficients, float)
    b0 = rng.uniform(-0.6, 0.6, prompts)
    gap = np.abs(rng.normal(GAP, GAP_SD, prompts))
    scores0 = _sample(b0, samples, rng)
    deltas0 = scores0 * gap[:, None] / 2 + WITHIN_SD * rng.standard_normal(scores0.shape)
    truth = np.tanh(np.arctanh(b0)[:, None] + r[None] * gap[:, None] / 2)
    zero = int(np.flatnonzero(r == 0)[0])
    measured = _sample(truth, samples, rng).mean(-1)
    measured[:, zero] = scores0.mean(-1)     # the r = 0 samples are the measurement there
    predicted = np.full((prompts, r.size), np.nan)
    for i in range(prompts):
        if (scores0[i] > 0).any() and (scores0[i] < 0).any():
            predicted[i] = formulas.importance_curve(scores0[i], deltas0[i], r)
    return Replies(r, scores0, deltas0, measured, predicted)


def behavior_following(rng: np.random.Generator, transfer: float, *, prompts: int = PROMPTS,
                       samples: int = SAMPLES,
                       coefficients: np.ndarray = COEFFICIENTS) -> tuple[np.ndarray, np.ndarray]:
    """(proxy, B_gen) ``(N, C)``: the next-token B and sampled behavior whose log-odds move
    ``transfer`` times the proxy's."""
    r = np.asarray(coefficients, float)
    b0 = rng.uniform(-0.6, 0.6, prompts)
    slope = np.abs(rng.normal(PROXY_SLOPE, PROXY_SD, prompts))
    proxy = np.tanh(np.arctanh(b0)[:, None] + slope[:, None] * r[None])
    follows = np.tanh(np.arctanh(b0)[:, None] + transfer * slope[:, None] * r[None])
    return proxy, _sample(follows, samples, rng).mean(-1)
