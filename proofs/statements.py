"""Which proof concludes which statement of ``theory``, and the symbolic comparison.

Every target names a ``theory`` object by module and attribute and is read when checked (so a
changed ``theory`` is compared, not a copy). A statement in ``theory.STATEMENTS`` without a
target is reported as not concluded. A proof concludes a statement only under that statement's
own conditions: every hypothesis of the proof that speaks of the statement's symbols alone must
follow from the statement's ``assumes``, the symbols' ranges (``theory.symbols.RANGES``) or their
sympy assumptions (``hypotheses_error``); hypotheses on the proof's model objects (shifts,
indices, weights) are its setting and are shown with the proof.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from proofs.framework import Proof, decide_nonneg, is_zero
from proofs.sums import sum_zero
from theory import Statement


@dataclass(frozen=True)
class Target:
    """``theory.<module>.<attr>`` is concluded by the proof ``proof``.

    ``part``: ``"conclusion"`` (the Statement's relation is the proof's conclusion),
    ``"hyp:<label>"`` (the Statement's relation is that hypothesis of the proof, whose
    conclusion is ``implies``), ``"def:<name>"`` (the object is the proof's statement
    definition of that symbol name), ``"rhs"``/``"lhs"`` (the object is a side of the
    conclusion) or ``"step:<label>"`` (the object is the fact that step establishes: a
    Statement's relation, or an expression = the step's right side). ``statement``: the
    Statement (attribute of the same module) whose conditions govern a target that is an
    expression (default: the object itself, which must then be a Statement). ``"coeff:k"``:
    the object is the coefficient of var^k in the conclusion's right side; ``"trunc:n"``: its
    terms below var^n.
    """

    module: str
    attr: str
    proof: str
    part: str = "conclusion"
    implies: sp.Basic | None = None
    statement: str | None = None


#: Symbols the setting itself defines (as functions of the model), which a statement's own
#: definitions may name; every other theory symbol in a conclusion is quantified.
SETTING_DEFINED = frozenset({"B_{r_e}", "B_0", "P_0", "Q", "alpha", "r*", "dB/dr_e|_0",
                             "delta_+", "delta_-", "P_{r_e}(c)", "Delta", "Delta_2", "z_{r_e}",
                             "z", "U*", "sigma_rand", "E[Delta_i Delta_j]",
                             "Delta z_{r_e}(s, s')"})


def theory_object(module: str, attr: str) -> object:
    return getattr(importlib.import_module(f"theory.{module}"), attr)


def _index_ranges(expr: sp.Basic) -> dict[sp.Symbol, tuple[sp.Expr, sp.Expr]]:
    from theory.symbols import K, a, b, c

    return {s: (sp.Integer(0), K - 1) for s in (a, b, c) if s in expr.free_symbols}


def same_expr(x: sp.Basic, y: sp.Basic) -> bool:
    """Symbolic identity of two expressions (sums compared as finite-sum identities)."""
    x, y = sp.sympify(x), sp.sympify(y)
    if x == y:  # structurally equal (also ∞ = ∞, where x − y is nan)
        return True
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
    return is_zero(d)


def same_relation(x: sp.Basic, y: sp.Basic) -> bool:
    """Same relation class and symbolically identical sides."""
    if not isinstance(x, sp.core.relational.Relational) or type(x) is not type(y):
        return False
    return same_expr(x.lhs, y.lhs) and same_expr(x.rhs, y.rhs)


def _relation_of(obj: object) -> sp.Basic | None:
    expr = getattr(obj, "expr", None)
    return expr if isinstance(expr, sp.Basic) else None


def _theory_symbols() -> frozenset[sp.Symbol]:
    """Every scalar symbol ``theory`` quantifies over (its ``symbols`` module and ranges)."""
    from theory import symbols

    found = {v for v in vars(symbols).values() if isinstance(v, sp.Symbol)}
    return frozenset(found | set(symbols.RANGES))


def _normal(rel: sp.Basic) -> tuple[sp.Expr, str]:
    """(E, kind) with the relation iff E >= 0 ("ge"), E > 0 ("gt") or E = 0 ("eq")."""
    if isinstance(rel, sp.Eq):
        return sp.sympify(rel.lhs - rel.rhs), "eq"
    if isinstance(rel, (sp.Ge, sp.Gt)):
        return sp.sympify(rel.lhs - rel.rhs), "ge" if isinstance(rel, sp.Ge) else "gt"
    if isinstance(rel, (sp.Le, sp.Lt)):
        return sp.sympify(rel.rhs - rel.lhs), "ge" if isinstance(rel, sp.Le) else "gt"
    raise ValueError(f"not a relation: {rel}")


def _same_up_to_scale(e: sp.Expr, f: sp.Expr, sign: int) -> bool:
    """e = c f for a constant c with the given sign (+1: c > 0; 0: c ≠ 0)."""
    if e.free_symbols != f.free_symbols or f == 0:
        return False
    if sp.expand(e - f) == 0:
        return True
    ratio = sp.cancel(sp.together(e / f))
    if ratio.free_symbols:
        ratio = sp.simplify(ratio)
    if ratio.free_symbols:
        return False
    return bool(ratio.is_positive) if sign > 0 else bool(ratio.is_nonzero)


def _domain(x: sp.Symbol, assumes: Sequence[tuple[sp.Expr, str]]) -> sp.Set:
    from theory.symbols import RANGES

    dom: sp.Set = RANGES.get(x, sp.S.Reals)
    if x.is_positive:
        dom = sp.Intersection(dom, sp.Interval.open(0, sp.oo))
    elif x.is_nonnegative:
        dom = sp.Intersection(dom, sp.Interval(0, sp.oo))
    for f, kind in assumes:
        if f.free_symbols == {x} and kind != "eq":
            rel = sp.Gt(f, 0) if kind == "gt" else sp.Ge(f, 0)
            dom = sp.Intersection(dom, sp.solve_univariate_inequality(rel, x, relational=False))
    return dom


def _implied(e: sp.Expr, kind: str, assumes: Sequence[tuple[sp.Expr, str]]) -> bool:
    """Whether ``e kind 0`` follows from ``assumes``, the ranges and the sympy assumptions."""
    for f, akind in assumes:
        if kind == "eq" and akind == "eq" and _same_up_to_scale(e, f, 0):
            return True
        if kind != "eq" and akind == "eq" and _same_up_to_scale(e, f, 0) and kind == "ge":
            return True
        if kind != "eq" and akind != "eq" and (kind == "ge" or akind == "gt") \
                and _same_up_to_scale(e, f, 1):
            return True
    if kind == "eq":
        return is_zero(e)
    free = e.free_symbols
    if len(free) == 1:
        (x,) = free
        try:
            rel = sp.Gt(e, 0) if kind == "gt" else sp.Ge(e, 0)
            sol = sp.solve_univariate_inequality(rel, x, relational=False)
            if _domain(x, assumes).is_subset(sol) is True:
                return True
        except (NotImplementedError, ValueError, TypeError):
            pass
    if kind == "gt":
        return bool(sp.simplify(e).is_positive)
    return decide_nonneg(e)


def hypotheses_error(proof: Proof, statement: Statement | None,
                     premise: sp.Basic | None = None) -> str | None:
    """Why ``proof``'s hypotheses are not all conditions of ``statement``, or None.

    Checked are the hypotheses in the theory's own symbols only (no indexed family, no
    function): each must follow from the statement's ``assumes`` (and ``premise``, the relation
    of a "hyp:" target), the symbols' ranges or their sympy assumptions. Index ranges
    ``0 <= i <= K - 1`` of the integer indices are the setting's and pass."""
    from theory.symbols import K

    ours = _theory_symbols()
    assumes = [_normal(a) for a in (statement.assumes if statement is not None else ())]
    if premise is not None:
        assumes.append(_normal(premise))
    for hyp in proof.hypotheses:
        e = hyp.expr
        free = e.free_symbols
        if not free or not free <= ours or e.atoms(sp.Indexed) or e.atoms(sp.core.function.AppliedUndef):
            continue
        if all(x.is_integer for x in free):
            index = next(iter(free - {K}), None)
            if index is not None and (is_zero(e - index) or is_zero(e - (K - 1 - index))):
                continue
        kind = "eq" if hyp.rel == "==" else ("gt" if hyp.rel in (">", "<") else "ge")
        if not _implied(e, kind, assumes):
            name = statement.name if statement is not None else "the statement"
            return (f"proof hypothesis {hyp.label!r} ({hyp.lhs} {hyp.rel} {hyp.rhs}) is not a "
                    f"condition of {name}")
    return None


def _r_e() -> sp.Symbol:
    from theory.symbols import r_e

    return r_e


def _governing(target: Target, obj: object) -> Statement | None:
    if isinstance(obj, Statement):
        return obj
    if target.statement is not None:
        st = theory_object(target.module, target.statement)
        return st if isinstance(st, Statement) else None
    return None


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
    statement = _governing(target, obj)
    if statement is None:
        return f"no Statement governs {target.module}.{target.attr} (give Target.statement)"
    concl = proof.conclusion
    if concl is None:
        return "proof has no machine conclusion"
    premise = None
    if target.part.startswith("hyp:"):
        premise = _relation_of(obj)
    why = hypotheses_error(proof, statement, premise)
    if why is not None:
        return why
    return _compare(target, obj, proof)


def _compare(target: Target, obj: object, proof: Proof) -> str:
    concl = proof.conclusion
    assert concl is not None
    if target.part == "conclusion":
        rel = _relation_of(obj)
        if rel is None or not same_relation(concl.relation(), rel):
            return f"machine conclusion {concl.relation()} differs from {rel}"
        return "concluded"
    if target.part in ("rhs", "lhs"):
        side = concl.rhs if target.part == "rhs" else concl.lhs
        if not same_expr(side, obj):  # type: ignore[arg-type]
            word = "right" if target.part == "rhs" else "left"
            return f"conclusion's {word} side {side} differs from {obj}"
        return "concluded"
    if target.part.startswith("step:"):
        return _compare_step(target.part[5:], obj, proof)
    if target.part.startswith(("coeff:", "trunc:")):
        k = int(target.part.split(":")[1])
        var = concl.var if concl.var is not None else _r_e()
        rhs = sp.expand(concl.rhs)
        part = rhs.coeff(var, k) if target.part.startswith("coeff:") else sum(
            (rhs.coeff(var, n) * var**n for n in range(k)), sp.Integer(0))
        if not same_expr(part, obj):  # type: ignore[arg-type]
            return f"the conclusion's {target.part} {part} differs from {obj}"
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


def _compare_step(label: str, obj: object, proof: Proof) -> str:
    """The object is the fact the (checked) step ``label`` establishes."""
    rep = next((r for r in proof.run() if getattr(r.step, "label", None) == label), None)
    if rep is None or not rep.result.ok:
        return f"no checked step {label!r}"
    step = rep.step
    lhs = getattr(step, "lhs", getattr(step, "expr", None))
    rhs = getattr(step, "rhs", getattr(step, "approx", None))
    fact = step.fact()
    if fact is None or lhs is None or rhs is None:
        return f"step {label!r} establishes no relation"
    if fact.kind == "o" and fact.var is not None and fact.order is not None:
        shown: sp.Basic = sp.Eq(lhs, rhs + sp.Order(fact.var**fact.order, (fact.var, 0)),
                                evaluate=False)
    else:
        rel = getattr(step, "rel", "==")
        shown = {">=": sp.Ge, "<=": sp.Le, "==": sp.Eq}[rel](lhs, rhs, evaluate=False)
    rel_obj = _relation_of(obj)
    if rel_obj is not None:
        ok = same_relation(shown, rel_obj)
    else:
        ok = same_expr(rhs, obj)  # type: ignore[arg-type]
    return "concluded" if ok else f"step {label!r} ({shown}) differs from {rel_obj or obj}"
