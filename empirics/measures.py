"""Per-prompt measurements from a sweep, and seeded bootstrap CIs of their means.

Outputs are prompts × coefficients ``(N, C)`` (the one orientation of the pipeline). Inputs are the sweep's full-vocabulary log-probs ``(C, N, K)`` of each prompt's candidates (NaN
where a prompt has fewer than ``K`` candidates) and the prompts' scores / correct indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from empirics.tasks import ScoredPrompt

BEHAVIOR_MEASURES = ("B", "B_full", "mass")
HELPFULNESS_MEASURES = ("p_correct", "p_correct_full", "accuracy", "mass")


def _score_matrix(prompts: Sequence[ScoredPrompt], k: int) -> np.ndarray:
    s = np.zeros((len(prompts), k))
    for i, p in enumerate(prompts):
        if p.scores is None:
            raise ValueError(f"prompt {p.item_id} has no behavior scores")
        s[i, : len(p.scores)] = p.scores
    return s


def behavior_measures(logprobs: np.ndarray, prompts: Sequence[ScoredPrompt]) -> dict[str, np.ndarray]:
    """``B`` = P(S+) − P(S−) normalised over the candidates; ``B_full`` unnormalised (full
    vocabulary); ``mass`` = total candidate probability. Each ``(N, C)``."""
    p = np.nan_to_num(np.exp(logprobs), nan=0.0)
    s = _score_matrix(prompts, logprobs.shape[-1])
    mass = p.sum(-1)
    signed = (p * s[None]).sum(-1)
    return {"B": (signed / mass).T, "B_full": signed.T, "mass": mass.T}


def helpfulness_measures(logprobs: np.ndarray, prompts: Sequence[ScoredPrompt]) -> dict[str, np.ndarray]:
    """``p_correct`` normalised over the options, ``p_correct_full`` over the full vocabulary,
    ``accuracy`` (argmax over options is correct, 0/1), ``mass``. Each ``(N, C)``."""
    correct = np.array([p.correct if p.correct is not None else -1 for p in prompts])
    if (correct < 0).any():
        raise ValueError("helpfulness prompts must name their correct candidate")
    lp = np.where(np.isnan(logprobs), -np.inf, logprobs)
    p = np.exp(lp)
    mass = p.sum(-1)
    idx = np.arange(len(prompts))
    pc = p[:, idx, correct]
    acc = (lp.argmax(-1) == correct[None]).astype(float)
    return {"p_correct": (pc / mass).T, "p_correct_full": pc.T, "accuracy": acc.T, "mass": mass.T}


def measure(logprobs: np.ndarray, prompts: Sequence[ScoredPrompt]) -> dict[str, np.ndarray]:
    """Behavior or helpfulness measures, by the prompts' kind (all prompts must share it)."""
    kinds = {p.kind for p in prompts}
    if len(kinds) != 1:
        raise ValueError(f"prompts mix kinds {sorted(kinds)}; measure each group separately")
    if kinds == {"behavior"}:
        return behavior_measures(logprobs, prompts)
    return helpfulness_measures(logprobs, prompts)


@dataclass(frozen=True)
class MeanCI:
    """Mean over prompts per coefficient with a percentile bootstrap CI."""

    mean: np.ndarray  # (C,)
    lo: np.ndarray
    hi: np.ndarray
    level: float
    n: int

    def to_dict(self) -> dict[str, object]:
        return {"mean": self.mean.tolist(), "lo": self.lo.tolist(), "hi": self.hi.tolist(),
                "level": self.level, "n": self.n}


def bootstrap_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, C) means of seeded prompt resamples of ``values`` (N, C): the one prompt
    bootstrap of the pipeline (the same resamples serve every coefficient)."""
    v = np.asarray(values, dtype=float)
    n = v.shape[0]
    if n == 0:
        raise ValueError("no prompts to average")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    return np.asarray(v[idx].mean(1))


def difference_ci(a: np.ndarray, b: np.ndarray, n_boot: int = 1000, level: float = 0.95,
                  seed: int = 0) -> MeanCI:
    """Mean of ``a`` minus mean of ``b`` (independent prompt sets, each (N_i, C)) with a
    percentile CI from independent resamples of each."""
    ba = bootstrap_means(a, n_boot, seed)
    bb = bootstrap_means(b, n_boot, seed + 1)
    q = (1 - level) / 2
    lo, hi = np.quantile(ba - bb, [q, 1 - q], axis=0)
    return MeanCI(np.asarray(a, float).mean(0) - np.asarray(b, float).mean(0), lo, hi, level,
                  int(np.shape(a)[0] + np.shape(b)[0]))


def bootstrap_mean_ci(values: np.ndarray, n_boot: int = 1000, level: float = 0.95,
                      seed: int = 0) -> MeanCI:
    """Mean over the prompts of ``values`` ``(N, C)`` with a seeded percentile CI.

    The same prompt resamples serve every coefficient, so curves keep their paired structure.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    n = v.shape[0]
    if n == 0:
        raise ValueError("no prompts to average")
    if not 0 < level < 1:
        raise ValueError(f"level {level} must be in (0, 1)")
    boots = bootstrap_means(v, n_boot, seed)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha], axis=0)
    return MeanCI(v.mean(0), lo, hi, level, n)


def summarize(measures: dict[str, np.ndarray], n_boot: int = 1000, seed: int = 0) -> dict[str, MeanCI]:
    """Bootstrap CI of each measure's mean."""
    return {name: bootstrap_mean_ci(v, n_boot=n_boot, seed=seed) for name, v in measures.items()}


def long_rows(grid: np.ndarray, prompts: Sequence[ScoredPrompt],
              measures: dict[str, np.ndarray], direction: str) -> list[dict[str, object]]:
    """One row per prompt × coefficient × measure (for ``sweep.csv``)."""
    rows: list[dict[str, object]] = []
    for name, v in measures.items():
        for c, coef in enumerate(grid):
            for i, p in enumerate(prompts):
                rows.append({"direction": direction, "group": p.group, "item_id": p.item_id,
                             "coefficient": float(coef), "measure": name, "value": float(v[i, c])})
    return rows
