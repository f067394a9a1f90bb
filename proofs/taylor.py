"""Taylor's theorem with remainder as a step whose polynomial the checker builds itself.

A Taylor expansion is a named standard fact (not checked; printed and counted as an
assumption), but its *form* is: the step is given the function and the order n, and builds
``Σ_{k<n} var^k/k! ∂^k f|_0`` (or the quadratic polynomial of a C³ function of K variables) with
the remainder ``O(var^n)``. So the claimed order always matches the terms kept: an expansion
valid to O(r³) can never be stated as O(r⁴). An O-fact can enter a proof only this way (or from a
proved lemma); an ``Assumption`` with an O-fact is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from proofs.checker import is_zero
from proofs.core import NAMED, Context, Fact, Result, Step


@dataclass
class Taylor(Step):
    """``lhs = Σ_{k<order} var^k/k! ∂^k function/∂at^k |_{at=0} + O(var^order)`` for the smooth
    map ``at ↦ function``; ``lhs`` must be ``function`` at ``at = var``. With ``expectation`` E,
    ``lhs`` is E of it and every coefficient is E of the derivative (the named fact is then
    dominated convergence: the remainder's expectation is O(var^order))."""

    lhs: sp.Expr
    function: sp.Expr
    at: sp.Symbol
    var: sp.Symbol
    order: int
    why: str
    expectation: sp.core.function.UndefinedFunction | None = None
    label: str | None = None
    is_assumption: bool = True

    @property
    def name(self) -> str:
        return "dominated convergence" if self.expectation is not None else "Taylor with remainder"

    def _mean(self, e: sp.Expr) -> sp.Expr:
        return self.expectation(e) if self.expectation is not None else e

    def polynomial(self) -> sp.Expr:
        terms = []
        for k in range(self.order):
            d = (sp.Subs(sp.Derivative(self.function, (self.at, k)), self.at, 0) if k
                 else self.function.subs(self.at, 0))
            terms.append(self.var**k / sp.factorial(k) * self._mean(d))
        return sp.Add(*terms)

    def check(self, ctx: Context) -> Result:
        if self.name not in NAMED:  # pragma: no cover - both names are standard facts
            return Result(False, f"{self.name!r} is not a named standard fact")
        if self.order < 1:
            return Result(False, "the order of a Taylor expansion is at least 1")
        if self.at == self.var or self.var in self.function.free_symbols:
            return Result(False, "the expansion variable must be a fresh symbol of the function")
        value = self._mean(self.function.subs(self.at, self.var))
        lhs = ctx.expand_defs(self.lhs)
        if lhs != ctx.expand_defs(value) and not is_zero(lhs - ctx.expand_defs(value)):
            return Result(False, "lhs is not the expanded function at the expansion variable")
        return Result(True, f"named assumption (not checked): {self.name}, "
                            f"polynomial of degree {self.order - 1} built here")

    def fact(self) -> Fact:
        return Fact(sp.sympify(self.lhs - self.polynomial()), "o", self.var, self.order)

    def exprs(self) -> list[sp.Basic]:
        return [sp.sympify(self.lhs), self.polynomial()]

    @property
    def statement(self) -> str:
        return (f"{sp.latex(self.lhs)} = {sp.latex(self.polynomial())} + "
                f"O\\left({sp.latex(self.var**self.order)}\\right)")

    def latex(self) -> str:
        return self.statement

    def text(self) -> str:
        return f"ASSUMPTION {self.name}: {self.lhs} = {self.polynomial()} + O({self.var}**{self.order})"


@dataclass
class TaylorReadout(Step):
    """Taylor's theorem for a C³ function f of K variables at z, along a displacement δ(var)
    with δ(0) = 0 (so ‖δ‖ = O(var)): ``lhs = value + Σ_a grad_a δ_a + ½ Σ_ab hess_ab δ_a δ_b +
    O(var³)``, with ``grad``/``hess`` the families of f's first and second derivatives at z and
    ``displacement`` a ``Lambda`` of the index. The quadratic polynomial is built here."""

    lhs: sp.Expr
    value: sp.Expr
    grad: sp.IndexedBase
    hess: sp.IndexedBase
    displacement: sp.Lambda
    indices: tuple[sp.Symbol, sp.Symbol]
    count: sp.Expr
    var: sp.Symbol
    why: str
    label: str | None = None
    is_assumption: bool = True
    name: str = "Taylor with remainder"
    order: int = 3

    def polynomial(self) -> sp.Expr:
        i, j = self.indices
        top = self.count - 1
        first = sp.Sum(self.grad[i] * self.displacement(i), (i, 0, top))
        second = sp.Sum(sp.Sum(self.hess[i, j] * self.displacement(i) * self.displacement(j),
                               (i, 0, top)), (j, 0, top))
        return self.value + first + second / 2

    def check(self, ctx: Context) -> Result:
        if self.order != 3:
            return Result(False, "a quadratic Taylor polynomial has remainder O(var^3), no better")
        i = self.indices[0]
        if not is_zero(self.displacement(i).subs(self.var, 0)):
            return Result(False, "the displacement must vanish at var = 0 (δ = O(var))")
        return Result(True, "named assumption (not checked): Taylor with remainder, quadratic "
                            "polynomial built here")

    def fact(self) -> Fact:
        return Fact(sp.sympify(self.lhs - self.polynomial()), "o", self.var, self.order)

    def exprs(self) -> list[sp.Basic]:
        return [sp.sympify(self.lhs), self.polynomial()]

    @property
    def statement(self) -> str:
        return (f"{sp.latex(self.lhs)} = {sp.latex(self.polynomial())} + "
                f"O\\left({sp.latex(self.var**self.order)}\\right)")

    def latex(self) -> str:
        return self.statement

    def text(self) -> str:
        return f"ASSUMPTION {self.name}: {self.lhs} = {self.polynomial()} + O({self.var}**3)"


__all__ = ["Taylor", "TaylorReadout"]
