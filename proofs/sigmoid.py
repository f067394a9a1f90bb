"""Lemma (symmetric sigmoid) and Lemma (e^x >= 1 + x)."""

from __future__ import annotations

import sympy as sp

from proofs.common import x
from proofs.framework import Decided, Eq, From, Hyp, Ineq, Monotone, Proof

m = sp.Symbol("m", real=True)
y = sp.Symbol("y", real=True)
u = sp.Symbol("u", nonnegative=True)
v = sp.Symbol("v", nonnegative=True)


def sigmoid(t: sp.Expr) -> sp.Expr:
    """The logistic function 1/(1 + e^{-t})."""
    return 1 / (1 + sp.exp(-t))


def symmetric_sigmoid() -> Proof:
    """sigmoid(m+y) + sigmoid(m-y) <= 2 sigmoid(m) for m >= 0 (y >= 0; y < 0 by evenness)."""
    f = sigmoid(m + y) + sigmoid(m - y) - 2 * sigmoid(m)
    ea, et = sp.exp(m), sp.exp(y)
    # f'(y) written in a = e^m, t = e^y: at/(1+at)^2 - at/(t+a)^2.
    fprime = ea * et / (1 + ea * et) ** 2 - ea * et / (et + ea) ** 2
    return Proof(
        name="Lemma S (symmetric sigmoid)",
        kind="Lemma",
        statement=(
            r"For $m \ge 0$ and every real $y$: $\sigma(m+y) + \sigma(m-y) \le 2\sigma(m)$, "
            r"with $\sigma(t) = 1/(1+e^{-t})$."
        ),
        hypotheses=[Hyp("m>=0", m, ">=", 0), Hyp("y>=0", y, ">=", 0)],
        steps=[
            Eq(f.subs(y, -y), f, "f is even in y, so y >= 0 suffices", label="even"),
            Eq(f.subs(y, 0), 0, "f(0) = 0", label="f0"),
            Eq(sp.diff(f, y), fprime, "derivative, in a = e^m and t = e^y", label="fp_eq"),
            Ineq(sp.exp(m), ">=", 1, Monotone(x, sp.exp(x), 0, m, order="m>=0"),
                 "exp is increasing", label="a>=1"),
            Ineq(sp.exp(y), ">=", 1, Monotone(x, sp.exp(x), 0, y, order="y>=0"),
                 "exp is increasing", label="t>=1"),
            Ineq(fprime, "<=", 0,
                 Decided(reparam={sp.exp(m): 1 + u, sp.exp(y): 1 + v},
                         premises=["a>=1", "t>=1"]),
                 "numerator factors as -(a-1)(t-1)(...) with positive rest", label="fp_sign"),
            Ineq(sp.diff(f, y), "<=", 0, From(["fp_sign", "fp_eq"], [1, -1]),
                 "the derivative is nonpositive for y >= 0", label="fp"),
            Ineq(f, "<=", 0, Monotone(y, f, 0, y, increasing=False, order="y>=0", deriv="fp"),
                 "f is nonincreasing on [0, y] and f(0) = 0", label="f<=0"),
            Ineq(sigmoid(m + y) + sigmoid(m - y), "<=", 2 * sigmoid(m), From(["f<=0"]),
                 "rearrange", label="lemma"),
        ],
        conclusion=Hyp("sym", sigmoid(m + y) + sigmoid(m - y), "<=", 2 * sigmoid(m)),
        concludes="lemma",
    )


def exp_tangent() -> Proof:
    """e^x >= 1 + x for x >= 0 (the case the quadratic form needs)."""
    f = sp.exp(x) - 1 - x
    return Proof(
        name="Lemma E (exp tangent line)",
        kind="Lemma",
        statement=r"For $x \ge 0$: $e^x \ge 1 + x$.",
        hypotheses=[Hyp("x>=0", x, ">=", 0)],
        steps=[
            Ineq(sp.exp(x), ">=", 1, Monotone(x, sp.exp(x), 0, x, order="x>=0"),
                 "exp is increasing", label="e>=1"),
            Ineq(sp.diff(f, x), ">=", 0, From(["e>=1"]), "f'(x) = e^x - 1", label="fp"),
            Ineq(f, ">=", 0, Monotone(x, f, 0, x, order="x>=0", deriv="fp"),
                 "f is nondecreasing on [0, x] and f(0) = 0", label="f>=0"),
            Ineq(sp.exp(x), ">=", 1 + x, From(["f>=0"]), "rearrange", label="lemma"),
        ],
        conclusion=Hyp("tangent", sp.exp(x), ">=", 1 + x),
        concludes="lemma",
    )
