"""Proof steps: definitions, changes of variables, equations, series, inequalities and the
named (unchecked) standard facts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from proofs.checker import RELS_LATEX, is_zero, normal_form
from proofs.core import NAMED, Context, Fact, Proof, Result, Step, mentions
from proofs.rules import Rule


def _fresh_error(ctx: Context, name: sp.Basic, value: sp.Basic) -> str | None:
    """Why ``name := value`` is not a definition of a fresh name, or None."""
    if name in ctx.defs:
        return f"{name} is already defined"
    if ctx.mentioned(name):
        return f"{name} is quantified or already used: a definition cannot rebind it"
    if isinstance(name, sp.Symbol) and value.has(name):
        return f"circular definition of {name}"
    if isinstance(value, sp.Lambda) and mentions(value.expr, name):
        return f"circular definition of {name}"
    if not isinstance(name, (sp.Symbol, sp.IndexedBase, sp.core.function.UndefinedFunction)):
        return f"can only define a symbol, a function or an indexed family, not {name}"
    if not isinstance(name, sp.Symbol) and not isinstance(value, sp.Lambda):
        return f"define the family {name} by a Lambda"
    return None


@dataclass
class Def(Step):
    """A definition ``name := value`` of a fresh name (a symbol, a function family ``F`` by a
    ``Lambda``, or an indexed family ``p`` by a ``Lambda`` of the index); later checks
    substitute it. Redefining a quantified, defined or already used name is an error."""

    name: sp.Basic
    value: sp.Basic
    why: str = ""
    label: str | None = None

    def check(self, ctx: Context) -> Result:
        error = _fresh_error(ctx, self.name, self.value)
        if error is not None:
            return Result(False, error)
        ctx.defs[self.name] = self.value
        return Result(True, "definition of a fresh name")

    def exprs(self) -> list[sp.Basic]:
        return [self.value]

    def _shown(self) -> tuple[sp.Basic, sp.Basic]:
        if isinstance(self.value, sp.Lambda):
            args = self.value.variables
            if isinstance(self.name, sp.IndexedBase):
                return self.name[args], self.value.expr
            return self.name(*args), self.value.expr
        return self.name, self.value

    def latex(self) -> str:
        name, value = self._shown()
        return f"{sp.latex(name)} := {sp.latex(value)}"

    def text(self) -> str:
        name, value = self._shown()
        return f"{name} := {value}"


def _domain(ctx: Context, sym: sp.Symbol) -> sp.Set | None:
    """The set of values of ``sym`` allowed by its sympy assumptions and by the hypotheses
    that involve ``sym`` alone (other hypotheses only shrink the domain further)."""
    if sym.is_integer or not sym.is_real:
        return None
    if sym.is_positive:
        dom: sp.Set = sp.Interval.open(0, sp.oo)
    elif sym.is_nonnegative:
        dom = sp.Interval(0, sp.oo)
    elif sym.is_negative:
        dom = sp.Interval.open(-sp.oo, 0)
    elif sym.is_nonzero:  # sympy will divide by it freely: its domain excludes 0
        dom = sp.Union(sp.Interval.open(-sp.oo, 0), sp.Interval.open(0, sp.oo))
    else:
        dom = sp.S.Reals
    for hyp in ctx.proof.hypotheses:
        e = hyp.expr
        if e.free_symbols != {sym}:
            continue
        rel = {"==": sp.Eq, ">": sp.Gt, "<": sp.Gt}.get(hyp.rel, sp.Ge)(e, 0)
        try:
            part = sp.solve_univariate_inequality(rel, sym, relational=False, domain=dom) \
                if hyp.rel != "==" else sp.solveset(e, sym, dom)
        except (NotImplementedError, ValueError, TypeError):
            continue
        dom = sp.Intersection(dom, part)
    return dom


@dataclass
class Reparam(Step):
    """A change of variables ``old = new(t)`` for the rest of the proof, with ``t`` fresh.

    Sound because the checker verifies (sympy ``function_range``) that ``new`` maps the domain
    of ``t`` (its sympy assumptions) onto a set containing the whole domain of ``old`` (its
    assumptions intersected with the hypotheses on ``old`` alone): a statement proved for every
    ``t`` then holds for every allowed ``old``.
    """

    old: sp.Symbol
    new: sp.Expr
    why: str = ""
    label: str | None = None

    def check(self, ctx: Context) -> Result:
        if self.old in ctx.defs or self.old in ctx.subs:
            return Result(False, f"{self.old} is defined or already reparametrised")
        fresh = sorted(self.new.free_symbols, key=str)
        if len(fresh) != 1:
            return Result(False, "the new parametrisation must use exactly one fresh symbol")
        t = fresh[0]
        if not isinstance(t, sp.Symbol) or ctx.mentioned(t) or t in ctx.defs or t == self.old:
            return Result(False, f"{t} is not a fresh symbol")
        target = _domain(ctx, self.old)
        source = _domain(Context(Proof("", "", "", [])), t)
        if target is None or source is None:
            return Result(False, "domain of the old or new variable not determined")
        try:
            image = sp.calculus.util.function_range(self.new, t, source)
            covered = target.is_subset(image)
        except (NotImplementedError, ValueError, TypeError) as exc:
            return Result(False, f"range not determined: {exc}")
        if covered is not True:
            return Result(False, f"{self.new} for {t} in {source} does not cover {self.old} in "
                                 f"{target} (range {image})")
        ctx.subs[self.old] = self.new
        return Result(True, f"range of {self.new} on {source} is {image} ⊇ {target}")

    def exprs(self) -> list[sp.Basic]:
        return [self.old, self.new]

    def latex(self) -> str:
        t = sorted(self.new.free_symbols, key=str)
        dom = ""
        if len(t) == 1:
            dom = r",\ " + sp.latex(t[0]) + (r" > 0" if t[0].is_positive else r" \in \mathbb{R}")
        return f"{sp.latex(self.old)} = {sp.latex(self.new)}{dom}"

    def text(self) -> str:
        return f"reparametrise {self.old} = {self.new}"


@dataclass
class Eq(Step):
    """An equation checked by symbolic simplification of ``lhs - rhs`` to 0.

    ``reparam`` substitutes symbols by expressions; every substitution ``old -> new`` must be
    an established equation ``old = new`` (a hypothesis or an earlier step), named in ``by``.
    ``sums``: check as an identity of finite sums (:mod:`proofs.sums`) with the index ranges
    given, using the equations named in ``by`` as rewrites.
    """

    lhs: sp.Expr | sp.MatrixBase
    rhs: sp.Expr | sp.MatrixBase
    why: str
    label: str | None = None
    reparam: dict[sp.Symbol, sp.Expr] | None = None
    display: str | None = None  # LaTeX shown instead of lhs = rhs (e.g. for huge matrices)
    by: Sequence[str] = ()
    sums: dict[sp.Symbol, tuple[sp.Expr, sp.Expr]] | None = None
    combine: Sequence[str] = ()  # equations E_k = 0 subtracted with ``weights`` before checking
    weights: Sequence[sp.Expr] = ()
    congruence: bool = False  # f(A) = f(B) from A = B (with ``sums``)

    def check(self, ctx: Context) -> Result:
        for label in self.combine:
            if label not in ctx.facts or ctx.facts[label].kind != "eq":
                return Result(False, f"{label!r} is not an established equation")
        for old, new in (self.reparam or {}).items():
            if not any(ctx.eq_fact(label, old - new) for label in self.by):
                return Result(False, f"substitution {old} -> {new} is not an established "
                                     "equation (unchecked reparametrisation)")
        if self.rhs in (sp.oo, -sp.oo):
            ok = sp.simplify(sp.simplify(ctx.expand_defs(self.lhs)).doit()) == self.rhs
            return Result(ok, "limit evaluated by sympy" if ok else "limit differs")
        diff = self.lhs - self.rhs
        if self.reparam:
            diff = diff.subs(self.reparam)
        weights = list(self.weights) or [sp.Integer(1)] * len(self.combine)
        for label, w in zip(self.combine, weights, strict=True):
            diff = diff - w * ctx.facts[label].expr
        diff = ctx.expand_defs(diff)
        if self.reparam:
            diff = diff.subs(self.reparam)
        if self.sums is not None:
            from proofs.sums import sum_zero

            for idx, (lo, hi) in self.sums.items():
                if ctx.proof.hypothesis(idx - lo) is None or ctx.proof.hypothesis(hi - idx) is None:
                    return Result(False, f"no hypotheses {lo} <= {idx} <= {hi}")
            if self.congruence:
                lhs, rhs = ctx.expand_defs(self.lhs), ctx.expand_defs(self.rhs)
                if (lhs.func != rhs.func or len(lhs.args) != 1 or len(rhs.args) != 1
                        or not isinstance(lhs.func, sp.core.function.UndefinedFunction)):
                    return Result(False, "congruence needs f(A) = f(B)")
                diff = lhs.args[0] - rhs.args[0]
            eqs = []
            for label in self.by:
                fact = ctx.facts.get(label)
                if fact is None or fact.kind != "eq":
                    return Result(False, f"{label!r} is not an established equation")
                eqs.append(ctx.expand_defs(fact.expr))
            ok = sum_zero(diff, self.sums, eqs)
            return Result(ok, "identity of finite sums" if ok else "sums not shown equal")
        ok = is_zero(diff)
        return Result(ok, "difference simplifies to 0" if ok else "difference not shown to be 0")

    def fact(self) -> Fact | None:
        if isinstance(self.lhs, sp.MatrixBase) or isinstance(self.rhs, sp.MatrixBase):
            return Fact(self.lhs - self.rhs, "eq")  # type: ignore[arg-type]
        return Fact(normal_form(self.lhs, "==", self.rhs), "eq")

    def exprs(self) -> list[sp.Basic]:
        return [sp.sympify(self.lhs), sp.sympify(self.rhs)]

    def latex(self) -> str:
        if self.display is not None:
            return self.display
        return f"{sp.latex(self.lhs)} = {sp.latex(self.rhs)}"

    def text(self) -> str:
        if self.display is not None:
            return self.display
        return f"{self.lhs} = {self.rhs}"


@dataclass
class SeriesEq(Step):
    """``expr = approx + O(var**order)`` as ``var -> 0``.

    Without ``premise``: checked by sympy's series expansion at 0 of both sides. With
    ``premise`` (an established ``O``-fact ``E = O(var**n)``, ``n >= order``, or an equation
    ``E = 0``, which is O(var^n) for every n; ``premise_sign``
    ±1 multiplies it) and equations ``F_k = 0`` named in ``by`` with ``weights``:
    ``±E - (expr - approx) + Σ w_k F_k`` must vanish identically or be a polynomial in ``var``
    without terms below ``var**order`` (with ``sums``: after the finite sums' canonical form).
    """

    expr: sp.Expr
    approx: sp.Expr
    var: sp.Symbol
    order: int
    why: str
    label: str | None = None
    premise: str | None = None
    by: Sequence[str] = ()
    weights: Sequence[sp.Expr] = ()
    sums: dict[sp.Symbol, tuple[sp.Expr, sp.Expr]] | None = None
    premise_sign: int = 1  # −1: the premise E = O(var^n) is used as −E = O(var^n)

    def check(self, ctx: Context) -> Result:
        e = ctx.expand_defs(self.expr)
        a = ctx.expand_defs(self.approx)
        if self.premise is None:
            series = sp.series(e, self.var, 0, self.order).removeO()
            truncated = sp.series(a, self.var, 0, self.order).removeO()
            ok = is_zero(sp.expand(series - truncated))
            return Result(ok, f"series agree to O({self.var}^{self.order})" if ok
                          else "series differ")
        fact = ctx.facts.get(self.premise)
        exact = fact is not None and fact.kind == "eq"  # E = 0 is O(var^n) for every n
        if fact is None or not exact and (fact.kind != "o" or fact.var != self.var
                                          or fact.order is None or fact.order < self.order):
            return Result(False, f"{self.premise!r} is not an O({self.var}^{self.order}) fact")
        if self.premise_sign not in (1, -1):
            return Result(False, "premise_sign must be 1 or -1")
        rest = self.premise_sign * ctx.expand_defs(fact.expr) - (e - a)
        weights = list(self.weights) or [sp.Integer(1)] * len(self.by)
        for label, w in zip(self.by, weights, strict=True):
            f = ctx.facts.get(label)
            if f is None or f.kind != "eq":
                return Result(False, f"{label!r} is not an established equation")
            rest += w * ctx.expand_defs(f.expr)
        if self.sums is not None:
            from proofs.sums import canon, sum_zero

            if sum_zero(rest, self.sums):
                return Result(True, "follows from the premise and the equations")
            rest = canon(rest, self.sums)  # linearity of finite sums: var factors leave the sums
            try:
                low = [sp.expand(rest).coeff(self.var, k) for k in range(self.order)]
                ok = bool(rest.is_polynomial(self.var)) and all(
                    sum_zero(c, self.sums) for c in low)
            except (TypeError, ValueError, NotImplementedError):
                ok = False
            return Result(ok, "remainder is O(var^order) (finite sums)" if ok
                          else "remainder not O(...)")
        if is_zero(rest):
            return Result(True, "follows from the premise and the equations")
        try:
            ok = rest.is_polynomial(self.var) and all(
                sp.expand(rest).coeff(self.var, k) == 0 for k in range(self.order))
        except (TypeError, ValueError, NotImplementedError):
            ok = False
        return Result(bool(ok), "remainder is O(var^order)" if ok else "remainder not O(...)")

    def fact(self) -> Fact:
        return Fact(sp.sympify(self.expr - self.approx), "o", self.var, self.order)

    def exprs(self) -> list[sp.Basic]:
        return [sp.sympify(self.expr), sp.sympify(self.approx)]

    def latex(self) -> str:
        return (
            f"{sp.latex(self.expr)} = {sp.latex(self.approx)} + "
            f"O\\left({sp.latex(self.var ** self.order)}\\right)"
        )

    def text(self) -> str:
        return f"{self.expr} = {self.approx} + O({self.var}**{self.order})"


@dataclass
class Ineq(Step):
    """An inequality ``lhs rel rhs`` justified by a :class:`Rule`."""

    lhs: sp.Expr
    rel: str
    rhs: sp.Expr
    by: Rule
    why: str = ""
    label: str | None = None

    def check(self, ctx: Context) -> Result:
        return self.by.check(normal_form(self.lhs, self.rel, self.rhs), ctx)

    def fact(self) -> Fact:
        return Fact(normal_form(self.lhs, self.rel, self.rhs), "ge")

    def exprs(self) -> list[sp.Basic]:
        return [sp.sympify(self.lhs), sp.sympify(self.rhs)]

    def latex(self) -> str:
        return f"{sp.latex(self.lhs)} {RELS_LATEX[self.rel]} {sp.latex(self.rhs)}"

    def text(self) -> str:
        return f"{self.lhs} {self.rel} {self.rhs}"


@dataclass
class Assumption(Step):
    """A named statement that is not checked; printed and counted separately."""

    name: str
    statement: str  # LaTeX
    why: str
    label: str | None = None
    expr: sp.Expr | None = None
    kind: str = "ge"
    is_assumption: bool = True

    def check(self, ctx: Context) -> Result:
        if self.name not in NAMED:
            return Result(False, f"{self.name!r} is not one of the named standard facts "
                                 f"({', '.join(sorted(NAMED))})")
        if self.kind == "o":
            return Result(False, "an O-fact may not be assumed: state the expansion as a Taylor "
                                 "step, which builds its polynomial from the order")
        return Result(True, "named assumption (not checked)")

    def exprs(self) -> list[sp.Basic]:
        return [] if self.expr is None else [self.expr]

    var: sp.Symbol | None = None
    order: int | None = None

    def fact(self) -> Fact | None:
        return None if self.expr is None else Fact(self.expr, self.kind, self.var, self.order)

    def latex(self) -> str:
        return self.statement

    def text(self) -> str:
        return f"ASSUMPTION {self.name}: {self.statement}"


__all__ = ["Def", "Reparam", "Eq", "SeriesEq", "Ineq", "Assumption"]
