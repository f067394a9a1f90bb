"""Lemma (mediant): a ratio of sums lies between the extreme termwise ratios."""

from __future__ import annotations

import sympy as sp

from proofs.common import i, total
from proofs.framework import ByLemma, Eq, From, Hyp, Ineq, Proof, SumNonneg

a = sp.IndexedBase("a", real=True)
b = sp.IndexedBase("b", positive=True)
m = sp.Symbol("m", real=True)
M = sp.Symbol("M", real=True)


def _identity_steps() -> list[Eq]:
    """The key identity with explicit terms for n = 2..6 (the general form is checked too)."""
    steps = []
    for size in range(2, 7):
        av = sp.symbols(f"a_1:{size + 1}", real=True)
        bv = sp.symbols(f"b_1:{size + 1}", positive=True)
        steps.append(
            Eq(
                sum(av) - m * sum(bv),
                sum(bj * (aj / bj - m) for aj, bj in zip(av, bv, strict=True)),
                f"regrouping, n = {size}",
            )
        )
    return steps


def mediant_lower() -> Proof:
    """min_i a_i/b_i <= Σa/Σb, as: a_i >= m b_i for all i implies Σa/Σb >= m."""
    sum_a, sum_b = total(a[i]), total(b[i])
    return Proof(
        name="Lemma M (mediant, lower)",
        kind="Lemma",
        statement=(
            r"For $b_i > 0$ and $m = \min_i a_i/b_i$ (i.e. $a_i \ge m b_i$ for every $i$): "
            r"$\frac{\sum_i a_i}{\sum_i b_i} \ge m$."
        ),
        hypotheses=[Hyp("termwise", a[i], ">=", m * b[i])],
        steps=[
            *_identity_steps(),
            Eq(
                sum_a - m * sum_b,
                total(b[i] * (a[i] / b[i] - m)),
                "linearity of the sum (general n)",
                label="identity",
            ),
            Ineq(
                total(a[i] - m * b[i]),
                ">=",
                0,
                SumNonneg(),
                "each term is nonnegative by hypothesis",
                label="sum_nonneg",
            ),
            Ineq(
                sum_a / sum_b,
                ">=",
                m,
                From(["sum_nonneg"], [1 / sum_b]),
                "divide by the positive total",
                label="lower",
            ),
        ],
        conclusion=Hyp("mediant", sum_a / sum_b, ">=", m),
        concludes="lower",
    )


def mediant_upper(lower: Proof) -> Proof:
    """Σa/Σb <= max_i a_i/b_i, from the lower bound applied to -a."""
    sum_a, sum_b = total(a[i]), total(b[i])
    return Proof(
        name="Lemma M' (mediant, upper)",
        kind="Lemma",
        statement=(
            r"For $b_i > 0$ and $M = \max_i a_i/b_i$ (i.e. $a_i \le M b_i$): "
            r"$\frac{\sum_i a_i}{\sum_i b_i} \le M$."
        ),
        hypotheses=[Hyp("termwise", a[i], "<=", M * b[i])],
        steps=[
            Ineq(
                sum_a / sum_b,
                "<=",
                M,
                ByLemma(lower, {a[i]: -a[i], m: -M}),
                "the lower mediant bound for the numbers -a_i",
                label="upper",
            ),
        ],
        conclusion=Hyp("mediant_upper", sum_a / sum_b, "<=", M),
        concludes="upper",
    )
