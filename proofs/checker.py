"""The symbolic decision procedures of the proof checker: zero tests and sign decisions by
sympy (never numeric), and the normal form ``E >= 0`` of a relation."""

from __future__ import annotations

import random
from collections.abc import Callable

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.simplify.simplify import factor_sum, sum_simplify

Checker = Callable[[sp.Expr], bool]

#: LaTeX of each relation accepted in hypotheses and inequality steps.
RELS_LATEX: dict[str, str] = {">=": r"\ge", "<=": r"\le", "==": "=", ">": ">", "<": "<"}


def normal_form(lhs: sp.Expr, rel: str, rhs: sp.Expr) -> sp.Expr:
    """The expression E with ``lhs rel rhs`` iff ``E >= 0``."""
    if rel in (">=", ">"):
        return sp.sympify(lhs - rhs)
    if rel in ("<=", "<"):
        return sp.sympify(rhs - lhs)
    if rel == "==":
        if sp.sympify(rhs).is_infinite or sp.sympify(lhs).is_infinite:
            # lhs − ∞ would evaluate to −∞ whatever lhs is: keep the relation's sides
            return sp.Add(lhs, -rhs, evaluate=False)
        return sp.sympify(lhs - rhs)
    raise ValueError(f"rel must be '>=', '<=' or '==', got {rel!r}")


def atomize(expr: sp.Expr) -> sp.Expr:
    """Replace each symbolic sum by a fresh symbol carrying the sum's sign.

    Sound for identities and sign facts: a statement proved for every positive (or real)
    value of the new symbol holds in particular for the sum. It keeps simplify fast.
    """
    if not expr.has(sp.Sum):
        return expr
    # Canonical form first: expand the summand, pull index-free factors out of the sum.
    canon = {
        s: factor_sum(sp.Sum(sp.expand(s.function), *s.limits)) for s in expr.atoms(sp.Sum)
    }
    expr = expr.xreplace(canon)
    sums = sorted(expr.atoms(sp.Sum), key=sp.default_sort_key)
    reps = {}
    for idx, s in enumerate(sums):
        if s.is_positive:
            reps[s] = sp.Dummy(f"S{idx}", positive=True)
        elif s.is_real:
            reps[s] = sp.Dummy(f"S{idx}", real=True)
    return expr.xreplace(reps)


def integral_canon(expr: sp.Expr) -> sp.Expr:
    """Linearity of integrals: each ``∫ Σ_k c_k f_k dy`` becomes ``Σ_k c_k ∫ f_k dy`` with the
    factors ``c_k`` free of ``y`` pulled out."""
    def split(integral: sp.Integral) -> sp.Expr:
        if len(integral.limits) != 1:
            return integral
        var = integral.limits[0][0]
        out = sp.Integer(0)
        flat = sp.expand(integral.function, deep=False, power_exp=False, power_base=False,
                         log=False, multinomial=False)
        for term in sp.Add.make_args(flat):
            const, rest = term.as_independent(var, as_Add=False)
            # One canonical form of the integrand (sympy merges factors differently by route).
            c2, rest = sp.factor(sp.cancel(sp.powsimp(sp.together(rest)))).as_independent(
                var, as_Add=False)
            out += const * c2 * sp.Integral(rest, *integral.limits)
        return out
    return sp.sympify(expr).replace(lambda x: isinstance(x, sp.Integral), split)


def _elementary(integral: sp.Integral) -> bool:
    """Whether sympy may try to evaluate the integral (no rational function of exponentials)."""
    return not any(isinstance(x, sp.Pow) and x.exp.is_negative and isinstance(x.base, sp.Add)
                   and x.base.has(sp.exp) for x in sp.preorder_traversal(integral.function))


def is_zero(expr: sp.Expr | sp.MatrixBase) -> bool:
    """Symbolic zero test: simplify, with expand/trigsimp/rewrite fallbacks (never numeric)."""
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(e) for e in expr)
    e = sp.sympify(expr)
    if e == 0 or sp.expand(e) == 0:  # structural cancellation first (before limits are taken)
        return True
    if _clearly_nonzero(e):  # only ever rejects, and only sooner: never a pass on numbers
        return False
    if e.has(sp.Integral):
        flat = integral_canon(e)
        reps = {x: sp.Dummy("I") for x in flat.atoms(sp.Integral)}
        if _is_zero(flat.xreplace(reps)):
            return True
        if not all(_elementary(x) for x in e.atoms(sp.Integral)):
            return False
    if e.has(sp.Integral, sp.Subs, sp.Derivative, sp.Limit):
        e = e.doit()  # evaluated symbolically by sympy; an unevaluated object stays nonzero
    if e.has(sp.Sum):
        # Sums as opaque atoms first (fast); then whole, for identities by linearity of sums.
        if _is_zero(atomize(e)):
            return True
        # Linearity of sums: combine sums (cheaper than simplify on the whole expression).
        try:
            return bool(sp.cancel(sum_simplify(sp.expand(e))) == 0)
        except (TypeError, ValueError, NotImplementedError):
            return False
    return _is_zero(e)


_OPAQUE = (sp.Sum, sp.Integral, sp.Derivative, sp.Subs, sp.Limit, sp.Indexed, sp.Order,
           sp.Piecewise, sp.Max, sp.Min)


def _sample_point(symbols: set[sp.Symbol], rng: random.Random) -> dict[sp.Symbol, sp.Expr]:
    """Small values inside every symbol's assumed domain (and inside (−1, 1) for reals, where
    the package's artanh and log arguments live)."""
    point: dict[sp.Symbol, sp.Expr] = {}
    for x in symbols:
        if x.is_integer:
            point[x] = sp.Integer(rng.randint(1, 6))
        elif x.is_positive or x.is_nonnegative:
            point[x] = sp.Rational(rng.randint(20, 120), 100)
        else:
            point[x] = sp.Rational(rng.randint(-80, 80), 100) or sp.Rational(1, 7)
    return point


def _clearly_nonzero(e: sp.Expr) -> bool:
    """Whether an elementary expression (no sums, integrals, undefined functions, …) is far from
    0 at two sample points. Used only to fail a zero test sooner: a ``True`` here never makes a
    step pass; an expression it cannot evaluate is left to the symbolic attempts."""
    if e.has(*_OPAQUE) or e.atoms(AppliedUndef) or not e.free_symbols:
        return False
    rng = random.Random(20261204)
    for _ in range(2):
        try:
            value = complex(e.xreplace(_sample_point(e.free_symbols, rng)).evalf(30))
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return False
        if not (abs(value) > 1e-12 and abs(value) < 1e300):  # also rejects nan
            return False
    return True


def _is_zero(e: sp.Expr) -> bool:
    attempts: list[Callable[[sp.Expr], sp.Expr]] = [
        lambda x: x,
        lambda x: sp.expand(x),
        lambda x: sp.cancel(sp.together(x)),
        lambda x: sp.cancel(sp.together(sp.powsimp(sp.expand(x.rewrite(sp.exp))))),
        lambda x: sp.simplify(x.rewrite(sp.log)),
        lambda x: sp.simplify(x.rewrite(sp.exp)),
        sp.simplify,
        lambda x: sp.simplify(sp.expand_log(x)),
        lambda x: sp.trigsimp(x),
    ]
    for attempt in attempts:
        try:
            if attempt(e) == 0:
                return True
        except (TypeError, ValueError, NotImplementedError, AttributeError):
            continue
    return False


def _factor_nonneg(base: sp.Expr, exp: int) -> bool:
    if exp % 2 == 0 and base.is_real:
        return True
    return bool(base.is_nonnegative)


def decide_nonneg(expr: sp.Expr) -> bool:
    """Decide ``expr >= 0`` from sympy's assumption system, after normalising and factoring."""
    e = sp.sympify(expr)
    if e.has(sp.Integral) and not all(_elementary(x) for x in e.atoms(sp.Integral)):
        flat = integral_canon(e)
        e = flat.xreplace({x: sp.Dummy("I", real=True) for x in flat.atoms(sp.Integral)})
    if e.has(sp.Integral, sp.Subs, sp.Derivative, sp.Limit):
        e = e.doit()
    e = atomize(e)
    candidates = [e]
    transforms: list[Callable[[sp.Expr], sp.Expr]] = [
        sp.simplify,
        sp.expand,
        lambda x: sp.factor(sp.together(x)),
        lambda x: sp.factor(sp.together(sp.simplify(x.rewrite(sp.exp)))),
    ]
    for transform in transforms:
        try:
            candidates.append(transform(e))
        except (TypeError, ValueError, NotImplementedError):
            continue
    for cand in candidates:
        if cand.is_nonnegative:
            return True
        num, den = sp.fraction(sp.together(cand))
        try:
            c_num, f_num = sp.factor_list(num)
            c_den, f_den = sp.factor_list(den)
        except (sp.PolynomialError, NotImplementedError, TypeError):
            continue
        const = c_num / c_den
        if not const.is_nonnegative:
            continue
        if den == 0:
            continue
        if all(_factor_nonneg(b, k) for b, k in f_num) and all(
            (b.is_positive or (k % 2 == 0 and b.is_real and b.is_nonzero)) for b, k in f_den
        ):
            return True
    return False


__all__ = ["Checker", "RELS_LATEX", "normal_form", "atomize", "integral_canon", "is_zero",
           "decide_nonneg"]
