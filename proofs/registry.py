"""Every proof of the package, in dependency order (lemmas before their users)."""

from __future__ import annotations

from functools import lru_cache

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
from proofs.helpfulness import gaussian_moments, theorem2, theorem2_prime
from proofs.mediant import mediant_lower, mediant_upper
from proofs.sigmoid import exp_tangent, symmetric_sigmoid
from proofs.tradeoff import efficient_regime

#: Numbers of answers for which Theorem 2 is checked symbolically.
THEOREM2_K = (2, 3, 4, 5, 6)


def build() -> list[Proof]:
    """Fresh (unchecked) proof objects, in dependency order."""
    lower = mediant_lower()
    upper = mediant_upper(lower)
    thm1 = theorem1(1, lower, upper)
    sym = symmetric_sigmoid()
    tangent = exp_tangent()
    moments = gaussian_moments()
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
        tangent,
        moments,
        theorem2(moments, THEOREM2_K),
        theorem2_prime(sym, tangent),
        efficient_regime(),
        proposition1((2, 3)),
    ]


@lru_cache(maxsize=1)
def all_proofs() -> tuple[Proof, ...]:
    """The proofs (built once per process; checking results are cached on each proof)."""
    return tuple(build())
