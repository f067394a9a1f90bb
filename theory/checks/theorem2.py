"""Simulation checks of Theorem 2 (i.i.d., general form with the real geometry), the
symmetric-sigmoid lemma and Theorem 2′ against exact quadrature."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp
from scipy.special import logsumexp

from theory import helpfulness
from theory.checks.indexed import indexed_function
from theory.checks.report import B4, B6, EXACT_TOL, QUAD_TOL, Z_MC, StatementReport, Worst
from theory.checks.theorem1 import sphere
from theory.symbols import P_0, Q, R, Sigma, alpha, beta, epsilon, lam, mu, r_e, sigma
from theory.symbols import G as G_sym
from theory.symbols import K as K_sym
from theory.symbols import c as c_sym
from theory.symbols import d as d_sym
from theory.symbols import p as p_sym


def _expansion_fn() -> Callable[..., np.ndarray]:
    """``helpfulness.THEOREM``'s expansion as f(P_0, Q, s, r_e), with α := ``alpha_def``."""
    e = helpfulness.THEOREM.rhs.removeO().subs(alpha, helpfulness.alpha_def).subs({sigma: 1, beta: 1})
    return sp.lambdify((P_0, Q, lam, r_e), e, "numpy")  # type: ignore[no-any-return]


def _c4_fn() -> Callable[..., np.ndarray]:
    return sp.lambdify((P_0, Q, R, lam), helpfulness.c4.subs({sigma: 1, beta: 1}), "numpy")  # type: ignore[no-any-return]


def _full_bound_fn() -> Callable[..., np.ndarray]:
    e = helpfulness.THEOREM_PRIME.rhs.subs({sigma: 1, beta: 1})
    return sp.lambdify((P_0, Q, lam, r_e, epsilon), e, "numpy")  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=64)
def _general_fn(expr: sp.Expr, k: int, c: int) -> Callable[..., tuple[float, float]]:
    """The r_e and r_e² coefficients of the symbolic ``expr`` (THEOREM_GENERAL's expansion)
    expanded for K = k, correct answer c: f(p, mu, Sigma) -> (c1, c2)."""
    e = sp.expand(expr.subs({K_sym: k, c_sym: c}).doit())
    ps = sp.symbols(f"pp0:{k}")
    ms = sp.symbols(f"mm0:{k}")
    ss = sp.symbols(f"ss0:{k * k}")
    rep: dict[sp.Basic, sp.Basic] = {}
    for i in range(k):
        rep[p_sym[i]] = ps[i]
        rep[mu[i]] = ms[i]
        for j in range(k):
            rep[Sigma[i, j]] = ss[i * k + j]
    e = e.xreplace(rep)
    f1 = sp.lambdify((ps, ms, ss), e.coeff(r_e, 1), "numpy")
    f2 = sp.lambdify((ps, ms, ss), e.coeff(r_e, 2), "numpy")
    return lambda pv, mv, sv: (float(f1(list(pv), list(mv), list(np.ravel(sv)))),
                               float(f2(list(pv), list(mv), list(np.ravel(sv)))))


def random_direction_coefficient(p: np.ndarray, U: np.ndarray, lam_: float) -> float:
    """``helpfulness.random_direction_c2`` (as it is now; the r_e² coefficient of
    ``THEOREM_RANDOM``) for probabilities ``p`` (correct answer 0), answer representations ``U``
    (K, d) and radius λ."""
    k, dim = U.shape
    fn = indexed_function(helpfulness.random_direction_c2, k, ((p_sym, 1), (G_sym, 2)),
                          (lam, d_sym), ((c_sym, 0),))
    return fn(p, U @ U.T, lam_, dim)


def general_coefficients(p: np.ndarray, c: int, mean: np.ndarray, cov: np.ndarray) -> tuple[float, float]:
    """(c1, c2) of ``helpfulness.THEOREM_GENERAL`` (the symbolic statement, as it is now)."""
    expr = helpfulness.THEOREM_GENERAL.rhs.removeO()
    return _general_fn(expr, int(p.size), int(c))(p, mean, cov)


def check_lemma(rng: np.random.Generator, n: int) -> list[StatementReport]:
    worst = Worst()
    m = rng.uniform(0, 6, n)
    m[: n // 10] = 0.0  # the boundary case m = 0 holds with equality
    y = np.abs(rng.standard_normal((n, 6))) * rng.uniform(0.1, 10, (n, 1))
    w = rng.dirichlet(np.ones(6), size=n)
    gap = helpfulness.symmetric_sigmoid_gap(m, y, w)
    worst.update(-gap - EXACT_TOL, {"m": m, "y_max": y.max(1)})
    return [worst.report("Lemma (symmetric sigmoid)", f"{EXACT_TOL:g} round-off")]


def _random_p(rng: np.random.Generator, k: int, p0: float) -> np.ndarray:
    rest = rng.dirichlet(np.ones(k - 1)) * (1 - p0)
    return np.concatenate([[p0], rest])


def _even_pc(logp: np.ndarray, g: np.ndarray, r: np.ndarray) -> np.ndarray:
    """(P_r(0) + P_{−r}(0))/2 for shifts g (n, k) at each r (R,): shape (n, R)."""
    zr = logp[None, None, :] + r[None, :, None] * g[:, None, :]
    zm = logp[None, None, :] - r[None, :, None] * g[:, None, :]
    return 0.5 * (np.exp(zr[..., 0] - logsumexp(zr, -1)) + np.exp(zm[..., 0] - logsumexp(zm, -1)))


def iid_r6_bound(k: int, t: Any) -> np.ndarray:
    """A-priori bound on |H − P_0 + αP_0 t² − c₄ t⁴| for i.i.d. N(0, 1) shifts times t:
    t⁶ B6 E[w⁶]/720, E[w⁶] ≤ min(960 K, K³(K−1)(K+1)(K+3)) (w ≤ 2 max|x_a|; w² ≤ K Σ(x_a − x̄)²)."""
    ew6 = min(960.0 * k, float(k**3 * (k - 1) * (k + 1) * (k + 3)))
    return np.asarray(np.asarray(t, dtype=float) ** 6 * B6 * ew6 / 720)


_IID_CONFIGS = ((2, 0.7), (2, 0.3), (3, 0.6), (3, 0.9), (4, 0.5), (4, 0.8), (12, 0.5), (40, 0.7))


def check_theorem2_iid(rng: np.random.Generator, n: int, d: int = 64) -> list[StatementReport]:
    """(a) Gaussian Δ against orthonormal answer vectors (exactly i.i.d. N(0, s²) shifts):
    simulation vs quadrature within Z_MC s.e.; (b) the expansion (α from alpha_def) vs
    quadrature within |c₄|t⁴ + the a-priori t⁶ bound; (c) c₄ vs quadrature within that bound."""
    expansion, c4f = _expansion_fn(), _c4_fn()
    sim, exp_w, c4_w = Worst(), Worst(), Worst()
    la, be = 1.0, 1.5
    s = la * be / math.sqrt(d)
    ts = np.array([0.01, 0.03, 0.1])            # s·r_e for the expansion
    ts_sim = np.array([0.1, 0.5, 1.5])          # s·r_e for simulation vs quadrature
    for k, p0 in _IID_CONFIGS:
        p = _random_p(rng, k, p0)
        rest = p[1:]
        q, rr = float((rest**2).sum()), float((rest**3).sum())
        r = ts / s
        h = helpfulness.expected(p, 0, s, r).value
        e2 = np.asarray(expansion(p0, q, s, r), dtype=float) * np.ones_like(r)
        c4v = float(c4f(p0, q, rr, s))
        rem6 = iid_r6_bound(k, ts)
        exp_w.update((np.abs(h - e2) - abs(c4v) * r**4 - rem6 - QUAD_TOL)[None, :],
                     {"K": k, "P0": p0, "s_r_e": float(ts[0])}, draws=1)
        c4_w.update((np.abs(h - e2 - c4v * r**4) - rem6 - QUAD_TOL)[None, :],
                    {"K": k, "P0": p0}, draws=1)
        if k <= 12 and n >= 10:
            qb, _ = np.linalg.qr(rng.standard_normal((d, k)))
            U = be * qb.T
            dirs = rng.standard_normal((n, d)) * (la / math.sqrt(d))   # Gaussian Δ, E‖Δ‖² = λ²
            g = dirs @ U.T
            pair = _even_pc(np.log(p), g, ts_sim / s)
            mean, se = pair.mean(0), pair.std(0, ddof=1) / math.sqrt(n)
            hq = helpfulness.expected(p, 0, s, ts_sim / s).value
            sim.update((np.abs(mean - hq) - Z_MC * se - QUAD_TOL)[None, :], {"K": k, "P0": p0},
                       mc=se[None, :], draws=n)
    return [
        sim.report("Theorem 2 iid: simulation = quadrature", f"{Z_MC:g} MC s.e. + {QUAD_TOL:g}",
                   exact=False),
        exp_w.report("Theorem 2 iid: expansion vs quadrature", "|c4| r^4 + a-priori r^6 bound"),
        c4_w.report("Theorem 2 iid: c4 vs quadrature", "a-priori r^6 bound"),
    ]


def answer_geometry(rng: np.random.Generator, k: int, d: int, kind: str) -> np.ndarray:
    """Answer representations U (k, d): ``"orthonormal"`` rows, or ``"correlated"`` rows with a
    shared component (pairwise cosines ≈ 0.5) and norms spread over [0.5, 2]."""
    if kind == "orthonormal":
        q, _ = np.linalg.qr(rng.standard_normal((d, k)))
        return np.asarray(q.T)
    if kind != "correlated":
        raise ValueError(f"kind must be 'orthonormal' or 'correlated', got {kind!r}")
    common = rng.standard_normal(d)
    raw = rng.standard_normal((k, d)) + common[None, :]
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    return np.asarray(raw * rng.uniform(0.5, 2.0, (k, 1)))


def sphere_w4_bound(U: np.ndarray, lam_: float) -> float:
    """E[w⁴] ≤ E[(Δᵀ M Δ)²] = λ⁴(tr(M)² + 2 tr(M²))/(d(d+2)), M = Σ_{a<b}(u_a − u_b)(u_a − u_b)ᵀ,
    for Δ uniform on the sphere of radius λ in R^d (w² ≤ Σ_{a<b}(g_a − g_b)²)."""
    k, d = U.shape
    diffs = (U[:, None, :] - U[None, :, :])[np.triu_indices(k, 1)]
    M = diffs.T @ diffs
    return float(lam_**4 * (np.trace(M) ** 2 + 2 * np.trace(M @ M)) / (d * (d + 2)))


def check_theorem2_general(rng: np.random.Generator, n: int, d: int = 32) -> list[StatementReport]:
    """Real geometry: Δ uniform on the sphere of radius λ, Σ = (λ²/d) U Uᵀ (μ = 0). The even
    part of P_r(c) averaged over draws vs P_0 + general_c2 r² within Z_MC s.e. + the a-priori
    r⁴ remainder B4 E[w⁴] r⁴/24; the numeric second_order vs the symbolic general_c2 (with a
    random mean too); Gaussian Δ with correlated U vs exact tensor quadrature."""
    sim, num, gauss = Worst(), Worst(), Worst()
    la = 1.0
    ts = np.array([0.02, 0.05, 0.1])  # r_e·λ·max‖u‖/√d scale
    iid_err: list[float] = []
    for kind in ("orthonormal", "correlated"):
        for k, p0 in ((2, 0.7), (3, 0.6), (4, 0.5), (4, 0.8)):
            p = _random_p(rng, k, p0)
            U = answer_geometry(rng, k, d, kind)
            cov = (la**2 / d) * (U @ U.T)
            c2_sym = general_coefficients(p, 0, np.zeros(k), cov)[1]
            c2_rand = random_direction_coefficient(p, U, la)
            num.update(np.array([[abs(c2_rand - c2_sym) - 1e-12 * (1 + abs(c2_sym))]]),
                       {"K": k, "random direction": 1.0})
            mean = rng.normal(size=k) * 0.3
            c1n, c2n = helpfulness.second_order(p, 0, mean=mean, cov=cov)
            c1s, c2s = general_coefficients(p, 0, mean, cov)
            num.update(np.array([[abs(c2n - c2s) - 1e-12 * (1 + abs(c2s)), abs(c1n - c1s) - 1e-12]]),
                       {"K": k, "correlated": float(kind == "correlated")})
            scale = math.sqrt(float(np.trace(cov)) / k)
            r = ts / scale
            dirs = sphere(rng, (n, d)) * la
            g = dirs @ U.T
            pair = _even_pc(np.log(p), g, r)
            mean_h, se = pair.mean(0), pair.std(0, ddof=1) / math.sqrt(n)
            rem4 = B4 * sphere_w4_bound(U, la) * r**4 / 24
            sim.update((np.abs(mean_h - p0 - c2_rand * r**2) - rem4 - Z_MC * se)[None, :],
                       {"K": k, "P0": p0, "correlated": float(kind == "correlated")},
                       mc=se[None, :], draws=n)
            if kind == "correlated":
                # The i.i.d./RMS-β model's c2 against the real-geometry one (informative only).
                beta_rms = math.sqrt(float((U**2).sum(1).mean()))
                c2_iid = -helpfulness.alpha(p, 0) * p0 * (la * beta_rms / math.sqrt(d)) ** 2
                iid_err.append(abs(c2_iid / c2_sym - 1) if c2_sym != 0 else math.nan)
                gd = rng.standard_normal((n, d)) * (la / math.sqrt(d))
                gg = gd @ U.T
                rq = np.array([0.5, 2.0]) / scale
                pair_g = _even_pc(np.log(p), gg, rq)
                mg, sg = pair_g.mean(0), pair_g.std(0, ddof=1) / math.sqrt(n)
                hq = helpfulness.expected_gaussian(p, 0, rq, cov=cov)
                gauss.update((np.abs(mg - hq.value) - Z_MC * sg - hq.error_estimate - QUAD_TOL)[None, :],
                             {"K": k, "P0": p0}, mc=sg[None, :], draws=n)
    return [
        sim.report("Theorem 2 random direction: sphere sim vs c2",
                   f"{Z_MC:g} MC s.e. + B4 E[w^4] r^4/24", exact=False,
                   extras={"iid RMS-beta c2 max rel. error (correlated U)": float(np.nanmax(iid_err))}),
        num.report("Theorem 2 general: second_order = symbolic = random", "relative 1e-12"),
        gauss.report("Theorem 2 general: Gaussian sim = quadrature", f"{Z_MC:g} MC s.e.", exact=False),
    ]


def check_theorem2_prime(rng: np.random.Generator, n: int) -> list[StatementReport]:
    """Theorem 2′ (full_bound as it is now) against the exact H (quadrature, any K) wherever it
    is non-vacuous: m ≥ 0 and bound < 1. Reports the count and the slack bound − H there."""
    full = _full_bound_fn()
    worst = Worst()
    configs = [(2, 0.7, "d"), (4, 0.7, "d"), (4, 0.9, "d"), (101, 0.8, "d"), (201, 0.6, "d"),
               (2001, 0.6, "u"), (20001, 0.6, "u"), (20001, 0.85, "u")]
    ts = np.array([0.1, 0.3, 0.5, 0.8, 1.0, 1.5])
    epss = np.geomspace(1e-3, 0.99, 40)
    slacks: list[float] = []
    best_slack: list[float] = []
    cases = 0
    for k, p0, kind in configs:
        p = (np.concatenate([[p0], np.full(k - 1, (1 - p0) / (k - 1))]) if kind == "u"
             else _random_p(rng, k, p0))
        q = float((p[1:] ** 2).sum())
        h = helpfulness.expected(p, 0, 1.0, ts).value
        for t, hv in zip(ts, h, strict=True):
            m = math.log(p0 / (1 - p0)) - t * t / 2 + np.log(1 / (1 - epss))
            bnd = np.asarray(full(p0, q, 1.0, t, epss), dtype=float) * np.ones_like(epss)
            live = (m >= 0) & (bnd < 1)
            cases += int(live.sum())
            if not live.any():
                continue
            slack = bnd[live] - hv
            slacks += slack.tolist()
            best_slack.append(float(slack.min()))
            worst.update((-slack - QUAD_TOL)[None, :], {"K": k, "P0": p0, "s_r_e": float(t),
                                                        "H": float(hv)}, draws=0)
    worst.draws = cases
    extras = {"non-vacuous cases": float(cases),
              "min slack": float(min(slacks)) if slacks else math.nan,
              "median best-epsilon slack": float(np.median(best_slack)) if best_slack else math.nan}
    return [worst.report("Theorem 2' (m >= 0, bound < 1) vs quadrature", f"{QUAD_TOL:g} quadrature",
                         extras)]


__all__ = ["check_lemma", "iid_r6_bound", "check_theorem2_iid", "answer_geometry",
           "sphere_w4_bound", "random_direction_coefficient", "general_coefficients", "check_theorem2_general",
           "check_theorem2_prime"]
