"""Verification of a plan against real sweeps: each verified candidate's measured slope,
curvature, r* and U* (``fits.fit_local_polynomial``, bootstrap CIs), and the agreement of
predicted and measured over the verified candidates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from empirics import formulas
from empirics.fits import fit_local_polynomial
from empirics.plan.predictions import CURVATURE_FORMS, Interval, PerForm, Prediction, interval_of
from empirics.plan.windows import Candidate

GRID_T = (-0.5, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)   # × the predicted r*
GRID_FINE = (-2 / 3, -1 / 3, 1 / 3, 2 / 3)            # × the gain scale 1/γ̂λ̂ (slope fit)


@dataclass
class Measured:
    """One candidate's sweep: measured slope, loss curvature, r*, U* (95% bootstrap CIs)."""

    candidate: Candidate
    coefficients: np.ndarray
    B: np.ndarray            # (C,) mean
    P: np.ndarray            # (C,) mean
    U: np.ndarray            # (C,) mean utility
    gain_slope: Interval
    help_slope: Interval
    curvature: Interval
    r_star: float
    utility: Interval
    at_edge: bool            # the best measured U is at the grid's largest coefficient
    sweep_seconds: float


def verification_grid(p: Prediction) -> tuple[np.ndarray, float, float]:
    """``(coefficients, slope-fit |r| limit, curvature-fit |r| limit)`` for one candidate: the
    predicted r* sets the coarse scale, the gain scale the fine points around 0."""
    top = p.r_star if p.r_star > 0 else p.gain_scale
    pts = {0.0, *(t * top for t in GRID_T), *(t * p.gain_scale for t in GRID_FINE)}
    grid = np.array(sorted(pts))
    slope_win = 2 / 3 * p.gain_scale * 1.0001
    curv_win = max(0.5 * top, 2 / 3 * p.gain_scale) * 1.0001
    return grid, slope_win, curv_win


def measure_candidate(cand: Candidate, coefficients: np.ndarray, b_curves: np.ndarray,
                      p_curves: np.ndarray, kappa: float, slope_window: float,
                      curvature_window: float, sweep_seconds: float, *, n_boot: int = 500, seed: int = 0) -> Measured:
    """``b_curves`` (Nb, C) of B, ``p_curves`` (Nh, C) of P(correct) on ``coefficients``."""
    r = np.asarray(coefficients, dtype=float)
    zero = int(np.flatnonzero(r == 0)[0])
    fb = fit_local_polynomial(r, b_curves, slope_window, bootstrap=n_boot, seed=seed)
    fp = fit_local_polynomial(r, p_curves, curvature_window, bootstrap=n_boot, seed=seed)

    def util(b: np.ndarray, p: np.ndarray) -> np.ndarray:
        gain = b.mean(0) - b.mean(0)[zero]
        loss = p.mean(0)[zero] - p.mean(0)
        return formulas.utility(gain, loss, kappa)

    u = util(b_curves, p_curves)
    pos = r >= 0
    best = int(np.flatnonzero(pos)[np.argmax(u[pos])])
    rng = np.random.default_rng(seed)
    nb, nh = b_curves.shape[0], p_curves.shape[0]
    boots = np.array([util(b_curves[rng.integers(0, nb, nb)], p_curves[rng.integers(0, nh, nh)])[pos].max()
                      for _ in range(n_boot)])
    return Measured(
        candidate=cand, coefficients=r, B=b_curves.mean(0), P=p_curves.mean(0), U=u,
        gain_slope=Interval(fb.params["c1"], *fb.ci["c1"]),
        help_slope=Interval(fp.params["c1"], *fp.ci["c1"]),
        curvature=Interval(-fp.params["c2"], -fp.ci["c2"][1], -fp.ci["c2"][0]),
        r_star=float(r[best]), utility=interval_of(boots, float(u[best])),
        at_edge=best == len(r) - 1, sweep_seconds=sweep_seconds)


@dataclass
class Agreement:
    """Predicted vs measured over the verified candidates of one behavior."""

    spearman_u: Interval
    spearman_slope: Interval
    spearman_u_forms: PerForm   # Spearman of each form's predicted U* (quadratic loss) vs measured
    spearman_u_softmax: float   # the same with the softmax loss
    pick: str
    pick_utility: float
    best: str
    best_utility: float
    pick_vs_best: float
    slope_ratio: float       # median predicted / measured gain slope
    curvature_ratio: float   # median predicted (form used) / measured loss curvature
    curvature_ratios: PerForm   # the same per curvature form


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def agreement(pred: Sequence[Prediction], meas: Sequence[Measured], *, n_boot: int = 2000,
              seed: int = 0) -> Agreement:
    """Spearman of predicted vs measured U* and slopes (bootstrap over candidates), the pick."""
    pu = np.array([p.utility.value for p in pred])
    mu = np.array([m.utility.value for m in meas])
    ps = np.array([p.gain_slope.value for p in pred])
    ms = np.array([m.gain_slope.value for m in meas])
    rng = np.random.default_rng(seed)
    n = len(pred)
    bu, bs = [], []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        bu.append(_spearman(pu[i], mu[i]))
        bs.append(_spearman(ps[i], ms[i]))
    pick = int(np.argmin([p.rank for p in pred]))
    best = int(np.argmax(mu))
    mc = np.array([m.curvature.value for m in meas])

    def ratio(form: str) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.median(np.array([p.curvature_of(form).value for p in pred]) / mc))

    def rho(form: str) -> float:
        return _spearman(np.array([p.utilities.of(form) for p in pred]), mu)

    with np.errstate(divide="ignore", invalid="ignore"):
        sr = float(np.median(ps / ms))
    form = pred[0].curvature_form
    return Agreement(
        spearman_u=interval_of(np.array(bu), _spearman(pu, mu)),
        spearman_slope=interval_of(np.array(bs), _spearman(ps, ms)),
        spearman_u_forms=PerForm(*(rho(f) for f in CURVATURE_FORMS)),
        spearman_u_softmax=_spearman(np.array([p.utility_softmax for p in pred]), mu),
        pick=pred[pick].candidate.name, pick_utility=float(mu[pick]),
        best=pred[best].candidate.name, best_utility=float(mu[best]),
        pick_vs_best=float(mu[pick] / mu[best]) if mu[best] > 0 else float("nan"),
        slope_ratio=sr, curvature_ratio=ratio(form),
        curvature_ratios=PerForm(*(ratio(f) for f in CURVATURE_FORMS)))


def verification_set(ranked: Sequence[Prediction], k: int) -> list[Prediction]:
    """The top ``k`` and ``k`` others spread evenly over the rest of the ranking."""
    if k < 1:
        raise ValueError(f"--verify K must be >= 1, got {k}")
    top = list(ranked[:k])
    rest = list(ranked[k:])
    if len(rest) <= k:
        return top + rest
    idx = sorted({int(round(x)) for x in np.linspace(0, len(rest) - 1, k)})
    return top + [rest[i] for i in idx]
