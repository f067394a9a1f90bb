"""Symbolic and numeric theory of steering tradeoffs (Wolf et al., arXiv 2401.16332).

Modules: ``symbols`` (sympy symbols), ``alignment`` (Theorem 1), ``helpfulness`` (Theorems 2 and
2′), ``tradeoff`` (the efficient-regime corollary), ``response`` (Proposition 1), ``simulate`` and
``verify`` (checks on simulated random-direction models; ``python -m theory.verify``).
"""

from __future__ import annotations

from theory import alignment, helpfulness, response, simulate, symbols, tradeoff
from theory._common import Statement
from theory.alignment import behavior, evaluate, guarantee, margin
from theory.helpfulness import Expectation, SpreadBound, expected, theorem2_prime
from theory.response import Response, along, linear_response
from theory.simulate import StatementReport, VerifyReport, verify_all
from theory.symbols import B_0, P_0, alpha, beta, epsilon, kappa, lam, r_e, sigma
from theory.tradeoff import Tradeoff, exact, second_order

STATEMENTS: tuple[Statement, ...] = (
    alignment.THEOREM, alignment.THEOREM_MIRRORED, alignment.GUARANTEE, helpfulness.THEOREM,
    helpfulness.THEOREM_PRIME, tradeoff.THEOREM,
)

__all__ = [
    "alignment", "helpfulness", "response", "simulate", "symbols", "tradeoff", "Statement",
    "STATEMENTS", "behavior", "evaluate", "guarantee", "margin", "Expectation", "SpreadBound",
    "expected", "theorem2_prime", "Response", "along", "linear_response", "StatementReport",
    "VerifyReport", "verify_all", "B_0", "P_0", "alpha", "beta", "epsilon", "kappa", "lam", "r_e",
    "sigma", "Tradeoff", "exact", "second_order",
]
