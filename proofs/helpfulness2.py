"""Theorem 2 for a symbolic number K of answers: the general form (any shift law with mean μ
and covariance Σ) and the i.i.d. form, from the softmax's derivatives and moment identities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sympy as sp

from proofs.expectation import Moments, centred_iid_moments, expect, general_moments
from proofs.framework import (
    Assumption,
    Context,
    Eq,
    Fact,
    Hyp,
    Proof,
    Result,
    SeriesEq,
    Step,
    Taylor,
)
from proofs.sums import sum_zero
from theory.helpfulness import H
from theory.symbols import P_0, K, Q, Sigma, a, alpha, b, beta, c, lam, mu, p, r_e, sigma

E = sp.Function("E")  # expectation over the law of the shifts (opaque outside Expect steps)
z = sp.IndexedBase("z", real=True)  # unsteered logits
g = sp.IndexedBase("g", real=True)  # random logit shifts (general law)
x = sp.IndexedBase("x", real=True)  # centred i.i.d. shifts g_a - mu_0
j = sp.Symbol("j", integer=True)  # summation index of the normaliser
_t = sp.Symbol("t", real=True)
_u, _v = sp.symbols("u v", integer=True)
mu0 = sp.Symbol("mu_0", real=True)
s = lam * sigma * beta
NORMALISER = sp.Sum(sp.exp(z[j]), (j, 0, K - 1))
RANGE = (sp.Integer(0), K - 1)
H_f = H.func


def softmax_c(shift: sp.IndexedBase | None, t: sp.Expr, offset: sp.Expr = 0) -> sp.Expr:
    """softmax_c(z + t (offset + shift))."""
    if shift is None:
        return sp.exp(z[c]) / NORMALISER
    return (sp.exp(z[c] + t * (offset + shift[c]))
            / sp.Sum(sp.exp(z[j] + t * (offset + shift[j])), (j, 0, K - 1)))


def grad(u: sp.Expr) -> sp.Expr:
    return p[c] * (sp.KroneckerDelta(u, c) - p[u])


def hess(u: sp.Expr, v: sp.Expr) -> sp.Expr:
    return p[c] * ((sp.KroneckerDelta(u, c) - p[u]) * (sp.KroneckerDelta(v, c) - p[v])
                   - sp.KroneckerDelta(u, v) * p[u] + p[u] * p[v])


#: The proofs' own statements (compared with theory.helpfulness by proofs.statements).
GENERAL_C1 = sp.Sum(grad(a) * mu[a], (a, 0, K - 1))
GENERAL_C2 = sp.Sum(sp.Sum(hess(a, b) * (Sigma[a, b] + mu[a] * mu[b]), (a, 0, K - 1)),
                    (b, 0, K - 1)) / 2
GENERAL = p[c] + r_e * GENERAL_C1 + r_e**2 * GENERAL_C2
IID = P_0 - alpha * P_0 * s**2 * r_e**2
ALPHA = P_0 * (1 - P_0) - Q


def _index_hyps(*idx: sp.Symbol) -> list[Hyp]:
    out = []
    for i in idx:
        out += [Hyp(f"{i}>=0", i, ">=", 0), Hyp(f"{i}<=K-1", i, "<=", K - 1)]
    return out


@dataclass
class Expect(Step):
    """``E[X] = value``: ``E`` through finite sums and deterministic factors (linearity of
    expectation) and the law's moment identities; both named assumptions must be stated
    earlier in the proof."""

    arg: sp.Expr
    value: sp.Expr
    random: sp.IndexedBase
    moments: Moments
    law: str
    why: str = ""
    label: str | None = None
    ranges: dict[sp.Symbol, tuple[sp.Expr, sp.Expr]] = field(default_factory=dict)
    by: Sequence[str] = ()
    symmetric: tuple[sp.IndexedBase, ...] = ()  # covariance families: Σ_ab = Σ_ba

    def check(self, ctx: Context) -> Result:
        named = {r.name for r in ctx.proof.steps[: ctx.proof.steps.index(self)]
                 if isinstance(r, Assumption)}
        for need in ("linearity of expectation", "moment identities"):
            if need not in named:
                return Result(False, f"named assumption {need!r} not stated before")
        for idx, (lo, hi) in self.ranges.items():
            if ctx.proof.hypothesis(idx - lo) is None or ctx.proof.hypothesis(hi - idx) is None:
                return Result(False, f"no hypotheses {lo} <= {idx} <= {hi}")
        try:
            ex = expect(ctx.expand_defs(self.arg), self.random, self.moments, self.ranges)
        except ValueError as exc:
            return Result(False, str(exc))
        eqs = [ctx.expand_defs(ctx.facts[label].expr) for label in self.by]
        ok = sum_zero(ex - ctx.expand_defs(self.value), self.ranges, eqs, self.symmetric)
        return Result(ok, "linearity and moments give the value" if ok else "expectation differs")

    def fact(self) -> Fact:
        return Fact(sp.sympify(E(self.arg) - self.value), "eq")

    def exprs(self) -> list[sp.Basic]:
        return [E(self.arg), sp.sympify(self.value)]

    def latex(self) -> str:
        return f"\\mathbb{{E}}\\left[{sp.latex(self.arg)}\\right] = {sp.latex(self.value)}"

    def text(self) -> str:
        return f"E[{self.arg}] = {self.value}   ({self.law})"


def _deriv(f: sp.Expr, k: int) -> sp.Expr:
    return sp.Subs(sp.Derivative(f, (_t, k)), _t, 0) if k else f.subs(_t, 0)


LINEARITY = Assumption(
    "linearity of expectation", r"\mathbb{E}\Big[\sum_k c_k X_k\Big] = \sum_k c_k\, "
    r"\mathbb{E} X_k \text{ for deterministic } c_k \text{ (finite sums)}",
    "expectation is linear (probability theory, not re-derived here)")


def theorem2_general() -> Proof:
    """H(r_e) = p_c + r_e ∇ᵀμ + (r_e²/2)(tr(Hc Σ) + μᵀ Hc μ) + O(r_e³), any K, any law."""
    ranges = {c: RANGE, a: RANGE, b: RANGE}
    rc = {c: RANGE}
    f = softmax_c(g, _t)
    defs: dict[sp.Basic, sp.Basic] = {
        p: sp.Lambda(_u, sp.exp(z[_u]) / NORMALISER),
        H_f: sp.Lambda(_t, E(f)),
    }
    steps: list[Step] = [
        Eq(sp.diff(softmax_c(None, 0), z[a]), grad(a),
           "first derivative of softmax_c in the logit z_a (sympy differentiates the sum "
           "for symbolic K; δ sifts the sum)", sums=ranges, label="grad"),
        Eq(sp.diff(softmax_c(None, 0), z[a], z[b]), hess(a, b),
           "second derivative of softmax_c in z_a, z_b", sums=ranges, label="hess"),
        Eq(_deriv(f, 1), sp.Sum(grad(a) * g[a], (a, 0, K - 1)),
           "chain rule: d/dr softmax_c(z + r g) at 0 is ∇ᵀg", sums=rc, label="d1"),
        Eq(_deriv(f, 2), sp.Sum(sp.Sum(hess(a, b) * g[a] * g[b], (a, 0, K - 1)), (b, 0, K - 1)),
           "chain rule: the second derivative at 0 is gᵀ Hc g", sums=rc, label="d2"),
        Taylor(H, f, _t, r_e, 3,
               "Taylor's theorem with remainder for the smooth map r -> softmax_c(z + r g); the "
               "third derivative of softmax is bounded by a polynomial in |g| and the third "
               "absolute moment is finite: the remainder's expectation is O(r^3)",
               expectation=E, label="dc"),
        LINEARITY,
        Assumption("moment identities",
                   r"\mathbb{E}\, g_a = \mu_a,\quad \mathbb{E}\, g_a g_b = \Sigma_{ab} + \mu_a\mu_b",
                   "μ and Σ are the mean vector and covariance matrix of the shift law "
                   "(hypotheses mean, cov)"),
        Expect(_deriv(f, 0), p[c], g, general_moments(mu, Sigma), "deterministic",
               "order 0: P_0(c) = p_c", label="e0", ranges=rc),
        Expect(_deriv(f, 1), GENERAL_C1, g, general_moments(mu, Sigma), "mean mu",
               "order 1: E ∇ᵀg = ∇ᵀμ", label="e1", ranges=rc),
        Expect(_deriv(f, 2), 2 * GENERAL_C2, g, general_moments(mu, Sigma), "covariance Sigma",
               "order 2: E gᵀHc g = tr(Hc Σ) + μᵀHc μ (Σ is symmetric: E g_a g_b = E g_b g_a)",
               label="e2", ranges=rc, symmetric=(Sigma,)),
        SeriesEq(H, GENERAL, r_e, 3, "collect the orders", premise="dc",
                 by=["e0", "e1", "e2"], weights=[1, r_e, r_e**2 / 2], label="general",
                 sums=rc),
    ]
    return Proof(
        name="Theorem 2 (general form, symbolic K)",
        kind="Theorem",
        statement=(
            r"For $K$ answers (symbolic), logits $z$, $p = \mathrm{softmax}(z)$, correct answer "
            r"$c$ and random logit shifts $g$ with mean $\mu$, covariance $\Sigma$ and a finite "
            r"third absolute moment: $H(r_e) = \mathbb{E}\,\mathrm{softmax}_c(z + r_e g) = "
            f"{sp.latex(GENERAL)} + O(r_e^3)$."
        ),
        hypotheses=[*_index_hyps(c, a, b), Hyp("mean", E(g[a]), "==", mu[a]),
                    Hyp("cov", E(g[a] * g[b]), "==", Sigma[a, b] + mu[a] * mu[b])],
        steps=steps,
        conclusion=Hyp("general", H, "==", GENERAL, var=r_e, order=3),
        concludes="general",
        defs=defs,
    )


def theorem2_iid() -> Proof:
    """i.i.d. N(mu_0, s^2) shifts: H(r_e) = P_0 - alpha P_0 s^2 r_e^2 + O(r_e^4), symbolic K."""
    rc = {c: RANGE}
    f_x = softmax_c(x, _t)
    moments = centred_iid_moments(s)
    defs: dict[sp.Basic, sp.Basic] = {
        p: sp.Lambda(_u, sp.exp(z[_u]) / NORMALISER),
        P_0: p[c],
        Q: sp.Sum((1 - sp.KroneckerDelta(a, c)) * p[a] ** 2, (a, 0, K - 1)),
        alpha: P_0 * (1 - P_0) - Q,
        H_f: sp.Lambda(_t, E(softmax_c(x, _t, mu0))),
    }
    special = {Sigma[a, b]: s**2 * sp.KroneckerDelta(a, b), mu[a]: mu0, mu[b]: mu0}
    steps: list[Step] = [
        Eq(softmax_c(x, r_e, mu0), softmax_c(x, r_e), "softmax is shift invariant: the "
           "common mean mu_0 of the shifts cancels", sums=rc, label="shift"),
        Eq(H, E(softmax_c(x, r_e)), "so H is the expectation over the centred shifts x",
           sums=rc, congruence=True, label="centre"),
        Taylor(E(softmax_c(x, r_e)), f_x, _t, r_e, 4,
               "Taylor's theorem with remainder for the smooth map r -> softmax_c(z + r x); the "
               "fourth derivative of softmax is bounded by a polynomial in |x|, whose Gaussian "
               "moments are finite", expectation=E, label="dc"),
        LINEARITY,
        Assumption("moment identities",
                   r"\mathbb{E}\, x_a = 0,\quad \mathbb{E}\, x_a x_b = s^2 \delta_{ab},\quad "
                   r"\mathbb{E}\, x_a x_b x_d = 0",
                   "x_a = g_a - mu_0 i.i.d. N(0, s^2), s = lambda sigma beta: independence and "
                   "the Gaussian moments E X = E X^3 = 0, E X^2 = s^2 (Lemma G)"),
        Expect(_deriv(f_x, 0), P_0, x, moments, "i.i.d.", "order 0", label="e0", ranges=rc),
        Expect(_deriv(f_x, 1), 0, x, moments, "i.i.d.",
               "order 1 vanishes: E x_a = 0", label="e1", ranges=rc),
        Expect(_deriv(f_x, 2), -2 * alpha * P_0 * s**2, x, moments, "i.i.d.",
               "order 2: E x_a x_b = s^2 delta_ab gives -2 alpha P_0 s^2 with "
               "alpha = P_0(1 - P_0) - Q", label="e2", ranges=rc),
        Expect(_deriv(f_x, 3), 0, x, moments, "i.i.d.",
               "order 3 vanishes: every third moment of x is 0", label="e3", ranges=rc),
        SeriesEq(H, IID, r_e, 4, "collect the orders", premise="dc",
                 by=["e0", "e1", "e2", "e3", "centre"],
                 weights=[1, r_e, r_e**2 / 2, r_e**3 / 6, 1], label="iid", sums=rc),
        Eq(GENERAL_C1.xreplace(special), 0, "the general form's first order at mu = mu_0 1 "
           "vanishes: sum_a (delta_ac - p_a) = 0", sums=rc),
        Eq(GENERAL_C2.xreplace(special), -alpha * P_0 * s**2,
           "and its second order at Sigma = s^2 I, mu = mu_0 1 is -alpha P_0 s^2 "
           "(sum_ab Hc_ab = 0, sum_a Hc_aa = -2 alpha P_0)", sums=rc),
    ]
    return Proof(
        name="Theorem 2 (i.i.d., symbolic K)",
        kind="Theorem",
        statement=(
            r"For $K$ answers (symbolic) with i.i.d. $N(\mu_0, s^2)$ logit shifts, "
            r"$s = \lambda\sigma\beta$, $P_0 = p_c$, $Q = \sum_{a \ne c} p_a^2$ and "
            r"$\alpha = P_0(1 - P_0) - Q$: "
            f"$H(r_e) = {sp.latex(IID)} + O(r_e^4)$ (no first- or third-order term)."
        ),
        hypotheses=_index_hyps(c, a, b),
        steps=steps,
        conclusion=Hyp("iid", H, "==", IID, var=r_e, order=4),
        concludes="iid",
        defs=defs,
    )
