"""THEORY v3 forms in ``theory``: each numeric function equals its sympy object (lambdified here,
at call time), Theorem 2R's numeric coefficients equal the symbolic-K sums, the special cases
reduce to Theorem 2, the departure radius and the general optimum's branches, stability at
extreme logits, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from theory import alignment, helpfulness, response, tradeoff
from theory.symbols import (
    B_0,
    G_gain,
    K,
    L_loss,
    Sigma,
    a_fit,
    b_fit,
    beta,
    curvatures,
    d,
    ell_1,
    ell_2,
    g_1,
    g_2,
    gamma,
    grad_f,
    hess_f,
    kappa,
    lam,
    r_e,
    shifts,
    sigma,
    w_gap,
)

RNG = np.random.default_rng(11)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def test_numeric_forms_equal_their_sympy_objects() -> None:
    r = np.linspace(-2, 2, 9)
    f = sp.lambdify((lam, sigma, beta), helpfulness.shift_scale_expr)
    assert np.allclose(helpfulness.shift_scale(1.3, 0.2, [0.5, 2.0]), f(1.3, 0.2, np.array([0.5, 2.0])))
    assert np.allclose(helpfulness.random_sigma([1, 9, 576]),
                       sp.lambdify(d, helpfulness.sigma_random)(np.array([1.0, 9.0, 576.0])))
    pf = sp.lambdify((r_e, a_fit, b_fit), helpfulness.paper_form_expr)
    pf4 = sp.lambdify((r_e, a_fit, b_fit), helpfulness.paper_form_options_expr)
    assert np.allclose(helpfulness.paper_form(r, 0.4, 0.7), pf(r, 0.4, 0.7))
    assert np.allclose(helpfulness.paper_form(r, 0.4, 0.7, options=4), pf4(r, 0.4, 0.7))
    at = sp.lambdify((r_e, a_fit, b_fit), alignment.paper_form_expr)
    assert np.allclose(alignment.paper_form(r, 0.4, -0.3), at(r, 0.4, -0.3))
    so = sp.lambdify((r_e, B_0, gamma, lam, w_gap), alignment.second_order_bound)
    assert np.allclose(alignment.second_order_curve(r, 0.3, 0.5, -0.8), so(r, 0.3, 0.5, 1.0, -0.8))
    ms = sp.lambdify((g_1, B_0), alignment.margin_from_slope_expr)
    assert np.allclose(alignment.margin_from_slope([0.1, 0.4], 0.5), ms(np.array([0.1, 0.4]), 0.5))
    uv = sp.lambdify((G_gain, L_loss, kappa), tradeoff.utility_general)
    assert np.allclose(tradeoff.utility_value([1.0, 0.2], [0.3, 0.1], 2.0),
                       uv(np.array([1.0, 0.2]), np.array([0.3, 0.1]), 2.0))


def test_margin_from_slope_inverts_the_linear_gain() -> None:
    slope = sp.diff(alignment.linear_gain, r_e)
    assert sp.simplify(alignment.margin_from_slope_expr.subs(g_1, slope) - gamma * lam) == 0


def test_paper_forms_are_theorem_forms() -> None:
    """tanh(a r + b) is the Theorem 1 bound at a = γλ, b = artanh B_0; the helpfulness form is
    Theorem 2′'s quadratic spread bound at a = (1 − P_0)/P_0, b = λσβ."""
    from theory.symbols import P_0

    tanh = alignment.paper_form_expr.subs({a_fit: gamma * lam, b_fit: sp.atanh(B_0)})
    assert sp.simplify(tanh - alignment.bound) == 0
    quad = helpfulness.paper_form_expr.subs({a_fit: (1 - P_0) / P_0, b_fit: lam * sigma * beta})
    assert sp.simplify(quad - helpfulness.spread_bound_quadratic) == 0


def _symbolic_coefficients(k: int, grad: np.ndarray, hess: np.ndarray, g: np.ndarray,
                           w: np.ndarray, cov: np.ndarray) -> tuple[float, float, float]:
    rep: dict[sp.Basic, float] = {}
    for i in range(k):
        rep[grad_f[i]] = grad[i]
        rep[shifts[i]] = g[i]
        rep[curvatures[i]] = w[i]
        for j in range(k):
            rep[hess_f[i, j]] = hess[i, j]
            rep[Sigma[i, j]] = cov[i, j]

    def val(e: sp.Expr) -> float:
        return float(e.subs(K, k).doit().xreplace(rep))

    return val(response.readout_c1), val(response.readout_c2), val(response.readout_c2_random)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_readout_coefficients_equal_the_symbolic_sums(k: int) -> None:
    grad, g, w = RNG.normal(size=k), RNG.normal(size=k), RNG.normal(size=k)
    hess = RNG.normal(size=(k, k))
    hess = hess + hess.T
    x = RNG.normal(size=(k, k))
    cov = x @ x.T
    s1, s2, s_rand = _symbolic_coefficients(k, grad, hess, g, w, cov)
    c1, c2 = response.readout_coefficients(grad, hess, g, w)
    _, c2_cov = response.readout_coefficients(grad, hess, g, w, cov=cov)
    assert float(c1) == pytest.approx(s1, rel=1e-12)
    assert float(c2) == pytest.approx(s2, rel=1e-12)
    assert float(c2_cov) == pytest.approx(s2 + s_rand, rel=1e-12)


def test_response_coefficients_reduce_to_theorem2_without_w() -> None:
    """w = 0: Theorem 2's actual-direction coefficients (helpfulness.second_order with mean g);
    for B, the score-weighted sum of every outcome's Theorem 2 coefficients."""
    for k in (2, 4, 6):
        p = _softmax(RNG.normal(size=k))
        g = RNG.normal(size=k)
        sc = np.where(RNG.random(k) < 0.5, 1.0, -1.0)
        for c in range(k):
            c1, c2 = helpfulness.response_coefficients(p, c, g, None)
            t1, t2 = helpfulness.second_order(p, c, mean=g)
            assert (float(c1), float(c2)) == pytest.approx((t1, t2), abs=1e-15)
        b1, b2 = alignment.response_coefficients(p, sc, g, None)
        parts = [helpfulness.second_order(p, a, mean=g) for a in range(k)]
        assert float(b1) == pytest.approx(sum(s * x[0] for s, x in zip(sc, parts, strict=True)), abs=1e-14)
        assert float(b2) == pytest.approx(sum(s * x[1] for s, x in zip(sc, parts, strict=True)), abs=1e-14)


def test_path_term_is_half_the_gradient_of_w() -> None:
    p = _softmax(RNG.normal(size=5))
    g, w = RNG.normal(size=5), RNG.normal(size=5)
    grad, _ = helpfulness.gradient_hessian(p, 1)
    _, with_w = helpfulness.response_coefficients(p, 1, g, w)
    _, without = helpfulness.response_coefficients(p, 1, g, None)
    assert float(with_w) - float(without) == pytest.approx(0.5 * grad @ w, abs=1e-15)


def test_curves_are_stable_at_extreme_logits() -> None:
    z = np.array([800.0, 0.0, -800.0])
    g = np.array([0.0, 1.0, 0.0])
    r = np.array([0.0, 1.0, 800.0])  # at r = 800 outcomes 0 and 1 tie
    b = alignment.response_curve(z, g, [1, -1, -1], r)
    pc = helpfulness.response_curve(z, g, 1, r)
    assert np.all(np.isfinite(b)) and np.all(np.isfinite(pc))
    assert b[0] == 1.0 and pc[0] == 0.0 and pc[2] == pytest.approx(0.5)
    assert alignment.response_curve(z, g, [1, 1, 1], r).tolist() == [1.0, 1.0, 1.0]


def test_curve_shapes() -> None:
    z = RNG.normal(size=(2, 3, 4))
    g = RNG.normal(size=4)
    assert helpfulness.response_curve(z, g, 0, np.zeros(5)).shape == (2, 3, 5)
    assert alignment.response_curve(z[0, 0], g, [1, -1, 1, -1], 0.5).shape == ()
    assert response.logit_path(z[0, 0], g, np.zeros((2, 3))).shape == (2, 3, 4)


def test_departure_radius_properties() -> None:
    assert math.isinf(float(alignment.departure_radius(0.2, 0.5, 0.0, 0.01)))
    r_below = float(alignment.departure_radius(0.2, 0.5, -1.0, 0.05))
    r_above = float(alignment.departure_radius(0.2, 0.5, 1.0, 0.05))
    for r_dep, side in ((r_below, -1), (r_above, 1)):
        gap = (alignment.second_order_curve(r_dep, 0.2, 0.5, side * 1.0)
               - np.tanh(0.5 * r_dep + np.arctanh(0.2)))
        assert np.sign(gap) == side and abs(abs(float(gap)) - 0.05) < 1e-10
    # w > 0 with a saturating linear bound: both curves reach 1, the gap peaks and falls again
    peak = max(abs(float(alignment.second_order_curve(r, 0.0, 3.0, 0.4) - np.tanh(3 * r)))
               for r in np.linspace(0, 10, 20001))
    assert math.isinf(float(alignment.departure_radius(0.0, 3.0, 0.4, peak * 1.01)))
    assert float(alignment.departure_radius(0.0, 3.0, 0.4, peak * 0.99)) < 10
    radii = alignment.departure_radius([0.2, -0.5], 0.5, [[-1.0], [1.0]], 0.05)
    assert radii.shape == (2, 2) and radii[0, 0] == pytest.approx(r_below)


def test_general_response_reduces_to_v2_when_l1_g2_vanish() -> None:
    v2 = tradeoff.general(0.6, 0.2, 3.0, s=1.0)
    v3 = tradeoff.general_response(0.6, 0.0, 0.0, 0.2, 3.0, radius=1.0)
    assert (v3.r_star, v3.utility_star, v3.break_even) == pytest.approx(
        (v2.r_star, v2.utility_star, v2.break_even), rel=1e-15)
    red = tradeoff.response_optimum.subs({ell_1: 0, g_2: 0})
    assert sp.simplify(red - tradeoff.general_optimum) == 0


def test_general_response_symbolic_optimum_is_the_maximum() -> None:
    (sol,) = sp.solve(sp.diff(tradeoff.response_utility, r_e), r_e)
    assert sp.simplify(sol - tradeoff.response_optimum) == 0
    star = tradeoff.response_utility.subs(r_e, tradeoff.response_optimum)
    assert sp.simplify(star - tradeoff.response_utility_star) == 0
    t = tradeoff.general_response(0.5, 0.1, 0.05, 0.3, 2.0)
    vals = {g_1: 0.5, ell_1: 0.1, g_2: 0.05, ell_2: 0.3, kappa: 2.0}
    assert t.r_star == pytest.approx(float(tradeoff.response_optimum.subs(vals)), rel=1e-14)
    assert t.utility_star == pytest.approx(float(tradeoff.response_utility_star.subs(vals)), rel=1e-14)


def test_general_response_branches_say_why() -> None:
    none = tradeoff.general_response(0.1, 0.3, 0.0, 0.1, 1.0)
    assert none.r_star == 0.0 and not none.valid and "no efficient regime" in none.note
    rescued = tradeoff.general_response(0.1, 0.1, 0.5, 0.1, 1.0)
    assert math.isinf(rescued.r_star) and "rescues" in rescued.note
    not_rescued = tradeoff.general_response(0.1, 0.1, 0.0, 0.1, 1.0)
    assert not_rescued.r_star == 0.0 and "does not rescue" in not_rescued.note
    unbounded = tradeoff.general_response(0.3, 0.0, 0.5, 0.1, 1.0)
    assert math.isinf(unbounded.r_star) and "keeps rising" in unbounded.note
    assert "no validity radius" in tradeoff.general_response(0.3, 0.0, 0.0, 0.1, 1.0).note
    assert tradeoff.efficient_regime_exists(0.1, 0.1, 0.5, 0.1, 1.0)
    assert not tradeoff.efficient_regime_exists(0.1, 0.1, 0.0, 0.1, 1.0)


def test_random_sigma_is_the_cosine_spread() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50_000, 20))
    cos = x[:, 0] / np.linalg.norm(x, axis=1)
    se = np.std(cos**2) / math.sqrt(cos.size)
    assert abs(np.mean(cos**2) - float(helpfulness.random_sigma(20)) ** 2) < 5 * se


@pytest.mark.parametrize(("call", "word"), [
    (lambda: helpfulness.random_sigma(0), "d must be an integer"),
    (lambda: helpfulness.random_sigma(2.5), "d must be an integer"),
    (lambda: helpfulness.shift_scale(-1.0, 0.1, 1.0), "lam must be >= 0"),
    (lambda: helpfulness.paper_form(1.0, 0.5, 0.5, options=3), "options must be"),
    (lambda: helpfulness.response_coefficients([0.5, 0.6], 0, [1, 2], None), "sum to 1"),
    (lambda: helpfulness.response_coefficients([0.5, 0.5], 2, [1, 2], None), "correct"),
    (lambda: helpfulness.response_coefficients([0.5, 0.5], 0, [1, 2, 3], None), "g must have"),
    (lambda: alignment.response_coefficients([0.5, 0.5], [1, -1, 1], [1, 2], None), "scores"),
    (lambda: alignment.response_curve([0.0, 1.0], [1.0, 0.0], [1, 0], [0.5]), "scores must be"),
    (lambda: alignment.second_order_curve(1.0, 1.0, 0.5, 0.1), "B0"),
    (lambda: alignment.departure_radius(0.0, 0.5, 0.1, 2.0), "tolerance"),
    (lambda: alignment.margin_from_slope(math.nan, 0.0), "slope"),
    (lambda: response.remainder(np.ones((2, 3)), np.ones(4), 0.0, 1.0), "hidden"),
    (lambda: response.remainder(1.0, 1.0, 1.0, 1.0), "last axis"),
    (lambda: response.logit_path([0.0, 1.0], [1.0], 0.5), "same last axis"),
    (lambda: response.readout_coefficients([1.0, 2.0], np.eye(3), [1.0, 1.0], None), "hess"),
    (lambda: tradeoff.general_response(1.0, 0.0, 0.0, 1.0, 1.0, radius=0.0), "radius"),
    (lambda: tradeoff.general_response(1.0, 0.0, 0.0, 1.0, -1.0), "kappa"),
    (lambda: tradeoff.utility_value(1.0, math.inf, 1.0), "loss"),
])
def test_bad_input(call, word) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=word):
        call()
