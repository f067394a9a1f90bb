"""Wrong statements and wrong implementations that the simulation checks must catch.

A mutant is a substitution of sympy sub-expressions, applied to every expression and
``Statement`` of ``alignment``, ``helpfulness``, ``tradeoff`` and ``response`` (so a statement and
the objects built from it change together), and/or a list of replaced module attributes (a
numeric function, or objects rebuilt from a mutated part). ``mutated(name)`` applies one for the
duration of a ``with`` block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
from scipy.special import expit

from theory import alignment, helpfulness, response, tradeoff
from theory._common import Statement
from theory.symbols import (
    B_0,
    P_0,
    G_gain,
    L_loss,
    Q,
    a,
    a_fit,
    alpha,
    b,
    b_fit,
    curvatures,
    d,
    g_1,
    gamma,
    kappa,
    lam,
    r_e,
    sigma,
    w_gap,
)

Patch = tuple[object, str, Any]


@dataclass(frozen=True)
class Mutant:
    """``subs()``: sympy sub-expression → replacement; ``patches()``: (module, attribute, value)."""

    subs: Callable[[], dict[sp.Basic, sp.Basic]] = dict
    patches: Callable[[], list[Patch]] = field(default=list)


def _without_max(e: sp.Expr) -> sp.Expr:
    return next(arg for arg in e.args if arg != 0) if isinstance(e, sp.Max) else e


def _flipped_hessian() -> list[Patch]:
    """Theorem 2R's Hessian with the sign of its off-diagonal entries flipped (symbolic)."""
    out: list[Patch] = []
    for mod, grad_name, hess_name in ((helpfulness, "grad_entry", "hess_entry"),
                                      (alignment, "behavior_grad_entry", "behavior_hess_entry")):
        hess = getattr(mod, hess_name)
        flipped = 2 * sp.KroneckerDelta(a, b) * hess - hess
        c1, c2 = response.readout_for(getattr(mod, grad_name), flipped)
        lhs = mod.THEOREM_2R.lhs
        base = helpfulness.p[helpfulness.c] if mod is helpfulness else B_0
        out += [(mod, hess_name, flipped), (mod, "response_c2", c2),
                (mod, "THEOREM_2R", Statement(mod.THEOREM_2R.name, sp.Eq(
                    lhs, base + r_e * c1 + r_e**2 * c2 + sp.Order(r_e**3)),
                    mod.THEOREM_2R.condition))]
    return out


def _numeric_readout(kind: str) -> Callable[[], list[Patch]]:
    def patches() -> list[Patch]:
        original = response.readout_coefficients

        def mutant(grad: Any, hess: Any, g: Any, w: Any, cov: Any = None) -> Any:
            if kind == "w dropped":
                return original(grad, hess, g, None, cov)
            if kind == "half on w doubled":
                return original(grad, hess, g, None if w is None else 2 * np.asarray(w), cov)
            h = np.array(hess, dtype=float)
            h[..., ~np.eye(h.shape[-1], dtype=bool)] *= -1
            return original(grad, h, g, w, cov)

        return [(response, "readout_coefficients", mutant)]
    return patches


def _numeric_prime_without_delta() -> list[Patch]:
    original = helpfulness.theorem2_prime

    def mutant(p: Any, correct: int, s: Any, r_e: Any, epsilon: float) -> Any:
        sb = original(p, correct, s, r_e, epsilon)
        return helpfulness.SpreadBound(sb.m, sb.delta, np.asarray(expit(sb.m)), sb.applies)

    return [(helpfulness, "theorem2_prime", mutant)]


def _validity_without_s() -> list[Patch]:
    original = tradeoff.general

    def mutant(g1: float, l2: float, kappa: float, *, s: float | None = None) -> Any:
        t = original(g1, l2, kappa, s=s)
        valid = s is not None and t.r_star <= tradeoff.VALID_LIMIT  # r* ≤ 0.5, not s·r* ≤ 0.5
        return tradeoff.Tradeoff(t.r_star, t.utility_star, t.break_even, t.method, valid, t.note)

    return [(tradeoff, "general", mutant)]


def _delta2_halved() -> list[Patch]:
    original = response.second_order_response

    def mutant(f: Any, **kwargs: Any) -> Any:
        res = original(f, **kwargs)
        import dataclasses

        return dataclasses.replace(res, delta2=res.delta2 / 2)

    return [(response, "second_order_response", mutant)]


def _remainder_without_half() -> list[Patch]:
    original = response.remainder

    def mutant(h_r: Any, h0: Any, delta: Any, r: Any, delta2: Any = None) -> Any:
        return original(h_r, h0, delta, r, None if delta2 is None else 2 * np.asarray(delta2))

    return [(response, "remainder", mutant)]


def _numeric_second_order_curve() -> list[Patch]:
    original = alignment.second_order_curve

    def mutant(r: Any, B0: Any, gamma_lam: Any, w_gap: Any) -> Any:
        return original(r, B0, gamma_lam, 2 * np.asarray(w_gap))  # r²/2 instead of r²/4

    return [(alignment, "second_order_curve", mutant)]


def _regime_with_ge() -> list[Patch]:
    return [(tradeoff, "efficient_regime_exists",
             lambda g1, l1, g2, l2, kappa: bool(g1 - kappa * l1 >= 0))]


def _mirrored_wrong() -> dict[sp.Basic, sp.Basic]:
    m = alignment.THEOREM_MIRRORED.expr
    return {m: sp.Le(m.lhs, m.rhs.subs(gamma, 1.01 * gamma))}


MUTANTS: dict[str, Mutant] = {
    # version 2
    "alpha := 0": Mutant(lambda: {alpha: sp.Integer(0)}),
    "alpha := 3 alpha": Mutant(lambda: {alpha: 3 * alpha}),
    "alpha := -alpha": Mutant(lambda: {alpha: -alpha}),
    "alpha_def := P0(1-P0) - 2Q": Mutant(lambda: {helpfulness.alpha_def: P_0 * (1 - P_0) - 2 * Q}),
    "full_bound without delta": Mutant(lambda: {
        helpfulness.full_bound: helpfulness.full_bound - helpfulness.delta_expr}),
    "gamma x 1.01 in bound": Mutant(lambda: {alignment.bound: alignment.bound.subs(gamma, 1.01 * gamma)}),
    "guarantee without max(0, .)": Mutant(lambda: {
        alignment.guarantee_coefficient: _without_max(alignment.guarantee_coefficient)}),
    "Hessian without -diag(p)": Mutant(lambda: {sp.KroneckerDelta(a, b): sp.Integer(0)}),
    # the audit's holes
    "random_direction_c2 doubled": Mutant(lambda: {
        helpfulness.random_direction_c2: 2 * helpfulness.random_direction_c2}),
    "mirrored bound gamma x 1.01": Mutant(_mirrored_wrong),
    "symbolic r* doubled": Mutant(lambda: {
        tradeoff.optimal_coefficient: 2 * tradeoff.optimal_coefficient}),
    "numeric Theorem 2' without delta": Mutant(patches=_numeric_prime_without_delta),
    "validity as r* <= 0.5": Mutant(patches=_validity_without_s),
    # version 3
    "Theorem 2R: w dropped": Mutant(lambda: {curvatures[a]: sp.Integer(0)}),
    "Theorem 2R: half on w doubled": Mutant(lambda: {curvatures[a]: 2 * curvatures[a]}),
    "Theorem 2R: Hessian off-diagonal flipped": Mutant(patches=_flipped_hessian),
    "numeric 2R: w dropped": Mutant(patches=_numeric_readout("w dropped")),
    "numeric 2R: half on w doubled": Mutant(patches=_numeric_readout("half on w doubled")),
    "numeric 2R: Hessian off-diagonal flipped": Mutant(patches=_numeric_readout("flip")),
    "Delta_2 halved": Mutant(patches=_delta2_halved),
    "remainder without 1/2 on Delta_2": Mutant(patches=_remainder_without_half),
    "Theorem 1 second order with r^2/2": Mutant(lambda: {alignment.second_order_bound: sp.tanh(
        sp.atanh(B_0) + gamma * lam * r_e + r_e**2 / 2 * w_gap)}),
    "numeric Theorem 1 second order with r^2/2": Mutant(patches=_numeric_second_order_curve),
    "general r* doubled": Mutant(lambda: {tradeoff.response_optimum: 2 * tradeoff.response_optimum}),
    "efficient regime with >=": Mutant(patches=_regime_with_ge),
    "sigma_random := 1/d": Mutant(lambda: {helpfulness.sigma_random: 1 / d}),
    "E[DD^T] doubled": Mutant(lambda: {helpfulness.second_moment: 2 * helpfulness.second_moment}),
    "margin_from_slope with 1 - B0": Mutant(lambda: {
        alignment.margin_from_slope_expr: g_1 / (1 - B_0)}),
    "shift scale without beta": Mutant(lambda: {helpfulness.shift_scale_expr: lam * sigma}),
    "paper form b not squared": Mutant(lambda: {helpfulness.paper_form_expr: 1 / (
        1 + a_fit + a_fit * b_fit * r_e**2 / 2)}),
    "utility G + kappa L": Mutant(lambda: {tradeoff.utility_general: G_gain + kappa * L_loss}),
}


@contextlib.contextmanager
def mutated(name: str) -> Iterator[None]:
    """Temporarily apply the mutant ``name`` (see ``MUTANTS``)."""
    if name not in MUTANTS:
        raise ValueError(f"unknown mutant {name!r}; choose one of {sorted(MUTANTS)}")
    mutant = MUTANTS[name]
    mapping = mutant.subs()
    saved: list[tuple[Any, str, Any]] = []
    try:
        if mapping:
            for mod in (alignment, helpfulness, tradeoff, response):
                for attr, val in list(vars(mod).items()):
                    if isinstance(val, Statement):
                        new: Any = Statement(val.name, val.expr.xreplace(mapping), val.condition,
                                             val.assumes)
                    elif isinstance(val, sp.Expr) and not val.is_Atom and not isinstance(val, sp.Indexed):
                        new = val.xreplace(mapping)
                    else:
                        continue
                    if new != val:
                        saved.append((mod, attr, val))
                        setattr(mod, attr, new)
        for target, name_, value in mutant.patches():
            saved.append((target, name_, getattr(target, name_)))
            setattr(target, name_, value)
        yield
    finally:
        for mod, attr, val in reversed(saved):
            setattr(mod, attr, val)


__all__ = ["Mutant", "MUTANTS", "mutated"]
