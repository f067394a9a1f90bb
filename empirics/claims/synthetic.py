"""Synthetic sweeps with known truth, drawn from a real run's prompt population.

Each prompt's candidate logits follow z + r g + (r²/2) w + (r³/6) t: the second-order prediction
is exact at r = 0 and only locally right beyond (the cubic term, as in real models). The
"model" here is the softmax of those logits and the measurement its readout (B = Σ s_a P(a),
or P(correct)), plus optional logit noise; every prediction goes through ``empirics.formulas``.
Prompts are resampled from the population (``empirics.claims.population``) with a little
jitter, so spreads, prompt counts and the grid are those of the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from empirics import formulas
from empirics.claims.inputs import Curves
from empirics.claims.population import BehaviorPrompts, HelpfulnessPrompts

K_OPTIONS = 4            # helpfulness candidates (the knowledge set's four options)
SCORES = np.array([1.0, -1.0])   # two outcomes: S+ = {a}, S− = {b}
JITTER = 0.05            # relative jitter of resampled prompt parameters
W_CAP = 3.0              # largest ‖w‖ of a synthetic helpfulness prompt (extreme P0)


@dataclass(frozen=True)
class Prompts:
    """Known truth of N prompts over K candidates: unsteered logits ``z``, the response's first,
    second and third derivatives ``g``, ``w``, ``t`` ``(N, K)``, and the readout: ``scores``
    (behavior, ±1) or the ``correct`` index (helpfulness)."""

    z: np.ndarray
    g: np.ndarray
    w: np.ndarray
    t: np.ndarray
    scores: np.ndarray | None = None
    correct: int | None = None

    @property
    def p(self) -> np.ndarray:
        return softmax(self.z, axis=-1)

    def readout(self, grid: np.ndarray, noise: float = 0.0,
                rng: np.random.Generator | None = None) -> Curves:
        """The measured curves ``(N, C)`` along the cubic logit path (with logit noise)."""
        r = np.asarray(grid, float)
        # Theorem 2R's second-order path plus this world's own cubic term (the truth the
        # second-order prediction only approximates).
        cubic = (r**3 / 6)[None, :, None] * self.t[:, None]
        logits = formulas.logit_path(self.z, self.g, r, self.w) + cubic
        if noise > 0:
            gen = rng if rng is not None else np.random.default_rng(0)
            logits = logits + gen.normal(0.0, noise, logits.shape)
        probs = softmax(logits, axis=-1)
        if self.scores is not None:
            return Curves(grid, (probs * self.scores).sum(-1))
        return Curves(grid, probs[..., self.correct])

    def coefficients(self, w_factor: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Theorem 2R's (c1, c2) per prompt ``(N,)`` (``w`` scaled by ``w_factor``)."""
        if self.scores is not None:
            return formulas.behavior_response_coefficients_2r(self.p, self.scores, self.g,
                                                              w_factor * self.w)
        return formulas.helpfulness_response_coefficients(self.p, int(self.correct or 0), self.g,
                                                          w_factor * self.w)


def resample_rows(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    return rng.integers(0, size, n)


def _jitter(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    return x * (1 + JITTER * rng.standard_normal(x.shape))


def two_outcome_prompts(pop: BehaviorPrompts, n: int, rng: np.random.Generator) -> Prompts:
    """``n`` two-outcome prompts resampled from ``pop``: the log-odds follow
    2 artanh B₀ + r g_gap + (r²/2) w_gap + (r³/6) t_gap."""
    i = resample_rows(rng, pop.B0.size, n)
    b0 = np.clip(_jitter(rng, pop.B0[i]), -0.95, 0.95)
    half = np.stack([np.arctanh(b0), _jitter(rng, pop.g_gap[i]) / 2,
                     _jitter(rng, pop.w_gap[i]) / 2, _jitter(rng, pop.t_gap[i]) / 2], -1)
    z, g, w, t = (np.stack([x, -x], -1) for x in half.T)
    return Prompts(z, g, w, t, scores=SCORES)


def option_probabilities(p0: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(N, K) with p_0 = P₀ on the correct answer (index 0) and wrong answers whose Σ p_a² is
    P₀(1 − P₀) − α (clipped to the attainable range: m·(x, (1−x)/2, (1−x)/2), x ≥ 1/3)."""
    m = 1 - p0
    q = np.clip((p0 * m - alpha) / np.maximum(m, 1e-12) ** 2, 1 / 3, 1.0)
    x = (1 + np.sqrt(np.clip(6 * q - 2, 0, None))) / 3
    p = np.stack([p0, m * x, m * (1 - x) / 2, m * (1 - x) / 2], -1)
    return np.clip(p, 1e-12, None) / np.clip(p, 1e-12, None).sum(-1, keepdims=True)


def _gradients(p: np.ndarray) -> np.ndarray:
    """∇P(correct) per prompt ``(N, K)``, read off Theorem 2R's c1 = ∇ᵀg with g = e_a."""
    eye = np.eye(p.shape[-1])
    rows = np.repeat(p[:, None, :], p.shape[-1], axis=1)
    c1, _ = formulas.helpfulness_response_coefficients(rows, 0, eye[None], np.zeros_like(rows))
    return np.asarray(c1)


def helpfulness_prompts(pop: HelpfulnessPrompts, n: int, rng: np.random.Generator,
                        cubic: float) -> Prompts:
    """``n`` four-option prompts resampled from ``pop``: g i.i.d. N(0, s²); w gives the
    population's path term ½∇ᵀw (plus a part orthogonal to ∇ of size s/2, ‖w‖ ≤ ``W_CAP``);
    t i.i.d. with scale ``cubic`` × the RMS of w."""
    i = resample_rows(rng, pop.P0.size, n)
    p = option_probabilities(np.clip(pop.P0[i], 1e-6, 1 - 1e-6), pop.alpha[i])
    s = _jitter(rng, pop.s[i])[:, None]
    g = s * rng.standard_normal((n, K_OPTIONS))
    grad = _gradients(p)
    norm2 = np.maximum((grad**2).sum(-1, keepdims=True), 1e-300)
    along = 2 * _jitter(rng, pop.path[i])[:, None] * grad / norm2
    noise = s / 2 * rng.standard_normal((n, K_OPTIONS))
    noise -= (noise * grad).sum(-1, keepdims=True) * grad / norm2
    w = along + noise
    w *= np.minimum(1.0, W_CAP / np.maximum(np.linalg.norm(w, axis=-1, keepdims=True), 1e-300))
    rms = np.sqrt((w**2).mean(-1, keepdims=True))
    t = cubic * rms * rng.standard_normal((n, K_OPTIONS))
    return Prompts(np.log(p), g, w, t, correct=0)


def cubic_ratio(pop: BehaviorPrompts) -> float:
    """Median |t_gap / w_gap| of a population: the cubic term's size relative to the quadratic."""
    return float(np.median(np.abs(pop.t_gap / pop.w_gap)))
