"""Exact expectations ``H(r_e) = E[softmax(log p + r_e g)_c]`` over Gaussian logit shifts.

``expected``: i.i.d. ``N(0, s²)`` shifts, any K (tensor Gauss–Hermite for K ≤ 4, else a 1-D
Laplace-transform quadrature; Monte Carlo on request). ``expected_gaussian``: correlated
Gaussian shifts of rank ≤ 4 by tensor Gauss–Hermite. ``theory.helpfulness`` re-exports both.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

from theory import _common as chk


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


def _pc_many(logp: np.ndarray, c: int, shifts: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """``_pc`` at every ``t`` in ``ts``: ``(len(ts), n)``. The log-sum-exp is written out
    (scipy's handles weights and complex input, and its overhead dominated the expected curves)."""
    z = logp[None, None, :] + ts[:, None, None] * shifts[None, :, :]
    top = np.max(z, axis=2, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    lse = np.log(np.sum(np.exp(z - top), axis=2)) + top[..., 0]
    return np.exp(z[..., c] - lse)


GH_MAX_POINTS = 1 << 15  # the largest tensor grid of method "gauss-hermite"
#: The largest tensor grid the default route tries before the 1-D Laplace quadrature: where 16
#: nodes per dimension have not converged, Laplace (~1 ms per r_e) is cheaper than 32 (measured
#: on validate's helpfulness curves, K = 4: 3.3 s instead of 10 s, values equal within 3e-14).
QUADRATURE_GH_POINTS = 1 << 12
GH_MAX_NODES = 128  # per dimension (hermegauss is an eigenproblem of that size)


def _gauss_hermite(logp: np.ndarray, c: int, ts: np.ndarray, tol: float, max_points: int
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """Tensor Gauss–Hermite over the centred shifts at each ``t`` in ``ts``; nodes doubled
    until two rules agree within ``tol`` (per ``t``) or the grid would exceed ``max_points``.
    Returns (values, |Q_n − Q_{n/2}| (inf where only one rule ran), the most points used)."""
    k = logp.size
    basis = _centred_basis(k)
    dim = k - 1
    values = np.full(ts.shape, math.nan)
    errors = np.full(ts.shape, math.inf)
    active = np.arange(ts.size)
    n, used = 8, 0
    while active.size:
        pts, wts = _gh_grid(dim, n)
        shifts = pts @ basis.T
        # Blocks of t bound the (t, points, k) array at ~32 MB.
        step = max(1, (1 << 22) // (shifts.size or 1))
        val = np.concatenate([_pc_many(logp, c, shifts, ts[active[i:i + step]]) @ wts
                              for i in range(0, active.size, step)])
        errors[active] = np.where(np.isnan(values[active]), math.inf, np.abs(val - values[active]))
        values[active] = val
        used = n**dim
        last = (2 * n) ** dim > max_points or 2 * n > GH_MAX_NODES
        active = active[~(errors[active] < tol)] if not last else active[:0]
        n *= 2
    return values, errors, used


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
        if k <= 4 and todo.size:
            cap = QUADRATURE_GH_POINTS if method == "quadrature" else GH_MAX_POINTS
            vals, errs, n_used = _gauss_hermite(logp, c, flat_t[todo], tol, cap)
        else:
            vals, errs = np.full(todo.size, math.nan), np.full(todo.size, math.inf)
        for i, v, e in zip(todo, vals, errs, strict=True):
            if e >= tol and method == "quadrature":
                ti = float(flat_t[i])
                v, n = _laplace(pv, c, ti)
                e = abs(v - _laplace(pv, c, ti, step=0.3)[0])  # coarser rule: conservative
                n_used = max(n_used, n)
            value.flat[i], err.flat[i] = v, e
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
    pv, c = chk.prob_and_index(p, correct)
    k = pv.size
    r = chk.finite("r_e", r_e)
    mu_ = np.zeros(k) if mean is None else chk.finite("mean", mean)
    if mu_.shape != (k,):
        raise ValueError(f"mean must be a vector of length {k}, got shape {mu_.shape}")
    cov_ = np.zeros((k, k)) if cov is None else chk.square_matrix("cov", cov, k)
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




__all__ = ["Expectation", "GH_MAX_POINTS", "GH_MAX_NODES", "METHODS", "expected",
           "expected_gaussian"]
