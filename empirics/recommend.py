"""Gain, loss and utility U = G − κL on the measured curves (shown in the report), and the
recommended coefficient (``claims.recommend_extending``: the decision rule of docs/claims.md).

Gain: mean B(r) − B(0) of the target prompts (or the specific gain: target minus control
gain); loss: mean P(correct)(0) − P(correct)(r) of every helpfulness prompt. Per-prompt inputs
are prompts × coefficients ``(N, C)``. When U is largest on the largest coefficient the
recommendation sweeps further coefficients itself (``directions.sweep_direction``), up to the
policy's maximum.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from empirics import formulas
from empirics.claims import (
    Curves,
    Measurements,
    Policy,
    Recommendation,
    Resampling,
    SecondOrder,
    recommend_extending,
    second_order_inputs,
)
from empirics.directions import DirectionRun, sweep_direction
from empirics.estimates import PromptEstimates
from empirics.intervals import Interval, difference_interval, mean_interval
from empirics.prepared import Prepared
from empirics.results import BehaviorGeneration, Specificity, Tradeoff
from empirics.settings import CONTROL_GROUP


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


def measurements(run: DirectionRun, target: str, control: str | None) -> Measurements:
    """B of every target prompt, P(correct) of every helpfulness prompt and B of every control
    prompt (None: the gain is the target's) on ``run``'s grid."""
    grid = run.grid
    return Measurements(Curves(grid, run.behavior(target).B),
                        Curves(grid, run.pooled_helpfulness().p_correct),
                        None if control is None else Curves(grid, run.behavior(control).B))


def second_order(estimates: Sequence[PromptEstimates], target: str, control: str | None,
                 radius: float) -> SecondOrder | None:
    """Theorem 2R's per-prompt (c1, c2) means — c1 of the actual Δ̂, c2 with w = UΔ̂₂ — for the
    target, helpfulness and control prompts with a JVP; None without Δ̂₂. ``radius`` ≤ 0 (no
    measured linear-response range): r* is reported but never trusted (no radius to check)."""

    def pairs(keep: list[PromptEstimates]) -> np.ndarray | None:
        if not keep or any(e.c1_actual is None or e.c2_2r is None for e in keep):
            return None
        return np.array([[e.c1_actual, e.c2_2r] for e in keep], dtype=float)

    t = pairs([e for e in estimates if e.group == target])
    h = pairs([e for e in estimates if e.kind == "helpfulness"])
    c = None if control is None else pairs([e for e in estimates if e.group == control])
    if t is None or h is None or (control is not None and c is None):
        return None
    return second_order_inputs(t, h, c, radius if radius > 0 else None)


def control_for(run: DirectionRun, recommend_on: str) -> str | None:
    """The control group whose gain is subtracted (the specific gain), where one is measured
    and ``recommend_on`` is "specific"."""
    group = CONTROL_GROUP.get(run.name)
    return group if recommend_on == "specific" and group in run.rows else None


def generated(p: Prepared, run: DirectionRun, gen: BehaviorGeneration,
              control: str | None) -> Recommendation | None:
    """The recommendation on the generated behavior (``source="generated"``): B_gen per prompt
    at the generation coefficients, P(correct) and — no control prompts are generated — the
    control group's next-token B from ``run`` at the same coefficients. Generated text is not
    extended beyond its coefficients. None with fewer than 2 prompts decided everywhere."""
    if gen.per_prompt is None:
        return None
    values = np.asarray(gen.per_prompt, dtype=float).T
    values = values[np.isfinite(values).all(1)]
    if values.shape[0] < 2:
        return None
    grid = [float(x) for x in run.grid]
    cols = [grid.index(float(x)) for x in gen.coefficients]
    coefs = np.asarray(gen.coefficients, dtype=float)
    ctrl = None if control is None else Curves(coefs, run.behavior(control).B[:, cols])
    m = Measurements(Curves(coefs, values),
                     Curves(coefs, np.asarray(run.pooled_helpfulness().p_correct)[:, cols]), ctrl,
                     source="generated")
    s = p.settings
    policy = Policy(s.kappa, s.epsilon, max_coefficient=float(coefs.max()),
                    resampling=Resampling(max(s.n_boot, 20), seed=s.seed))
    rec = recommend_extending(m, _no_extension, policy)
    note = "; generated text is measured at its coefficients only" + (
        "; control group: next-token B (no control replies are generated)" if ctrl else "")
    return replace(rec, summary=rec.summary + note, stopped_because=(
        "generated text is not extended beyond its largest coefficient" if rec.stopped_because
        else ""))


def _no_extension(coefficients: np.ndarray) -> Measurements:
    raise AssertionError("the policy's maximum is the largest generation coefficient")


def recommend(p: Prepared, run: DirectionRun, target: str, control: str | None,
              estimates: Sequence[PromptEstimates], radius: float) -> Recommendation:
    """``claims.recommend_extending`` on ``run``'s measurements; an optimum on the largest
    coefficient makes it sweep ``run``'s prompts at the coefficients it asks for (and r = 0,
    the join's check). ``radius``: where the second-order r* is trusted (Proposition 1's
    measured linear-response range)."""
    s = p.settings
    policy = Policy(s.kappa, s.epsilon, resampling=Resampling(max(s.n_boot, 20), seed=s.seed))

    def sweep(coefficients: np.ndarray) -> Measurements:
        print(f"Extending the {run.name} grid: r = {', '.join(f'{x:g}' for x in coefficients)}",
              file=sys.stderr)
        more = sweep_direction(p, run.name, run.vectors, run.prompts, keep_hidden=False,
                               grid=[float(x) for x in coefficients])
        return measurements(more, target, control)

    return recommend_extending(measurements(run, target, control), sweep, policy,
                               second_order(estimates, target, control, radius))
