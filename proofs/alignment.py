"""Theorem 1 (alignment bound) for both signs of r_e, its equality case, the sequence-level
version, the guarantee corollary and the linear-gain expansion."""

from __future__ import annotations

import sympy as sp

from proofs.common import i, k, n, total, x, xp
from proofs.framework import (
    ByLemma,
    Def,
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
from theory.alignment import bound, guarantee_coefficient, linear_gain, second_order_term
from theory.symbols import B_0, epsilon, lam, r_e

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
B = sp.Function("B")
L = sp.Function("L")

MARGIN = "every positive shift exceeds every negative one by at least 2 lambda"


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
    shift_p vs bound_p, bound_m vs shift_m, and bound_p - bound_m vs 2 lambda r_e."""
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
        Ineq(L(r_e) / 2, rel, L(0) / 2 + lam * r_e,
             From(["log_p", "log_m", f_gap], [sp.Rational(1, 2)] * 3),
             "add the two log bounds and the margin", label="log_ratio"),
        Eq(B(r_e), sp.tanh(L(r_e) / 2), "B = tanh(log(P(S+)/P(S-))/2)", label="B_tanh"),
        Eq(sp.tanh(L(0) / 2 + lam * r_e), bound, "artanh B_0 = L(0)/2", label="B0_atanh"),
        Ineq(sp.tanh(L(r_e) / 2), rel, sp.tanh(L(0) / 2 + lam * r_e),
             up(sp.tanh(x), x, L(0) / 2 + lam * r_e, L(r_e) / 2, "log_ratio"),
             "tanh is increasing", label="tanh_step"),
        Ineq(B(r_e), rel, bound, From(["tanh_step", "B_tanh", "B0_atanh"], [1, sign, sign]),
             "combine", label="theorem"),
    ]


def _defs(shift_p: sp.Expr, shift_m: sp.Expr) -> list[Step]:
    """U_+, U_- (unnormalised masses), L = log(U_+/U_-), B and B_0."""
    ups = total(sp.exp(z[i] + shift_p))
    ums = total(sp.exp(w[i] + shift_m), i, k)
    return [
        Def(U_p(r_e), ups, "unnormalised mass of S+ (the normaliser cancels in every ratio)"),
        Def(U_p(0), total(sp.exp(z[i]))),
        Def(U_m(r_e), ums, "unnormalised mass of S-"),
        Def(U_m(0), total(sp.exp(w[i]), i, k)),
        Def(L(r_e), sp.log(U_p(r_e) / U_m(r_e)), "log-odds of the behavior"),
        Def(L(0), sp.log(U_p(0) / U_m(0))),
        Def(B(r_e), (U_p(r_e) - U_m(r_e)) / (U_p(r_e) + U_m(r_e)), "B = P(S+) - P(S-)"),
        Def(B_0, (U_p(0) - U_m(0)) / (U_p(0) + U_m(0)), "B at r_e = 0"),
    ]


def _def_map(steps: list[Step]) -> dict[sp.Expr, sp.Expr]:
    return {s.name: s.value for s in steps if isinstance(s, Def)}


def theorem1(sign: int, lower: Proof, upper: Proof) -> Proof:
    """Theorem 1 for r_e >= 0 (sign=+1) or r_e <= 0 (sign=-1), token level."""
    rel = _rel(sign)
    defs = _defs(r_e * g[i], r_e * h[i])
    hyps = [
        Hyp("r_sign", r_e, rel, 0),
        Hyp("S+", g[i], ">=", g_lo),
        Hyp("S-", h[i], "<=", g_hi),
        Hyp("margin", g_lo - g_hi, ">=", 2 * lam),
    ]
    wr = r_e if sign > 0 else -r_e
    prelim: list[Step] = [
        Ineq(r_e * g[i], rel, r_e * g_lo, From(["S+"], [wr]), "scale by r_e", label="shift_p"),
        Ineq(r_e * h[i], _rel(-sign), r_e * g_hi, From(["S-"], [wr]), "scale by r_e",
             label="shift_m"),
        Ineq(r_e * g_lo - r_e * g_hi, rel, 2 * lam * r_e, From(["margin"], [wr]),
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
            f"If every logit shift satisfies $g_s - g_{{s'}} \\ge 2\\lambda$ ($s \\in S_+$, "
            f"$s' \\in S_-$), then for ${side}$ the behavior expectation has the {word} bound "
            f"$B(r_e) {rel_tex} {sp.latex(bound)}$."
        ),
        hypotheses=hyps,
        steps=[*defs, *prelim, *core],
        conclusion=Hyp("thm1", B(r_e), rel, bound),
        concludes="theorem",
        defs=_def_map(defs),
    )


def sequence_level(lower: Proof, upper: Proof) -> Proof:
    """Theorem 1 for whole sequences: arbitrary log-likelihood shifts d_i (S+) and e_j (S-)."""
    d = sp.IndexedBase("d", real=True)
    e = sp.IndexedBase("e", real=True)
    d_lo = sp.Symbol("d_{+}", real=True)
    e_hi = sp.Symbol("d_{-}", real=True)
    defs = _defs(d[i], e[i])
    hyps = [
        Hyp("r_sign", r_e, ">=", 0),
        Hyp("S+", d[i], ">=", d_lo),
        Hyp("S-", e[i], "<=", e_hi),
        Hyp("margin", d_lo - e_hi, ">=", 2 * lam * r_e),
    ]
    core = _core_steps(1, lower, upper, d[i], e[i], d_lo, e_hi, ("S+", "S-", "margin"))
    return Proof(
        name="Theorem 1 (sequence level)",
        kind="Theorem",
        statement=(
            r"Let positive sequences $x_i \in S_+$ and negative $x'_j \in S_-$ have log-likelihood "
            r"shifts $d_i$, $e_j$ under steering (up to a common normaliser). If "
            r"$d_i - e_j \ge 2\lambda r_e$ for all $i, j$ and $r_e \ge 0$, then "
            f"$B(r_e) \\ge {sp.latex(bound)}$."
        ),
        hypotheses=hyps,
        steps=[*defs, *core],
        conclusion=Hyp("thm1seq", B(r_e), ">=", bound),
        concludes="theorem",
        defs=_def_map(defs),
    )


def equality_case() -> Proof:
    """Equal shifts within S+ and within S-, gap exactly 2 lambda: the bound is attained."""
    g_p = sp.Symbol("g_{+}", real=True)
    g_m = sp.Symbol("g_{-}", real=True)
    defs = _defs(r_e * g_p, r_e * g_m)
    return Proof(
        name="Theorem 1 (equality case)",
        kind="Theorem",
        statement=(
            r"If $g_s = g_+$ for all $s \in S_+$, $g_{s'} = g_-$ for all $s' \in S_-$ and "
            f"$g_+ - g_- = 2\\lambda$, then $B(r_e) = {sp.latex(bound)}$ for every real $r_e$."
        ),
        steps=[
            *defs,
            Eq(U_p(r_e), sp.exp(r_e * g_p) * U_p(0), "a common factor leaves the sum"),
            Eq(U_m(r_e), sp.exp(r_e * g_m) * U_m(0), "a common factor leaves the sum"),
            Eq(B(r_e), sp.tanh(L(r_e) / 2), "B = tanh(L/2)"),
            Eq(L(r_e), L(0) + 2 * lam * r_e, "log of the ratio, with g_+ - g_- = 2 lambda",
               reparam={g_p: g_m + 2 * lam}),
            Eq(sp.tanh(L(r_e) / 2), sp.tanh(L(0) / 2 + lam * r_e), "substitute L(r_e)",
               reparam={g_p: g_m + 2 * lam}),
            Eq(sp.tanh(L(0) / 2 + lam * r_e), bound, "artanh B_0 = L(0)/2, so B(r_e) equals the bound",
               label="equality"),
        ],
        defs=_def_map(defs),
    )


def guarantee(thm: Proof) -> Proof:
    """B(r_e) >= 1 - epsilon once r_e >= (artanh(1-epsilon) - artanh B_0)/lambda."""
    return Proof(
        name="Corollary (guarantee)",
        kind="Corollary",
        statement=(
            r"Under Theorem 1's hypotheses, for $0 < \epsilon < 1$, $B_0 > -1$, $r_e \ge 0$ and "
            f"$r_e \\ge {sp.latex(guarantee_coefficient)}$: $B(r_e) \\ge 1 - \\epsilon$."
        ),
        hypotheses=[*thm.hypotheses, Hyp("enough", r_e, ">=", guarantee_coefficient)],
        steps=[
            Ineq(B(r_e), ">=", bound, ByLemma(thm), "Theorem 1", label="thm"),
            Ineq(lam * r_e + sp.atanh(B_0), ">=", sp.atanh(1 - epsilon),
                 From(["enough"], [lam]), "multiply the hypothesis by lambda > 0", label="arg"),
            Ineq(bound, ">=", 1 - epsilon,
                 Monotone(x, sp.tanh(x), sp.atanh(1 - epsilon), lam * r_e + sp.atanh(B_0),
                          order="arg"),
                 "tanh is increasing and tanh(artanh(1 - epsilon)) = 1 - epsilon", label="tanh"),
            Ineq(B(r_e), ">=", 1 - epsilon, From(["thm", "tanh"]), "transitivity",
                 label="guarantee"),
        ],
        conclusion=Hyp("guarantee", B(r_e), ">=", 1 - epsilon),
        concludes="guarantee",
        defs=dict(thm.defs),
    )


def linear_gain_expansion() -> Proof:
    """The bound's Taylor expansion: linear gain lambda(1 - B_0^2) r_e, then the r_e^2 term."""
    second = linear_gain + second_order_term
    a_fit, b_fit = sp.symbols("a b", real=True)
    return Proof(
        name="Corollary (linear gain)",
        kind="Corollary",
        statement=(
            f"${sp.latex(bound)} = {sp.latex(second)} + O(r_e^3)$, so by Theorem 1 "
            f"$B(r_e) \\ge {sp.latex(linear_gain)} + O(r_e^2)$ for $r_e \\ge 0$; the bound is the "
            r"fitted curve $\tanh(a r_e + b)$ with $a = \lambda$, $b = \operatorname{artanh} B_0$."
        ),
        steps=[
            SeriesEq(bound, second, r_e, 3, "Taylor expansion at r_e = 0", label="series"),
            SeriesEq(bound, linear_gain, r_e, 2, "first-order truncation (theory.linear_gain)"),
            Eq(sp.tanh(a_fit * r_e + b_fit).subs({a_fit: lam, b_fit: sp.atanh(B_0)}), bound,
               "the paper's fitted curve with a = lambda, b = artanh B_0"),
        ],
    )
