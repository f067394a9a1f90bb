"""Corollary (the efficient regime): optimum and break-even of the second-order utility."""

from __future__ import annotations

import sympy as sp

from proofs.framework import Decided, Def, Eq, Hyp, Ineq, Product, Proof, SeriesEq
from theory.alignment import bound
from theory.helpfulness import expansion
from theory.symbols import B_0, P_0, alpha, beta, kappa, lam, r_e, sigma
from theory.tradeoff import break_even, gain, loss, optimal_coefficient, utility


def efficient_regime() -> Proof:
    """r* maximises U = G - kappa L, U > 0 exactly between 0 and 2 r*, and G/L -> oo."""
    b = sp.Symbol("b", real=True)
    alpha_p = sp.Symbol("alpha", positive=True)
    kappa_p = sp.Symbol("kappa", positive=True)
    s2 = (lam * sigma * beta) ** 2
    return Proof(
        name="Corollary (efficient regime)",
        kind="Corollary",
        statement=(
            f"With $G = {sp.latex(gain)}$, $L = {sp.latex(loss)}$, $U = G - \\kappa L$ and "
            r"$\kappa\alpha > 0$: $U$ is maximal at "
            f"$r^* = {sp.latex(optimal_coefficient)}$, $U > 0$ on $0 < r_e < 2r^*$ "
            r"(break-even $2r^*$), and $G/L \to \infty$ as $r_e \to 0^+$."
        ),
        hypotheses=[Hyp("r>=0", r_e, ">=", 0), Hyp("r<=2r*", r_e, "<=", break_even)],
        steps=[
            Def(B_0, b / sp.sqrt(1 + b**2), "-1 < B_0 < 1, parametrised by real b"),
            Def(alpha, alpha_p, "alpha > 0 (helpfulness does fall)"),
            Def(kappa, kappa_p, "kappa > 0 (helpfulness is weighed)"),
            SeriesEq(bound - B_0, gain, r_e, 2, "G: first-order gain of Theorem 1's bound"),
            Eq(loss, P_0 - expansion, "L: second-order loss of Theorem 2"),
            Eq(sp.Subs(sp.Derivative(utility, r_e), r_e, optimal_coefficient), 0, "U'(r*) = 0"),
            Ineq(sp.Derivative(utility, (r_e, 2)), "<=", 0, Decided(), "U is concave: r* is the maximum"),
            Eq(sp.Subs(utility, r_e, 0), 0, "U(0) = 0"),
            Eq(sp.Subs(utility, r_e, break_even), 0, "U(2 r*) = 0: break-even"),
            Eq(utility, kappa * alpha * P_0 * s2 * r_e * (break_even - r_e),
               "U factors through its two roots", label="factor"),
            Ineq(utility, ">=", 0, Product(["r>=0", "r<=2r*"], kappa * alpha * P_0 * s2),
                 "U >= 0 between the roots", label="net"),
            Eq(sp.Limit(gain / loss, r_e, 0, "+"), sp.oo, "G/L -> oo as r_e -> 0+"),
        ],
        conclusion=Hyp("net", utility, ">=", 0),
        concludes="net",
    )
