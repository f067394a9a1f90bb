"""The efficient regime (corollary, general form): U = G − κL is positive on some (0, r₀) iff
g₁ − κℓ₁ > 0 (U's slope at 0, ``formulas.utility`` of the slopes), and G/L → ∞ as r → 0⁺ only when ℓ₁ = 0 (otherwise G/L → g₁/ℓ₁).

g₁ and ℓ₁ are measured at r = 0 (Richardson slopes per prompt): g₁ the slope of the mean B of
the target prompts (minus that of the control prompts: the specific gain), ℓ₁ minus the slope of
the mean P(correct). Groups are independent prompt sets, resampled independently.
"""

from __future__ import annotations

import math

import numpy as np

from empirics import formulas
from empirics.claims.differences import GridError, slope
from empirics.claims.inputs import Curves
from empirics.claims.stats import Resampling
from empirics.claims.verdict import ClaimVerdict, Estimate, Kind, Number, undecided

RULE = ("g₁ − κℓ₁ from the Richardson slopes at r = 0 (g₁: target B, minus control B with a "
        "control group; ℓ₁: −P(correct)), prompt bootstrap per group; holds when its 95% CI "
        "lies above 0, fails when below; ℓ₁'s CI says whether G/L → ∞ (ℓ₁ = 0) applies")


def sign_of(ci: Estimate) -> bool | None:
    """True when the CI lies above 0, False when below, None when it contains 0."""
    if not (math.isfinite(ci.lo) and math.isfinite(ci.hi)):
        return None
    return True if ci.lo > 0 else False if ci.hi < 0 else None


def _boot_slope_mean(curves: Curves, resampling: Resampling, stream: int) -> tuple[float,
                                                                                  np.ndarray]:
    per = slope(curves.grid, curves.values)
    return float(per.mean()), per[resampling.indices(per.size, stream)].mean(1)


def efficient_regime(subject: str, target: Curves, helpfulness: Curves, kappa: float,
                     control: Curves | None = None, *,
                     resampling: Resampling | None = None) -> ClaimVerdict:
    """Does an efficient regime exist, g₁ − κℓ₁ > 0 (with its CI), and is ℓ₁ = 0?"""
    rs = resampling or Resampling()
    if not (math.isfinite(kappa) and kappa >= 0):
        raise ValueError(f"kappa {kappa} must be finite and ≥ 0")
    try:
        g1, g1_b = _boot_slope_mean(target, rs, 1)
        l1, l1_b = _boot_slope_mean(helpfulness, rs, 2)
        c1, c1_b = (_boot_slope_mean(control, rs, 3) if control is not None
                    else (0.0, np.zeros(rs.n_boot)))
    except GridError as err:
        return undecided("efficient_regime", Kind.CLAIM, subject, RULE, str(err))
    l1, l1_b = -l1, -l1_b                 # loss = P(0) − P(r): its slope is −dP/dr
    g1, g1_b = g1 - c1, g1_b - c1_b       # specific gain with a control group
    margin = rs.interval(float(formulas.utility(g1, l1, kappa)), formulas.utility(g1_b, l1_b, kappa))
    holds = sign_of(margin)
    loss = rs.interval(l1, l1_b)
    zero_loss = loss.lo <= 0 <= loss.hi
    ratio = "G/L → ∞ as r → 0⁺ (ℓ₁ = 0 within its CI)" if zero_loss else (
        f"ℓ₁ ≠ 0: G/L → g₁/ℓ₁ = {g1 / l1:.3g} as r → 0⁺, not ∞")
    numbers = (Number("g₁ (specific gain slope)" if control is not None else "g₁ (gain slope)",
                      rs.interval(g1, g1_b)),
               Number("ℓ₁ (loss slope)", loss),
               Number("G/L at r → 0⁺", Estimate(math.inf if zero_loss else g1 / l1)))
    word = {True: "exists", False: "does not exist", None: "is undecided"}[holds]
    return ClaimVerdict("efficient_regime", Kind.CLAIM, subject, holds, RULE,
                        f"g₁ − κℓ₁ = {margin} (κ = {kappa:g}): an efficient regime {word}; {ratio}",
                        margin, None, numbers)
