"""Simulation checks of the response on non-linear residual networks (random deep tanh MLPs with
injections after every block and a final LayerNorm): Proposition 1 (Δ by JVP = central
difference, remainder ~ r²) and to second order (Δ₂ by nested forward-mode = second central
difference, remainder ~ r³); Theorem 2R for softmax readouts of such networks (P(correct) and B:
the measured f(z_r) against Theorem 2R's coefficients, remainder ~ r³; the exact softmax of the
second-order logit path likewise); Theorem 1 to second order for two outcomes."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from theory import alignment, helpfulness, response
from theory.checks.report import StatementReport, Worst

EXPONENT_FLOOR = 2.7   # a remainder that is O(r³) fits a slope near 3; a wrong r² term gives 2
FD2_TOL = 1e-6         # relative: Richardson second difference at step 3e-3 (seen: <= 2e-8)
RADII = np.geomspace(1e-3, 1e-2, 5)


def residual_networks(seed: int, n: int, d: int = 8, width: int = 16, layers: int = 4):  # type: ignore[no-untyped-def]
    """``n`` random residual tanh MLPs (batched), an injection ``r_e v_l`` after every block and
    a final LayerNorm (no affine part); returns ``f(r_e)`` → final representations (n, d)."""
    import torch

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
        # LayerNorm from elementary ops: torch 2.13's F.layer_norm has a wrong
        # forward-over-forward derivative (nested jvp ≠ double backward; rms_norm is right).
        centred = h - h.mean(dim=-1, keepdim=True)
        return centred / torch.sqrt(centred.pow(2).mean(dim=-1, keepdim=True) + 1e-5)

    return f


def check_prop1(rng: np.random.Generator, n: int) -> list[StatementReport]:
    """Δ (``response.linear_response``, one JVP) against a central difference of the networks
    taken here, and the remainder ‖h_r − h − rΔ‖ ~ r² (fitted exponent)."""
    import torch

    f = residual_networks(int(rng.integers(2**31)), min(n, 2000))
    res = response.linear_response(f, radii=np.geomspace(1e-4, 1e-2, 5), batched=True)
    h = 1e-4
    with torch.no_grad():
        own = ((f(torch.tensor(h, dtype=torch.float64)) - f(torch.tensor(-h, dtype=torch.float64)))
               / (2 * h)).numpy()
    delta = res.delta.numpy()
    rel = np.linalg.norm(own - delta, axis=1) / np.maximum(np.linalg.norm(own, axis=1), 1e-300)
    fd, ex = Worst(), Worst()
    fd.update(rel - 1e-6, {"fd_rel_error": rel})
    ex.update(np.abs(res.exponent - 2) - 0.25, {"exponent": res.exponent})
    return [
        fd.report("Prop. 1 (JVP = finite difference)", "relative 1e-6 (step 1e-4)"),
        ex.report("Prop. 1 (remainder ~ r_e^2)", "|exponent - 2| <= 0.25",
                  {"median exponent": float(np.median(res.exponent))}),
    ]


def _networks(rng: np.random.Generator, n: int, k: int) -> dict[str, Any]:
    """Residual networks with a random unembedding U (n, k, d): the second-order response of the
    last layer, logits z = U h, shifts g = UΔ and path curvatures w = UΔ₂."""
    import torch

    seed = int(rng.integers(2**31))
    f = residual_networks(seed, n)
    res = response.second_order_response(f, radii=RADII, batched=True)
    d = res.value.shape[1]
    U = rng.standard_normal((n, k, d)) * rng.uniform(0.5, 2.0, (n, 1, 1))

    def logits(r: float) -> np.ndarray:
        with torch.no_grad():
            h = f(torch.tensor(r, dtype=torch.float64)).numpy()
        return np.asarray(np.einsum("nkd,nd->nk", U, h))

    def proj(t: Any) -> np.ndarray:
        return np.asarray(np.einsum("nkd,nd->nk", U, t.numpy()))

    return {"res": res, "logits": logits, "z": proj(res.value), "g": proj(res.delta),
            "w": proj(res.delta2)}


def check_prop1_second(rng: np.random.Generator, n: int) -> list[StatementReport]:
    """Δ₂ (nested forward-mode) against the second central difference; the remainder
    ‖h_r − h − rΔ − (r²/2)Δ₂‖ (``response.remainder``) scales as r³."""
    import torch

    f = residual_networks(int(rng.integers(2**31)), min(n, 2000))
    res = response.second_order_response(f, radii=RADII, batched=True)
    # Independent remainders: the network's own outputs minus the Taylor polynomial, here.
    with torch.no_grad():
        f0 = res.value.numpy()
        own = np.stack([np.linalg.norm(f(torch.tensor(r, dtype=torch.float64)).numpy() - f0
                                       - r * res.delta.numpy() - 0.5 * r * r * res.delta2.numpy(),
                                       axis=1) for r in RADII], axis=1)
    fd, ex, same = Worst(), Worst(), Worst()
    fd.update(res.fd_error - FD2_TOL, {"fd2_rel_error": res.fd_error})
    ex.update(EXPONENT_FLOOR - res.exponent, {"exponent": res.exponent})
    same.update(np.abs(res.remainders - own) - 1e-12 * (1 + own), {"remainder": own[:, -1]})
    return [
        fd.report("Prop. 1 second order (nested JVP = 2nd difference)", f"relative {FD2_TOL:g}"),
        ex.report("Prop. 1 second order (remainder ~ r_e^3)", f"exponent >= {EXPONENT_FLOOR}",
                  {"median exponent": float(np.median(res.exponent))}),
        same.report("Prop. 1 second order (remainder = direct norm)", "relative 1e-12"),
    ]


def _exponents(gap: np.ndarray) -> np.ndarray:
    """Fitted log–log slope of ``gap`` (n, len(RADII)) against ``RADII``, per model."""
    lr = np.log(RADII) - np.log(RADII).mean()
    ly = np.log(np.maximum(np.abs(gap), np.finfo(float).tiny))
    return np.asarray(((ly - ly.mean(axis=1, keepdims=True)) @ lr) / (lr @ lr))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


STEP = 1e-3  # Richardson differences: error O(STEP⁴), round-off ~ 1e-16/STEP² = 1e-10


def _derivatives(f: Callable[[float], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivative of ``f`` at 0 by central differences with one Richardson
    step (independent of any JVP)."""
    f0 = f(0.0)

    def d(h: float) -> tuple[np.ndarray, np.ndarray]:
        fp, fm = f(h), f(-h)
        return (fp - fm) / (2 * h), (fp - 2 * f0 + fm) / (h * h)

    (a1, a2), (b1, b2) = d(STEP), d(STEP / 2)
    return (4 * b1 - a1) / 3, (4 * b2 - a2) / 3


def _median_exponent(name: str, gap: np.ndarray) -> StatementReport:
    """The median over models of the remainder's fitted exponent must reach EXPONENT_FLOOR (a
    scalar remainder can cross zero in one model and bend its fit; a wrong r² term moves the
    whole distribution to 2)."""
    e = _exponents(gap)
    worst = Worst()
    med = float(np.median(e))
    worst.update(np.array([EXPONENT_FLOOR - med]), {"median exponent": med}, draws=len(e))
    return worst.report(name, f"median exponent >= {EXPONENT_FLOOR}",
                        {"median exponent": med, "10% quantile": float(np.quantile(e, 0.1))})


def _tie(name: str, got: np.ndarray, want: np.ndarray, rel: float) -> StatementReport:
    worst = Worst()
    worst.update(np.abs(got - want) - rel * (1 + np.abs(want)), {"want": want})
    return worst.report(name, f"{rel:g} (1 + |want|)")


READOUT_TOL = 1e-6  # Richardson differences of a readout vs the predicted coefficients


def check_theorem2r(rng: np.random.Generator, n: int) -> list[StatementReport]:
    """Softmax readouts of residual networks (K = 5): P(correct) and B with ±1 scores, measured
    along the network's own response. Per model, Theorem 2R's coefficients (numeric, with the
    path term ½∇fᵀw) equal the measured first and second derivatives (Richardson differences);
    the remainder after them, and the gap to the exact softmax of the second-order logit path,
    scale as r³ (median exponent)."""
    k = 5
    m = _networks(rng, min(n, 1000), k)
    z, g, w = m["z"], m["g"], m["w"]
    scores = np.array([1.0, -1.0, 1.0, -1.0, -1.0])
    p0 = _softmax(z)
    measured = np.stack([m["logits"](float(r)) for r in RADII], axis=1)   # (n, R, K)
    readouts = {
        "P(correct)": (lambda zz: _softmax(zz)[..., 0],
                       helpfulness.response_coefficients(p0, 0, g, w),
                       helpfulness.response_curve(z, g, 0, RADII, w)),
        "B": (lambda zz: _softmax(zz) @ scores,
              alignment.response_coefficients(p0, scores, g, w),
              alignment.response_curve(z, g, scores, RADII, w)),
    }
    out = []
    for name, (f, (c1, c2), curve) in readouts.items():
        def along(r: float, f: Callable[[np.ndarray], np.ndarray] = f) -> np.ndarray:
            return f(m["logits"](r))

        d1, d2 = _derivatives(along)
        f0, fr = f(z), f(measured)
        rem = fr - f0[:, None] - np.asarray(c1)[:, None] * RADII - np.asarray(c2)[:, None] * RADII**2
        out += [_tie(f"Theorem 2R {name}: c1 = measured slope", np.asarray(c1), d1, READOUT_TOL),
                _tie(f"Theorem 2R {name}: c2 = measured curvature", np.asarray(c2), d2 / 2,
                     READOUT_TOL),
                _median_exponent(f"Theorem 2R {name}: remainder ~ r^3", rem),
                _median_exponent(f"Theorem 2R {name}: path curve ~ r^3", fr - curve)]
    return out


def check_theorem1_second(rng: np.random.Generator, n: int) -> list[StatementReport]:
    """Two outcomes read out of residual networks (S+ = {a}): ``alignment.second_order_curve``
    (γλ = (g_a − g_b)/2, w_gap = w_a − w_b) against the measured B_r — equal second derivative
    at 0 and remainder ~ r³ — and the measured departure from Theorem 1's linear bound has
    curvature (1 − B_0²) w_gap/2: its sign is the sign of w_gap (fit-free)."""
    m = _networks(rng, min(n, 1000), 2)
    z, g, w = m["z"], m["g"], m["w"]
    b0 = np.tanh((z[:, 0] - z[:, 1]) / 2)
    keep = np.abs(b0) < 1 - 1e-9
    gl, wg = (g[:, 0] - g[:, 1]) / 2, w[:, 0] - w[:, 1]

    def measured(r: float) -> np.ndarray:
        zz = m["logits"](r)
        return np.asarray(np.tanh((zz[:, 0] - zz[:, 1]) / 2))

    def curve(r: float) -> np.ndarray:
        return alignment.second_order_curve(r, b0[keep], gl[keep], wg[keep])

    def departure(r: float) -> np.ndarray:
        return measured(r)[keep] - np.tanh(gl[keep] * r + np.arctanh(b0[keep]))

    _, d2_measured = _derivatives(lambda r: measured(r)[keep])
    _, d2_curve = _derivatives(curve)
    _, d2_departure = _derivatives(departure)
    br = np.stack([measured(float(r))[keep] for r in RADII], axis=1)
    gap = br - np.stack([curve(float(r)) for r in RADII], axis=1)
    return [_tie("Theorem 1 second order: curvature = measured", d2_curve, d2_measured,
                 READOUT_TOL),
            _median_exponent("Theorem 1 second order: B_r ~ r^3", gap),
            _tie("Theorem 1 second order: departure (1-B0^2) w_gap/2", d2_departure,
                 (1 - b0[keep] ** 2) * wg[keep] / 2, READOUT_TOL)]


__all__ = ["EXPONENT_FLOOR", "RADII", "residual_networks", "check_prop1", "check_prop1_second",
           "check_theorem2r", "check_theorem1_second", "check_readout_forms"]


def check_readout_forms(rng: np.random.Generator, n: int) -> list[StatementReport]:
    """``readout_coefficients`` (numeric) against ``readout_c1``/``readout_c2``/
    ``readout_c2_random`` as they are now, expanded at K = 3 and 4."""
    from theory.checks.indexed import indexed_function
    from theory.checks.report import agreement
    from theory.symbols import Sigma, curvatures, grad_f, hess_f, shifts

    out = []
    for k in (3, 4):
        fams = ((grad_f, 1), (hess_f, 2), (shifts, 1), (curvatures, 1))
        c1f = indexed_function(response.readout_c1, k, fams)
        c2f = indexed_function(response.readout_c2, k, fams)
        crf = indexed_function(response.readout_c2_random, k, ((hess_f, 2), (Sigma, 2)))
        got, want = [], []
        for _ in range(max(min(n, 400) // 20, 3)):
            gr, g, w = rng.normal(size=k), rng.normal(size=k), rng.normal(size=k)
            he, x = rng.normal(size=(k, k)), rng.normal(size=(k, k))
            he, cov = he + he.T, x @ x.T
            c1, c2 = response.readout_coefficients(gr, he, g, w)
            _, c2c = response.readout_coefficients(gr, he, g, w, cov=cov)
            got.append([float(c1), float(c2), float(c2c)])
            want.append([c1f(gr, he, g, w), c2f(gr, he, g, w),
                         c2f(gr, he, g, w) + crf(he, cov)])
        out.append(agreement(f"readout_coefficients = readout_c1, c2 (+ random) (K={k})", got,
                             want))
    return out
