"""Symbols carry their ranges; Statement has lhs/rhs/subs/LaTeX; STATEMENTS; torch-free import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sympy as sp

import theory
from theory import alignment, helpfulness, response, symbols, tradeoff
from theory.symbols import B_0, RANGES, epsilon, gamma, lam, r_e

REPO = Path(__file__).resolve().parents[2]


def test_symbol_assumptions_and_ranges() -> None:
    scalars = [getattr(symbols, n) for n in symbols.__all__
               if isinstance(getattr(symbols, n), sp.Symbol) and n not in ("a", "b", "c")]
    for s in scalars:
        assert s.is_real, s
        assert s in RANGES, s
    for s in (symbols.gamma, symbols.lam, symbols.P_0, symbols.sigma, symbols.beta,
              symbols.epsilon, symbols.d, symbols.K):
        assert s.is_positive, s
    # v3: measured or predicted slopes and curvatures have either sign
    for s in (symbols.g_1, symbols.ell_1, symbols.g_2, symbols.ell_2, symbols.w_gap):
        assert s.is_real and s.is_positive is None and RANGES[s] == sp.Interval(-sp.oo, sp.oo), s
    assert symbols.lam.name == "lambda" and symbols.gamma.name == "gamma"
    assert symbols.kappa.is_nonnegative and symbols.alpha.is_positive is None
    assert symbols.Q.is_nonnegative and symbols.R.is_nonnegative
    assert symbols.d.is_integer and symbols.K.is_integer
    assert RANGES[B_0] == sp.Interval.open(-1, 1) and RANGES[epsilon] == sp.Interval.open(0, 2)
    assert RANGES[symbols.P_0] == sp.Interval.open(0, 1)


def test_statement_lhs_rhs_subs_latex() -> None:
    st = alignment.THEOREM
    assert st.lhs == alignment.B_r and st.rhs == alignment.bound
    half = st.subs(B_0, 0)
    assert half.rhs == sp.tanh(gamma * lam * r_e) and half.name == st.name
    assert "\\tanh" in st.latex and st._repr_latex_() == f"${st.latex}$"
    assert "Theorem 1" in repr(st) and "r_e ≥ 0" in str(st)


def test_statements_registry() -> None:
    names = [s.name for s in theory.STATEMENTS]
    assert len(names) == len(set(names)) == 29
    assert alignment.EQUALITY in theory.STATEMENTS and helpfulness.THEOREM_GENERAL in theory.STATEMENTS
    assert tradeoff.THEOREM in theory.STATEMENTS and helpfulness.THEOREM_PRIME in theory.STATEMENTS
    for v3 in (response.PROPOSITION_1_SECOND, response.THEOREM_2R, helpfulness.THEOREM_2R,
               alignment.THEOREM_2R, alignment.THEOREM_SECOND, tradeoff.THEOREM_RESPONSE,
               tradeoff.REGIME, tradeoff.RATIO_FINITE, helpfulness.THEOREM_RANDOM):
        assert v3 in theory.STATEMENTS
    assert theory.SUPPLEMENTARY == ()
    for s in theory.STATEMENTS + theory.SUPPLEMENTARY:
        assert isinstance(s.expr, sp.Rel)
        for cond in s.assumes:
            assert isinstance(cond, sp.Rel)


def test_new_statements_behave_like_the_old_ones() -> None:
    """v3 objects: .lhs/.rhs, .subs (conditions follow), LaTeX and the Jupyter repr."""
    st = alignment.THEOREM_SECOND
    assert st.lhs == alignment.B_r and st.rhs.removeO() == alignment.second_order_bound
    flat = st.subs(symbols.w_gap, 0)
    assert flat.rhs.removeO() == alignment.bound and flat.name == st.name
    assert "\\tanh" in st.latex and st._repr_latex_() == f"${st.latex}$"
    opt = tradeoff.THEOREM_RESPONSE.subs({symbols.ell_1: 0, symbols.g_2: 0})
    assert sp.simplify(opt.rhs - tradeoff.general_optimum) == 0
    assert opt.assumes[0] == sp.Gt(symbols.g_1, 0)
    assert "Theorem 2R" in repr(helpfulness.THEOREM_2R) and "O(r_e**3)" in repr(response.THEOREM_2R)


def test_guarantee_solved_for_r_e_gives_one_root() -> None:
    roots = theory.solve(sp.Eq(alignment.bound, 1 - epsilon), r_e)
    assert len(roots) == 1
    assert len(sp.solve(sp.Eq(alignment.bound, 1 - epsilon), r_e)) == 2  # without the ranges
    val = {B_0: sp.Rational(-1, 2), gamma: 1, lam: 1, epsilon: sp.Rational(1, 20)}
    assert abs(float(roots[0].subs(val)) - 2.3811) < 1e-4


def test_import_does_not_load_torch() -> None:
    code = "import sys, theory, theory.helpfulness, theory.tradeoff; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
