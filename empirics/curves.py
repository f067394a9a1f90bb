"""The paper's fitted curves on stated ranges of the grid, and the fitted and fit-free curves
drawn beside the measured ones. Per-prompt inputs are prompts × coefficients ``(N, C)``."""

from __future__ import annotations

import warnings

import numpy as np

from empirics.fits import fit_helpfulness_four, fit_helpfulness_two, fit_tanh
from empirics.formulas import tanh_slope_at_zero
from empirics.results import Curve, FitSummary
from empirics.settings import LOCAL_WINDOW, PAPER_HELPFULNESS_RANGE, PAPER_TANH_RANGE
from empirics.theory_link import BehaviorPredictions, HelpfulnessPredictions

FIT_BOOT = 200  # nonlinear refits per resample are the slow part


def local_window(grid: np.ndarray) -> float:
    """Half-width of the local fits: ``LOCAL_WINDOW``, or the grid's reach if smaller."""
    return float(min(LOCAL_WINDOW, np.max(np.abs(grid))))


def _in_range(grid: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (grid >= lo - 1e-12) & (grid <= hi + 1e-12)


def _tanh(label: str, grid: np.ndarray, b: np.ndarray, rng: tuple[float, float], n_boot: int,
          seed: int) -> FitSummary | None:
    sel = _in_range(grid, *rng)
    if len(np.unique(grid[sel])) < 3:
        return None
    fit = fit_tanh(grid[sel], b[:, sel], bootstrap=n_boot, seed=seed)
    slope = tanh_slope_at_zero(fit.params["a"], fit.params["b"]) if fit.converged else None
    return FitSummary(label, rng, fit, slope)


def _helpfulness(label: str, grid: np.ndarray, h: np.ndarray, rng: tuple[float, float],
                 four: bool, n_boot: int, seed: int) -> FitSummary | None:
    sel = _in_range(grid, *rng)
    if len(np.unique(grid[sel])) < 3:
        return None
    fit = fit_helpfulness_four if four else fit_helpfulness_two
    return FitSummary(label, rng, fit(grid[sel], h[:, sel], bootstrap=n_boot, seed=seed), None)


def paper_fits(grid: np.ndarray, b: np.ndarray, h: np.ndarray, window: float, n_boot: int,
               seed: int) -> list[FitSummary]:
    """Full-grid fits and the paper's own ranges (``b``: B, ``h``: P(correct)), and the tanh on
    the central range |r| ≤ ``window``: shown for comparison with the paper, never a verdict."""
    full = (float(grid.min()), float(grid.max()))
    with warnings.catch_warnings():  # ill-conditioned fits on coarse grids are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        found = [
            _tanh("alignment tanh, full grid", grid, b, full, n_boot, seed),
            _tanh("alignment tanh, paper's range", grid, b, PAPER_TANH_RANGE, n_boot, seed),
            _helpfulness("helpfulness 1/(1+a+ab²r²/2), full grid", grid, h, full, False,
                         n_boot, seed),
            _helpfulness("helpfulness 1/(1+a+ab²r²/2), paper's range", grid, h,
                         PAPER_HELPFULNESS_RANGE, False, n_boot, seed),
            _helpfulness("helpfulness 0.5/(1+a+ab²r²/2)+0.25, full grid", grid, h, full, True,
                         n_boot, seed),
            _tanh("alignment tanh, central range", grid, b, (-window, window), n_boot, seed),
        ]
    return [f for f in found if f is not None]


def plotted_curves(grid: np.ndarray, fits: list[FitSummary], behavior: BehaviorPredictions,
                   helpfulness: HelpfulnessPredictions) -> tuple[list[Curve], list[Curve]]:
    """(alignment, helpfulness) curves beside the measured ones: the full-grid fits and the
    fit-free predictions."""
    fine = np.linspace(grid.min(), grid.max(), 201)
    n_t = len(behavior.linear_B.per_prompt)
    n_h = len(helpfulness.linear_P.per_prompt)
    alignment = [
        Curve("tanh fit (free a, b), full grid", fine, fits[0].fit.predict(fine), "-."),
        Curve(f"Thm 1 bound, fit-free (γ̂λ̂, B₀; {n_t} prompts)", grid, behavior.tanh_bound.mean,
              "k--"),
        Curve("linear model softmax(z + r g)", grid, behavior.linear_B.mean, "c:"),
    ]
    help_curves = [
        Curve(f"Thm 2 exact E[P] (i.i.d., pooled σ̂; {n_h} prompts)", grid,
              helpfulness.expected.mean, "k--"),
        Curve("Thm 2 i.i.d. expansion P₀−αP₀s²r²", grid, helpfulness.expansion.mean, "m:"),
        Curve("linear model, actual Δ̂", grid, helpfulness.linear_P.mean, "c:"),
    ]
    fit = next((f.fit for f in fits if f.label.startswith("helpfulness 1/") and
                "full" in f.label), None)
    if fit is not None:
        help_curves.insert(0, Curve("fit 1/(1+a+ab²r²/2), full grid", fine, fit.predict(fine),
                                    "-."))
    return alignment, help_curves
