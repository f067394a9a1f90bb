"""Input checks and the printable ``Statement`` shared by the theory modules.

Every public numeric function validates its arguments here: bad input raises ``ValueError``
whose message names the argument and the allowed range (no silent clipping).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

PROB_TOL = 1e-6  # how far sum(p) may be from 1 (probabilities usually come from float32 softmax)


def finite(name: str, x: Any) -> np.ndarray:
    """``x`` as a float64 array; every entry must be finite."""
    arr = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (allowed range: (-inf, inf)), got {x!r}")
    return arr


def open_interval(name: str, x: Any, lo: float, hi: float) -> np.ndarray:
    arr = finite(name, x)
    if not np.all((arr > lo) & (arr < hi)):
        raise ValueError(f"{name} must lie in the open interval ({lo:g}, {hi:g}), got {x!r}")
    return arr


def positive(name: str, x: Any) -> np.ndarray:
    arr = finite(name, x)
    if not np.all(arr > 0):
        raise ValueError(f"{name} must be > 0 (allowed range: (0, inf)), got {x!r}")
    return arr


def nonnegative(name: str, x: Any) -> np.ndarray:
    arr = finite(name, x)
    if not np.all(arr >= 0):
        raise ValueError(f"{name} must be >= 0 (allowed range: [0, inf)), got {x!r}")
    return arr


def prob_vector(name: str, p: Any, tol: float = PROB_TOL) -> np.ndarray:
    """A 1-D probability vector: entries >= 0 summing to 1 within ``tol``; returned as given."""
    arr = finite(name, p)
    if arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"{name} must be a non-empty 1-D probability vector, got shape {arr.shape}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must have entries in [0, 1] (got a negative entry: {arr.min():g})")
    if abs(arr.sum() - 1.0) > tol:
        raise ValueError(f"{name} must sum to 1 (tolerance {tol:g}), got sum {arr.sum():.10g}")
    return arr


def prob_rows(name: str, p: Any, tol: float = PROB_TOL) -> np.ndarray:
    """Probability vectors along the last axis (any leading shape): entries >= 0, each row
    summing to 1 within ``tol``; returned as given."""
    arr = finite(name, p)
    if arr.ndim < 1 or arr.shape[-1] < 1:
        raise ValueError(f"{name} must have a last axis of probabilities, got shape {arr.shape}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must have entries in [0, 1] (got a negative entry: {arr.min():g})")
    sums = arr.sum(axis=-1)
    if np.any(np.abs(sums - 1.0) > tol):
        worst = float(sums.flat[int(np.argmax(np.abs(sums - 1.0)))])
        raise ValueError(f"{name} must sum to 1 along the last axis (tolerance {tol:g}), "
                         f"got a row summing to {worst:.10g}")
    return arr


def index(name: str, i: Any, k: int) -> int:
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
        raise ValueError(f"{name} must be an integer index in [0, {k - 1}], got {i!r}")
    if not 0 <= int(i) < k:
        raise ValueError(f"{name} must be an index in [0, {k - 1}], got {i!r}")
    return int(i)


@dataclass(frozen=True)
class Statement:
    """A theorem as a sympy relation, printable in a REPL (pretty text) and as LaTeX.

    ``lhs``/``rhs`` are the two sides of the relation, ``subs(...)`` returns the statement with
    a substitution applied (same arguments as sympy's ``subs``), ``latex`` its LaTeX source.
    """

    name: str
    expr: sp.Basic
    condition: str

    @property
    def lhs(self) -> sp.Expr:
        return self.expr.lhs  # type: ignore[attr-defined, no-any-return]

    @property
    def rhs(self) -> sp.Expr:
        return self.expr.rhs  # type: ignore[attr-defined, no-any-return]

    def subs(self, *args: Any, **kwargs: Any) -> Statement:
        """The statement with ``expr.subs(*args, **kwargs)``; the condition is kept as text."""
        return Statement(self.name, self.expr.subs(*args, **kwargs), self.condition)

    @property
    def latex(self) -> str:
        return sp.latex(self.expr)

    def _repr_latex_(self) -> str:  # Jupyter
        return f"${self.latex}$"

    def __str__(self) -> str:
        return f"{self.name} ({self.condition}):\n{sp.pretty(self.expr, use_unicode=True)}"

    def __repr__(self) -> str:
        return f"Statement({self.name!r}: {sp.sstr(self.expr)}, if {self.condition})"


def solve_in_range(eq: sp.Basic, x: sp.Symbol, ranges: dict[sp.Symbol, sp.Interval]) -> list[sp.Expr]:
    """The roots of ``eq`` in ``x`` that are real and in ``ranges[x]`` whenever every symbol lies
    in its range (checked at sample points of the ranges); sympy's ``solve`` alone keeps complex
    branches because assumptions cannot say, e.g., ``epsilon < 2``."""
    dom = ranges.get(x, sp.S.Reals)
    roots = sp.solve(eq, x)
    free = sorted(set().union(*(sp.sympify(r).free_symbols for r in roots)) - {x}, key=str)
    samples = []
    for frac in (sp.Rational(1, 3), sp.Rational(1, 2), sp.Rational(5, 7)):
        point = {}
        for s in free:
            iv = ranges.get(s, sp.Interval.open(0, 1))
            lo = iv.inf if iv.inf.is_finite else -sp.Integer(3)
            hi = iv.sup if iv.sup.is_finite else lo + 5
            point[s] = lo + frac * (hi - lo)
        samples.append(point)
    keep = []
    for root in roots:
        vals = [complex(sp.N(sp.sympify(root).subs(pt))) for pt in samples]
        if all(abs(v.imag) < 1e-12 and dom.contains(sp.Float(v.real)) == sp.true for v in vals):
            keep.append(sp.simplify(root))
    return keep
