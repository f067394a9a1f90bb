"""Rules that justify an inequality ``claim >= 0``: a decided sign, a nonnegative combination
of facts, monotonicity, an instance of a proved lemma, products, sums, maxima, expectations
and integrals of nonnegative functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sympy as sp

from proofs.checker import atomize, decide_nonneg, is_zero
from proofs.core import Context, Proof, Result, mentions


class Rule:
    """How an inequality is justified; checks that ``claim >= 0`` follows."""

    def check(self, claim: sp.Expr, ctx: Context) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Decided(Rule):
    """The sign is decided by sympy's assumptions after factoring (optionally reparametrised).

    ``reparam`` maps sub-expressions to expressions in fresh nonnegative symbols; every
    ``premises`` label must establish that the reparametrisation covers the whole domain.
    """

    reparam: dict[sp.Expr, sp.Expr] | None = None
    premises: Sequence[str] = ()

    def check(self, claim: sp.Expr, ctx: Context) -> Result:
        e = ctx.expand_defs(claim)
        for label in self.premises:
            if label not in ctx.facts:
                return Result(False, f"premise {label!r} not established")
        used: set[sp.Symbol] = set()
        for old, new in (self.reparam or {}).items():
            # old -> base + u with u >= 0 is onto [base, oo) only if old >= base is a premise.
            fresh = [s for s in new.free_symbols if s.is_nonnegative]
            if len(fresh) != 1:
                return Result(False, f"reparametrisation of {old} needs one nonnegative symbol")
            if fresh[0] in e.free_symbols or fresh[0] in used or ctx.mentioned(fresh[0]):
                return Result(False, f"{fresh[0]} is not a fresh symbol")
            used.add(fresh[0])
            base = new.subs(fresh[0], 0)
            if sp.expand(new - base - fresh[0]) != 0 or not any(
                ctx.facts[p].kind == "ge"
                and sp.expand(ctx.expand_defs(ctx.facts[p].expr) - (old - base)) == 0
                for p in self.premises
            ):
                return Result(False, f"no premise gives {old} >= {base}")
        if self.reparam:
            e = e.subs(self.reparam)
            gone = set().union(*(k.free_symbols for k in self.reparam))
            if e.free_symbols & gone:
                return Result(False, "reparametrisation leaves the old variables")
        ok = decide_nonneg(e)
        return Result(ok, "sign decided by sympy" if ok else "sympy cannot decide the sign")

    def describe(self) -> str:
        if self.reparam:
            subs = ", ".join(f"{sp.latex(k)} = {sp.latex(v)}" for k, v in self.reparam.items())
            return f"sign decided by sympy after substituting ${subs}$"
        return "sign decided by sympy"


@dataclass
class From(Rule):
    """``claim - Σ w_k E_k`` is decided nonnegative, each ``E_k >= 0`` (or ``= 0``) established.

    Covers transitivity, scaling by a nonnegative factor and adding inequalities.
    """

    premises: Sequence[str]
    weights: Sequence[sp.Expr] | None = None
    weight_signs: Sequence[str] = ()

    def check(self, claim: sp.Expr, ctx: Context) -> Result:
        weights = list(self.weights) if self.weights is not None else [sp.Integer(1)] * len(
            self.premises
        )
        rest = ctx.expand_defs(claim)
        for label, w in zip(self.premises, weights, strict=True):
            fact = ctx.facts.get(label)
            if fact is None:
                return Result(False, f"premise {label!r} not established")
            if fact.kind == "ge" and ctx.holds(w) is None:
                return Result(False, f"weight {w} of {label!r} not shown nonnegative")
            rest = rest - ctx.expand_defs(w) * ctx.expand_defs(fact.expr)
        ok = is_zero(rest) or decide_nonneg(rest)
        return Result(ok, "follows from premises" if ok else "remainder not shown nonnegative")

    def describe(self) -> str:
        return "from " + ", ".join(f"({p})" for p in self.premises)


@dataclass
class Monotone(Rule):
    """``f`` monotone on [lo, hi] gives ``f(hi) >= f(lo)`` (increasing) or ``<=`` (decreasing).

    The derivative's sign is decided by sympy on the whole real line, or taken from the
    established fact ``deriv`` which was proved for all ``var >= lo`` (``lo`` must then be the
    bound of a hypothesis ``var >= lo`` of the proof and ``hi`` the variable itself).
    """

    var: sp.Symbol
    f: sp.Expr
    lo: sp.Expr
    hi: sp.Expr
    increasing: bool = True
    order: str | None = None  # label of the fact hi - lo >= 0; None: decided
    deriv: str | None = None

    def check(self, claim: sp.Expr, ctx: Context) -> Result:
        sign = 1 if self.increasing else -1
        target = sign * (self.f.subs(self.var, self.hi) - self.f.subs(self.var, self.lo))
        if not is_zero(ctx.expand_defs(claim - target)):
            return Result(False, "claim is not f(hi) - f(lo)")
        gap = self.hi - self.lo
        if self.order is not None:
            fact = ctx.facts.get(self.order)
            if fact is None or not is_zero(ctx.expand_defs(fact.expr - gap)):
                return Result(False, f"order fact {self.order!r} does not give hi >= lo")
        elif not decide_nonneg(ctx.expand_defs(gap)):
            return Result(False, "hi >= lo not decided")
        derivative = sign * sp.diff(self.f, self.var)
        # The derivative is decided for every value allowed by the variable's assumptions
        # (e.g. a positive variable for log); lo must satisfy them too, and hi >= lo.
        lo = atomize(ctx.expand_defs(self.lo))
        if self.var.is_positive and not (lo.is_positive or sp.simplify(lo).is_positive):
            return Result(False, "lo outside the variable's domain")
        if self.var.is_nonnegative and not decide_nonneg(lo):
            return Result(False, "lo outside the variable's domain")
        derivative = ctx.expand_defs(derivative)
        if self.deriv is None:
            ok = decide_nonneg(derivative)
            return Result(ok, "derivative sign decided" if ok else "derivative sign undecided")
        fact = ctx.facts.get(self.deriv)
        if fact is None or not is_zero(ctx.expand_defs(fact.expr - derivative)):
            return Result(False, f"fact {self.deriv!r} is not the derivative's sign")
        domain = ctx.proof.hypothesis(self.var - self.lo)
        if domain is None or self.hi != self.var:
            return Result(False, "derivative sign not established on [lo, hi]")
        return Result(True, "derivative sign established on the interval")

    def describe(self) -> str:
        kind = "increasing" if self.increasing else "decreasing"
        return f"${sp.latex(self.var)} \\mapsto {sp.latex(self.f)}$ is {kind}"


def discharge(lemma: Proof, subs: dict[sp.Expr, sp.Expr], ctx: Context) -> str | None:
    """Why ``lemma`` (verified) cannot be used here under ``subs``, or None: a substituted name
    must be quantified in the lemma (not defined by it), each value must meet the replaced
    symbol's sympy assumptions, and every hypothesis of the lemma under ``subs`` must be decided
    or established here."""
    if lemma.conclusion is None:
        return "lemma has no machine conclusion"
    if not lemma.verify():
        return f"lemma {lemma.name} does not check"
    for old in subs:
        if any(mentions(old, name) for name in lemma.defs):
            return f"{old} is defined by the lemma, not quantified"
    for old, new in subs.items():
        # A substituted symbol's sympy assumptions are hypotheses of the lemma too.
        value = ctx.expand_defs(new)
        if old.is_integer and not value.is_integer:
            return f"{new} not shown integer (replaces {old})"
        if old.is_positive and not value.is_positive:
            return f"{new} not shown positive (replaces {old})"
        if old.is_nonnegative and ctx.holds(new) is None:
            return f"{new} not shown nonnegative (replaces {old})"
        if old.is_real and not value.is_real:
            return f"{new} not shown real (replaces {old})"
    for hyp in lemma.hypotheses:
        h = lemma.expand_defs(hyp.expr)
        h = h.xreplace(subs) if subs else h
        if hyp.rel == "==":
            if not (is_zero(ctx.expand_defs(h)) or any(ctx.eq_fact(lab, h) for lab in ctx.facts)):
                return f"lemma hypothesis {hyp.label!r} not discharged"
        elif ctx.holds(h) is None:
            return f"lemma hypothesis {hyp.label!r} not discharged"
    return None


@dataclass
class ByLemma(Rule):
    """Instance of a proved lemma: its conclusion under ``subs`` is the claim and every
    hypothesis under ``subs`` is decided or established here."""

    lemma: Proof
    subs: dict[sp.Expr, sp.Expr] = field(default_factory=dict)

    def check(self, claim: sp.Expr, ctx: Context) -> Result:
        why = discharge(self.lemma, self.subs, ctx)
        if why is not None:
            return Result(False, why)
        assert self.lemma.conclusion is not None  # discharge checked it
        if self.lemma.conclusion.order is not None:
            return Result(False, "an asymptotic lemma is not an inequality (use FromLemma)")
        # The lemma's definitions first, then the instance of its quantified variables.
        inst = self.lemma.expand_defs(self.lemma.conclusion.expr)
        inst = inst.xreplace(self.subs) if self.subs else inst
        if not is_zero(ctx.expand_defs(claim) - ctx.expand_defs(inst)):
            return Result(False, "claim is not the lemma's conclusion under the substitution")
        return Result(True, f"instance of {self.lemma.name}")

    def describe(self) -> str:
        if not self.subs:
            return f"by {self.lemma.name}"
        subs = ", ".join(f"{sp.latex(k)} \\to {sp.latex(v)}" for k, v in self.subs.items())
        return f"by {self.lemma.name} with ${subs}$"


@dataclass
class Product(Rule):
    """``claim = c * Π E_k`` with every ``E_k >= 0`` established and ``c`` decided nonnegative."""

    premises: Sequence[str]
    factor: sp.Expr = sp.Integer(1)

    def check(self, claim: sp.Expr, ctx: Context) -> Result:
        prod = ctx.expand_defs(self.factor)
        if not decide_nonneg(prod):
            return Result(False, "factor not shown nonnegative")
        for label in self.premises:
            fact = ctx.facts.get(label)
            if fact is None or fact.kind != "ge":
                return Result(False, f"premise {label!r} not an established inequality")
            prod = prod * ctx.expand_defs(fact.expr)
        ok = is_zero(ctx.expand_defs(claim) - prod)
        return Result(ok, "product of nonnegative factors" if ok else "not that product")

    def describe(self) -> str:
        return "product of the nonnegative " + ", ".join(f"({p})" for p in self.premises)


@dataclass
class SumNonneg(Rule):
    """A sum of nonnegative terms is nonnegative: the claim is ``Sum(t, (i, lo, hi))`` and
    ``t >= 0`` is decided or established for a free index ``i``."""

    def check(self, claim: sp.Expr, ctx: Context) -> Result:
        e = ctx.expand_defs(claim)
        if not isinstance(e, sp.Sum):
            return Result(False, "claim is not a single sum")
        how = ctx.holds(e.function)
        if how is None:
            return Result(False, "summand not shown nonnegative")
        return Result(True, f"summand nonnegative ({how})")

    def describe(self) -> str:
        return "a sum of nonnegative terms is nonnegative"


@dataclass
class ByMax(Rule):
    """``max(x_1, ..., x_n) >= x_k``: the claim is ``Max(...) - x_k`` for an argument ``x_k``."""

    def check(self, claim: sp.Expr, ctx: Context) -> Result:
        e = sp.expand(ctx.expand_defs(claim))
        for m in e.atoms(sp.Max):
            if any(sp.expand(e - (m - arg)) == 0 for arg in m.args):
                return Result(True, "the maximum is at least each argument")
        return Result(False, "claim is not max(...) minus one of its arguments")

    def describe(self) -> str:
        return "a maximum is at least each of its arguments"


@dataclass
class ExpectMono(Rule):
    """Monotonicity and linearity of expectation: from the pointwise fact ``F >= 0`` (label
    ``premise``, ``F = Σ_k c_k X_k`` with deterministic ``c_k``) the claim ``Σ_k c_k E[X_k] >= 0``.
    The proof must state the named assumption "linearity of expectation"."""

    premise: str
    expectation: sp.core.function.UndefinedFunction
    deterministic: Sequence[sp.Symbol] = ()

    def check(self, claim: sp.Expr, ctx: Context) -> Result:
        if not any(st.is_assumption and getattr(st, "name", "") == "linearity of expectation"
                   for st in ctx.proof.steps):
            return Result(False, "named assumption 'linearity of expectation' not stated")
        fact = ctx.facts.get(self.premise)
        if fact is None or fact.kind != "ge":
            return Result(False, f"{self.premise!r} is not an established inequality")
        total = sp.Integer(0)
        for term in sp.Add.make_args(fact.expr):
            coeff, rest = sp.Integer(1), sp.Integer(1)
            for factor in sp.Mul.make_args(term):
                if factor.is_number or (factor.free_symbols <= set(self.deterministic)):
                    coeff *= factor
                else:
                    rest *= factor
            total += coeff * (self.expectation(rest) if rest != 1 else 1)
        ok = sp.expand(ctx.expand_defs(claim) - ctx.expand_defs(total)) == 0
        return Result(ok, "expectation of the pointwise inequality" if ok
                      else "claim is not the expectation of the premise")

    def describe(self) -> str:
        return f"take expectations in ({self.premise}): E is linear and monotone"


@dataclass
class IntegralMono(Rule):
    """``∫ f dy >= 0`` over any interval when ``f >= 0`` for every ``y`` (decided or an
    established fact with ``y`` free): positivity of the integral."""

    premise: str | None = None  # integrand = (established F >= 0) * (factor decided >= 0)

    def check(self, claim: sp.Expr, ctx: Context) -> Result:
        e = ctx.expand_defs(claim)
        if not isinstance(e, sp.Integral) or len(e.limits) != 1:
            return Result(False, "claim is not a single integral")
        (var, lo, hi), = e.limits
        if not ((lo, hi) == (-sp.oo, sp.oo) or decide_nonneg(hi - lo)):
            return Result(False, "limits not increasing")
        if self.premise is not None:
            fact = ctx.facts.get(self.premise)
            if fact is None or fact.kind != "ge":
                return Result(False, f"{self.premise!r} is not an established inequality")
            ratio = sp.cancel(sp.together(e.function / ctx.expand_defs(fact.expr)))
            if decide_nonneg(ratio):
                return Result(True, f"integrand = ({self.premise}) x a nonnegative factor")
            return Result(False, "integrand is not the premise times a nonnegative factor")
        how = ctx.holds(e.function)
        if how is None:
            return Result(False, "integrand not shown nonnegative")
        return Result(True, f"integrand nonnegative ({how})")

    def describe(self) -> str:
        return "the integral of a nonnegative function is nonnegative"


__all__ = ["Rule", "Decided", "From", "Monotone", "discharge", "ByLemma", "Product", "SumNonneg", "ByMax",
           "ExpectMono", "IntegralMono"]
