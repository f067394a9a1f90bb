"""Finite sums over symbolic index ranges: a canonical form for identities with Σ and δ.

``canon`` rewrites an expression with sympy ``Sum``s by the rules of finite sums only: linearity
(split over terms, pull out index-free factors), ``Σ_a δ_{a x} f(a) = f(x)`` when ``x`` is known
to lie in the summation range, ``Σ_a c = (hi − lo + 1) c``, ``δ² = δ``, and a canonical name for
every summation index. Two expressions are equal as identities of finite sums when their
canonical forms agree; ``sum_zero`` decides that, optionally using established equations whose
single sum atom is eliminated (e.g. ``Σ_a p_a = 1``). Nothing is checked numerically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sympy as sp

Range = tuple[sp.Expr, sp.Expr]


def _fix_delta(e: sp.Expr) -> sp.Expr:
    """δ^n = δ for n ≥ 1."""
    return e.replace(
        lambda x: isinstance(x, sp.Pow) and isinstance(x.base, sp.KroneckerDelta)
        and x.exp.is_integer and x.exp.is_positive,
        lambda x: x.base,
    )


def _expand(e: sp.Expr) -> sp.Expr:
    return _fix_delta(sp.expand(_fix_delta(sp.expand(e, power_exp=True))))


def _sum(f: sp.Expr, idx: sp.Symbol, lo: sp.Expr, hi: sp.Expr,
         ranges: Mapping[sp.Symbol, Range]) -> sp.Expr:
    """``Σ_{idx=lo}^{hi} f`` for a canonical summand ``f``."""
    out = []
    for term in sp.Add.make_args(_expand(f)):
        dep: list[sp.Expr] = []
        indep: list[sp.Expr] = []
        for factor in sp.Mul.make_args(term):
            (dep if idx in factor.free_symbols else indep).append(factor)
        rest = sp.Mul(*indep)
        if not dep:
            out.append(rest * (hi - lo + 1))
            continue
        sifted = None
        for factor in dep:
            if isinstance(factor, sp.KroneckerDelta) and idx in factor.args:
                other = factor.args[0] if factor.args[1] == idx else factor.args[1]
                if other != idx and ranges.get(other) == (lo, hi):
                    body = sp.Mul(*[x for x in dep if x is not factor])
                    sifted = rest * body.subs(idx, other)
                    break
        if sifted is not None:
            out.append(canon(sifted, ranges))
        else:
            out.append(rest * sp.Sum(sp.Mul(*dep), (idx, lo, hi)))
    return sp.Add(*out)


def _canon(e: sp.Expr, ranges: Mapping[sp.Symbol, Range]) -> sp.Expr:
    if isinstance(e, sp.Sum):  # Sum(f, (a, ..), (b, ..)) is Σ_b Σ_a f
        limits = list(e.limits)
        result = _canon(e.function, {**ranges, **{i: (lo, hi) for i, lo, hi in limits}})
        for k, (idx, lo, hi) in enumerate(limits):
            outer = {i: (lo2, hi2) for i, lo2, hi2 in limits[k + 1:]}
            result = _sum(result, idx, lo, hi, {**ranges, **outer})
        return result
    if not e.args or not e.has(sp.Sum):
        return e
    return e.func(*[_canon(a, ranges) for a in e.args])


def _rename(e: sp.Expr, depth: int = 0) -> sp.Expr:
    """Canonical summation-index names by nesting depth (bound names carry no meaning)."""
    if isinstance(e, sp.Sum):
        body = e.function
        limits = []
        for k, (idx, lo, hi) in enumerate(reversed(e.limits)):  # outermost first
            new = sp.Symbol(f"_i{depth + k}", integer=True)
            body = body.xreplace({idx: new})
            limits.append((new, lo, hi))
        body = _rename(body, depth + len(limits))
        return sp.Sum(body, *reversed(limits))
    if not e.args or not e.has(sp.Sum):
        return e
    return e.func(*[_rename(a, depth) for a in e.args])


def evaluate_derivatives(e: sp.Expr) -> sp.Expr:
    """Carry out ``Derivative`` and ``Subs`` nodes (sympy differentiation), leaving sums as sums."""
    e = e.replace(lambda n: isinstance(n, sp.Derivative),
                  lambda n: sp.diff(n.expr, *n.variable_count))
    return e.replace(lambda n: isinstance(n, sp.Subs),
                     lambda n: n.expr.subs(dict(zip(n.variables, n.point, strict=True))))


def canon(e: sp.Expr, ranges: Mapping[sp.Symbol, Range]) -> sp.Expr:
    """Canonical form of ``e`` under the rules of finite sums (module docstring).

    ``ranges`` maps each free index symbol to the range it is known to lie in.
    """
    e = evaluate_derivatives(sp.sympify(e))
    e = _canon(_expand(e), ranges)
    for _ in range(3):  # sifting can expose new sums to canonicalise
        new = _canon(_expand(e), ranges)
        if new == e:
            break
        e = new
    return _expand(_rename(_expand(e)))


def atoms_of(e: sp.Expr) -> list[sp.Sum]:
    return sorted(e.atoms(sp.Sum), key=sp.default_sort_key)


def _symmetrise(e: sp.Expr, symmetric: Sequence[sp.IndexedBase]) -> sp.Expr:
    return e.replace(
        lambda x: isinstance(x, sp.Indexed) and x.base in symmetric,
        lambda x: x.base[tuple(sorted(x.indices, key=sp.default_sort_key))])


def sum_zero(e: sp.Expr, ranges: Mapping[sp.Symbol, Range],
             equations: Sequence[sp.Expr] = (),
             symmetric: Sequence[sp.IndexedBase] = ()) -> bool:
    """Whether ``e = 0`` follows by the rules of finite sums and the given equations ``E = 0``.

    Each equation must contain exactly one sum atom, linearly; it is solved for that atom and
    substituted (a rewrite by an established equality). Families in ``symmetric`` are
    symmetric matrices (their two indices are put in a canonical order).
    """
    c = canon(e, ranges)
    if symmetric:
        c = canon(_symmetrise(c, symmetric), ranges)
    rules: dict[sp.Expr, sp.Expr] = {}
    for eq in equations:
        ce = canon(eq, ranges)
        atoms = atoms_of(ce)
        if len(atoms) != 1:
            continue
        t = sp.Dummy("t")
        poly = sp.expand(ce.xreplace({atoms[0]: t}))
        if sp.degree(poly, t) != 1:
            continue
        coeff = poly.coeff(t, 1)
        if coeff == 0:
            continue
        rules[atoms[0]] = sp.expand(-(poly - coeff * t) / coeff)
    for _ in range(len(rules) + 1):
        new = c.xreplace(rules) if rules else c
        new = canon(new, ranges)
        if new == c:
            break
        c = new
    reps = {s: sp.Dummy(f"S{k}") for k, s in enumerate(atoms_of(c))}
    flat = c.xreplace(reps)
    try:
        return bool(sp.cancel(sp.together(flat)) == 0) or bool(sp.simplify(flat) == 0)
    except (TypeError, ValueError, NotImplementedError):
        return False
