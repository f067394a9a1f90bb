"""Index symbols and indexed families shared by the proofs (not theory symbols)."""

from __future__ import annotations

import sympy as sp

i: sp.Symbol = sp.Symbol("i", integer=True, positive=True)
j: sp.Symbol = sp.Symbol("j", integer=True, positive=True)
n: sp.Symbol = sp.Symbol("n", integer=True, positive=True)
k: sp.Symbol = sp.Symbol("k", integer=True, positive=True)
x: sp.Symbol = sp.Symbol("x", real=True)
xp: sp.Symbol = sp.Symbol("x", positive=True)


def total(expr: sp.Expr, index: sp.Symbol = i, upper: sp.Expr = n) -> sp.Sum:
    """``Sum(expr, (index, 1, upper))``."""
    return sp.Sum(expr, (index, 1, upper))
