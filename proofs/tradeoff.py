"""Corollary (the efficient regime): optimum and break-even of the second-order utility, in the
i.i.d. form and in the general form r* = g_1/(2 kappa ell_2)."""

from __future__ import annotations

import sympy as sp

from proofs.framework import Decided, Eq, Hyp, Ineq, Product, Proof, Reparam
from theory.symbols import B_0, P_0, alpha, beta, ell_2, g_1, gamma, kappa, lam, r_e, sigma
from theory.tradeoff import r_star

S2 = (lam * sigma * beta) ** 2


def _regime(name: str, slope: sp.Expr, curvature: sp.Expr, extra: list, hyps: list) -> Proof:
    gain = slope * r_e
    loss = curvature * r_e**2
    utility = gain - kappa * loss
    optimum = slope / (2 * kappa * curvature)
    return Proof(
        name=name,
        kind="Corollary",
        statement=(
            f"With gain $G = {sp.latex(gain)}$, loss $L = {sp.latex(loss)}$, $U = G - \\\\kappa L$ "
            r"and $\kappa > 0$, positive curvature: $U(r) \le U(r^*)$ for every $r$ with "
            f"$r^* = {sp.latex(optimum)}$, and $U \\\\ge 0$ on $0 \\\\le r_e \\\\le 2r^*$."
        ),
        hypotheses=[*hyps, Hyp("r>=0", r_e, ">=", 0), Hyp("r<=2r*", r_e, "<=", 2 * r_star)],
        steps=[
            *extra,
            Eq(sp.Subs(sp.Derivative(utility, r_e), r_e, r_star), 0, "U'(r*) = 0"),
            Ineq(sp.Derivative(utility, (r_e, 2)), "<=", 0, Decided(),
                 "U is concave: r* is the maximum"),
            Eq(utility.subs(r_e, r_star) - utility,
               kappa * curvature * (r_e - r_star) ** 2, "U(r*) - U(r) is a square",
               label="gap"),
            Eq(utility, kappa * curvature * r_e * (2 * r_star - r_e),
               "U factors through its roots 0 and 2 r*", label="factor"),
            Ineq(utility, ">=", 0, Product(["r>=0", "r<=2r*"], kappa * curvature),
                 "U >= 0 between the roots", label="net"),
        ],
        conclusion=Hyp("net", utility, ">=", 0),
        concludes="net",
        defs={r_star: optimum},
    )


def efficient_regime() -> Proof:
    """i.i.d. second-order model: r* = gamma (1 - B_0^2)/(2 kappa alpha P_0 sigma^2 beta^2 lambda).

    Its gain and loss are Theorem 1's and Theorem 2's (``Corollary (gain = Theorem 1)``,
    ``Corollary (loss = Theorem 2)``) and G/L → ∞ is ``Corollary (G/L, i.i.d.)``: each a proof
    whose conclusion is a ``theory.tradeoff`` statement."""
    kap = sp.Symbol("k", positive=True)
    alp = sp.Symbol("A", positive=True)
    extra = [
        Reparam(kappa, kap, "kappa > 0"),
        Reparam(alpha, alp, "alpha > 0 (helpfulness does fall)"),
    ]
    hyps = [Hyp("kappa>0", kappa, ">", 0), Hyp("alpha>0", alpha, ">", 0)]
    return _regime("Corollary (efficient regime)", gamma * lam * (1 - B_0**2),
                   alpha * P_0 * S2, extra, hyps)


def general_regime() -> Proof:
    """General form: r* = g_1/(2 kappa ell_2) (ell_2 > 0: the loss curves down helpfulness)."""
    kap = sp.Symbol("k", positive=True)
    curv = sp.Symbol("l", positive=True)
    return _regime("Corollary (general form)", g_1, ell_2,
                   [Reparam(kappa, kap, "kappa > 0"), Reparam(ell_2, curv, "ell_2 > 0")],
                   [Hyp("kappa>0", kappa, ">", 0), Hyp("ell_2>0", ell_2, ">", 0)])
