"""Proposition 1, both orders: for generic blocks, the derivatives of the last layer along the
steering coefficient are the forward-mode recursions (one JVP: Δ = Σ_l J_{L←l} v_l; a JVP of the
JVP: Δ₂ⁿᵉʷ = J Δ₂ + ∇²F[Δ, Δ] block by block), and Taylor's theorem gives the expansion."""

from __future__ import annotations

import sympy as sp

from proofs.framework import Assumption, Eq, Hyp, Proof, SeriesEq, Step, Taylor
from theory.response import Delta, Delta_2, h_fn
from theory.symbols import r_e

DIM = 2
_r = sp.Symbol("r", real=True)
_t = sp.Symbol("t", real=True)


def _layer(index: int, h: sp.MatrixBase) -> sp.MatrixBase:
    """A generic C³ block F_index: R^2 -> R^2 (undefined sympy functions)."""
    return sp.Matrix([sp.Function(f"F_{index}{k}")(*h) for k in range(1, DIM + 1)])


def _network(depth: int) -> tuple[sp.MatrixBase, list[sp.MatrixBase]]:
    x0 = sp.Matrix(sp.symbols(f"x_1:{DIM + 1}", real=True))
    vs = [sp.Matrix([sp.Symbol(f"v_{layer}{k}", real=True) for k in range(1, DIM + 1)])
          for layer in range(depth + 1)]
    return x0, vs


def _hidden(x0: sp.MatrixBase, vs: list[sp.MatrixBase], rr: sp.Expr, upto: int) -> sp.MatrixBase:
    h = x0
    for layer in range(1, upto + 1):
        h = _layer(layer, h) + rr * vs[layer]  # block l, then inject r v_l into the residual stream
    return h


def _first_order(depth: int) -> Eq:
    """d/dr h_L(r)|_{r=0} = Σ_l J_{L<-l} v_l for ``depth`` generic blocks in R^2."""
    x0, vs = _network(depth)
    lhs = _hidden(x0, vs, _r, depth).diff(_r).subs(_r, 0).doit()
    rhs = sp.zeros(DIM, 1)
    ys = sp.Matrix(sp.symbols(f"y_1:{DIM + 1}", real=True))
    for layer in range(1, depth + 1):
        tail = ys
        for later in range(layer + 1, depth + 1):
            tail = _layer(later, tail)
        jac = tail.jacobian(ys).subs(dict(zip(ys, _hidden(x0, vs, 0, layer), strict=True)))
        rhs += jac * vs[layer]
    return Eq(lhs, rhs, label=f"depth{depth}", why=f"depth {depth}: chain rule, the derivative of the composition at "
              "r = 0 against the sum of Jacobian-vector products (generic blocks, every component)",
              display=(r"\left.\frac{d h_" + str(depth) + r"}{d r}\right|_{r=0} = \sum_{l=1}^{"
                       + str(depth) + r"} J_{" + str(depth) + r"\leftarrow l}\, v_l"))


def _block_model(layer: int) -> tuple[sp.MatrixBase, sp.MatrixBase, list[sp.MatrixBase]]:
    """Block ``layer``'s value c, Jacobian J and (symmetric) Hessians H_k at its unsteered input,
    all free symbols: its quadratic Taylor model c + J δ + ½ (δᵀ H_k δ)_k is generic."""
    c = sp.Matrix([sp.Symbol(f"c_{layer}{k}", real=True) for k in range(1, DIM + 1)])
    jac = sp.Matrix(DIM, DIM, lambda i, j: sp.Symbol(f"J_{layer}{i + 1}{j + 1}", real=True))
    hess = [sp.Matrix(DIM, DIM, lambda i, j, k=k: sp.Symbol(
        f"H_{layer}{k}{min(i, j) + 1}{max(i, j) + 1}", real=True)) for k in range(1, DIM + 1)]
    return c, jac, hess


def _second_order(depth: int) -> Eq:
    """d²/dr² h_L(r)|_{r=0} = the forward-over-forward recursion: with Δ⁰ = Δ₂⁰ = 0,
    Δˡ = J_l Δˡ⁻¹ + v_l and Δ₂ˡ = J_l Δ₂ˡ⁻¹ + ∇²F_l[Δˡ⁻¹, Δˡ⁻¹], for blocks given by their
    quadratic Taylor models at the unsteered inputs (generic values, Jacobians, Hessians)."""
    _, vs = _network(depth)
    h = sp.zeros(DIM, 1)  # the input is not steered: δ⁰(r) = 0
    delta = sp.zeros(DIM, 1)
    d1, d2 = sp.zeros(DIM, 1), sp.zeros(DIM, 1)
    for layer in range(1, depth + 1):
        c, jac, hess = _block_model(layer)
        curv = sp.Matrix([(delta.T * hess[k] * delta)[0] for k in range(DIM)])
        h = c + jac * delta + curv / 2 + _r * vs[layer]
        delta = h - c  # the next block's displacement from its unsteered input
        curv0 = sp.Matrix([(d1.T * hess[k] * d1)[0] for k in range(DIM)])
        d1, d2 = jac * d1 + vs[layer], jac * d2 + curv0
    lhs = sp.expand(h.diff(_r, 2).subs(_r, 0))
    return Eq(lhs, d2, label=f"second{depth}",
              why=f"depth {depth}: the second derivative of the composition at r = 0 against "
                  "the forward-over-forward recursion (every component; blocks by their "
                  "quadratic Taylor models, which fix the second derivative at r = 0)",
              display=(r"\left.\frac{d^2 h_" + str(depth) + r"}{d r^2}\right|_{r=0} = "
                       r"\Delta_2^{(" + str(depth) + r")},\quad \Delta_2^{(l)} = J_l \Delta_2^{(l-1)}"
                       r" + \nabla^2 F_l[\Delta^{(l-1)}, \Delta^{(l-1)}]"))


def _taylor_steps(order: int) -> list[Step]:
    approx = h_fn(0) + r_e * Delta + (r_e**2 / 2 * Delta_2 if order == 3 else 0)
    return [
        Taylor(h_fn(r_e), h_fn(_t), _t, r_e, order,
               f"Taylor's theorem with remainder for the C^{order} map r -> h(r) (each component)",
               label="taylor"),
        SeriesEq(h_fn(r_e), approx, r_e, order, "with Δ and Δ₂ the derivatives at 0",
                 premise="taylor", label="expansion"),
    ]


def _defs(order: int) -> dict[sp.Basic, sp.Basic]:
    defs: dict[sp.Basic, sp.Basic] = {Delta: sp.Subs(sp.Derivative(h_fn(_t), _t), _t, 0)}
    if order == 3:
        defs[Delta_2] = sp.Subs(sp.Derivative(h_fn(_t), (_t, 2)), _t, 0)
    return defs


def proposition1(depths: tuple[int, ...] = (2, 3)) -> Proof:
    """Proposition 1: h(r) = h(0) + r Δ + O(r²), Δ = Σ_l J_{L←l} v_l (checked for the depths)."""
    steps: list[Step] = [_first_order(depth) for depth in depths]
    steps += _taylor_steps(2)
    approx = h_fn(0) + r_e * Delta
    return Proof(
        name="Proposition 1 (linear response of the last layer)",
        kind="Proposition",
        statement=(
            r"For generic twice-differentiable blocks $F_l: \mathbb{R}^" + str(DIM)
            + r" \to \mathbb{R}^" + str(DIM) + r"$ with $h_l = F_l(h_{l-1}) + r v_l$: "
            r"$h_L(r) = h_L(0) + r \Delta + O(r^2)$ with $\Delta = \sum_l J_{L\leftarrow l} v_l$, "
            r"where $J_{L\leftarrow l}$ is the Jacobian of $F_L \circ \dots \circ F_{l+1}$ at the "
            "unsteered $h_l$. The Jacobian-vector form is checked for depths "
            + ", ".join(map(str, depths)) + "."
        ),
        steps=steps,
        conclusion=Hyp("prop1", h_fn(r_e), "==", approx, var=r_e, order=2),
        concludes="expansion",
        defs=_defs(2),
    )


def proposition1_second(depths: tuple[int, ...] = (2, 3)) -> Proof:
    """Proposition 1 to second order: h(r) = h(0) + rΔ + (r²/2)Δ₂ + O(r³), Δ₂ by a JVP of the JVP."""
    steps: list[Step] = [Assumption(
        "Taylor with remainder", r"F_l(y_l + \delta) = F_l(y_l) + J_l \delta + \tfrac12 "
        r"\nabla^2 F_l[\delta, \delta] + O(|\delta|^3)",
        "each C³ block equals its quadratic Taylor polynomial at its unsteered input up to "
        "O(|δ|³) = O(r³), which does not reach the second derivative at r = 0")]
    steps += [_second_order(depth) for depth in depths]
    steps += _taylor_steps(3)
    approx = h_fn(0) + r_e * Delta + r_e**2 / 2 * Delta_2
    return Proof(
        name="Proposition 1 (second order)",
        kind="Proposition",
        statement=(
            r"For generic three-times differentiable blocks $F_l$ with $h_l = F_l(h_{l-1}) + r v_l$: "
            r"$h_L(r) = h_L(0) + r\Delta + \frac{r^2}{2}\Delta_2 + O(r^3)$, where "
            r"$\Delta_2 = h_L''(0)$ is the forward-over-forward recursion $\Delta_2^{(l)} = "
            r"J_l \Delta_2^{(l-1)} + \nabla^2 F_l[\Delta^{(l-1)}, \Delta^{(l-1)}]$ (checked for "
            "depths " + ", ".join(map(str, depths)) + "): computable at $r = 0$ by nested "
            "forward-mode differentiation."
        ),
        steps=steps,
        conclusion=Hyp("prop1b", h_fn(r_e), "==", approx, var=r_e, order=3),
        concludes="expansion",
        defs=_defs(3),
    )
