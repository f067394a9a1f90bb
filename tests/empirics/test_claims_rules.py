"""Each claim rule holds on synthetic data with known truth and fails on its mutations (the
prediction off by ×0.5 and ×2, and rule-specific wrong predictions); undecidable inputs are
undecided with the reason, never a pass; bad input raises a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from empirics import formulas
from empirics.claims import (
    Curves,
    DirectionSweeps,
    Kind,
    Resampling,
    curvature_2r,
    departure,
    efficient_regime,
    first_order_consistency,
    random_direction_form,
    spread_bound,
    tanh_curve,
)
from empirics.claims.cases import Setup, draw_behavior, draw_helpfulness
from empirics.claims.differences import GridError, curvature, slope, stencil
from empirics.claims.population import default_population
from empirics.claims.synthetic import Prompts
from empirics.claims.synthetic_random import random_world
from empirics.claims.theorem1 import DEPARTURE_THRESHOLD, departures
from empirics.claims.verdict import Band, Estimate

POP = default_population()
GRID = POP.grid
RS = Resampling(n_boot=300, seed=1)
SETUP = Setup(POP, n_boot=300)
SCALES = (0.5, 2.0)


def _two_outcome(name: str = "bias/stereoset_race", seed: int = 0) -> tuple[Prompts, Curves]:
    pr = draw_behavior(SETUP, name, np.random.default_rng(seed))
    return pr, pr.readout(GRID)


def _four_option(seed: int = 0) -> tuple[Prompts, Curves]:
    pr = draw_helpfulness(SETUP, "harmfulness/knowledge", np.random.default_rng(seed))
    return pr, pr.readout(GRID)


# ------------------------------------------------------------------ differences and bands
@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=6, max_size=6))
def test_richardson_exact_on_low_degree_polynomials(coef: list[float]) -> None:
    """Slope exact up to degree 4, r² coefficient up to degree 5 (the h² term cancels)."""
    c = np.array(coef)
    quartic = np.polyval(c[:5][::-1], GRID)           # c0 + c1 r + ... + c4 r⁴
    quintic = np.polyval(c[::-1], GRID)
    assert slope(GRID, quartic) == pytest.approx(c[1], abs=1e-8)
    assert curvature(GRID, quintic) == pytest.approx(c[2], abs=1e-8)


def test_plain_symmetric_difference_would_be_biased() -> None:
    """The mutation: without Richardson the slope of r³ is off (h² r³ term), with it exact."""
    y = GRID**3
    s = stencil(GRID)
    plain = (y[s.plus[0]] - y[s.minus[0]]) / (2 * s.h)
    assert abs(plain) > 0.2 and slope(GRID, y) == pytest.approx(0.0, abs=1e-12)


def test_grid_errors_name_the_missing_points() -> None:
    with pytest.raises(GridError, match="±2h = ±2"):
        stencil(np.array([-4.0, -1.0, 0.0, 1.0, 4.0]))
    with pytest.raises(GridError, match="symmetric pair"):
        stencil(np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="r = 0"):
        Curves(np.array([-1.0, 1.0, 2.0]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="increasing"):
        Curves(np.array([0.0, -1.0, 1.0]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        Curves(np.array([-1.0, 0.0, 1.0]), np.full((2, 3), np.nan))


def test_band_is_three_way() -> None:
    band = Band.around_one(1.25)
    assert band.decide(Estimate(1.0, 0.9, 1.1)) is True
    assert band.decide(Estimate(0.5, 0.4, 0.6)) is False
    assert band.decide(Estimate(2.0, 1.6, 2.4)) is False
    assert band.decide(Estimate(1.2, 1.1, 1.3)) is None
    assert band.decide(Estimate(1.0)) is None          # no CI: no decision
    with pytest.raises(ValueError):
        Band(1.0, 1.0)


# ------------------------------------------------------------------ consistency and 2R
@pytest.mark.parametrize("kind", ["behavior", "helpfulness"])
def test_first_order_consistency_either_way(kind: str) -> None:
    pr, curves = _two_outcome() if kind == "behavior" else _four_option()
    c1 = pr.coefficients()[0]
    v = first_order_consistency("x", curves, c1, resampling=RS)
    assert v.kind is Kind.CONSISTENCY and v.holds is True
    assert "implementation" in v.rule and "not of the theory" in v.rule
    for f in SCALES:
        assert first_order_consistency("x", curves, f * c1, resampling=RS).holds is False


@pytest.mark.parametrize("name", ["harmfulness/harmful", "bias/stereoset_race"])
def test_curvature_2r_alignment_either_way(name: str) -> None:
    pr, curves = _two_outcome(name)
    c2 = pr.coefficients()[1]
    v = curvature_2r(name, curves, c2, resampling=RS)
    assert v.kind is Kind.CLAIM and v.holds is True and v.agreement is not None
    assert v.agreement.correlation.value > 0.99
    for f in SCALES:
        assert curvature_2r(name, curves, f * c2, resampling=RS).holds is False
    # Theorem 2's actual-Δ form without the path term ½∇ᵀw: the v2 mistake is caught
    assert curvature_2r(name, curves, pr.coefficients(w_factor=0.0)[1],
                        resampling=RS).holds is False


def test_curvature_2r_helpfulness_either_way() -> None:
    pr, curves = _four_option()
    c2 = pr.coefficients()[1]
    assert curvature_2r("k", curves, c2, resampling=RS).holds is True
    for f in SCALES:
        assert curvature_2r("k", curves, f * c2, resampling=RS).holds is False
    shuffled = curvature_2r("k", curves, np.random.default_rng(3).permutation(c2), resampling=RS)
    assert shuffled.holds is not True and "does not track" in shuffled.summary


def test_curvature_2r_undecided_without_the_stencil_or_a_prediction() -> None:
    pr, curves = _four_option()
    coarse = Curves(np.array([-4.0, -1.0, 0.0, 1.0, 4.0]), curves.values[:, [6, 11, 13, 15, 20]])
    v = curvature_2r("k", coarse, pr.coefficients()[1], resampling=RS)
    assert v.holds is None and "±2" in v.summary
    assert curvature_2r("k", curves, np.zeros(curves.n), resampling=RS).holds is None
    with pytest.raises(ValueError, match="one value per prompt"):
        curvature_2r("k", curves, np.zeros(3), resampling=RS)


# ------------------------------------------------------------------ Theorem 1
def _departure_inputs(name: str,
                      factor: float) -> tuple[Curves, np.ndarray, np.ndarray, np.ndarray]:
    pr, curves = _two_outcome(name)
    gl, w_gap = pr.g[:, 0], pr.w[:, 0] - pr.w[:, 1]
    radius = formulas.departure_radius(curves.at_zero, gl, factor * w_gap, DEPARTURE_THRESHOLD)
    return curves, gl, radius, np.sign(w_gap)


@pytest.mark.parametrize("name", ["harmfulness/harmful", "bias/stereoset_race"])
def test_departure_either_way(name: str) -> None:
    v = departure(name, *_departure_inputs(name, 1.0), resampling=RS)
    assert v.holds is True
    labels = [n.label for n in v.numbers]
    assert any("> 0.05" in x for x in labels)   # where each prompt leaves the bound materially
    for f in SCALES:
        assert departure(name, *_departure_inputs(name, f), resampling=RS).holds is False


def test_departure_wrong_side_fails() -> None:
    curves, gl, radius, sign = _departure_inputs("bias/stereoset_race", 1.0)
    assert departure("b", curves, gl, radius, -sign, resampling=RS).holds is False


def test_departures_locate_a_quadratic_gap() -> None:
    """|gap| = k r² is left at √(threshold/k) exactly, between grid points too."""
    k = np.array([0.02, 0.005, 0.0])
    gap = -k[:, None] * GRID[None] ** 2
    radius, sign = departures(GRID, gap, 0.01)
    assert radius[:2] == pytest.approx(np.sqrt(0.01 / k[:2]))
    assert np.isinf(radius[2]) and sign.tolist() == [-1, -1, 0]


@pytest.mark.parametrize("name", ["harmfulness/harmful", "bias/stereoset_race"])
def test_tanh_curve_either_way(name: str) -> None:
    pr, curves = _two_outcome(name)
    gl = pr.g[:, 0]
    assert tanh_curve(name, curves, gl, 1.0, resampling=RS).holds is True
    for f in SCALES:
        assert tanh_curve(name, curves, f * gl, 1.0, resampling=RS).holds is False
    assert tanh_curve(name, curves, gl, 0.1, resampling=RS).holds is None


# ------------------------------------------------------------------ efficient regime
def test_efficient_regime_either_way() -> None:
    pr, target = _two_outcome("harmfulness/harmful")
    _, helpful = _four_option()
    v = efficient_regime("h", target, helpful, 1.0, resampling=RS)
    assert v.holds is True and "exists" in v.summary
    flipped = pr.__class__(pr.z, -0.5 * pr.g, pr.w, pr.t, pr.scores)
    assert efficient_regime("h", flipped.readout(GRID), helpful, 1.0,
                            resampling=RS).holds is False
    # a control group moving as much as the target: the specific gain is 0, undecided
    assert efficient_regime("h", target, helpful, 1.0, control=target,
                            resampling=RS).holds is None


def test_efficient_regime_says_whether_l1_is_zero() -> None:
    _, target = _two_outcome("harmfulness/harmful")
    flat = Curves(GRID, 0.5 + 0.01 * np.arange(5)[:, None] + 0 * GRID[None])
    falling = Curves(GRID, 0.5 - 0.02 * GRID[None] + np.zeros((5, 1))
                     + 0.01 * np.arange(5)[:, None])
    assert "G/L → ∞" in efficient_regime("h", target, flat, 1.0, resampling=RS).summary
    assert "not ∞" in efficient_regime("h", target, falling, 1.0, resampling=RS).summary
    with pytest.raises(ValueError, match="kappa"):
        efficient_regime("h", target, flat, -1.0)


# ------------------------------------------------------------------ random directions
@pytest.mark.parametrize("law", ["iid", "geometry"])
def test_random_forms_either_way(law: str) -> None:
    h = POP.helpful("harmfulness/knowledge")
    world = random_world(h, law, 47, GRID, np.random.default_rng(4), POP.random, k=128,
                         correlation=0.0)
    if law == "iid":
        pred = np.array([formulas.iid_c2(float(p[0]), formulas.alpha(p, 0), float(s))
                         for p, s in zip(world.p, world.s, strict=True)])
    else:
        assert world.U is not None and world.lam is not None
        pred = np.array([formulas.random_direction_c2(p, 0, u, float(lam)) or 0.0
                         for p, u, lam in zip(world.p, world.U, world.lam, strict=True)])
    assert random_direction_form("k", law, world.sweeps, pred, resampling=RS).holds is not False
    for f in SCALES:
        assert random_direction_form("k", law, world.sweeps, f * pred,
                                     resampling=RS).holds is False


def test_random_forms_need_an_average() -> None:
    sweeps = DirectionSweeps(GRID, np.full((3, 4, GRID.size), 0.5))
    v = random_direction_form("k", "iid", sweeps, np.ones(4), resampling=RS)
    assert v.holds is None and "at least 8" in v.summary
    assert spread_bound("k", sweeps, np.full((4, GRID.size), 0.9)).holds is None


def test_spread_bound_either_way() -> None:
    h = POP.helpful("harmfulness/knowledge")
    rows = np.arange(h.P0.size)
    world = random_world(h, "iid", rows.size, GRID, np.random.default_rng(5), POP.random,
                         k=32, curved=False, rows=rows)
    bound = np.stack([formulas.spread_bound(p, 0, float(s), GRID)
                      for p, s in zip(world.p, world.s, strict=True)])
    v = spread_bound("k", world.sweeps, bound)
    assert v.holds is True and "informative" in v.summary
    wrong = bound - 0.3      # a bound 0.3 too low where it is informative: violated
    assert spread_bound("k", world.sweeps, wrong).holds is False
    nowhere = np.full_like(bound, np.nan)
    assert spread_bound("k", world.sweeps, nowhere).holds is None
    with pytest.raises(ValueError, match="prompts, coefficients"):
        spread_bound("k", world.sweeps, bound[:3])
