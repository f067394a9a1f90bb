"""A uniformly random direction: E[Δ_iΔ_j] = (λ²/d) δ_ij (from the symmetries of the uniform law
on the sphere), the cosine spread σ = 1/√d, and Theorem 2's random-direction form as an instance
of the general form, its mean and covariance discharged by the lemma."""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from proofs.framework import Assumption, Eq, FromLemma, Hyp, Proof, SeriesEq, Step
from proofs.helpfulness2 import LINEARITY, RANGE, Expect, g, theorem2_general
from theory import helpfulness
from theory.symbols import G, K, Sigma, a, b, c, d, lam, mu, p, r_e

E = sp.Function("E")
D = sp.IndexedBase("Delta", real=True)  # the random direction's coordinates, 1 <= k <= d
U = sp.IndexedBase("U", real=True)      # answer representations (rows)
u = sp.IndexedBase("u", real=True)      # a fixed unit vector
k, m = sp.symbols("k m", integer=True)
_u, _v = sp.symbols("u v", integer=True)
M, M_off = sp.symbols("M M_off", real=True)
i_, j_ = helpfulness.i_dir, helpfulness.j_dir
COORDS = (sp.Integer(1), d)


def sphere_lemma() -> Proof:
    """E[Δ_iΔ_j] = (λ²/d) δ_ij for Δ uniform on the sphere of radius λ in R^d."""
    steps: list[Step] = [
        Assumption("rotation invariance", r"\mathbb{E}[\Delta_i\Delta_j] = M\,\delta_{ij} + "
                   r"M_{off}(1 - \delta_{ij})",
                   "permuting the coordinates leaves the law unchanged: all E[Δ_k²] are one value "
                   "M, all E[Δ_iΔ_j] with i ≠ j one value M_off", label="perm",
                   expr=E(D[i_] * D[j_]) - (M * sp.KroneckerDelta(i_, j_)
                                            + M_off * (1 - sp.KroneckerDelta(i_, j_))), kind="eq"),
        Assumption("rotation invariance", r"\mathbb{E}[\Delta_k^2] = M",
                   "the same, for one coordinate k", label="diag",
                   expr=E(D[k] ** 2) - M, kind="eq"),
        Assumption("rotation invariance", r"M_{off} = -M_{off}",
                   "reflecting coordinate i (Δ_i → −Δ_i) leaves the law unchanged and flips "
                   "Δ_iΔ_j for j ≠ i", label="refl", expr=2 * M_off, kind="eq"),
        Assumption("linearity of expectation", r"\sum_{k=1}^{d} \mathbb{E}[\Delta_k^2] = "
                   r"\mathbb{E}\big[\textstyle\sum_k \Delta_k^2\big] = \lambda^2",
                   "E is linear, and Σ_k Δ_k² = λ² on the sphere", label="norm",
                   expr=sp.Sum(E(D[k] ** 2), (k, 1, d)) - lam**2, kind="eq"),
        Eq(sp.Sum(E(D[k] ** 2), (k, 1, d)), d * M, "d equal terms", reparam={E(D[k] ** 2): M},
           by=["diag"], sums={}, label="sum"),
        Eq(M, lam**2 / d, "so d M = λ²", combine=["norm", "sum"], weights=[1 / d, -1 / d],
           label="M"),
        Eq(M_off, 0, "M_off = −M_off", combine=["refl"], weights=[sp.Rational(1, 2)],
           label="off"),
        Eq(helpfulness.E_DD, helpfulness.second_moment, "assemble",
           combine=["perm"], reparam={M: lam**2 / d, M_off: 0}, by=["M", "off"], label="cov"),
    ]
    return Proof(
        name="Lemma (uniform direction)",
        kind="Lemma",
        statement=(r"For $\Delta$ uniform on the sphere of radius $\lambda$ in $\mathbb{R}^d$: "
                   r"$\mathbb{E}[\Delta_i \Delta_j] = \frac{\lambda^2}{d}\,\delta_{ij}$, i.e. "
                   r"$\mathbb{E}[\Delta\Delta^\top] = (\lambda^2/d) I$."),
        steps=steps,
        conclusion=Hyp("cov", helpfulness.E_DD, "==", helpfulness.second_moment),
        concludes="cov",
        defs={helpfulness.E_DD: E(D[i_] * D[j_])},
    )


def sphere_moments(lemma: Proof) -> object:
    """The moments of Δ the lemma gives (its conclusion, read here), and E Δ_k = 0."""
    assert lemma.conclusion is not None
    second = lemma.conclusion.rhs

    def moments(idx: Sequence[sp.Expr]) -> sp.Expr:
        if len(idx) == 0:
            return sp.Integer(1)
        if len(idx) == 1:
            return sp.Integer(0)
        if len(idx) == 2:
            return second.subs({i_: idx[0], j_: idx[1]}, simultaneous=True)
        raise ValueError(f"moment of order {len(idx)} not given by the lemma")

    return moments


def _moment_facts(lemma: Proof) -> list[Step]:
    return [
        FromLemma(lemma, "E[Δ_iΔ_j] = (λ²/d) δ_ij", label="sphere"),
        LINEARITY,
        Assumption("moment identities", r"\mathbb{E}\,\Delta_k = 0,\ \mathbb{E}\,\Delta_k\Delta_l "
                   r"= \frac{\lambda^2}{d}\delta_{kl}",
                   "Δ and −Δ have the same law (rotation invariance), and Lemma (uniform "
                   "direction)"),
    ]


def sigma_random(lemma: Proof) -> Proof:
    """σ = 1/√d: the cosine of Δ with a unit vector u has E cos = 0 and E cos² = 1/d."""
    cos = sp.Sum(u[k] * D[k], (k, 1, d)) / lam
    moments = sphere_moments(lemma)
    steps: list[Step] = [
        *_moment_facts(lemma),
        Expect(cos**2, sp.Sum(u[k] ** 2, (k, 1, d)) / d, D, moments,  # type: ignore[arg-type]
               "uniform direction", "E cos² = Σ_kl u_k u_l E[Δ_kΔ_l]/λ²", label="e2"),
        Eq(E(cos**2), 1 / d, "‖u‖ = 1", combine=["e2", "unit"], weights=[1, 1 / d],
           label="e2u"),
        Eq(helpfulness.sigma_rand, helpfulness.sigma_random, "σ = √(E cos²)",
           reparam={E(cos**2): 1 / d}, by=["e2u"], label="sigma"),
    ]
    return Proof(
        name="Cosine spread of a random direction",
        kind="Corollary",
        statement=(r"For $\Delta$ uniform on the sphere of radius $\lambda$ in $\mathbb{R}^d$ and "
                   r"a unit vector $u$, $\cos = u^\top\Delta/\lambda$ has $\mathbb{E}\cos^2 = 1/d$: "
                   r"$\sigma = 1/\sqrt{d}$."),
        hypotheses=[Hyp("unit", sp.Sum(u[k] ** 2, (k, 1, d)), "==", 1)],
        steps=steps,
        conclusion=Hyp("sigma", helpfulness.sigma_rand, "==", helpfulness.sigma_random),
        concludes="sigma",
        defs={**lemma.defs, helpfulness.sigma_rand: sp.sqrt(E(cos**2))},
    )


def theorem2_random(lemma: Proof) -> Proof:
    """H = p_c + (λ²/2d) tr(Hc U Uᵀ) r² + O(r³) for g = UΔ, Δ uniform on the sphere."""
    general = theorem2_general()
    moments = sphere_moments(lemma)
    rc = {c: RANGE, a: RANGE, b: RANGE}
    inst = {mu[a]: 0, mu[b]: 0, Sigma[a, b]: lam**2 / d * G[a, b]}
    approx = p[c] + r_e**2 * helpfulness.random_direction_c2
    steps: list[Step] = [
        *_moment_facts(lemma),
        Expect(g[a], 0, D, moments, "uniform direction", "E g_a = Σ_k U_ak E Δ_k = 0",  # type: ignore[arg-type]
               label="mean", ranges={a: RANGE}),
        Expect(g[a] * g[b], lam**2 / d * G[a, b], D, moments,  # type: ignore[arg-type]
               "uniform direction", "E g_a g_b = Σ_kl U_ak U_bl E[Δ_kΔ_l] = (λ²/d) G_ab",
               label="cov", ranges={a: RANGE, b: RANGE}),
        FromLemma(general, "Theorem 2 (general form) with μ = 0, Σ = (λ²/d) U Uᵀ", subs=inst,
                  label="general"),
        SeriesEq(helpfulness.H, approx, r_e, 3, "the instance: no first order, curvature "
                 "(λ²/2d) Σ_ab Hc_ab G_ab", premise="general", sums=rc, label="random"),
    ]
    return Proof(
        name="Theorem 2 (random direction)",
        kind="Theorem",
        statement=(r"For logit shifts $g = U\Delta$ with $\Delta$ uniform on the sphere of radius "
                   r"$\lambda$ in $\mathbb{R}^d$ and $G = UU^\top$: $H(r_e) = p_c + r_e^2\, " +
                   sp.latex(helpfulness.random_direction_c2) + r" + O(r_e^3)$."),
        hypotheses=[Hyp(f"{x}>=0", x, ">=", 0) for x in (c, a, b)]
        + [Hyp(f"{x}<=K-1", x, "<=", K - 1) for x in (c, a, b)],
        steps=steps,
        conclusion=Hyp("random", helpfulness.H, "==", approx, var=r_e, order=3),
        concludes="random",
        defs={**general.defs, **lemma.defs, g: sp.Lambda(_u, sp.Sum(U[_u, k] * D[k], (k, 1, d))),
              G: sp.Lambda((_u, _v), sp.Sum(U[_u, m] * U[_v, m], (m, 1, d)))},
    )


__all__ = ["sphere_lemma", "sphere_moments", "sigma_random", "theorem2_random"]
