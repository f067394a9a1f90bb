"""The recommendation: the specific gain with a control group (over-refusal counts against the
vector), "do not steer" without a utility CI above 0, the ε alternative ranked by the same gain,
grid extension at the edge with a stopping rule (a loop that never ends with "extend the grid"),
and the fit-free second-order r* beside the measured argmax."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from empirics.claims import (
    Curves,
    Decision,
    GridExtension,
    Measurements,
    Policy,
    Recommendation,
    Resampling,
    SecondOrder,
    recommend,
    recommend_extending,
    second_order_inputs,
)
from empirics.claims.recommend import merge

GRID = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0])
POLICY = Policy(resampling=Resampling(n_boot=300))


@dataclass(frozen=True)
class World:
    """Per prompt: target B = tanh(a r + b), control B = tanh(c r + b), P(correct) = P0 − ℓ r²."""

    a: np.ndarray
    c: np.ndarray
    ell: np.ndarray
    b: float = -0.2

    def measure(self, grid: np.ndarray, control: bool = True) -> Measurements:
        g = np.asarray(grid, float)[None]
        target = np.tanh(self.a[:, None] * g + self.b)
        ctrl = np.tanh(self.c[:, None] * g + self.b)
        helpful = np.clip(0.6 - self.ell[:, None] * g**2, 0.0, 1.0)
        return Measurements(Curves(g[0], target), Curves(g[0], helpful),
                            Curves(g[0], ctrl) if control else None)


def world(a: float, c: float, ell: float, n: int = 20, seed: int = 0) -> World:
    rng = np.random.default_rng(seed)
    spread = 1 + 0.1 * rng.standard_normal((3, n))
    return World(a * spread[0], c * spread[1], ell * np.abs(spread[2]))


def test_specific_gain_says_do_not_steer() -> None:
    """The issue's harmfulness case: harmless-prompt refusal rises as much as harmful."""
    w = world(0.1, 0.1, 0.001)
    out = recommend(w.measure(GRID), POLICY)
    assert isinstance(out, Recommendation) and out.decision is Decision.DO_NOT_STEER
    assert out.r == 0 and "specific gain" in out.summary and out.within_epsilon is None
    # the mutation: ignoring the control group steers at the edge (it asks for more grid)
    assert isinstance(recommend(w.measure(GRID, control=False), POLICY), GridExtension)


def test_interior_optimum_and_epsilon_alternative() -> None:
    w = world(0.3, 0.02, 0.004)
    out = recommend(w.measure(GRID), POLICY)
    assert isinstance(out, Recommendation) and out.decision is Decision.STEER
    assert 0 < out.r < GRID.max() and not out.at_edge and out.measured_argmax == out.r
    assert out.over_refusal is not None and out.over_refusal.value > 0   # reported at r
    u = out.utility
    assert u.control_gain is not None
    # the ε alternative: most specific gain among loss upper CI ≤ ε (the same gain, not B)
    ok = (u.grid > 0) & (u.loss.hi <= POLICY.epsilon) & (u.gain.lo > 0)
    assert out.within_epsilon == u.grid[ok][np.argmax(u.gain.mean[ok])]


def test_edge_asks_for_more_coefficients() -> None:
    out = recommend(world(0.1, 0.0, 0.0005).measure(GRID), POLICY)
    assert isinstance(out, GridExtension)
    assert out.coefficients.tolist() == [12.5, 15.0, 17.5, 20.0]


def test_extension_loop_finds_the_optimum_beyond_the_grid() -> None:
    w = world(0.1, 0.0, 0.0015)
    asked: list[list[float]] = []

    def sweep(coefficients: np.ndarray) -> Measurements:
        asked.append(coefficients.tolist())
        return w.measure(np.sort(coefficients))

    out = recommend_extending(w.measure(GRID), sweep, POLICY)
    assert isinstance(out, Recommendation) and out.decision is Decision.STEER
    assert 10 < out.r < 20 and not out.at_edge and len(out.extensions) == len(asked) == 1
    assert asked[0][0] == 0.0     # r = 0 again: the join is checked on it


def test_extension_loop_stops_at_the_stated_maximum() -> None:
    w = world(0.01, 0.0, 0.0)
    out = recommend_extending(w.measure(GRID), lambda c: w.measure(np.sort(c)), POLICY)
    assert out.decision is Decision.STEER and out.r == POLICY.max_coefficient and out.at_edge
    assert "maximum" in out.stopped_because and len(out.extensions) == 2


def test_extension_stops_when_b_saturates() -> None:
    w = world(1.0, 0.0, 0.0)
    out = recommend(w.measure(GRID), POLICY)
    assert isinstance(out, Recommendation) and "saturated" in out.stopped_because


def test_extension_checks_the_sweep() -> None:
    w = world(0.1, 0.0, 0.0005)
    with pytest.raises(ValueError, match="asked for"):
        recommend_extending(w.measure(GRID), lambda c: w.measure(np.array([0.0, 1.0, 2.0])),
                            POLICY)
    other = world(0.1, 0.0, 0.0005, seed=1)
    with pytest.raises(ValueError, match="same prompts"):
        merge(w.measure(GRID), World(other.a, other.c, other.ell, b=0.3).measure(GRID))


def test_second_order_r_star_beside_the_measured_argmax() -> None:
    w = world(0.3, 0.02, 0.004)
    so = SecondOrder(g1=0.3, l1=0.01, g2=-0.02, l2=0.004, radius=5.0)
    out = recommend(w.measure(GRID), POLICY, so)
    assert isinstance(out, Recommendation) and out.second_order is not None
    expected = (0.3 - 0.01) / (2 * (0.004 + 0.02))      # (g1 − κℓ1)/(2(κℓ2 − g2)), κ = 1
    assert out.second_order.r_star == pytest.approx(expected)
    assert out.second_order_inside_radius is (expected <= 5.0)
    assert "second-order r* = 6.04" in out.summary and "measured argmax" in out.summary
    far = recommend(w.measure(GRID), POLICY, SecondOrder(0.3, 0.01, -0.02, 0.004, 1.0))
    assert isinstance(far, Recommendation) and far.second_order_inside_radius is False


def test_second_order_inputs_are_specific_means() -> None:
    so = second_order_inputs(np.array([[0.2, -0.01], [0.4, -0.03]]),
                             np.array([[0.01, -0.002], [0.03, -0.004]]),
                             np.array([[0.1, 0.0], [0.1, 0.0]]), radius=2.0)
    assert (so.g1, so.g2) == pytest.approx((0.2, -0.02))
    assert (so.l1, so.l2) == pytest.approx((-0.02, 0.003))
    assert so.radius == 2.0 and not math.isnan(so.g1)


def test_measurements_and_policy_check_input() -> None:
    w = world(0.1, 0.0, 0.0)
    m = w.measure(GRID)
    with pytest.raises(ValueError, match="share one grid"):
        Measurements(m.target, Curves(GRID[:-1], m.helpfulness.values[:, :-1]))
    with pytest.raises(ValueError, match="source"):
        Measurements(m.target, m.helpfulness, source="guess")
    with pytest.raises(ValueError, match="kappa"):
        Policy(kappa=-1.0)
