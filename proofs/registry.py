"""Every proof of the package, in dependency order, and which theory statement each concludes."""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from proofs.alignment import (
    equality_case,
    guarantee,
    linear_gain_expansion,
    sequence_level,
    sequence_slope,
    theorem1,
)
from proofs.composition import proposition1
from proofs.framework import Proof
from proofs.helpfulness import gaussian_moments
from proofs.helpfulness2 import theorem2_general, theorem2_iid
from proofs.mediant import mediant_lower, mediant_upper
from proofs.sigmoid import exp_tangent, symmetric_sigmoid
from proofs.spread import theorem2_prime
from proofs.statements import Target
from proofs.tradeoff import efficient_regime, general_regime

#: theory object -> the proof whose machine conclusion it is.
TARGETS: tuple[Target, ...] = (
    Target("alignment", "THEOREM", "Theorem 1 (r_e >= 0)"),
    Target("alignment", "THEOREM_MIRRORED", "Theorem 1 (r_e <= 0)"),
    Target("alignment", "EQUALITY", "Theorem 1 (equality case)"),
    Target("alignment", "GUARANTEE", "Corollary (guarantee)", part="hyp:enough",
           implies=sp.Ge(sp.Symbol("B_{r_e}", real=True),
                         1 - sp.Symbol("epsilon", positive=True))),
    Target("alignment", "bound", "Theorem 1 (r_e >= 0)", part="rhs"),
    Target("alignment", "SEQUENCE_SLOPE", "Theorem 1 (sequence-level slope)"),
    Target("helpfulness", "THEOREM", "Theorem 2 (i.i.d., symbolic K)"),
    Target("helpfulness", "expansion", "Theorem 2 (i.i.d., symbolic K)", part="rhs"),
    Target("helpfulness", "alpha_def", "Theorem 2 (i.i.d., symbolic K)", part="def:alpha"),
    Target("helpfulness", "THEOREM_GENERAL", "Theorem 2 (general form, symbolic K)"),
    Target("helpfulness", "THEOREM_PRIME", "Theorem 2' (full bound)"),
    Target("helpfulness", "full_bound", "Theorem 2' (full bound)", part="rhs"),
    Target("tradeoff", "THEOREM", "Corollary (efficient regime)", part="def:r*"),
    Target("tradeoff", "THEOREM_GENERAL", "Corollary (general form)", part="def:r*"),
)


def build() -> list[Proof]:
    """Fresh (unchecked) proof objects, in dependency order."""
    lower = mediant_lower()
    upper = mediant_upper(lower)
    thm1 = theorem1(1, lower, upper)
    sym = symmetric_sigmoid()
    return [
        lower,
        upper,
        thm1,
        theorem1(-1, lower, upper),
        equality_case(),
        guarantee(thm1),
        linear_gain_expansion(),
        sequence_level(lower, upper),
        sequence_slope(),
        sym,
        exp_tangent(),
        gaussian_moments(),
        theorem2_general(),
        theorem2_iid(),
        theorem2_prime(sym),
        efficient_regime(),
        general_regime(),
        proposition1((2, 3)),
    ]


@lru_cache(maxsize=1)
def all_proofs() -> tuple[Proof, ...]:
    """The proofs (built once per process; checking results are cached on each proof)."""
    return tuple(build())
