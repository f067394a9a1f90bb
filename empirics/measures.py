"""Per-prompt measurements from a sweep, and seeded bootstrap CIs of their means.

Inputs are the sweep's full-vocabulary log-probs ``(C, N, K)`` of each prompt's candidates (NaN
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
    vocabulary); ``mass`` = total candidate probability. Each ``(C, N)``."""
    p = np.nan_to_num(np.exp(logprobs), nan=0.0)
    s = _score_matrix(prompts, logprobs.shape[-1])
    mass = p.sum(-1)
    signed = (p * s[None]).sum(-1)
    return {"B": signed / mass, "B_full": signed, "mass": mass}


def helpfulness_measures(logprobs: np.ndarray, prompts: Sequence[ScoredPrompt]) -> dict[str, np.ndarray]:
    """``p_correct`` normalised over the options, ``p_correct_full`` over the full vocabulary,
    ``accuracy`` (argmax over options is correct, 0/1), ``mass``. Each ``(C, N)``."""
    correct = np.array([p.correct if p.correct is not None else -1 for p in prompts])
    if (correct < 0).any():
        raise ValueError("helpfulness prompts must name their correct candidate")
    lp = np.where(np.isnan(logprobs), -np.inf, logprobs)
    p = np.exp(lp)
    mass = p.sum(-1)
    idx = np.arange(len(prompts))
    pc = p[:, idx, correct]
    acc = (lp.argmax(-1) == correct[None]).astype(float)
    return {"p_correct": pc / mass, "p_correct_full": pc, "accuracy": acc, "mass": mass}


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


def bootstrap_mean_ci(values: np.ndarray, n_boot: int = 1000, level: float = 0.95,
                      seed: int = 0) -> MeanCI:
    """Mean over the last axis (prompts) of ``values`` ``(C, N)`` with a seeded percentile CI.

    The same prompt resamples serve every coefficient, so curves keep their paired structure.
    """
    v = np.atleast_2d(np.asarray(values, dtype=float))
    n = v.shape[-1]
    if n == 0:
        raise ValueError("no prompts to average")
    if not 0 < level < 1:
        raise ValueError(f"level {level} must be in (0, 1)")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    boots = v[:, idx].mean(-1)  # (C, n_boot)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha], axis=-1)
    return MeanCI(v.mean(-1), lo, hi, level, n)


def summarize(measures: dict[str, np.ndarray], n_boot: int = 1000, seed: int = 0) -> dict[str, MeanCI]:
    """Bootstrap CI of each measure's mean."""
    return {name: bootstrap_mean_ci(v, n_boot=n_boot, seed=seed) for name, v in measures.items()}


def long_rows(coefficients: np.ndarray, prompts: Sequence[ScoredPrompt],
              measures: dict[str, np.ndarray], direction: str) -> list[dict[str, object]]:
    """One row per prompt × coefficient × measure (for ``sweep.csv``)."""
    rows: list[dict[str, object]] = []
    for name, v in measures.items():
        for c, coef in enumerate(coefficients):
            for i, p in enumerate(prompts):
                rows.append({"direction": direction, "group": p.group, "item_id": p.item_id,
                             "coefficient": float(coef), "measure": name, "value": float(v[c, i])})
    return rows
