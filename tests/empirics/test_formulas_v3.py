"""The THEORY v3 wrappers of ``empirics.formulas``: each against an independent computation
(finite differences of the exact softmax, brute-force searches, Monte Carlo, closed forms typed
here), and each check seen failing when the theory function behind the wrapper is replaced by a
mutant (the ½ on w doubled, w dropped, a flipped Hessian sign, …)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from empirics import formulas
from theory import alignment, helpfulness, response, tradeoff

RNG_SEED = 20261204


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _cases(n: int = 6) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]]:
    """(z, g, w, correct, ±1 scores) for K = 2..7 (moderate logits: direct softmax is exact)."""
    rng = np.random.default_rng(RNG_SEED)
    out = []
    for k in range(2, 2 + n):
        z = rng.normal(size=k) * 1.5
        g = rng.normal(size=k)
        w = rng.normal(size=k) * 2
        scores = np.where(rng.random(k) < 0.5, 1.0, -1.0)
        scores[0], scores[-1] = 1.0, -1.0
        out.append((z, g, w, int(rng.integers(k)), scores))
    return out


def _path(z: np.ndarray, g: np.ndarray, w: np.ndarray, r: float) -> np.ndarray:
    return z + r * g + 0.5 * r * r * w


def _fd(f: Callable[[float], float], h: float = 1e-3) -> tuple[float, float]:
    """First and half-second central differences with one Richardson step (error O(h⁴))."""
    def d(hh: float) -> tuple[float, float]:
        f0, fp, fm = f(0.0), f(hh), f(-hh)
        return (fp - fm) / (2 * hh), (fp - 2 * f0 + fm) / (2 * hh * hh)
    (a1, a2), (b1, b2) = d(h), d(h / 2)
    return (4 * b1 - a1) / 3, (4 * b2 - a2) / 3


# ------------------------------------------------------------------ the independent checks
def check_shift_scale() -> bool:
    la, sg, be = np.array([0.0, 1.5, 4.0]), np.array([0.1, 0.04, 1.0]), np.array([[2.0], [0.5]])
    return bool(np.allclose(formulas.shift_scale(la, sg, be), la * sg * be, rtol=1e-15, atol=0))


def check_random_sigma() -> bool:
    """σ of a uniform direction: the std of its cosine with a fixed unit vector, by simulation."""
    rng = np.random.default_rng(RNG_SEED)
    ok = True
    for d in (3, 16, 64):
        x = rng.standard_normal((40_000, d))
        cos = x[:, 0] / np.linalg.norm(x, axis=1)
        var = float(np.mean(cos**2))
        se = float(np.std(cos**2) / math.sqrt(cos.size))
        ok &= abs(float(formulas.random_sigma(d)) ** 2 - var) < 5 * se
    return bool(ok)


def check_utility() -> bool:
    gain, loss, kappa = np.array([0.3, -0.1, 2.0]), np.array([0.05, 0.2, 0.0]), 3.0
    return bool(np.allclose(formulas.utility(gain, loss, kappa), gain - kappa * loss, atol=1e-15))


def check_margin_from_slope() -> bool:
    """Recover γλ from the central-difference slope of Theorem 1's tanh at 0."""
    ok = True
    for b0, gl in ((0.0, 0.7), (-0.8, 0.05), (0.95, 2.0)):
        h = 1e-5
        slope = (math.tanh(gl * h + math.atanh(b0)) - math.tanh(-gl * h + math.atanh(b0))) / (2 * h)
        ok &= abs(float(formulas.margin_from_slope(slope, b0)) - gl) < 1e-8 * (1 + gl)
    return bool(ok)


def check_behavior_response_curve() -> bool:
    grid = np.array([-2.0, -0.3, 0.0, 0.5, 1.7])
    ok = True
    for z, g, w, _, sc in _cases():
        direct = np.array([_softmax(_path(z, g, w, r)) @ sc for r in grid])
        linear = np.array([_softmax(z + r * g) @ sc for r in grid])
        ok &= np.allclose(formulas.behavior_response_curve(z, g, sc, grid, w), direct, atol=1e-13)
        ok &= np.allclose(formulas.behavior_response_curve(z, g, sc, grid), linear, atol=1e-13)
    return bool(ok)


def check_helpfulness_response_curve() -> bool:
    grid = np.array([-2.0, -0.3, 0.0, 0.5, 1.7])
    ok = True
    for z, g, w, c, _ in _cases():
        direct = np.array([_softmax(_path(z, g, w, r))[c] for r in grid])
        ok &= np.allclose(formulas.helpfulness_response_curve(z, g, c, grid, w), direct, atol=1e-14)
        ok &= np.allclose(formulas.response_curve(z, c, g, w, grid), direct, atol=1e-14)
    return bool(ok)


def check_paper_tanh() -> bool:
    r = np.linspace(-3, 3, 13)
    return bool(np.allclose(formulas.paper_tanh(r, 0.4, -0.2), np.tanh(0.4 * r - 0.2), atol=1e-15))


def check_paper_helpfulness() -> bool:
    """Theorem 2′'s quadratic spread form (its own lambdified object) at a = (1−P0)/P0, b = s;
    the A–D form as 0.5 x + 0.25."""
    r = np.linspace(-3, 3, 13)
    p0, s = 0.7, 0.4
    quad = helpfulness.spread_bound_quadratic_value(p0, s, r)
    plain = formulas.paper_helpfulness(r, (1 - p0) / p0, s)
    four = formulas.paper_helpfulness(r, (1 - p0) / p0, s, options=4)
    return bool(np.allclose(plain, quad, atol=1e-15) and np.allclose(four, 0.5 * quad + 0.25,
                                                                     atol=1e-15))


def check_response_remainder() -> bool:
    """A map with exact Taylor terms: h(r) = h0 + rΔ + (r²/2)Δ₂ + r³ c."""
    rng = np.random.default_rng(RNG_SEED)
    h0, dl, d2, c = (rng.normal(size=(5, 7)) for _ in range(4))
    r = np.array([0.1, -0.2, 0.5, 1.0, 2.0])
    hr = h0 + r[:, None] * dl + 0.5 * r[:, None] ** 2 * d2 + r[:, None] ** 3 * c
    second = formulas.response_remainder(hr, h0, dl, r, d2)
    first = formulas.response_remainder(hr, h0, dl, r)
    want1 = np.linalg.norm(0.5 * r[:, None] ** 2 * d2 + r[:, None] ** 3 * c, axis=1)
    return bool(np.allclose(second, np.abs(r) ** 3 * np.linalg.norm(c, axis=1), rtol=1e-12)
                and np.allclose(first, want1, rtol=1e-12))


def check_helpfulness_response_coefficients() -> bool:
    ok = True
    for z, g, w, c, _ in _cases():
        fd1, fd2 = _fd(lambda r, z=z, g=g, w=w, c=c: float(_softmax(_path(z, g, w, r))[c]))
        c1, c2 = formulas.helpfulness_response_coefficients(_softmax(z), c, g, w)
        old1, old2 = formulas.response_coefficients(_softmax(z), c, g, w)
        ok &= abs(float(c1) - fd1) < 1e-9 and abs(float(c2) - fd2) < 1e-7
        ok &= old1 == float(c1) and old2 == float(c2)
    return bool(ok)


def check_behavior_response_coefficients_2r() -> bool:
    ok = True
    for z, g, w, _, sc in _cases():
        fd1, fd2 = _fd(lambda r, z=z, g=g, w=w, sc=sc: float(_softmax(_path(z, g, w, r)) @ sc))
        c1, c2 = formulas.behavior_response_coefficients_2r(_softmax(z), sc, g, w)
        ok &= abs(float(c1) - fd1) < 1e-9 and abs(float(c2) - fd2) < 1e-7
    return bool(ok)


def check_theorem1_second_order() -> bool:
    """Two outcomes on an exactly quadratic logit path: the curve is B_r itself, every r."""
    grid = np.linspace(-3, 3, 25)
    ok = True
    for z, g, w, _, _ in _cases():
        z2, g2, w2, sc = z[:2], g[:2], w[:2], np.array([1.0, -1.0])
        b0 = float(_softmax(z2) @ sc)
        exact = np.array([_softmax(_path(z2, g2, w2, r)) @ sc for r in grid])
        curve = formulas.theorem1_second_order(grid, b0, (g2[0] - g2[1]) / 2, w2[0] - w2[1])
        ok &= np.allclose(curve, exact, atol=1e-12)
    return bool(ok)


def check_departure_radius() -> bool:
    """Against a dense brute-force scan of |second-order − linear| typed here."""
    ok = True
    for b0, gl, wg, tol in ((0.2, 0.5, -1.0, 0.05), (-0.6, 0.2, 0.3, 0.02), (0.0, 1.0, 2.0, 0.01),
                            (0.9, 0.1, -0.05, 0.1)):
        r = np.linspace(1e-4, 40, 400_001)
        x = math.atanh(b0) + gl * r
        gap = np.abs(np.tanh(x + wg * r * r / 4) - np.tanh(x))
        hit = np.flatnonzero(gap >= tol)
        want = r[hit[0]] if hit.size else math.inf
        got = float(formulas.departure_radius(b0, gl, wg, tol))
        ok &= (math.isinf(want) and math.isinf(got)) or abs(got - want) <= 2e-4
    return bool(ok)


def _utility_max(slope: float, quad: float) -> tuple[float, float]:
    res = minimize_scalar(lambda r: -(slope * r + quad * r * r), bounds=(0, 1e3),
                          method="bounded", options={"xatol": 1e-12})
    return float(res.x), -float(res.fun)


def check_general_response_optimum() -> bool:
    """r*, U* by numerical maximisation; break-even as the root of U; validity against radius;
    the degenerate branches by the sign of U on small r."""
    ok = True
    for g1, l1, g2, l2, kappa in ((0.3, 0.05, -0.1, 0.2, 2.0), (1.0, -0.5, 0.4, 0.6, 1.0)):
        slope, quad = g1 - kappa * l1, g2 - kappa * l2
        r_num, u_num = _utility_max(slope, quad)
        res = formulas.general_response_optimum(g1, l1, g2, l2, kappa, radius=0.9 * r_num)
        ok &= abs(res.r_star - r_num) < 1e-7 and abs(res.utility_star - u_num) < 1e-10
        ok &= abs(slope * res.break_even + quad * res.break_even**2) < 1e-12 and not res.valid
        ok &= formulas.general_response_optimum(g1, l1, g2, l2, kappa, radius=1.1 * r_num).valid
        ok &= not formulas.general_response_optimum(g1, l1, g2, l2, kappa).valid
    small = np.geomspace(1e-9, 1e-3, 7)
    for args in ((0.1, 0.2, 0.0, 0.1, 1.0), (0.0, 0.0, 0.3, 0.1, 1.0), (0.0, 0.0, -0.1, 0.1, 1.0),
                 (0.2, 0.1, 0.5, 0.1, 1.0)):
        g1, l1, g2, l2, kappa = args
        u = (g1 - kappa * l1) * small + (g2 - kappa * l2) * small**2
        exists = bool(np.all(u > 0))
        ok &= formulas.efficient_regime_exists(*args) == exists
        r_star = formulas.general_response_optimum(*args).r_star
        ok &= (r_star == 0.0) == (not exists)
    return bool(ok)


CHECKS: dict[str, Callable[[], bool]] = {
    "shift_scale": check_shift_scale,
    "random_sigma": check_random_sigma,
    "utility": check_utility,
    "margin_from_slope": check_margin_from_slope,
    "behavior_response_curve": check_behavior_response_curve,
    "helpfulness_response_curve": check_helpfulness_response_curve,
    "paper_tanh": check_paper_tanh,
    "paper_helpfulness": check_paper_helpfulness,
    "response_remainder": check_response_remainder,
    "helpfulness_response_coefficients": check_helpfulness_response_coefficients,
    "behavior_response_coefficients_2r": check_behavior_response_coefficients_2r,
    "theorem1_second_order": check_theorem1_second_order,
    "departure_radius": check_departure_radius,
    "general_response_optimum": check_general_response_optimum,
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_wrapper_matches_independent_computation(name: str) -> None:
    assert CHECKS[name]()


# ------------------------------------------------------------------------------ mutants
Fn = Callable[..., Any]


def _readout_mutant(kind: str) -> Callable[[Fn], Fn]:
    def make(original: Fn) -> Fn:
        def mutant(grad: Any, hess: Any, g: Any, w: Any, cov: Any = None) -> Any:
            if kind == "w dropped":
                return original(grad, hess, g, None, cov)
            if kind == "half on w doubled":
                return original(grad, hess, g, None if w is None else 2 * np.asarray(w), cov)
            h = np.array(hess, dtype=float)
            off = ~np.eye(h.shape[-1], dtype=bool)
            h[..., off] *= -1  # the Hessian's off-diagonal sign flipped
            return original(grad, h, g, w, cov)
        return mutant
    return make


def _optimum_mutant(original: Fn) -> Fn:
    def mutant(*args: float, radius: float | None = None) -> tradeoff.Tradeoff:
        t = original(*args, radius=radius)
        return tradeoff.Tradeoff(2 * t.r_star, t.utility_star, t.break_even, t.method, t.valid,
                                 t.note)
    return mutant


def _valid_mutant(original: Fn) -> Fn:
    def mutant(*args: float, radius: float | None = None) -> tradeoff.Tradeoff:
        return original(*args, radius=None if radius is None else 2 * radius)  # 2·radius
    return mutant


def _w_times(factor: float, w_position: int) -> Callable[[Fn], Fn]:
    """The argument at ``w_position`` (a w, Δ₂ or w_gap) scaled by ``factor`` (0: dropped)."""
    def make(original: Fn) -> Fn:
        def mutant(*args: Any) -> Any:
            args_ = list(args) + [None] * (w_position + 1 - len(args))
            if args_[w_position] is not None:
                args_[w_position] = factor * np.asarray(args_[w_position])
            return original(*args_)
        return mutant
    return make


#: (check, theory module, attribute, mutant factory: original -> replacement); each mutant
#: must make its check fail.
MUTANTS: dict[str, tuple[str, object, str, Callable[[Fn], Fn]]] = {
    "shift_scale without beta": ("shift_scale", helpfulness, "shift_scale",
                                 lambda f: lambda la, sg, be: f(la, sg, 1.0)),
    "random_sigma 1/d": ("random_sigma", helpfulness, "random_sigma", lambda f: lambda d: f(d) ** 2),
    "utility G + kL": ("utility", tradeoff, "utility_value",
                       lambda f: lambda gain, loss, kappa: f(gain, -np.asarray(loss), kappa)),
    "margin slope/(1 - B0)": ("margin_from_slope", alignment, "margin_from_slope",
                              lambda f: lambda sl, b0: f(sl, b0) * (1 + np.asarray(b0))),
    "B curve, half on w doubled": ("behavior_response_curve", alignment, "response_curve",
                                   _w_times(2.0, 4)),
    "P curve, w dropped": ("helpfulness_response_curve", helpfulness, "response_curve",
                           _w_times(0.0, 4)),
    "paper tanh without b": ("paper_tanh", alignment, "paper_form",
                             lambda f: lambda r, a, b: f(r, a, 0.0)),
    "paper helpfulness b not squared": ("paper_helpfulness", helpfulness, "paper_form",
                                        lambda f: lambda r, a, b, options=None: f(
                                            r, a, np.sqrt(np.abs(b)), options)),
    "remainder, half on delta2 dropped": ("response_remainder", response, "remainder",
                                          _w_times(2.0, 4)),
    "P coefficients, w dropped": ("helpfulness_response_coefficients", response,
                                  "readout_coefficients", _readout_mutant("w dropped")),
    "P coefficients, half on w doubled": ("helpfulness_response_coefficients", response,
                                          "readout_coefficients", _readout_mutant("half on w doubled")),
    "P coefficients, Hessian off-diagonal flipped": ("helpfulness_response_coefficients", response,
                                                     "readout_coefficients", _readout_mutant("flip")),
    "B coefficients, w dropped": ("behavior_response_coefficients_2r", response,
                                  "readout_coefficients", _readout_mutant("w dropped")),
    "B coefficients, half on w doubled": ("behavior_response_coefficients_2r", response,
                                          "readout_coefficients", _readout_mutant("half on w doubled")),
    "B coefficients, Hessian off-diagonal flipped": ("behavior_response_coefficients_2r", response,
                                                     "readout_coefficients", _readout_mutant("flip")),
    "Theorem 1 second order, r^2/2": ("theorem1_second_order", alignment, "second_order_curve",
                                      _w_times(2.0, 3)),
    "departure with w doubled": ("departure_radius", alignment, "departure_radius",
                                 _w_times(2.0, 2)),
    "optimum 2 r*": ("general_response_optimum", tradeoff, "general_response", _optimum_mutant),
    "validity against 2 radius": ("general_response_optimum", tradeoff, "general_response",
                                  _valid_mutant),
    "efficient regime with >=": ("general_response_optimum", tradeoff, "efficient_regime_exists",
                                 lambda f: lambda g1, l1, g2, l2, kappa: bool(g1 - kappa * l1 >= 0)),
}


def test_every_wrapper_has_a_mutant() -> None:
    assert {check for check, *_ in MUTANTS.values()} == set(CHECKS)


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_check_fails_on_mutant(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check, module, attr, make = MUTANTS[name]
    monkeypatch.setattr(module, attr, make(getattr(module, attr)))
    assert not CHECKS[check](), f"{check} did not catch the mutant {name!r}"


def test_response_coefficients_same_numbers_as_the_hand_composition() -> None:
    """The re-pointed ``response_coefficients`` equals v2's composition (Theorem 2's actual
    coefficients of g plus half the first-order coefficient of g2)."""
    for z, g, w, c, _ in _cases():
        p = _softmax(z)
        c1, c2 = formulas.response_coefficients(p, c, g, w)
        a1, a2 = formulas.actual_coefficients(p, c, g)
        d1, _ = formulas.actual_coefficients(p, c, w)
        assert c1 == pytest.approx(a1, abs=1e-15) and c2 == pytest.approx(a2 + 0.5 * d1, abs=1e-15)


def test_batched_coefficients_equal_row_by_row() -> None:
    rng = np.random.default_rng(RNG_SEED)
    p = _softmax(rng.normal(size=(4, 5)))
    g, w = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    sc = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    c1, c2 = formulas.helpfulness_response_coefficients(p, 2, g, w)
    b1, b2 = formulas.behavior_response_coefficients_2r(p, sc, g, w)
    assert c1.shape == c2.shape == b1.shape == (4,)
    for i in range(4):
        r1, r2 = formulas.helpfulness_response_coefficients(p[i], 2, g[i], w[i])
        s1, s2 = formulas.behavior_response_coefficients_2r(p[i], sc, g[i], w[i])
        got = [float(x) for x in (c1[i], c2[i], b1[i], b2[i])]
        assert got == pytest.approx([float(x) for x in (r1, r2, s1, s2)], abs=1e-15)
