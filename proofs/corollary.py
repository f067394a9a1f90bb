"""The corollary in general form (THEORY v3): the second-order optimum with a first-order loss
and a curved gain, the efficient-regime condition (the sign of U near 0⁺), G/L → g₁/ℓ₁ when
ℓ₁ ≠ 0 and → ∞ only when ℓ₁ = 0; and the i.i.d. corollary's pieces: its loss is Theorem 2's (a
fact drawn from that proof), its gain Theorem 1's, and G/L → ∞."""

from __future__ import annotations

import sympy as sp

from proofs.alignment import BOUND
from proofs.framework import (
    Eq,
    From,
    FromLemma,
    Hyp,
    Ineq,
    Product,
    Proof,
    Reparam,
    SeriesEq,
    Step,
)
from theory import helpfulness, tradeoff
from theory.symbols import (
    B_0,
    P_0,
    K,
    a,
    alpha,
    b,
    c,
    ell_1,
    ell_2,
    g_1,
    g_2,
    kappa,
    r_e,
)

U = tradeoff.response_utility
SLOPE = g_1 - kappa * ell_1
CURV = kappa * ell_2 - g_2
GENERAL = r"$U = G - \kappa L$ with $G = g_1 r + g_2 r^2$, $L = \ell_1 r + \ell_2 r^2$"


def response_optimum() -> Proof:
    """r* = (g₁ − κℓ₁)/(2(κℓ₂ − g₂)) maximises U; U(r*) = (g₁ − κℓ₁)²/(4(κℓ₂ − g₂)); U ≥ 0 on
    [0, 2r*] (both coefficients positive)."""
    r_star, u_star = tradeoff.r_star, tradeoff.U_star
    steps: list[Step] = [
        Eq(sp.Subs(sp.Derivative(U, r_e), r_e, r_star), 0, "U'(r*) = 0"),
        Ineq(-sp.Derivative(U, (r_e, 2)), ">=", 0, From(["curv>0"], [2]),
             "U is concave (−U'' = 2(κℓ₂ − g₂) > 0): r* is the maximum"),
        Eq(U.subs(r_e, r_star) - U, CURV * (r_e - r_star) ** 2, "U(r*) − U(r) is a square",
           label="gap"),
        Eq(u_star, tradeoff.response_utility_star, "the best utility U(r*)", label="ustar"),
        Eq(U, CURV * r_e * (2 * r_star - r_e), "U factors through its roots 0 and 2r*",
           label="factor"),
        Ineq(U, ">=", 0, Product(["curv>0", "r>=0", "r<=2r*"]), "U >= 0 between the roots",
             label="net"),
    ]
    return Proof(
        name="Corollary (general form, second order)",
        kind="Corollary",
        statement=(GENERAL + r", $g_1 - \kappa\ell_1 > 0$ and $\kappa\ell_2 - g_2 > 0$: "
                   r"$U(r) \le U(r^*)$ for every $r$ with $r^* = " +
                   sp.latex(tradeoff.response_optimum) + r"$, $U(r^*) = " +
                   sp.latex(tradeoff.response_utility_star) + r"$, and $U \ge 0$ on "
                   r"$0 \le r \le 2r^*$; it is $g_1/(2\kappa\ell_2)$ when $\ell_1 = g_2 = 0$."),
        hypotheses=[Hyp("slope>0", SLOPE, ">", 0), Hyp("curv>0", CURV, ">", 0),
                    Hyp("r>=0", r_e, ">=", 0), Hyp("r<=2r*", r_e, "<=", 2 * r_star)],
        steps=steps,
        conclusion=Hyp("net", U, ">=", 0),
        concludes="net",
        defs={r_star: tradeoff.response_optimum, u_star: U.subs(r_e, r_star)},
    )


def _limit_proof(name: str, statement: str, limit: sp.Expr, value: sp.Expr, hyps: list[Hyp],
                 prep: list[Step], why: str, **eq_args: object) -> Proof:
    steps = [*prep, Eq(limit, value, why, label="limit", **eq_args)]  # type: ignore[arg-type]
    return Proof(name=name, kind="Corollary", statement=statement, steps=steps, hypotheses=hyps,
                 conclusion=Hyp("limit", limit, "==", value), concludes="limit")


def regime() -> Proof:
    """U/r → g₁ − κℓ₁ as r → 0⁺: the efficient regime exists iff it is > 0 (or = 0, below)."""
    return _limit_proof(
        "Corollary (efficient-regime condition)",
        GENERAL + r": $\lim_{r \to 0^+} U(r)/r = g_1 - \kappa\ell_1$, so $U > 0$ on some "
        r"$(0, r_0)$ iff $g_1 - \kappa\ell_1 > 0$ (when it is $0$, see the next corollary).",
        tradeoff.REGIME.lhs, tradeoff.REGIME.rhs, [], [], "limit evaluated by sympy")


def regime_second() -> Proof:
    """With g₁ = κℓ₁: U/r² → g₂ − κℓ₂, so the r² term decides."""
    return _limit_proof(
        "Corollary (efficient-regime condition, zero slope)",
        GENERAL + r" and $g_1 - \kappa\ell_1 = 0$: $\lim_{r \to 0^+} U(r)/r^2 = g_2 - \kappa\ell_2$.",
        tradeoff.REGIME_SECOND.lhs, tradeoff.REGIME_SECOND.rhs,
        [Hyp("slope=0", g_1 - kappa * ell_1, "==", 0)], [],
        "substitute g₁ = κℓ₁ (hypothesis); limit evaluated by sympy",
        reparam={g_1: kappa * ell_1}, by=["slope=0"])


def ratio_finite() -> Proof:
    """ℓ₁ ≠ 0: G/L → g₁/ℓ₁ (finite): G/L → ∞ needs ℓ₁ = 0."""
    nonzero = sp.Symbol("l", real=True, nonzero=True)
    return _limit_proof(
        "Corollary (G/L with a first-order loss)",
        GENERAL + r" and $\ell_1 \ne 0$: $\lim_{r \to 0^+} G/L = g_1/\ell_1$ (finite).",
        tradeoff.RATIO_FINITE.lhs, tradeoff.RATIO_FINITE.rhs,
        [Hyp("l1!=0", ell_1**2, ">", 0)],
        [Reparam(ell_1, nonzero, "ℓ₁ ≠ 0 (hypothesis ℓ₁² > 0)")], "limit evaluated by sympy")


def ratio_infinite() -> Proof:
    """ℓ₁ = 0, g₁ > 0, ℓ₂ > 0: G/L → ∞."""
    pos_g, pos_l = sp.Symbol("g", positive=True), sp.Symbol("l", positive=True)
    return _limit_proof(
        "Corollary (G/L without a first-order loss)",
        GENERAL + r", $\ell_1 = 0$, $g_1 > 0$, $\ell_2 > 0$: $G/L \to \infty$ as $r \to 0^+$.",
        tradeoff.RATIO_INFINITE.lhs, sp.oo,
        [Hyp("g1>0", g_1, ">", 0), Hyp("l2>0", ell_2, ">", 0)],
        [Reparam(g_1, pos_g, "g₁ > 0"), Reparam(ell_2, pos_l, "ℓ₂ > 0")],
        "limit evaluated by sympy")


def ratio_iid() -> Proof:
    """The i.i.d. corollary: G/L → ∞ as r → 0⁺ (α > 0, −1 < B_0 < 1)."""
    pos = sp.Symbol("A", positive=True)
    u = sp.Symbol("u", real=True)
    return _limit_proof(
        "Corollary (G/L, i.i.d.)",
        r"With the i.i.d. second-order gain $G = \gamma\lambda(1 - B_0^2) r$ and loss "
        r"$L = \alpha P_0 (\lambda\sigma\beta)^2 r^2$, $\alpha > 0$, $-1 < B_0 < 1$: "
        r"$G/L \to \infty$ as $r \to 0^+$.",
        tradeoff.RATIO.lhs, sp.oo,
        [Hyp("alpha>0", alpha, ">", 0), Hyp("B0>-1", B_0, ">", -1), Hyp("B0<1", B_0, "<", 1)],
        [Reparam(alpha, pos, "α > 0"), Reparam(B_0, sp.tanh(u), "−1 < B_0 < 1: B_0 = tanh u")],
        "limit evaluated by sympy")


def _index_hyps() -> list[Hyp]:
    out = []
    for i in (c, a, b):
        out += [Hyp(f"{i}>=0", i, ">=", 0), Hyp(f"{i}<=K-1", i, "<=", K - 1)]
    return out


def corollary_loss(t2: Proof) -> Proof:
    """L = P_0 − H = α P_0 (λσβ)² r² + O(r⁴): the loss is Theorem 2's (its proved conclusion)."""
    return Proof(
        name="Corollary (loss = Theorem 2)",
        kind="Corollary",
        statement=(r"In Theorem 2's i.i.d. setting the loss $L = P_0 - H(r_e) = " +
                   sp.latex(tradeoff.loss) + r" + O(r_e^4)$ (drawn from Theorem 2's proof)."),
        hypotheses=_index_hyps(),
        steps=[FromLemma(t2, "Theorem 2 (i.i.d.)", label="t2"),
               SeriesEq(P_0 - helpfulness.H, tradeoff.loss, r_e, 4,
                        "L = P_0 − H: Theorem 2's expansion with the sign turned",
                        premise="t2", premise_sign=-1, label="loss")],
        conclusion=Hyp("loss", P_0 - helpfulness.H, "==", tradeoff.loss, var=r_e, order=4),
        concludes="loss",
        defs=dict(t2.defs),
    )


def corollary_gain() -> Proof:
    """The gain of Theorem 1's bound: bound − B_0 = γλ(1 − B_0²) r + O(r²)."""
    return Proof(
        name="Corollary (gain = Theorem 1)",
        kind="Corollary",
        statement=(r"Theorem 1's bound gains $" + sp.latex(BOUND) + r" - B_0 = " +
                   sp.latex(tradeoff.gain) + r" + O(r_e^2)$, so $G = B_{r_e} - B_0 \ge " +
                   sp.latex(tradeoff.gain) + r" + O(r_e^2)$ for $r_e \ge 0$."),
        steps=[SeriesEq(BOUND - B_0, tradeoff.gain, r_e, 2, "Taylor expansion at r_e = 0",
                        label="gain")],
        conclusion=Hyp("gain", BOUND - B_0, "==", tradeoff.gain, var=r_e, order=2),
        concludes="gain",
    )


def general_corollaries() -> list[Proof]:
    return [response_optimum(), regime(), regime_second(), ratio_finite(), ratio_infinite(),
            ratio_iid(), corollary_gain()]


__all__ = ["response_optimum", "regime", "regime_second", "ratio_finite", "ratio_infinite",
           "ratio_iid", "corollary_loss", "corollary_gain", "general_corollaries"]
