"""Corollary: sympy optimum (a maximum), numeric second-order and exact-curve optima, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from theory import alignment, helpfulness, tradeoff
from theory.symbols import B_0, P_0, alpha, beta, kappa, lam, r_e, sigma

POS = {B_0: sp.Rational(1, 5), lam: sp.Rational(3, 2), P_0: sp.Rational(3, 5),
       alpha: sp.Rational(1, 10), sigma: sp.Rational(1, 3), beta: 2, kappa: 4}


def test_symbolic_optimum_is_the_maximum_and_break_even_the_root() -> None:
    (sol,) = sp.solve(sp.diff(tradeoff.utility, r_e), r_e)
    assert sp.simplify(sol - tradeoff.optimal_coefficient) == 0
    second = sp.diff(tradeoff.utility, r_e, 2)
    assert sp.simplify(second + 2 * kappa * alpha * P_0 * (lam * sigma * beta) ** 2) == 0
    assert second.subs(POS) < 0  # strictly concave when κα > 0: the stationary point is a maximum
    roots = sp.solve(tradeoff.utility, r_e)
    assert any(sp.simplify(rt - tradeoff.break_even) == 0 for rt in roots) and 0 in roots


def test_gain_and_loss_are_the_theorems_leading_terms() -> None:
    g = sp.series(alignment.bound, r_e, 0, 2).removeO() - B_0
    assert sp.simplify(g - tradeoff.gain) == 0
    assert sp.simplify(P_0 - helpfulness.expansion - tradeoff.loss) == 0
    ratio = sp.limit(tradeoff.gain / tradeoff.loss, r_e, 0, "+")
    assert ratio.subs(POS) == sp.oo  # G/L → ∞ as r_e → 0⁺


def test_second_order_numeric_matches_sympy() -> None:
    num = tradeoff.second_order(0.2, 1.5, 0.6, 0.1, 4.0, sigma=1 / 3, beta=2.0)
    assert num.r_star == pytest.approx(float(tradeoff.optimal_coefficient.subs(POS)), rel=1e-12)
    assert num.break_even == pytest.approx(float(tradeoff.break_even.subs(POS)), rel=1e-12)
    u = sp.lambdify(r_e, tradeoff.utility.subs(POS))
    assert num.utility_star == pytest.approx(u(num.r_star), rel=1e-12)
    same = tradeoff.second_order(0.2, 1.5, 0.6, 0.1, 4.0, s=1.5 / 3 * 2)
    assert same.r_star == pytest.approx(num.r_star, rel=1e-12)


def test_second_order_without_penalty_has_no_optimum() -> None:
    for al, ka in ((0.1, 0.0), (-0.1, 2.0)):
        t = tradeoff.second_order(0.0, 1.0, 0.6, al, ka, s=0.5)
        assert math.isinf(t.r_star) and math.isinf(t.break_even)


def test_exact_spread_optimum_is_stationary_and_root_is_zero() -> None:
    t = tradeoff.exact(0.2, 1.0, 20.0, 0.5, P0=0.6, loss="spread")
    u = lambda r: float(tradeoff.utility_curve(r, 0.2, 1.0, 20.0, 0.5, P0=0.6, loss="spread"))  # noqa: E731
    assert 0 < t.r_star < t.break_even < math.inf
    assert u(t.r_star) >= max(u(t.r_star * 0.999), u(t.r_star * 1.001))
    assert abs(u(t.break_even)) < 1e-10 and t.utility_star == pytest.approx(u(t.r_star))
    # independent check: a dense grid finds the same maximiser
    grid = np.linspace(1e-4, 3, 300_001)
    vals = tradeoff.utility_curve(grid, 0.2, 1.0, 20.0, 0.5, P0=0.6, loss="spread")
    assert grid[np.argmax(vals)] == pytest.approx(t.r_star, abs=2e-5)


def test_exact_expected_close_to_second_order_when_optimum_is_small() -> None:
    """With a heavy helpfulness weight r* is small and the second-order model is accurate."""
    p = np.array([0.6, 0.2, 0.15, 0.05])
    al = helpfulness.alpha(p, 0)
    ex = tradeoff.exact(0.0, 1.0, 400.0, 0.5, p=p, correct=0)
    so = tradeoff.second_order(0.0, 1.0, 0.6, al, 400.0, s=0.5)
    assert ex.r_star == pytest.approx(so.r_star, rel=0.05)
    assert ex.break_even == pytest.approx(so.break_even, rel=0.1)


def test_exact_no_break_even_when_helpfulness_is_cheap() -> None:
    t = tradeoff.exact(0.2, 1.0, 0.1, 0.5, P0=0.6, loss="spread")
    assert math.isinf(t.break_even)


@pytest.mark.parametrize("call, word", [
    (lambda: tradeoff.second_order(1.0, 1.0, 0.6, 0.1, 1.0, s=0.5), "B0"),
    (lambda: tradeoff.second_order(0.0, 0.0, 0.6, 0.1, 1.0, s=0.5), "lam"),
    (lambda: tradeoff.second_order(0.0, 1.0, 1.2, 0.1, 1.0, s=0.5), "P0"),
    (lambda: tradeoff.second_order(0.0, 1.0, 0.6, 0.1, -1.0, s=0.5), "kappa"),
    (lambda: tradeoff.second_order(0.0, 1.0, 0.6, 0.1, 1.0, s=-0.5), "s must be"),
    (lambda: tradeoff.second_order(0.0, 1.0, 0.6, 0.1, 1.0), "sigma"),
    (lambda: tradeoff.exact(0.0, 1.0, 1.0, 0.5, loss="expected"), "p"),
    (lambda: tradeoff.exact(0.0, 1.0, 1.0, 0.5, P0=0.6, loss="other"), "loss"),
])
def test_bad_input(call, word) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=word):
        call()
