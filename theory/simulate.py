"""Verification by simulated random-direction models (THEORY.md, "verify with simulated ...").

Softmax models — answer representations ``u_a``, a hidden state, steering directions ``Δ``
(uniform on the sphere times λ, or constructed with margin 2λ on a chosen S+/S− split) — are
evaluated exactly at many ``r_e``, in vectorised batches of models: Theorem 1 (both signs, the
equality case and the guarantee) must hold for every draw, the symmetric-sigmoid lemma for every
draw, Theorem 2's expansion must match the average over directions within Monte Carlo error at
small ``r_e``, Theorem 2′ must hold wherever ``m ≥ 0``. Random deep residual MLPs with an
injection at every layer check Proposition 1 (finite difference = JVP, remainder ∝ r_e²).
``verify_all`` returns one ``StatementReport`` per statement; a statement passes when its
``max_violation`` (the worst ``lhs − rhs − allowance`` over all draws) is ≤ 0.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
import torch
from scipy.special import logsumexp

from theory import alignment, helpfulness, response, tradeoff
from theory.symbols import B_0, P_0, alpha, beta, kappa, lam, r_e, sigma

EXACT_TOL = 1e-12  # allowance for float64 round-off in checks that are exact in theory
Z_MC = 5.0         # Monte Carlo allowance, in standard errors


@dataclass
class StatementReport:
    """One statement: ``draws`` random models; ``max_violation`` = max over draws of
    ``lhs − rhs − allowance`` (≤ 0: held); ``worst_case`` the parameters of that draw;
    ``mc_error`` the Monte Carlo standard error there (None for exact checks)."""

    name: str
    draws: int
    max_violation: float
    worst_case: dict[str, float]
    mc_error: float | None
    allowance: str
    extras: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.max_violation <= 0)


@dataclass
class VerifyReport:
    seed: int
    n: int
    seconds: float
    statements: list[StatementReport]

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.statements)

    def table(self) -> str:
        head = f"{'statement':<34} {'draws':>8} {'max violation':>14} {'MC error':>10}  result"
        lines = ["max violation = max over draws of (lhs - rhs - allowance): <= 0 means it held",
                 head, "-" * len(head)]
        for s in self.statements:
            mc = "exact" if s.mc_error is None else f"{s.mc_error:.2e}"
            lines.append(f"{s.name:<34} {s.draws:>8} {s.max_violation:>14.3e} {mc:>10}  "
                         f"{'ok' if s.passed else 'VIOLATED'}")
        for s in self.statements:
            if s.extras:
                lines.append(f"{s.name}: " + ", ".join(f"{k} = {v:.4g}" for k, v in s.extras.items()))
            if not s.passed:
                lines.append(f"  worst case of {s.name} (allowance {s.allowance}): {s.worst_case}")
        lines.append(f"{len(self.statements)} statements, seed {self.seed}, n {self.n}, "
                     f"{self.seconds:.1f} s: {'all hold' if self.passed else 'VIOLATIONS'}")
        return "\n".join(lines)


class _Worst:
    """Running maximum of a violation array over batches, with the arguments of the argmax."""

    def __init__(self) -> None:
        self.value = -math.inf
        self.case: dict[str, float] = {}
        self.mc: float | None = None
        self.draws = 0

    def update(self, viol: np.ndarray, params: dict[str, Any], mc: np.ndarray | None = None,
               draws: int | None = None) -> None:
        flat = np.asarray(viol).reshape(viol.shape[0], -1) if viol.ndim > 1 else viol[:, None]
        per = flat.max(axis=1)
        i = int(np.argmax(per))
        self.draws += viol.shape[0] if draws is None else draws
        if per[i] > self.value:
            self.value = float(per[i])
            self.case = {k: float(np.asarray(v).reshape(viol.shape[0], -1)[i].ravel()[0])
                         if np.asarray(v).ndim else float(v) for k, v in params.items()}
            if mc is not None:
                self.mc = float(np.asarray(mc).reshape(viol.shape[0], -1)[i].max())

    def report(self, name: str, allowance: str, extras: dict[str, float] | None = None,
               exact: bool = True) -> StatementReport:
        return StatementReport(name, self.draws, self.value, self.case,
                               None if exact else (self.mc or 0.0), allowance, extras or {})


def _sphere(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.standard_normal(shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _behavior_masked(z: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """B = tanh((log P(S+) − log P(S−))/2) with a per-model mask ``pos`` broadcast against z."""
    lp = logsumexp(np.where(pos, z, -np.inf), axis=-1)
    lm = logsumexp(np.where(pos, -np.inf, z), axis=-1)
    return np.tanh((lp - lm) / 2)


def theorem1_models(rng: np.random.Generator, n: int, k: int, d: int = 16) -> dict[str, np.ndarray]:
    """``n`` softmax models with K = k answers in R^d: logits z = U h, shifts g = U Δ, a random
    S+/S− split and the certified λ. Half the Δ are built (pseudo-inverse) with margin ≥ 2λ —
    a third of those exactly 2λ with equal shifts on each side (the equality case) — and half are
    uniform on the sphere with S+ the top-j shifts."""
    U = rng.standard_normal((n, k, d)) / math.sqrt(d)
    h = rng.standard_normal((n, d)) * rng.uniform(0.5, 3.0, (n, 1))
    z = np.einsum("nkd,nd->nk", U, h)
    half = n // 2
    # Built half: random split, then target shifts with the prescribed margin.
    n_pos = rng.integers(1, k, size=n)
    ranks = np.argsort(rng.random((n, k)), axis=1).argsort(axis=1)
    pos = ranks < n_pos[:, None]
    lam_t = rng.uniform(0.05, 2.0, size=(n, 1))
    equal = rng.random((n, 1)) < 1 / 3
    spread = np.where(equal, 0.0, rng.exponential(0.5, (n, k)))
    target = rng.normal(size=(n, 1)) + np.where(pos, lam_t + spread, -lam_t - spread)
    delta = np.einsum("ndk,nk->nd", np.linalg.pinv(U[:half]), target[:half])
    # Uniform half: Δ = λ·(uniform unit vector); S+ = the j largest shifts (margin > 0 a.s.).
    du = _sphere(rng, (n - half, d)) * rng.uniform(0.5, 4.0, (n - half, 1))
    delta = np.concatenate([delta, du])
    g = np.einsum("nkd,nd->nk", U, delta)
    order = np.argsort(-g[half:], axis=1).argsort(axis=1)
    pos[half:] = order < n_pos[half:, None]
    lam_c = (np.where(pos, g, np.inf).min(1) - np.where(pos, -np.inf, g).max(1)) / 2
    equal_case = np.zeros(n, dtype=bool)
    equal_case[:half] = equal[:half, 0]
    return {"z": z, "g": g, "pos": pos, "lam": lam_c, "equal": equal_case}


_T1_TOL = f"{EXACT_TOL:g} + 1e-15/(1 - B0^2) round-off"


def _check_theorem1(rng: np.random.Generator, n: int) -> list[StatementReport]:
    up, down, guar, eq_dev = _Worst(), _Worst(), _Worst(), 0.0
    ks = (2, 3, 4, 6, 8)
    steps = np.concatenate([[0.0], np.geomspace(1e-3, 12.0, 40)])  # λ r_e values
    for k in ks:
        m = theorem1_models(rng, -(-n // len(ks)), k)
        z, g, pos, la = m["z"], m["g"], m["pos"], m["lam"]
        b0 = _behavior_masked(z, pos)
        keep = (la > 0) & (np.abs(b0) < 1)  # a certified margin and a non-degenerate B_0
        z, g, pos, la, b0, eq = z[keep], g[keep], pos[keep], la[keep], b0[keep], m["equal"][keep]
        for sign, worst in ((1.0, up), (-1.0, down)):
            r = sign * steps[None, :] / la[:, None]                        # (n, R)
            zr = z[:, None, :] + r[..., None] * g[:, None, :]
            b = _behavior_masked(zr, pos[:, None, :])
            bnd = alignment.evaluate(r, b0[:, None], la[:, None])
            # artanh(B_0) amplifies the round-off of B_0 by 1/(1 − B_0²): allow for it.
            tol = EXACT_TOL + 1e-15 / (1 - b0**2)
            viol = sign * (bnd - b) - tol[:, None]
            worst.update(viol, {"K": np.full(len(la), k), "B0": b0, "lam": la,
                                "r_e": r[np.arange(len(la)), np.argmax(viol, axis=1)]})
            if eq.any():
                eq_dev = max(eq_dev, float(np.abs(bnd - b)[eq].max()))
        eps = rng.uniform(1e-3, 0.9, size=len(la))
        rg = alignment.guarantee(b0, la, eps)
        rg = np.maximum(rg, 0.0)  # B_0 may already exceed 1 − ε: the statement is then r_e ≥ 0
        bg = _behavior_masked(z + rg[:, None] * g, pos)
        guar.update((1 - eps) - bg - EXACT_TOL - 1e-15 / (1 - b0**2), {"K": np.full(len(la), k), "B0": b0, "lam": la,
                                                   "epsilon": eps, "r_e": rg})
    return [
        up.report("Theorem 1 (r_e >= 0)", _T1_TOL,
                  {"equality case max |B - bound|": eq_dev}),
        down.report("Theorem 1 mirrored (r_e <= 0)", _T1_TOL),
        guar.report("Guarantee (B >= 1 - eps)", _T1_TOL),
    ]


def _check_lemma(rng: np.random.Generator, n: int) -> StatementReport:
    worst = _Worst()
    m = rng.uniform(0, 6, n)
    m[: n // 10] = 0.0  # the boundary case m = 0 holds with equality
    y = np.abs(rng.standard_normal((n, 6))) * rng.uniform(0.1, 10, (n, 1))
    w = rng.dirichlet(np.ones(6), size=n)
    gap = helpfulness.symmetric_sigmoid_gap(m, y, w)
    worst.update(-gap - EXACT_TOL, {"m": m, "y_max": y.max(1)})
    return worst.report("Lemma (symmetric sigmoid)", f"{EXACT_TOL:g} round-off")


def _random_p(rng: np.random.Generator, k: int, p0: float) -> np.ndarray:
    rest = rng.dirichlet(np.ones(k - 1)) * (1 - p0)
    return np.concatenate([[p0], rest])


def _check_theorem2(rng: np.random.Generator, n: int, d: int = 64) -> StatementReport:
    """Average of P_r(c) over n uniform directions Δ (and −Δ: antithetic pairs) against the
    expansion; allowance Z_MC standard errors plus twice the exact O(r⁴) remainder of the
    Gaussian model (quadrature), which also covers the sphere's O(1/d) fourth-moment change."""
    worst = _Worst()
    configs = [(2, 0.7), (2, 0.3), (3, 0.6), (3, 0.9), (4, 0.5), (4, 0.8)]
    cos_sq_sum, cos_count = 0.0, 0
    la, be = 1.0, 1.5
    s = la * be / math.sqrt(d)
    ts = np.array([0.05, 0.1, 0.2])  # s·r_e
    for k, p0 in configs:
        p = _random_p(rng, k, p0)
        q, _ = np.linalg.qr(rng.standard_normal((d, k)))
        U = be * q.T                                       # orthogonal rows of norm β
        dirs = _sphere(rng, (n, d))
        cos = dirs @ q                                     # cosines between Δ and u_a
        cos_sq_sum += float((cos**2).sum())
        cos_count += cos.size
        g = la * dirs @ U.T                                # (n, k) logit shifts
        r = ts / s
        zr = np.log(p)[None, None, :] + r[None, :, None] * g[:, None, :]
        zm = np.log(p)[None, None, :] - r[None, :, None] * g[:, None, :]
        pair = 0.5 * (np.exp(zr[..., 0] - logsumexp(zr, -1)) + np.exp(zm[..., 0] - logsumexp(zm, -1)))
        mean, se = pair.mean(0), pair.std(0, ddof=1) / math.sqrt(n)
        al = helpfulness.alpha(p, 0)
        exp_ = helpfulness.expansion_value(p0, al, s, r)
        r4 = helpfulness.expected(p, 0, s, r).value - exp_
        viol = np.abs(mean - exp_) - 2 * np.abs(r4) - Z_MC * se
        i = int(np.argmax(viol))
        worst.update(viol[None, :], {"K": k, "P0": p0, "alpha": al, "s_r_e": ts[i]},
                     mc=se[None, i], draws=n)
    return worst.report("Theorem 2 (expansion, small r_e)", f"{Z_MC:g} MC s.e. + 2|O(r^4)|",
                        {"empirical sigma^2": cos_sq_sum / cos_count, "1/d": 1 / d}, exact=False)


def _check_theorem2_prime(rng: np.random.Generator, n: int) -> StatementReport:
    """i.i.d. Gaussian shifts (= Gaussian Δ against orthonormal answer vectors); the bound is
    checked at every (r_e, ε) with m ≥ 0; allowance Z_MC standard errors."""
    worst = _Worst()
    configs = [(501, 0.6), (101, 0.8), (2001, 0.6), (4, 0.7)]
    ts = np.linspace(0.1, 3.0, 10)
    epss = np.array([0.05, 0.2, 0.5])
    n_cfg = max(200, n // len(configs))
    for k, p0 in configs:
        p = _random_p(rng, k, p0) if k < 1000 else np.concatenate([[p0], np.full(k - 1, (1 - p0) / (k - 1))])
        logp = np.log(p)
        m_draw = n_cfg
        x = rng.standard_normal((m_draw, k))
        for t in ts:
            za, zb = logp + t * x, logp - t * x
            pair = 0.5 * (np.exp(za[:, 0] - logsumexp(za, 1)) + np.exp(zb[:, 0] - logsumexp(zb, 1)))
            mean, se = pair.mean(), pair.std(ddof=1) / math.sqrt(m_draw)
            for eps in epss:
                b = helpfulness.theorem2_prime(p, 0, 1.0, t, eps)
                if not b.applies:
                    continue
                viol = np.array([mean - float(b.bound) - Z_MC * se])
                worst.update(viol, {"K": k, "P0": p0, "s_r_e": t, "epsilon": eps,
                                    "H": mean, "bound": float(b.bound)}, mc=np.array([se]), draws=0)
        worst.draws += m_draw
    return worst.report("Theorem 2' (where m >= 0)", f"{Z_MC:g} MC s.e.", exact=False)


def residual_networks(seed: int, n: int, d: int = 8, width: int = 16, layers: int = 4):  # type: ignore[no-untyped-def]
    """``n`` random residual tanh MLPs (batched), an injection ``r_e v_l`` after every block and
    a final LayerNorm; returns ``f(r_e)`` → final representations of shape (n, d)."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    w1 = randn(layers, n, width, d) * (1.5 / math.sqrt(d))
    b1 = randn(layers, n, width) * 0.5
    w2 = randn(layers, n, d, width) * (1.0 / math.sqrt(width))
    x = randn(n, d)
    v = randn(layers, n, d)
    v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)

    def f(r: torch.Tensor) -> torch.Tensor:
        h = x
        for li in range(layers):
            pre = torch.einsum("nwd,nd->nw", w1[li], h) + b1[li]
            h = h + torch.einsum("ndw,nw->nd", w2[li], torch.tanh(pre)) + r * v[li]
        return torch.nn.functional.layer_norm(h, (d,))

    return f


def _check_prop1(seed: int, n: int) -> list[StatementReport]:
    f = residual_networks(seed, n)
    res = response.linear_response(f, radii=np.geomspace(1e-4, 1e-2, 5), batched=True)
    fd, ex = _Worst(), _Worst()
    fd.update(res.fd_error - 1e-6, {"fd_rel_error": res.fd_error})
    ex.update(np.abs(res.exponent - 2) - 0.25, {"exponent": res.exponent})
    return [
        fd.report("Prop. 1 (JVP = finite difference)", "relative 1e-6 (step 1e-4)"),
        ex.report("Prop. 1 (remainder ~ r_e^2)", "|exponent - 2| <= 0.25",
                  {"median exponent": float(np.median(res.exponent))}),
    ]


_u = sp.lambdify((B_0, lam, P_0, alpha, sigma, beta, kappa, r_e), tradeoff.utility, "numpy")


def _check_corollary(rng: np.random.Generator, n: int) -> StatementReport:
    """The closed-form r* against the (independently lambdified) second-order utility: U is
    stationary there, lower on both sides, and 0 at 2r*."""
    worst = _Worst()
    b0, la, p0 = rng.uniform(-0.95, 0.95, n), rng.uniform(0.1, 3, n), rng.uniform(0.05, 0.95, n)
    al, sg, be, ka = (rng.uniform(0.01, 0.25, n), rng.uniform(0.01, 1, n), rng.uniform(0.1, 5, n),
                      rng.uniform(0.1, 10, n))
    rs = np.array([tradeoff.second_order(*a, sigma=b, beta=c).r_star
                   for a, b, c in zip(zip(b0, la, p0, al, ka, strict=True), sg, be, strict=True)])

    def u(r: np.ndarray) -> np.ndarray:
        return np.asarray(_u(b0, la, p0, al, sg, be, ka, r))

    scale = np.abs(u(rs))
    h = 1e-4 * rs
    slope = (u(rs + h) - u(rs - h)) / (2 * h) * rs / scale        # relative stationarity
    side = np.maximum(u(rs * 1.01), u(rs * 0.99)) - u(rs)         # must be < 0
    root = np.abs(u(2 * rs)) / scale
    viol = np.stack([np.abs(slope) - 1e-6, side / scale + 0.0, root - 1e-9], axis=1)
    worst.update(viol, {"B0": b0, "lam": la, "P0": p0, "alpha": al, "kappa": ka, "r_star": rs})
    return worst.report("Corollary (r* max, break-even 2r*)", "relative 1e-6 / 1e-9")


def verify_all(seed: int = 0, n: int = 10_000) -> VerifyReport:
    """Check every statement on ``n`` random models each (seeded); see the module docstring."""
    if n < 10:
        raise ValueError(f"n must be >= 10, got {n}")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    out: list[StatementReport] = []
    out += _check_theorem1(rng, n)
    out.append(_check_lemma(rng, n))
    out.append(_check_theorem2(rng, n))
    out.append(_check_theorem2_prime(rng, n))
    out += _check_prop1(seed, n)
    out.append(_check_corollary(rng, n))
    return VerifyReport(seed, n, time.perf_counter() - t0, out)


__all__ = ["StatementReport", "VerifyReport", "theorem1_models", "residual_networks", "verify_all"]
