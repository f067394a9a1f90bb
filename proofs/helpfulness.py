"""Gaussian moments, Theorem 2 (second-order helpfulness) for K = 2..6 answers, Theorem 2'."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from proofs.common import i, total, xp
from proofs.framework import (
    Assumption,
    ByLemma,
    Context,
    Def,
    Eq,
    From,
    Hyp,
    Ineq,
    Monotone,
    Proof,
    Result,
    SeriesEq,
    Step,
    is_zero,
)
from proofs.sigmoid import sigmoid
from theory.helpfulness import (
    delta_expr,
    expansion,
    m_expr,
    spread_bound,
    spread_bound_quadratic,
    wrong_sq,
)
from theory.symbols import P_0, alpha, beta, epsilon, lam, r_e, sigma

s = lam * sigma * beta  # standard deviation of each logit shift
X = sp.Symbol("X", real=True)
t = sp.Symbol("t", real=True)
mu = sp.Symbol("mu", real=True)
density = sp.exp(-(X**2) / (2 * s**2)) / sp.sqrt(2 * sp.pi * s**2)
MAX_MOMENT = 4
#: E[X^k] for X ~ N(0, s^2); each value is checked by integration in Lemma G.
MOMENTS = {0: sp.Integer(1), 1: sp.Integer(0), 2: s**2, 3: sp.Integer(0), 4: 3 * s**4}


def gaussian_moments() -> Proof:
    """E[X^k] for X ~ N(0, s^2), k = 0..4, and the MGF E[e^{tX}] = e^{s^2 t^2/2}."""
    values = MOMENTS
    steps: list[Step] = [
        Eq(density.subs(X, -X), density, "the density is even: X and -X have the same law")
    ]
    for power, value in values.items():
        steps.append(Eq(sp.Integral(X**power * density, (X, -sp.oo, sp.oo)), value,
                        f"moment of order {power} (integral evaluated by sympy)"))
    steps.append(Eq(sp.Integral(sp.exp(t * X) * density, (X, -sp.oo, sp.oo)),
                    sp.exp(s**2 * t**2 / 2), "moment generating function", label="mgf"))
    return Proof(
        name="Lemma G (Gaussian moments)",
        kind="Lemma",
        statement=(
            r"For $X \sim N(0, s^2)$ with $s = \lambda\sigma\beta$: $E X = E X^3 = 0$, "
            r"$E X^2 = s^2$, $E X^4 = 3 s^4$, and $E e^{tX} = e^{s^2 t^2/2}$."
        ),
        steps=steps,
    )


@dataclass
class Expect(Step):
    """``E[expr] = value`` for i.i.d. N(0, s^2) variables ``xs``: by linearity the polynomial's
    expectation is the sum of its monomials' moment products (independence), with the moments
    of the lemma, which must check."""

    expr: sp.Expr
    xs: tuple[sp.Symbol, ...]
    value: sp.Expr
    lemma: Proof
    why: str = "linearity, independence and Lemma G"
    label: str | None = None

    def check(self, ctx: Context) -> Result:
        if not self.lemma.verify():
            return Result(False, "moment lemma does not check")
        poly = sp.Poly(sp.expand(ctx.expand_defs(self.expr)), *self.xs)
        total_ = sp.Integer(0)
        for powers, coeff in poly.terms():
            if any(k > MAX_MOMENT for k in powers):
                return Result(False, "moment of order > 4 not in the lemma")
            term = coeff
            for k in powers:
                term *= MOMENTS[k]
            total_ += term
        ok = is_zero(total_ - ctx.expand_defs(self.value))
        return Result(ok, "expectation computed from moments" if ok else "expectation differs")

    def latex(self) -> str:
        return f"\\mathbb{{E}}\\left[{sp.latex(self.expr)}\\right] = {sp.latex(self.value)}"

    def text(self) -> str:
        return f"E[{self.expr}] = {self.value}"


def _theorem2_steps(K: int, moments: Proof) -> list[Step]:
    """The checks for K answers (answer 1 is the correct one)."""
    xs = sp.symbols(f"x_1:{K + 1}", real=True)  # centred shifts g_a - mu
    qs = sp.symbols(f"p_2:{K + 1}", positive=True)  # wrong-answer probabilities
    ps = (P_0, *qs)
    norm = {P_0: 1 - sum(qs)}

    def f(r: sp.Expr, g: tuple[sp.Expr, ...]) -> sp.Expr:
        num = [p * sp.exp(r * ga) for p, ga in zip(ps, g, strict=True)]
        return num[0] / sum(num)

    xbar = sum(p * xa for p, xa in zip(ps, xs, strict=True))
    second = sum(p * xa**2 for p, xa in zip(ps, xs, strict=True))
    c1 = P_0 * (xs[0] - xbar)
    c2 = P_0 * ((xs[0] - xbar) ** 2 - (second - xbar**2)) / 2
    alpha_k = P_0 * (1 - P_0) - sum(q**2 for q in qs)
    tag = f"K = {K}: "
    steps: list[Step] = [
        Eq(f(r_e, tuple(mu + xa for xa in xs)), f(r_e, xs),
           tag + "softmax is shift invariant, so the mean mu of the shifts cancels"),
        Eq(f(-r_e, xs), f(r_e, tuple(-xa for xa in xs)),
           tag + "r_e -> -r_e is x -> -x, and x, -x have the same law (Lemma G): H is even"),
        SeriesEq(f(r_e, xs).subs(norm), (P_0 + c1 * r_e + c2 * r_e**2).subs(norm), r_e, 3,
                 tag + "Taylor expansion in r_e, with P_0 = 1 - sum of the wrong-answer p_a"),
        Expect(c1, xs, 0, moments, tag + "first-order term vanishes: E x_a = 0"),
        Expect(c2.subs(norm), xs, (-alpha_k * P_0 * s**2).subs(norm), moments,
               tag + "second-order term: E x_a x_b = s^2 delta_ab gives -alpha P_0 s^2"),
        Eq(expansion.subs(alpha, alpha_k), P_0 - alpha_k * P_0 * s**2 * r_e**2,
           tag + "this is theory.helpfulness.expansion with alpha = P_0(1-P_0) - sum p_a^2"),
    ]
    if K == 2:
        steps.append(Eq(alpha_k, (1 - P_0) * (2 * P_0 - 1), tag + "two answers", reparam=norm))
    return steps


def theorem2(moments: Proof, ks: tuple[int, ...] = (2, 3, 4, 5, 6)) -> Proof:
    """H(r_e) = P_0 - alpha P_0 (lambda sigma beta)^2 r_e^2 + O(r_e^4), checked for K in ks."""
    Q = wrong_sq
    general = P_0 / 2 * (s**2 * ((1 - P_0) ** 2 + Q) - s**2 * (1 - P_0**2 - Q))
    steps: list[Step] = [
        Assumption("term-by-term expectation",
                   r"H(r_e) = \sum_{k \le 3} r_e^k\, \mathbb{E}[c_k(x)] + O(r_e^4)",
                   "the softmax is smooth and bounded and Gaussian moments are finite, so the "
                   "expectation of the Taylor expansion is the expansion of the expectation "
                   "(dominated convergence, not re-derived here); odd orders vanish since H is even"),
    ]
    for K in ks:
        steps += _theorem2_steps(K, moments)
    steps.append(Eq(general, -(P_0 * (1 - P_0) - Q) * P_0 * s**2,
                    "general K: E(x_c - xbar)^2 = s^2((1 - P_0)^2 + Q) and "
                    "E[sum p_a x_a^2 - xbar^2] = s^2(1 - P_0^2 - Q), Q = sum_{a != c} p_a^2 "
                    "(these moment identities are the ones checked above for each K), "
                    "combine to -alpha P_0 s^2"))
    return Proof(
        name="Theorem 2 (second-order helpfulness)",
        kind="Theorem",
        statement=(
            r"For $K$ answers with i.i.d. $N(\mu, s^2)$ logit shifts $g_a$, "
            r"$s = \lambda\sigma\beta$, and $p = P_0(\cdot|q)$: "
            r"$H(r_e) = \mathbb{E}[\mathrm{softmax}(z + r_e g)_c]$ does not depend on $\mu$, is even "
            f"in $r_e$, and $H(r_e) = {sp.latex(expansion)} + O(r_e^4)$ with "
            r"$\alpha = P_0(1-P_0) - \sum_{a\ne c} p_a^2$. Checked symbolically for "
            f"K = {', '.join(map(str, ks))}; the final combination for general K."
        ),
        steps=steps,
    )


def theorem2_prime(sym_lemma: Proof, tangent: Proof) -> Proof:
    """H(r_e) <= sigmoid(m) + delta on the spread-out model, and the quadratic-form limit."""
    q = sp.IndexedBase("p", positive=True)
    S = sp.Symbol("S", positive=True)
    Y = sp.Symbol("Y", real=True)
    v = sp.Symbol("v", positive=True)
    odds = sp.Symbol("a", positive=True)
    w = sp.Symbol("w", nonnegative=True)
    ES = sp.Symbol("E_S", positive=True)
    VS = sp.Symbol("V_S", positive=True)
    Pc = sp.Symbol("P_c", positive=True)
    T = (1 - epsilon) * ES
    m_val = m_expr
    delta = delta_expr.subs(wrong_sq, total(q[i] ** 2))
    mgf = sp.exp(s**2 * r_e**2 / 2)
    a_q = (1 - P_0) / P_0
    lemma_m = sp.Symbol("m", real=True)
    lemma_y = sp.Symbol("y", real=True)
    return Proof(
        name="Theorem 2' (spread-out wrong answers)",
        kind="Theorem",
        statement=(
            r"Let the logit shifts be i.i.d. $N(\mu, s^2)$, $s = \lambda\sigma\beta$, "
            r"$S = \sum_{a \ne c} p_a e^{r_e (g_a - \mu)}$, $0<\epsilon<1$ and "
            f"$m = {sp.latex(m_val)} \\ge 0$. Then $H(r_e) \\le \\sigma(m) + \\delta$ with "
            f"$\\delta = {sp.latex(delta)}$; as $\\sum p_a^2 \\to 0$ and $\\epsilon \\to 0$: "
            f"$H \\lesssim {sp.latex(spread_bound)} \\le {sp.latex(spread_bound_quadratic)}$."
        ),
        hypotheses=[Hyp("m>=0", m_val, ">=", 0), Hyp("event", S, ">=", T)],
        steps=[
            Def(epsilon, v / (1 + v), "0 < epsilon < 1, parametrised by v > 0"),
            Def(P_0, 1 / (1 + odds), "0 < P_0 < 1, parametrised by the odds a > 0"),
            Def(total(q[i]), 1 - P_0, "the wrong answers carry the remaining mass"),
            Eq(sp.Integral(sp.exp(r_e * X) * density, (X, -sp.oo, sp.oo)), mgf,
               "E e^{r_e X} (Gaussian MGF, as in Lemma G)"),
            Def(ES, mgf * total(q[i]), "E S, by linearity and the line above"),
            Eq(ES, (1 - P_0) * mgf, "E S = (1 - P_0) e^{s^2 r_e^2/2}"),
            Eq(sp.Integral(sp.exp(2 * r_e * X) * density, (X, -sp.oo, sp.oo))
               - sp.Integral(sp.exp(r_e * X) * density, (X, -sp.oo, sp.oo)) ** 2,
               sp.exp((s * r_e) ** 2) * (sp.exp((s * r_e) ** 2) - 1),
               "Var e^{r_e X}: lognormal moments from the Gaussian MGF"),
            Assumption("Bienaymé", r"\operatorname{Var} S = \sum_{a \ne c} p_a^2 "
                       r"\operatorname{Var} e^{r_e X_a}",
                       "the variance of a sum of independent variables is the sum of the "
                       "variances (probability theory, not re-derived here)"),
            Def(VS, total(q[i] ** 2 * sp.exp((s * r_e) ** 2) * (sp.exp((s * r_e) ** 2) - 1)),
                "Var S, by the two lines above"),
            Assumption("Chebyshev", r"P\left(S < (1-\epsilon)\, E S\right) \le "
                       r"\frac{\operatorname{Var} S}{\epsilon^2 (E S)^2}",
                       "Chebyshev's inequality (probability theory, not re-derived here)"),
            Eq(VS / (epsilon**2 * ES**2), delta, "so the event fails with probability <= delta"),
            Def(Pc, P_0 * sp.exp(Y) / (P_0 * sp.exp(Y) + S),
                "P_{r_e}(c) with Y = r_e (g_c - mu), independent of S and symmetric"),
            Eq(Pc, sigmoid(sp.log(P_0 / S) + Y), "as a sigmoid", label="pc"),
            Ineq(sp.log(P_0 / S), "<=", sp.log(P_0 / T),
                 Monotone(xp, sp.log(P_0 / xp), T, S, increasing=False, order="event"),
                 "on the event S >= (1 - epsilon) E S; u -> log(P_0/u) is decreasing",
                 label="log_event"),
            Eq(sp.log(P_0 / T), m_val, "value of m", label="m_value"),
            Ineq(sp.log(P_0 / S) + Y, "<=", m_val + Y, From(["log_event", "m_value"], [1, -1]),
                 "add Y", label="arg"),
            Ineq(sigmoid(sp.log(P_0 / S) + Y), "<=", sigmoid(m_val + Y),
                 Monotone(X, sigmoid(X), sp.log(P_0 / S) + Y, m_val + Y, order="arg"),
                 "sigmoid is increasing", label="sig_event"),
            Ineq(Pc, "<=", sigmoid(m_val + Y), From(["sig_event", "pc"]),
                 "on the event, pointwise in Y", label="pc_event"),
            Ineq(sigmoid(m_val + sp.Abs(Y)) + sigmoid(m_val - sp.Abs(Y)), "<=",
                 2 * sigmoid(m_val), ByLemma(sym_lemma, {lemma_m: m_val, lemma_y: sp.Abs(Y)}),
                 "Lemma S with y = |Y|, m >= 0", label="pair"),
            Assumption("expectation", r"H(r_e) \le \mathbb{E}\left[\sigma(m + Y)\right] + "
                       r"\delta = \tfrac12\mathbb{E}\left[\sigma(m+|Y|) + \sigma(m-|Y|)\right]"
                       r" + \delta \le \sigma(m) + \delta",
                       "linearity and monotonicity of expectation: the bound above on the event, "
                       "P(c) <= 1 off it (probability <= delta), Y and -Y have the same law"),
            Eq(sigmoid(m_val).subs(epsilon, 0), spread_bound,
               "epsilon -> 0 (and delta -> 0 as sum p_a^2 -> 0) gives theory.spread_bound"),
            Ineq(mgf, ">=", 1 + (s * r_e) ** 2 / 2,
                 ByLemma(tangent, {sp.Symbol("x", real=True): (s * r_e) ** 2 / 2}),
                 "Lemma E", label="tangent"),
            Ineq(spread_bound, "<=", spread_bound_quadratic,
                 Monotone(w, 1 / (1 + a_q * w), 1 + (s * r_e) ** 2 / 2, mgf, increasing=False,
                          order="tangent"),
                 "u -> 1/(1 + a u) is decreasing, a = (1 - P_0)/P_0 > 0", label="quadratic"),
        ],
        conclusion=Hyp("quad", spread_bound, "<=", spread_bound_quadratic),
        concludes="quadratic",
        defs={},
    )
