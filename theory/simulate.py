"""Verification by simulated models (THEORY.md v3, "verify with simulated random-direction
models" and "Second-order response: Simulations").

``CHECKS`` lists every group of checks (``theory.checks``) with the ``theory`` objects it covers;
each evaluates the sympy statement objects *as they are at call time* (lambdified afresh) and
calls the numeric functions through their modules, so a wrong statement or implementation makes
a check fail. ``MUTANTS`` are such wrong statements and implementations;
``python -m theory.verify --mutants`` shows each one caught. Each group draws from its own
generator, seeded by (seed, group), so a group gives the same draws whether run alone or in all.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from theory.checks import forms_alignment, forms_helpfulness, forms_tradeoff
from theory.checks.mutants import MUTANTS, Mutant, mutated
from theory.checks.report import B4, B6, Check, StatementReport, VerifyReport
from theory.checks.response import (
    check_prop1,
    check_prop1_second,
    check_readout_forms,
    check_theorem1_second,
    check_theorem2r,
    residual_networks,
)
from theory.checks.theorem1 import check_sequence, check_theorem1, theorem1_models
from theory.checks.theorem2 import (
    answer_geometry,
    check_lemma,
    check_theorem2_general,
    check_theorem2_iid,
    check_theorem2_prime,
    general_coefficients,
    iid_r6_bound,
    sphere_w4_bound,
)

CHECKS: tuple[Check, ...] = (
    Check("Theorem 1", check_theorem1,
          ("alignment.THEOREM", "alignment.THEOREM_MIRRORED", "alignment.EQUALITY",
           "alignment.GUARANTEE", "alignment.guarantee_coefficient")),
    Check("Lemma S", check_lemma, ("helpfulness.symmetric_sigmoid_gap",)),
    Check("Theorem 2 iid", check_theorem2_iid,
          ("helpfulness.THEOREM", "helpfulness.expected", "helpfulness.c4")),
    Check("Theorem 2 general", check_theorem2_general,
          ("helpfulness.THEOREM_GENERAL", "helpfulness.THEOREM_RANDOM", "helpfulness.second_order",
           "helpfulness.expected_gaussian", "helpfulness.random_direction_c2")),
    Check("Theorem 2'", check_theorem2_prime, ("helpfulness.THEOREM_PRIME",)),
    Check("Proposition 1", check_prop1, ("response.linear_response", "response.PROPOSITION_1")),
    Check("Proposition 1 second order", check_prop1_second,
          ("response.second_order_response", "response.remainder",
           "response.PROPOSITION_1_SECOND")),
    Check("Theorem 2R", check_theorem2r,
          ("response.readout_coefficients", "helpfulness.response_coefficients",
           "alignment.response_coefficients", "helpfulness.response_curve",
           "alignment.response_curve", "response.logit_path")),
    Check("Theorem 1 second order", check_theorem1_second,
          ("alignment.second_order_curve", "alignment.THEOREM_SECOND")),
    Check("readout forms", check_readout_forms,
          ("response.readout_coefficients", "response.readout_c1", "response.readout_c2",
           "response.readout_c2_random", "response.THEOREM_2R")),
    Check("alignment forms", forms_alignment.check_alignment_forms, forms_alignment.COVERS),
    Check("helpfulness forms", forms_helpfulness.check_helpfulness_forms,
          forms_helpfulness.COVERS),
    Check("tradeoff forms", forms_tradeoff.check_tradeoff_forms, forms_tradeoff.COVERS),
    Check("sequence level", check_sequence,
          ("alignment.sequence_slope", "alignment.sequence_slope_value",
           "alignment.importance_curve", "alignment.SEQUENCE_SLOPE")),
)


def check_names() -> list[str]:
    return [c.name for c in CHECKS]


def verify_all(seed: int = 0, n: int = 10_000, names: list[str] | None = None) -> VerifyReport:
    """Run every group of checks (or those in ``names``) on ``n`` random models each (seeded)."""
    if n < 10:
        raise ValueError(f"n must be >= 10, got {n}")
    unknown = set(names or ()) - set(check_names())
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}; choose from {check_names()}")
    t0 = time.perf_counter()
    out: list[StatementReport] = []
    for k, check in enumerate(CHECKS):
        if names is None or check.name in names:
            out += _run(check, np.random.default_rng([seed, k]), n)
    return VerifyReport(seed, n, time.perf_counter() - t0, out)


def _run(check: Check, rng: np.random.Generator, n: int) -> list[StatementReport]:
    """The group's reports; a statement a check cannot even evaluate (an exception, e.g. a
    division by zero in a wrong r*) is a violation, never a pass."""
    try:
        return check.run(rng, n)
    except Exception as exc:  # noqa: BLE001 - any failure to evaluate counts as violated
        return [StatementReport(f"{check.name}: could not be evaluated", 0, math.inf,
                                {}, None, f"{type(exc).__name__}: {exc}"[:200])]


@dataclass(frozen=True)
class MutantResult:
    """One mutant: the checks that failed on it (``caught`` when at least one did)."""

    mutant: str
    failed: tuple[str, ...]

    @property
    def caught(self) -> bool:
        return bool(self.failed)


def run_mutants(seed: int = 0, n: int = 400, names: list[str] | None = None,
                checks: list[str] | None = None) -> list[MutantResult]:
    """``verify_all`` (every group, or ``checks``) under every mutant (or ``names``); each must
    make some check fail."""
    res = []
    for name in names or list(MUTANTS):
        with mutated(name):
            rep = verify_all(seed=seed, n=n, names=checks)
        res.append(MutantResult(name, tuple(s.name for s in rep.statements if not s.passed)))
    return res


__all__ = ["CHECKS", "Check", "StatementReport", "VerifyReport", "MutantResult", "Mutant",
           "MUTANTS", "mutated", "check_names", "run_mutants", "verify_all", "theorem1_models",
           "answer_geometry", "residual_networks", "general_coefficients", "iid_r6_bound",
           "sphere_w4_bound", "B4", "B6"]
