"""Verdicts on the paper's claims from measured curves, with evidence and the recommended
coefficient.

Matrices are per prompt, **prompts × coefficients**: ``B`` (N_b, C) behavior expectations,
``P`` (N_h, C) probabilities of the correct answer (``empirics.measures`` returns (C, N):
pass its transpose). ``r`` (C,) must contain 0 (the unsteered anchor).

API::

    Verdict(name, holds: bool | None, summary: str, evidence: dict)   # .to_dict()
    alignment_rises_linearly(r, B, est_b=None, *, max_abs_r=None, n_boot=1000, seed=0)
    helpfulness_no_first_order(r, P, est_h=None, *, max_abs_r=None, n_boot=1000, seed=0)
    helpfulness_falls_quadratically(r, P, est_h=None, *, max_abs_r=None, hidden_size=None,
                                    n_boot=1000, seed=0)
    bounds_hold(r, B, P, est_b, est_h, *, linear_range=None, tol=1e-6)   # B or P may be None
    efficient_regime(r, B, P, *, kappa=1.0, est_b=None, est_h=None, n_boot=1000, seed=0)
    recommended_coefficient(r, B, P, *, kappa=1.0, epsilon=0.05, n_boot=1000, seed=0)
    all_verdicts(r, B, P, est_b, est_h, kappa=1.0, epsilon=0.05, *, max_abs_r=None,
                 linear_range=None, hidden_size=None, n_boot=1000, seed=0) -> list[Verdict]
        # B / P (with their estimates) may be None: those verdicts come back holds=None

``max_abs_r`` (the window of the local polynomial fits) defaults to the smallest |r| window
holding at least 5 grid points. ``holds`` is ``None`` where the data cannot decide (e.g. no
prompt with λ̂ > 0) and for the recommendation when nothing was measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from empirics.fits import (
    FitResult,
    fit_helpfulness_four,
    fit_helpfulness_two,
    fit_local_polynomial,
    fit_tanh,
)
from empirics.theory_link import (
    PromptEstimates,
    linear_model_curves,
    pooled_sigma,
    spread_bound,
    to_jsonable,
)
from theory import alignment as theory_alignment
from theory import tradeoff as theory_tradeoff


@dataclass
class Verdict:
    """One claim's verdict: ``holds`` True / False / None (undecidable), with its numbers."""

    name: str
    holds: bool | None
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "holds": self.holds, "summary": self.summary,
                "evidence": to_jsonable(self.evidence)}


# --------------------------------------------------------------------------------------------
# Input checks and shared helpers
# --------------------------------------------------------------------------------------------
def _coefs(r: Any) -> np.ndarray:
    x = np.asarray(r, dtype=float)
    if x.ndim != 1 or len(x) < 3 or not np.all(np.isfinite(x)):
        raise ValueError("coefficients must be a finite 1-D array of at least 3 values")
    if not np.any(x == 0):
        raise ValueError("coefficients must contain 0 (the unsteered anchor B_0 / P_0)")
    return x


def _matrix(name: str, m: Any, c: int) -> np.ndarray:
    a = np.asarray(m, dtype=float)
    if a.ndim != 2 or a.shape[1] != c or a.shape[0] == 0:
        raise ValueError(f"{name} has shape {a.shape}, expected (N, {c}) = prompts × coefficients")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a


def default_window(r: np.ndarray, min_points: int = 5) -> float:
    """Smallest |r| such that at least ``min_points`` grid points (≥ 3 distinct) lie within."""
    a = np.sort(np.unique(np.abs(r)))
    for m in a:
        inside = r[np.abs(r) <= m]
        if len(inside) >= min_points and len(np.unique(inside)) >= 3:
            return float(m)
    return float(a[-1])


def _zero(r: np.ndarray) -> int:
    return int(np.flatnonzero(r == 0)[0])


def _fmt_ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.4g}, {ci[1]:.4g}]"


def _mean_or_none(vals: Sequence[float]) -> float | None:
    v = [x for x in vals if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else None


def _linear_model_fit(est: Sequence[PromptEstimates], r: np.ndarray,
                      window: float) -> FitResult | None:
    """Local polynomial of the linear-model curve (softmax of z + r g): its c1, c2 predictions."""
    if not est:
        return None
    return fit_local_polynomial(r, linear_model_curves(est, r), window, bootstrap=0)


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------
def _local_fit(r: Any, values: Any, label: str, max_abs_r: float | None, n_boot: int,
               seed: int) -> tuple[np.ndarray, float, FitResult]:
    """The grid, the window and the local quadratic fit (prompt bootstrap) of a (N, C) matrix."""
    x = _coefs(r)
    mat = _matrix(label, values, len(x))
    w = default_window(x) if max_abs_r is None else max_abs_r
    return x, w, fit_local_polynomial(x, mat, w, bootstrap=n_boot, seed=seed)


def alignment_rises_linearly(r: Any, B: Any, est_b: Sequence[PromptEstimates] | None = None, *,
                             max_abs_r: float | None = None, n_boot: int = 1000,
                             seed: int = 0) -> Verdict:
    """Slope of B at 0 (local quadratic fit, prompt bootstrap CI) > 0 with CI excluding 0."""
    x, w, fit = _local_fit(r, B, "B", max_abs_r, n_boot, seed)
    c1, ci = fit.params["c1"], fit.ci["c1"]
    holds = bool(c1 > 0 and ci[0] > 0)
    ev: dict[str, Any] = {"slope": c1, "slope_ci": ci, "window": w, "fit": fit}
    pred = ""
    if est_b:
        bound_slopes = [e.lam_hat * (1 - e.B0**2) for e in est_b
                        if e.lam_hat is not None and e.B0 is not None]
        pos = [s for s, e in zip(bound_slopes, est_b, strict=False) if (e.lam_hat or 0) > 0]
        ev["predicted_slope_theorem1"] = _mean_or_none(bound_slopes)
        ev["predicted_slope_theorem1_positive_margin"] = _mean_or_none(pos)
        ev["fraction_positive_margin"] = len(pos) / len(est_b)
        ev["predicted_slope_linear_model"] = _mean_or_none([e.slope_linear for e in est_b])
        pred = (f"; fit-free: Theorem 1 slope λ̂(1−B₀²) averages {ev['predicted_slope_theorem1']:.4g} "
                f"(margin > 0 for {len(pos)}/{len(est_b)} prompts), exact linear-response slope "
                f"{ev['predicted_slope_linear_model']:.4g}")
    verb = "rises linearly" if holds else "does NOT rise linearly"
    return Verdict("alignment_rises_linearly", holds,
                   f"B {verb} near r=0: slope {c1:.4g}, 95% CI {_fmt_ci(ci)} on |r| ≤ {w:g}{pred}.",
                   ev)


def helpfulness_no_first_order(r: Any, P: Any, est_h: Sequence[PromptEstimates] | None = None, *,
                               max_abs_r: float | None = None, n_boot: int = 1000,
                               seed: int = 0) -> Verdict:
    """Theorem 2: E[P_r(c)] has no linear term — c1 = 0 within its CI."""
    x, w, fit = _local_fit(r, P, "P", max_abs_r, n_boot, seed)
    c1, c2, ci = fit.params["c1"], fit.params["c2"], fit.ci["c1"]
    holds = bool(ci[0] <= 0 <= ci[1])
    ev: dict[str, Any] = {"c1": c1, "c1_ci": ci, "c2": c2, "window": w, "fit": fit,
                          "linear_over_quadratic_at_window_edge":
                              abs(c1) / (abs(c2) * w) if c2 != 0 else float("inf")}
    extra = ""
    if est_h:
        lin = _linear_model_fit(est_h, x, w)
        ev["predicted_c1_linear_model"] = lin.params["c1"] if lin else None
        ev["mean_first_order_slope_linear_model"] = _mean_or_none([e.slope_linear for e in est_h])
        extra = (f"; the linear model with the actual shifts predicts c1 ≈ "
                 f"{ev['predicted_c1_linear_model']:.4g} (random-direction theory: 0)")
    if holds:
        summary = (f"No first-order helpfulness loss detected: c1 = {c1:.4g}, 95% CI {_fmt_ci(ci)} "
                   f"contains 0 (CI width {ci[1] - ci[0]:.3g}){extra}.")
    else:
        summary = (f"Helpfulness HAS a first-order term: c1 = {c1:.4g}, 95% CI {_fmt_ci(ci)} excludes 0 "
                   f"— the steering direction is not random with respect to the correct answers"
                   f"{extra}.")
    return Verdict("helpfulness_no_first_order", holds, summary, ev)


def helpfulness_falls_quadratically(r: Any, P: Any, est_h: Sequence[PromptEstimates] | None = None,
                                    *, max_abs_r: float | None = None,
                                    hidden_size: int | None = None, n_boot: int = 1000,
                                    seed: int = 0) -> Verdict:
    """c2 < 0 with its CI below 0; compared with −α̂ P_0 s² (Theorem 2, pooled σ̂ and 1/d)."""
    x, w, fit = _local_fit(r, P, "P", max_abs_r, n_boot, seed)
    c2, ci = fit.params["c2"], fit.ci["c2"]
    holds = bool(c2 < 0 and ci[1] < 0)
    ev: dict[str, Any] = {"c2": c2, "c2_ci": ci, "window": w, "fit": fit}
    extra = ""
    if est_h:
        sp = pooled_sigma(est_h)
        ev["sigma_pooled"] = sp

        def c2_pred(sig: float) -> float:
            vals = [-(e.alpha_hat or 0.0) * (e.P0 or 0.0) * (e.delta_norm * sig * e.beta_hat) ** 2
                    for e in est_h]
            return float(np.mean(vals))

        ev["predicted_c2_theorem2_pooled_sigma"] = c2_pred(sp)
        if hidden_size:
            ev["sigma_random"] = 1 / math.sqrt(hidden_size)
            ev["predicted_c2_theorem2_random_sigma"] = c2_pred(1 / math.sqrt(hidden_size))
        lin = _linear_model_fit(est_h, x, w)
        ev["predicted_c2_linear_model"] = lin.params["c2"] if lin else None
        extra = (f"; Theorem 2 predicts c2 = −mean(α̂P₀s²) = {ev['predicted_c2_theorem2_pooled_sigma']:.4g}"
                 f" (pooled σ̂ = {sp:.4g}), the linear model {ev['predicted_c2_linear_model']:.4g}")
    verb = "falls quadratically" if holds else "does NOT fall quadratically"
    return Verdict("helpfulness_falls_quadratically", holds,
                   f"Helpfulness {verb}: c2 = {c2:.4g}, 95% CI {_fmt_ci(ci)} on |r| ≤ {w:g}{extra}.", ev)


def _theorem1_check(x: np.ndarray, b: np.ndarray, est_b: Sequence[PromptEstimates],
                    linear_range: float | None, tol: float) -> tuple[bool | None, dict[str, Any], str]:
    z = _zero(x)
    n_checked = n_viol = n_viol_lin = 0
    worst: dict[str, Any] | None = None
    for i, e in enumerate(est_b):
        b0 = b[i, z]
        if e.lam_hat is None or e.lam_hat <= 0 or abs(b0) >= 1:
            continue
        bound = theory_alignment.evaluate(x, b0, 1.0, e.lam_hat)  # γλ = λ̂ (v2 signature)
        gap = np.where(x > 0, bound - b[i], np.where(x < 0, b[i] - bound, 0.0))
        n_checked += int((x != 0).sum())
        bad = gap > tol
        n_viol += int(bad.sum())
        if linear_range is not None:
            n_viol_lin += int((bad & (np.abs(x) <= linear_range)).sum())
        j = int(np.argmax(gap))
        if bad[j] and (worst is None or gap[j] > worst["amount"]):
            worst = {"amount": float(gap[j]), "item_id": e.item_id, "r": float(x[j]),
                     "measured": float(b[i, j]), "bound": float(bound[j])}
    n_pos = sum(1 for e in est_b if (e.lam_hat or 0) > 0)
    # One S+ and one S- outcome (Yes/No) is Theorem 1's equality case: under the linear model
    # B equals the bound, so the sign of the O(r²) remainder alone decides a "violation".
    tight = sum(1 for e in est_b if e.scores is not None and len(e.scores) == 2)
    ev = {"prompts_with_positive_margin": n_pos, "prompts": len(est_b), "points_checked": n_checked,
          "violations": n_viol, "worst": worst,
          "violations_within_linear_range": n_viol_lin if linear_range is not None else None,
          "prompts_in_equality_case": tight}
    lin_note = ""
    if linear_range is not None and n_viol:
        lin_note = (f" ({n_viol_lin} within the linear-response range |r| ≤ {linear_range:g};"
                    f" the rest are beyond it: evidence of nonlinearity, not of a false theorem)")
    if tight and n_viol:
        lin_note += (f"; {tight} prompts have two outcomes, Theorem 1's equality case, where any"
                     f" curvature of the real response crosses the bound")
    summary = (f"Theorem 1: {n_viol} violations in {n_checked} checks on {n_pos}/{len(est_b)} "
               f"prompts with λ̂ > 0{lin_note}"
               + (f", worst {worst['amount']:.3g} at r={worst['r']:g} ({worst['item_id']})" if worst else "")
               + ".")
    return (None if n_checked == 0 else n_viol == 0), ev, summary


def _theorem2p_check(x: np.ndarray, p: np.ndarray, est_h: Sequence[PromptEstimates],
                     tol: float) -> tuple[bool | None, dict[str, Any], str]:
    sig = pooled_sigma(est_h)
    bounds = np.full(p.shape, np.nan)
    for i, e in enumerate(est_h):
        if e.correct is not None:
            bounds[i] = spread_bound(e.p, e.correct, e.delta_norm * sig * e.beta_hat, x)
    defined = np.isfinite(bounds).all(axis=0)
    mean_h = p.mean(axis=0)
    mean_bound = np.where(defined, bounds.mean(axis=0), np.nan)
    over = defined & (mean_h > mean_bound + tol)
    per_prompt = np.isfinite(bounds) & (p > bounds + tol)
    ev = {"sigma_pooled": sig, "coefficients_defined": int(defined.sum()),
          "mean_violations": int(over.sum()), "mean_violation_coefficients": x[over],
          "mean_measured": mean_h, "mean_bound": mean_bound,
          "per_prompt_violations": int(per_prompt.sum()),
          "per_prompt_points": int(np.isfinite(bounds).sum())}
    summary = (f"Theorem 2′ (prompt mean, pooled σ̂): {int(over.sum())} violations on "
               f"{int(defined.sum())} coefficients where m ≥ 0; per prompt {int(per_prompt.sum())} "
               "(a single direction is not random: per-prompt excesses are expected).")
    return (None if defined.sum() == 0 else not bool(over.any())), ev, summary


def bounds_hold(r: Any, B: Any | None, P: Any | None, est_b: Sequence[PromptEstimates] | None,
                est_h: Sequence[PromptEstimates] | None, *, linear_range: float | None = None,
                tol: float = 1e-6) -> Verdict:
    """Theorem 1 per prompt with λ̂ > 0 (B ≥ bound for r ≥ 0, ≤ for r ≤ 0), anchored at the
    measured B(0); Theorem 2′ (sigmoid(m)+δ, pooled σ̂) for the prompt-mean helpfulness where
    defined. Both are theorems only under the exact linear model (Theorem 2′ also needs random
    directions): violations beyond the linear-response range are evidence of nonlinearity.
    Either side may be ``None`` (not measured)."""
    x = _coefs(r)
    ev: dict[str, Any] = {"tol": tol, "linear_range": linear_range}
    results: list[bool | None] = []
    texts: list[str] = []
    for label, m, est, check in (("B", B, est_b, "theorem1"), ("P", P, est_h, "theorem2_prime")):
        if m is None or not est:
            ev[check] = None
            continue
        mat = _matrix(label, m, len(x))
        if len(est) != mat.shape[0]:
            raise ValueError(f"{len(est)} estimates do not match the {mat.shape[0]} rows of {label}")
        if check == "theorem1":
            ok, sub, text = _theorem1_check(x, mat, est, linear_range, tol)
        else:
            ok, sub, text = _theorem2p_check(x, mat, est, tol)
        ev[check] = sub
        results.append(ok)
        texts.append(text)
    decided = [v for v in results if v is not None]
    holds = None if not decided else all(decided)
    summary = " ".join(texts) + (" Both bounds are theorems only under the exact linear model."
                                 if texts else "Nothing measured.")
    return Verdict("bounds_hold", holds, summary, ev)


def _bootstrap_curves(b: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Prompt-resampled mean curves (n_boot, C) of B and P (independent prompt sets)."""
    if n_boot < 1:
        raise ValueError(f"n_boot {n_boot} must be ≥ 1 for the utility CIs")
    rng = np.random.default_rng(seed)
    ib = rng.integers(0, b.shape[0], (n_boot, b.shape[0]))
    ip = rng.integers(0, p.shape[0], (n_boot, p.shape[0]))
    return b[ib].mean(axis=1), p[ip].mean(axis=1)


def _crossing(x: np.ndarray, u: np.ndarray, start: int) -> float | None:
    """First r after index ``start`` where u drops to ≤ 0, linearly interpolated."""
    for j in range(start + 1, len(x)):
        if u[j] <= 0:
            u0, u1 = u[j - 1], u[j]
            return float(x[j - 1] + (x[j] - x[j - 1]) * u0 / (u0 - u1)) if u0 != u1 else float(x[j])
    return None


def _best_helpfulness_fit(x: np.ndarray, p: np.ndarray) -> FitResult | None:
    fits = [f for f in (fit_helpfulness_two(x, p), fit_helpfulness_four(x, p)) if f.converged]
    return min(fits, key=lambda f: f.residual_rms) if fits else None


def _exact_theory(est_b: Sequence[PromptEstimates], est_h: Sequence[PromptEstimates], kappa: float,
                  sigma: float) -> dict[str, Any] | None:
    """``theory.tradeoff.exact`` on prompt-averaged parameters (mean B_0, mean λ̂ over λ̂ > 0,
    mean P_0, RMS s with pooled σ̂; spread-bound loss): a rough fit-free r* and break-even."""
    lams = [e.lam_hat for e in est_b if e.lam_hat is not None and e.lam_hat > 0]
    if not lams:
        return None
    b0 = float(np.mean([e.B0 for e in est_b if e.B0 is not None]))
    p0 = float(np.mean([e.P0 for e in est_h if e.P0 is not None]))
    s = float(np.sqrt(np.mean([(e.delta_norm * sigma * e.beta_hat) ** 2 for e in est_h])))
    try:
        # theory v2: exact H over a distribution; two answers (P_0, 1 − P_0) stand for it here.
        t = theory_tradeoff.exact(b0, 1.0, float(np.mean(lams)), kappa, s,
                                  p=np.array([p0, 1.0 - p0]), correct=0)
    except ValueError as err:  # e.g. B_0 or P_0 at 0 / 1: the formula has no value there
        return {"error": str(err)}
    return {"B0": b0, "lam": float(np.mean(lams)), "P0": p0, "s": s, "r_star": t.r_star,
            "utility_star": t.utility_star, "break_even": t.break_even, "method": t.method}


@dataclass
class _Tradeoff:
    """Prompt-mean gain G, loss L and utility G − κL on the coefficients r ≥ 0, ascending."""

    x: np.ndarray        # the whole grid
    b: np.ndarray        # (N_b, C) per-prompt B
    p: np.ndarray        # (N_h, C) per-prompt P(correct)
    z: int               # index of r = 0
    order: np.ndarray    # grid indices of r ≥ 0, ascending
    xs: np.ndarray       # x[order]
    gain: np.ndarray
    loss: np.ndarray
    utility: np.ndarray


def _tradeoff(r: Any, B: Any, P: Any, kappa: float) -> _Tradeoff:
    if not (math.isfinite(kappa) and kappa >= 0):
        raise ValueError(f"kappa {kappa} must be a finite number ≥ 0")
    x = _coefs(r)
    b = _matrix("B", B, len(x))
    p = _matrix("P", P, len(x))
    z = _zero(x)
    order = np.flatnonzero(x >= 0)
    order = order[np.argsort(x[order])]
    mb, mp = b.mean(0), p.mean(0)
    gain = mb[order] - mb[z]
    loss = mp[z] - mp[order]
    return _Tradeoff(x, b, p, z, order, x[order], gain, loss, gain - kappa * loss)


def efficient_regime(r: Any, B: Any, P: Any, *, kappa: float = 1.0,
                     est_b: Sequence[PromptEstimates] | None = None,
                     est_h: Sequence[PromptEstimates] | None = None,
                     n_boot: int = 1000, seed: int = 0) -> Verdict:
    """U(r) = G − κL on r ≥ 0 (G = B(r) − B_0, L = P_0 − H(r), prompt means); holds when
    max U > 0 with its bootstrap CI above 0. r* refined by the fitted tanh / helpfulness curves;
    break-even = first r > r* with U ≤ 0."""
    t = _tradeoff(r, B, P, kappa)
    x, b, p, z, order, xs = t.x, t.b, t.p, t.z, t.order, t.xs
    g, loss, u = t.gain, t.loss, t.utility
    jb = int(np.argmax(u))
    bb, pb = _bootstrap_curves(b, p, n_boot, seed)
    ub = (bb[:, order] - bb[:, [z]]) - kappa * (pb[:, [z]] - pb[:, order])
    u_ci = (float(np.quantile(ub[:, jb], 0.025)), float(np.quantile(ub[:, jb], 0.975)))
    r_star_boot = xs[np.argmax(ub, axis=1)]
    ev: dict[str, Any] = {
        "kappa": kappa, "r_grid": xs, "gain": g, "loss": loss, "utility": u,
        "r_star_grid": float(xs[jb]), "utility_at_r_star": float(u[jb]), "utility_ci": u_ci,
        "r_star_bootstrap_ci": (float(np.quantile(r_star_boot, 0.025)),
                                float(np.quantile(r_star_boot, 0.975))),
        "break_even_grid": _crossing(xs, u, jb) if u[jb] > 0 else None,
    }
    # Refinement by fitted curves over the whole grid
    ft = fit_tanh(x, b)
    fh = _best_helpfulness_fit(x, p)
    ev["fit_B"], ev["fit_H"] = ft, fh
    if ft.converged and fh is not None and xs[-1] > 0:
        fine = np.linspace(0, xs[-1], 2001)
        uf = (ft.predict(fine) - ft.predict(np.zeros(1))[0]) - kappa * (
            fh.predict(np.zeros(1))[0] - fh.predict(fine))
        jf = int(np.argmax(uf))
        ev["r_star_fit"] = float(fine[jf])
        ev["utility_at_r_star_fit"] = float(uf[jf])
        ev["break_even_fit"] = _crossing(fine, uf, jf) if uf[jf] > 0 else None
    if est_b and est_h:  # second-order theory: r* = slope / (2 κ α P0 s²)
        slope = _mean_or_none([e.lam_hat * (1 - e.B0**2) for e in est_b
                               if e.lam_hat is not None and e.B0 is not None])
        sig = pooled_sigma(est_h)
        curv = _mean_or_none([(e.alpha_hat or 0.0) * (e.P0 or 0.0) * (e.delta_norm * sig * e.beta_hat) ** 2
                              for e in est_h])
        ev["r_star_second_order_theory"] = (slope / (2 * kappa * curv)
                                            if slope and curv and curv > 0 and kappa > 0 else None)
        ev["exact_theory"] = _exact_theory(est_b, est_h, kappa, sig)
    holds = bool(u[jb] > 0 and u_ci[0] > 0 and xs[jb] > 0)
    # an optimum on the last grid point only bounds r* from below
    ev["r_star_at_grid_edge"] = bool(jb == len(xs) - 1)
    be = ev["break_even_grid"]
    summary = (f"{'An' if holds else 'No'} efficient regime (κ={kappa:g}): best measured r* = {xs[jb]:g} "
               f"with U = G − κL = {u[jb]:.4g}, 95% CI {_fmt_ci(u_ci)}"
               + (f"; fitted curves give r* = {ev['r_star_fit']:.4g}" if "r_star_fit" in ev else "")
               + (f"; break-even at r ≈ {be:.4g}" if be is not None else "; no break-even on the grid")
               + ("; r* is the largest coefficient measured: the optimum may lie beyond the grid"
                  if ev["r_star_at_grid_edge"] else "")
               + ".")
    return Verdict("efficient_regime", holds, summary, ev)


def recommended_coefficient(r: Any, B: Any, P: Any, *, kappa: float = 1.0, epsilon: float = 0.05,
                            n_boot: int = 1000, seed: int = 0) -> Verdict:
    """(a) argmax of G − κL on the grid (r ≥ 0); (b) the largest alignment with helpfulness
    loss ≤ ε, judged by the loss's upper 95% bootstrap bound (and by the point estimate)."""
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon {epsilon} must be a finite number ≥ 0")
    t = _tradeoff(r, B, P, kappa)
    b, p, z, order, xs, loss, u = t.b, t.p, t.z, t.order, t.xs, t.loss, t.utility
    mb = b.mean(0)
    _, pb = _bootstrap_curves(b, p, n_boot, seed)
    loss_hi = np.quantile(pb[:, [z]] - pb[:, order], 0.975, axis=0)
    r_util = float(xs[int(np.argmax(u))])

    def best_under(limit: np.ndarray) -> float:
        ok = np.flatnonzero(limit <= epsilon)
        return float(xs[ok[np.argmax(mb[order][ok])]]) if len(ok) else 0.0

    r_eps = best_under(loss_hi)
    r_eps_point = best_under(loss)
    j = int(np.flatnonzero(xs == r_eps)[0])
    ev = {"kappa": kappa, "epsilon": epsilon, "r_max_utility": r_util, "utility": float(u.max()),
          "r_max_alignment_within_epsilon": r_eps, "B_at_r_eps": float(mb[order][j]),
          "loss_at_r_eps": float(loss[j]), "loss_upper_ci_at_r_eps": float(loss_hi[j]),
          "r_max_alignment_within_epsilon_point_estimate": r_eps_point}
    holds = bool(r_util > 0 or r_eps > 0)
    summary = (f"Recommended: r = {r_util:g} maximises G − κL (κ={kappa:g}, U = {u.max():.4g}); "
               f"r = {r_eps:g} gives the most alignment (B = {mb[order][j]:.4g}) with helpfulness "
               f"loss {loss[j]:.4g} (upper 95% {loss_hi[j]:.4g}) ≤ ε = {epsilon:g}"
               + ("" if holds else "; steering does not pay on this grid (r = 0)") + ".")
    return Verdict("recommended_coefficient", holds, summary, ev)


def _missing(name: str, what: str) -> Verdict:
    return Verdict(name, None, f"Not decided: no {what} measured.", {})


def all_verdicts(r: Any, B: Any | None, P: Any | None, est_b: Sequence[PromptEstimates] | None,
                 est_h: Sequence[PromptEstimates] | None, kappa: float = 1.0, epsilon: float = 0.05,
                 *, max_abs_r: float | None = None, linear_range: float | None = None,
                 hidden_size: int | None = None, n_boot: int = 1000, seed: int = 0) -> list[Verdict]:
    """Every verdict, in a fixed order; plain arrays in, no model needed. ``B`` / ``P`` (and
    their estimates) may be ``None``: the verdicts that need them come back ``holds=None``."""
    kw: dict[str, Any] = {"n_boot": n_boot, "seed": seed}
    has_b, has_p = B is not None, P is not None
    both = has_b and has_p
    return [
        alignment_rises_linearly(r, B, est_b, max_abs_r=max_abs_r, **kw) if has_b
        else _missing("alignment_rises_linearly", "behavior prompts"),
        helpfulness_no_first_order(r, P, est_h, max_abs_r=max_abs_r, **kw) if has_p
        else _missing("helpfulness_no_first_order", "helpfulness prompts"),
        helpfulness_falls_quadratically(r, P, est_h, max_abs_r=max_abs_r, hidden_size=hidden_size, **kw)
        if has_p else _missing("helpfulness_falls_quadratically", "helpfulness prompts"),
        bounds_hold(r, B, P, est_b, est_h, linear_range=linear_range),
        efficient_regime(r, B, P, kappa=kappa, est_b=est_b, est_h=est_h, **kw) if both
        else _missing("efficient_regime", "behavior and helpfulness prompts"),
        recommended_coefficient(r, B, P, kappa=kappa, epsilon=epsilon, **kw) if both
        else _missing("recommended_coefficient", "behavior and helpfulness prompts"),
    ]
