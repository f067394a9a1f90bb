"""Machine-checked derivations of every statement in THEORY.md.

``python -m proofs`` checks and prints every proof; ``all_proofs()`` returns them (checked on
first use of ``verify()``), ``markdown`` renders them for docs/proofs.md.
"""

from proofs.framework import (
    Assumption,
    ByLemma,
    Decided,
    Def,
    Eq,
    From,
    Hyp,
    Ineq,
    Monotone,
    Product,
    Proof,
    SeriesEq,
    SumNonneg,
    decide_nonneg,
    is_zero,
)
from proofs.registry import all_proofs, build
from proofs.report import Summary, markdown, summarize, text_report

__all__ = [
    "Assumption",
    "ByLemma",
    "Decided",
    "Def",
    "Eq",
    "From",
    "Hyp",
    "Ineq",
    "Monotone",
    "Product",
    "Proof",
    "SeriesEq",
    "SumNonneg",
    "Summary",
    "all_proofs",
    "build",
    "decide_nonneg",
    "is_zero",
    "markdown",
    "summarize",
    "text_report",
]
