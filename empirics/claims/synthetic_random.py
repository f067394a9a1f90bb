"""Synthetic sweeps of k random directions with known truth, for Theorem 2's i.i.d. and
random-direction forms and Theorem 2′ (statements about the average over random directions).

Prompts (P₀, α̂, s from the run's population) keep their unsteered logits; each direction j gives
every prompt its own shifts g_ij, correlated across prompts by ``correlation`` (one direction
moves all prompts' answers in related ways):

* ``"iid"``: g_ij i.i.d. N(0, s_i²) per answer (Theorem 2's i.i.d. law, and Theorem 2′'s);
* ``"geometry"``: g_ij = U_i Δ_ij with Δ_ij uniform on the sphere of radius λ_i in R^D and answer
  representations U_i with correlated rows (the random-direction form with the real geometry).

The sizes are the run's: the shifts are scaled so that the spread over prompts of a direction's
slope c1 = ∇ᵀg matches the run's random direction, and the path curvature w (random, mean 0, so
the forms, which omit it, are right on average, as they claim) so that the spread of c2 does;
the cubic t is ``cubic`` × w's scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from empirics import formulas
from empirics.claims.inputs import DirectionSweeps
from empirics.claims.population import HelpfulnessPrompts, RandomSpread
from empirics.claims.synthetic import K_OPTIONS, option_probabilities, resample_rows

DIRECTIONS = 8
CORRELATION = 0.5       # shared part of a direction's shifts across prompts
DIMENSION = 32          # D of the synthetic answer representations
ROW_CORRELATION = 0.3   # shared part of the answer representations of one prompt


@dataclass(frozen=True)
class RandomWorld:
    """k sweeps of P(correct) ``(k, N, C)`` and what the forms need per prompt: the unsteered
    probabilities ``p`` ``(N, K)`` (correct answer 0), the shift scale ``s`` ``(N,)``, the answer
    geometry ``U`` ``(N, K, D)`` and ‖Δ‖ ``lam`` ``(N,)`` (geometry law only)."""

    sweeps: DirectionSweeps
    p: np.ndarray
    s: np.ndarray
    U: np.ndarray | None
    lam: np.ndarray | None
    factor: float          # the shifts' scale relative to the population's s


def _mixed(rng: np.random.Generator, shared: np.ndarray, shape: tuple[int, ...],
           correlation: float) -> np.ndarray:
    return np.sqrt(correlation) * shared + np.sqrt(1 - correlation) * rng.standard_normal(shape)


def _shifts(law: str, rng: np.random.Generator, s: np.ndarray, k: int,
            correlation: float) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    n = s.size
    if law == "iid":
        shared = rng.standard_normal((k, 1, K_OPTIONS))
        return s[None, :, None] * _mixed(rng, shared, (k, n, K_OPTIONS), correlation), None, None
    if law != "geometry":
        raise ValueError(f"law {law!r} must be 'iid' or 'geometry'")
    base = rng.standard_normal((n, 1, DIMENSION))
    U = _mixed(rng, base, (n, K_OPTIONS, DIMENSION), ROW_CORRELATION)
    beta = np.sqrt((U**2).sum(-1).mean(-1))                      # RMS answer norm
    lam = s * np.sqrt(DIMENSION) / beta                          # so that sd(g_a) ≈ s
    d = _mixed(rng, rng.standard_normal((k, 1, DIMENSION)), (k, n, DIMENSION), correlation)
    d *= lam[None, :, None] / np.linalg.norm(d, axis=-1, keepdims=True)
    return np.einsum("nkd,jnd->jnk", U, d), U, lam


def _coefficients(p: np.ndarray, g: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Theorem 2R's (c1, c2) of P(correct) per direction and prompt ``(k, N)``."""
    c1, c2 = formulas.helpfulness_response_coefficients(np.broadcast_to(p, g.shape), 0, g, w)
    return np.asarray(c1), np.asarray(c2)


def random_world(pop: HelpfulnessPrompts, law: str, n: int, grid: np.ndarray,
                 rng: np.random.Generator, spread: RandomSpread, *, k: int = DIRECTIONS,
                 correlation: float = CORRELATION, curved: bool = True,
                 cubic: float = 0.35, rows: np.ndarray | None = None,
                 factor: float | None = None) -> RandomWorld:
    """``k`` random-direction sweeps of ``n`` prompts resampled from ``pop`` (or its ``rows``)
    under ``law``, scaled to the run's random-direction ``spread`` (or by ``factor``)."""
    i = resample_rows(rng, pop.P0.size, n) if rows is None else np.asarray(rows)
    p = option_probabilities(np.clip(pop.P0[i], 1e-6, 1 - 1e-6), pop.alpha[i])
    g, U, lam = _shifts(law, rng, pop.s[i], k, correlation)
    zero = np.zeros_like(g)
    if factor is None:
        factor = spread.c1_sd / max(float(_coefficients(p, g, zero)[0].std(1).mean()), 1e-300)
    g, s = factor * g, factor * pop.s[i]
    lam = None if lam is None else factor * lam
    w = s[None, :, None] * rng.standard_normal(g.shape)
    if curved:
        own = float(_coefficients(p, g, zero)[1].std(1).mean())
        path = float(_coefficients(p, zero, w)[1].std(1).mean())
        w *= np.sqrt(max(spread.c2_sd**2 - own**2, 0.0)) / max(path, 1e-300)
    else:
        w = zero
    t = cubic * w * rng.standard_normal(g.shape)
    r = np.asarray(grid, float)[None, None, :, None]
    logits = (np.log(p)[None, :, None] + r * g[:, :, None] + r**2 / 2 * w[:, :, None]
              + r**3 / 6 * t[:, :, None])
    values = softmax(logits, axis=-1)[..., 0]
    return RandomWorld(DirectionSweeps(grid, values), p, s, U, lam, factor)
