"""Proposition 1: the first-order response of the last layer is Σ_l J_{L<-l} v_l."""

from __future__ import annotations

import sympy as sp

from proofs.framework import Assumption, Eq, Hyp, Proof, Step

DIM = 2


def _layer(index: int, h: sp.MatrixBase) -> sp.MatrixBase:
    """A generic C^2 block F_index: R^2 -> R^2 (undefined sympy functions)."""
    return sp.Matrix([sp.Function(f"F_{index}{k}")(*h) for k in range(1, DIM + 1)])


def _first_order(depth: int) -> Eq:
    """d/dr h_L(r)|_{r=0} = Σ_l J_{L<-l} v_l for ``depth`` generic blocks in R^2."""
    r = sp.Symbol("r", real=True)
    x0 = sp.Matrix(sp.symbols(f"x_1:{DIM + 1}", real=True))
    vs = [sp.Matrix([sp.Symbol(f"v_{layer}{k}", real=True) for k in range(1, DIM + 1)])
          for layer in range(depth + 1)]

    def hidden(rr: sp.Expr, upto: int) -> sp.MatrixBase:
        h = x0
        for layer in range(1, upto + 1):
            h = _layer(layer, h) + rr * vs[layer]  # block l, then inject r v_l into the residual stream
        return h

    lhs = hidden(r, depth).diff(r).subs(r, 0).doit()
    rhs = sp.zeros(DIM, 1)
    ys = sp.Matrix(sp.symbols(f"y_1:{DIM + 1}", real=True))
    for layer in range(1, depth + 1):
        tail = ys
        for later in range(layer + 1, depth + 1):
            tail = _layer(later, tail)
        jac = tail.jacobian(ys).subs(dict(zip(ys, hidden(0, layer), strict=True)))
        rhs += jac * vs[layer]
    return Eq(lhs, rhs, label=f"depth{depth}", why=f"depth {depth}: chain rule, the derivative of the composition at "
              "r = 0 against the sum of Jacobian-vector products (generic blocks, every component)",
              display=(r"\left.\frac{d h_" + str(depth) + r"}{d r}\right|_{r=0} = \sum_{l=1}^{"
                       + str(depth) + r"} J_{" + str(depth) + r"\leftarrow l}\, v_l"))


def proposition1(depths: tuple[int, ...] = (2, 3)) -> Proof:
    """Proposition 1 for compositions of the given depths."""
    steps: list[Step] = [_first_order(depth) for depth in depths]
    steps.append(Assumption(
        "Taylor with remainder", r"h_L(r) = h_L(0) + r \Delta + O(r^2)",
        "Taylor's theorem for C^2 maps (analysis, not re-derived here): the remainder of the "
        "first-order expansion is O(r^2)"))
    return Proof(
        name="Proposition 1 (linear response of the last layer)",
        kind="Proposition",
        statement=(
            r"For generic twice-differentiable blocks $F_l: \mathbb{R}^" + str(DIM)
            + r" \to \mathbb{R}^" + str(DIM) + r"$ with $h_l = F_l(h_{l-1}) + r v_l$: "
            r"$h_L(r) = h_L(0) + r \sum_l J_{L\leftarrow l} v_l + O(r^2)$, where $J_{L\leftarrow l}$ "
            r"is the Jacobian of $F_L \circ \dots \circ F_{l+1}$ at the unsteered $h_l$. "
            "Checked for depths " + ", ".join(map(str, depths)) + "."
        ),
        steps=steps,
        conclusion=Hyp("prop1", steps[len(depths) - 1].lhs, "==",  # type: ignore[attr-defined]
                       steps[len(depths) - 1].rhs),  # type: ignore[attr-defined]
        concludes=f"depth{depths[-1]}",
    )
