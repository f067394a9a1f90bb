"""The symbols of THEORY.md (version 3), as sympy Symbols, each with its range in ``RANGES``.

``r_e`` steering coefficient; ``B_0`` unsteered behavior expectation in (−1, 1); ``gamma`` γ,
Theorem 1's margin per unit ‖Δ‖ (margin 2γλ); ``lam`` λ = ‖Δ‖, the last-layer change per unit
r_e (one meaning everywhere); ``P_0`` unsteered probability of the correct answer in (0, 1);
``alpha`` α = P_0(1 − P_0) − Q (real: it can be negative); ``sigma`` cosine spread; ``beta``
answer-representation norm; ``kappa`` weight of helpfulness in the utility; ``epsilon``
tolerance in (0, 2); ``Q = Σ_{a≠c} p_a²``, ``R = Σ_{a≠c} p_a³``; ``g_1`` gain slope, ``ell_2``
loss curvature; ``d`` hidden size, ``K`` number of answers; ``delta_plus``/``delta_minus`` mean
sequence log-likelihood slopes on S+ / S−. General-K Theorem 2 uses the integer indices ``a, b,
c`` and the IndexedBase ``p`` (probabilities), ``mu`` (mean shifts), ``Sigma`` (covariance),
``G`` (Gram matrix U Uᵀ of the answer representations).

Version 3 adds: ``G_gain``/``L_loss`` (printed G, L: gain and loss in U = G − κL), ``g_2`` gain
curvature and ``ell_1`` first-order loss (any sign), ``w_gap`` = w_a − w_b (Theorem 1 to second
order), ``a_fit``/``b_fit`` the parameters of the paper's fitted forms, and for Theorem 2R the
IndexedBase ``shifts`` (g = UΔ), ``curvatures`` (w = UΔ₂), ``scores`` (B(a)), ``grad_f`` (∇f) and
``hess_f`` (∇²f) of a readout f of the logits ``logits`` (z).
"""

from __future__ import annotations

import sympy as sp

r_e: sp.Symbol = sp.Symbol("r_e", real=True)
B_0: sp.Symbol = sp.Symbol("B_0", real=True)
gamma: sp.Symbol = sp.Symbol("gamma", positive=True)
lam: sp.Symbol = sp.Symbol("lambda", positive=True)
P_0: sp.Symbol = sp.Symbol("P_0", positive=True)
alpha: sp.Symbol = sp.Symbol("alpha", real=True)
sigma: sp.Symbol = sp.Symbol("sigma", positive=True)
beta: sp.Symbol = sp.Symbol("beta", positive=True)
kappa: sp.Symbol = sp.Symbol("kappa", nonnegative=True)
epsilon: sp.Symbol = sp.Symbol("epsilon", positive=True)
Q: sp.Symbol = sp.Symbol("Q", nonnegative=True)
R: sp.Symbol = sp.Symbol("R", nonnegative=True)
g_1: sp.Symbol = sp.Symbol("g_1", positive=True)
ell_2: sp.Symbol = sp.Symbol("ell_2", positive=True)
d: sp.Symbol = sp.Symbol("d", positive=True, integer=True)
K: sp.Symbol = sp.Symbol("K", positive=True, integer=True)
delta_plus: sp.Symbol = sp.Symbol("delta_+", real=True)
delta_minus: sp.Symbol = sp.Symbol("delta_-", real=True)

# Version 3: the general corollary, Theorem 1 to second order, the paper's fitted forms.
G_gain: sp.Symbol = sp.Symbol("G", real=True)
L_loss: sp.Symbol = sp.Symbol("L", real=True)
g_2: sp.Symbol = sp.Symbol("g_2", real=True)
ell_1: sp.Symbol = sp.Symbol("ell_1", real=True)
w_gap: sp.Symbol = sp.Symbol("w_gap", real=True)
a_fit: sp.Symbol = sp.Symbol("a_fit", real=True)
b_fit: sp.Symbol = sp.Symbol("b_fit", real=True)

# General-K Theorem 2: indices and indexed families.
a: sp.Symbol = sp.Symbol("a", integer=True)
b: sp.Symbol = sp.Symbol("b", integer=True)
c: sp.Symbol = sp.Symbol("c", integer=True)
p: sp.IndexedBase = sp.IndexedBase("p")
mu: sp.IndexedBase = sp.IndexedBase("mu")
Sigma: sp.IndexedBase = sp.IndexedBase("Sigma")
G: sp.IndexedBase = sp.IndexedBase("G")
# Theorem 2R: a readout f of the logits z_r = z + r g + (r²/2) w.
logits: sp.IndexedBase = sp.IndexedBase("z")
shifts: sp.IndexedBase = sp.IndexedBase("g")
curvatures: sp.IndexedBase = sp.IndexedBase("w")
scores: sp.IndexedBase = sp.IndexedBase("s")
grad_f: sp.IndexedBase = sp.IndexedBase("Df")
hess_f: sp.IndexedBase = sp.IndexedBase("D2f")

_oo = sp.oo
#: The range of every scalar symbol (the sets the statements quantify over).
RANGES: dict[sp.Symbol, sp.Interval] = {
    r_e: sp.Interval(-_oo, _oo),
    B_0: sp.Interval.open(-1, 1),
    gamma: sp.Interval.open(0, _oo),
    lam: sp.Interval.open(0, _oo),
    P_0: sp.Interval.open(0, 1),
    alpha: sp.Interval(-_oo, _oo),
    sigma: sp.Interval.open(0, _oo),
    beta: sp.Interval.open(0, _oo),
    kappa: sp.Interval(0, _oo),
    epsilon: sp.Interval.open(0, 2),
    Q: sp.Interval.Ropen(0, 1),
    R: sp.Interval.Ropen(0, 1),
    g_1: sp.Interval.open(0, _oo),
    ell_2: sp.Interval.open(0, _oo),
    d: sp.Interval(1, _oo),
    K: sp.Interval(2, _oo),
    delta_plus: sp.Interval(-_oo, _oo),
    delta_minus: sp.Interval(-_oo, _oo),
    G_gain: sp.Interval(-_oo, _oo),
    L_loss: sp.Interval(-_oo, _oo),
    g_2: sp.Interval(-_oo, _oo),
    ell_1: sp.Interval(-_oo, _oo),
    w_gap: sp.Interval(-_oo, _oo),
    a_fit: sp.Interval(-_oo, _oo),
    b_fit: sp.Interval(-_oo, _oo),
}

__all__ = ["r_e", "B_0", "gamma", "lam", "P_0", "alpha", "sigma", "beta", "kappa", "epsilon",
           "Q", "R", "g_1", "ell_2", "d", "K", "delta_plus", "delta_minus", "a", "b", "c", "p",
           "mu", "Sigma", "G", "G_gain", "L_loss", "g_2", "ell_1", "w_gap", "a_fit", "b_fit",
           "logits", "shifts", "curvatures", "scores", "grad_f", "hess_f", "RANGES"]
