"""The one interval type and the one prompt bootstrap of ``empirics``.

``Interval`` is an estimate with its percentile interval: a number (``Interval[float]``) or a
curve over the coefficient grid (``Interval[np.ndarray]``, each field ``(C,)``). Every CI over
prompts comes from ``resample``: seeded draws of prompt indices, the same draws for every
coefficient, so curves keep their paired structure. Per-prompt inputs are prompts ×
coefficients ``(N, C)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T", float, np.ndarray)

LEVEL = 0.95


@dataclass(frozen=True)
class Interval(Generic[T]):
    """``value`` with its interval [``lo``, ``hi``] at ``level``; ``n``: the prompts behind it
    (0 where it is not a bootstrap over prompts)."""

    value: T
    lo: T
    hi: T
    level: float = LEVEL
    n: int = 0

    def at(self: Interval[np.ndarray], i: int) -> Interval[float]:
        """The number at coefficient index ``i`` of a curve."""
        return Interval(float(self.value[i]), float(self.lo[i]), float(self.hi[i]), self.level,
                        self.n)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level {level} must be in (0, 1)")


def resample(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n)`` prompt indices drawn with replacement: the one bootstrap of the package
    (a seeded ``numpy`` generator, one row per resample)."""
    if n <= 0:
        raise ValueError("no prompts to average")
    if n_boot < 1:
        raise ValueError(f"n_boot {n_boot} must be at least 1")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, C)`` means over resampled prompts of ``values`` ``(N, C)``."""
    v = np.asarray(values, dtype=float)
    return np.asarray(v[resample(v.shape[0], n_boot, seed)].mean(1))


def percentile(samples: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` interval of ``samples`` along axis 0, NaN samples left out."""
    _check_level(level)
    q = (1 - level) / 2
    return np.nanquantile(samples, q, axis=0), np.nanquantile(samples, 1 - q, axis=0)


def mean_interval(values: np.ndarray, n_boot: int = 1000, level: float = LEVEL,
                  seed: int = 0) -> Interval[np.ndarray]:
    """Mean over the prompts of ``values`` ``(N, C)`` (or ``(N,)``: one column) with its
    percentile bootstrap interval."""
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    _check_level(level)
    boots = bootstrap_means(v, n_boot, seed)
    q = (1 - level) / 2
    lo, hi = np.quantile(boots, [q, 1 - q], axis=0)
    return Interval(v.mean(0), lo, hi, level, v.shape[0])


def difference_interval(a: np.ndarray, b: np.ndarray, n_boot: int = 1000, level: float = LEVEL,
                        seed: int = 0) -> Interval[np.ndarray]:
    """Mean of ``a`` minus mean of ``b`` (independent prompt sets, each ``(N_i, C)``), the
    interval from independent resamples of each (seeds ``seed`` and ``seed + 1``)."""
    _check_level(level)
    diff = bootstrap_means(a, n_boot, seed) - bootstrap_means(b, n_boot, seed + 1)
    q = (1 - level) / 2
    lo, hi = np.quantile(diff, [q, 1 - q], axis=0)
    return Interval(np.asarray(a, float).mean(0) - np.asarray(b, float).mean(0), lo, hi, level,
                    int(np.shape(a)[0] + np.shape(b)[0]))
