"""Theorem 1 (alignment bound, margin 2γλ) for both signs of r_e, its equality case, the
sequence-level version and slope, the guarantee corollary and the linear-gain expansion.

Each proof writes its own conclusion from the theory symbols; ``proofs.statements`` compares it
with the ``theory`` object."""

from __future__ import annotations

import sympy as sp

from proofs.common import i, k, n, total, x, xp
from proofs.framework import (
    ByLemma,
    ByMax,
    Eq,
    From,
    Hyp,
    Ineq,
    Monotone,
    Proof,
    SeriesEq,
    Step,
)
from proofs.mediant import M as M_up
from proofs.mediant import a, b, m
from theory.alignment import B_r, dB_dr
from theory.symbols import B_0, delta_minus, delta_plus, epsilon, gamma, lam, r_e

#: The proofs' own statements (compared with theory.alignment by proofs.statements).
BOUND = sp.tanh(gamma * lam * r_e + sp.atanh(B_0))
THRESHOLD = (sp.atanh(1 - epsilon) - sp.atanh(B_0)) / (gamma * lam)
LINEAR = B_0 + gamma * lam * (1 - B_0**2) * r_e
SECOND = -((gamma * lam) ** 2) * B_0 * (1 - B_0**2) * r_e**2
GL = gamma * lam

# Log-weights of the positive (z_i) and negative (w_j) outcomes at r_e = 0, their logit
# shifts g_i, h_j, and bounds: g_lo <= g_i (i in S+), h_j <= g_hi (j in S-).
z = sp.IndexedBase("z", real=True)
w = sp.IndexedBase("w", real=True)
g = sp.IndexedBase("g", real=True)
h = sp.IndexedBase("h", real=True)
g_lo = sp.Symbol("g_{+}", real=True)
g_hi = sp.Symbol("g_{-}", real=True)
U_p = sp.Function("U_+")
U_m = sp.Function("U_-")
L = sp.Function("L")
_t = sp.Symbol("t", real=True)


def _rel(sign: int) -> str:
    return ">=" if sign > 0 else "<="


def _core_steps(
    sign: int,
    lower_lemma: Proof,
    upper_lemma: Proof,
    shift_p: sp.Expr,
    shift_m: sp.Expr,
    bound_p: sp.Expr,
    bound_m: sp.Expr,
    facts: tuple[str, str, str],
) -> list[Step]:
    """The chain mediant -> log -> tanh, given (sign-oriented) facts
    shift_p vs bound_p, bound_m vs shift_m, and bound_p - bound_m vs 2 gamma lambda r_e."""
    f_p, f_m, f_gap = facts
    rel, rev = _rel(sign), _rel(-sign)
    lemma_p, lemma_m = (lower_lemma, upper_lemma) if sign > 0 else (upper_lemma, lower_lemma)
    key_p = m if sign > 0 else M_up
    key_m = M_up if sign > 0 else m
    ratio_p = U_p(r_e) / U_p(0)
    ratio_m = U_m(r_e) / U_m(0)
    def up(f: sp.Expr, var: sp.Symbol, small: sp.Expr, big: sp.Expr, order: str) -> Monotone:
        """f increasing: f(big) >= f(small); the roles swap with the sign."""
        lo, hi = (small, big) if sign > 0 else (big, small)
        return Monotone(var, f, lo, hi, order=order)

    return [
        Ineq(sp.exp(shift_p), rel, sp.exp(bound_p), up(sp.exp(x), x, bound_p, shift_p, f_p),
             "exp is increasing", label="exp_p"),
        Ineq(sp.exp(z[i]) * sp.exp(shift_p), rel, sp.exp(bound_p) * sp.exp(z[i]),
             From(["exp_p"], [sp.exp(z[i])]), "multiply by the positive weight e^{z_i}",
             label="term_p"),
        Ineq(sp.exp(shift_m), rev, sp.exp(bound_m), up(sp.exp(x), x, shift_m, bound_m, f_m),
             "exp is increasing", label="exp_m"),
        Ineq(sp.exp(w[i]) * sp.exp(shift_m), rev, sp.exp(bound_m) * sp.exp(w[i]),
             From(["exp_m"], [sp.exp(w[i])]), "multiply by the positive weight e^{w_j}",
             label="term_m"),
        Ineq(ratio_p, rel, sp.exp(bound_p),
             ByLemma(lemma_p, {a[i]: sp.exp(z[i]) * sp.exp(shift_p), b[i]: sp.exp(z[i]),
                               key_p: sp.exp(bound_p)}),
             "mediant over S+", label="ratio_p"),
        Ineq(ratio_m, rev, sp.exp(bound_m),
             ByLemma(lemma_m, {a[i]: sp.exp(w[i]) * sp.exp(shift_m),
                               b[i]: sp.exp(w[i]), key_m: sp.exp(bound_m), n: k}),
             "mediant over S-", label="ratio_m"),
        Ineq(sp.log(ratio_p), rel, bound_p, up(sp.log(xp), xp, sp.exp(bound_p), ratio_p,
                                                "ratio_p"),
             "log is increasing on (0, oo)", label="log_p"),
        Ineq(sp.log(ratio_m), rev, bound_m, up(sp.log(xp), xp, ratio_m, sp.exp(bound_m),
                                               "ratio_m"),
             "log is increasing on (0, oo)", label="log_m"),
        Ineq(L(r_e) / 2, rel, L(0) / 2 + GL * r_e,
             From(["log_p", "log_m", f_gap], [sp.Rational(1, 2)] * 3),
             "add the two log bounds and the margin", label="log_ratio"),
        Eq(B_r, sp.tanh(L(r_e) / 2), "B = tanh(log(P(S+)/P(S-))/2)", label="B_tanh"),
        Eq(sp.tanh(L(0) / 2 + GL * r_e), BOUND, "artanh B_0 = L(0)/2", label="B0_atanh"),
        Ineq(sp.tanh(L(r_e) / 2), rel, sp.tanh(L(0) / 2 + GL * r_e),
             up(sp.tanh(x), x, L(0) / 2 + GL * r_e, L(r_e) / 2, "log_ratio"),
             "tanh is increasing", label="tanh_step"),
        Ineq(B_r, rel, BOUND, From(["tanh_step", "B_tanh", "B0_atanh"], [1, sign, sign]),
             "combine", label="theorem"),
    ]


def _defs(shift_p: sp.Expr, shift_m: sp.Expr) -> dict[sp.Basic, sp.Basic]:
    """The statement's definitions: U_± (unnormalised masses of S± as functions of r_e; the
    normaliser cancels in every ratio), L = log(U_+/U_-), B_{r_e} and B_0 = B at r_e = 0."""
    ups = sp.Lambda(_t, total(sp.exp(z[i] + shift_p.subs(r_e, _t))))
    ums = sp.Lambda(_t, total(sp.exp(w[i] + shift_m.subs(r_e, _t)), i, k))
    return {
        U_p: ups,
        U_m: ums,
        L: sp.Lambda(_t, sp.log(U_p(_t) / U_m(_t))),
        B_r: (U_p(r_e) - U_m(r_e)) / (U_p(r_e) + U_m(r_e)),
        B_0: (U_p(0) - U_m(0)) / (U_p(0) + U_m(0)),
    }


def theorem1(sign: int, lower: Proof, upper: Proof, g: sp.IndexedBase = g,
             h: sp.IndexedBase = h) -> Proof:
    """Theorem 1 for r_e >= 0 (sign=+1) or r_e <= 0 (sign=-1), token level."""
    rel = _rel(sign)
    defs = _defs(r_e * g[i], r_e * h[i])
    hyps = [
        Hyp("r_sign", r_e, rel, 0),
        Hyp("S+", g[i], ">=", g_lo),
        Hyp("S-", h[i], "<=", g_hi),
        Hyp("margin", g_lo - g_hi, ">=", 2 * GL),
    ]
    wr = r_e if sign > 0 else -r_e
    prelim: list[Step] = [
        Ineq(r_e * g[i], rel, r_e * g_lo, From(["S+"], [wr]), "scale by r_e", label="shift_p"),
        Ineq(r_e * h[i], _rel(-sign), r_e * g_hi, From(["S-"], [wr]), "scale by r_e",
             label="shift_m"),
        Ineq(r_e * g_lo - r_e * g_hi, rel, 2 * GL * r_e, From(["margin"], [wr]),
             "scale the margin by r_e", label="gap"),
    ]
    core = _core_steps(sign, lower, upper, r_e * g[i], r_e * h[i], r_e * g_lo, r_e * g_hi,
                       ("shift_p", "shift_m", "gap"))
    side = "r_e \\ge 0" if sign > 0 else "r_e \\le 0"
    word = "lower" if sign > 0 else "upper"
    rel_tex = "\\ge" if sign > 0 else "\\le"
    return Proof(
        name=f"Theorem 1 ({'r_e >= 0' if sign > 0 else 'r_e <= 0'})",
        kind="Theorem",
        statement=(
            f"If every logit shift satisfies $g_s - g_{{s'}} \\ge 2\\gamma\\lambda$ "
            f"($s \\in S_+$, $s' \\in S_-$), then for ${side}$ the behavior expectation has the "
            f"{word} bound $B_{{r_e}} {rel_tex} {sp.latex(BOUND)}$."
        ),
        hypotheses=hyps,
        steps=[*prelim, *core],
        conclusion=Hyp("thm1", B_r, rel, BOUND),
        concludes="theorem",
        defs=defs,
    )


def sequence_level(lower: Proof, upper: Proof) -> Proof:
    """Theorem 1 for whole sequences with log-likelihoods exactly linear in r_e (up to the
    normaliser): per-unit shifts delta(y), margin 2 gamma lambda between S+ and S-."""
    d = sp.IndexedBase("delta", real=True)
    e = sp.IndexedBase("delta'", real=True)
    proof = theorem1(1, lower, upper, d, e)
    proof.name = "Theorem 1 (sequence level)"
    proof.statement = (
        r"Let whole answers $y$ have log-likelihoods exactly linear in $r_e$ up to normalisation, "
        r"$\log P_{r_e}(y) = \log P_0(y) + r_e\delta(y) - \log Z(r_e)$. If "
        r"$\delta(y) - \delta(y') \ge 2\gamma\lambda$ for all $y \in S_+$, $y' \in S_-$ and "
        f"$r_e \\ge 0$, then $B_{{r_e}} \\ge {sp.latex(BOUND)}$ (the token-level chain with "
        r"$g \to \delta$)."
    )
    return proof


def equality_case() -> Proof:
    """Equal shifts within S+ and within S-, gap exactly 2 gamma lambda: the bound is attained."""
    g_p = sp.Symbol("g_{+}", real=True)
    g_m = sp.Symbol("g_{-}", real=True)
    defs = _defs(r_e * g_p, r_e * g_m)
    gap = {g_p: g_m + 2 * GL}
    return Proof(
        name="Theorem 1 (equality case)",
        kind="Theorem",
        statement=(
            r"If $g_s = g_+$ for all $s \in S_+$, $g_{s'} = g_-$ for all $s' \in S_-$ and "
            f"$g_+ - g_- = 2\\gamma\\lambda$, then $B_{{r_e}} = {sp.latex(BOUND)}$ for every "
            "real $r_e$."
        ),
        hypotheses=[Hyp("gap", g_p - g_m, "==", 2 * GL)],
        steps=[
            Eq(U_p(r_e), sp.exp(r_e * g_p) * U_p(0), "a common factor leaves the sum",
               label="Up"),
            Eq(U_m(r_e), sp.exp(r_e * g_m) * U_m(0), "a common factor leaves the sum",
               label="Um"),
            Eq(B_r, sp.tanh(L(r_e) / 2), "B = tanh(L/2)", label="B_tanh"),
            Eq(L(r_e), L(0) + 2 * GL * r_e,
               "log of the ratio; substitute g_+ = g_- + 2 gamma lambda (hypothesis)",
               reparam=gap, by=["gap"], label="L"),
            Eq(sp.tanh(L(0) / 2 + GL * r_e), BOUND, "artanh B_0 = L(0)/2", label="B0_atanh"),
            Eq(B_r, BOUND, "combine the three equations", combine=["B_tanh", "L", "B0_atanh"],
               weights=[1, 0, 1], reparam=gap, by=["gap"], label="equality"),
        ],
        conclusion=Hyp("equality", B_r, "==", BOUND),
        concludes="equality",
        defs=defs,
    )


def guarantee(thm: Proof) -> Proof:
    """B_{r_e} >= 1 - epsilon once r_e >= max(0, (artanh(1-epsilon) - artanh B_0)/(gamma lambda))."""
    hyps = [hyp for hyp in thm.hypotheses if hyp.label != "r_sign"]
    return Proof(
        name="Corollary (guarantee)",
        kind="Corollary",
        statement=(
            r"Under Theorem 1's hypotheses except the sign of $r_e$, for $0 < \epsilon < 2$, "
            f"$B_0 > -1$ and $r_e \\ge {sp.latex(sp.Max(0, THRESHOLD))}$: "
            r"$B_{r_e} \ge 1 - \epsilon$. (Without the $\max(0, \cdot)$ the threshold can be "
            r"negative, where Theorem 1 says nothing.)"
        ),
        hypotheses=[*hyps, Hyp("eps>0", epsilon, ">=", 0), Hyp("eps<2", epsilon, "<=", 2),
                    Hyp("enough", r_e, ">=", sp.Max(0, THRESHOLD))],
        steps=[
            Ineq(sp.Max(0, THRESHOLD), ">=", 0, ByMax(), "max(0, t) >= 0", label="max0"),
            Ineq(sp.Max(0, THRESHOLD), ">=", THRESHOLD, ByMax(), "max(0, t) >= t", label="maxT"),
            Ineq(r_e, ">=", 0, From(["enough", "max0"]), "so r_e >= 0: Theorem 1 applies",
                 label="r_sign"),
            Ineq(r_e, ">=", THRESHOLD, From(["enough", "maxT"]), "and r_e >= the threshold",
                 label="above"),
            Ineq(B_r, ">=", BOUND, ByLemma(thm), "Theorem 1", label="thm"),
            Ineq(GL * r_e + sp.atanh(B_0), ">=", sp.atanh(1 - epsilon),
                 From(["above"], [GL]), "multiply by gamma lambda > 0", label="arg"),
            Ineq(BOUND, ">=", 1 - epsilon,
                 Monotone(x, sp.tanh(x), sp.atanh(1 - epsilon), GL * r_e + sp.atanh(B_0),
                          order="arg"),
                 "tanh is increasing and tanh(artanh(1 - epsilon)) = 1 - epsilon", label="tanh"),
            Ineq(B_r, ">=", 1 - epsilon, From(["thm", "tanh"]), "transitivity",
                 label="guarantee"),
        ],
        conclusion=Hyp("guarantee", B_r, ">=", 1 - epsilon),
        concludes="guarantee",
        defs=dict(thm.defs),
    )


def linear_gain_expansion() -> Proof:
    """The bound's Taylor expansion: linear gain gamma lambda(1 - B_0^2) r_e, then r_e^2."""
    return Proof(
        name="Corollary (linear gain)",
        kind="Corollary",
        statement=(
            f"${sp.latex(BOUND)} = {sp.latex(LINEAR + SECOND)} + O(r_e^3)$, so by Theorem 1 "
            f"$B_{{r_e}} \\ge {sp.latex(LINEAR)} + O(r_e^2)$ for $r_e \\ge 0$; the bound is the "
            r"fitted curve $\tanh(a r_e + b)$ with $a = \gamma\lambda$, "
            r"$b = \operatorname{artanh} B_0$."
        ),
        steps=[
            SeriesEq(BOUND, LINEAR + SECOND, r_e, 3, "Taylor expansion at r_e = 0",
                     label="series"),
            SeriesEq(BOUND, LINEAR, r_e, 2, "first-order truncation"),
        ],
        conclusion=Hyp("series", BOUND, "==", LINEAR + SECOND, var=r_e, order=3),
        concludes="series",
    )


def sequence_slope() -> Proof:
    """dB/dr_e at 0 = (1 - B_0^2)/2 (mean shift on S+ minus mean shift on S-), no margin."""
    d = sp.IndexedBase("delta", real=True)
    e = sp.IndexedBase("delta'", real=True)
    defs = _defs(r_e * d[i], r_e * e[i])
    dU_p = sp.Function("U'_+")
    dU_m = sp.Function("U'_-")
    defs.update({
        dU_p: sp.Lambda(_t, total(d[i] * sp.exp(z[i] + _t * d[i]))),
        dU_m: sp.Lambda(_t, total(e[i] * sp.exp(w[i] + _t * e[i]), i, k)),
        dB_dr: sp.Subs(sp.Derivative(defs[B_r], r_e), r_e, 0),
        delta_plus: dU_p(0) / U_p(0),
        delta_minus: dU_m(0) / U_m(0),
    })
    slope = (1 - B_0**2) / 2 * (delta_plus - delta_minus)
    return Proof(
        name="Theorem 1 (sequence-level slope)",
        kind="Theorem",
        statement=(
            r"For sequences $y$ with log-likelihoods exactly linear in $r_e$ up to normalisation, "
            r"$\log P_{r_e}(y) = \log P_0(y) + r_e \delta(y) - \log Z(r_e)$, and "
            r"$\bar\delta_\pm = E_{P_0}[\delta \mid S_\pm]$: "
            f"$\\left.dB/dr_e\\right|_0 = {sp.latex(slope)}$ (no margin needed)."
        ),
        steps=[
            Eq(sp.Subs(sp.Derivative(U_p(r_e), r_e), r_e, 0), dU_p(0),
               "differentiate the sum term by term", label="dUp"),
            Eq(sp.Subs(sp.Derivative(U_m(r_e), r_e), r_e, 0), dU_m(0),
               "differentiate the sum term by term", label="dUm"),
            Eq(dB_dr, 2 * (dU_p(0) * U_m(0) - U_p(0) * dU_m(0)) / (U_p(0) + U_m(0)) ** 2,
               "quotient rule", label="quotient"),
            Eq(dB_dr, slope, "1 - B_0^2 = 4 U_+ U_- / (U_+ + U_-)^2 and the definitions of the "
               "mean shifts", combine=["quotient"], weights=[1], label="slope"),
        ],
        conclusion=Hyp("slope", dB_dr, "==", slope),
        concludes="slope",
        defs=defs,
    )
