"""The corollary checked against its sympy objects as they are now: the numeric r* against the
symbolic r* (``THEOREM.rhs``, ``THEOREM_GENERAL.rhs``, ``THEOREM_RESPONSE.rhs``), the utility
stationary there, lower on both sides and 0 at 2r*, the validity flag against s·r* ≤ VALID_LIMIT
(with s ≠ 0.5, so r* ≤ 0.5 is told apart), and the general form's branches and regime."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from theory import tradeoff
from theory.checks.report import StatementReport, Worst, agreement
from theory.symbols import (
    B_0,
    P_0,
    G_gain,
    L_loss,
    alpha,
    beta,
    ell_1,
    ell_2,
    g_1,
    g_2,
    gamma,
    kappa,
    lam,
    r_e,
    sigma,
)


def _fn(expr: sp.Expr, args: tuple[sp.Symbol, ...]) -> Callable[..., np.ndarray]:
    return sp.lambdify(args, expr, "numpy")  # type: ignore[no-any-return]


def _stationary(name: str, u: Callable[[np.ndarray], np.ndarray],
                r_: np.ndarray) -> StatementReport:
    """U is stationary at r*, lower 1% to either side, and 0 at 2r* (relative 1e-6 / 1e-9)."""
    worst = Worst()
    scale = np.abs(u(r_))
    h = 1e-4 * r_
    slope = (u(r_ + h) - u(r_ - h)) / (2 * h) * r_ / scale
    side = np.maximum(u(r_ * 1.01), u(r_ * 0.99)) - u(r_)
    root = np.abs(u(2 * r_)) / scale
    worst.update(np.stack([np.abs(slope) - 1e-6, side / scale, root - 1e-9], axis=1),
                 {"r_star": r_})
    return worst.report(name, "relative 1e-6 / 1e-9")


def _iid(rng: np.random.Generator, m: int) -> list[StatementReport]:
    b0, ga, la, p0 = (rng.uniform(-0.95, 0.95, m), rng.uniform(0.1, 2, m), rng.uniform(0.1, 3, m),
                      rng.uniform(0.05, 0.95, m))
    al, sg, be, ka = (rng.uniform(0.01, 0.25, m), rng.uniform(0.01, 1, m), rng.uniform(0.1, 5, m),
                      rng.uniform(0.1, 10, m))
    args = (B_0, gamma, lam, P_0, alpha, sigma, beta, kappa)
    r_sym = _fn(tradeoff.THEOREM.rhs, args)(b0, ga, la, p0, al, sg, be, ka)
    u_sym = _fn(tradeoff.utility, (*args, r_e))
    num = [tradeoff.second_order(b0[i], ga[i], la[i], p0[i], al[i], ka[i], sigma=sg[i], beta=be[i])
           for i in range(m)]
    g1 = ga * la * (1 - b0**2)
    l2 = al * p0 * (la * sg * be) ** 2
    rg_sym = _fn(tradeoff.THEOREM_GENERAL.rhs, (g_1, ell_2, kappa))(g1, l2, ka)
    gen = [tradeoff.general(g1[i], l2[i], ka[i]) for i in range(m)]
    return [
        agreement("second_order r* = THEOREM (symbolic r*)", [t.r_star for t in num], r_sym),
        agreement("second_order break-even = break_even", [t.break_even for t in num],
                  _fn(tradeoff.break_even, args)(b0, ga, la, p0, al, sg, be, ka)),
        agreement("general r* = THEOREM_GENERAL (symbolic r*)", [t.r_star for t in gen], rg_sym),
        _stationary("Corollary (r* max, break-even 2r*)",
                    lambda r: np.asarray(u_sym(b0, ga, la, p0, al, sg, be, ka, r)), r_sym),
        _stationary("Corollary general (r* = g1/(2 kappa l2))",
                    lambda r: np.asarray(_fn(tradeoff.general_utility, (g_1, ell_2, kappa, r_e))(
                        g1, l2, ka, r)), rg_sym),
    ]


def _validity(rng: np.random.Generator, m: int) -> list[StatementReport]:
    """``valid`` = (s·r* ≤ VALID_LIMIT) with r* the symbolic optimum and s spread over
    (0.05, 4): cases with r* ≤ 0.5 < s·r*... and s·r* ≤ 0.5 < r* both occur."""
    g1, l2, ka = rng.uniform(0.05, 2, m), rng.uniform(0.05, 2, m), rng.uniform(0.1, 5, m)
    s = np.exp(rng.uniform(np.log(0.05), np.log(4.0), m))
    r_sym = _fn(tradeoff.THEOREM_GENERAL.rhs, (g_1, ell_2, kappa))(g1, l2, ka)
    got = np.array([tradeoff.general(g1[i], l2[i], ka[i], s=s[i]).valid for i in range(m)])
    want = s * r_sym <= tradeoff.VALID_LIMIT
    worst = Worst()
    worst.update((got != want).astype(float) - 0.5, {"s": s, "r_star": r_sym})
    told_apart = float(np.sum((r_sym <= 0.5) != want))
    return [worst.report("validity flag = (s r* <= VALID_LIMIT)", "exact",
                         {"cases where r* <= 0.5 and s r* <= 0.5 differ": told_apart})]


def _general_response(rng: np.random.Generator, m: int) -> list[StatementReport]:
    """``general_response`` against ``THEOREM_RESPONSE``/``UTILITY_STAR``/``response_break_even``
    where both coefficients are positive; ``efficient_regime_exists`` against the sign of the
    symbolic utility just above 0 (and, for a zero slope, of its r² coefficient);
    ``utility_value`` against ``utility_general``."""
    args = (g_1, ell_1, g_2, ell_2, kappa)
    g1, l1, g2, l2 = (rng.normal(size=m) for _ in range(4))
    ka = rng.uniform(0, 3, m)
    zero = rng.random(m) < 0.2  # exact zero slopes (g₁ = ℓ₁ = 0): the r² term decides
    g1, l1 = np.where(zero, 0.0, g1), np.where(zero, 0.0, l1)
    res = [tradeoff.general_response(*(float(x[i]) for x in (g1, l1, g2, l2, ka)), radius=1.0)
           for i in range(m)]
    slope, curv = g1 - ka * l1, ka * l2 - g2
    ok = (slope > 0) & (curv > 0)
    r_sym = _fn(tradeoff.THEOREM_RESPONSE.rhs, args)(g1, l1, g2, l2, ka)
    u_star = _fn(tradeoff.UTILITY_STAR.rhs, args)(g1, l1, g2, l2, ka)
    be = _fn(tradeoff.response_break_even, args)(g1, l1, g2, l2, ka)
    u = _fn(tradeoff.response_utility, (*args, r_e))
    # U's sign just above 0 (at r = 1e-9 the r² term is below round-off unless the slope is 0;
    # for a zero slope U = (g₂ − κℓ₂) r², read at r = 1e-3)
    exists = np.where(zero, u(g1, l1, g2, l2, ka, 1e-3) > 0, u(g1, l1, g2, l2, ka, 1e-9) > 0)
    got_exists = np.array([tradeoff.efficient_regime_exists(g1[i], l1[i], g2[i], l2[i], ka[i])
                           for i in range(m)])
    gain, loss = rng.normal(size=m), rng.normal(size=m)
    return [
        agreement("general_response r*, U*, break-even = THEOREM_RESPONSE",
                  np.array([[t.r_star, t.utility_star, t.break_even] for t in res])[ok],
                  np.stack([r_sym, u_star, be], axis=1)[ok]),
        agreement("general_response valid = (r* <= radius)", [t.valid for t in res],
                  ok & (r_sym <= 1.0)),
        agreement("efficient_regime_exists = sign of U near 0", got_exists, exists),
        agreement("general_response r* > 0 iff regime (else 0)", [t.r_star > 0 for t in res],
                  exists),
        agreement("utility_value = utility_general", tradeoff.utility_value(gain, loss, ka),
                  _fn(tradeoff.utility_general, (G_gain, L_loss, kappa))(gain, loss, ka)),
    ]


def check_tradeoff_forms(rng: np.random.Generator, n: int) -> list[StatementReport]:
    m = min(n, 400)
    return [*_iid(rng, m), *_validity(rng, m), *_general_response(rng, m)]


COVERS = ("tradeoff.second_order", "tradeoff.general", "tradeoff.optimal_coefficient",
          "tradeoff.general_optimum", "tradeoff.general_utility", "tradeoff.utility",
          "tradeoff.break_even", "tradeoff.VALID_LIMIT", "tradeoff.general_response",
          "tradeoff.efficient_regime_exists", "tradeoff.utility_value",
          "tradeoff.utility_general", "tradeoff.response_optimum",
          "tradeoff.response_utility_star", "tradeoff.response_break_even")

__all__ = ["check_tradeoff_forms", "COVERS"]
