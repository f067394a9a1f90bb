"""What the verdicts read: one behavior's measured curves and per-prompt estimates, typed
(``analysis`` fills it; ``verdicts`` decides from it), and the coefficient tables' rows.

Per-prompt matrices are prompts × coefficients ``(N, C)`` on the prompts with a JVP (the same
prompts as the estimates); bootstrap curves are ``(n_boot, C)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from empirics.estimates import PromptEstimates
from empirics.results import Coefficients, RandomSweeps


@dataclass(frozen=True)
class AlignmentCoefficients:
    """The target group's B at r = 0: measured, Theorem 1's slope, the linear model's."""

    measured: Coefficients
    theorem1: Coefficients
    actual: Coefficients
    response_2r: Coefficients          # Theorem 2R: c2 with the path term w = UΔ̂₂

    def rows(self) -> list[Coefficients]:
        """In the report's table order."""
        return [self.measured, self.theorem1, self.actual, self.response_2r]


@dataclass(frozen=True)
class HelpfulnessCoefficients:
    """P(correct) at r = 0: measured and Theorem 2's forms (i.i.d. with the pooled σ̂ and with
    σ = 1/√d, a random direction with the real geometry, the actual Δ̂)."""

    measured: Coefficients
    iid_pooled: Coefficients
    iid_random: Coefficients
    random_geometry: Coefficients
    actual: Coefficients
    response_2r: Coefficients          # Theorem 2R: c2 with the path term w = UΔ̂₂

    def rows(self) -> list[Coefficients]:
        """In the report's table order."""
        return [self.measured, self.iid_pooled, self.iid_random, self.random_geometry,
                self.actual, self.response_2r]


@dataclass(frozen=True)
class Evidence:
    """Everything one behavior's verdicts decide from."""

    behavior: str
    target_group: str
    control_group: str | None           # the control prompts' group (harmless), if measured
    grid: np.ndarray                    # (C,), contains 0
    target_B: np.ndarray                # (N_t, C) measured B of the target prompts with a JVP
    help_P: np.ndarray                  # (N_h, C) measured P(correct), likewise
    target_estimates: list[PromptEstimates]
    help_estimates: list[PromptEstimates]
    all_target_B: np.ndarray            # (N, C) B of every measured target prompt
    all_help_P: np.ndarray              # (N, C) P(correct) of every helpfulness prompt
    control_B: np.ndarray | None        # (N, C) B of every control prompt
    random: RandomSweeps | None = None  # k random directions over the helpfulness prompts
    hidden_size: int = 0                # d (σ = 1/√d of a random direction)
