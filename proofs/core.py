"""The checker's core: facts, the proof context, steps, hypotheses and ``Proof`` itself.

Facts are kept in a normal form ``E >= 0`` (kind ``"ge"``), ``E == 0`` (``"eq"``) or
``E = O(var**order)`` (``"o"``). A proof checks its steps in order; a failed step establishes
nothing, and the proof concludes only when a step establishes its machine conclusion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from proofs.checker import RELS_LATEX, decide_nonneg, is_zero, normal_form

#: The standard facts a proof may use without checking (printed and counted). "moment
#: identities" are the definitions of the mean and covariance of the shift law
#: (E g_a = μ_a, E g_a g_b = Σ_ab + μ_a μ_b), the Gaussian moments of Lemma G and the moments a
#: proved lemma gives; "rotation invariance" is the defining property of the uniform law on the
#: sphere (orthogonal maps, e.g. a coordinate reflection or permutation, leave it unchanged).
NAMED: frozenset[str] = frozenset({
    "linearity of expectation", "Chebyshev", "Bienaymé", "Taylor with remainder",
    "dominated convergence", "moment identities", "rotation invariance",
})


@dataclass(frozen=True)
class Fact:
    """An established relation ``expr >= 0`` ("ge"), ``expr == 0`` ("eq") or
    ``expr = O(var**order)`` as ``var -> 0`` ("o")."""

    expr: sp.Expr
    kind: str
    var: sp.Symbol | None = None
    order: int | None = None


def apply_def(e: sp.Expr, name: sp.Basic, value: sp.Basic) -> sp.Expr:
    """Replace ``name`` (a symbol, an applied function family or an indexed family) in ``e``."""
    if isinstance(name, sp.IndexedBase):
        return e.replace(lambda x: isinstance(x, sp.Indexed) and x.base == name,
                         lambda x: value(*x.indices))
    if isinstance(name, sp.core.function.UndefinedFunction):
        return e.replace(name, value)
    return e.xreplace({name: value})


def mentions(e: sp.Basic, name: sp.Basic) -> bool:
    if isinstance(name, sp.IndexedBase):
        return any(x.base == name for x in e.atoms(sp.Indexed))
    if isinstance(name, sp.core.function.UndefinedFunction):
        return bool(e.atoms(name))
    return bool(e.has(name))


@dataclass
class Context:
    """What a proof has established so far, by label, plus its definitions and changes of
    variables (each applied by every later check)."""

    proof: Proof
    facts: dict[str, Fact] = field(default_factory=dict)
    defs: dict[sp.Basic, sp.Basic] = field(default_factory=dict)
    subs: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)
    used: list[sp.Basic] = field(default_factory=list)  # every expression seen so far

    def mentioned(self, name: sp.Basic) -> bool:
        """Whether ``name`` occurs in a hypothesis, the conclusion or an earlier step."""
        return any(mentions(e, name) for e in self.used)

    def expand_defs(self, expr: sp.Expr) -> sp.Expr:
        """Replace defined names by their definitions until nothing changes, then apply the
        checked changes of variables."""
        e = sp.sympify(expr)
        for _ in range(10):
            new = e
            for name, value in self.defs.items():
                new = apply_def(new, name, value)
            if new == e:
                break
            e = new
        if self.subs:
            e = e.subs(self.subs)
        return e

    def holds(self, expr: sp.Expr) -> str | None:
        """Whether ``expr >= 0`` is decided or matches an established fact; returns how."""
        e = self.expand_defs(expr)
        # Cheap structural match against established facts first, then sympy's sign decision.
        for label, fact in self.facts.items():
            if fact.kind == "o" or isinstance(fact.expr, sp.MatrixBase):
                continue
            d = sp.expand(e - self.expand_defs(fact.expr))
            if d == 0 or (fact.kind == "eq" and sp.expand(e + self.expand_defs(fact.expr)) == 0):
                return label
        if decide_nonneg(e):
            return "decided"
        for label, fact in self.facts.items():
            if fact.kind == "o" or isinstance(fact.expr, sp.MatrixBase):
                continue
            f = self.expand_defs(fact.expr)
            if fact.kind == "ge" and is_zero(e - f):
                return label
            if fact.kind == "eq" and (is_zero(e - f) or is_zero(e + f)):
                return label
        return None

    def eq_fact(self, label: str, expr: sp.Expr) -> bool:
        """Whether ``label`` is an established equation ``expr = 0`` (up to sign)."""
        fact = self.facts.get(label)
        if fact is None or fact.kind != "eq":
            return False
        d = self.expand_defs(fact.expr)
        e = self.expand_defs(expr)
        return is_zero(d - e) or is_zero(d + e)


@dataclass
class Result:
    """Outcome of checking one step."""

    ok: bool
    detail: str = ""


class Step:
    """Base class: a displayed relation, a justification and a check."""

    why: str = ""
    label: str | None = None
    is_assumption: bool = False

    def check(self, ctx: Context) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError

    def fact(self) -> Fact | None:
        """The fact this step establishes, if any."""
        return None

    def exprs(self) -> list[sp.Basic]:
        """The expressions this step mentions (for the freshness of later definitions)."""
        return []

    def latex(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def text(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError



@dataclass(frozen=True)
class Hyp:
    """A hypothesis or conclusion ``lhs rel rhs`` (rel ``>=``, ``<=`` or ``==``); with ``order``
    (and ``var``) it reads ``lhs = rhs + O(var**order)``."""

    label: str
    lhs: sp.Expr
    rel: str
    rhs: sp.Expr
    var: sp.Symbol | None = None
    order: int | None = None

    @property
    def expr(self) -> sp.Expr:
        return normal_form(self.lhs, self.rel, self.rhs)

    @property
    def kind(self) -> str:
        if self.order is not None:
            return "o"
        return "eq" if self.rel == "==" else "ge"

    def relation(self) -> sp.Basic:
        """The sympy relation (``Ge``, ``Le``, ``Eq`` with an ``Order`` term)."""
        if self.order is not None:
            var = sp.sympify(self.var)
            return sp.Eq(self.lhs, self.rhs + sp.Order(var**self.order, (var, 0)),
                         evaluate=False)
        cls = {">=": sp.Ge, "<=": sp.Le, "==": sp.Eq, ">": sp.Gt, "<": sp.Lt}[self.rel]
        return cls(self.lhs, self.rhs, evaluate=False)

    def latex(self) -> str:
        if self.order is not None:
            return (f"{sp.latex(self.lhs)} = {sp.latex(self.rhs)} + "
                    f"O\\left({sp.latex(sp.sympify(self.var)**self.order)}\\right)")
        return f"{sp.latex(self.lhs)} {RELS_LATEX[self.rel]} {sp.latex(self.rhs)}"


@dataclass
class StepReport:
    """A checked step, for printing."""

    step: Step
    result: Result


@dataclass
class Proof:
    """A named proof: hypotheses, steps, and the machine conclusion it must establish.

    ``defs`` are the statement's own definitions (e.g. ``B_0`` is the behavior at ``r_e = 0``):
    part of what is proved, shown with it; ``proofs.statements`` only accepts definitions of
    the quantities the setting defines (``SETTING_DEFINED``), never of a quantified symbol.
    """

    name: str
    kind: str  # "Lemma", "Theorem", "Corollary", "Proposition"
    statement: str  # LaTeX statement shown in the docs
    steps: list[Step]
    hypotheses: list[Hyp] = field(default_factory=list)
    conclusion: Hyp | None = None
    concludes: str | None = None  # label of the step establishing the conclusion
    defs: dict[sp.Basic, sp.Basic] = field(default_factory=dict)
    _cache: list[StepReport] | None = field(default=None, repr=False)
    _ok: bool | None = field(default=None, repr=False)
    _why: str = field(default="", repr=False)

    def hypothesis(self, expr: sp.Expr) -> Hyp | None:
        for hyp in self.hypotheses:  # structural match first: hypotheses are stated as written
            if sp.expand(hyp.expr - expr) == 0:
                return hyp
        for hyp in self.hypotheses:
            if is_zero(hyp.expr - expr):
                return hyp
        return None

    def expand_defs(self, expr: sp.Expr) -> sp.Expr:
        return Context(self, defs=dict(self.defs)).expand_defs(expr)

    def _statement_defs_error(self) -> str | None:
        for name, value in self.defs.items():
            if mentions(value.expr if isinstance(value, sp.Lambda) else value, name):
                return f"circular statement definition of {name}"
        return None

    def run(self) -> list[StepReport]:
        """Check every step in order (cached); a failed step does not establish its fact."""
        if self._cache is not None:
            return self._cache
        ctx = Context(self, defs=dict(self.defs))
        for hyp in self.hypotheses:
            ctx.facts[hyp.label] = Fact(hyp.expr, "eq" if hyp.rel == "==" else "ge")
            ctx.used.append(hyp.expr)
        if self.conclusion is not None:
            ctx.used += [sp.sympify(self.conclusion.lhs), sp.sympify(self.conclusion.rhs)]
        reports = []
        for step in self.steps:
            try:
                result = step.check(ctx)
            except Exception as exc:  # a crash in sympy is a failed check, never a pass
                result = Result(False, f"checker error: {type(exc).__name__}: {exc}")
            reports.append(StepReport(step, result))
            ctx.used += step.exprs()
            fact = step.fact()
            if result.ok and fact is not None and step.label:
                ctx.facts[step.label] = fact
        bad = [r for r in reports if not r.result.ok]
        defs_error = self._statement_defs_error()
        if defs_error is not None:
            self._why = defs_error
        elif bad:
            self._why = f"{len(bad)} step(s) failed: {bad[0].result.detail}"
        else:
            self._why = self._concludes(ctx)
        self._ok = not self._why
        self._cache = reports
        return reports

    def _concludes(self, ctx: Context) -> str:
        """Empty if the conclusion is established, else why not."""
        if self.conclusion is None:
            return ""
        if self.concludes is None or self.concludes not in ctx.facts:
            return "no step establishes the conclusion"
        fact = ctx.facts[self.concludes]
        goal = self.conclusion
        if fact.kind != goal.kind or (goal.kind == "o" and (
                fact.var != goal.var or fact.order is None or goal.order is None
                or fact.order < goal.order)):
            return "the concluding step is not the conclusion's kind of relation"
        if fact.expr != goal.expr and not is_zero(ctx.expand_defs(fact.expr - goal.expr)):
            return "the concluding step differs from the conclusion"
        return ""

    def verify(self) -> bool:
        """True iff every step checks and the conclusion is established."""
        self.run()
        return bool(self._ok)

    def why_not(self) -> str:
        """Empty if the proof checks, else the first reason it does not."""
        self.run()
        return self._why

    def reset(self) -> None:
        self._cache = None
        self._ok = None
