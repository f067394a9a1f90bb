"""Theorem 1: symbols, sympy series, the numeric bound, margins, hypothesis search, bad input."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import alignment, symbols
from theory.symbols import B_0, epsilon, lam, r_e

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)


def test_symbol_assumptions() -> None:
    assert all(getattr(symbols, n).is_real for n in symbols.__all__)
    for name in ("lam", "P_0", "sigma", "beta", "epsilon"):
        assert getattr(symbols, name).is_positive, name
    assert symbols.kappa.is_nonnegative and symbols.alpha.is_positive is None
    assert symbols.r_e.is_positive is None and symbols.B_0.is_positive is None


def test_series_matches_linear_gain_and_second_order() -> None:
    series = sp.series(alignment.bound, r_e, 0, 3).removeO()
    assert sp.simplify(series.coeff(r_e, 0) + series.coeff(r_e, 1) * r_e - alignment.linear_gain) == 0
    assert sp.simplify(series.coeff(r_e, 2) * r_e**2 - alignment.second_order_term) == 0
    # and the printed second-order term is the one THEORY.md states
    assert sp.simplify(alignment.second_order_term + lam**2 * B_0 * (1 - B_0**2) * r_e**2) == 0


def test_guarantee_coefficient_solves_bound_equals_one_minus_eps() -> None:
    at = alignment.bound.subs(r_e, alignment.guarantee_coefficient)
    assert sp.simplify(at - (1 - epsilon)) == 0
    assert set(alignment.guarantee_coefficient.free_symbols) == {B_0, lam, epsilon}


def test_evaluate_matches_lambdified_sympy_and_hand_numpy() -> None:
    rng = np.random.default_rng(0)
    r, b0, la = rng.normal(size=50) * 3, rng.uniform(-0.99, 0.99, 50), rng.uniform(0.01, 4, 50)
    lamb = sp.lambdify((r_e, B_0, lam), alignment.bound, "numpy")
    hand = (np.exp(2 * (la * r + 0.5 * np.log((1 + b0) / (1 - b0)))) - 1) / (
        np.exp(2 * (la * r + 0.5 * np.log((1 + b0) / (1 - b0)))) + 1)
    np.testing.assert_allclose(alignment.evaluate(r, b0, la), lamb(r, b0, la), atol=1e-14)
    np.testing.assert_allclose(alignment.evaluate(r, b0, la), hand, atol=1e-12)
    eps = rng.uniform(0.001, 1.5, 50)
    np.testing.assert_allclose(alignment.evaluate(alignment.guarantee(b0, la, eps), b0, la), 1 - eps,
                               atol=1e-9)


def test_margin() -> None:
    g = np.array([[3.0, 1.0, -1.0, 0.0], [1.0, 2.0, 0.0, 0.5]])
    np.testing.assert_allclose(alignment.margin(g, [0, 1]), [0.5, 0.25])
    np.testing.assert_allclose(alignment.margin(g, np.array([True, True, False, False])), [0.5, 0.25])
    assert alignment.margin(np.array([0.0, 1.0]), [0]) == -0.5  # certifies nothing


def _bound_check(logits: np.ndarray, pos: np.ndarray, g: np.ndarray, la: float,
                 r: float) -> tuple[float, float, float]:
    b0 = float(alignment.behavior(logits, pos))
    b = float(alignment.behavior(logits + r * g, pos))
    bnd = float(alignment.evaluate(r, b0, la))
    return b, bnd, 1e-12 + 1e-15 / (1 - b0**2)


@st.composite
def _models(draw):  # type: ignore[no-untyped-def]
    k = draw(st.integers(2, 6))
    logits = np.array(draw(st.lists(st.floats(-8, 8), min_size=k, max_size=k)))
    n_pos = draw(st.integers(1, k - 1))
    perm = draw(st.permutations(range(k)))
    pos = np.zeros(k, dtype=bool)
    pos[list(perm[:n_pos])] = True
    la = draw(st.floats(0.01, 3.0))
    extra = np.array(draw(st.lists(st.floats(0, 3), min_size=k, max_size=k)))
    base = draw(st.floats(-5, 5))
    g = base + np.where(pos, la + extra, -la - extra)  # margin >= 2λ by construction
    return logits, pos, g, la


@SETTINGS
@given(_models(), st.floats(0, 20))
def test_theorem1_nonnegative_r(model, r) -> None:  # type: ignore[no-untyped-def]
    logits, pos, g, la = model
    assert alignment.margin(g, pos) >= la - 1e-12
    b, bnd, tol = _bound_check(logits, pos, g, la, r)
    assert b >= bnd - tol


@SETTINGS
@given(_models(), st.floats(-20, 0))
def test_theorem1_mirrored_nonpositive_r(model, r) -> None:  # type: ignore[no-untyped-def]
    logits, pos, g, la = model
    b, bnd, tol = _bound_check(logits, pos, g, la, r)
    assert b <= bnd + tol


@SETTINGS
@given(_models(), st.floats(0.01, 5))
def test_theorem1_fails_without_margin(model, r) -> None:  # type: ignore[no-untyped-def]
    """Claiming a λ twice the certified one must be refuted in the equality configuration."""
    logits, pos, _, la = model
    g = np.where(pos, la, -la)
    b, bnd, _ = _bound_check(logits, pos, g, 2 * la, r)
    assert b < bnd


def test_theorem1_equality_case_exact() -> None:
    """Equal shifts on each side with gap exactly 2λ: equality, checked at 50 digits."""
    mpmath.mp.dps = 50
    z = [mpmath.mpf("0.3"), mpmath.mpf("-1.2"), mpmath.mpf("2.0"), mpmath.mpf("0.1")]
    pos = [True, False, True, False]
    la, r = mpmath.mpf("0.7"), mpmath.mpf("1.3")

    def bval(shift: mpmath.mpf) -> mpmath.mpf:
        w = [mpmath.exp(zi + shift * (la if p else -la)) for zi, p in zip(z, pos, strict=True)]
        sp_ = sum(wi for wi, p in zip(w, pos, strict=True) if p)
        sm = sum(wi for wi, p in zip(w, pos, strict=True) if not p)
        return (sp_ - sm) / (sp_ + sm)

    b0, br = bval(mpmath.mpf(0)), bval(r)
    assert abs(br - mpmath.tanh(la * r + mpmath.atanh(b0))) < mpmath.mpf(10) ** -45
    # and float64 through the package
    zf, pf = np.array([float(v) for v in z]), np.array(pos)
    b, bnd, _ = _bound_check(zf, pf, np.where(pf, 0.7, -0.7), 0.7, 1.3)
    assert abs(b - bnd) < 1e-14


@pytest.mark.parametrize("kwargs, word", [
    ({"r_e": 0.0, "B0": 1.0, "lam": 1.0}, "B0"),
    ({"r_e": 0.0, "B0": -1.5, "lam": 1.0}, "B0"),
    ({"r_e": 0.0, "B0": 0.1, "lam": 0.0}, "lam"),
    ({"r_e": 0.0, "B0": 0.1, "lam": -2.0}, "lam"),
    ({"r_e": math.inf, "B0": 0.1, "lam": 1.0}, "r_e"),
    ({"r_e": [0.0, math.nan], "B0": 0.1, "lam": 1.0}, "r_e"),
])
def test_evaluate_bad_input(kwargs, word) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=word):
        alignment.evaluate(**kwargs)


def test_bad_input_other() -> None:
    with pytest.raises(ValueError, match="epsilon"):
        alignment.guarantee(0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="positive"):
        alignment.margin([1.0, 2.0], [0, 1])
    with pytest.raises(ValueError, match="positive"):
        alignment.margin([1.0, 2.0], [5])
    with pytest.raises(ValueError, match="shifts"):
        alignment.margin([1.0, math.inf], [0])


def test_statement_prints() -> None:
    assert "tanh" in str(alignment.THEOREM) and "\\tanh" in alignment.THEOREM.latex
    assert alignment.THEOREM._repr_latex_().startswith("$")
