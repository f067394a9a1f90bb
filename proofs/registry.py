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
from proofs.composition import proposition1, proposition1_second
from proofs.corollary import corollary_loss, general_corollaries
from proofs.framework import Proof
from proofs.helpfulness import gaussian_moments
from proofs.helpfulness2 import theorem2_general, theorem2_iid
from proofs.mediant import mediant_lower, mediant_upper
from proofs.random_direction import sigma_random, sphere_lemma, theorem2_random
from proofs.readout import theorem2r_behavior, theorem2r_readout, theorem2r_softmax
from proofs.second_order import margin_second, theorem1_second
from proofs.sigmoid import exp_tangent, symmetric_sigmoid
from proofs.spread import theorem2_prime
from proofs.statements import Target
from proofs.tradeoff import efficient_regime, general_regime

P2R = "Theorem 2R (P(correct), symbolic K)"
B2R = "Theorem 2R (B, symbolic K)"
RANDOM = "Theorem 2 (random direction)"

#: theory object -> the proof whose machine conclusion it is.
TARGETS: tuple[Target, ...] = (
    Target("alignment", "THEOREM", "Theorem 1 (r_e >= 0)"),
    Target("alignment", "THEOREM_MIRRORED", "Theorem 1 (r_e <= 0)"),
    Target("alignment", "EQUALITY", "Theorem 1 (equality case)"),
    Target("alignment", "GUARANTEE", "Corollary (guarantee)", part="hyp:enough",
           implies=sp.Ge(sp.Symbol("B_{r_e}", real=True),
                         1 - sp.Symbol("epsilon", positive=True))),
    Target("alignment", "bound", "Theorem 1 (r_e >= 0)", part="rhs", statement="THEOREM"),
    Target("alignment", "linear_gain", "Corollary (linear gain)", part="trunc:2",
           statement="THEOREM"),
    Target("alignment", "SEQUENCE_SLOPE", "Theorem 1 (sequence-level slope)"),
    Target("helpfulness", "THEOREM", "Theorem 2 (i.i.d., symbolic K)"),
    Target("helpfulness", "expansion", "Theorem 2 (i.i.d., symbolic K)", part="rhs",
           statement="THEOREM"),
    Target("helpfulness", "alpha_def", "Theorem 2 (i.i.d., symbolic K)", part="def:alpha",
           statement="THEOREM"),
    Target("helpfulness", "THEOREM_GENERAL", "Theorem 2 (general form, symbolic K)"),
    Target("helpfulness", "THEOREM_PRIME", "Theorem 2' (full bound)"),
    Target("helpfulness", "full_bound", "Theorem 2' (full bound)", part="rhs",
           statement="THEOREM_PRIME"),
    Target("tradeoff", "THEOREM", "Corollary (efficient regime)", part="def:r*"),
    Target("tradeoff", "optimal_coefficient", "Corollary (efficient regime)", part="def:r*",
           statement="THEOREM"),
    Target("tradeoff", "THEOREM_GENERAL", "Corollary (general form)", part="def:r*"),
    Target("tradeoff", "general_optimum", "Corollary (general form)", part="def:r*",
           statement="THEOREM_GENERAL"),
    Target("tradeoff", "general_utility", "Corollary (general form)", part="lhs",
           statement="THEOREM_GENERAL"),
    # version 3
    Target("response", "PROPOSITION_1", "Proposition 1 (linear response of the last layer)"),
    Target("response", "PROPOSITION_1_SECOND", "Proposition 1 (second order)"),
    Target("response", "THEOREM_2R", "Theorem 2R (any readout)"),
    Target("response", "readout_c1", "Theorem 2R (any readout)", part="coeff:1",
           statement="THEOREM_2R"),
    Target("response", "readout_c2", "Theorem 2R (any readout)", part="coeff:2",
           statement="THEOREM_2R"),
    Target("helpfulness", "THEOREM_2R", P2R),
    Target("helpfulness", "response_c1", P2R, part="coeff:1", statement="THEOREM_2R"),
    Target("helpfulness", "response_c2", P2R, part="coeff:2", statement="THEOREM_2R"),
    Target("alignment", "THEOREM_2R", B2R),
    Target("alignment", "response_c1", B2R, part="coeff:1", statement="THEOREM_2R"),
    Target("alignment", "response_c2", B2R, part="coeff:2", statement="THEOREM_2R"),
    Target("alignment", "THEOREM_SECOND", "Theorem 1 (second order, two outcomes)"),
    Target("alignment", "second_order_bound", "Theorem 1 (second order, two outcomes)",
           part="rhs", statement="THEOREM_SECOND"),
    Target("alignment", "MARGIN_SECOND", "Theorem 1 (second-order margin)"),
    Target("helpfulness", "SPHERE_COVARIANCE", "Lemma (uniform direction)"),
    Target("helpfulness", "second_moment", "Lemma (uniform direction)", part="rhs",
           statement="SPHERE_COVARIANCE"),
    Target("helpfulness", "SIGMA_RANDOM", "Cosine spread of a random direction"),
    Target("helpfulness", "sigma_random", "Cosine spread of a random direction", part="rhs",
           statement="SIGMA_RANDOM"),
    Target("helpfulness", "THEOREM_RANDOM", RANDOM),
    Target("helpfulness", "random_direction_c2", RANDOM, part="coeff:2",
           statement="THEOREM_RANDOM"),
    Target("tradeoff", "THEOREM_RESPONSE", "Corollary (general form, second order)",
           part="def:r*"),
    Target("tradeoff", "response_optimum", "Corollary (general form, second order)",
           part="def:r*", statement="THEOREM_RESPONSE"),
    Target("tradeoff", "response_utility", "Corollary (general form, second order)",
           part="lhs", statement="THEOREM_RESPONSE"),
    Target("tradeoff", "UTILITY_STAR", "Corollary (general form, second order)",
           part="step:ustar"),
    Target("tradeoff", "response_utility_star", "Corollary (general form, second order)",
           part="step:ustar", statement="UTILITY_STAR"),
    Target("tradeoff", "REGIME", "Corollary (efficient-regime condition)"),
    Target("tradeoff", "REGIME_SECOND", "Corollary (efficient-regime condition, zero slope)"),
    Target("tradeoff", "RATIO_FINITE", "Corollary (G/L with a first-order loss)"),
    Target("tradeoff", "RATIO_INFINITE", "Corollary (G/L without a first-order loss)"),
    Target("tradeoff", "RATIO", "Corollary (G/L, i.i.d.)"),
    Target("tradeoff", "LOSS", "Corollary (loss = Theorem 2)"),
    Target("tradeoff", "loss", "Corollary (loss = Theorem 2)", part="rhs", statement="LOSS"),
    Target("tradeoff", "GAIN", "Corollary (gain = Theorem 1)"),
    Target("tradeoff", "gain", "Corollary (gain = Theorem 1)", part="rhs", statement="GAIN"),
)


def build() -> list[Proof]:
    """Fresh (unchecked) proof objects, in dependency order."""
    lower = mediant_lower()
    upper = mediant_upper(lower)
    thm1 = theorem1(1, lower, upper)
    sym = symmetric_sigmoid()
    t2 = theorem2_iid()
    sphere = sphere_lemma()
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
        t2,
        theorem2_prime(sym),
        efficient_regime(),
        general_regime(),
        proposition1((2, 3)),
        proposition1_second((2, 3)),
        theorem2r_readout(),
        theorem2r_softmax(),
        theorem2r_behavior(),
        theorem1_second(),
        margin_second(),
        sphere,
        sigma_random(sphere),
        theorem2_random(sphere),
        corollary_loss(t2),
        *general_corollaries(),
    ]


@lru_cache(maxsize=1)
def all_proofs() -> tuple[Proof, ...]:
    """The proofs (built once per process; checking results are cached on each proof)."""
    return tuple(build())
