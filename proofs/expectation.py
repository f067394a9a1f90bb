"""Expectations of polynomials in random shifts, by linearity and the law's moment identities.

``expect(X, x, moments, ranges)`` evaluates ``E[X]`` for ``X`` polynomial in the indexed random
family ``x`` with deterministic coefficients (finite sums over index ranges allowed): products
of sums become one multiple sum, ``E`` passes through finite sums and deterministic factors
(linearity of expectation), and each monomial ``x_{i_1} ... x_{i_k}`` is replaced by the moment
``moments([i_1, ..., i_k])`` (the law's moment identities). Nothing else is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import sympy as sp

from proofs.sums import Range, canon

Moments = Callable[[Sequence[sp.Expr]], sp.Expr]


def general_moments(mu: sp.IndexedBase, cov: sp.IndexedBase) -> Moments:
    """E g_a = μ_a, E g_a g_b = Σ_ab + μ_a μ_b (the definitions of mean and covariance)."""

    def moments(idx: Sequence[sp.Expr]) -> sp.Expr:
        if len(idx) == 0:
            return sp.Integer(1)
        if len(idx) == 1:
            return mu[idx[0]]
        if len(idx) == 2:
            return cov[idx[0], idx[1]] + mu[idx[0]] * mu[idx[1]]
        raise ValueError(f"moment of order {len(idx)} not in the general law")

    return moments


def centred_iid_moments(s: sp.Expr) -> Moments:
    """i.i.d. centred N(0, s²): E x_a = 0, E x_a x_b = s² δ_ab, every third moment 0."""

    def moments(idx: Sequence[sp.Expr]) -> sp.Expr:
        if len(idx) == 0:
            return sp.Integer(1)
        if len(idx) in (1, 3):
            return sp.Integer(0)
        if len(idx) == 2:
            return s**2 * sp.KroneckerDelta(idx[0], idx[1])
        raise ValueError(f"moment of order {len(idx)} not used")

    return moments


def _random_sum(f: sp.Expr, x: sp.IndexedBase) -> bool:
    return isinstance(f, sp.Sum) and any(a.base == x for a in f.atoms(sp.Indexed))


def _has_x(e: sp.Expr, x: sp.IndexedBase) -> bool:
    return any(a.base == x for a in e.atoms(sp.Indexed))


def expect(expr: sp.Expr, x: sp.IndexedBase, moments: Moments,
           ranges: Mapping[sp.Symbol, Range]) -> sp.Expr:
    """``E[expr]`` by linearity and ``moments`` (module docstring)."""
    e = canon(sp.sympify(expr), ranges)
    out = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(e)):
        body = sp.Integer(1)
        limits: list[tuple[sp.Symbol, sp.Expr, sp.Expr]] = []
        for factor in sp.Mul.make_args(term):
            base, power = factor.as_base_exp()
            if _random_sum(base, x):
                if not (power.is_integer and power.is_positive):
                    raise ValueError(f"{factor} is not polynomial in {x}")
                for _ in range(int(power)):
                    reps = {}
                    for var, lo, hi in base.limits:
                        new = sp.Dummy(str(var), integer=True)
                        reps[var] = new
                        limits.append((new, lo, hi))
                    body = body * base.function.xreplace(reps)
            else:
                body = body * factor
        value = sp.Integer(0)
        for mono in sp.Add.make_args(sp.expand(body)):
            det = sp.Integer(1)
            idx: list[sp.Expr] = []
            for f in sp.Mul.make_args(mono):
                b, k = f.as_base_exp()
                if isinstance(b, sp.Indexed) and b.base == x and k.is_integer and k.is_positive:
                    idx += [b.indices[0]] * int(k)
                elif _has_x(f, x):
                    raise ValueError(f"{f} is not polynomial in {x}")
                else:
                    det = det * f
            value += det * moments(idx)
        out += sp.Sum(value, *limits) if limits else value
    inner = dict(ranges)
    return canon(out, inner)
