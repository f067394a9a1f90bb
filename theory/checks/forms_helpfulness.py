"""Ties between the numeric functions of ``theory.helpfulness`` and the sympy objects they
compute (lambdified at call time; numeric functions looked up at call time), and the
random-direction forms as averages over many random directions."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import sympy as sp

from theory import helpfulness
from theory.checks.indexed import indexed_function
from theory.checks.report import Z_MC, StatementReport, Worst, agreement
from theory.checks.theorem1 import sphere
from theory.symbols import (
    P_0,
    G,
    Q,
    R,
    a_fit,
    b_fit,
    beta,
    c,
    curvatures,
    d,
    epsilon,
    lam,
    p,
    r_e,
    sigma,
)
from theory.symbols import a as a_sym
from theory.symbols import alpha as alpha_sym
from theory.symbols import b as b_sym
from theory.symbols import shifts as shifts_sym


def _fn(expr: sp.Expr, args: tuple[sp.Symbol, ...]) -> Callable[..., np.ndarray]:
    return sp.lambdify(args, expr, "numpy")  # type: ignore[no-any-return]


def _random_p(rng: np.random.Generator, k: int) -> np.ndarray:
    return np.asarray(rng.dirichlet(np.ones(k) * 0.8))


def _scalar_forms(rng: np.random.Generator, m: int) -> list[StatementReport]:
    p0, q = rng.uniform(0.05, 0.95, m), rng.uniform(0, 0.3, m)
    s, r, al = rng.uniform(0, 2, m), rng.normal(0, 1.5, m), rng.normal(0, 0.2, m)
    rr = rng.uniform(0, 0.1, m)
    expansion = _fn(helpfulness.THEOREM.rhs.removeO(), (P_0, alpha_sym, lam, sigma, beta, r_e))
    spread = _fn(helpfulness.spread_bound, (P_0, lam, sigma, beta, r_e))
    quad = _fn(helpfulness.spread_bound_quadratic, (P_0, lam, sigma, beta, r_e))
    paper = _fn(helpfulness.paper_form_expr, (r_e, a_fit, b_fit))
    paper4 = _fn(helpfulness.paper_form_options_expr, (r_e, a_fit, b_fit))
    a_ = (1 - p0) / p0
    return [
        agreement("expansion_value = THEOREM", helpfulness.expansion_value(p0, al, s, r),
                  expansion(p0, al, s, 1.0, 1.0, r)),
        agreement("spread_bound_value = spread_bound", helpfulness.spread_bound_value(p0, s, r),
                  spread(p0, s, 1.0, 1.0, r)),
        agreement("spread_bound_quadratic_value = its expression",
                  helpfulness.spread_bound_quadratic_value(p0, s, r), quad(p0, s, 1.0, 1.0, r)),
        agreement("paper_form = its expressions", np.concatenate(
            [helpfulness.paper_form(r, a_, s), helpfulness.paper_form(r, a_, s, options=4)]),
            np.concatenate([paper(r, a_, s), paper4(r, a_, s)])),
        agreement("paper_form = spread_bound_quadratic at a = (1-P0)/P0",
                  helpfulness.paper_form(r, a_, s), quad(p0, s, 1.0, 1.0, r)),
        agreement("shift_scale = its expression", helpfulness.shift_scale(s, p0, q + 1),
                  _fn(helpfulness.shift_scale_expr, (lam, sigma, beta))(s, p0, q + 1)),
        agreement("random_sigma = sigma_random", helpfulness.random_sigma(np.arange(1, m + 1)),
                  _fn(helpfulness.sigma_random, (d,))(np.arange(1.0, m + 1))),
        agreement("c4_value = c4", [helpfulness.c4_value(np.array([x, y, 1 - x - y]), 0, t)
                                    for x, y, t in zip(p0 * 0.5, rr, s, strict=True)],
                  _fn(helpfulness.c4, (P_0, Q, R, lam, sigma, beta))(
                      p0 * 0.5, rr**2 + (1 - p0 * 0.5 - rr) ** 2,
                      rr**3 + (1 - p0 * 0.5 - rr) ** 3, s, 1.0, 1.0)),
    ]


def _theorem2_prime(rng: np.random.Generator, m: int) -> list[StatementReport]:
    """The numeric Theorem 2′ (what ``empirics`` calls) against ``THEOREM_PRIME.rhs``, ``m_expr``
    and ``delta_expr`` as they are now."""
    args = (P_0, Q, lam, sigma, beta, r_e, epsilon)
    full = _fn(helpfulness.THEOREM_PRIME.rhs, args)
    m_fn, d_fn = _fn(helpfulness.m_expr, args), _fn(helpfulness.delta_expr, args)
    got, want = [], []
    for _ in range(m):
        k = int(rng.integers(2, 9))
        pv = _random_p(rng, k)
        s, r, eps = float(rng.uniform(0, 2)), float(rng.normal()), float(rng.uniform(0.01, 0.99))
        sb = helpfulness.theorem2_prime(pv, 0, s, r, eps)
        q = float((pv[1:] ** 2).sum())
        vals = (float(pv[0]), q, s, 1.0, 1.0, r, eps)
        got.append([float(sb.bound), float(sb.m), float(sb.delta)])
        want.append([float(full(*vals)), float(m_fn(*vals)), float(d_fn(*vals))])
    g, w = np.array(got), np.array(want)
    return [agreement("theorem2_prime.bound = THEOREM_PRIME (full_bound)", g[:, 0], w[:, 0]),
            agreement("theorem2_prime.m, .delta = m_expr, delta_expr", g[:, 1:], w[:, 1:])]


def _indexed(rng: np.random.Generator, m: int) -> list[StatementReport]:
    """α, ∇/Hc, Theorem 2R for P(correct), the random-direction c2, against the symbolic-K
    objects expanded at K = 3 and 4."""
    out = []
    for k in (3, 4):
        fix = ((c, 0),)
        alpha_f = _fn(helpfulness.alpha_def, (P_0, Q))
        rhs = sp.expand(helpfulness.THEOREM_2R.rhs.removeO())
        fams = ((p, 1), (shifts_sym, 1), (curvatures, 1))
        c1f = indexed_function(rhs.coeff(r_e, 1), k, fams, (), fix)
        c2f = indexed_function(rhs.coeff(r_e, 2), k, fams, (), fix)
        rand = indexed_function(helpfulness.random_direction_c2, k, ((p, 1), (G, 2)), (lam, d), fix)
        grad = [indexed_function(helpfulness.grad_entry, k, ((p, 1),), (), ((c, 0), (a_sym, i)))
                for i in range(k)]
        hess = [[indexed_function(helpfulness.hess_entry, k, ((p, 1),), (),
                                  ((c, 0), (a_sym, i), (b_sym, j))) for j in range(k)]
                for i in range(k)]
        got, want = [], []
        for _ in range(max(m // 20, 3)):
            pv = _random_p(rng, k)
            g, w = rng.normal(size=k), rng.normal(size=k)
            U = rng.normal(size=(k, 7))
            la = float(rng.uniform(0.2, 3))
            gr, he = helpfulness.gradient_hessian(pv, 0)
            got.append([helpfulness.alpha(pv, 0), *(float(x) for x in
                        helpfulness.response_coefficients(pv, 0, g, w)),
                        helpfulness.random_direction_second_order(pv, 0, U, la), *gr, *he.ravel()])
            want.append([float(alpha_f(pv[0], (pv[1:] ** 2).sum())), c1f(pv, g, w), c2f(pv, g, w),
                         rand(pv, U @ U.T, la, 7), *(f(pv) for f in grad),
                         *(f(pv) for row in hess for f in row)])
        gg, ww = np.array(got), np.array(want)
        out += [agreement(f"helpfulness.alpha = alpha_def (K={k})", gg[:, 0], ww[:, 0]),
                agreement(f"helpfulness.response_coefficients = THEOREM_2R (K={k})",
                          gg[:, 1:3], ww[:, 1:3]),
                agreement(f"random_direction_second_order = random_direction_c2 (K={k})",
                          gg[:, 3], ww[:, 3]),
                agreement(f"gradient_hessian = grad_entry, hess_entry (K={k})", gg[:, 4:], ww[:, 4:])]
    return out


def _random_directions(rng: np.random.Generator, n: int) -> list[StatementReport]:
    """Averages over many uniform directions Δ (radius λ) in R^d: E[Δ_iΔ_j] = ``second_moment``
    and the cosine spread with a fixed unit vector = ``random_sigma(d)``, within Z_MC s.e."""
    cov, spread = Worst(), Worst()
    i_, j_ = helpfulness.i_dir, helpfulness.j_dir
    moment = _fn(helpfulness.SPHERE_COVARIANCE.rhs, (lam, d, i_, j_))
    for dim in (2, 5, 16, 64):
        la = float(rng.uniform(0.5, 3))
        x = sphere(rng, (max(n, 2000), dim)) * la
        outer = x[:, :, None] * x[:, None, :]
        mean, se = outer.mean(0), outer.std(0, ddof=1) / math.sqrt(len(x))
        want = np.array([[float(moment(la, dim, i, j)) for j in range(dim)] for i in range(dim)])
        cov.update((np.abs(mean - want) - Z_MC * se - 1e-12).reshape(1, -1), {"d": dim},
                   mc=se.reshape(1, -1), draws=len(x))
        u = sphere(rng, (dim,))
        cos2 = (x @ u / la) ** 2
        sig2 = float(helpfulness.random_sigma(dim)) ** 2
        se2 = float(cos2.std(ddof=1) / math.sqrt(len(x)))
        spread.update(np.array([abs(cos2.mean() - sig2) - Z_MC * se2]), {"d": dim},
                      mc=np.array([se2]), draws=len(x))
    return [cov.report("E[DD^T] = (lam^2/d) I over random directions", f"{Z_MC:g} MC s.e.",
                       exact=False),
            spread.report("cosine spread = random_sigma(d) over random directions",
                          f"{Z_MC:g} MC s.e.", exact=False)]


def check_helpfulness_forms(rng: np.random.Generator, n: int) -> list[StatementReport]:
    m = min(n, 400)
    return [*_scalar_forms(rng, m), *_theorem2_prime(rng, m // 4 + 5), *_indexed(rng, m),
            *_random_directions(rng, n)]


COVERS = ("helpfulness.alpha", "helpfulness.alpha_def", "helpfulness.expansion_value",
          "helpfulness.expansion", "helpfulness.spread_bound_value",
          "helpfulness.spread_bound_quadratic_value", "helpfulness.spread_bound_quadratic",
          "helpfulness.paper_form", "helpfulness.paper_form_expr",
          "helpfulness.paper_form_options_expr", "helpfulness.shift_scale",
          "helpfulness.shift_scale_expr", "helpfulness.random_sigma", "helpfulness.sigma_random",
          "helpfulness.c4_value", "helpfulness.c4", "helpfulness.theorem2_prime",
          "helpfulness.full_bound", "helpfulness.m_expr", "helpfulness.delta_expr",
          "helpfulness.response_coefficients", "helpfulness.random_direction_second_order",
          "helpfulness.random_direction_c2", "helpfulness.gradient_hessian",
          "helpfulness.grad_entry", "helpfulness.hess_entry", "helpfulness.second_moment")

__all__ = ["check_helpfulness_forms", "COVERS"]
