"""Using a proved lemma's machine conclusion as a fact of another proof.

``FromLemma`` establishes the lemma's conclusion (an inequality, an equation or an O-fact) with
its quantified symbols substituted, after the lemma checks and every one of its hypotheses is
discharged (``rules.discharge``). The lemma's statement definitions that its conclusion uses must
be definitions of this proof too (the same value), so the fact means the same thing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from proofs.core import Context, Fact, Proof, Result, Step, mentions
from proofs.rules import discharge


@dataclass
class FromLemma(Step):
    """The conclusion of ``lemma`` under ``subs``, as a fact of this proof."""

    lemma: Proof
    why: str = ""
    subs: dict[sp.Expr, sp.Expr] = field(default_factory=dict)
    label: str | None = None

    def check(self, ctx: Context) -> Result:
        why = discharge(self.lemma, self.subs, ctx)
        if why is not None:
            return Result(False, why)
        assert self.lemma.conclusion is not None  # discharge checked it
        concl = self.lemma.conclusion.expr
        for name, value in self.lemma.defs.items():
            if mentions(concl, name) and ctx.defs.get(name) != value:
                return Result(False, f"this proof must define {name} as {self.lemma.name} does")
        return Result(True, f"conclusion of {self.lemma.name}")

    def fact(self) -> Fact | None:
        concl = self.lemma.conclusion
        if concl is None:
            return None
        kind = "o" if concl.order is not None else ("eq" if concl.rel == "==" else "ge")
        return Fact(concl.expr.xreplace(self.subs), kind, concl.var, concl.order)

    def exprs(self) -> list[sp.Basic]:
        fact = self.fact()
        return [] if fact is None else [fact.expr]

    def latex(self) -> str:
        concl = self.lemma.conclusion
        if concl is None:
            return r"\text{(no conclusion)}"
        return concl.latex() if not self.subs else sp.latex(concl.relation().xreplace(self.subs))

    def text(self) -> str:
        concl = self.lemma.conclusion
        return f"{self.lemma.name}: {concl.relation() if concl is not None else '-'}"


__all__ = ["FromLemma"]
