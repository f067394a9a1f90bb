"""Gain, loss and utility U = G − κL on the measured curves, and the recommended coefficient.

Gain: mean B(r) − B(0) of the target prompts (or the specific gain: target minus control
gain); loss: mean P(correct)(0) − P(correct)(r) of every helpfulness prompt. Per-prompt inputs
are prompts × coefficients ``(N, C)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from empirics import formulas
from empirics.evidence import Evidence
from empirics.intervals import Interval, difference_interval, mean_interval
from empirics.results import Recommendation, Specificity, Tradeoff


@dataclass(frozen=True)
class MeasuredTradeoff:
    """The tradeoff on the measured curves."""

    specificity: Specificity | None
    tradeoff: Tradeoff


def measure_tradeoff(target: str, target_B: np.ndarray, control: str | None,
                     control_B: np.ndarray | None, help_P: np.ndarray, zero: int,
                     recommend_on: str, kappa: float, n_boot: int, seed: int
                     ) -> MeasuredTradeoff:
    """G, L and U per coefficient; ``zero`` is the index of r = 0. ``control_B`` (the control
    group's B, e.g. harmless prompts) gives the specificity and, with ``recommend_on ==
    "specific"``, the gain used."""
    gain_t = target_B - target_B[:, [zero]]
    spec: Specificity | None = None
    if control is not None and control_B is not None:
        gain_c = control_B - control_B[:, [zero]]
        spec = Specificity(target, control, mean_interval(gain_t, n_boot, seed=seed),
                           mean_interval(gain_c, n_boot, seed=seed),
                           difference_interval(gain_t, gain_c, n_boot, seed=seed))
    use_specific = recommend_on == "specific" and spec is not None
    gain: Interval[np.ndarray] = (spec.specific_gain if use_specific and spec is not None
                                  else mean_interval(gain_t, n_boot, seed=seed))
    loss_per = help_P[:, [zero]] - help_P
    loss = mean_interval(loss_per, n_boot, seed=seed + 1)
    utility = formulas.utility(gain.value, loss.value, kappa)
    trade = Tradeoff("specific" if use_specific else "target", gain, loss, utility, kappa)
    return MeasuredTradeoff(spec, trade)


@dataclass(frozen=True)
class _SecondOrder:
    measured: formulas.Optimum | None
    fit_free: formulas.Optimum | None
    valid: bool | None
    notes: list[str]


def _second_order(e: Evidence, kappa: float) -> _SecondOrder:
    """Theory's second-order r* from the measured and the fit-free coefficients; valid only
    where theory says so and r* lies in the measured linear-response range and on the grid."""

    def opt(c1: Interval[float] | None, c2: Interval[float] | None) -> formulas.Optimum | None:
        if c1 is None or c2 is None:
            return None
        return formulas.second_order_optimum(c1.value, -c2.value, kappa, e.shift_scale)

    h = e.helpfulness
    measured = opt(e.alignment.measured.c1, h.measured.c2)
    fit_free = opt(e.alignment.theorem1.c1,
                   h.actual.c2 if h.actual.c2 is not None else h.iid_pooled.c2)
    lin_range = 0.0 if e.linear_response is None else e.linear_response.linear_range
    valid: bool | None = None
    notes: list[str] = []
    if measured is not None:
        inside = measured.r_star <= min(lin_range, float(e.grid.max()))
        valid = bool(inside and measured.valid is not False)
        notes.append(f"second-order r* = {measured.r_star:.3g} from the measured slope and "
                     f"curvature ({'valid' if valid else 'not valid'}: linear-response range "
                     f"|r| ≤ {lin_range:g}{'; ' + measured.note if measured.note else ''})")
    else:
        notes.append("second-order r*: no finite measured slope or curvature")
    if fit_free is not None:
        notes.append(f"fit-free second-order r* = {fit_free.r_star:.3g}")
    return _SecondOrder(measured, fit_free, valid, notes)


def recommend(e: Evidence, kappa: float, epsilon: float) -> Recommendation:
    """Measured argmax of U on r ≥ 0 (flagged at the grid edge); the second-order r* (theory)
    replaces it only where it is valid (``_second_order``)."""
    grid, t = e.grid, e.tradeoff
    nonneg = np.flatnonzero(grid >= 0)
    j = int(nonneg[np.argmax(t.utility[nonneg])])
    edge = bool(j == nonneg[-1] and grid[j] > 0)
    ok = [int(i) for i in nonneg if t.loss.hi[i] <= epsilon]
    r_eps = float(grid[max(ok, key=lambda i: e.target_mean_B[i])]) if ok else 0.0
    reach = [float(grid[i]) for i in nonneg if e.target_mean_B[i] >= 1 - epsilon]
    so = _second_order(e, kappa)
    notes = list(so.notes)
    if so.valid and so.measured is not None:
        r, method = so.measured.r_star, "second-order"
        k = int(np.argmin(np.abs(grid - r)))
    else:
        r, method, k = float(grid[j]), "measured", j
        notes.append(f"recommended from the measured curves: r = {r:g} maximises U"
                     + (" — at the grid edge: the optimum may lie beyond; extend the grid"
                        if edge else ""))
    return Recommendation(r, method, edge and method == "measured", float(t.gain.value[k]),
                          float(t.loss.value[k]), float(t.utility[k]), r_eps,
                          reach[0] if reach else None, so.measured, so.fit_free, so.valid,
                          "; ".join(notes))
