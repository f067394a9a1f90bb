"""Theorem 2R: the second-order response of a readout of the logits along the path
z + r g + (r²/2) w — for any C³ readout f (symbolic K, by the multivariate Taylor theorem), and for
f = softmax_c and f = B = Σ_a s_a softmax_a (symbolic K, their derivatives by sympy)."""

from __future__ import annotations

import sympy as sp

from proofs.framework import Eq, Hyp, Proof, SeriesEq, Step, Taylor, TaylorReadout
from proofs.helpfulness2 import NORMALISER, RANGE, z
from theory import alignment, helpfulness, response
from theory.symbols import B_0, K, a, b, c, curvatures, grad_f, hess_f, p, r_e, scores, shifts

j = sp.Symbol("j", integer=True)
_t = sp.Symbol("t", real=True)
_u = sp.Symbol("u", integer=True)


def _index_hyps(*idx: sp.Symbol) -> list[Hyp]:
    out = []
    for i in idx:
        out += [Hyp(f"{i}>=0", i, ">=", 0), Hyp(f"{i}<=K-1", i, "<=", K - 1)]
    return out


def _path(index: sp.Expr, t: sp.Expr) -> sp.Expr:
    return z[index] + t * shifts[index] + t**2 / 2 * curvatures[index]


def _normaliser(t: sp.Expr) -> sp.Expr:
    return sp.Sum(sp.exp(_path(j, t)), (j, 0, K - 1))


def theorem2r_readout() -> Proof:
    """f(z_r) = f(z) + r ∇fᵀg + (r²/2)(gᵀ∇²f g + ∇fᵀw) + O(r³) for any C³ readout f."""
    disp = sp.Lambda(_u, r_e * shifts[_u] + r_e**2 / 2 * curvatures[_u])
    approx = response.f_fn(response.z_zero) + r_e * response.readout_c1 + r_e**2 * response.readout_c2
    steps: list[Step] = [
        TaylorReadout(response.f_fn(response.z_path), response.f_fn(response.z_zero), grad_f,
                      hess_f, disp, (a, b), K, r_e,
                      "Taylor's theorem for a C³ readout f at z, along z_r − z = r g + (r²/2) w "
                      "(a further O(r³) in the logits moves f by O(r³))", label="taylor"),
        SeriesEq(response.f_fn(response.z_path), approx, r_e, 3,
                 "collect the powers of r: the r² part of the path enters through ∇f only",
                 premise="taylor", sums={a: RANGE, b: RANGE}, label="2r"),
    ]
    return Proof(
        name="Theorem 2R (any readout)",
        kind="Theorem",
        statement=(r"Let $f: \mathbb{R}^K \to \mathbb{R}$ be three times continuously "
                   r"differentiable and the logits respond as $z_r = z + r g + \frac{r^2}{2} w "
                   r"+ O(r^3)$. Then $f(z_r) = f(z) + r \nabla f^\top g + \frac{r^2}{2}"
                   r"\left(g^\top \nabla^2 f\, g + \nabla f^\top w\right) + O(r^3)$."),
        steps=steps,
        conclusion=Hyp("2r", response.f_fn(response.z_path), "==", approx, var=r_e, order=3),
        concludes="2r",
    )


def _deriv(f: sp.Expr, k: int) -> sp.Expr:
    return sp.Subs(sp.Derivative(f, (_t, k)), _t, 0) if k else f.subs(_t, 0)


def _readout_proof(name: str, lhs: sp.Symbol, path_value: sp.Expr, base: sp.Expr,
                   entries: tuple[sp.Expr, sp.Expr], defs: dict[sp.Basic, sp.Basic],
                   c1: sp.Expr, c2: sp.Expr, statement: str) -> Proof:
    """Taylor in r of ``path_value`` (a function of t), its derivatives at 0 by sympy against
    Theorem 2R's sums with the readout's gradient and Hessian ``entries``."""
    grad, hess = entries
    rc = {c: RANGE, a: RANGE, b: RANGE}
    first = sp.Sum(grad * shifts[a], (a, 0, K - 1))
    second = (sp.Sum(sp.Sum(hess * shifts[a] * shifts[b], (a, 0, K - 1)), (b, 0, K - 1))
              + sp.Sum(grad * curvatures[a], (a, 0, K - 1)))
    steps: list[Step] = [
        Taylor(lhs, path_value, _t, r_e, 3, "Taylor's theorem with remainder for the smooth "
               "map r -> f(z + r g + (r²/2) w)", label="taylor"),
        Eq(_deriv(path_value, 0), base, "order 0: the unsteered value", sums=rc, label="d0"),
        Eq(_deriv(path_value, 1), first, "order 1 (chain rule): ∇fᵀg", sums=rc, label="d1"),
        Eq(_deriv(path_value, 2), second,
           "order 2 (chain rule): gᵀ∇²f g + ∇fᵀw — the path's r² term enters through ∇f",
           sums=rc, label="d2"),
        SeriesEq(lhs, base + r_e * c1 + r_e**2 * c2, r_e, 3, "collect the orders",
                 premise="taylor", by=["d0", "d1", "d2"], weights=[1, r_e, r_e**2 / 2],
                 sums=rc, label="2r"),
    ]
    return Proof(name=name, kind="Theorem", statement=statement, steps=steps,
                 hypotheses=_index_hyps(c, a, b),
                 conclusion=Hyp("2r", lhs, "==", base + r_e * c1 + r_e**2 * c2, var=r_e, order=3),
                 concludes="2r", defs=defs)


def theorem2r_softmax() -> Proof:
    """P_r(c) = p_c + r ∇ᵀg + (r²/2)(gᵀHc g + ∇ᵀw) + O(r³) (Theorem 2's ∇ and Hc), any K."""
    value = sp.exp(_path(c, _t)) / _normaliser(_t)
    defs: dict[sp.Basic, sp.Basic] = {
        p: sp.Lambda(_u, sp.exp(z[_u]) / NORMALISER),
        helpfulness.P_r: value.subs(_t, r_e),
    }
    return _readout_proof(
        "Theorem 2R (P(correct), symbolic K)", helpfulness.P_r, value, p[c],
        (helpfulness.grad_entry, helpfulness.hess_entry), defs, helpfulness.response_c1,
        helpfulness.response_c2,
        r"For $K$ answers (symbolic), logits on the path $z + r g + \frac{r^2}{2} w$, "
        r"$p = \mathrm{softmax}(z)$ and correct answer $c$: $P_r(c) = p_c + r\nabla^\top g + "
        r"\frac{r^2}{2}(g^\top H_c g + \nabla^\top w) + O(r^3)$ with Theorem 2's $\nabla = "
        r"P_0(e_c - p)$ and $H_c$.")


def theorem2r_behavior() -> Proof:
    """B_r = B_0 + r ∇Bᵀg + (r²/2)(gᵀ∇²B g + ∇Bᵀw) + O(r³), scores s_a, any K."""
    value = sp.Sum(scores[a] * sp.exp(_path(a, _t)), (a, 0, K - 1)) / _normaliser(_t)
    defs: dict[sp.Basic, sp.Basic] = {
        p: sp.Lambda(_u, sp.exp(z[_u]) / NORMALISER),
        B_0: sp.Sum(scores[a] * p[a], (a, 0, K - 1)),
        alignment.B_r: value.subs(_t, r_e),
    }
    return _readout_proof(
        "Theorem 2R (B, symbolic K)", alignment.B_r, value, B_0,
        (alignment.behavior_grad_entry, alignment.behavior_hess_entry), defs,
        alignment.response_c1, alignment.response_c2,
        r"For $K$ outcomes (symbolic) with scores $s_a$, logits on the path $z + r g + "
        r"\frac{r^2}{2} w$, $p = \mathrm{softmax}(z)$, $B_0 = \sum_a s_a p_a$: $B_r = B_0 + "
        r"r\nabla B^\top g + \frac{r^2}{2}(g^\top \nabla^2 B\, g + \nabla B^\top w) + O(r^3)$ with "
        r"$\partial_a B = p_a(s_a - B_0)$, $\partial_a\partial_b B = p_a(\delta_{ab} - p_b)"
        r"(s_a - B_0) - p_a p_b (s_b - B_0)$.")
