"""Seeded percentile bootstraps over prompts, paired where predicted and measured values belong to
the same prompt (one set of resamples serves every statistic of a comparison)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from empirics.claims.verdict import Agreement, Band, Estimate


@dataclass(frozen=True)
class Resampling:
    """``n_boot`` seeded resamples; CIs at ``level`` (percentile)."""

    n_boot: int = 1000
    level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_boot < 20:
            raise ValueError(f"n_boot {self.n_boot} is too small for a percentile CI: use ≥ 20")
        if not 0 < self.level < 1:
            raise ValueError(f"level {self.level} must be in (0, 1)")

    def indices(self, n: int, stream: int = 0) -> np.ndarray:
        """``(n_boot, n)`` resampled row indices; ``stream`` separates independent groups."""
        if n < 2:
            raise ValueError(f"{n} prompts: a bootstrap needs at least 2")
        rng = np.random.default_rng([self.seed, stream])
        return rng.integers(0, n, size=(self.n_boot, n))

    def interval(self, point: float, samples: np.ndarray) -> Estimate:
        """The percentile CI of ``samples`` around ``point``; NaN when > 5% are not finite."""
        s = np.asarray(samples, dtype=float)
        ok = np.isfinite(s)
        if not math.isfinite(point) or ok.mean() < 0.95:
            return Estimate(float(point), math.nan, math.nan)
        q = (1 - self.level) / 2
        lo, hi = np.quantile(s[ok], [q, 1 - q])
        return Estimate(float(point), float(lo), float(hi))


def _quiet_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


def scale(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Measured per unit predicted, least squares through 0, along the last axis."""
    return _quiet_divide((predicted * measured).sum(-1), (predicted * predicted).sum(-1))


def correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis (NaN where either side is constant)."""
    xc = x - x.mean(-1, keepdims=True)
    yc = y - y.mean(-1, keepdims=True)
    return _quiet_divide((xc * yc).sum(-1), np.sqrt((xc * xc).sum(-1) * (yc * yc).sum(-1)))


def mean_ci(values: np.ndarray, resampling: Resampling, stream: int = 0) -> Estimate:
    """Mean of ``values`` ``(N,)`` with its bootstrap CI."""
    v = np.asarray(values, dtype=float)
    boots = v[resampling.indices(v.size, stream)].mean(1)
    return resampling.interval(float(v.mean()), boots)


def agreement(predicted: np.ndarray, measured: np.ndarray, band: Band,
              resampling: Resampling) -> Agreement:
    """Paired agreement of per-prompt ``predicted`` and ``measured`` ``(N,)``."""
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    idx = resampling.indices(p.size)
    return _agreement(p, m, p[idx], m[idx], band, resampling)


def agreement_over_directions(predicted: np.ndarray, measured: np.ndarray, band: Band,
                              resampling: Resampling) -> Agreement:
    """Agreement of ``predicted`` ``(N,)`` with the direction average of ``measured`` ``(k, N)``;
    the bootstrap resamples directions and prompts (two-way), so the CI carries the Monte Carlo
    error of averaging over only ``k`` directions as well as the prompt-to-prompt spread."""
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    k, n = m.shape
    rows = resampling.indices(n)
    dirs = resampling.indices(k, stream=7)
    # mean over resampled directions of each resampled prompt: (n_boot, n)
    bm = np.stack([m[d][:, r].mean(0) for d, r in zip(dirs, rows, strict=True)])
    return _agreement(p, m.mean(0), p[rows], bm, band, resampling)


def _agreement(p: np.ndarray, m: np.ndarray, bp: np.ndarray, bm: np.ndarray, band: Band,
               resampling: Resampling) -> Agreement:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ratio = _quiet_divide(bp.mean(1), bm.mean(1))
        own = _quiet_divide(m, p)
    inside = float(np.mean((own >= band.lo) & (own <= band.hi))) if p.size else math.nan
    return Agreement(
        scale=resampling.interval(float(scale(p, m)), scale(bp, bm)),
        ratio_of_means=resampling.interval(float(_quiet_divide(p.mean(), m.mean())), ratio),
        correlation=resampling.interval(float(correlation(p, m)), correlation(bp, bm)),
        within_band=inside, n=int(p.size))
