"""Lemma G: the Gaussian moments used by Theorems 2 and 2′ (checked by integration)."""

from __future__ import annotations

import sympy as sp

from proofs.framework import (
    Eq,
    Proof,
    Step,
)
from theory.symbols import beta, lam, sigma

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


