"""Least squares as lmfit does it, with scipy: Levenberg–Marquardt (MINPACK ``leastsq``) on
internal parameters that map bounded parameters onto the real line (lmfit's MINUIT-style
transforms), standard errors from the covariance scaled by the reduced chi-square and carried
through the transform's gradient. The authors fit with ``lmfit.Model.fit`` (default method
``leastsq``) in ``generate_plots_code/plot_all_behavior_and_helpfulness_ver2.ipynb``.

:func:`fit_paper_curve` fits the mean curve on a coefficient range and adds percentile CIs from
seeded prompt resamples (each resample refitted the same way).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

Curve = Callable[[np.ndarray, float, float], np.ndarray]
NAMES = ("a", "b")
_TOL = 1.5e-8  # lmfit's leastsq ftol / xtol


@dataclass(frozen=True)
class Bound:
    lower: float = -math.inf
    upper: float = math.inf


UNBOUNDED = (Bound(), Bound())
NON_NEGATIVE = (Bound(0.0), Bound(0.0))


def to_internal(p: float, b: Bound) -> float:
    """lmfit's external → internal map (the start value is clipped into the bounds first)."""
    lo, hi = b.lower, b.upper
    p = min(max(p, lo), hi)
    if math.isfinite(lo) and math.isfinite(hi):
        return math.asin(2 * (p - lo) / (hi - lo) - 1)
    if math.isfinite(lo):
        return math.sqrt((p - lo + 1) ** 2 - 1)
    if math.isfinite(hi):
        return math.sqrt((hi - p + 1) ** 2 - 1)
    return p


def to_external(i: float, b: Bound) -> float:
    lo, hi = b.lower, b.upper
    if math.isfinite(lo) and math.isfinite(hi):
        return lo + (math.sin(i) + 1) * (hi - lo) / 2
    if math.isfinite(lo):
        return lo - 1 + math.sqrt(i * i + 1)
    if math.isfinite(hi):
        return hi + 1 - math.sqrt(i * i + 1)
    return i


def _gradient(i: float, b: Bound) -> float:
    """d external / d internal (lmfit's ``scale_gradient``)."""
    lo, hi = b.lower, b.upper
    if math.isfinite(lo) and math.isfinite(hi):
        return math.cos(i) * (hi - lo) / 2
    if math.isfinite(lo):
        return i / math.sqrt(i * i + 1)
    if math.isfinite(hi):
        return -i / math.sqrt(i * i + 1)
    return 1.0


@dataclass(frozen=True)
class LeastSquares:
    params: tuple[float, ...]
    stderr: tuple[float, ...]
    converged: bool
    message: str


def lmfit_leastsq(fn: Curve, x: np.ndarray, y: np.ndarray, start: Sequence[float],
                  bounds: Sequence[Bound]) -> LeastSquares:
    """Minimise Σ (fn(x, *p) − y)² as ``lmfit.minimize(method='leastsq')`` does."""
    if len(start) != len(bounds):
        raise ValueError(f"{len(start)} start values for {len(bounds)} bounds")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)

    def external(internal: np.ndarray) -> list[float]:
        return [to_external(float(v), b) for v, b in zip(internal, bounds, strict=True)]

    def residual(internal: np.ndarray) -> np.ndarray:
        return np.asarray(fn(x, *external(internal)), dtype=float) - y

    x0 = np.array([to_internal(float(p), b) for p, b in zip(start, bounds, strict=True)])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = optimize.leastsq(residual, x0, full_output=True, ftol=_TOL, xtol=_TOL, gtol=0.0,
                               maxfev=2000 * (len(x0) + 1))
    internal, cov, _info, message, ier = out
    params = tuple(external(np.asarray(internal)))
    stderr = tuple([math.nan] * len(params))
    dof = len(x) - len(params)
    resid = residual(np.asarray(internal))
    if cov is not None and dof > 0 and np.all(np.isfinite(resid)):
        grad = np.array([_gradient(float(v), b) for v, b in zip(internal, bounds, strict=True)])
        covar = np.asarray(cov) * np.outer(grad, grad) * float(resid @ resid) / dof
        stderr = tuple(float(v) for v in np.sqrt(np.clip(np.diag(covar), 0, None)))
    ok = ier in (1, 2, 3, 4) and all(math.isfinite(p) for p in params)
    return LeastSquares(params, stderr, bool(ok), str(message))


@dataclass
class PaperFit:
    """One fitted curve of the paper: ``params`` a, b with lmfit-style standard errors and a
    95% CI (prompt bootstrap when there are per-prompt rows, else ± t·stderr)."""

    name: str
    formula: str
    span: tuple[float, float]
    params: dict[str, float]
    stderr: dict[str, float]
    ci: dict[str, tuple[float, float]]
    ci_method: str
    r_squared: float
    rms: float
    n_points: int
    n_prompts: int
    converged: bool
    message: str = ""
    fn: Curve | None = field(default=None, repr=False, compare=False)

    def predict(self, r: Sequence[float] | np.ndarray) -> np.ndarray:
        x = np.asarray(r, dtype=float)
        if not self.converged or self.fn is None:
            return np.full(x.shape, np.nan)
        return np.asarray(self.fn(x, self.params["a"], self.params["b"]), dtype=float)


def _r_squared(y: np.ndarray, yhat: np.ndarray) -> tuple[float, float]:
    res = y - yhat
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float((res ** 2).sum()) / ss_tot if ss_tot > 0 else math.nan
    return r2, float(np.sqrt(np.mean(res ** 2)))


def _bootstrap(fn: Curve, x: np.ndarray, rows: np.ndarray, start: Sequence[float],
               bounds: Sequence[Bound], n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = rows.shape[0]
    out = np.full((n_boot, len(start)), np.nan)
    for k in range(n_boot):
        fit = lmfit_leastsq(fn, x, rows[rng.integers(0, n, n)].mean(0), start, bounds)
        if fit.converged:
            out[k] = fit.params
    return out


def fit_paper_curve(name: str, formula: str, fn: Curve, grid: Sequence[float] | np.ndarray,
                    values: np.ndarray,
                    span: tuple[float, float], start: Sequence[float], bounds: Sequence[Bound],
                    *, n_boot: int = 0, seed: int = 0, level: float = 0.95) -> PaperFit:
    """Fit ``fn`` to the prompt-mean of ``values`` ((N, C) or (C,)) on the grid points in ``span``."""
    g = np.asarray(grid, dtype=float)
    v = np.asarray(values, dtype=float)
    rows = v if v.ndim == 2 else v[None]
    if rows.shape[1] != g.size or not np.all(np.isfinite(rows)):
        raise ValueError(f"{name}: values {v.shape} must be finite with {g.size} columns")
    mask = (g >= span[0] - 1e-9) & (g <= span[1] + 1e-9)
    x, part = g[mask], rows[:, mask]
    if np.unique(x).size < len(start) + 1:
        raise ValueError(f"{name}: {np.unique(x).size} coefficients in {span}: too few to fit")
    mean = part.mean(0)
    fit = lmfit_leastsq(fn, x, mean, start, bounds)
    dof = x.size - len(start)
    tq = float(stats.t.ppf(0.5 + level / 2, dof))
    ci = {k: (p - tq * s, p + tq * s) for k, p, s in zip(NAMES, fit.params, fit.stderr, strict=True)}
    method = "lmfit stderr × t"
    if fit.converged and n_boot > 0 and part.shape[0] >= 2:
        samples = _bootstrap(fn, x, part, fit.params, bounds, n_boot, seed)
        ok = np.isfinite(samples).all(1)
        if ok.sum() >= max(10, n_boot // 2):
            q = (1 - level) / 2
            lo, hi = np.quantile(samples[ok], [q, 1 - q], axis=0)
            ci = {k: (float(a), float(b)) for k, a, b in zip(NAMES, lo, hi, strict=True)}
            method = f"prompt bootstrap ({int(ok.sum())} resamples)"
    r2, rms = _r_squared(mean, np.asarray(fn(x, *fit.params), dtype=float))
    return PaperFit(name, formula, span, dict(zip(NAMES, fit.params, strict=True)),
                    dict(zip(NAMES, fit.stderr, strict=True)), ci, method, r2, rms, int(x.size),
                    int(rows.shape[0]), fit.converged, fit.message, fn)
