"""The paper's fits as lmfit does them: bounded least squares with a, b ≥ 0 for helpfulness, an
unbounded tanh, the forms from ``empirics.formulas``, CIs from prompt resamples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import curve_fit

from empirics import formulas
from empirics.wolf import analysis, boundfit, forms, protocol


def test_forms_are_the_theory_objects() -> None:
    x = np.linspace(-5, 5, 11)
    assert np.allclose(forms.tanh_form(x, 0.3, -0.2), formulas.paper_tanh(x, 0.3, -0.2))
    assert np.allclose(forms.helpfulness_form(None)(x, 0.5, 0.7),
                       formulas.paper_helpfulness(x, 0.5, 0.7))
    assert np.allclose(forms.helpfulness_form(4)(x, 0.5, 0.7),
                       formulas.paper_helpfulness(x, 0.5, 0.7, options=4))
    with pytest.raises(ValueError):
        forms.helpfulness_form(3)


@given(st.floats(0.0, 50.0), st.floats(-20.0, 20.0))
def test_bound_transform_round_trip(p: float, q: float) -> None:
    b = boundfit.Bound(0.0)
    assert math.isclose(boundfit.to_external(boundfit.to_internal(p, b), b), p, abs_tol=1e-9)
    both = boundfit.Bound(-2.0, 3.0)
    inside = min(max(q, -2.0), 3.0)
    assert math.isclose(boundfit.to_external(boundfit.to_internal(inside, both), both), inside,
                        abs_tol=1e-9)
    assert boundfit.to_external(q, b) >= 0.0          # any internal value maps inside the bound
    assert -2.0 <= boundfit.to_external(q, both) <= 3.0


def test_recovers_exact_curves() -> None:
    b_grid = np.array(protocol.behavior_grid())
    tanh = analysis.tanh_fit(b_grid, forms.tanh_form(b_grid, 0.7, -0.3), 0, 0)
    assert tanh.converged and math.isclose(tanh.params["a"], 0.7, rel_tol=1e-5)
    assert math.isclose(tanh.params["b"], -0.3, rel_tol=1e-5) and tanh.r_squared > 0.999999
    assert tanh.n_points == 37                       # only [−3.2, 4] is fitted
    h_grid = np.array(protocol.helpfulness_grid())
    for options, a, b in ((None, 0.5, 0.8), (4, 1.5, 0.4)):
        y = forms.helpfulness_form(options)(h_grid, a, b)
        fit = analysis.helpfulness_fit(h_grid, y, options, 0, 0)
        assert fit.converged and fit.n_points == 41
        assert math.isclose(fit.params["a"], a, rel_tol=1e-5)
        assert math.isclose(fit.params["b"], b, rel_tol=1e-5)


def _free_fit(options: int | None, x: np.ndarray, y: np.ndarray) -> tuple[float, ...]:
    keep = np.abs(x) <= 5
    fit = boundfit.lmfit_leastsq(forms.helpfulness_form(options), x[keep], y[keep],
                                 protocol.HELPFULNESS_START, boundfit.UNBOUNDED)
    assert fit.converged
    return fit.params


def test_helpfulness_bound_on_a_enforced_and_its_removal_caught() -> None:
    """P(correct | A–D) = 0.9 at r = 0 (above the A–D form's 0.75 ceiling for a ≥ 0), falling."""
    x = np.array(protocol.helpfulness_grid())
    y = 0.9 - 0.002 * x**2
    fit = analysis.helpfulness_fit(x, y, 4, 0, 0)
    assert fit.params["a"] >= 0.0 and fit.params["b"] >= 0.0
    assert _free_fit(4, x, y)[0] < 0.0      # the mutation without bounds goes to a < 0


def test_helpfulness_bound_on_b_enforced_and_its_removal_caught() -> None:
    """P(correct) rising away from 0: the best form is flat (b → 0), approached from below
    when b is free."""
    x = np.array(protocol.helpfulness_grid())
    y = 0.3 + 0.004 * x**2
    fit = analysis.helpfulness_fit(x, y, None, 0, 0)
    assert fit.params["a"] >= 0.0 and fit.params["b"] >= 0.0
    assert _free_fit(None, x, y)[1] < 0.0


def test_tanh_is_not_bounded() -> None:
    """The notebook's tanh fit has no bounds: a falling curve gives a < 0."""
    x = np.array(protocol.behavior_grid())
    fit = analysis.tanh_fit(x, forms.tanh_form(x, -0.4, 0.2), 0, 0)
    assert fit.params["a"] < 0 and math.isclose(fit.params["a"], -0.4, rel_tol=1e-5)


def test_stderr_equals_the_covariance_of_an_unbounded_fit() -> None:
    rng = np.random.default_rng(0)
    x = np.linspace(-3, 4, 30)
    y = np.tanh(0.5 * x - 0.2) + rng.normal(0, 0.05, x.size)
    ours = boundfit.lmfit_leastsq(forms.tanh_form, x, y, (2.0, -2.0), boundfit.UNBOUNDED)
    popt, pcov = curve_fit(lambda t, a, b: np.tanh(a * t + b), x, y, p0=(2.0, -2.0))
    assert np.allclose(ours.params, popt, rtol=1e-5)
    assert np.allclose(ours.stderr, np.sqrt(np.diag(pcov)), rtol=1e-3)


def test_bootstrap_ci_and_input_checks() -> None:
    rng = np.random.default_rng(1)
    x = np.array(protocol.behavior_grid())
    rows = np.tanh(0.6 * x[None] + rng.normal(0, 0.3, (12, 1))) + rng.normal(0, 0.1, (12, x.size))
    fit = analysis.tanh_fit(x, rows, 200, 3)
    assert fit.ci_method.startswith("prompt bootstrap") and fit.n_prompts == 12
    for k in "ab":
        assert fit.ci[k][0] <= fit.params[k] <= fit.ci[k][1]
    again = analysis.tanh_fit(x, rows, 200, 3)
    assert again.ci == fit.ci                       # seeded
    with pytest.raises(ValueError):
        analysis.tanh_fit(x, rows[:, :-1], 0, 0)
    with pytest.raises(ValueError):
        analysis.tanh_fit(x, np.full_like(rows, np.nan), 0, 0)


def test_recommendation_and_verdicts_can_go_either_way() -> None:
    b_grid = np.array(protocol.behavior_grid(True))
    h_grid = np.array(protocol.helpfulness_grid(True))
    rising = np.tile(np.tanh(0.5 * b_grid), (6, 1)) + np.linspace(-0.01, 0.01, 6)[:, None]
    flat_help = np.tile(0.6 - 0.001 * h_grid**2, (6, 1))
    rec = analysis.recommend(b_grid, rising, h_grid, flat_help, 1.0, 100, 0)
    assert rec.r > 0 and rec.utility.lo > 0
    falling = -rising
    rec2 = analysis.recommend(b_grid, falling, h_grid, flat_help, 1.0, 100, 0)
    assert rec2.r == 0.0 and rec2.utility.value == 0.0


def test_efficient_regime_is_the_corollary_on_local_slopes() -> None:
    est = analysis.Estimate
    flat = (est(0.0, -1e-4, 1e-4), est(0.0, -1e-5, 1e-5))
    gain = (est(0.1, 0.08, 0.12), est(0.0, -0.01, 0.01))
    assert analysis.efficient_regime(gain, flat, 1.0).holds is True
    # P(correct) falling at slope 0.2 costs more than the 0.1 gain at κ = 1 (a flipped sign of
    # the loss would call it efficient)
    falling = (est(-0.2, -0.22, -0.18), est(0.0, -0.01, 0.01))
    assert analysis.efficient_regime(gain, falling, 1.0).holds is False
    assert analysis.efficient_regime(gain, falling, 0.1).holds is True
    noisy = (est(0.01, -0.05, 0.07), est(0.0, -0.01, 0.01))
    v = analysis.efficient_regime(noisy, flat, 1.0)
    assert v.holds is None and v.label == "undecided"


def test_theorem1_slope_verdict_undecided_when_the_slope_is_not_measured() -> None:
    est = analysis.Estimate
    x = np.array(protocol.behavior_grid())
    fit = analysis.tanh_fit(x, forms.tanh_form(x, 0.5, 0.0), 0, 0)
    help_ = analysis.helpfulness_fit(np.array(protocol.helpfulness_grid()),
                                     forms.helpfulness_form(4)(np.array(protocol.helpfulness_grid()),
                                                               1.0, 0.2), 4, 0, 0)
    eff = analysis.efficient_regime((est(0.5, 0.4, 0.6), est(0, 0, 0)),
                                    (est(0, 0, 0), est(0, 0, 0)), 1.0)
    curv = est(-0.01, -0.02, -0.005)

    def slope_verdict(slope: float, gain: analysis.Estimate) -> bool | None:
        vs = analysis.verdicts(fit, slope, gain, help_, curv, eff)
        return next(v.holds for v in vs if v.name == "theorem1_slope")

    assert slope_verdict(0.5, est(0.5, 0.45, 0.55)) is True
    assert slope_verdict(-0.1, est(0.5, 0.45, 0.55)) is False
    assert slope_verdict(-0.1, est(0.05, -0.1, 0.2)) is None      # inside a CI holding 0
    assert slope_verdict(-0.5, est(0.05, -0.1, 0.2)) is False     # outside it: fails
