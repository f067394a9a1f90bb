"""The symbols of THEORY.md, as sympy Symbols with the assumptions the statements need.

``r_e`` steering coefficient (real); ``B_0`` unsteered behavior expectation in (-1, 1) (real);
``lam`` margin / norm of Δ (positive); ``P_0`` unsteered probability of the correct answer in
(0, 1) (positive); ``alpha`` curvature coefficient α = P_0(1-P_0) - Σ_{a≠c} p_a² (real: it can be
negative); ``sigma`` cosine spread (positive); ``beta`` answer-representation norm (positive);
``kappa`` weight of helpfulness in the utility (nonnegative); ``epsilon`` tolerance (positive).
"""

from __future__ import annotations

import sympy as sp

r_e: sp.Symbol = sp.Symbol("r_e", real=True)
B_0: sp.Symbol = sp.Symbol("B_0", real=True)
lam: sp.Symbol = sp.Symbol("lambda", positive=True)
P_0: sp.Symbol = sp.Symbol("P_0", positive=True)
alpha: sp.Symbol = sp.Symbol("alpha", real=True)
sigma: sp.Symbol = sp.Symbol("sigma", positive=True)
beta: sp.Symbol = sp.Symbol("beta", positive=True)
kappa: sp.Symbol = sp.Symbol("kappa", nonnegative=True)
epsilon: sp.Symbol = sp.Symbol("epsilon", positive=True)

__all__ = ["r_e", "B_0", "lam", "P_0", "alpha", "sigma", "beta", "kappa", "epsilon"]
