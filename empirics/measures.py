"""Per-prompt measurements from a sweep, as named fields.

``BehaviorMeasures`` / ``HelpfulnessMeasures`` hold one value per measure: per-prompt matrices
prompts × coefficients ``(N, C)`` (the one orientation of the pipeline), or — mapped through
``intervals.mean_interval`` — the prompt-mean curves with their intervals. Inputs are the sweep's
full-vocabulary log-probs ``(C, N, K)`` of each prompt's candidates (NaN where a prompt has
fewer than ``K`` candidates) and the prompts' scores / correct indices; they are transposed to
``(N, C)`` here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Generic, TypeVar

import numpy as np

from empirics.intervals import Interval
from empirics.tasks import ScoredPrompt

V = TypeVar("V")
W = TypeVar("W")

class MeanCI(Interval[np.ndarray]):
    """The former curve-interval type, for the modules not yet switched (``sequence``); to go
    at the merge. ``mean`` is ``value``."""

    @property
    def mean(self) -> np.ndarray:
        return self.value


@dataclass(frozen=True)
class BehaviorMeasures(Generic[V]):
    """``B`` = P(S+) − P(S−) normalised over the candidates; ``B_full`` unnormalised (full
    vocabulary); ``mass`` = total candidate probability. Field names are sweep.csv's measure
    names, in its order."""

    B: V
    B_full: V
    mass: V

    def named(self) -> list[tuple[str, V]]:
        """``(measure name, value)`` in field order."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def map(self, fn: Callable[[V], W]) -> BehaviorMeasures[W]:
        return BehaviorMeasures(fn(self.B), fn(self.B_full), fn(self.mass))


@dataclass(frozen=True)
class HelpfulnessMeasures(Generic[V]):
    """``p_correct`` normalised over the options, ``p_correct_full`` over the full vocabulary,
    ``accuracy`` (argmax over the options is correct, 0/1), ``mass``."""

    p_correct: V
    p_correct_full: V
    accuracy: V
    mass: V

    def named(self) -> list[tuple[str, V]]:
        """``(measure name, value)`` in field order."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def map(self, fn: Callable[[V], W]) -> HelpfulnessMeasures[W]:
        return HelpfulnessMeasures(fn(self.p_correct), fn(self.p_correct_full),
                                   fn(self.accuracy), fn(self.mass))


#: One group's per-prompt measures ``(N, C)``; one group's mean curves with intervals.
GroupMeasures = BehaviorMeasures[np.ndarray] | HelpfulnessMeasures[np.ndarray]
CurveMeasures = BehaviorMeasures[Interval[np.ndarray]] | HelpfulnessMeasures[Interval[np.ndarray]]


def _score_matrix(prompts: Sequence[ScoredPrompt], k: int) -> np.ndarray:
    s = np.zeros((len(prompts), k))
    for i, p in enumerate(prompts):
        if p.scores is None:
            raise ValueError(f"prompt {p.item_id} has no behavior scores")
        s[i, : len(p.scores)] = p.scores
    return s


def behavior(logprobs: np.ndarray, prompts: Sequence[ScoredPrompt]
             ) -> BehaviorMeasures[np.ndarray]:
    """The behavior measures of sweep log-probs ``(C, N, K)``, each ``(N, C)``."""
    p = np.nan_to_num(np.exp(logprobs), nan=0.0)
    s = _score_matrix(prompts, logprobs.shape[-1])
    mass = p.sum(-1)
    signed = (p * s[None]).sum(-1)
    return BehaviorMeasures((signed / mass).T, signed.T, mass.T)


def helpfulness(logprobs: np.ndarray, prompts: Sequence[ScoredPrompt]
                ) -> HelpfulnessMeasures[np.ndarray]:
    """The helpfulness measures of sweep log-probs ``(C, N, K)``, each ``(N, C)``."""
    correct = np.array([p.correct if p.correct is not None else -1 for p in prompts])
    if (correct < 0).any():
        raise ValueError("helpfulness prompts must name their correct candidate")
    lp = np.where(np.isnan(logprobs), -np.inf, logprobs)
    p = np.exp(lp)
    mass = p.sum(-1)
    idx = np.arange(len(prompts))
    pc = p[:, idx, correct]
    acc = (lp.argmax(-1) == correct[None]).astype(float)
    return HelpfulnessMeasures((pc / mass).T, pc.T, acc.T, mass.T)


def measure(logprobs: np.ndarray, prompts: Sequence[ScoredPrompt]) -> GroupMeasures:
    """Behavior or helpfulness measures, by the prompts' kind (all prompts must share it)."""
    kinds = {p.kind for p in prompts}
    if len(kinds) != 1:
        raise ValueError(f"prompts mix kinds {sorted(kinds)}; measure each group separately")
    if kinds == {"behavior"}:
        return behavior(logprobs, prompts)
    return helpfulness(logprobs, prompts)
