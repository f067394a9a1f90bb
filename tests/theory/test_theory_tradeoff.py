"""Corollary (with γ): sympy optimum (a maximum), the general r* = g₁/(2κℓ₂), numeric
second-order and exact-curve optima, the validity flag and ``optimum``, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from theory import alignment, helpfulness, tradeoff
from theory.symbols import B_0, P_0, alpha, beta, ell_2, g_1, gamma, kappa, lam, r_e, sigma

POS = {B_0: sp.Rational(1, 5), gamma: sp.Rational(4, 5), lam: sp.Rational(3, 2), P_0: sp.Rational(3, 5),
       alpha: sp.Rational(1, 10), sigma: sp.Rational(1, 3), beta: 2, kappa: 4}
P4 = np.array([0.6, 0.2, 0.15, 0.05])


def test_symbolic_optimum_is_the_maximum_and_break_even_the_root() -> None:
    (sol,) = sp.solve(sp.diff(tradeoff.utility, r_e), r_e)
    assert sp.simplify(sol - tradeoff.optimal_coefficient) == 0
    second = sp.diff(tradeoff.utility, r_e, 2)
    assert sp.simplify(second + 2 * kappa * alpha * P_0 * (lam * sigma * beta) ** 2) == 0
    assert second.subs(POS) < 0
    roots = sp.solve(tradeoff.utility, r_e)
    assert any(sp.simplify(rt - tradeoff.break_even) == 0 for rt in roots) and 0 in roots


def test_general_optimum_specialises_to_the_closed_form() -> None:
    (sol,) = sp.solve(sp.diff(tradeoff.general_utility, r_e), r_e)
    assert sp.simplify(sol - tradeoff.general_optimum) == 0
    spec = tradeoff.general_optimum.subs({g_1: gamma * lam * (1 - B_0**2),
                                          ell_2: alpha * P_0 * (lam * sigma * beta) ** 2})
    assert sp.simplify(spec - tradeoff.optimal_coefficient) == 0


def test_gain_and_loss_are_the_theorems_leading_terms() -> None:
    g = sp.series(alignment.bound, r_e, 0, 2).removeO() - B_0
    assert sp.simplify(g - tradeoff.gain) == 0
    assert sp.simplify(P_0 - helpfulness.expansion - tradeoff.loss) == 0
    ratio = sp.limit(tradeoff.gain / tradeoff.loss, r_e, 0, "+")
    assert ratio.subs(POS) == sp.oo


def test_second_order_numeric_matches_sympy() -> None:
    num = tradeoff.second_order(0.2, 0.8, 1.5, 0.6, 0.1, 4.0, sigma=1 / 3, beta=2.0)
    assert num.r_star == pytest.approx(float(tradeoff.optimal_coefficient.subs(POS)), rel=1e-12)
    assert num.break_even == pytest.approx(float(tradeoff.break_even.subs(POS)), rel=1e-12)
    u = sp.lambdify(r_e, tradeoff.utility.subs(POS))
    assert num.utility_star == pytest.approx(u(num.r_star), rel=1e-12)
    same = tradeoff.second_order(0.2, 0.8, 1.5, 0.6, 0.1, 4.0, s=1.5 / 3 * 2)
    assert same.r_star == pytest.approx(num.r_star, rel=1e-12)
    g = tradeoff.general(0.8 * 1.5 * 0.96, 0.1 * 0.6 * 1.0, 4.0, s=1.0)
    assert g.r_star == pytest.approx(num.r_star, rel=1e-12) and g.method == "second-order"


def test_validity_flag() -> None:
    ok = tradeoff.second_order(0.2, 1.0, 1.0, 0.6, 0.175, 400.0, s=0.5)
    assert ok.valid and 0.5 * ok.r_star <= 0.5 and "trusted" in ok.note
    bad = tradeoff.second_order(0.2, 1.0, 1.0, 0.6, 0.175, 10.0, s=0.5)  # the README's 1.83
    assert bad.r_star == pytest.approx(1.8286, abs=1e-4) and not bad.valid and "exact" in bad.note
    assert not tradeoff.general(1.0, 1.0, 1.0).valid  # s unknown: not checked, says so
    assert "not given" in tradeoff.general(1.0, 1.0, 1.0).note


def test_optimum_uses_the_exact_curves_when_second_order_is_not_trusted() -> None:
    o = tradeoff.optimum(0.2, 1.0, 1.0, 10.0, 0.5, p=P4, correct=0)
    assert o.method == "exact" and "rejected" in o.note
    assert o.r_star == pytest.approx(0.860, abs=2e-3) and o.break_even == pytest.approx(2.118, abs=2e-3)
    small = tradeoff.optimum(0.2, 1.0, 1.0, 400.0, 0.5, p=P4, correct=0)
    assert small.method == "second-order" and small.valid


def test_second_order_without_penalty_has_no_optimum() -> None:
    for al, ka in ((0.1, 0.0), (-0.1, 2.0)):
        t = tradeoff.second_order(0.0, 1.0, 1.0, 0.6, al, ka, s=0.5)
        assert math.isinf(t.r_star) and math.isinf(t.break_even) and not t.valid
    assert tradeoff.general(-1.0, 1.0, 1.0, s=1.0).r_star == 0.0


def test_exact_optimum_is_stationary_and_root_is_zero() -> None:
    t = tradeoff.exact(0.2, 1.0, 1.0, 10.0, 0.5, p=P4, correct=0)
    def u(r: float) -> float:
        return float(tradeoff.utility_curve(r, 0.2, 1.0, 1.0, 10.0, 0.5, p=P4, correct=0))
    assert 0 < t.r_star < t.break_even < math.inf
    assert u(t.r_star) >= max(u(t.r_star * 0.999), u(t.r_star * 1.001))
    assert abs(u(t.break_even)) < 1e-9 and t.utility_star == pytest.approx(u(t.r_star))
    grid = np.linspace(0.05, 3, 60)  # independent coarse search finds the same neighbourhood
    vals = tradeoff.utility_curve(grid, 0.2, 1.0, 1.0, 10.0, 0.5, p=P4, correct=0)
    assert grid[np.argmax(vals)] == pytest.approx(t.r_star, abs=0.05)
    assert t.utility_star >= vals.max()


def test_exact_expected_close_to_second_order_when_optimum_is_small() -> None:
    al = helpfulness.alpha(P4, 0)
    ex = tradeoff.exact(0.0, 1.0, 1.0, 400.0, 0.5, p=P4, correct=0)
    so = tradeoff.second_order(0.0, 1.0, 1.0, 0.6, al, 400.0, s=0.5)
    assert ex.r_star == pytest.approx(so.r_star, rel=0.05)
    assert ex.break_even == pytest.approx(so.break_even, rel=0.1)


def test_exact_no_break_even_when_helpfulness_is_cheap() -> None:
    t = tradeoff.exact(0.2, 1.0, 1.0, 0.1, 0.5, p=P4, correct=0)
    assert math.isinf(t.break_even)


def test_spread_bound_is_not_offered_as_a_loss() -> None:
    with pytest.raises(TypeError):
        tradeoff.exact(0.2, 1.0, 1.0, 10.0, 0.5, P0=0.6, loss="spread")  # type: ignore[call-arg]


@pytest.mark.parametrize("call, word", [
    (lambda: tradeoff.second_order(1.0, 1.0, 1.0, 0.6, 0.1, 1.0, s=0.5), "B0"),
    (lambda: tradeoff.second_order(0.0, 0.0, 1.0, 0.6, 0.1, 1.0, s=0.5), "gamma"),
    (lambda: tradeoff.second_order(0.0, 1.0, 0.0, 0.6, 0.1, 1.0, s=0.5), "lam"),
    (lambda: tradeoff.second_order(0.0, 1.0, 1.0, 1.2, 0.1, 1.0, s=0.5), "P0"),
    (lambda: tradeoff.second_order(0.0, 1.0, 1.0, 0.6, 0.1, -1.0, s=0.5), "kappa"),
    (lambda: tradeoff.second_order(0.0, 1.0, 1.0, 0.6, 0.1, 1.0, s=-0.5), "s must be"),
    (lambda: tradeoff.second_order(0.0, 1.0, 1.0, 0.6, 0.1, 1.0), "sigma"),
    (lambda: tradeoff.exact(0.0, 1.0, 1.0, 1.0, 0.5, p=[0.5, 0.6], correct=0), "sum to 1"),
    (lambda: tradeoff.general(math.nan, 1.0, 1.0), "g1"),
])
def test_bad_input(call, word) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=word):
        call()


def _validity_follows_s_times_r_star() -> bool:
    """Cases where r* ≤ 0.5 and s·r* ≤ 0.5 disagree (s ≠ 0.5)."""
    trusted = tradeoff.general(0.6, 0.2, 1.0, s=0.3)     # r* = 1.5, s r* = 0.45
    rejected = tradeoff.general(0.8, 1.0, 1.0, s=2.0)    # r* = 0.4, s r* = 0.8
    return (trusted.r_star == pytest.approx(1.5) and trusted.valid
            and rejected.r_star == pytest.approx(0.4) and not rejected.valid)


def test_validity_flag_uses_s_times_r_star(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _validity_follows_s_times_r_star()
    from theory import simulate

    with simulate.mutated("validity as r* <= 0.5"):  # the audit's mutant: r* ≤ 0.5
        assert not _validity_follows_s_times_r_star()
