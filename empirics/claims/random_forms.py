"""Theorem 2's i.i.d. and random-direction forms, and Theorem 2′, against sweeps of k ≥ 8 seeded
random directions: those forms are statements about the average over random directions, never
about one chosen vector (whose first-order term and own path curvature they leave out).

Input: ``DirectionSweeps`` of P(correct), ``(k, N, C)``. The measured curvature per prompt is the
Richardson r² coefficient averaged over the k directions; the bootstrap resamples directions and
prompts, so the CI carries the Monte Carlo error of the average.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from empirics.claims.compare import Tolerance, paired_rule
from empirics.claims.differences import GridError, curvature, stencil
from empirics.claims.inputs import DirectionSweeps, zero_index
from empirics.claims.stats import Resampling, mean_ci
from empirics.claims.verdict import Band, ClaimVerdict, Estimate, Kind, Number, undecided

#: The forms speak about an average: fewer directions do not estimate it.
MIN_DIRECTIONS = 8
#: Scale within ×1.25 of the prediction; no correlation part (k directions leave per-prompt
#: Monte Carlo noise that the forms do not describe).
AVERAGE_TOLERANCE = Tolerance(Band.around_one(1.25))
#: Family-wise level of the Theorem 2′ violation tests (Bonferroni over the informative checks).
FAMILY_LEVEL = 0.05


def random_direction_form(subject: str, form: str, sweeps: DirectionSweeps,
                          predicted_c2: np.ndarray, *,
                          tolerance: Tolerance = AVERAGE_TOLERANCE,
                          resampling: Resampling | None = None) -> ClaimVerdict:
    """A form of Theorem 2 (``form`` names it: "i.i.d." or "random direction") vs the average
    over k directions of the measured r² coefficient, per prompt."""
    rs = resampling or Resampling()
    name = "theorem2_random_forms"
    try:
        h = stencil(sweeps.grid).h
    except GridError as err:
        return undecided(name, Kind.CLAIM, subject,
                         f"Theorem 2 ({form} form) per prompt vs the measured r² coefficient "
                         "(Richardson at ±h, ±2h) averaged over random directions", str(err))
    rule = (f"Theorem 2 ({form} form) per prompt vs the measured r² coefficient (Richardson at "
            f"±{h:g}, ±{2 * h:g}) averaged over k ≥ {MIN_DIRECTIONS} random directions; "
            f"bootstrap over directions and prompts; holds when {tolerance}, fails outside")
    if sweeps.k < MIN_DIRECTIONS:
        return undecided(name, Kind.CLAIM, subject, rule,
                         f"k = {sweeps.k} random directions: the form predicts an average over "
                         f"random directions; sweep at least {MIN_DIRECTIONS}")
    measured = curvature(sweeps.grid, sweeps.values)        # (k, N)
    numbers = (Number("measured c2, mean over directions and prompts",
                      mean_ci(measured.mean(0), rs)),
               Number(f"predicted c2 ({form}), mean", mean_ci(np.asarray(predicted_c2, float),
                                                              rs, 1)),
               Number("directions", Estimate(float(sweeps.k))))
    return paired_rule(name, Kind.CLAIM, f"{subject} ({form} form)", rule, predicted_c2,
                       measured, tolerance, rs, numbers)


def spread_bound(subject: str, sweeps: DirectionSweeps, bound: np.ndarray, *,
                 family_level: float = FAMILY_LEVEL) -> ClaimVerdict:
    """Theorem 2′ per prompt and coefficient where defined and informative: the direction
    average of P(correct) must not exceed sigmoid(m) + δ (``formulas.spread_bound``; NaN where
    m < 0). A check is informative where the bound is below 1 at r ≠ 0; it is violated when the
    average exceeds the bound by more than its Monte Carlo error allows (one-sided,
    Bonferroni over the informative checks at ``family_level``)."""
    name = "theorem2_prime"
    b = np.asarray(bound, dtype=float)
    shape = sweeps.values.shape[1:]
    if b.shape != shape:
        raise ValueError(f"bound has shape {b.shape}, expected {shape} (prompts, coefficients)")
    rule = (f"per prompt and r ≠ 0 where the bound is defined (m ≥ 0) and below 1: the mean of "
            f"P(correct) over k ≥ {MIN_DIRECTIONS} random directions must not exceed "
            f"sigmoid(m) + δ by more than z·SE (one-sided, Bonferroni at family level "
            f"{family_level:g}); fails on any violation")
    if sweeps.k < MIN_DIRECTIONS:
        return undecided(name, Kind.CLAIM, subject, rule,
                         f"k = {sweeps.k} random directions: the bound is on an average over "
                         f"random shifts; sweep at least {MIN_DIRECTIONS}")
    zero = zero_index(sweeps.grid)
    informative = np.isfinite(b) & (b < 1)
    informative[:, zero] = False
    checks = int(informative.sum())
    if checks == 0:
        return undecided(name, Kind.CLAIM, subject, rule,
                         "the bound is undefined (m < 0) or ≥ 1 at every prompt and r ≠ 0")
    mean = sweeps.values.mean(0)
    se = sweeps.values.std(0, ddof=1) / math.sqrt(sweeps.k)
    z = float(sps.norm.ppf(1 - family_level / checks))
    excess = np.where(informative, (mean - b) / np.maximum(se, 1e-12), -np.inf)
    violations = int((excess > z).sum())
    prompts = int(informative.any(1).sum())
    closest = float(np.max(excess[informative]))
    numbers = (Number("informative checks", Estimate(float(checks))),
               Number("prompts with an informative check", Estimate(float(prompts))),
               Number("violations", Estimate(float(violations))),
               Number("largest (mean − bound)/SE", Estimate(closest)),
               Number("critical z", Estimate(z)))
    return ClaimVerdict(name, Kind.CLAIM, subject, violations == 0, rule,
                        f"{violations} violations in {checks} informative checks on {prompts} "
                        f"prompts (largest excess {closest:.3g} SE, critical {z:.3g})",
                        Estimate(float(violations)), None, numbers)
