"""Theorem 1 to second order: two outcomes on the second-order logit path (the log-odds are
exactly quadratic in r), and the several-outcome margin 2γλ r + (r²/2) w_min."""

from __future__ import annotations

import sympy as sp

from proofs.framework import Eq, From, Hyp, Ineq, Proof, SeriesEq, Step
from theory import alignment
from theory.symbols import B_0, gamma, lam, r_e, w_gap

z_a, z_b, g_a, g_b, w_a, w_b = sp.symbols("z_a z_b g_a g_b w_a w_b", real=True)
GL = gamma * lam


def _logit(z0: sp.Symbol, g: sp.Symbol, w: sp.Symbol, r: sp.Expr) -> sp.Expr:
    return z0 + r * g + r**2 / 2 * w


def _behavior(r: sp.Expr) -> sp.Expr:
    ea, eb = sp.exp(_logit(z_a, g_a, w_a, r)), sp.exp(_logit(z_b, g_b, w_b, r))
    return (ea - eb) / (ea + eb)


def theorem1_second() -> Proof:
    """B_r = tanh(artanh B_0 + γλ r + (r²/4)(w_a − w_b)) + O(r³) for two outcomes."""
    half = (_logit(z_a, g_a, w_a, r_e) - _logit(z_b, g_b, w_b, r_e)) / 2
    steps: list[Step] = [
        Eq(alignment.B_r, sp.tanh(half), "two outcomes: B = tanh of half the log-odds",
           label="tanh"),
        Eq(sp.tanh(half), alignment.second_order_bound,
           "substitute g_a = g_b + 2γλ and w_a = w_b + w_gap (hypotheses); artanh B_0 = "
           "(z_a − z_b)/2", reparam={g_a: g_b + 2 * GL, w_a: w_b + w_gap},
           by=["margin", "gap"], label="form"),
        Eq(alignment.B_r, alignment.second_order_bound, "so, exactly on the path",
           combine=["tanh", "form"], reparam={g_a: g_b + 2 * GL, w_a: w_b + w_gap},
           by=["margin", "gap"], label="exact"),
        SeriesEq(alignment.B_r, alignment.second_order_bound, r_e, 3,
                 "an identity is O(r^3); a further O(r^3) in the logits moves B by O(r^3) "
                 "(tanh is 1-Lipschitz)", premise="exact", label="second"),
    ]
    return Proof(
        name="Theorem 1 (second order, two outcomes)",
        kind="Theorem",
        statement=(r"Two outcomes $S_+ = \{a\}$, $S_- = \{b\}$ with logits $z + r g + "
                   r"\frac{r^2}{2} w$ (+ $O(r^3)$), $g_a - g_b = 2\gamma\lambda$ and $w_a - w_b = "
                   r"w_{gap}$: $B_r = " + sp.latex(alignment.second_order_bound) + r" + O(r^3)$. "
                   r"For $r > 0$ it lies below Theorem 1's linear bound exactly when "
                   r"$w_{gap} < 0$ (tanh is increasing)."),
        hypotheses=[Hyp("margin", g_a - g_b, "==", 2 * GL), Hyp("gap", w_a - w_b, "==", w_gap)],
        steps=steps,
        conclusion=Hyp("second", alignment.B_r, "==", alignment.second_order_bound, var=r_e,
                       order=3),
        concludes="second",
        defs={alignment.B_r: _behavior(r_e), B_0: _behavior(sp.Integer(0))},
    )


def margin_second() -> Proof:
    """Every pair s ∈ S+, s' ∈ S− separates by ≥ 2γλ r + (r²/2) w_min on the path, r ≥ 0."""
    gap_g, gap_w = sp.symbols("G_{ss'} W_{ss'}", real=True)
    return Proof(
        name="Theorem 1 (second-order margin)",
        kind="Theorem",
        statement=(r"On the path $z + r g + \frac{r^2}{2} w$, if $g_s - g_{s'} \ge 2\gamma\lambda$ "
                   r"and $w_s - w_{s'} \ge w_{min}$ for every $s \in S_+$, $s' \in S_-$, then for "
                   r"$r \ge 0$ every pair's logit gap grows by at least $" +
                   sp.latex(alignment.margin_second) + r"$, and so does the margin, their "
                   r"least value."),
        hypotheses=[Hyp("pair", gap_g, ">=", 2 * GL), Hyp("curv", gap_w, ">=", alignment.w_min),
                    Hyp("r>=0", r_e, ">=", 0)],
        steps=[Ineq(alignment.pair_gap, ">=", alignment.margin_second,
                    From(["pair", "curv"], [r_e, r_e**2 / 2]),
                    "scale the pair's two gaps by r >= 0 and r²/2 and add", label="margin")],
        conclusion=Hyp("margin", alignment.pair_gap, ">=", alignment.margin_second),
        concludes="margin",
        defs={alignment.pair_gap: r_e * gap_g + r_e**2 / 2 * gap_w},
    )
