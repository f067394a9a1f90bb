"""Symbols carry their ranges; Statement has lhs/rhs/subs/LaTeX; STATEMENTS; torch-free import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sympy as sp

import theory
from theory import alignment, helpfulness, symbols, tradeoff
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
    assert len(names) == len(set(names)) == 8
    assert alignment.EQUALITY in theory.STATEMENTS and helpfulness.THEOREM_GENERAL in theory.STATEMENTS
    assert tradeoff.THEOREM in theory.STATEMENTS and helpfulness.THEOREM_PRIME in theory.STATEMENTS
    for s in theory.STATEMENTS + theory.SUPPLEMENTARY:
        assert isinstance(s.expr, sp.Rel)


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
