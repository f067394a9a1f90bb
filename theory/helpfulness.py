"""Theorem 2 / 2′ (helpfulness, quadratic in r_e).

Let ``p = P_0(·|q)`` on the answers with correct answer ``c`` (``P_0 = p_c``) and let the logit
shifts ``g_a = <u_a, Δ>`` be i.i.d. ``N(μ, s²)``, ``s = λσβ``. Then the expected probability of
the correct answer ``H(r_e) = E[P_{r_e}(c)]`` is even in r_e and ``H(r_e) = P_0 − α P_0 s² r_e² +
O(r_e⁴)`` with ``α = P_0(1 − P_0) − Σ_{a≠c} p_a²`` (Theorem 2: no first-order loss). Theorem 2′:
for ``0 < ε < 1`` and ``m = log(P_0/(1 − P_0)) − (s r_e)²/2 + log(1/(1 − ε)) ≥ 0``,
``H(r_e) ≤ sigmoid(m) + δ`` with ``δ = Σ_{a≠c} p_a² (e^{(s r_e)²} − 1)/(ε²(1 − P_0)²)``; as the
wrong-answer mass spreads this tends to ``1/(1 + ((1 − P_0)/P_0) e^{(s r_e)²/2})`` (``spread_bound``)
``≤ 1/(1 + ((1 − P_0)/P_0)(1 + (s r_e)²/2))`` (``spread_bound_quadratic``, the paper's fit).
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
from theory._common import Statement
from theory.symbols import P_0, beta, epsilon, lam, r_e, sigma
from theory.symbols import alpha as alpha_sym

#: Σ_{a≠c} p_a², the concentration of the wrong-answer mass.
wrong_sq: sp.Symbol = sp.Symbol("Q", nonnegative=True)
_s = lam * sigma * beta

#: Theorem 2: second-order expansion of H(r_e).
expansion: sp.Expr = P_0 - alpha_sym * P_0 * (lam * sigma * beta) ** 2 * r_e**2
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
                    "i.i.d. N(μ, (λσβ)²) logit shifts")
THEOREM_PRIME = Statement("Theorem 2′", sp.Le(H, full_bound), "0 < ε < 1 and m ≥ 0")

_np_expansion = sp.lambdify((P_0, alpha_sym, lam, sigma, beta, r_e), expansion, "numpy")
_np_spread = sp.lambdify((P_0, lam, sigma, beta, r_e), spread_bound, "numpy")
_np_spread_q = sp.lambdify((P_0, lam, sigma, beta, r_e), spread_bound_quadratic, "numpy")


def alpha(p: Any, correct: int) -> float:
    """``α = P_0(1 − P_0) − Σ_{a≠c} p_a²`` (positive iff helpfulness falls to second order)."""
    pv = chk.prob_vector("p", p)
    c = chk.index("correct", correct, pv.size)
    p0 = pv[c]
    return float(p0 * (1 - p0) - (np.delete(pv, c) ** 2).sum())


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
    others = np.delete(p, c)
    others = others[others > 0]
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
            for pa in others:
                za = vb + math.log(pa) + t * x[None, :]
                log_l += np.log(np.exp(-np.exp(za)) @ wx)
        total += float(fc @ np.exp(log_l))
    return step * total, v.size * x.size * max(others.size, 1)


def expected(p: Any, correct: int, s: float, r_e: Any, *, method: str = "auto", tol: float = 1e-11,
             n_mc: int = 200_000, seed: int = 0) -> Expectation:
    """Exact ``H(r_e) = E[P_{r_e}(c)]`` under i.i.d. ``N(0, s²)`` logit shifts, vectorised over r_e.

    ``method="auto"``: for ``len(p) <= 4`` exact quadrature with error < 1e-9 — tensor
    Gauss–Hermite over the (K−1)-dimensional centred shifts when it converges on a small grid
    (small ``s r_e``), else the 1-D Laplace-transform quadrature (``"quadrature"``, any K, cost
    linear in K); for larger K seeded Monte Carlo (``"monte-carlo"``, ``n_mc`` antithetic draws
    common to every r_e) with its standard error. ``method="gauss-hermite"`` forces the tensor rule.
    """
    pv = chk.prob_vector("p", p)
    c = chk.index("correct", correct, pv.size)
    s_ = float(chk.nonnegative("s", s))
    r = chk.finite("r_e", r_e)
    if method not in ("auto", "gauss-hermite", "quadrature", "monte-carlo"):
        raise ValueError("method must be one of 'auto', 'gauss-hermite', 'quadrature', "
                         f"'monte-carlo', got {method!r}")
    if n_mc < 2:
        raise ValueError(f"n_mc must be >= 2, got {n_mc}")
    k = pv.size
    if method == "auto":
        method = "quadrature" if k <= 4 else "monte-carlo"
    if method == "gauss-hermite" and k > 4:
        raise ValueError(f"method 'gauss-hermite' needs len(p) <= 4, got len(p) = {k}")
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
    return Expectation(value, stderr, np.full(r.shape, np.nan), "monte-carlo", 2 * half)


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


__all__ = [
    "expansion", "spread_bound", "spread_bound_quadratic", "m_expr", "delta_expr", "full_bound",
    "wrong_sq", "THEOREM", "THEOREM_PRIME", "alpha", "expansion_value", "spread_bound_value",
    "spread_bound_quadratic_value", "SpreadBound", "theorem2_prime", "Expectation", "expected",
    "symmetric_sigmoid_gap",
]
