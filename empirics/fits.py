"""Fits of the paper's curves with 95% parameter CIs.

API (``r``: (C,) coefficients; ``y``: (C,) mean curve or (N, C) per-prompt matrix, whose
column mean is fitted)::

    fit_tanh(r, y, *, bootstrap=0, seed=0, level=0.95)              # B = tanh(a r + b)
    fit_helpfulness_two(r, y, *, bootstrap=0, seed=0, level=0.95)   # P = 1/(1 + a + a b² r²/2)
    fit_helpfulness_four(r, y, *, bootstrap=0, seed=0, level=0.95)  # 0.5/(1 + a + a b² r²/2) + 0.25
    fit_local_polynomial(r, y, max_abs_r, *, bootstrap=None, seed=0, level=0.95)
                                                                    # P0 + c1 r + c2 r², |r| ≤ max_abs_r
    -> FitResult (params, ci, stderr, residual_rms, r_squared, converged, reason; .predict(r))

CIs: from ``scipy.optimize.curve_fit``'s covariance (Student t) by default; with
``bootstrap=n > 0`` and a per-prompt matrix, percentile CIs over ``n`` seeded resamples of the
prompts (the CI then describes the population of prompts, not only the lack of fit of the mean
curve). ``fit_local_polynomial`` bootstraps by default (1000) when given an (N ≥ 2, C) matrix.
Bad input (NaN/inf, mismatched lengths, fewer points than parameters) raises ``ValueError``; a
fit that fails returns ``converged=False`` with the reason instead of raising.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.optimize import OptimizeWarning, curve_fit

from empirics import formulas
from empirics.intervals import bootstrap_means, percentile, resample

Model = Callable[..., np.ndarray]
Bounds = tuple[float | Sequence[float], float | Sequence[float]]   # curve_fit's (lower, upper)


@dataclass
class FitResult:
    """A fitted curve; ``params`` / ``ci`` / ``stderr`` are keyed by parameter name."""

    name: str
    formula: str
    params: dict[str, float]
    ci: dict[str, tuple[float, float]]
    stderr: dict[str, float]
    residual_rms: float
    r_squared: float
    n_points: int
    n_prompts: int
    converged: bool
    reason: str = ""
    method: str = "curve_fit"       # "curve_fit" | "bootstrap" | "lstsq" | "lstsq+bootstrap"
    level: float = 0.95
    n_boot: int = 0
    fn: Model | None = field(default=None, repr=False, compare=False)

    def predict(self, r: Sequence[float] | np.ndarray) -> np.ndarray:
        """The fitted curve at ``r`` (NaN everywhere when the fit did not converge)."""
        x = np.asarray(r, dtype=float)
        if not self.converged or self.fn is None:
            return np.full(x.shape, np.nan)
        return np.asarray(self.fn(x, *self.params.values()), dtype=float)

    def to_dict(self) -> dict[str, object]:
        def num(v: float) -> float | None:
            return float(v) if v is not None and math.isfinite(v) else None

        return {
            "name": self.name, "formula": self.formula,
            "params": {k: num(v) for k, v in self.params.items()},
            "ci": {k: [num(lo), num(hi)] for k, (lo, hi) in self.ci.items()},
            "stderr": {k: num(v) for k, v in self.stderr.items()},
            "residual_rms": num(self.residual_rms), "r_squared": num(self.r_squared),
            "n_points": self.n_points, "n_prompts": self.n_prompts, "converged": self.converged,
            "reason": self.reason, "method": self.method, "level": self.level, "n_boot": self.n_boot,
        }


# --------------------------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------------------------
def tanh_curve(r: np.ndarray, a: float, b: float) -> np.ndarray:
    """tanh(a r + b), theory's form of the paper's fit."""
    return formulas.paper_tanh(r, a, b)


def helpfulness_two_curve(r: np.ndarray, a: float, b: float) -> np.ndarray:
    """1/(1 + a + a b² r²/2), theory's form of the paper's fit."""
    return formulas.paper_helpfulness(r, a, b)


def helpfulness_four_curve(r: np.ndarray, a: float, b: float) -> np.ndarray:
    """0.5/(1 + a + a b² r²/2) + 0.25, the four-option form."""
    return formulas.paper_helpfulness(r, a, b, options=4)


def quadratic_curve(r: np.ndarray, P0: float, c1: float, c2: float) -> np.ndarray:
    return P0 + c1 * r + c2 * r**2


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------
def _prepare(r: npt.ArrayLike, y: npt.ArrayLike, n_params: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(r, per-prompt matrix or None, mean curve); ValueError naming the bad input."""
    x = np.asarray(r, dtype=float)
    m = np.asarray(y, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"r must be 1-D, got shape {x.shape}")
    if m.ndim not in (1, 2):
        raise ValueError(f"y must be (C,) or (N, C), got shape {m.shape}")
    if m.shape[-1] != len(x):
        raise ValueError(f"y has {m.shape[-1]} columns but r has {len(x)} coefficients (mismatched lengths)")
    if not np.all(np.isfinite(x)):
        raise ValueError("r contains NaN or inf")
    if not np.all(np.isfinite(m)):
        raise ValueError("y contains NaN or inf")
    if m.ndim == 2 and m.shape[0] == 0:
        raise ValueError("y has no prompts (0 rows)")
    if len(np.unique(x)) < n_params:
        raise ValueError(f"{len(np.unique(x))} distinct coefficients: fewer than the {n_params} parameters")
    per = m if m.ndim == 2 else None
    mean = m.mean(axis=0) if m.ndim == 2 else m
    return x, per, mean


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level {level} must be in (0, 1)")


def _goodness(y: np.ndarray, yhat: np.ndarray) -> tuple[float, float]:
    res = y - yhat
    rms = float(np.sqrt(np.mean(res**2)))
    ss_tot = float(((y - y.mean()) ** 2).sum())
    ss_res = float((res**2).sum())
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else float("nan"))
    return rms, r2


def _failed(name: str, formula: str, names: Sequence[str], n: int, n_prompts: int, reason: str,
            level: float) -> FitResult:
    nan = float("nan")
    return FitResult(name, formula, {k: nan for k in names}, {k: (nan, nan) for k in names},
                     {k: nan for k in names}, nan, nan, n, n_prompts, False, reason, level=level)


def _curve_fit(fn: Model, x: np.ndarray, y: np.ndarray, p0: Sequence[float] | np.ndarray,
               bounds: Bounds) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimizeWarning)  # a degenerate covariance is a failure
        popt, pcov = curve_fit(fn, x, y, p0=list(p0), bounds=bounds, maxfev=20000)
    return np.asarray(popt), np.asarray(pcov)


def _identifiable(fn: Model, x: np.ndarray, popt: np.ndarray, rcond: float = 1e-9) -> bool:
    """Full-rank Jacobian at the optimum (bounded curve_fit otherwise hides the degeneracy)."""
    cols = []
    for k in range(len(popt)):
        h = 1e-6 * max(1.0, abs(float(popt[k])))
        up, dn = popt.copy(), popt.copy()
        up[k] += h
        dn[k] -= h
        cols.append((fn(x, *up) - fn(x, *dn)) / (2 * h))
    sv = np.linalg.svd(np.stack(cols, axis=1), compute_uv=False)
    return bool(sv[0] > 0 and sv[-1] > rcond * sv[0])


def _percentile_ci(samples: np.ndarray, level: float) -> list[tuple[float, float]]:
    lo, hi = percentile(samples, level)
    return [(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]


def _nonlinear_fit(name: str, formula: str, fn: Model, names: Sequence[str], r: npt.ArrayLike,
                   y: npt.ArrayLike,
                   p0_fn: Callable[[np.ndarray, np.ndarray], Sequence[float]],
                   bounds: Bounds, bootstrap: int, seed: int, level: float) -> FitResult:
    _check_level(level)
    if bootstrap < 0:
        raise ValueError(f"bootstrap {bootstrap} must be ≥ 0")
    x, per, mean = _prepare(r, y, len(names))
    n_prompts = per.shape[0] if per is not None else 1
    try:
        popt, pcov = _curve_fit(fn, x, mean, p0_fn(x, mean), bounds)
    except (RuntimeError, ValueError, OptimizeWarning, FloatingPointError) as err:
        return _failed(name, formula, names, len(x), n_prompts, f"curve_fit failed: {err}", level)
    se = np.sqrt(np.clip(np.diag(pcov), 0, None))
    if not np.all(np.isfinite(popt)) or not np.all(np.isfinite(se)):
        return _failed(name, formula, names, len(x), n_prompts,
                       "parameters or covariance not finite (parameters not identifiable)", level)
    if not _identifiable(fn, x, popt):
        return _failed(name, formula, names, len(x), n_prompts,
                       f"parameters not identifiable at the optimum {dict(zip(names, popt.tolist(), strict=True))}"
                       " (rank-deficient Jacobian: the covariance is meaningless)", level)
    dof = len(x) - len(names)
    tq = stats.t.ppf(0.5 + level / 2, dof) if dof > 0 else float("inf")
    ci = [(float(p - tq * s), float(p + tq * s)) for p, s in zip(popt, se, strict=True)]
    method, n_boot = "curve_fit", 0
    if bootstrap > 0 and per is not None and n_prompts >= 2:
        samples = np.full((bootstrap, len(names)), np.nan)
        for b, idx in enumerate(resample(n_prompts, bootstrap, seed)):
            try:
                samples[b] = _curve_fit(fn, x, per[idx].mean(axis=0), popt, bounds)[0]
            except (RuntimeError, ValueError, OptimizeWarning, FloatingPointError):
                continue  # a failed resample is left out; the count is reported below
        ok = np.isfinite(samples).all(axis=1)
        if ok.sum() >= max(10, bootstrap // 2):
            ci = _percentile_ci(samples[ok], level)
            se = samples[ok].std(axis=0, ddof=1)
            method, n_boot = "bootstrap", int(ok.sum())
    rms, r2 = _goodness(mean, fn(x, *popt))
    return FitResult(name, formula, dict(zip(names, map(float, popt), strict=True)),
                     dict(zip(names, ci, strict=True)), dict(zip(names, map(float, se), strict=True)),
                     rms, r2, len(x), n_prompts, True, "", method, level, n_boot, fn)


def _slope_guess(x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0:
        return 0.0
    return float(np.polyfit(x, y, 1)[0])


# --------------------------------------------------------------------------------------------
# Public fits
# --------------------------------------------------------------------------------------------
def fit_tanh(r: npt.ArrayLike, y: npt.ArrayLike, *, bootstrap: int = 0, seed: int = 0, level: float = 0.95) -> FitResult:
    """B = tanh(a r + b) (Theorem 1's curve: a = λ, b = artanh B_0)."""

    def p0(x: np.ndarray, m: np.ndarray) -> list[float]:
        b = float(np.arctanh(np.clip(m[np.argmin(np.abs(x))], -0.99, 0.99)))
        bc = np.clip(m, -0.999, 0.999)
        return [_slope_guess(x, np.arctanh(bc)), b]

    return _nonlinear_fit("tanh", "tanh(a r + b)", tanh_curve, ("a", "b"), r, y, p0,
                          (-np.inf, np.inf), bootstrap, seed, level)


def _helpfulness_p0(offset: float, scale: float) -> Callable[[np.ndarray, np.ndarray], list[float]]:
    def p0(x: np.ndarray, m: np.ndarray) -> list[float]:
        top = float(np.clip((m[np.argmin(np.abs(x))] - offset) / scale, 1e-3, 1 - 1e-3))
        a = (1 - top) / top
        # b from the value at the largest |r|: 1 + a + a b² r²/2 = scale/(y - offset)
        j = int(np.argmax(np.abs(x)))
        yj = float(np.clip((m[j] - offset) / scale, 1e-3, top))
        b2 = max((1 / yj - 1 - a) * 2 / (a * x[j] ** 2), 1e-6) if a > 0 and x[j] != 0 else 1.0
        return [max(a, 1e-6), math.sqrt(b2)]

    return p0


def fit_helpfulness_two(r: npt.ArrayLike, y: npt.ArrayLike, *, bootstrap: int = 0, seed: int = 0,
                        level: float = 0.95) -> FitResult:
    """P = 1/(1 + a + a b² r²/2) (Theorem 2′ quadratic form: a = (1−P_0)/P_0, b = λσβ ≥ 0)."""
    return _nonlinear_fit("helpfulness_two", "1/(1 + a + a b^2 r^2/2)", helpfulness_two_curve,
                          ("a", "b"), r, y, _helpfulness_p0(0.0, 1.0), ([0.0, 0.0], [np.inf, np.inf]),
                          bootstrap, seed, level)


def fit_helpfulness_four(r: npt.ArrayLike, y: npt.ArrayLike, *, bootstrap: int = 0, seed: int = 0,
                         level: float = 0.95) -> FitResult:
    """P = 0.5/(1 + a + a b² r²/2) + 0.25 (the paper's four-option MMLU form)."""
    return _nonlinear_fit("helpfulness_four", "0.5/(1 + a + a b^2 r^2/2) + 0.25",
                          helpfulness_four_curve, ("a", "b"), r, y, _helpfulness_p0(0.25, 0.5),
                          ([0.0, 0.0], [np.inf, np.inf]), bootstrap, seed, level)


def fit_local_polynomial(r: npt.ArrayLike, y: npt.ArrayLike, max_abs_r: float, *, bootstrap: int | None = None,
                         seed: int = 0, level: float = 0.95) -> FitResult:
    """P0 + c1 r + c2 r² by least squares on |r| ≤ ``max_abs_r``.

    ``bootstrap=None``: 1000 prompt resamples when ``y`` is (N ≥ 2, C), else the OLS
    covariance (Student t). The bootstrap is preferred: the residuals of a mean curve are
    systematic, not independent noise.
    """
    _check_level(level)
    if not (isinstance(max_abs_r, (int, float)) and math.isfinite(max_abs_r) and max_abs_r > 0):
        raise ValueError(f"max_abs_r {max_abs_r!r} must be a positive finite number")
    x_all = np.asarray(r, dtype=float)
    y_all = np.asarray(y, dtype=float)
    _prepare(x_all, y_all, 1)  # shape / NaN checks on the full input first
    keep = np.abs(x_all) <= max_abs_r
    if len(np.unique(x_all[keep])) < 3:
        raise ValueError(f"only {len(np.unique(x_all[keep]))} distinct coefficients with "
                         f"|r| ≤ max_abs_r={max_abs_r}: fewer than the 3 parameters")
    x, per, mean = _prepare(x_all[keep], y_all[..., keep], 3)
    n_prompts = per.shape[0] if per is not None else 1
    names = ("P0", "c1", "c2")
    design = np.stack([np.ones_like(x), x, x**2], axis=1)
    coef, *_ = np.linalg.lstsq(design, mean, rcond=None)
    fitted = design @ coef
    dof = len(x) - 3
    if dof > 0:
        s2 = float(((mean - fitted) ** 2).sum()) / dof
        cov = s2 * np.linalg.inv(design.T @ design)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        tq = float(stats.t.ppf(0.5 + level / 2, dof))
    else:  # exactly determined: no residual, no covariance CI
        se = np.full(3, np.nan)
        tq = float("nan")
    ci = [(float(c - tq * s), float(c + tq * s)) for c, s in zip(coef, se, strict=True)]
    method, n_boot = "lstsq", 0
    n_b = (1000 if (per is not None and n_prompts >= 2) else 0) if bootstrap is None else bootstrap
    if n_b < 0:
        raise ValueError(f"bootstrap {bootstrap} must be ≥ 0")
    if n_b > 0 and per is not None and n_prompts >= 2:
        means = bootstrap_means(per, n_b, seed)              # (n_b, C')
        pinv = np.linalg.pinv(design)                        # (3, C')
        samples = means @ pinv.T                             # (n_b, 3)
        ci = _percentile_ci(samples, level)
        se = samples.std(axis=0, ddof=1)
        method, n_boot = "lstsq+bootstrap", n_b
    rms, r2 = _goodness(mean, fitted)
    return FitResult("local_polynomial", f"P0 + c1 r + c2 r^2 on |r| <= {max_abs_r}",
                     dict(zip(names, map(float, coef), strict=True)), dict(zip(names, ci, strict=True)),
                     dict(zip(names, map(float, se), strict=True)), rms, r2, len(x), n_prompts,
                     True, "", method, level, n_boot, quadratic_curve)
