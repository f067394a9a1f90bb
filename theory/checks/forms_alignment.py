"""Ties between the numeric functions of ``theory.alignment`` and the sympy objects they compute.

Each check lambdifies the object as it is at call time and calls the numeric function through
its module at call time, so a wrong statement or a wrong implementation (a mutant) makes it fail;
the objects with no sympy form (margin, behavior) are compared with their definitions typed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import sympy as sp

from theory import alignment, response
from theory.checks.indexed import indexed_function
from theory.checks.report import StatementReport, Worst, agreement
from theory.symbols import B_0, a_fit, b_fit, curvatures, g_1, gamma, lam, logits, p, r_e, scores
from theory.symbols import a as a_sym
from theory.symbols import shifts as shifts_sym
from theory.symbols import w_gap as w_gap_sym


def _fn(expr: sp.Expr, args: tuple[sp.Symbol, ...]) -> Callable[..., np.ndarray]:
    return sp.lambdify(args, expr, "numpy")  # type: ignore[no-any-return]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _bound_forms(rng: np.random.Generator, m: int) -> list[StatementReport]:
    b0, ga, la = rng.uniform(-0.95, 0.95, m), rng.uniform(0.05, 2, m), rng.uniform(0.1, 3, m)
    r, wg = rng.normal(0, 2, m), rng.normal(0, 2, m)
    bound = _fn(alignment.THEOREM.rhs, (r_e, B_0, gamma, lam))
    slope = _fn(sp.diff(alignment.THEOREM.rhs, r_e).subs(r_e, 0), (B_0, gamma, lam))
    second = _fn(alignment.THEOREM_SECOND.rhs.removeO(), (r_e, B_0, gamma, lam, w_gap_sym))
    return [
        agreement("alignment.evaluate = THEOREM", alignment.evaluate(r, b0, ga, la),
                  bound(r, b0, ga, la)),
        agreement("margin_from_slope inverts THEOREM's slope",
                  alignment.margin_from_slope(slope(b0, ga, la), b0), ga * la),
        agreement("margin_from_slope = its expression", alignment.margin_from_slope(r, b0),
                  _fn(alignment.margin_from_slope_expr, (g_1, B_0))(r, b0)),
        agreement("paper tanh = THEOREM at (γλ, artanh B0)",
                  alignment.paper_form(r, ga * la, np.arctanh(b0)), bound(r, b0, ga, la)),
        agreement("paper tanh = its expression", alignment.paper_form(r, wg, b0),
                  _fn(alignment.paper_form_expr, (r_e, a_fit, b_fit))(r, wg, b0)),
        agreement("second_order_curve = THEOREM_SECOND",
                  alignment.second_order_curve(r, b0, ga * la, wg), second(r, b0, ga, la, wg)),
        agreement("second_order_curve(w_gap = 0) = THEOREM",
                  alignment.second_order_curve(r, b0, ga * la, 0.0), bound(r, b0, ga, la)),
    ]


def _definitions(rng: np.random.Generator, m: int) -> list[StatementReport]:
    k = 5
    pos = np.array([True, False, True, False, False])
    g, z = rng.normal(size=(m, k)), rng.normal(size=(m, k)) * 2
    sc = np.where(pos, 1.0, -1.0)
    return [
        agreement("alignment.margin = (min S+ - max S-)/2", alignment.margin(g, pos),
                  (g[:, pos].min(1) - g[:, ~pos].max(1)) / 2),
        agreement("alignment.behavior = P(S+) - P(S-)", alignment.behavior(z, pos),
                  _softmax(z) @ sc),
    ]


def _coefficients(rng: np.random.Generator, m: int) -> list[StatementReport]:
    """Theorem 2R for B: the numeric coefficients and curve against ``THEOREM_2R`` and the
    softmax of ``response.logit_path_expr``, both expanded at K = 3 and 4."""
    out = []
    fams = ((p, 1), (scores, 1), (shifts_sym, 1), (curvatures, 1))
    path_fams = ((logits, 1), (shifts_sym, 1), (curvatures, 1))
    for k in (3, 4):
        rhs = sp.expand(alignment.THEOREM_2R.rhs.removeO())
        c1f = indexed_function(rhs.coeff(r_e, 1), k, fams, (B_0,))
        c2f = indexed_function(rhs.coeff(r_e, 2), k, fams, (B_0,))
        path = [indexed_function(response.logit_path_expr, k, path_fams, (r_e,), ((a_sym, j),))
                for j in range(k)]
        got, want = [], []
        for _ in range(max(m // 20, 3)):
            z, g, w = rng.normal(size=k) * 1.5, rng.normal(size=k), rng.normal(size=k)
            sc = np.where(rng.random(k) < 0.5, 1.0, -1.0)
            sc[:2] = (1.0, -1.0)
            pp = _softmax(z)
            b0 = float(pp @ sc)
            r = float(rng.normal())
            zr = np.array([fj(z, g, w, r) for fj in path])
            got.append([*(float(x) for x in alignment.response_coefficients(pp, sc, g, w)),
                        float(alignment.response_curve(z, g, sc, r, w))])
            want.append([c1f(pp, sc, g, w, b0), c2f(pp, sc, g, w, b0), float(_softmax(zr) @ sc)])
        got_, want_ = np.array(got), np.array(want)
        out += [agreement(f"alignment.response_coefficients c1 = THEOREM_2R (K={k})",
                          got_[:, 0], want_[:, 0]),
                agreement(f"alignment.response_coefficients c2 = THEOREM_2R (K={k})",
                          got_[:, 1], want_[:, 1]),
                agreement(f"alignment.response_curve = softmax of the path (K={k})",
                          got_[:, 2], want_[:, 2])]
    return out


def _departure(rng: np.random.Generator) -> list[StatementReport]:
    """``departure_radius`` against a dense scan of |THEOREM_SECOND − THEOREM| (lambdified) up to
    twice the radius under test (1e4 when it is inf): the scan's first crossing must lie within
    two grid steps of it."""
    second = _fn(alignment.THEOREM_SECOND.rhs.removeO(), (r_e, B_0, gamma, lam, w_gap_sym))
    bound = _fn(alignment.THEOREM.rhs, (r_e, B_0, gamma, lam))
    worst = Worst()
    for _ in range(8):
        b0, gl = float(rng.uniform(-0.9, 0.9)), float(rng.uniform(0.05, 1.5))
        wg, tol = float(rng.normal() * 2), float(rng.uniform(0.01, 0.2))
        got = float(alignment.departure_radius(b0, gl, wg, tol))
        top = 2 * got if math.isfinite(got) else 1e4
        r = np.linspace(top / 300_000, top, 300_000)
        hit = np.flatnonzero(np.abs(second(r, b0, gl, 1.0, wg) - bound(r, b0, gl, 1.0)) >= tol)
        want = float(r[hit[0]]) if hit.size else math.inf
        step = float(r[1] - r[0])
        viol = (-1.0 if math.isinf(got) and math.isinf(want)
                else abs(got - want) - 2 * step if math.isfinite(got - want) else math.inf)
        worst.update(np.array([viol]), {"B0": b0, "gamma_lam": gl, "w_gap": wg, "got": got,
                                        "want": want})
    return [worst.report("departure_radius = first crossing (scan)", "two scan steps")]


def check_alignment_forms(rng: np.random.Generator, n: int) -> list[StatementReport]:
    m = min(n, 400)
    return [*_bound_forms(rng, m), *_definitions(rng, m), *_coefficients(rng, m),
            *_departure(rng)]


COVERS = ("alignment.evaluate", "alignment.bound", "alignment.margin", "alignment.behavior",
          "alignment.margin_from_slope", "alignment.margin_from_slope_expr",
          "alignment.paper_form", "alignment.paper_form_expr", "alignment.second_order_curve",
          "alignment.second_order_bound", "alignment.response_coefficients",
          "alignment.response_curve", "alignment.departure_radius", "response.logit_path",
          "response.logit_path_expr")

__all__ = ["check_alignment_forms", "COVERS"]
