"""Per-prompt points behind the claims, for the report's figure: Theorem 2R's predicted r²
coefficient at 0 against the measured one (B and P(correct)), and the rate at which each
two-outcome prompt is predicted (Theorem 1 to second order) and measured to leave Theorem 1's
linear bound (sign/r², the departure rule's statistic). The
numbers come from the same functions the rules use (``claims.differences.curvature``,
``claims.theorem1.departures``, ``verdicts.theorem1_inputs``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from empirics.claims.differences import GridError, curvature
from empirics.claims.inputs import Curves
from empirics.claims.theorem1 import DEPARTURE_THRESHOLD, departures, linear_bounds
from empirics.estimates import PromptEstimates
from empirics.evidence import Evidence
from empirics.results import PromptPoints
from empirics.verdicts import estimate_values, theorem1_inputs


def curvature_points(label: str, grid: np.ndarray, values: np.ndarray,
                     estimates: Sequence[PromptEstimates]) -> PromptPoints | None:
    """Predicted (``c2_2r``) vs measured (Richardson) r² coefficient per prompt."""
    predicted = estimate_values(estimates, "c2_2r")
    try:
        measured = curvature(grid, values)
    except GridError:
        return None
    return None if predicted is None else PromptPoints(label, predicted, measured)


def departure_points(grid: np.ndarray, B: np.ndarray,
                     estimates: Sequence[PromptEstimates]) -> PromptPoints | None:
    """Predicted vs measured signed departure rate sign/r², r where each two-outcome prompt
    with γ̂λ̂ > 0 first leaves the linear bound by ``DEPARTURE_THRESHOLD`` (the departure rule's
    statistic; 0 where a prompt never leaves it)."""
    t1 = theorem1_inputs(estimates)
    if len(t1.rows) < 2:
        return None
    curves = Curves(grid, B[t1.rows])
    rad_m, sign_m = departures(grid, curves.values - linear_bounds(curves, t1.gamma_lam),
                               DEPARTURE_THRESHOLD)
    # The rule's statistic: the signed rate sign/r² (0: never leaves the bound on the grid).
    return PromptPoints(f"B: departure from Theorem 1's bound (> {DEPARTURE_THRESHOLD:g}), "
                        "sign/r²", np.sign(t1.gap) / t1.radius**2, sign_m / rad_m**2)


def claim_points(e: Evidence) -> list[PromptPoints]:
    """Every panel of the claims figure that the run's grid and estimates allow."""
    found = [curvature_points(f"B ({e.target_group}): r² coefficient at 0", e.grid, e.target_B,
                              e.target_estimates),
             curvature_points("P(correct): r² coefficient at 0", e.grid, e.help_P,
                              e.help_estimates),
             departure_points(e.grid, e.target_B, e.target_estimates)]
    return [p for p in found if p is not None and p.predicted.size >= 2]
