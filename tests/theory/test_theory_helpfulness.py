"""Theorems 2 / 2′: α, the exact expectation (quadrature vs independent checks), the r⁴ error of
the expansion, the symmetric-sigmoid lemma, Theorem 2′, sympy derivation, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.special import expit, logsumexp

from theory import helpfulness as H
from theory.symbols import P_0, alpha, beta, lam, r_e, sigma

P4 = np.array([0.6, 0.2, 0.15, 0.05])


def _brute_mc(p: np.ndarray, c: int, t: float, n: int, seed: int) -> tuple[float, float]:
    """Independent plain Monte Carlo (no antithetics, no centring)."""
    x = np.random.default_rng(seed).standard_normal((n, p.size))
    z = np.log(p) + t * x
    pc = np.exp(z[:, c] - logsumexp(z, axis=1))
    return float(pc.mean()), float(pc.std(ddof=1) / math.sqrt(n))


def test_alpha() -> None:
    for p0 in (0.3, 0.5, 0.8):
        assert H.alpha([p0, 1 - p0], 0) == pytest.approx((1 - p0) * (2 * p0 - 1), abs=1e-15)
    assert H.alpha(P4, 0) == pytest.approx(0.6 * 0.4 - (0.04 + 0.0225 + 0.0025))
    many = np.concatenate([[0.7], np.full(10_000, 0.3 / 10_000)])
    assert H.alpha(many, 0) == pytest.approx(0.7 * 0.3, rel=1e-3)


def test_expansion_is_sympy_derived_for_three_answers() -> None:
    """Taylor-expand softmax_c(log p + t x) to t², then average with E[x_a x_b] = δ_ab."""
    t = sp.Symbol("t", positive=True)
    p1, p2 = sp.symbols("p1 p2", positive=True)
    p = [1 - p1 - p2, p1, p2]
    x = sp.symbols("x0:3", real=True)
    def e2(u: sp.Expr) -> sp.Expr:  # exp to second order (all that a t² expansion sees)
        return 1 + u + u**2 / 2

    pc = p[0] * e2(t * x[0]) / sum(pi * e2(t * xi) for pi, xi in zip(p, x, strict=True))
    ser = sp.expand(sp.series(pc, t, 0, 3).removeO())
    poly = sp.Poly(ser, *x)
    mean = sum(coef for mon, coef in poly.terms()
               if all(e % 2 == 0 for e in mon) and sum(mon) in (0, 2))
    al = p[0] * (1 - p[0]) - p1**2 - p2**2
    want = H.expansion.subs({P_0: p[0], alpha: al, lam: 1, sigma: 1, beta: 1, r_e: t})
    assert sp.simplify(mean - want) == 0


def test_numeric_forms_match_hand_numpy() -> None:
    r = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(H.expansion_value(0.6, 0.1, 0.5, r), 0.6 - 0.1 * 0.6 * 0.25 * r**2)
    np.testing.assert_allclose(H.spread_bound_value(0.6, 0.5, r),
                               1 / (1 + (0.4 / 0.6) * np.exp((0.5 * r) ** 2 / 2)))
    np.testing.assert_allclose(H.spread_bound_quadratic_value(0.6, 0.5, r),
                               1 / (1 + (0.4 / 0.6) * (1 + (0.5 * r) ** 2 / 2)))
    assert np.all(H.spread_bound_value(0.6, 0.5, r) <= H.spread_bound_quadratic_value(0.6, 0.5, r))


@pytest.mark.parametrize("p", [np.array([0.7, 0.2, 0.1]), P4])
@pytest.mark.parametrize("t", [0.1, 0.5, 1.0])
def test_gauss_hermite_agrees_with_laplace_quadrature(p, t) -> None:  # type: ignore[no-untyped-def]
    gh = H.expected(p, 0, 1.0, t, method="gauss-hermite")
    lp = H._laplace(p, 0, t)[0]
    assert abs(float(gh.value) - lp) < 1e-10 and gh.stderr == 0


@pytest.mark.parametrize("t", [0.3, 2.0, 6.0])
def test_two_answers_against_one_dimensional_rule(t) -> None:  # type: ignore[no-untyped-def]
    """K = 2 reduces to E[sigmoid(logit P0 + √2 t z)]: a fine 1-D trapezoid is independent."""
    z = np.linspace(-12, 12, 200_001)
    w = np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi) * (z[1] - z[0])
    ref = float(w @ expit(math.log(0.7 / 0.3) + math.sqrt(2) * t * z))
    assert abs(float(H.expected([0.7, 0.3], 0, 1.0, t).value) - ref) < 1e-9


def test_laplace_step_converged() -> None:
    for t in (0.5, 3.0, 8.0):
        assert abs(H._laplace(P4, 1, t)[0] - H._laplace(P4, 1, t, step=0.12)[0]) < 1e-12


def test_quadrature_vs_brute_force_monte_carlo() -> None:
    for c, t in ((0, 0.8), (3, 2.5)):
        q = float(H.expected(P4, c, 1.0, t).value)
        mc, se = _brute_mc(P4, c, t, 400_000, seed=c)
        assert abs(q - mc) < 5 * se


def test_symmetry_uniform_and_even() -> None:
    r = np.array([-2.0, -0.5, 0.5, 2.0])
    e = H.expected(P4, 0, 0.7, r)
    np.testing.assert_allclose(e.value[:2], e.value[2:][::-1], atol=1e-13)
    u = H.expected(np.full(6, 1 / 6), 2, 1.0, [0.5, 3.0], method="quadrature")
    np.testing.assert_allclose(u.value, 1 / 6, atol=1e-11)
    assert H.expected(P4, 0, 0.0, 5.0).value == 0.6  # s = 0: nothing moves


def test_monte_carlo_path_against_quadrature() -> None:
    p = np.array([0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    mc = H.expected(p, 0, 1.0, np.array([0.5, 2.0]), n_mc=100_000, seed=3)
    q = H.expected(p, 0, 1.0, np.array([0.5, 2.0]), method="quadrature")
    assert mc.method == "monte-carlo" and np.all(mc.stderr > 0)
    assert np.all(np.abs(mc.value - q.value) < 5 * mc.stderr)
    value, stderr = mc  # unpacks like empirics' (value, stderr)
    assert value is mc.value and stderr is mc.stderr


@pytest.mark.parametrize("p, c", [(np.array([0.7, 0.3]), 0), (np.array([0.5, 0.3, 0.2]), 0),
                                  (P4, 0), (P4, 2)])
def test_expansion_error_shrinks_like_r4(p, c) -> None:  # type: ignore[no-untyped-def]
    t = np.geomspace(0.02, 0.2, 6)
    err = np.abs(H.expected(p, c, 1.0, t).value - H.expansion_value(p[c], H.alpha(p, c), 1.0, t))
    slope = np.polyfit(np.log(t), np.log(err), 1)[0]
    assert abs(slope - 4) < 0.15


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.floats(0, 8), st.lists(st.tuples(st.floats(0, 30), st.floats(0.01, 1)), min_size=1,
                                  max_size=6))
def test_symmetric_sigmoid_lemma(m, atoms) -> None:  # type: ignore[no-untyped-def]
    y, w = np.array([a[0] for a in atoms]), np.array([a[1] for a in atoms])
    assert H.symmetric_sigmoid_gap(m, y, w) >= -1e-15


def test_symmetric_sigmoid_lemma_needs_nonnegative_m() -> None:
    assert H.symmetric_sigmoid_gap(-2.0, [5.0], [1.0]) < 0


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(2, 40), st.floats(0.5, 0.95), st.floats(0.05, 2.5), st.floats(0.05, 0.9),
       st.integers(0, 10**6))
def test_theorem2_prime_holds_where_m_nonnegative(k, p0, t, eps, seed) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    p = np.concatenate([[p0], rng.dirichlet(np.ones(k - 1)) * (1 - p0)]) if k > 1 else np.array([1.0])
    b = H.theorem2_prime(p, 0, 1.0, t, eps)
    assume(bool(b.applies))
    e = H.expected(p, 0, 1.0, t, n_mc=20_000, seed=seed)
    assert float(e.value) <= float(b.bound) + 5 * float(e.stderr) + 1e-12


def test_spread_limit_can_fail_once_m_negative() -> None:
    """K = 2000, P0 = 0.6 (THEORY.md): the spread limit holds at small r_e, fails past m < 0."""
    p = np.concatenate([[0.6], np.full(1999, 0.4 / 1999)])
    e = H.expected(p, 0, 1.0, np.array([0.5, 1.5]), n_mc=20_000)
    lim = H.spread_bound_value(0.6, 1.0, np.array([0.5, 1.5]))
    assert e.value[0] <= lim[0] + 5 * e.stderr[0]
    assert not H.theorem2_prime(p, 0, 1.0, 1.5, 0.05).applies
    assert e.value[1] > lim[1] + 5 * e.stderr[1]


@pytest.mark.parametrize("call, word", [
    (lambda: H.expected([0.5, -0.1, 0.6], 0, 1.0, 1.0), "p"),
    (lambda: H.expected([0.5, 0.4], 0, 1.0, 1.0), "sum to 1"),
    (lambda: H.expected([0.5, 0.5], 2, 1.0, 1.0), "correct"),
    (lambda: H.expected([0.5, 0.5], -1, 1.0, 1.0), "correct"),
    (lambda: H.expected([0.5, 0.5], 0, -1.0, 1.0), "s must be"),
    (lambda: H.expected([0.5, 0.5], 0, 1.0, [0.0, math.inf]), "r_e"),
    (lambda: H.expected([0.5, 0.5], 0, 1.0, 1.0, method="nope"), "method"),
    (lambda: H.alpha([0.5, 0.5], 1.5), "correct"),
    (lambda: H.expansion_value(1.0, 0.1, 1.0, 1.0), "P0"),
    (lambda: H.spread_bound_value(0.0, 1.0, 1.0), "P0"),
    (lambda: H.theorem2_prime([0.6, 0.4], 0, 1.0, 1.0, 1.0), "epsilon"),
])
def test_bad_input(call, word) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=word):
        call()
