"""Verdicts decide either way: each is shown holding on data that satisfy its rule and failing
on data that do not (no verdict fails or holds by construction)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from empirics import verdicts as V
from empirics.estimates import prompt_estimates
from empirics.fits import fit_tanh
from empirics.intervals import Interval
from empirics.results import Coefficients, FitSummary, Specificity
from empirics.tasks import ScoredPrompt

GRID = np.array([-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0])


def Value(value: float, lo: float = float("nan"), hi: float = float("nan")) -> Interval[float]:
    """A number with its interval (none: NaN bounds)."""
    return Interval(value, lo, hi)


def _coef(c1: Interval[float] | None, c2: Interval[float] | None = None,
          source: str = "measured") -> Coefficients:
    return Coefficients("x", source, c1, c2)


def test_within_is_two_sided_with_tolerance() -> None:
    m = Value(0.1, 0.09, 0.11)
    assert V.within(0.1, m) and V.within(0.11 + 0.024, m) and V.within(0.09 - 0.024, m)
    assert not V.within(0.11 + 0.026, m) and not V.within(0.09 - 0.026, m)
    assert V.within(0.1, Value(0.1))  # no CI: the tolerance alone


def test_theorem1_slope_either_way() -> None:
    measured = _coef(Value(0.1, 0.09, 0.11))
    assert V.theorem1_slope("b", measured, _coef(Value(0.1), source="fit-free"), 1.0).holds is True
    assert V.theorem1_slope("b", measured, _coef(Value(0.2), source="fit-free"), 1.0).holds is False
    assert V.theorem1_slope("b", measured, _coef(Value(0.04), source="fit-free"), 1.0).holds is False
    assert V.theorem1_slope("b", measured, _coef(None), 1.0).holds is None


def test_tanh_fit_quality_either_way() -> None:
    good = np.tanh(0.4 * GRID + 0.1)[None] + np.zeros((3, 1))
    fit = fit_tanh(GRID, good)
    assert V.theorem1_tanh_fit("b", FitSummary("c", (-3, 3), fit, None)).holds is True
    bad = np.where(np.abs(GRID) < 1.5, 0.8, -0.8)[None] + np.zeros((3, 1))  # a bump, not a tanh
    fit2 = fit_tanh(GRID, bad)
    v = V.theorem1_tanh_fit("b", FitSummary("c", (-3, 3), fit2, None))
    assert v.holds in (False, None) and v.holds is not True
    assert V.theorem1_tanh_fit("b", None).holds is None


def _linear_prompts(n: int, seed: int) -> tuple[list, np.ndarray]:  # type: ignore[type-arg]
    """Behavior prompts whose B follows the exact linear model softmax(z + r g)."""
    rng = np.random.default_rng(seed)
    est, rows = [], []
    for i in range(n):
        z, g = rng.normal(0, 0.5, 2), np.array([0.5, -0.3]) + rng.normal(0, 0.05, 2)
        p = ScoredPrompt("t", (1,), (10, 11), "harmful", f"h{i}", scores=(1, -1))
        est.append(prompt_estimates(p, z, g, np.zeros(2), np.ones(2), 1.0))
        rows.append([softmax(z + r * g) @ np.array([1.0, -1.0]) for r in GRID])
    return est, np.array(rows)


def test_theorem1_bound_only_inside_linear_range() -> None:
    est, b = _linear_prompts(5, 0)
    assert V.theorem1_bound("b", GRID, b, est, 1.0, 0.1).holds is True   # exact linear: equality
    # bend the curve below the bound only beyond |r| = 1: still holds (boundary of the theory)
    bent = b.copy()
    bent[:, GRID >= 2] -= 0.3
    v = V.theorem1_bound("b", GRID, bent, est, 1.0, 0.1)
    assert v.holds is True and v.evidence["crossings_beyond"] > 0
    # ... but inside the range it fails
    bent2 = b.copy()
    bent2[:, (GRID > 0) & (GRID <= 1)] -= 0.2
    assert V.theorem1_bound("b", GRID, bent2, est, 1.0, 0.1).holds is False
    assert V.theorem1_bound("b", GRID, b, est, 0.0, 0.1).holds is None
    assert V.theorem1_bound("b", GRID, b, est, None, 0.1).holds is None


def test_theorem2_verdicts_either_way() -> None:
    measured = _coef(Value(0.01, 0.005, 0.015), Value(-0.02, -0.025, -0.015))
    assert V.theorem2_first_order("b", measured, _coef(Value(0.011), None, "fit-free")).holds is True
    assert V.theorem2_first_order("b", measured, _coef(Value(-0.01), None, "fit-free")).holds is False
    assert V.theorem2_first_order("b", measured, _coef(None, None, "fit-free")).holds is None
    forms = [Coefficients("iid", "fit-free", None, Value(-0.05)),
             Coefficients("actual", "fit-free", None, Value(-0.021))]
    v = V.theorem2_curvature("b", measured, forms)
    assert v.holds is True and v.evidence["matching"] == ["actual"]
    assert V.theorem2_curvature("b", measured, forms[:1]).holds is False
    assert V.theorem2_curvature("b", measured, [Coefficients("g", "fit-free", None, None)]).holds is None


def test_efficient_regime_either_way() -> None:
    grid = np.array([-1.0, 0.0, 1.0, 2.0])
    rng = np.random.default_rng(0)
    gain = np.array([-0.1, 0.0, 0.2, 0.3]) + rng.normal(0, 0.01, (200, 4))
    loss = np.array([0.01, 0.0, 0.01, 0.05]) + rng.normal(0, 0.01, (200, 4))
    u = gain.mean(0) - loss.mean(0)
    assert V.efficient_regime("b", grid, gain, loss, u, 1.0).holds is True
    assert V.efficient_regime("b", grid, gain, loss * 20, gain.mean(0) - 20 * loss.mean(0),
                              1.0).holds is False


def _ci(mean: list[float], half: float) -> Interval[np.ndarray]:
    m = np.asarray(mean)
    return Interval(m, m - half, m + half, 0.95, 10)


def test_specific_gain_either_way() -> None:
    grid = np.array([0.0, 1.0, 2.0])
    spec = Specificity("harmful", "harmless", _ci([0, 0.3, 0.5], 0.05), _ci([0, 0.1, 0.5], 0.05),
                       _ci([0, 0.2, 0.0], 0.05))
    assert V.specific_gain("harmfulness", spec, grid, 1.0).holds is True
    assert V.specific_gain("harmfulness", spec, grid, 2.0).holds is False   # a generic "No"
    assert V.specific_gain("harmfulness", None, grid, 1.0).holds is None


@pytest.mark.parametrize("r, edge, label", [(4.0, True, "grid edge"), (2.0, False, "steer, r = 2")])
def test_recommendation_label_says_grid_edge(r: float, edge: bool, label: str) -> None:
    from empirics.results import Recommendation
    rec = Recommendation(r, "measured", edge, 0.1, 0.01, 0.09, 0.0, None, None, None, None, "n")
    v = V.recommendation("b", rec)
    assert label in v.label and ("extend the grid" in v.label) == edge
