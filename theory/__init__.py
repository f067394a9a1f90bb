"""Symbolic and numeric theory of steering tradeoffs (Wolf et al., arXiv 2401.16332), THEORY v3.

Modules: ``symbols`` (sympy symbols and their ``RANGES``), ``alignment`` (Theorem 1, to second
order, Theorem 2R for B), ``helpfulness`` (Theorems 2, 2′ and 2R for P(correct), the random
direction), ``tradeoff`` (the corollary, v2 and general form), ``response`` (Proposition 1 to
second order, Theorem 2R for any readout; imports torch lazily), ``quadrature`` (exact
expectations), ``simulate``/``checks`` and ``verify`` (checks on simulated models;
``python -m theory.verify [--mutants]``).
"""

from __future__ import annotations

from theory import alignment, helpfulness, response, symbols, tradeoff
from theory._common import Statement, solve_in_range
from theory.alignment import behavior, evaluate, guarantee, margin
from theory.helpfulness import (
    Expectation,
    SpreadBound,
    expected,
    second_order_coefficients,
    theorem2_prime,
)
from theory.response import Response, along, linear_response, remainder, second_order_response
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
    alignment.SEQUENCE_SLOPE, helpfulness.THEOREM, helpfulness.THEOREM_GENERAL,
    helpfulness.THEOREM_PRIME, tradeoff.THEOREM, tradeoff.THEOREM_GENERAL,
    # version 3
    response.PROPOSITION_1, response.PROPOSITION_1_SECOND, response.THEOREM_2R,
    helpfulness.THEOREM_2R, alignment.THEOREM_2R, alignment.THEOREM_SECOND,
    alignment.MARGIN_SECOND, helpfulness.SPHERE_COVARIANCE, helpfulness.SIGMA_RANDOM,
    helpfulness.THEOREM_RANDOM, tradeoff.THEOREM_RESPONSE, tradeoff.UTILITY_STAR, tradeoff.REGIME,
    tradeoff.REGIME_SECOND, tradeoff.RATIO_FINITE, tradeoff.RATIO_INFINITE, tradeoff.RATIO,
    tradeoff.LOSS, tradeoff.GAIN,
)
#: Statements checked by simulation only (none since version 3: every statement is proved).
SUPPLEMENTARY: tuple[Statement, ...] = ()


def solve(eq: object, x: object) -> list:  # type: ignore[type-arg]
    """The roots of ``eq`` for ``x`` that are real and in range when every symbol is in its
    ``symbols.RANGES`` range (e.g. one root for the guarantee)."""
    return solve_in_range(eq, x, RANGES)  # type: ignore[arg-type]


__all__ = [
    "alignment", "helpfulness", "response", "symbols", "tradeoff", "Statement", "STATEMENTS",
    "SUPPLEMENTARY", "solve", "solve_in_range", "behavior", "evaluate", "guarantee", "margin",
    "Expectation", "SpreadBound", "expected", "second_order_coefficients", "theorem2_prime",
    "Response", "along", "linear_response", "remainder", "second_order_response", "B_0", "P_0",
    "RANGES", "K", "Q", "R", "alpha", "beta", "d", "ell_2", "epsilon", "g_1", "gamma", "kappa",
    "lam", "r_e", "sigma", "Tradeoff", "exact", "optimum", "second_order",
]
