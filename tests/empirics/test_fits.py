"""Fits recover known parameters from noisy synthetic data; CIs cover; bad input raises."""

from __future__ import annotations

import json

import numpy as np
import pytest

from empirics.fits import (
    fit_helpfulness_four,
    fit_helpfulness_two,
    fit_local_polynomial,
    fit_tanh,
)

R = np.linspace(-4, 4, 17)


def _noisy(curve: np.ndarray, n: int, sd: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return curve[None] + rng.normal(0, sd, (n, len(curve)))


def test_tanh_recovers_parameters_and_ci_covers() -> None:
    a, b = 0.4, 0.3
    y = _noisy(np.tanh(a * R + b), 20, 0.02, 1)
    fit = fit_tanh(R, y)
    assert fit.converged and fit.method == "curve_fit"
    assert fit.params["a"] == pytest.approx(a, abs=0.01)
    assert fit.params["b"] == pytest.approx(b, abs=0.01)
    assert fit.ci["a"][0] < a < fit.ci["a"][1]
    assert fit.r_squared > 0.99
    np.testing.assert_allclose(fit.predict([0.0]), np.tanh(fit.params["b"]))


@pytest.mark.parametrize("fitter,curve", [
    (fit_helpfulness_two, lambda r, a, b: 1 / (1 + a + a * b**2 * r**2 / 2)),
    (fit_helpfulness_four, lambda r, a, b: 0.5 / (1 + a + a * b**2 * r**2 / 2) + 0.25),
])
def test_helpfulness_forms_recover_parameters(fitter, curve) -> None:  # type: ignore[no-untyped-def]
    a, b = 0.5, 0.7
    y = _noisy(curve(R, a, b), 30, 0.01, 2)
    fit = fitter(R, y)
    assert fit.converged
    assert fit.params["a"] == pytest.approx(a, rel=0.05)
    assert fit.params["b"] == pytest.approx(b, rel=0.05)
    assert fit.ci["b"][0] < b < fit.ci["b"][1]


def test_ci_coverage_over_replications() -> None:
    """The 95% t-CI of the mean-curve fit covers the truth in most independent replications."""
    a, b = 0.6, -0.2
    covered = 0
    reps = 40
    for seed in range(reps):
        rng = np.random.default_rng(100 + seed)
        y = np.tanh(a * R + b) + rng.normal(0, 0.03, len(R))  # i.i.d. noise: t-CI is valid
        fit = fit_tanh(R, y)
        covered += fit.ci["a"][0] <= a <= fit.ci["a"][1]
    assert covered >= 0.85 * reps


def test_bootstrap_is_seeded_and_covers() -> None:
    a, b = 0.4, 0.1
    rng = np.random.default_rng(3)
    # per-prompt parameters vary: the population mean curve is the target
    per = np.stack([np.tanh((a + rng.normal(0, 0.05)) * R + b + rng.normal(0, 0.05)) for _ in range(40)])
    f1 = fit_tanh(R, per, bootstrap=200, seed=7)
    f2 = fit_tanh(R, per, bootstrap=200, seed=7)
    assert f1.method == "bootstrap" and f1.n_boot >= 100
    assert f1.ci == f2.ci
    assert f1.ci["a"][0] < a < f1.ci["a"][1]


def test_local_polynomial_exact_and_bootstrap() -> None:
    p0, c1, c2 = 0.6, 0.02, -0.03
    exact = fit_local_polynomial(R, p0 + c1 * R + c2 * R**2, 2.0)
    assert exact.params["P0"] == pytest.approx(p0)
    assert exact.params["c1"] == pytest.approx(c1)
    assert exact.params["c2"] == pytest.approx(c2)
    assert exact.n_points == int((np.abs(R) <= 2).sum())
    rng = np.random.default_rng(4)
    c1_i = c1 + rng.normal(0, 0.01, 50)  # prompt-level slopes around c1
    per = p0 + c1_i[:, None] * R[None] + c2 * R[None] ** 2
    fit = fit_local_polynomial(R, per, 2.0)
    assert fit.method == "lstsq+bootstrap" and fit.n_boot == 1000
    assert fit.ci["c1"][0] < c1 < fit.ci["c1"][1]
    assert fit.ci["c1"][0] > 0  # 50 prompts: the slope is resolved
    assert fit.ci == fit_local_polynomial(R, per, 2.0).ci  # seeded


@pytest.mark.parametrize("bad_r,bad_y,match", [
    (R, np.full(len(R), np.nan), "y contains NaN"),
    (np.r_[R[:-1], np.nan], np.zeros(len(R)), "r contains NaN"),
    (R, np.zeros(len(R) - 1), "mismatched lengths"),
    (np.array([0.0]), np.array([0.0]), "fewer than"),
])
def test_bad_input_raises(bad_r, bad_y, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        fit_tanh(bad_r, bad_y)


def test_local_polynomial_needs_three_points_in_window() -> None:
    with pytest.raises(ValueError, match="max_abs_r"):
        fit_local_polynomial(R, np.zeros(len(R)), 0.3)  # only r = 0 inside
    with pytest.raises(ValueError, match="max_abs_r"):
        fit_local_polynomial(R, np.zeros(len(R)), -1.0)


def test_failed_fit_is_flagged_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    # y = 2 > 1/(1 + a) for every a ≥ 0: a sticks at 0 and b is then unidentifiable
    bad = fit_helpfulness_two(R, np.full(len(R), 2.0))
    assert not bad.converged and "identifiable" in bad.reason
    assert np.isnan(bad.predict(R)).all()
    json.dumps(bad.to_dict(), allow_nan=False)

    import empirics.fits as fits

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("Optimal parameters not found: maxfev reached")

    monkeypatch.setattr(fits, "curve_fit", boom)
    res = fit_tanh(R, np.tanh(R))
    assert not res.converged and "maxfev" in res.reason
