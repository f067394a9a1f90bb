"""Theorem 2 / 2′ (helpfulness, quadratic in r_e), THEORY.md version 2.

General form: for random logit shifts ``g`` with mean ``μ`` and covariance ``Σ``,
``H(r_e) = E[P_{r_e}(c)] = P_0 + r_e ∇ᵀμ + (r_e²/2)(tr(Hc Σ) + μᵀ Hc μ) + O(r_e³)`` with
``∇ = P_0(e_c − p)`` and ``Hc = P_0[(e_c − p)(e_c − p)ᵀ − diag(p) + p pᵀ]`` (``general_expansion``
for symbolic K; numerically ``second_order``). i.i.d. ``N(μ, s²)`` shifts, ``s = λσβ``: ``H`` is
even, ``H = P_0 − α P_0 s² r_e² + c₄ r_e⁴ + O(r_e⁶)`` with ``α = P_0(1 − P_0) − Q``,
``Q = Σ_{a≠c} p_a²``. Random direction of norm λ in R^d: ``Σ = (λ²/d) U Uᵀ``. Theorem 2′: for
``0 < ε < 1`` and ``m ≥ 0``, ``H ≤ sigmoid(m) + δ`` (``full_bound``); its spread limit
``spread_bound`` is an UPPER bound on H, i.e. a LOWER bound on the loss: never use it as a loss.
Lemma: ``E[sigmoid(m + Y)] ≤ sigmoid(m)`` for ``m ≥ 0`` and symmetric ``Y``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from scipy.special import expit, logsumexp

from theory import _common as chk
from theory import response
from theory._common import Statement
from theory.symbols import (
    P_0,
    G,
    K,
    Q,
    R,
    Sigma,
    a,
    a_fit,
    b,
    b_fit,
    beta,
    c,
    d,
    epsilon,
    lam,
    mu,
    p,
    r_e,
    sigma,
)
from theory.symbols import alpha as alpha_sym

#: Σ_{a≠c} p_a² (the same Symbol as ``symbols.Q``; kept under its v1 name).
wrong_sq: sp.Symbol = Q
_s = lam * sigma * beta

#: α's definition α(P_0, Q) = P_0(1 − P_0) − Q.
alpha_def: sp.Expr = P_0 * (1 - P_0) - Q
#: Theorem 2, i.i.d. special case: second-order expansion of H(r_e).
expansion: sp.Expr = P_0 - alpha_sym * P_0 * (lam * sigma * beta) ** 2 * r_e**2
#: The i.i.d. fourth-order coefficient c₄ (s = λσβ, R = Σ_{a≠c} p_a³).
c4: sp.Expr = _s**4 * P_0 * (3 * P_0**4 - 6 * P_0**3 + sp.Rational(7, 2) * P_0**2 - P_0 / 2
                            + Q * (6 * P_0**2 - 3 * P_0 + sp.Rational(1, 2)) + 3 * Q**2 - 3 * R)
#: Theorem 2 general form, symbolic K: gradient and Hessian entries of softmax_c at the logits.
grad_entry: sp.Expr = p[c] * (sp.KroneckerDelta(a, c) - p[a])
hess_entry: sp.Expr = p[c] * ((sp.KroneckerDelta(a, c) - p[a]) * (sp.KroneckerDelta(b, c) - p[b])
                              - sp.KroneckerDelta(a, b) * p[a] + p[a] * p[b])
general_c1: sp.Expr = sp.Sum(grad_entry * mu[a], (a, 0, K - 1))
general_c2: sp.Expr = sp.Sum(sp.Sum(hess_entry * (Sigma[a, b] + mu[a] * mu[b]), (a, 0, K - 1)),
                             (b, 0, K - 1)) / 2
general_expansion: sp.Expr = p[c] + r_e * general_c1 + r_e**2 * general_c2
#: Random direction of norm λ in R^d (μ = 0, Σ = (λ²/d) G, G = U Uᵀ the Gram matrix).
random_direction_c2: sp.Expr = lam**2 / (2 * d) * sp.Sum(sp.Sum(hess_entry * G[a, b], (a, 0, K - 1)),
                                                          (b, 0, K - 1))
#: Theorem 2′, spread limit: 1/(1 + ((1−P_0)/P_0) e^{(λσβ r_e)²/2}).
spread_bound: sp.Expr = 1 / (1 + ((1 - P_0) / P_0) * sp.exp((lam * sigma * beta * r_e) ** 2 / 2))
#: Theorem 2′, the quadratic form the paper fits: 1/(1 + ((1−P_0)/P_0)(1 + (λσβ r_e)²/2)).
spread_bound_quadratic: sp.Expr = 1 / (1 + ((1 - P_0) / P_0) * (1 + (lam * sigma * beta * r_e) ** 2 / 2))
#: Theorem 2′: the logit m and the Chebyshev failure probability δ.
m_expr: sp.Expr = sp.log(P_0 / (1 - P_0)) - _s**2 * r_e**2 / 2 + sp.log(1 / (1 - epsilon))
delta_expr: sp.Expr = wrong_sq * (sp.exp(_s**2 * r_e**2) - 1) / (epsilon**2 * (1 - P_0) ** 2)
#: Theorem 2′ in full: sigmoid(m) + δ.
full_bound: sp.Expr = 1 / (1 + sp.exp(-m_expr)) + delta_expr

H = sp.Function("H")(r_e)
THEOREM = Statement("Theorem 2", sp.Eq(H, expansion + sp.Order(r_e**4)),
                    "i.i.d. N(μ, (λσβ)²) logit shifts, finite third absolute moment")
THEOREM_GENERAL = Statement("Theorem 2 (general)", sp.Eq(H, general_expansion + sp.Order(r_e**3)),
                            "logit shifts with mean μ, covariance Σ, finite third absolute moment; "
                            "p = P_0(·|q) on K answers, correct answer c")
THEOREM_PRIME = Statement("Theorem 2′", sp.Le(H, full_bound),
                          "i.i.d. N(μ, (λσβ)²) shifts, 0 < ε < 1 and m ≥ 0")

_np_expansion = sp.lambdify((P_0, alpha_sym, lam, sigma, beta, r_e), expansion, "numpy")
_np_c4 = sp.lambdify((P_0, Q, R, lam), c4.subs({sigma: 1, beta: 1}), "numpy")
_np_spread = sp.lambdify((P_0, lam, sigma, beta, r_e), spread_bound, "numpy")
_np_spread_q = sp.lambdify((P_0, lam, sigma, beta, r_e), spread_bound_quadratic, "numpy")


def alpha(p: Any, correct: int) -> float:
    """``α = P_0(1 − P_0) − Σ_{a≠c} p_a²`` (positive iff helpfulness falls to second order)."""
    pv, c = _pc_vec(p, correct)
    p0 = pv[c]
    return float(p0 * (1 - p0) - (np.delete(pv, c) ** 2).sum())


def _pc_vec(p: Any, correct: int) -> tuple[np.ndarray, int]:
    pv = chk.prob_vector("p", p)
    return pv, chk.index("correct", correct, pv.size)


def gradient_hessian(p: Any, correct: int) -> tuple[np.ndarray, np.ndarray]:
    """``∇ = P_0(e_c − p)`` and ``Hc = P_0[(e_c − p)(e_c − p)ᵀ − diag(p) + p pᵀ]``: gradient and
    Hessian of ``softmax_c`` with respect to the logits, at the unsteered logits."""
    pv, c = _pc_vec(p, correct)
    e = -pv.copy()
    e[c] += 1.0
    p0 = pv[c]
    return p0 * e, p0 * (np.outer(e, e) - np.diag(pv) + np.outer(pv, pv))


def _matrix(name: str, x: Any, k: int) -> np.ndarray:
    arr = chk.finite(name, x)
    if arr.shape != (k, k):
        raise ValueError(f"{name} must be a ({k}, {k}) matrix (one row per answer), got {arr.shape}")
    return arr


def second_order(p: Any, correct: int, mean: Any = None, cov: Any = None) -> tuple[float, float]:
    """``(c1, c2)``: the coefficients of r_e and r_e² of ``E[P_{r_e}(c)]`` for random logit shifts
    with mean vector ``mean`` (K,) and covariance ``cov`` (K, K) (``None`` means zero):
    ``c1 = ∇ᵀμ``, ``c2 = (tr(Hc Σ) + μᵀ Hc μ)/2`` (Theorem 2, general form)."""
    pv, c = _pc_vec(p, correct)
    k = pv.size
    grad, hess = gradient_hessian(pv, c)
    mu_ = np.zeros(k) if mean is None else chk.finite("mean", mean)
    if mu_.shape != (k,):
        raise ValueError(f"mean must be a vector of length {k} (one entry per answer), got {mu_.shape}")
    cov_ = np.zeros((k, k)) if cov is None else _matrix("cov", cov, k)
    if not np.allclose(cov_, cov_.T, rtol=1e-9, atol=1e-12 * max(1.0, float(np.abs(cov_).max()))):
        raise ValueError("cov must be symmetric (a covariance matrix)")
    c1 = float(grad @ mu_)
    c2 = float(0.5 * (np.sum(hess * cov_) + mu_ @ hess @ mu_))
    return c1, c2


def random_direction_second_order(p: Any, correct: int, U: Any, lam: float) -> float:
    """``c2 = (λ²/2d) tr(Hc U Uᵀ)`` for Δ uniform on the sphere of radius λ in R^d; ``U`` (K, d)
    holds the answer representations as rows (the real geometry replaces σ, β)."""
    pv, c = _pc_vec(p, correct)
    u = chk.finite("U", U)
    if u.ndim != 2 or u.shape[0] != pv.size:
        raise ValueError(f"U must have shape (K, d) = ({pv.size}, d), got {u.shape}")
    la = float(chk.positive("lam", lam))
    return second_order(pv, c, cov=(la**2 / u.shape[1]) * (u @ u.T))[1]


def c4_value(p: Any, correct: int, s: float) -> float:
    """The i.i.d. fourth-order coefficient ``c₄`` (lambdified ``c4``) for shift scale s."""
    pv, c = _pc_vec(p, correct)
    s_ = float(chk.nonnegative("s", s))
    rest = np.delete(pv, c)
    return float(_np_c4(float(pv[c]), float((rest**2).sum()), float((rest**3).sum()), s_))


def _p0(P0: Any) -> np.ndarray:
    return chk.open_interval("P0", P0, 0.0, 1.0)


def expansion_value(P0: Any, alpha: Any, s: Any, r_e: Any) -> np.ndarray:
    """Numeric ``expansion`` (lambdified sympy), with ``s = λσβ``."""
    s_ = chk.nonnegative("s", s)
    return np.asarray(_np_expansion(_p0(P0), chk.finite("alpha", alpha), s_, 1.0, 1.0,
                                    chk.finite("r_e", r_e)))


def spread_bound_value(P0: Any, s: Any, r_e: Any) -> np.ndarray:
    """Numeric ``spread_bound`` (lambdified sympy), with ``s = λσβ``."""
    return np.asarray(_np_spread(_p0(P0), chk.nonnegative("s", s), 1.0, 1.0, chk.finite("r_e", r_e)))


def spread_bound_quadratic_value(P0: Any, s: Any, r_e: Any) -> np.ndarray:
    """Numeric ``spread_bound_quadratic`` (lambdified sympy), with ``s = λσβ``."""
    return np.asarray(_np_spread_q(_p0(P0), chk.nonnegative("s", s), 1.0, 1.0, chk.finite("r_e", r_e)))


@dataclass(frozen=True)
class SpreadBound:
    """Theorem 2′ at each r_e: ``bound = sigmoid(m) + δ``, valid where ``applies`` (m ≥ 0)."""

    m: np.ndarray
    delta: np.ndarray
    bound: np.ndarray
    applies: np.ndarray


def theorem2_prime(p: Any, correct: int, s: Any, r_e: Any, epsilon: float) -> SpreadBound:
    """The full Theorem 2′ bound for probabilities ``p``, shift scale ``s`` and tolerance ε."""
    pv = chk.prob_vector("p", p)
    c = chk.index("correct", correct, pv.size)
    p0 = float(_p0(pv[c]))
    s_ = float(chk.nonnegative("s", s))
    eps = float(chk.open_interval("epsilon", epsilon, 0.0, 1.0))
    t2 = (s_ * chk.finite("r_e", r_e)) ** 2
    q = float((np.delete(pv, c) ** 2).sum())
    m = math.log(p0 / (1 - p0)) - t2 / 2 + math.log(1 / (1 - eps))
    delta = q * np.expm1(t2) / (eps**2 * (1 - p0) ** 2)
    return SpreadBound(m=np.asarray(m), delta=np.asarray(delta), bound=expit(m) + delta,
                       applies=np.asarray(m >= 0))


# ------------------------------------------------------------------------------------------
# Exact expectation H(r_e) = E[softmax(log p + r_e g)_c], g i.i.d. N(0, s²)
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expectation:
    """``value`` of H at each r_e; ``stderr`` the Monte Carlo standard error (0 for quadrature);
    ``error_estimate`` the quadrature error estimate (|Q_n − Q_{n/2}|; NaN for Monte Carlo)."""

    value: np.ndarray
    stderr: np.ndarray
    error_estimate: np.ndarray
    method: str
    n: int

    def __iter__(self):  # type: ignore[no-untyped-def]  # lets `value, stderr = expected(...)`
        return iter((self.value, self.stderr))


@functools.lru_cache(maxsize=8)
def _centred_basis(k: int) -> np.ndarray:
    """Orthonormal basis (k, k−1) of the complement of (1, …, 1): softmax ignores common shifts,
    so only the (k−1)-dimensional centred part of an isotropic Gaussian matters."""
    w, v = np.linalg.eigh(np.eye(k) - 1.0 / k)
    return np.ascontiguousarray(v[:, w > 0.5])


@functools.lru_cache(maxsize=32)
def _gh_grid(dim: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss–Hermite nodes (n^dim, dim) and weights for the standard normal in R^dim."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    wgrids = np.meshgrid(*([w] * dim), indexing="ij")
    pts = np.stack([g.ravel() for g in grids], axis=1)
    wts = np.prod(np.stack([g.ravel() for g in wgrids]), axis=0)
    return pts, wts


def _pc(logp: np.ndarray, c: int, shifts: np.ndarray, t: float) -> np.ndarray:
    """softmax(log p + t·shifts)_c for shifts of shape (n, k)."""
    z = logp[None, :] + t * shifts
    return np.exp(z[:, c] - logsumexp(z, axis=1))


GH_MAX_POINTS = 1 << 15  # beyond this the tensor rule is slower than the 1-D Laplace route
GH_MAX_NODES = 128  # per dimension (hermegauss is an eigenproblem of that size)


def _gauss_hermite(logp: np.ndarray, c: int, t: float, tol: float) -> tuple[float, float, int]:
    """Tensor Gauss–Hermite over the centred shifts; nodes doubled until two rules agree within
    ``tol`` or the grid exceeds ``GH_MAX_POINTS``. Returns (value, |Q_n − Q_{n/2}|, points)."""
    k = logp.size
    basis = _centred_basis(k)
    dim = k - 1
    prev = math.nan
    n = 8
    while True:
        pts, wts = _gh_grid(dim, n)
        val = float(wts @ _pc(logp, c, pts @ basis.T, t))
        err = abs(val - prev)
        if err < tol or (2 * n) ** dim > GH_MAX_POINTS or 2 * n > GH_MAX_NODES:
            return val, err, n**dim
        prev, n = val, 2 * n


def _laplace(p: np.ndarray, c: int, t: float, step: float = 0.2) -> tuple[float, int]:
    """H by the Laplace transform 1/D = ∫_0^∞ e^{−uD} du, which factorises over the independent
    answers: H = ∫ E[w_c e^{−u w_c}] Π_{a≠c} E[e^{−u w_a}] du with w_a = p_a e^{t x_a}.
    Outer variable v = log u, inner x ~ N(0, 1); both by the trapezoid rule, which converges
    exponentially here because the integrands are analytic in a strip of half-width π/(3t) (x)
    and π/3 (v): error ≈ exp(−2π²/(3·step)) ≈ 1e-14 at step 0.2 (checked in the tests)."""
    pc = float(p[c])
    others_all = np.delete(p, c)
    # Equal probabilities contribute equal factors: group them (uniform wrong mass costs O(1)).
    others, counts = np.unique(others_all[others_all > 0], return_counts=True)
    hx = min(0.4, step / t)
    xmax = 9.0 + t  # the tilted weight e^{tx}φ(x) peaks at x = t
    x = np.arange(-xmax, xmax + hx / 2, hx)
    wx = hx * np.exp(-(x**2) / 2) / math.sqrt(2 * math.pi)
    # Below v_lo the integrand is < p_c e^{v + t²/2} < e^{-36}; above v_hi, e^{ζ_c} > e^5 for x > −9.
    v = np.arange(-(t * t) / 2 - math.log(pc) - 36.0, 9.0 * t + 5.0 - math.log(pc) + step / 2, step)
    total = 0.0
    rows = max(1, (1 << 20) // x.size)  # bounded memory (~8 MB per block) even for large t
    for lo in range(0, v.size, rows):
        vb = v[lo:lo + rows, None]
        with np.errstate(over="ignore", divide="ignore"):  # e^{big} → inf → weight 0: intended
            zc = vb + math.log(pc) + t * x[None, :]
            fc = np.exp(zc - np.exp(zc)) @ wx  # E[w_c u e^{−u w_c}], computed in log space
            log_l = np.zeros(vb.shape[0])
            for pa, na in zip(others, counts, strict=True):
                za = vb + math.log(pa) + t * x[None, :]
                log_l += na * np.log(np.exp(-np.exp(za)) @ wx)
        total += float(fc @ np.exp(log_l))
    return step * total, v.size * x.size * max(others.size, 1)


METHODS = ("quadrature", "gauss-hermite", "monte_carlo")


def expected(p: Any, correct: int, s: float, r_e: Any, *, method: str = "quadrature",
             tol: float = 1e-11, n_mc: int = 200_000, seed: int = 0) -> Expectation:
    """Exact ``H(r_e) = E[P_{r_e}(c)]`` under i.i.d. ``N(0, s²)`` logit shifts, vectorised over r_e.

    ``method="quadrature"`` (default, any K, error < 1e-9): tensor Gauss–Hermite over the
    (K−1)-dimensional centred shifts when K ≤ 4 and it converges on a small grid, else the 1-D
    Laplace-transform quadrature (cost linear in the number of distinct wrong-answer
    probabilities). ``"gauss-hermite"`` forces the tensor rule (K ≤ 4); ``"monte_carlo"`` seeded
    antithetic Monte Carlo (``n_mc`` draws common to every r_e) with its standard error.
    """
    pv = chk.prob_vector("p", p)
    c = chk.index("correct", correct, pv.size)
    s_ = float(chk.nonnegative("s", s))
    r = chk.finite("r_e", r_e)
    method = {"monte-carlo": "monte_carlo", "auto": "quadrature"}.get(method, method)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    if n_mc < 2:
        raise ValueError(f"n_mc must be >= 2, got {n_mc}")
    k = pv.size
    if method == "gauss-hermite" and k > 4:
        raise ValueError(f"method 'gauss-hermite' needs len(p) <= 4, got len(p) = {k}; "
                         "use method='quadrature' (any K)")
    t = np.abs(s_ * r)  # H is even in r_e and depends on s, r_e only through |s r_e|
    with np.errstate(divide="ignore"):
        logp = np.log(pv)  # zero-probability answers stay at −inf: they never gain mass
    value = np.full(r.shape, pv[c], dtype=float)
    stderr = np.zeros(r.shape)
    err = np.zeros(r.shape)
    flat_t = t.ravel()
    todo = np.flatnonzero((flat_t > 0) & (pv[c] > 0) & (pv[c] < 1))
    if method in ("quadrature", "gauss-hermite"):
        n_used = 0
        for i in todo:
            ti = float(flat_t[i])
            v, e, n = _gauss_hermite(logp, c, ti, tol) if k <= 4 else (math.nan, math.inf, 0)
            if e >= tol and method == "quadrature":
                v, n = _laplace(pv, c, ti)
                e = abs(v - _laplace(pv, c, ti, step=0.3)[0])  # coarser rule: conservative
            value.flat[i], err.flat[i] = v, e
            n_used = max(n_used, n)
        return Expectation(value, stderr, err, method, n_used)
    # Monte Carlo with antithetic pairs (x, −x): exact symmetry of the shifts, lower variance.
    rng = np.random.default_rng(seed)
    half = max(n_mc // 2, 1)
    chunk = max(1, min(half, 2_000_000 // k))
    sums = np.zeros(todo.size)
    sqs = np.zeros(todo.size)
    done = 0
    while done < half:
        m = min(chunk, half - done)
        x = rng.standard_normal((m, k))
        for j, i in enumerate(todo):
            pair = 0.5 * (_pc(logp, c, x, flat_t[i]) + _pc(logp, c, -x, flat_t[i]))
            sums[j] += pair.sum()
            sqs[j] += (pair**2).sum()
        done += m
    mean = sums / half
    var = np.maximum(sqs / half - mean**2, 0.0) * half / max(half - 1, 1)
    value.flat[todo] = mean
    stderr.flat[todo] = np.sqrt(var / half)
    return Expectation(value, stderr, np.full(r.shape, np.nan), "monte_carlo", 2 * half)


def expected_gaussian(p: Any, correct: int, r_e: Any, mean: Any = None, cov: Any = None, *,
                      tol: float = 1e-11) -> Expectation:
    """Exact ``E[P_{r_e}(c)]`` for Gaussian logit shifts ``N(mean, cov)`` of any structure
    (correlated, unequal variances), by tensor Gauss–Hermite over the range of the centred
    ``cov`` (rank ≤ 4, e.g. K ≤ 5; nodes doubled until two rules agree within ``tol`` or the
    grid exceeds ``GH_MAX_POINTS``). ``error_estimate`` is ``|Q_n − Q_{n/2}|``."""
    pv, c = _pc_vec(p, correct)
    k = pv.size
    r = chk.finite("r_e", r_e)
    mu_ = np.zeros(k) if mean is None else chk.finite("mean", mean)
    if mu_.shape != (k,):
        raise ValueError(f"mean must be a vector of length {k}, got shape {mu_.shape}")
    cov_ = np.zeros((k, k)) if cov is None else _matrix("cov", cov, k)
    # softmax ignores a common shift of all logits: only the centred law matters (rank ≤ K − 1).
    cen = np.eye(k) - 1.0 / k
    mu_ = cen @ mu_
    w, v = np.linalg.eigh(cen @ (0.5 * (cov_ + cov_.T)) @ cen)
    if w.min() < -1e-10 * max(1.0, w.max()):
        raise ValueError("cov must be positive semi-definite")
    keep = w > 1e-14 * max(1.0, w.max())
    L = v[:, keep] * np.sqrt(w[keep])  # g = μ + L x, x ~ N(0, I)
    dim = int(keep.sum())
    if dim > 4:
        raise ValueError(f"expected_gaussian needs cov of rank <= 4 (tensor rule), got rank {dim}")
    with np.errstate(divide="ignore"):
        logp = np.log(pv)
    value = np.empty(r.shape)
    err = np.zeros(r.shape)
    n_used = 1
    for i, ri in enumerate(r.ravel()):
        if dim == 0:
            value.flat[i] = float(_pc(logp, c, (ri * mu_)[None, :], 1.0)[0])
            continue
        prev, n = math.nan, 4
        while True:
            pts, wts = _gh_grid(dim, n)
            val = float(wts @ _pc(logp, c, mu_[None, :] + pts @ L.T, float(ri)))
            e = abs(val - prev) if n > 4 else math.inf
            if e < tol or (2 * n) ** dim > GH_MAX_POINTS or 2 * n > GH_MAX_NODES:
                break
            prev, n = val, 2 * n
        value.flat[i], err.flat[i], n_used = val, e, max(n_used, n**dim)
    return Expectation(value, np.zeros(r.shape), err, "gauss-hermite", n_used)


def symmetric_sigmoid_gap(m: Any, y: Any, w: Any) -> np.ndarray:
    """``sigmoid(m) − E[sigmoid(m + Y)]`` for the symmetric Y = ±y_j with weights w_j/2 each
    (last axis); the Lemma says this is ≥ 0 whenever m ≥ 0."""
    m_ = chk.finite("m", m)
    y_ = chk.finite("y", y)
    w_ = chk.nonnegative("w", w)
    w_ = w_ / w_.sum(axis=-1, keepdims=True)
    mm = m_[..., None]
    e = (w_ * 0.5 * (expit(mm + y_) + expit(mm - y_))).sum(axis=-1)
    return expit(m_) - e


# ------------------------------------------------------------------------------------------
# Version 3: the shift scale, σ of a random direction, the paper's fitted forms, Theorem 2R
# ------------------------------------------------------------------------------------------
#: The standard deviation of the logit shifts s = λσβ.
shift_scale_expr: sp.Expr = lam * sigma * beta
#: σ of a uniformly random direction in R^d: the cosine with any fixed unit vector has mean 0
#: and variance 1/d (E[ΔΔᵀ] = (λ²/d) I for Δ uniform on the sphere of radius λ).
sigma_random: sp.Expr = 1 / sp.sqrt(d)
#: Theorem 2′'s quadratic spread form as the paper fits it: a = (1 − P_0)/P_0, b = λσβ.
paper_form_expr: sp.Expr = 1 / (1 + a_fit + a_fit * b_fit**2 * r_e**2 / 2)
#: The authors' renormalised form for four options (A–D): 0.5 paper_form + 0.25.
paper_form_options_expr: sp.Expr = paper_form_expr / 2 + sp.Rational(1, 4)

_np_shift_scale = sp.lambdify((lam, sigma, beta), shift_scale_expr, "numpy")
_np_sigma_random = sp.lambdify((d,), sigma_random, "numpy")
_np_paper = sp.lambdify((r_e, a_fit, b_fit), paper_form_expr, "numpy")
_np_paper_options = sp.lambdify((r_e, a_fit, b_fit), paper_form_options_expr, "numpy")
PAPER_OPTIONS = (None, 4)  # the renormalised forms the paper fits (None: the plain form)


def shift_scale(lam: Any, sigma: Any, beta: Any) -> np.ndarray:
    """``s = λσβ`` (lambdified ``shift_scale_expr``), broadcast over numpy arrays."""
    la, sg, be = (chk.nonnegative(n, x) for n, x in (("lam", lam), ("sigma", sigma),
                                                     ("beta", beta)))
    return np.asarray(_np_shift_scale(la, sg, be), dtype=float)


def random_sigma(d: Any) -> np.ndarray:
    """``σ = 1/√d`` (``sigma_random``): the cosine spread of a uniformly random direction in R^d."""
    dd = chk.finite("d", d)
    if not np.all((dd >= 1) & (dd == np.floor(dd))):
        raise ValueError(f"d must be an integer dimension >= 1 (allowed range: 1, 2, ...), got {d!r}")
    return np.asarray(_np_sigma_random(dd), dtype=float)


def paper_form(r: Any, a: Any, b: Any, options: int | None = None) -> np.ndarray:
    """The paper's fitted helpfulness ``1/(1 + a + a b² r²/2)`` (``paper_form_expr``; Theorem 2′'s
    quadratic spread form with a = (1 − P_0)/P_0, b = λσβ); ``options=4``: the authors' A–D form
    ``0.5/(1 + a + a b² r²/2) + 0.25`` (``paper_form_options_expr``). a, b are free fit
    parameters (any finite value)."""
    if options not in PAPER_OPTIONS:
        raise ValueError(f"options must be None (plain form) or 4 (the A-D form), got {options!r}")
    rr, aa, bb = chk.finite("r", r), chk.finite("a", a), chk.finite("b", b)
    fn = _np_paper if options is None else _np_paper_options
    with np.errstate(divide="ignore"):  # a pole of a free fit's form is its value (inf)
        return np.asarray(fn(rr, aa, bb), dtype=float)


def _rows_index(p: Any, correct: Any) -> tuple[np.ndarray, int]:
    pr = chk.prob_rows("p", p)
    return pr, chk.index("correct", correct, pr.shape[-1])


def _grad_hess_rows(pr: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """∇ and Hc of softmax_c (Theorem 2) for probability rows (..., K)."""
    e = -pr.copy()
    e[..., c] += 1.0
    p0 = pr[..., c, None]
    diag = pr[..., :, None] * np.eye(pr.shape[-1])
    hess = p0[..., None] * (e[..., :, None] * e[..., None, :] - diag
                            + pr[..., :, None] * pr[..., None, :])
    return p0 * e, hess


def response_coefficients(p: Any, correct: int, g: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
    """Theorem 2R for ``f = softmax_c``: ``(c1, c2)`` of ``P_r(c)`` when the logits respond as
    ``z + r g + (r²/2) w`` (``response.readout_coefficients`` with Theorem 2's ∇ and Hc at
    ``p = softmax(z)``): ``c1 = ∇ᵀg``, ``c2 = ½ gᵀHc g + ½ ∇ᵀw`` (``w=None``: w = 0). ``p``,
    ``g``, ``w`` are (..., K); 0-d results for one prompt."""
    pr, c = _rows_index(p, correct)
    grad, hess = _grad_hess_rows(pr, c)
    return response.readout_coefficients(grad, hess, g, w)


def response_curve(z: Any, g: Any, correct: int, r: Any, w: Any = None) -> np.ndarray:
    """``P_r(correct) = softmax_c(z + r g + (r²/2) w)`` at every r (log-sum-exp; ``w=None`` is
    the exact linear model). Shape (..., R) for z of shape (..., K), ``r.shape`` for 1-D z."""
    path = response.logit_path(z, g, r, w)
    c = chk.index("correct", correct, path.shape[-1])
    return np.asarray(np.exp(path[..., c] - logsumexp(path, axis=-1)))


second_order_coefficients = second_order  # the name ``theory`` re-exports at top level

__all__ = [
    "wrong_sq", "alpha_def", "expansion", "c4", "grad_entry", "hess_entry", "general_c1",
    "general_c2", "general_expansion", "random_direction_c2", "spread_bound",
    "spread_bound_quadratic", "m_expr", "delta_expr", "full_bound", "H", "THEOREM",
    "THEOREM_GENERAL", "THEOREM_PRIME", "alpha", "gradient_hessian", "second_order",
    "second_order_coefficients", "random_direction_second_order", "c4_value", "expansion_value",
    "spread_bound_value", "spread_bound_quadratic_value", "SpreadBound", "theorem2_prime",
    "Expectation", "METHODS", "expected", "expected_gaussian", "symmetric_sigmoid_gap",
    "shift_scale_expr", "sigma_random", "paper_form_expr", "paper_form_options_expr",
    "PAPER_OPTIONS", "shift_scale", "random_sigma", "paper_form", "response_coefficients",
    "response_curve",
]
