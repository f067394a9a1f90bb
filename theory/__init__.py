"""Symbolic and numeric theory of steering tradeoffs (Wolf et al., arXiv 2401.16332), THEORY v2.

Modules: ``symbols`` (sympy symbols and their ``RANGES``), ``alignment`` (Theorem 1),
``helpfulness`` (Theorems 2 and 2′), ``tradeoff`` (the efficient-regime corollary), ``response``
(Proposition 1; imports torch lazily), ``simulate`` and ``verify`` (checks on simulated
random-direction models; ``python -m theory.verify [--mutants]``).
"""

from __future__ import annotations

from theory import alignment, helpfulness, response, symbols, tradeoff
from theory._common import Statement, solve_in_range
from theory.alignment import behavior, evaluate, guarantee, margin
from theory.helpfulness import Expectation, SpreadBound, expected, second_order_coefficients, theorem2_prime
from theory.response import Response, along, linear_response
from theory.symbols import (
    B_0,
    P_0,
    RANGES,
    K,
    Q,
    R,
    alpha,
    beta,
    d,
    ell_2,
    epsilon,
    g_1,
    gamma,
    kappa,
    lam,
    r_e,
    sigma,
)
from theory.tradeoff import Tradeoff, exact, optimum, second_order

#: Every statement with a proof in ``proofs`` (its machine conclusion is this very object).
STATEMENTS: tuple[Statement, ...] = (
    alignment.THEOREM, alignment.THEOREM_MIRRORED, alignment.EQUALITY, alignment.GUARANTEE,
    helpfulness.THEOREM, helpfulness.THEOREM_GENERAL, helpfulness.THEOREM_PRIME, tradeoff.THEOREM,
)
#: Further statements of THEORY v2 (checked by simulation; proofs may add them).
SUPPLEMENTARY: tuple[Statement, ...] = (alignment.SEQUENCE_SLOPE, tradeoff.THEOREM_GENERAL)


def solve(eq: object, x: object) -> list:  # type: ignore[type-arg]
    """The roots of ``eq`` for ``x`` that are real and in range when every symbol is in its
    ``symbols.RANGES`` range (e.g. one root for the guarantee)."""
    return solve_in_range(eq, x, RANGES)  # type: ignore[arg-type]


__all__ = [
    "alignment", "helpfulness", "response", "symbols", "tradeoff", "Statement", "STATEMENTS",
    "SUPPLEMENTARY", "solve", "solve_in_range", "behavior", "evaluate", "guarantee", "margin",
    "Expectation", "SpreadBound", "expected", "second_order_coefficients", "theorem2_prime",
    "Response", "along", "linear_response", "B_0", "P_0", "RANGES", "K", "Q", "R", "alpha",
    "beta", "d", "ell_2", "epsilon", "g_1", "gamma", "kappa", "lam", "r_e", "sigma", "Tradeoff",
    "exact", "optimum", "second_order",
]
