"""Steps about integrals, indicators and case splits."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from proofs.checker import RELS_LATEX, is_zero, normal_form
from proofs.core import Context, Fact, Result, Step


@dataclass
class Reflect(Step):
    """``∫_{-∞}^{∞} f(y) dy = ∫_{-∞}^{∞} f(-y) dy`` (substitution y -> -y): checked by
    comparing the integrands."""

    lhs: sp.Integral
    rhs: sp.Integral
    why: str = "substitute y -> -y"
    label: str | None = None

    def check(self, ctx: Context) -> Result:
        a, b = ctx.expand_defs(self.lhs), ctx.expand_defs(self.rhs)
        if not (isinstance(a, sp.Integral) and isinstance(b, sp.Integral)
                and len(a.limits) == 1 and len(b.limits) == 1):
            return Result(False, "both sides must be single integrals")
        (va, la, ha), (vb, lb, hb) = a.limits[0], b.limits[0]
        if (la, ha) != (-sp.oo, sp.oo) or (lb, hb) != (-sp.oo, sp.oo):
            return Result(False, "reflection needs integrals over the whole line")
        ok = is_zero(a.function.subs(va, -vb) - b.function)
        return Result(ok, "integrands agree after y -> -y" if ok else "integrands differ")

    def fact(self) -> Fact:
        return Fact(sp.sympify(self.lhs - self.rhs), "eq")

    def exprs(self) -> list[sp.Basic]:
        return [self.lhs, self.rhs]

    def latex(self) -> str:
        return f"{sp.latex(self.lhs)} = {sp.latex(self.rhs)}"

    def text(self) -> str:
        return f"{self.lhs} = {self.rhs}"


@dataclass
class IndicatorValue(Step):
    """``1{X >= 0} = 1`` where ``X >= 0`` is the established fact ``label``."""

    indicator: sp.Piecewise
    by: str
    why: str = "value of the indicator"
    label: str | None = None

    def check(self, ctx: Context) -> Result:
        ind = self.indicator
        fact = ctx.facts.get(self.by)
        if (not isinstance(ind, sp.Piecewise) or len(ind.args) != 2 or ind.args[0].expr != 1
                or ind.args[1] != (0, True) or fact is None or fact.kind != "ge"):
            return Result(False, "not the indicator 1{X >= 0} of an established fact")
        cond = ind.args[0].cond
        if isinstance(cond, sp.GreaterThan):
            value = cond.lhs - cond.rhs
        elif isinstance(cond, sp.LessThan):
            value = cond.rhs - cond.lhs
        else:
            return Result(False, "the indicator's condition is not X >= 0")
        if sp.expand(ctx.expand_defs(value) - ctx.expand_defs(fact.expr)) != 0:
            return Result(False, "the indicator's condition is not the fact")
        return Result(True, f"its condition is ({self.by})")

    def fact(self) -> Fact:
        return Fact(self.indicator - 1, "eq")

    def exprs(self) -> list[sp.Basic]:
        return [self.indicator]

    def latex(self) -> str:
        return f"{sp.latex(self.indicator)} = 1"

    def text(self) -> str:
        return f"{self.indicator} = 1"


@dataclass
class ByCases(Step):
    """``lhs rel rhs`` in both cases ``split >= 0`` and ``split <= 0`` (exhaustive on the
    reals): each list of steps runs with its case as the fact ``"case"`` and must end with
    the claim. Facts of a branch do not leave it."""

    lhs: sp.Expr
    rel: str
    rhs: sp.Expr
    split: sp.Expr
    when_ge: list[Step]
    when_le: list[Step]
    why: str = ""
    label: str | None = None

    def check(self, ctx: Context) -> Result:
        if not self.split.is_real:
            return Result(False, "the case split must be real")
        claim = normal_form(self.lhs, self.rel, self.rhs)
        for sign, branch in ((1, self.when_ge), (-1, self.when_le)):
            sub = Context(ctx.proof, facts=dict(ctx.facts), defs=dict(ctx.defs),
                          subs=dict(ctx.subs), used=list(ctx.used))
            sub.facts["case"] = Fact(sign * self.split, "ge")
            last: Fact | None = None
            for step in branch:
                res = step.check(sub)
                if not res.ok:
                    return Result(False, f"case {'>=' if sign > 0 else '<='} 0: {res.detail}")
                sub.used += step.exprs()
                fact = step.fact()
                if fact is not None and step.label:
                    sub.facts[step.label] = fact
                last = fact
            if last is None or last.kind != "ge" or not is_zero(
                    ctx.expand_defs(last.expr - claim)):
                return Result(False, "a case does not end with the claim")
        return Result(True, f"both cases of {self.split} >= 0 / <= 0")

    def fact(self) -> Fact:
        return Fact(normal_form(self.lhs, self.rel, self.rhs), "ge")

    def exprs(self) -> list[sp.Basic]:
        out: list[sp.Basic] = [sp.sympify(self.lhs), sp.sympify(self.rhs)]
        for step in [*self.when_ge, *self.when_le]:
            out += step.exprs()
        return out

    def latex(self) -> str:
        return f"{sp.latex(self.lhs)} {RELS_LATEX[self.rel]} {sp.latex(self.rhs)}"

    def text(self) -> str:
        return f"{self.lhs} {self.rel} {self.rhs}  (by cases on {self.split})"


__all__ = ["Reflect", "IndicatorValue", "ByCases"]
