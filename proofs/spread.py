"""Theorem 2′: H(r_e) <= sigmoid(m) + delta for i.i.d. Gaussian shifts, and its spread limits."""

from __future__ import annotations

import sympy as sp

from proofs.common import i, total, xp
from proofs.framework import (
    Assumption,
    ByCases,
    ByLemma,
    Decided,
    Eq,
    ExpectMono,
    From,
    Hyp,
    IndicatorValue,
    Ineq,
    IntegralMono,
    Monotone,
    Proof,
    Reflect,
    Reparam,
    Step,
)
from proofs.sigmoid import sigmoid
from theory.helpfulness import H
from theory.symbols import P_0, Q, beta, epsilon, lam, r_e, sigma

s = lam * sigma * beta
E = sp.Function("E")  # expectation over the shift law
Var = sp.Function("Var")
q = sp.IndexedBase("p", positive=True)  # wrong-answer probabilities p_a, a != c
X = sp.Symbol("X", real=True)  # a centred shift g_a - mu ~ N(0, s^2)
S = sp.Symbol("S", positive=True)  # Σ_{a≠c} p_a e^{r_e (g_a - mu)} (random)
Y = sp.Symbol("Y", real=True)  # r_e (g_c - mu) (random, independent of S)
v = sp.Symbol("v", positive=True)
odds = sp.Symbol("a", positive=True)
P_c = sp.Symbol("P_{r_e}(c)", positive=True)
density = sp.exp(-(X**2) / (2 * s**2)) / sp.sqrt(2 * sp.pi * s**2)
MGF = sp.exp(s**2 * r_e**2 / 2)
M1 = sp.Integral(sp.exp(r_e * X) * density, (X, -sp.oo, sp.oo))
M2 = sp.Integral(sp.exp(2 * r_e * X) * density, (X, -sp.oo, sp.oo))

#: The proof's own statement (compared with theory.helpfulness by proofs.statements).
M_OWN = sp.log(P_0 / (1 - P_0)) - s**2 * r_e**2 / 2 + sp.log(1 / (1 - epsilon))
DELTA_OWN = Q * (sp.exp(s**2 * r_e**2) - 1) / (epsilon**2 * (1 - P_0) ** 2)
BOUND_OWN = sigmoid(M_OWN) + DELTA_OWN
T = (1 - epsilon) * (1 - P_0) * MGF  # (1 - epsilon) E S
FAIL = sp.Piecewise((1, T - S >= 0), (0, True))  # indicator of the Chebyshev event S <= T


def theorem2_prime(sym_lemma: Proof) -> Proof:
    """H(r_e) <= sigmoid(m) + delta (i.i.d. N(mu, s^2) shifts, 0 < epsilon < 1, m >= 0)."""
    lemma_m = sp.Symbol("m", real=True)
    lemma_y = sp.Symbol("y", real=True)
    sig_p = sigmoid(M_OWN + r_e * X)
    sig_m = sigmoid(M_OWN - r_e * X)
    steps: list[Step] = [
        Reparam(epsilon, v / (1 + v), "0 < epsilon < 1 covered by v > 0"),
        Reparam(P_0, 1 / (1 + odds), "0 < P_0 < 1 covered by the odds a > 0"),
        Eq(M1, MGF, "Gaussian moment generating function (integral evaluated by sympy)",
           label="mgf1"),
        Eq(M2, sp.exp(2 * s**2 * r_e**2), "the same at 2 r_e", label="mgf2"),
        Assumption("linearity of expectation",
                   r"\mathbb{E} S = \sum_{a \ne c} p_a\, \mathbb{E} e^{r_e X_a},\ "
                   r"\mathbb{E} e^{r_e X_a} = \int e^{r_e x} \varphi(x)\, dx",
                   "E is linear (and monotone); each X_a = g_a - mu has the density phi of "
                   "N(0, s^2)", label="ES_lin", expr=E(S) - total(q[i]) * M1, kind="eq"),
        Eq(E(S), (1 - P_0) * MGF, "E S = (1 - P_0) e^{s^2 r_e^2/2}",
           combine=["ES_lin", "mgf1", "mass"], weights=[1, total(q[i]), MGF], label="ES"),
        Assumption("Bienaymé", r"\operatorname{Var} S = \sum_{a \ne c} p_a^2 \left("
                   r"\mathbb{E} e^{2 r_e X_a} - (\mathbb{E} e^{r_e X_a})^2\right)",
                   "the variance of a sum of independent variables is the sum of the variances",
                   label="bien", expr=Var(S) - total(q[i] ** 2) * (M2 - M1**2), kind="eq"),
        Eq(Var(S), Q * (sp.exp(2 * s**2 * r_e**2) - MGF**2), "with the lognormal moments",
           combine=["bien", "mgf2", "mgf1"],
           weights=[1, total(q[i] ** 2), total(q[i] ** 2) * (M1 + MGF)], label="VS"),
        Assumption("Chebyshev", r"P\left(S \le (1-\epsilon)\, \mathbb{E} S\right) = "
                   r"\mathbb{E}\, 1\{S \le (1-\epsilon)\mathbb{E}S\} \le "
                   r"\frac{\operatorname{Var} S}{\epsilon^2 (\mathbb{E} S)^2}",
                   "Chebyshev's inequality for |S - E S| >= epsilon E S", label="cheb",
                   expr=Var(S) / (epsilon**2 * ((1 - P_0) * MGF) ** 2) - E(FAIL), kind="ge"),
        Eq(Var(S) / (epsilon**2 * ((1 - P_0) * MGF) ** 2), DELTA_OWN,
           "insert Var S: the failure probability is at most delta",
           reparam={Var(S): Q * (sp.exp(2 * s**2 * r_e**2) - MGF**2)}, by=["VS"],
           label="dval"),
        Ineq(E(FAIL), "<=", DELTA_OWN, From(["cheb", "dval"], [1, -1]), "so", label="fail"),
        ByCases(
            P_c, "<=", sigmoid(M_OWN + Y) + FAIL, S - T,
            when_ge=[
                Ineq(sp.log(P_0 / S), "<=", sp.log(P_0 / T),
                     Monotone(xp, sp.log(P_0 / xp), T, S, increasing=False, order="case"),
                     "u -> log(P_0/u) is decreasing", label="log_event"),
                Eq(sp.log(P_0 / T), M_OWN, "value of m", label="m_value"),
                Ineq(sp.log(P_0 / S) + Y, "<=", M_OWN + Y,
                     From(["log_event", "m_value"], [1, -1]), "add Y", label="arg"),
                Ineq(sigmoid(sp.log(P_0 / S) + Y), "<=", sigmoid(M_OWN + Y),
                     Monotone(X, sigmoid(X), sp.log(P_0 / S) + Y, M_OWN + Y, order="arg"),
                     "sigmoid is increasing", label="sig_event"),
                Eq(P_c, sigmoid(sp.log(P_0 / S) + Y), "P(c) as a sigmoid", label="pc"),
                Ineq(FAIL, ">=", 0, Decided(), "an indicator is nonnegative", label="I0"),
                Ineq(P_c, "<=", sigmoid(M_OWN + Y) + FAIL, From(["sig_event", "pc", "I0"]),
                     "on the event S >= (1 - epsilon) E S"),
            ],
            when_le=[
                IndicatorValue(FAIL, "case", label="I1"),
                Ineq(P_c, "<=", 1, Decided(), "a probability", label="pc1"),
                Ineq(sigmoid(M_OWN + Y), ">=", 0, Decided(), "sigmoid > 0", label="s0"),
                Ineq(P_c, "<=", sigmoid(M_OWN + Y) + FAIL, From(["pc1", "s0", "I1"], [1, 1, 1]),
                     "off the event the indicator is 1"),
            ],
            why="pointwise: on the event by m, off it by P(c) <= 1", label="pointwise"),
        Ineq(E(P_c), "<=", E(sigmoid(M_OWN + Y)) + E(FAIL), ExpectMono("pointwise", E),
             "take expectations", label="mono"),
        Assumption("moment identities",
                   r"\mathbb{E}\,\sigma(m + Y) = \int \sigma(m + r_e x)\, \varphi(x)\, dx",
                   "Y = r_e (g_c - mu) with g_c - mu ~ N(0, s^2) of density phi", label="law",
                   expr=E(sigmoid(M_OWN + Y)) - sp.Integral(sig_p * density, (X, -sp.oo, sp.oo)),
                   kind="eq"),
        Reflect(sp.Integral(sig_m * density, (X, -sp.oo, sp.oo)),
                sp.Integral(sig_p * density, (X, -sp.oo, sp.oo)),
                "x -> -x; the Gaussian density is even", label="refl"),
        ByCases(
            sig_p + sig_m, "<=", 2 * sigmoid(M_OWN), r_e * X,
            when_ge=[Ineq(sig_p + sig_m, "<=", 2 * sigmoid(M_OWN),
                          ByLemma(sym_lemma, {lemma_m: M_OWN, lemma_y: r_e * X}), "Lemma S")],
            when_le=[Ineq(sig_p + sig_m, "<=", 2 * sigmoid(M_OWN),
                          ByLemma(sym_lemma, {lemma_m: M_OWN, lemma_y: -r_e * X}),
                          "Lemma S with y = -r_e x")],
            why="Lemma S for every x", label="pair"),
        Ineq(sp.Integral((2 * sigmoid(M_OWN) - sig_p - sig_m) * density, (X, -sp.oo, sp.oo)),
             ">=", 0, IntegralMono("pair"), "integrate against the density", label="intpos"),
        Eq(sp.Integral(density, (X, -sp.oo, sp.oo)), 1, "the density integrates to 1",
           label="norm"),
        Ineq(H, "<=", BOUND_OWN,
             From(["mono", "fail", "law", "intpos", "refl", "norm"],
                  [1, 1, -1, sp.Rational(1, 2), sp.Rational(1, 2), -sigmoid(M_OWN)]),
             "combine: E sigma(m + Y) <= sigma(m) and the failure probability <= delta",
             label="bound"),
    ]
    return Proof(
        name="Theorem 2' (full bound)",
        kind="Theorem",
        statement=(
            r"Let the logit shifts be i.i.d. $N(\mu, s^2)$, $s = \lambda\sigma\beta$, "
            r"$Q = \sum_{a \ne c} p_a^2$, $0 < \epsilon < 1$, $0 < P_0 < 1$ and "
            f"$m = {sp.latex(M_OWN)} \\\\ge 0$. Then $H(r_e) \\\\le \\\\sigma(m) + \\\\delta = "
            f"{sp.latex(BOUND_OWN)}$."
        ),
        hypotheses=[Hyp("m>=0", M_OWN, ">=", 0), Hyp("eps>0", epsilon, ">", 0),
                    Hyp("eps<1", epsilon, "<", 1), Hyp("P0>0", P_0, ">", 0),
                    Hyp("P0<1", P_0, "<", 1), Hyp("mass", total(q[i]), "==", 1 - P_0)],
        steps=steps,
        conclusion=Hyp("thm2p", H, "<=", BOUND_OWN),
        concludes="bound",
        defs={
            H.func: sp.Lambda(sp.Symbol("t", real=True), E(P_c)),
            P_c: P_0 * sp.exp(Y) / (P_0 * sp.exp(Y) + S),
            Q: total(q[i] ** 2),
        },
    )
