"""Simulation checks of Theorem 1 (both signs, the equality case, the guarantee) and of the
sequence-level slope and importance-weighted curve (THEORY.md, "verify with simulated ...")."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import sympy as sp
from scipy.special import logsumexp

from theory import alignment
from theory._common import Statement
from theory.checks.report import EXACT_TOL, StatementReport, Worst
from theory.symbols import B_0, delta_minus, delta_plus, epsilon, gamma, lam, r_e


def sphere(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.standard_normal(shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def behavior_masked(z: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """B = tanh((log P(S+) − log P(S−))/2) with a per-model mask ``pos`` broadcast against z."""
    lp = logsumexp(np.where(pos, z, -np.inf), axis=-1)
    lm = logsumexp(np.where(pos, -np.inf, z), axis=-1)
    return np.tanh((lp - lm) / 2)


def theorem1_models(rng: np.random.Generator, n: int, k: int, d: int = 16) -> dict[str, np.ndarray]:
    """``n`` softmax models with K = k answers in R^d: logits z = U h, shifts g = U Δ, a random
    S+/S− split, ``lam`` = ‖Δ‖ and ``gamma`` = certified half-margin / ‖Δ‖. Half the Δ are built
    (pseudo-inverse) with a prescribed margin — a third of those with equal shifts on each side
    (the equality case, ``equal``) — and half are uniform on the sphere with S+ the top shifts."""
    U = rng.standard_normal((n, k, d)) / math.sqrt(d) * rng.uniform(0.3, 2.0, (n, k, 1))
    h = rng.standard_normal((n, d)) * rng.uniform(0.5, 3.0, (n, 1))
    z = np.einsum("nkd,nd->nk", U, h)
    half = n // 2
    n_pos = rng.integers(1, k, size=n)
    ranks = np.argsort(rng.random((n, k)), axis=1).argsort(axis=1)
    pos = ranks < n_pos[:, None]
    half_margin = rng.uniform(0.05, 2.0, size=(n, 1))
    equal = rng.random((n, 1)) < 1 / 3
    spread = np.where(equal, 0.0, rng.exponential(0.5, (n, k)))
    target = rng.normal(size=(n, 1)) + np.where(pos, half_margin + spread, -half_margin - spread)
    delta = np.einsum("ndk,nk->nd", np.linalg.pinv(U[:half]), target[:half])
    du = sphere(rng, (n - half, d)) * rng.uniform(0.5, 4.0, (n - half, 1))
    delta = np.concatenate([delta, du])
    g = np.einsum("nkd,nd->nk", U, delta)
    order = np.argsort(-g[half:], axis=1).argsort(axis=1)
    pos[half:] = order < n_pos[half:, None]
    gl = (np.where(pos, g, np.inf).min(1) - np.where(pos, -np.inf, g).max(1)) / 2
    norm = np.linalg.norm(delta, axis=1)
    equal_case = np.zeros(n, dtype=bool)
    equal_case[:half] = equal[:half, 0]
    return {"z": z, "g": g, "pos": pos, "lam": norm, "gamma": gl / norm, "equal": equal_case}


_T1_TOL = f"{EXACT_TOL:g} + 1e-15/(1 - B0^2) round-off"


def _lambdified(statement: Statement, args: tuple[sp.Symbol, ...]) -> Callable[..., np.ndarray]:
    """The right-hand side of ``statement`` as it is now (so a changed statement is checked)."""
    return sp.lambdify(args, statement.rhs, "numpy")  # type: ignore[no-any-return]


def check_theorem1(rng: np.random.Generator, n: int) -> list[StatementReport]:
    """Theorem 1 (r_e ≥ 0 against ``THEOREM``, r_e ≤ 0 against ``THEOREM_MIRRORED``), the
    equality case and the guarantee, on margin-constructed and uniform-sphere directions."""
    args = (r_e, B_0, gamma, lam)
    bounds = {1.0: _lambdified(alignment.THEOREM, args),
              -1.0: _lambdified(alignment.THEOREM_MIRRORED, args)}
    equality = _lambdified(alignment.EQUALITY, args)
    guar_fn = _lambdified(alignment.GUARANTEE, (B_0, gamma, lam, epsilon))
    up, down, eqw, guar = Worst(), Worst(), Worst(), Worst()
    n_eq = 0
    ks = (2, 3, 4, 6, 8)
    steps = np.concatenate([[0.0], np.geomspace(1e-3, 12.0, 40)])  # γλ r_e values
    for k in ks:
        m = theorem1_models(rng, -(-n // len(ks)), k)
        z, g, pos, la, ga = m["z"], m["g"], m["pos"], m["lam"], m["gamma"]
        b0 = behavior_masked(z, pos)
        keep = (ga > 0) & (np.abs(b0) < 1)  # a certified margin and a non-degenerate B_0
        z, g, pos, la, ga, b0, eq = (z[keep], g[keep], pos[keep], la[keep], ga[keep], b0[keep],
                                     m["equal"][keep])
        # artanh(B_0) amplifies the round-off of B_0 by 1/(1 − B_0²): allow for it.
        tol = EXACT_TOL + 1e-15 / (1 - b0**2)
        for sign, worst in ((1.0, up), (-1.0, down)):
            r = sign * steps[None, :] / (ga * la)[:, None]                 # (n, R)
            zr = z[:, None, :] + r[..., None] * g[:, None, :]
            b = behavior_masked(zr, pos[:, None, :])
            bnd = bounds[sign](r, b0[:, None], ga[:, None], la[:, None]) * np.ones_like(r)
            viol = sign * (bnd - b) - tol[:, None]
            worst.update(viol, {"K": np.full(len(la), k), "B0": b0, "gamma": ga, "lam": la,
                                "r_e": r[np.arange(len(la)), np.argmax(viol, axis=1)]})
            if eq.any():  # equality case: |B − bound| ≤ round-off for every r_e of either sign
                n_eq += int(eq.sum()) if sign > 0 else 0
                beq = equality(r[eq], b0[eq, None], ga[eq, None], la[eq, None]) * np.ones_like(r[eq])
                eqw.update(np.abs(beq - b[eq]) - tol[eq, None], {"K": np.full(int(eq.sum()), k),
                                                                 "B0": b0[eq]}, draws=0)
        eps = rng.uniform(1e-3, 1.99, size=len(la))
        rg = np.asarray(guar_fn(b0, ga, la, eps), dtype=float) * np.ones_like(b0)
        bg = behavior_masked(z + rg[:, None] * g, pos)
        guar.update((1 - eps) - bg - tol, {"K": np.full(len(la), k), "B0": b0, "gamma": ga,
                                           "lam": la, "epsilon": eps, "r_e": rg})
    eqw.draws = n_eq
    return [
        up.report("Theorem 1 (r_e >= 0)", _T1_TOL),
        down.report("Theorem 1 mirrored (r_e <= 0)", _T1_TOL),
        eqw.report("Theorem 1 equality case", _T1_TOL),
        guar.report("Guarantee (B >= 1 - eps at the threshold)", _T1_TOL),
    ]


def check_sequence(rng: np.random.Generator, n: int) -> list[StatementReport]:
    """Sequence level, exact linear log-likelihoods: P_r(y) ∝ p_y e^{r δ_y}. The symbolic
    ``sequence_slope`` (population δ̄_±, B_0) and ``sequence_slope_value`` on the full support
    with weights must equal the central difference of the exact B(r); ``importance_curve`` on the
    support weighted by p must equal B(r) exactly."""
    slope = sp.lambdify((B_0, delta_plus, delta_minus), alignment.sequence_slope, "numpy")
    worst = Worst()
    for _ in range(max(1, n // 200)):
        m = int(rng.integers(4, 40))
        logp = rng.normal(size=m) * 2
        p = np.exp(logp - logsumexp(logp))
        dl = rng.normal(size=m) * rng.uniform(0.1, 3)
        sc = np.where(rng.random(m) < 0.5, 1.0, -1.0)
        sc[0], sc[1] = 1.0, -1.0

        def bexact(r: float, p: np.ndarray = p, dl: np.ndarray = dl, sc: np.ndarray = sc) -> float:
            w = np.exp(np.log(p) + r * dl - logsumexp(np.log(p) + r * dl))
            return float(w @ sc)

        b0 = bexact(0.0)
        dp, dm = float(p[sc > 0] @ dl[sc > 0] / p[sc > 0].sum()), float(p[sc < 0] @ dl[sc < 0] / p[sc < 0].sum())
        h = 1e-5
        fd = (bexact(h) - bexact(-h)) / (2 * h)
        sym = float(slope(b0, dp, dm))
        # importance_curve with samples = the support, each repeated ∝ p (via log-weights in δ):
        rr = np.array([0.3, -0.7, 1.5])
        ic = alignment.importance_curve(sc, dl, rr)  # uniform base weights
        pu = np.full(m, 1.0 / m)
        bu = np.array([float(np.exp(np.log(pu) + r * dl - logsumexp(np.log(pu) + r * dl)) @ sc) for r in rr])
        sv = alignment.sequence_slope_value(sc, dl)
        fdu = (float(alignment.importance_curve(sc, dl, h)) - float(alignment.importance_curve(sc, dl, -h))) / (2 * h)
        worst.update(np.array([[abs(sym - fd) - 1e-7 * (1 + abs(fd)), float(np.abs(ic - bu).max()) - 1e-12,
                                abs(sv - fdu) - 1e-7 * (1 + abs(fdu))]]), {"m": m, "B0": b0})
    return [worst.report("Sequence slope + importance curve", "central difference 1e-7")]


__all__ = ["sphere", "behavior_masked", "theorem1_models", "check_theorem1", "check_sequence"]
