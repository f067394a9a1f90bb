"""Generated text: the sequence-level fit-free curve against the measured one (a paired rule),
and the next-token proxy B against the generated behavior B_gen, per coefficient.

Arrays are prompts × coefficients ``(N, C)`` on the generation's ``coefficients`` (which hold 0);
per-prompt B_gen is NaN where a prompt has no decided reply at a coefficient.
"""

from __future__ import annotations

import enum
import math
import warnings
from dataclasses import dataclass

import numpy as np

from empirics.claims.inputs import checked_grid, zero_index
from empirics.claims.stats import Resampling
from empirics.claims.verdict import Band, ClaimVerdict, Estimate, Kind, Number

#: Measured change per unit predicted change within ×1.25.
SEQUENCE_BAND = Band.around_one(1.25)
#: |behavior gain − proxy gain| within which a coefficient counts as agreeing (B units).
GAIN_MARGIN = 0.1


def _changes(values: np.ndarray, zero: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return np.delete(v - v[:, [zero]], zero, axis=1)


def _scale_ci(x: np.ndarray, y: np.ndarray, rs: Resampling) -> Estimate:
    """Σ x·y / Σ x² over prompts (rows) and coefficients, NaN cells left out; prompt bootstrap."""
    ok = np.isfinite(x) & np.isfinite(y)
    xy = np.where(ok, np.nan_to_num(x) * np.nan_to_num(y), 0.0).sum(1)
    xx = np.where(ok, np.nan_to_num(x) ** 2, 0.0).sum(1)
    idx = rs.indices(x.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = xy[idx].sum(1) / xx[idx].sum(1)
        point = xy.sum() / xx.sum() if xx.sum() > 0 else math.nan
    return rs.interval(float(point), boots)


def sequence_curve(subject: str, coefficients: np.ndarray, scores0: np.ndarray,
                   predicted: np.ndarray, measured: np.ndarray, *, band: Band = SEQUENCE_BAND,
                   resampling: Resampling | None = None) -> ClaimVerdict:
    """The importance-weighted curve from the r = 0 samples (``predicted``) vs the measured B_gen
    (``measured``), paired by prompt on their changes from r = 0. ``scores0`` ``(N, S)``: the
    judged r = 0 samples (±1, 0 undecided): a prompt whose decided samples are all in one class
    has a flat prediction by construction and is left out; with none left the comparison is
    reported as not informative, never as agreement."""
    rs = resampling or Resampling()
    grid = checked_grid(coefficients)
    zero = zero_index(grid)
    pred, meas = np.asarray(predicted, float), np.asarray(measured, float)
    sc = np.asarray(scores0)
    n = sc.shape[0]
    if pred.shape != (n, grid.size) or meas.shape != (n, grid.size):
        raise ValueError(f"predicted and measured must be (prompts={n}, {grid.size}), got "
                         f"{pred.shape} and {meas.shape}")
    rule = ("per prompt, the change from r = 0 of the fit-free importance-weighted curve vs the "
            "measured B_gen at each coefficient, paired (measured per unit predicted, least "
            f"squares through 0; prompt bootstrap); holds when its 95% CI lies in {band}, fails "
            "outside; prompts whose decided r = 0 samples are all in one class are left out")
    informative = (sc > 0).any(1) & (sc < 0).any(1) & np.isfinite(pred).all(1)
    count = Number("informative prompts (both classes at r = 0)", Estimate(float(informative.sum())))
    if informative.sum() < 3:
        return ClaimVerdict("sequence_curve", Kind.CLAIM, subject, None, rule,
                            f"Not informative: {int(informative.sum())} of {n} prompts have both "
                            "classes among their decided r = 0 samples; the fit-free curve is flat "
                            "by construction there (Cov(B, δ) = 0). This is no agreement.",
                            Estimate(math.nan), band, (count,))
    stat = _scale_ci(_changes(pred[informative], zero), _changes(meas[informative], zero), rs)
    holds = band.decide(stat)
    return ClaimVerdict("sequence_curve", Kind.CLAIM, subject, holds, rule,
                        f"measured/predicted change {stat} (band {band}) on "
                        f"{int(informative.sum())} of {n} prompts", stat, band, (count,))


class Finding(enum.Enum):
    """What the proxy and the generated behavior do together."""

    TOGETHER = "the generated behavior follows the next-token proxy (within ×2)"
    PROXY_ONLY = "the vector moves the proxy but not the behavior"
    BEHAVIOR_LESS = "the generated behavior moves less than half as much as the proxy"
    BEHAVIOR_MORE = "the generated behavior moves more than twice as much as the proxy"
    PROXY_STILL = "the next-token proxy does not move"
    UNDECIDED = "undecided: the CIs are too wide"


@dataclass(frozen=True)
class GainPair:
    """At one coefficient: the proxy's and the behavior's gain from r = 0 (paired by prompt),
    their difference, and whether they agree within ``GAIN_MARGIN`` (None: undecided)."""

    coefficient: float
    proxy_gain: Estimate
    behavior_gain: Estimate
    difference: Estimate
    agree: bool | None


@dataclass(frozen=True)
class ProxyBehavior:
    """Proxy vs generated behavior: per coefficient, the transfer scale, and the finding."""

    rows: tuple[GainPair, ...]
    transfer: Estimate          # behavior change per unit proxy change
    finding: Finding
    summary: str


def _mean_ci(values: np.ndarray, idx: np.ndarray, rs: Resampling) -> Estimate:
    """Mean over prompts, NaN (no decided reply) left out; NaN when every prompt is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN resamples: NaN is the answer
        boots = np.nanmean(values[idx], axis=1)
        point = float(np.nanmean(values))
    return rs.interval(point, boots)


def _finding(moves: bool, t: Estimate) -> Finding:
    if not moves:
        return Finding.PROXY_STILL
    if not (math.isfinite(t.lo) and math.isfinite(t.hi)):
        return Finding.UNDECIDED
    if t.hi < 0.25:
        return Finding.PROXY_ONLY
    if 0.5 <= t.lo and t.hi <= 2:
        return Finding.TOGETHER
    if t.hi < 0.5:
        return Finding.BEHAVIOR_LESS
    if t.lo > 2:
        return Finding.BEHAVIOR_MORE
    return Finding.UNDECIDED


def proxy_vs_behavior(coefficients: np.ndarray, proxy: np.ndarray, behavior: np.ndarray, *,
                      margin: float = GAIN_MARGIN,
                      resampling: Resampling | None = None) -> ProxyBehavior:
    """Next-token B (``proxy``) vs generated B_gen (``behavior``) on the same prompts ``(N, C)``.
    The transfer is the behavior's change per unit change of the proxy (least squares through 0
    over prompts and r ≠ 0): ``PROXY_ONLY`` when the proxy moves (some gain's CI excludes 0) and
    the transfer's CI lies below 0.25."""
    rs = resampling or Resampling()
    grid = checked_grid(coefficients)
    zero = zero_index(grid)
    px, bh = np.asarray(proxy, float), np.asarray(behavior, float)
    if px.shape != bh.shape or px.shape[1:] != (grid.size,) or not np.isfinite(px).all():
        raise ValueError(f"proxy (finite) and behavior must both be (prompts, {grid.size}), got "
                         f"{px.shape} and {bh.shape}")
    dp, db = px - px[:, [zero]], bh - bh[:, [zero]]
    idx = rs.indices(px.shape[0])
    rows = []
    for j, r in enumerate(grid):
        if j == zero:
            continue
        diff = _mean_ci(db[:, j] - dp[:, j], idx, rs)
        agree = Band(-margin, margin).decide(diff)
        rows.append(GainPair(float(r), _mean_ci(dp[:, j], idx, rs), _mean_ci(db[:, j], idx, rs),
                             diff, agree))
    moves = any(p.proxy_gain.lo > 0 or p.proxy_gain.hi < 0 for p in rows)
    transfer = _scale_ci(np.delete(dp, zero, 1), np.delete(db, zero, 1), rs)
    finding = _finding(moves, transfer)
    return ProxyBehavior(tuple(rows), transfer, finding,
                         f"{finding.value} (behavior change per unit proxy change {transfer})")
