"""The claims figure's per-prompt points: on prompts whose logits follow z + r g + (r²/2) w
exactly, measured equals predicted (curvature to Richardson's accuracy, departure rates to the
grid's interpolation); with the wrong w the points leave the diagonal."""

from __future__ import annotations

import numpy as np

from empirics.claim_points import curvature_points, departure_points
from empirics.estimates import PromptEstimates, prompt_estimates
from empirics.tasks import ScoredPrompt
from tests.empirics.test_verdicts import two_outcome_prompts

GRID = np.arange(-6.0, 6.01, 0.5)


def two_outcome(n: int, w_factor: float = 1.0) -> tuple[list[PromptEstimates], np.ndarray]:
    return two_outcome_prompts(n, 0, GRID, w_factor)


def test_points_lie_on_the_diagonal_at_the_truth() -> None:
    est, b = two_outcome(8)
    curv = curvature_points("B", GRID, b, est)
    assert curv is not None
    np.testing.assert_allclose(curv.measured, curv.predicted, rtol=2e-2)
    dep = departure_points(GRID, b, est)
    assert dep is not None and dep.predicted.shape == (8,)
    np.testing.assert_allclose(dep.measured, dep.predicted, rtol=0.25)


def test_points_leave_the_diagonal_with_the_wrong_path_term() -> None:
    est, b = two_outcome(8, w_factor=3.0)
    curv = curvature_points("B", GRID, b, est)
    assert curv is not None
    assert np.max(np.abs(curv.measured / curv.predicted - 1)) > 0.1
    dep = departure_points(GRID, b, est)
    assert dep is not None and np.max(np.abs(dep.measured / dep.predicted - 1)) > 0.25


def test_no_points_without_the_stencil_or_the_path() -> None:
    est, b = two_outcome(4)
    coarse = np.array([2, 8, 12, 16, 22])   # r = −5, −2, 0, 2, 5: ±2h = ±4 missing
    assert curvature_points("B", GRID[coarse], b[:, coarse], est) is None
    plain = [prompt_estimates(ScoredPrompt("t", (1,), (10, 11), "harmful", "x", scores=(1, -1)),
                              e.z, e.g, np.zeros(2), np.ones(2), 1.0) for e in est]
    assert curvature_points("B", GRID, b, plain) is None
    assert departure_points(GRID, b, plain) is None
