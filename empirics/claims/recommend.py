"""Which coefficient to use, as a careful researcher would decide it.

* With a control group (harmless prompts for a refusal vector) the gain is the specific gain
  G_target − G_control per coefficient: over-refusal (harmless-prompt refusal rising with r)
  counts against the vector, and is reported at the chosen r.
* U = G − κL per coefficient with a prompt bootstrap (independent groups resampled apart);
  "do not steer" when no r > 0 has U's 95% CI above 0, else the r > 0 of largest mean U among
  those. The ε alternative (most gain with the loss's upper CI ≤ ε) ranks by the same gain.
* An optimum on the largest coefficient is not an answer: ``recommend`` then asks for more
  coefficients (``GridExtension``), unless a stopping rule holds (the stated maximum reached, or
  the target B saturated at ≥ 1 − ε); ``recommend_extending`` runs that loop with a sweep
  callable and always ends with a ``Recommendation``.
* Theorem 2R's fit-free r* = (g₁ − κℓ₁)/(2(κℓ₂ − g₂)) is reported beside the measured argmax,
  with whether it lies inside its validity radius (``formulas.general_response_optimum``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from empirics import formulas
from empirics.claims.inputs import Curves, zero_index
from empirics.claims.stats import Resampling
from empirics.claims.verdict import Estimate


class Decision(enum.Enum):
    """What to do: steer at the recommended r, or not at all (there is no "extend the grid")."""

    STEER = "steer"
    DO_NOT_STEER = "do not steer"


@dataclass(frozen=True)
class Measurements:
    """What the recommendation reads, on one grid: B of the target prompts, P(correct) of the
    helpfulness prompts, B of the control prompts (or None); ``source`` says whether B is the
    next-token proxy or the generated behavior (which wins when both were measured)."""

    target: Curves
    helpfulness: Curves
    control: Curves | None = None
    source: str = "next-token"

    def __post_init__(self) -> None:
        grids = [self.target.grid, self.helpfulness.grid]
        grids += [] if self.control is None else [self.control.grid]
        if any(g.shape != grids[0].shape or not np.allclose(g, grids[0]) for g in grids):
            raise ValueError("target, helpfulness and control curves must share one grid")
        if self.source not in ("next-token", "generated"):
            raise ValueError(f"source {self.source!r} must be 'next-token' or 'generated'")

    @property
    def grid(self) -> np.ndarray:
        return self.target.grid


@dataclass(frozen=True)
class Policy:
    """κ weighs helpfulness (U = G − κL); ε the loss tolerance of the alternative and the B
    saturation level (1 − ε); the grid is extended up to ``max_coefficient`` with
    ``extension_points`` new coefficients per round, at most doubling the largest."""

    kappa: float = 1.0
    epsilon: float = 0.05
    max_coefficient: float = 40.0
    extension_points: int = 4
    resampling: Resampling = field(default_factory=Resampling)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.kappa) and self.kappa >= 0):
            raise ValueError(f"kappa {self.kappa} must be finite and ≥ 0")
        if not 0 < self.epsilon < 1:
            raise ValueError(f"epsilon {self.epsilon} must be in (0, 1)")
        if not self.max_coefficient > 0 or self.extension_points < 1:
            raise ValueError("max_coefficient must be > 0 and extension_points ≥ 1")


@dataclass(frozen=True)
class PerCoefficient:
    """A mean per coefficient with its 95% CI, each ``(C,)``."""

    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def at(self, j: int) -> Estimate:
        return Estimate(float(self.mean[j]), float(self.lo[j]), float(self.hi[j]))


@dataclass(frozen=True)
class Utility:
    """Gain (specific when ``control_gain`` is given), loss and U = G − κL per coefficient."""

    grid: np.ndarray
    gain: PerCoefficient
    loss: PerCoefficient
    utility: PerCoefficient
    control_gain: PerCoefficient | None
    kappa: float


@dataclass(frozen=True)
class SecondOrder:
    """Fit-free Theorem 2R coefficients at r = 0 (gain g₁, g₂; loss ℓ₁, ℓ₂; specific with a
    control group) and the radius inside which the second-order model is trusted (None: none
    was measured, so r* is reported but never trusted)."""

    g1: float
    l1: float
    g2: float
    l2: float
    radius: float | None


@dataclass(frozen=True)
class GridExtension:
    """A request: sweep these coefficients (and r = 0 again) and call ``recommend`` anew."""

    coefficients: np.ndarray
    reason: str


@dataclass(frozen=True)
class Recommendation:
    """The decision and how it was reached; ``stopped_because`` is set when the optimum sits on
    the largest coefficient and a stopping rule ended the extension."""

    decision: Decision
    r: float
    utility: Utility
    measured_argmax: float
    at_edge: bool
    stopped_because: str
    within_epsilon: float | None
    over_refusal: Estimate | None
    second_order: formulas.Optimum | None
    second_order_inside_radius: bool | None
    source: str
    summary: str
    extensions: tuple[GridExtension, ...] = ()


def second_order_inputs(target: np.ndarray, helpfulness: np.ndarray,
                        control: np.ndarray | None, radius: float | None) -> SecondOrder:
    """Means over prompts of Theorem 2R's (c1, c2) per prompt, each ``(N, 2)``: g = target
    (minus control), ℓ = −helpfulness (the loss is P(0) − P(r))."""
    t = np.asarray(target, float).mean(0)
    h = np.asarray(helpfulness, float).mean(0)
    c = np.zeros(2) if control is None else np.asarray(control, float).mean(0)
    g = t - c
    return SecondOrder(float(g[0]), float(-h[0]), float(g[1]), float(-h[1]),
                       None if radius is None else float(radius))


def _per_coefficient(point: np.ndarray, boots: np.ndarray, rs: Resampling) -> PerCoefficient:
    q = (1 - rs.level) / 2
    lo, hi = np.quantile(boots, [q, 1 - q], axis=0)
    return PerCoefficient(point, lo, hi)


def _gains(curves: Curves, rs: Resampling, stream: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean gain from r = 0 per coefficient ``(C,)`` and its bootstrap ``(n_boot, C)``."""
    g = curves.values - curves.at_zero[:, None]
    return g.mean(0), g[rs.indices(curves.n, stream)].mean(1)


def utility(m: Measurements, policy: Policy) -> Utility:
    """Gain, loss and U per coefficient with independent prompt bootstraps per group."""
    rs = policy.resampling
    gain, gain_b = _gains(m.target, rs, 11)
    control = None
    if m.control is not None:
        cg, cg_b = _gains(m.control, rs, 12)
        control = _per_coefficient(cg, cg_b, rs)
        gain, gain_b = gain - cg, gain_b - cg_b
    fall, fall_b = _gains(m.helpfulness, rs, 13)
    loss, loss_b = -fall, -fall_b
    u = formulas.utility(gain, loss, policy.kappa)
    u_b = formulas.utility(gain_b, loss_b, policy.kappa)
    return Utility(m.grid, _per_coefficient(gain, gain_b, rs), _per_coefficient(loss, loss_b, rs),
                   _per_coefficient(u, u_b, rs), control, policy.kappa)


def _within_epsilon(u: Utility, policy: Policy) -> float | None:
    """The r > 0 of most (specific) gain among those whose loss's upper CI is ≤ ε and whose
    gain's CI lies above 0."""
    ok = np.flatnonzero((u.grid > 0) & (u.loss.hi <= policy.epsilon) & (u.gain.lo > 0))
    return float(u.grid[ok[np.argmax(u.gain.mean[ok])]]) if ok.size else None


def _stop_reason(m: Measurements, policy: Policy, j: int) -> str:
    """Why the grid is not extended beyond its largest coefficient (index ``j``), or ""."""
    top = float(m.grid[j])
    if top >= policy.max_coefficient - 1e-9:
        return f"the stated maximum r = {policy.max_coefficient:g} is reached"
    b = float(m.target.values[:, j].mean())
    if b >= 1 - policy.epsilon:
        return f"the target B saturated (mean {b:.3f} ≥ 1 − ε = {1 - policy.epsilon:g})"
    return ""


def extension(grid: np.ndarray, policy: Policy) -> np.ndarray:
    """The next coefficients beyond the largest: ``extension_points`` evenly up to
    min(2 × largest, max_coefficient)."""
    top = float(np.max(grid))
    end = min(2 * top, policy.max_coefficient)
    return top + (end - top) * np.arange(1, policy.extension_points + 1) / policy.extension_points


def _second_order(so: SecondOrder | None, kappa: float) -> tuple[formulas.Optimum | None,
                                                                 bool | None]:
    if so is None:
        return None, None
    opt = formulas.general_response_optimum(so.g1, so.l1, so.g2, so.l2, kappa, radius=so.radius)
    return opt, bool(opt.valid)


def recommend(m: Measurements, policy: Policy | None = None,
              second_order: SecondOrder | None = None) -> Recommendation | GridExtension:
    """One step: a ``Recommendation``, or a ``GridExtension`` when the optimum sits on the
    largest coefficient and no stopping rule holds."""
    pol = policy or Policy()
    u = utility(m, pol)
    grid = m.grid
    nonneg = np.flatnonzero(grid >= 0)
    positive = np.flatnonzero((grid > 0) & (u.utility.lo > 0))
    if not positive.size:
        return _recommendation(m, u, pol, second_order, zero_index(grid), "")
    j = int(positive[np.argmax(u.utility.mean[positive])])
    reason = _stop_reason(m, pol, j) if j == int(nonneg[-1]) else ""
    if j == int(nonneg[-1]) and not reason:
        new = extension(grid, pol)
        return GridExtension(new, f"U is largest at the largest coefficient r = {grid[j]:g}: "
                                  f"sweep r = {', '.join(f'{x:g}' for x in new)}")
    return _recommendation(m, u, pol, second_order, j, reason)


def _recommendation(m: Measurements, u: Utility, pol: Policy, second_order: SecondOrder | None,
                    j: int, reason: str) -> Recommendation:
    """The recommendation at grid index ``j`` (r = 0: do not steer)."""
    grid = m.grid
    nonneg = np.flatnonzero(grid >= 0)
    argmax = int(nonneg[np.argmax(u.utility.mean[nonneg])])
    so, inside = _second_order(second_order, pol.kappa)
    decision = Decision.STEER if grid[j] > 0 else Decision.DO_NOT_STEER
    over = None if u.control_gain is None else u.control_gain.at(j)
    summary = _summary(decision, float(grid[j]), u, reason)
    if so is not None:
        summary += (f"; measured argmax of U r = {grid[argmax]:g}; Theorem 2R's second-order "
                    f"r* = {so.r_star:.3g} ({so.note})")
    return Recommendation(decision, float(grid[j]), u, float(grid[argmax]),
                          bool(j == int(nonneg[-1]) and grid[j] > 0), reason,
                          _within_epsilon(u, pol), over, so, inside, m.source, summary)


#: A sweep of the same prompts at given coefficients (r = 0 included), as ``Measurements``.
Sweep = Callable[[np.ndarray], Measurements]


def _join(old: Curves, new: Curves, what: str) -> Curves:
    if new.n != old.n or not np.allclose(new.at_zero, old.at_zero, atol=1e-4):
        raise ValueError(f"the extension's {what} at r = 0 differ from the first sweep's: sweep "
                         "the same prompts in the same order")
    keep = new.grid != 0
    grid = np.concatenate([old.grid, new.grid[keep]])
    order = np.argsort(grid)
    values = np.concatenate([old.values, new.values[:, keep]], axis=1)
    return Curves(grid[order], values[:, order])


def merge(old: Measurements, new: Measurements) -> Measurements:
    """``old`` with the coefficients of ``new`` added (``new`` holds r = 0 as a check)."""
    if (old.control is None) != (new.control is None) or old.source != new.source:
        raise ValueError("the extension must measure the same groups from the same source")
    control = (None if old.control is None or new.control is None
               else _join(old.control, new.control, "control values"))
    return Measurements(_join(old.target, new.target, "target values"),
                        _join(old.helpfulness, new.helpfulness, "helpfulness values"),
                        control, old.source)


def recommend_extending(m: Measurements, sweep: Sweep, policy: Policy | None = None,
                        second_order: SecondOrder | None = None) -> Recommendation:
    """``recommend``, extending the grid with ``sweep`` while it asks to; it always ends with a
    ``Recommendation`` (the stated maximum is a stopping rule), listing the extensions made."""
    pol = policy or Policy()
    history: list[GridExtension] = []
    current = m
    while True:
        out = recommend(current, pol, second_order)
        if isinstance(out, Recommendation):
            return replace(out, extensions=tuple(history))
        history.append(out)
        asked = np.concatenate([[0.0], out.coefficients])
        got = sweep(asked)
        if got.grid.shape != asked.shape or not np.allclose(np.sort(asked), got.grid):
            raise ValueError(f"the sweep returned coefficients {got.grid.tolist()}, asked for "
                             f"{np.sort(asked).tolist()}")
        current = merge(current, got)


def _summary(decision: Decision, r: float, u: Utility, reason: str) -> str:
    gain = "specific gain (target − control)" if u.control_gain is not None else "gain"
    if decision is Decision.DO_NOT_STEER:
        return (f"do not steer: no r > 0 has U = {gain} − {u.kappa:g}·loss with its 95% CI "
                "above 0")
    j = int(np.argmin(np.abs(u.grid - r)))
    text = (f"steer at r = {r:g}: U = {u.utility.at(j)}, {gain} {u.gain.at(j)}, loss "
            f"{u.loss.at(j)}")
    if u.control_gain is not None:
        text += f"; control-group gain (over-refusal) {u.control_gain.at(j)}"
    if reason:
        text += f"; the optimum is on the largest coefficient and the grid stops there: {reason}"
    return text
