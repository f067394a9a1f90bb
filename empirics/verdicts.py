"""Verdicts on the paper's claims that the data can decide either way; each states its rule.

Inputs are typed pieces of ``empirics.results`` and per-prompt matrices, prompts × coefficients
``(N, C)``. The rules (also in docs/empirics.md):

- ``theorem1_slope``: the fit-free Theorem 1 slope mean γ̂λ̂(1 − B_0²) lies within the measured
  slope's 95% CI widened by ``TOLERANCE`` × |measured slope| on each side.
- ``theorem1_tanh_fit``: tanh(a r + b) fitted on the central range has R² ≥ ``MIN_R2``.
- ``theorem1_bound``: on prompts with γ̂λ̂ > 0 and 0 < |r| ≤ the measured linear-response range,
  B stays on the bound's side up to the linear-response tolerance (threshold × |bound − B_0|)
  at ≥ ``MIN_FRACTION`` of the points; beyond the range deviations are the theory's boundary.
- ``theorem2_first_order`` / ``theorem2_curvature``: the actual-Δ̂ c1 (resp. at least one of the
  fit-free c2 forms) within the measured CI widened by ``TOLERANCE`` × |measured|.
- ``theorem2_prime``: prompt-mean helpfulness ≤ the spread bound wherever it is defined.
- ``efficient_regime``: max_r U > 0 with its bootstrap CI above 0 at some r > 0.
- ``specific_gain``: harmful − harmless gain at the recommended r has its CI above 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from empirics import formulas
from empirics.estimates import PromptEstimates
from empirics.evidence import Evidence
from empirics.intervals import Interval
from empirics.results import Coefficients, FitSummary, Recommendation, Specificity, Verdict

TOLERANCE = 0.25      # relative tolerance of fit-free vs measured coefficients
MIN_R2 = 0.95         # tanh fit quality on the central range
MIN_FRACTION = 0.95   # share of bound checks inside the linear-response range that must pass


def _label(holds: bool | None) -> str:
    return {True: "holds", False: "fails", None: "undecided"}[holds]


def _make(name: str, behavior: str, holds: bool | None, rule: str, summary: str,
          **evidence: object) -> Verdict:
    return Verdict(name, behavior, holds, _label(holds), rule, summary, dict(evidence))


def within(predicted: float, measured: Interval[float], tol: float = TOLERANCE) -> bool:
    """Is ``predicted`` inside the measured CI widened by tol·|measured| on each side?"""
    pad = tol * abs(measured.value)
    lo = measured.lo if math.isfinite(measured.lo) else measured.value
    hi = measured.hi if math.isfinite(measured.hi) else measured.value
    return bool(lo - pad <= predicted <= hi + pad)


def _fmt(v: Interval[float]) -> str:
    return f"{v.value:.4g} [{v.lo:.4g}, {v.hi:.4g}]"


def theorem1_slope(behavior: str, measured: Coefficients, fit_free: Coefficients,
                   window: float) -> Verdict:
    rule = (f"fit-free slope within the measured slope's 95% CI ± {TOLERANCE:g}×|measured| "
            f"(local quadratic fit on |r| ≤ {window:g})")
    if measured.c1 is None or fit_free.c1 is None:
        return _make("theorem1_slope", behavior, None, rule, "Not decided: no slope measured.")
    ok = within(fit_free.c1.value, measured.c1)
    ratio = fit_free.c1.value / measured.c1.value if measured.c1.value else float("nan")
    return _make("theorem1_slope", behavior, ok, rule,
                 f"fit-free Theorem 1 slope {_fmt(fit_free.c1)} vs measured {_fmt(measured.c1)} "
                 f"(ratio {ratio:.3g})", predicted=fit_free.c1, measured=measured.c1,
                 ratio=ratio)


def theorem1_tanh_fit(behavior: str, fit: FitSummary | None) -> Verdict:
    rule = f"tanh(a r + b) on the central range has R² ≥ {MIN_R2:g} on the mean curve"
    if fit is None or not fit.fit.converged:
        reason = "no central fit" if fit is None else fit.fit.reason
        return _make("theorem1_tanh_fit", behavior, None, rule, f"Not decided: {reason}.")
    r2 = fit.fit.r_squared
    lo, hi = fit.grid_range
    return _make("theorem1_tanh_fit", behavior, bool(r2 >= MIN_R2), rule,
                 f"tanh fit on [{lo:g}, {hi:g}]: R² = {r2:.4f}, RMS {fit.fit.residual_rms:.3g}, "
                 f"a = {fit.fit.params['a']:.4g}", r_squared=r2, params=fit.fit.params,
                 residual_rms=fit.fit.residual_rms)


def theorem1_bound(behavior: str, grid: np.ndarray, B: np.ndarray,
                   estimates: Sequence[PromptEstimates], linear_range: float | None,
                   threshold: float) -> Verdict:
    """B vs tanh(γ̂λ̂ r + artanh B_0) per prompt (anchored at the measured B(0))."""
    rule = (f"inside the measured linear-response range, B ≥ bound − {threshold:g}·|bound − B_0| "
            f"(r > 0; mirrored for r < 0) at ≥ {MIN_FRACTION:.0%} of the checks")
    if linear_range is None or linear_range <= 0:
        return _make("theorem1_bound", behavior, None, rule,
                     "Not decided: no measured linear-response range (no grid point where the "
                     "last layer responds linearly).")
    z = int(np.flatnonzero(grid == 0)[0])
    inside = (grid != 0) & (np.abs(grid) <= linear_range)
    outside = np.abs(grid) > linear_range
    n_in = bad_in = n_out = bad_out = 0
    worst_out = 0.0
    for i, e in enumerate(estimates):
        b0 = float(B[i, z])
        if e.gamma_lam is None or e.gamma_lam <= 0 or abs(b0) >= 1:
            continue
        bound = formulas.theorem1_bound(grid, b0, e.gamma_lam)
        gap = np.where(grid > 0, bound - B[i], B[i] - bound)   # > 0: on the wrong side
        slack = threshold * np.abs(bound - b0) + 1e-6
        bad = gap > slack
        n_in += int(inside.sum())
        bad_in += int((bad & inside).sum())
        n_out += int(outside.sum())
        bad_out += int((bad & outside).sum())
        if outside.any():
            worst_out = max(worst_out, float(np.max(np.where(outside, gap, 0.0))))
    if n_in == 0:
        return _make("theorem1_bound", behavior, None, rule,
                     f"Not decided: no prompt with γ̂λ̂ > 0 or no grid point within |r| ≤ "
                     f"{linear_range:g}.", linear_range=linear_range)
    ok = bad_in <= (1 - MIN_FRACTION) * n_in
    return _make("theorem1_bound", behavior, bool(ok), rule,
                 f"{n_in - bad_in}/{n_in} checks pass within |r| ≤ {linear_range:g}; beyond it "
                 f"{bad_out}/{n_out} cross the bound (worst {worst_out:.3g}): the boundary of the "
                 "linear theory, not a failure of it", checks_inside=n_in,
                 violations_inside=bad_in, checks_beyond=n_out, crossings_beyond=bad_out,
                 worst_beyond=worst_out, linear_range=linear_range)


def theorem2_first_order(behavior: str, measured: Coefficients, actual: Coefficients) -> Verdict:
    rule = (f"actual-Δ̂ fit-free c1 within the measured c1's 95% CI ± {TOLERANCE:g}×|measured|; "
            "the i.i.d./random-direction form predicts c1 = 0")
    if measured.c1 is None or actual.c1 is None:
        return _make("theorem2_first_order", behavior, None, rule,
                     "Not decided: " + (actual.note or "no c1 measured") + ".")
    ok = within(actual.c1.value, measured.c1)
    zero_in = bool(measured.c1.lo <= 0 <= measured.c1.hi)
    return _make("theorem2_first_order", behavior, ok, rule,
                 f"measured c1 {_fmt(measured.c1)}, actual-Δ̂ prediction {_fmt(actual.c1)}; "
                 f"0 {'inside' if zero_in else 'outside'} the measured CI",
                 measured=measured.c1, predicted=actual.c1, zero_in_ci=zero_in)


def theorem2_curvature(behavior: str, measured: Coefficients,
                       forms: Sequence[Coefficients]) -> Verdict:
    rule = (f"at least one fit-free c2 form within the measured c2's 95% CI ± "
            f"{TOLERANCE:g}×|measured|")
    if measured.c2 is None:
        return _make("theorem2_curvature", behavior, None, rule, "Not decided: no c2 measured.")
    avail = [f for f in forms if f.c2 is not None]
    if not avail:
        return _make("theorem2_curvature", behavior, None, rule, "Not decided: no fit-free c2.")
    m = measured.c2
    parts, matching = [], []
    for f in avail:
        assert f.c2 is not None
        ok = within(f.c2.value, m)
        ratio = f.c2.value / m.value if m.value else float("nan")
        parts.append(f"{f.label} {f.c2.value:.3g} (×{ratio:.2g}{', fits' if ok else ''})")
        if ok:
            matching.append(f.label)
    falls = bool(m.value < 0 and m.hi < 0)
    return _make("theorem2_curvature", behavior, bool(matching), rule,
                 f"measured c2 {_fmt(m)} ({'falls quadratically' if falls else 'no clear fall'}); "
                 + "; ".join(parts), measured=m, matching=matching, falls_quadratically=falls,
                 predicted={f.label: f.c2 for f in avail})


def theorem2_prime(behavior: str, grid: np.ndarray, P: np.ndarray,
                   estimates: Sequence[PromptEstimates], sigma: float,
                   tol: float = 1e-6) -> Verdict:
    rule = "prompt-mean P(correct) ≤ mean spread bound sigmoid(m)+δ at every r where m ≥ 0"
    bounds = np.full(P.shape, np.nan)
    for i, e in enumerate(estimates):
        if e.correct is not None:
            bounds[i] = formulas.spread_bound(e.p, e.correct, e.shift_scale(sigma), grid)
    defined = np.isfinite(bounds).all(axis=0)
    if not defined.any():
        return _make("theorem2_prime", behavior, None, rule,
                     "Not decided: the bound is defined (m ≥ 0) at no coefficient.")
    mean_h = P.mean(axis=0)
    mean_b = np.where(defined, np.nanmean(bounds, axis=0), np.nan)
    over = defined & (mean_h > mean_b + tol)
    return _make("theorem2_prime", behavior, not bool(over.any()), rule,
                 f"{int(over.sum())} violations on {int(defined.sum())} coefficients where m ≥ 0 "
                 "(pooled σ̂; a single direction is not random: per-prompt excesses are expected)",
                 violations=int(over.sum()), defined=int(defined.sum()))


def efficient_regime(behavior: str, grid: np.ndarray, gain_boot: np.ndarray,
                     loss_boot: np.ndarray, utility: np.ndarray, kappa: float) -> Verdict:
    """``gain_boot``/``loss_boot``: (n_boot, C) bootstrap mean curves of G and L."""
    rule = "max over r > 0 of U = G − κL is > 0 with its 95% bootstrap CI above 0"
    pos = np.flatnonzero(grid > 0)
    if not len(pos):
        return _make("efficient_regime", behavior, None, rule, "Not decided: no r > 0 measured.")
    j = int(pos[np.argmax(utility[pos])])
    ub = formulas.utility(gain_boot[:, j], loss_boot[:, j], kappa)
    lo, hi = float(np.quantile(ub, 0.025)), float(np.quantile(ub, 0.975))
    ok = bool(utility[j] > 0 and lo > 0)
    return _make("efficient_regime", behavior, ok, rule,
                 f"best measured U = {utility[j]:.4g} [{lo:.4g}, {hi:.4g}] at r = {grid[j]:g} "
                 f"(κ = {kappa:g})", r=float(grid[j]), utility=float(utility[j]), ci=(lo, hi))


def specific_gain(behavior: str, spec: Specificity | None, grid: np.ndarray, r: float) -> Verdict:
    rule = "gain on target minus gain on control prompts at the recommended r has its CI above 0"
    if spec is None:
        return _make("specific_gain", behavior, None, rule, "Not decided: no control group.")
    j = int(np.argmin(np.abs(grid - r)))
    sg = spec.specific_gain
    ok = bool(sg.lo[j] > 0)
    return _make("specific_gain", behavior, ok, rule,
                 f"at r = {grid[j]:g}: {spec.target_group} gain {spec.target_gain.value[j]:+.3f}, "
                 f"{spec.control_group} gain {spec.control_gain.value[j]:+.3f}, specific "
                 f"{sg.value[j]:+.3f} [{sg.lo[j]:+.3f}, {sg.hi[j]:+.3f}]",
                 specific=float(sg.value[j]), ci=(float(sg.lo[j]), float(sg.hi[j])))


def recommendation(behavior: str, rec: Recommendation) -> Verdict:
    """Not a claim: what to do, and how it was decided."""
    if rec.r > 0:
        label = f"steer, r = {rec.r:g}" + (" (grid edge: extend the grid)" if rec.at_grid_edge else "")
    elif rec.r_within_epsilon > 0:
        label = f"steer within ε, r = {rec.r_within_epsilon:g}"
    else:
        label = "do not steer (r = 0)"
    return Verdict("recommendation", behavior, None, label,
                   "argmax of measured U on r ≥ 0; second-order r* only where valid",
                   rec.note, {"r": rec.r, "method": rec.method, "at_grid_edge": rec.at_grid_edge})


def judge(e: Evidence, rec: Recommendation) -> list[Verdict]:
    """Every verdict on one behavior, then the recommendation's."""
    b, lin = e.behavior, e.linear_response
    found = [
        theorem1_slope(b, e.alignment.measured, e.alignment.theorem1, e.window),
        theorem1_tanh_fit(b, e.central_fit),
        theorem1_bound(b, e.grid, e.target_B, e.target_estimates,
                       None if lin is None else lin.linear_range,
                       0.1 if lin is None else lin.threshold),
        theorem2_first_order(b, e.helpfulness.measured, e.helpfulness.actual),
        theorem2_curvature(b, e.helpfulness.measured, e.helpfulness.fit_free_c2()),
        theorem2_prime(b, e.grid, e.help_P, e.help_estimates, e.sigma_pooled),
        efficient_regime(b, e.grid, e.gain_boot, e.loss_boot, e.tradeoff.utility,
                         e.tradeoff.kappa),
    ]
    if e.specificity is not None:
        found.append(specific_gain(b, e.specificity, e.grid, rec.r))
    return [*found, recommendation(b, rec)]
