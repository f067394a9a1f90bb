"""A small checked-proof framework: a proof is a named sequence of steps, each checked by sympy.

Facts are kept in a normal form ``E >= 0`` (kind ``"ge"``) or ``E == 0`` (kind ``"eq"``). Free
symbols in a proof are universally quantified under the proof's hypotheses and the sympy
assumptions on the symbols. A step sympy cannot decide fails; nothing is passed on a numeric
spot check. The only unchecked content is an :class:`Assumption` of one of the ``NAMED``
standard facts, printed and counted. Definitions must introduce fresh names (redefining a
quantified or already used symbol is an error), substitutions need an established equation, and
a change of variables (:class:`Reparam`) is accepted only when sympy shows that the new
parametrisation covers the whole domain of the old variable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sympy as sp
from sympy.simplify.simplify import factor_sum, sum_simplify

Checker = Callable[[sp.Expr], bool]

# Relations accepted in Ineq steps, mapped to (normal form builder, latex symbol).
_RELS: dict[str, str] = {">=": r"\ge", "<=": r"\le", "==": "=", ">": ">", "<": "<"}


def normal_form(lhs: sp.Expr, rel: str, rhs: sp.Expr) -> sp.Expr:
    """The expression E with ``lhs rel rhs`` iff ``E >= 0``."""
    if rel in (">=", ">"):
        return sp.sympify(lhs - rhs)
    if rel in ("<=", "<"):
        return sp.sympify(rhs - lhs)
    if rel == "==":
        return sp.sympify(lhs - rhs)
    raise ValueError(f"rel must be '>=', '<=' or '==', got {rel!r}")


def atomize(expr: sp.Expr) -> sp.Expr:
    """Replace each symbolic sum by a fresh symbol carrying the sum's sign.

    Sound for identities and sign facts: a statement proved for every positive (or real)
    value of the new symbol holds in particular for the sum. It keeps simplify fast.
    """
    if not expr.has(sp.Sum):
        return expr
    # Canonical form first: expand the summand, pull index-free factors out of the sum.
    canon = {
        s: factor_sum(sp.Sum(sp.expand(s.function), *s.limits)) for s in expr.atoms(sp.Sum)
    }
    expr = expr.xreplace(canon)
    sums = sorted(expr.atoms(sp.Sum), key=sp.default_sort_key)
    reps = {}
    for idx, s in enumerate(sums):
        if s.is_positive:
            reps[s] = sp.Dummy(f"S{idx}", positive=True)
        elif s.is_real:
            reps[s] = sp.Dummy(f"S{idx}", real=True)
    return expr.xreplace(reps)


def integral_canon(expr: sp.Expr) -> sp.Expr:
    """Linearity of integrals: each ``∫ Σ_k c_k f_k dy`` becomes ``Σ_k c_k ∫ f_k dy`` with the
    factors ``c_k`` free of ``y`` pulled out."""
    def split(integral: sp.Integral) -> sp.Expr:
        if len(integral.limits) != 1:
            return integral
        var = integral.limits[0][0]
        out = sp.Integer(0)
        flat = sp.expand(integral.function, deep=False, power_exp=False, power_base=False,
                         log=False, multinomial=False)
        for term in sp.Add.make_args(flat):
            const, rest = term.as_independent(var, as_Add=False)
            # One canonical form of the integrand (sympy merges factors differently by route).
            c2, rest = sp.factor(sp.cancel(sp.powsimp(sp.together(rest)))).as_independent(
                var, as_Add=False)
            out += const * c2 * sp.Integral(rest, *integral.limits)
        return out
    return sp.sympify(expr).replace(lambda x: isinstance(x, sp.Integral), split)


def _elementary(integral: sp.Integral) -> bool:
    """Whether sympy may try to evaluate the integral (no rational function of exponentials)."""
    return not any(isinstance(x, sp.Pow) and x.exp.is_negative and isinstance(x.base, sp.Add)
                   and x.base.has(sp.exp) for x in sp.preorder_traversal(integral.function))


def is_zero(expr: sp.Expr | sp.MatrixBase) -> bool:
    """Symbolic zero test: simplify, with expand/trigsimp/rewrite fallbacks (never numeric)."""
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(e) for e in expr)
    e = sp.sympify(expr)
    if e.has(sp.Integral):
        flat = integral_canon(e)
        reps = {x: sp.Dummy("I") for x in flat.atoms(sp.Integral)}
        if _is_zero(flat.xreplace(reps)):
            return True
        if not all(_elementary(x) for x in e.atoms(sp.Integral)):
            return False
    if e.has(sp.Integral, sp.Subs, sp.Derivative, sp.Limit):
        e = e.doit()  # evaluated symbolically by sympy; an unevaluated object stays nonzero
    if e.has(sp.Sum):
        # Sums as opaque atoms first (fast); then whole, for identities by linearity of sums.
        if _is_zero(atomize(e)):
            return True
        # Linearity of sums: combine sums (cheaper than simplify on the whole expression).
        try:
            return bool(sp.cancel(sum_simplify(sp.expand(e))) == 0)
        except (TypeError, ValueError, NotImplementedError):
            return False
    return _is_zero(e)


def _is_zero(e: sp.Expr) -> bool:
    attempts: list[Callable[[sp.Expr], sp.Expr]] = [
        lambda x: x,
        lambda x: sp.expand(x),
        lambda x: sp.cancel(sp.together(x)),
        lambda x: sp.cancel(sp.together(sp.powsimp(sp.expand(x.rewrite(sp.exp))))),
        lambda x: sp.simplify(x.rewrite(sp.log)),
        lambda x: sp.simplify(x.rewrite(sp.exp)),
        sp.simplify,
        lambda x: sp.simplify(sp.expand_log(x)),
        lambda x: sp.trigsimp(x),
    ]
    for attempt in attempts:
        try:
            if attempt(e) == 0:
                return True
        except (TypeError, ValueError, NotImplementedError, AttributeError):
            continue
    return False


def _factor_nonneg(base: sp.Expr, exp: int) -> bool:
    if exp % 2 == 0 and base.is_real:
        return True
    return bool(base.is_nonnegative)


def decide_nonneg(expr: sp.Expr) -> bool:
    """Decide ``expr >= 0`` from sympy's assumption system, after normalising and factoring."""
    e = sp.sympify(expr)
    if e.has(sp.Integral) and not all(_elementary(x) for x in e.atoms(sp.Integral)):
        flat = integral_canon(e)
        e = flat.xreplace({x: sp.Dummy("I", real=True) for x in flat.atoms(sp.Integral)})
    if e.has(sp.Integral, sp.Subs, sp.Derivative, sp.Limit):
        e = e.doit()
    e = atomize(e)
    candidates = [e]
    transforms: list[Callable[[sp.Expr], sp.Expr]] = [
        sp.simplify,
        sp.expand,
        lambda x: sp.factor(sp.together(x)),
        lambda x: sp.factor(sp.together(sp.simplify(x.rewrite(sp.exp)))),
    ]
    for transform in transforms:
        try:
            candidates.append(transform(e))
        except (TypeError, ValueError, NotImplementedError):
            continue
    for cand in candidates:
        if cand.is_nonnegative:
            return True
        num, den = sp.fraction(sp.together(cand))
        try:
            c_num, f_num = sp.factor_list(num)
            c_den, f_den = sp.factor_list(den)
        except (sp.PolynomialError, NotImplementedError, TypeError):
            continue
        const = c_num / c_den
        if not const.is_nonnegative:
            continue
        if den == 0:
            continue
        if all(_factor_nonneg(b, k) for b, k in f_num) and all(
            (b.is_positive or (k % 2 == 0 and b.is_real and b.is_nonzero)) for b, k in f_den
        ):
            return True
    return False


#: The standard facts a proof may use without checking (printed and counted). "moment
#: identities" are the definitions of the mean and covariance of the shift law
#: (E g_a = μ_a, E g_a g_b = Σ_ab + μ_a μ_b) and the Gaussian moments of Lemma G.
NAMED: frozenset[str] = frozenset({
    "linearity of expectation", "Chebyshev", "Bienaymé", "Taylor with remainder",
    "dominated convergence", "moment identities",
})


@dataclass(frozen=True)
class Fact:
    """An established relation ``expr >= 0`` ("ge"), ``expr == 0`` ("eq") or
    ``expr = O(var**order)`` as ``var -> 0`` ("o")."""

    expr: sp.Expr
    kind: str
    var: sp.Symbol | None = None
    order: int | None = None


def _apply_def(e: sp.Expr, name: sp.Basic, value: sp.Basic) -> sp.Expr:
    """Replace ``name`` (a symbol, an applied function family or an indexed family) in ``e``."""
    if isinstance(name, sp.IndexedBase):
        return e.replace(lambda x: isinstance(x, sp.Indexed) and x.base == name,
                         lambda x: value(*x.indices))
    if isinstance(name, sp.core.function.UndefinedFunction):
        return e.replace(name, value)
    return e.xreplace({name: value})


def _mentions(e: sp.Basic, name: sp.Basic) -> bool:
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
        return any(_mentions(e, name) for e in self.used)

    def expand_defs(self, expr: sp.Expr) -> sp.Expr:
        """Replace defined names by their definitions until nothing changes, then apply the
        checked changes of variables."""
        e = sp.sympify(expr)
        for _ in range(10):
            new = e
            for name, value in self.defs.items():
                new = _apply_def(new, name, value)
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


def _fresh_error(ctx: Context, name: sp.Basic, value: sp.Basic) -> str | None:
    """Why ``name := value`` is not a definition of a fresh name, or None."""
    if name in ctx.defs:
        return f"{name} is already defined"
    if ctx.mentioned(name):
        return f"{name} is quantified or already used: a definition cannot rebind it"
    if isinstance(name, sp.Symbol) and value.has(name):
        return f"circular definition of {name}"
    if isinstance(value, sp.Lambda) and _mentions(value.expr, name):
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
        return Fact(self.lhs - self.rhs, "eq")  # type: ignore[arg-type]

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
    ``premise`` (an established ``O``-fact ``E = O(var**n)``, ``n >= order``) and equations
    ``F_k = 0`` named in ``by`` with ``weights``: ``E - (expr - approx) + Σ w_k F_k`` must vanish
    identically or be a polynomial in ``var`` without terms below ``var**order``.
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
        if fact is None or fact.kind != "o" or fact.var != self.var or fact.order is None \
                or fact.order < self.order:
            return Result(False, f"{self.premise!r} is not an O({self.var}^{self.order}) fact")
        rest = ctx.expand_defs(fact.expr) - (e - a)
        weights = list(self.weights) or [sp.Integer(1)] * len(self.by)
        for label, w in zip(self.by, weights, strict=True):
            f = ctx.facts.get(label)
            if f is None or f.kind != "eq":
                return Result(False, f"{label!r} is not an established equation")
            rest += w * ctx.expand_defs(f.expr)
        if self.sums is not None:
            from proofs.sums import sum_zero

            if sum_zero(rest, self.sums):
                return Result(True, "follows from the premise and the equations")
        elif is_zero(rest):
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


@dataclass
class ByLemma(Rule):
    """Instance of a proved lemma: its conclusion under ``subs`` is the claim and every
    hypothesis under ``subs`` is decided or established here."""

    lemma: Proof
    subs: dict[sp.Expr, sp.Expr] = field(default_factory=dict)

    def check(self, claim: sp.Expr, ctx: Context) -> Result:
        if self.lemma.conclusion is None:
            return Result(False, "lemma has no machine conclusion")
        if not self.lemma.verify():
            return Result(False, f"lemma {self.lemma.name} does not check")
        if self.lemma.conclusion.order is not None:
            return Result(False, "an asymptotic lemma is not an inequality")
        for old in self.subs:
            if any(_mentions(old, name) for name in self.lemma.defs):
                return Result(False, f"{old} is defined by the lemma, not quantified")
        # The lemma's definitions first, then the instance of its quantified variables.
        inst = self.lemma.expand_defs(self.lemma.conclusion.expr)
        inst = inst.xreplace(self.subs) if self.subs else inst
        if not is_zero(ctx.expand_defs(claim) - ctx.expand_defs(inst)):
            return Result(False, "claim is not the lemma's conclusion under the substitution")
        for old, new in self.subs.items():
            # A substituted symbol's sympy assumptions are hypotheses of the lemma too.
            value = ctx.expand_defs(new)
            if old.is_integer and not value.is_integer:
                return Result(False, f"{new} not shown integer (replaces {old})")
            if old.is_positive and not value.is_positive:
                return Result(False, f"{new} not shown positive (replaces {old})")
            if old.is_nonnegative and ctx.holds(new) is None:
                return Result(False, f"{new} not shown nonnegative (replaces {old})")
            if old.is_real and not value.is_real:
                return Result(False, f"{new} not shown real (replaces {old})")
        for hyp in self.lemma.hypotheses:
            h = self.lemma.expand_defs(hyp.expr)
            h = h.xreplace(self.subs) if self.subs else h
            if hyp.rel == "==":
                if not (is_zero(ctx.expand_defs(h))
                        or any(ctx.eq_fact(lab, h) for lab in ctx.facts)):
                    return Result(False, f"lemma hypothesis {hyp.label!r} not discharged")
            elif ctx.holds(h) is None:
                return Result(False, f"lemma hypothesis {hyp.label!r} not discharged")
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
        if not any(isinstance(st, Assumption) and st.name == "linearity of expectation"
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
        return f"{sp.latex(self.lhs)} {_RELS[self.rel]} {sp.latex(self.rhs)}"

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
        return f"{sp.latex(self.lhs)} {_RELS[self.rel]} {sp.latex(self.rhs)}"

    def text(self) -> str:
        return f"{self.lhs} {self.rel} {self.rhs}  (by cases on {self.split})"


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
        return f"{sp.latex(self.lhs)} {_RELS[self.rel]} {sp.latex(self.rhs)}"


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
        for hyp in self.hypotheses:
            if is_zero(hyp.expr - expr):
                return hyp
        return None

    def expand_defs(self, expr: sp.Expr) -> sp.Expr:
        return Context(self, defs=dict(self.defs)).expand_defs(expr)

    def _statement_defs_error(self) -> str | None:
        for name, value in self.defs.items():
            if _mentions(value.expr if isinstance(value, sp.Lambda) else value, name):
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
        if not is_zero(ctx.expand_defs(fact.expr - goal.expr)):
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
