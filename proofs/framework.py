"""A small checked-proof framework: a proof is a named sequence of steps, each checked by sympy.

Facts are kept in a normal form ``E >= 0`` (kind ``"ge"``), ``E == 0`` (kind ``"eq"``) or
``E = O(var**order)`` (kind ``"o"``). Free symbols in a proof are universally quantified under
the proof's hypotheses and the sympy assumptions on the symbols. A step sympy cannot decide
fails; nothing is passed on a numeric spot check. The only unchecked content is a named standard
fact (``NAMED``): an :class:`Assumption`, or a Taylor expansion (:mod:`proofs.taylor`) whose
polynomial the checker builds itself from the claimed order; both are printed and counted.
Definitions must introduce fresh names (redefining a quantified or already used symbol is an
error), substitutions need an established equation, and a change of variables
(:class:`Reparam`) is accepted only when sympy shows that the new parametrisation covers the
whole domain of the old variable.

This module re-exports the parts: ``checker`` (zero tests, sign decisions), ``core`` (facts,
context, ``Proof``), ``steps``, ``rules``, ``cases``, ``taylor`` and ``lemmas``.
"""

from __future__ import annotations

from proofs.cases import ByCases, IndicatorValue, Reflect
from proofs.checker import (
    RELS_LATEX,
    Checker,
    atomize,
    decide_nonneg,
    integral_canon,
    is_zero,
    normal_form,
)
from proofs.core import NAMED, Context, Fact, Hyp, Proof, Result, Step, StepReport, mentions
from proofs.lemmas import FromLemma
from proofs.rules import (
    ByLemma,
    ByMax,
    Decided,
    ExpectMono,
    From,
    IntegralMono,
    Monotone,
    Product,
    Rule,
    SumNonneg,
    discharge,
)
from proofs.steps import Assumption, Def, Eq, Ineq, Reparam, SeriesEq
from proofs.taylor import Taylor, TaylorReadout

__all__ = [
    "RELS_LATEX", "Checker", "atomize", "decide_nonneg", "integral_canon", "is_zero",
    "normal_form", "NAMED", "Context", "Fact", "Hyp", "Proof", "Result", "Step", "StepReport",
    "mentions", "Rule", "Decided", "From", "Monotone", "discharge", "ByLemma", "Product", "SumNonneg", "ByMax",
    "ExpectMono", "IntegralMono", "Def", "Reparam", "Eq", "SeriesEq", "Ineq", "Assumption",
    "Reflect", "IndicatorValue", "ByCases", "Taylor", "TaylorReadout", "FromLemma",
]
