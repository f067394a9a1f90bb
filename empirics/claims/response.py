"""Rules on the response at r = 0, per prompt: the first-order consistency of the implementation
and Theorem 2R's curvature (the claim).

Both measure at the point the theory speaks about: symmetric differences on the smallest step of
the grid and twice it, Richardson-extrapolated (``empirics.claims.differences``).
"""

from __future__ import annotations

import numpy as np

from empirics.claims.compare import CLAIM_TOLERANCE, CONSISTENCY_TOLERANCE, Tolerance, paired_rule
from empirics.claims.differences import GridError, curvature, slope, stencil
from empirics.claims.inputs import Curves, per_prompt
from empirics.claims.stats import Resampling, mean_ci
from empirics.claims.verdict import ClaimVerdict, Estimate, Kind, Number, undecided


def first_order_consistency(subject: str, curves: Curves, jvp_slope: np.ndarray, *,
                            tolerance: Tolerance = CONSISTENCY_TOLERANCE,
                            resampling: Resampling | None = None) -> ClaimVerdict:
    """The JVP's slope per prompt (γ̂λ̂(1−B₀²), or c1 = ∇ᵀg for P(correct)) vs the sweep's slope
    at 0 (Richardson), paired. Tests the code, not the theory: on two-outcome prompts the
    fit-free slope *is* dB/dr at 0 by the chain rule."""
    rs = resampling or Resampling()
    try:
        h = stencil(curves.grid).h
    except GridError as err:
        return undecided("first_order_consistency", Kind.CONSISTENCY, subject,
                         "per prompt, the JVP slope vs the sweep's slope at 0 (symmetric "
                         "differences at ±h, ±2h, Richardson), paired", str(err))
    rule = (f"per prompt, the JVP slope vs the sweep's slope at 0 (symmetric differences at "
            f"±{h:g}, ±{2 * h:g}, Richardson), paired; holds when {tolerance}. A check of the "
            "implementation "
            "(JVP and sweep agree), not of the theory")
    jvp = per_prompt("jvp_slope", jvp_slope, curves.n)
    measured = slope(curves.grid, curves.values)
    numbers = (Number("measured slope, mean", mean_ci(measured, rs)),
               Number("JVP slope, mean", mean_ci(jvp, rs, 1)),
               Number("largest per-prompt |measured − JVP|",
                      Estimate(float(np.max(np.abs(measured - jvp))))))
    return paired_rule("first_order_consistency", Kind.CONSISTENCY, subject, rule, jvp,
                       measured, tolerance, rs, numbers)


def curvature_2r(subject: str, curves: Curves, predicted_c2: np.ndarray, *,
                 tolerance: Tolerance = CLAIM_TOLERANCE, resampling: Resampling | None = None) -> ClaimVerdict:
    """Theorem 2R per prompt: the predicted r² coefficient ½(gᵀ∇²f g + ∇fᵀw) (g = UΔ, w = UΔ₂
    at r = 0) vs the measured ½ d²f/dr² at 0 (Richardson on the smallest |r|), paired."""
    rs = resampling or Resampling()
    try:
        h = stencil(curves.grid).h
    except GridError as err:
        return undecided("curvature_2r", Kind.CLAIM, subject,
                         "per prompt, Theorem 2R's r² coefficient vs the measured one at 0 "
                         "(second differences at ±h, ±2h, Richardson), paired", str(err))
    rule = (f"per prompt, Theorem 2R's r² coefficient ½(gᵀ∇²f g + ∇fᵀw) vs the measured ½f'' at "
            f"0 (second differences at ±{h:g}, ±{2 * h:g}, Richardson), paired; holds when "
            f"{tolerance}")
    predicted = per_prompt("predicted_c2", predicted_c2, curves.n)
    measured = curvature(curves.grid, curves.values)
    numbers = (Number("measured c2, mean", mean_ci(measured, rs)),
               Number("predicted c2, mean", mean_ci(predicted, rs, 1)))
    return paired_rule("curvature_2r", Kind.CLAIM, subject, rule, predicted, measured,
                       tolerance, rs, numbers)

