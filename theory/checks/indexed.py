"""Evaluate a symbolic-K theory object (finite sums over indexed families) at a concrete K.

``indexed_function(expr, k, families, scalars, fixed)`` expands the sums for ``K = k`` (with the
index symbols in ``fixed`` set, e.g. the correct answer c), replaces each entry of every family
by a plain symbol and lambdifies: the result takes one array per family ((k,) for a vector,
(k, k) for a matrix) and then the scalars, and returns a float. Cached by expression, so a
changed (mutated) theory object is expanded afresh.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from theory.symbols import K

Family = tuple[sp.IndexedBase, int]  # an indexed family and its rank (1: vector, 2: matrix)


@functools.lru_cache(maxsize=256)
def indexed_function(expr: sp.Expr, k: int, families: tuple[Family, ...],
                     scalars: tuple[sp.Symbol, ...] = (),
                     fixed: tuple[tuple[sp.Symbol, int], ...] = ()) -> Callable[..., float]:
    e = sp.sympify(expr).subs(K, k)
    if fixed:
        e = e.subs(dict(fixed))
    e = e.doit()
    names: list[list[sp.Symbol]] = []
    rep: dict[sp.Basic, sp.Basic] = {}
    for j, (base, rank) in enumerate(families):
        flat = list(sp.symbols(f"v{j}_0:{k**rank}"))
        names.append(flat)
        for i in range(k**rank):
            idx = (i,) if rank == 1 else divmod(i, k)
            rep[base[idx]] = flat[i]
    e = e.xreplace(rep)
    left = {x for x in e.free_symbols if isinstance(x, sp.Indexed)}
    if left:
        raise ValueError(f"entries {sorted(map(str, left))} of no given family remain in {expr}")
    fn = sp.lambdify([*names, *scalars], e, "numpy")

    def call(*args: Any) -> float:
        arrays = [list(np.ravel(np.asarray(x, dtype=float))) for x in args[:len(families)]]
        return float(fn(*arrays, *args[len(families):]))

    return call


__all__ = ["Family", "indexed_function"]
