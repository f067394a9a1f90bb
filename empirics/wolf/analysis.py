"""From measured matrices to the paper's fits, slopes, verdicts and a recommended coefficient."""

from __future__ import annotations

import math

import numpy as np

from empirics import formulas
from empirics.fits import fit_local_polynomial
from empirics.wolf import boundfit, forms
from empirics.wolf.protocol import (
    HELPFULNESS_RANGE,
    HELPFULNESS_START,
    TANH_RANGE,
    TANH_START,
)
from empirics.wolf.results import CurveCI, Estimate, Recommendation, Verdict

__all__ = ["Estimate", "curve_ci", "efficient_regime", "helpfulness_fit", "local_coefficients",
           "recommend", "tanh_fit", "tanh_slope", "verdicts"]

LOCAL_WINDOW = 3.0      # |r| of the local quadratic (the same window as the default protocol)
TOLERANCE = 0.25        # relative tolerance of slope comparisons (as empirics.verdicts)
R2_MIN = 0.95


def curve_ci(values: np.ndarray, n_boot: int, seed: int, level: float = 0.95) -> CurveCI:
    """Prompt mean per column of ``values`` (N, C) with a percentile bootstrap CI."""
    v = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.shape[0], size=(n_boot, v.shape[0]))
    boots = v[idx].mean(1)
    q = (1 - level) / 2
    lo, hi = np.quantile(boots, [q, 1 - q], axis=0)
    return CurveCI(v.mean(0), lo, hi, int(v.shape[0]))


def local_coefficients(grid: np.ndarray, values: np.ndarray, n_boot: int,
                       seed: int) -> tuple[Estimate, Estimate]:
    """(c1, c2) of P0 + c1 r + c2 r² on |r| ≤ 3 (``empirics.fits.fit_local_polynomial``)."""
    fit = fit_local_polynomial(grid, values, LOCAL_WINDOW, bootstrap=n_boot, seed=seed)
    c1, c2 = (Estimate(fit.params[k], *fit.ci[k]) for k in ("c1", "c2"))
    return c1, c2


def tanh_fit(grid: np.ndarray, values: np.ndarray, n_boot: int, seed: int) -> boundfit.PaperFit:
    """tanh(a x + b) on [−3.2, 4], unbounded, from a = 2, b = −2 (the notebook's call)."""
    return boundfit.fit_paper_curve("tanh", "tanh(a x + b)", forms.tanh_form, grid, values,
                                    TANH_RANGE, TANH_START, boundfit.UNBOUNDED,
                                    n_boot=n_boot, seed=seed)


def helpfulness_fit(grid: np.ndarray, values: np.ndarray, options: int | None, n_boot: int,
                    seed: int) -> boundfit.PaperFit:
    """1/(1 + a + a(b²/2)x²) (full vocabulary) or 0.5/(…) + 0.25 (A–D) on [−5, 5], a, b ≥ 0."""
    fn = forms.helpfulness_form(options)
    formula = "1/(1 + a + a b^2 x^2/2)" if options is None else "0.5/(1 + a + a b^2 x^2/2) + 0.25"
    name = "helpfulness_full" if options is None else "helpfulness_options"
    return boundfit.fit_paper_curve(name, formula, fn, grid, values, HELPFULNESS_RANGE,
                                    HELPFULNESS_START, boundfit.NON_NEGATIVE,
                                    n_boot=n_boot, seed=seed)


def tanh_slope(fit: boundfit.PaperFit) -> float:
    """Slope at 0 of the fitted tanh, a(1 − tanh² b) (Theorem 1's gain slope)."""
    if not fit.converged:
        return math.nan
    return formulas.tanh_slope_at_zero(fit.params["a"], fit.params["b"])


def _bootstrap_rows(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    idx = rng.integers(0, values.shape[0], size=(n_boot, values.shape[0]))
    return np.asarray(values[idx].mean(1))


def recommend(b_grid: np.ndarray, behavior: np.ndarray, h_grid: np.ndarray, loss_source: np.ndarray,
              kappa: float, n_boot: int, seed: int) -> Recommendation:
    """argmax over r ≥ 0 of U = G − κL on the behavior grid, with a bootstrap CI of U there
    (behavior and helpfulness prompts resampled independently)."""
    rng = np.random.default_rng(seed)
    zero_b = int(np.argmin(np.abs(b_grid)))
    keep = b_grid >= -1e-12

    def utility(b_mean: np.ndarray, p_mean: np.ndarray) -> np.ndarray:
        p_on_b = np.interp(b_grid, h_grid, p_mean)
        p0 = float(np.interp(0.0, h_grid, p_mean))
        return formulas.utility(b_mean - b_mean[zero_b], p0 - p_on_b, kappa)

    u = utility(behavior.mean(0), loss_source.mean(0))
    boots = np.stack([utility(b, p) for b, p in zip(_bootstrap_rows(behavior, n_boot, rng),
                                                    _bootstrap_rows(loss_source, n_boot, rng),
                                                    strict=True)])
    idx = np.flatnonzero(keep)
    best = int(idx[np.argmax(u[idx])])
    lo, hi = np.quantile(boots[:, best], [0.025, 0.975])
    return Recommendation(float(b_grid[best]), best == int(idx[-1]),
                          Estimate(float(u[best]), float(lo), float(hi)), b_grid, u, kappa)


def efficient_regime(gain: tuple[Estimate, Estimate], help_: tuple[Estimate, Estimate],
                     kappa: float) -> Verdict:
    """The corollary's condition (``formulas.efficient_regime_exists``: g₁ − κℓ₁ > 0, or = 0 with
    g₂ − κℓ₂ > 0) on the local coefficients, ℓ = −(P(correct | A–D) coefficients): holds at the
    CI ends least favourable to it, fails at the most favourable ones, else undecided. (The
    maximum of a noisy measured U over the grid would be biased upward.)"""
    g1, g2 = gain
    l1, l2 = Estimate(-help_[0].value, -help_[0].hi, -help_[0].lo), Estimate(
        -help_[1].value, -help_[1].hi, -help_[1].lo)
    worst = formulas.efficient_regime_exists(g1.lo, l1.hi, g2.lo, l2.hi, kappa)
    best = formulas.efficient_regime_exists(g1.hi, l1.lo, g2.hi, l2.lo, kappa)
    holds = True if worst else (False if not best else None)
    return Verdict("efficient_regime", holds, _label(bool(holds), holds is not None),
                   f"g₁ − κℓ₁ = {float(formulas.utility(g1.value, l1.value, kappa)):.4g} (g₁ {g1.value:.4g} "
                   f"[{g1.lo:.4g}, {g1.hi:.4g}], ℓ₁ {l1.value:.4g} [{l1.lo:.4g}, {l1.hi:.4g}], "
                   f"κ = {kappa:g})",
                   "the corollary's g₁ − κℓ₁ > 0 at the least favourable CI ends (fails if not "
                   "even at the most favourable; local quadratics on |r| ≤ 3)")


def verdicts(fit: boundfit.PaperFit, slope_fit_free: float, gain: Estimate,
             pooled_fit: boundfit.PaperFit, curvature: Estimate,
             efficient: Verdict) -> list[Verdict]:
    """The paper's claims on this run; each rule can go either way."""
    out = []
    r2 = fit.r_squared
    out.append(Verdict("tanh_fit", None if not fit.converged else bool(r2 >= R2_MIN),
                       _label(fit.converged and r2 >= R2_MIN, fit.converged),
                       f"tanh on [{TANH_RANGE[0]:g}, {TANH_RANGE[1]:g}]: R² = {r2:.4f}, "
                       f"a = {fit.params['a']:.4g}, b = {fit.params['b']:.4g}",
                       f"R² ≥ {R2_MIN} of the paper's tanh fit on its range (mean curve)"))
    tol = TOLERANCE * abs(gain.value)
    ok = gain.lo - tol <= slope_fit_free <= gain.hi + tol
    # Inside a CI that also holds 0 the agreement says nothing; outside it is a failure.
    decided = not ok or not gain.lo <= 0 <= gain.hi
    out.append(Verdict("theorem1_slope", bool(ok) if decided else None, _label(ok, decided),
                       f"fit-free next-token slope {slope_fit_free:.4g} vs measured generated-text "
                       f"slope {gain.value:.4g} [{gain.lo:.4g}, {gain.hi:.4g}]",
                       "fit-free mean γ̂λ̂(1−B₀²) within the measured slope's CI ± 0.25·|measured|; "
                       "undecided when it is inside and that CI holds 0"))
    falls = curvature.hi < 0
    out.append(Verdict("quadratic_loss", bool(falls), _label(falls, True),
                       f"c2 of P(correct) over A–D {curvature.value:.4g} [{curvature.lo:.4g}, "
                       f"{curvature.hi:.4g}]; paper form R² = {pooled_fit.r_squared:.4f}",
                       "local quadratic on |r| ≤ 3: c2's CI below 0 (helpfulness falls "
                       "quadratically)"))
    out.append(efficient)
    return out


def _label(holds: bool, decided: bool) -> str:
    if not decided:
        return "undecided"
    return "holds" if holds else "fails"
