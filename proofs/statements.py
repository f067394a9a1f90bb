"""Which proof concludes which statement of ``theory``, and the symbolic comparison.

Every target names a ``theory`` object by module and attribute and is read when checked (so a
changed ``theory`` is compared, not a copy). A statement in ``theory.STATEMENTS`` without a
target is reported as not concluded.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from proofs.framework import Proof, is_zero
from proofs.sums import sum_zero


@dataclass(frozen=True)
class Target:
    """``theory.<module>.<attr>`` is concluded by the proof ``proof``.

    ``part``: ``"conclusion"`` (the Statement's relation is the proof's conclusion),
    ``"hyp:<label>"`` (the Statement's relation is that hypothesis of the proof, whose
    conclusion is ``implies``), ``"def:<name>"`` (the object is the proof's statement
    definition of that symbol name), or ``"rhs"`` (the object is the conclusion's right side).
    """

    module: str
    attr: str
    proof: str
    part: str = "conclusion"
    implies: sp.Basic | None = None


#: Symbols the setting itself defines (as functions of the model), which a statement's own
#: definitions may name; every other theory symbol in a conclusion is quantified.
SETTING_DEFINED = frozenset({"B_{r_e}", "B_0", "P_0", "Q", "alpha", "r*", "dB/dr_e|_0",
                             "delta_+", "delta_-", "P_{r_e}(c)"})


def theory_object(module: str, attr: str) -> object:
    return getattr(importlib.import_module(f"theory.{module}"), attr)


def _index_ranges(expr: sp.Basic) -> dict[sp.Symbol, tuple[sp.Expr, sp.Expr]]:
    from theory.symbols import K, a, b, c

    return {s: (sp.Integer(0), K - 1) for s in (a, b, c) if s in expr.free_symbols}


def same_expr(x: sp.Basic, y: sp.Basic) -> bool:
    """Symbolic identity of two expressions (sums compared as finite-sum identities)."""
    x, y = sp.sympify(x), sp.sympify(y)
    if isinstance(x, sp.MatrixBase) or isinstance(y, sp.MatrixBase):
        return isinstance(x, sp.MatrixBase) and isinstance(y, sp.MatrixBase) \
            and x.shape == y.shape and is_zero(x - y)
    ox = x.getO() if x.has(sp.Order) else None
    oy = y.getO() if y.has(sp.Order) else None
    if ox != oy:
        return False
    if ox is not None:
        x, y = x.removeO(), y.removeO()
    d = x - y
    if d.has(sp.Sum):
        return sum_zero(d, _index_ranges(d))
    return sp.simplify(d) == 0


def same_relation(x: sp.Basic, y: sp.Basic) -> bool:
    """Same relation class and symbolically identical sides."""
    if not isinstance(x, sp.core.relational.Relational) or type(x) is not type(y):
        return False
    return same_expr(x.lhs, y.lhs) and same_expr(x.rhs, y.rhs)


def _relation_of(obj: object) -> sp.Basic | None:
    expr = getattr(obj, "expr", None)
    return expr if isinstance(expr, sp.Basic) else None


def check_target(target: Target, proofs: Sequence[Proof]) -> str:
    """"concluded" or why not."""
    proof = next((p for p in proofs if p.name == target.proof), None)
    if proof is None:
        return f"no proof named {target.proof!r}"
    if not proof.verify():
        return f"proof does not check ({proof.why_not()})"
    for name in proof.defs:
        if isinstance(name, sp.Symbol) and str(name) not in SETTING_DEFINED:
            return f"the proof defines the quantified symbol {name}"
    obj = theory_object(target.module, target.attr)
    concl = proof.conclusion
    if concl is None:
        return "proof has no machine conclusion"
    if target.part == "conclusion":
        rel = _relation_of(obj)
        if rel is None or not same_relation(concl.relation(), rel):
            return f"machine conclusion {concl.relation()} differs from {rel}"
        return "concluded"
    if target.part == "rhs":
        if not same_expr(concl.rhs, obj):  # type: ignore[arg-type]
            return f"conclusion's right side {concl.rhs} differs from {obj}"
        return "concluded"
    if target.part.startswith("hyp:"):
        label = target.part[4:]
        hyp = next((h for h in proof.hypotheses if h.label == label), None)
        rel = _relation_of(obj)
        if hyp is None or rel is None or not same_relation(hyp.relation(), rel):
            return f"hypothesis {label!r} differs from {rel}"
        if target.implies is not None and not same_relation(concl.relation(), target.implies):
            return f"conclusion {concl.relation()} is not {target.implies}"
        return "concluded"
    if target.part.startswith("def:"):
        name = target.part[4:]
        value = next((v for k, v in proof.defs.items() if str(k) == name), None)
        rel = _relation_of(obj)
        want = rel.rhs if rel is not None else obj
        if value is None or not same_expr(value, want):  # type: ignore[arg-type]
            return f"the proof's {name} := {value} differs from {want}"
        return "concluded"
    return f"unknown target part {target.part!r}"
