"""One behavior's analysis, step by step: the measured curves; Δ by JVP and the per-prompt
estimates; measured and fit-free coefficients; the paper's fits; Proposition 1's remainder; the
tradeoff; then the recommendation and the verdicts (``Evidence`` → ``recommend``, ``verdicts``).

Every formula comes from ``empirics.formulas``; per-prompt arrays are prompts × coefficients
``(N, C)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from empirics import verdicts
from empirics.claim_points import claim_points
from empirics.claims import Resampling
from empirics.curves import FIT_BOOT, local_window, paper_fits, plotted_curves
from empirics.directions import DirectionRun
from empirics.estimates import PromptEstimates, estimate_prompts, iid_c2, pooled_sigma
from empirics.evidence import AlignmentCoefficients, Evidence, HelpfulnessCoefficients
from empirics.fits import FitResult, fit_local_polynomial
from empirics.formulas import random_sigma, theorem1_slope
from empirics.intervals import Interval, mean_interval
from empirics.jvp import cached_delta2_jvp
from empirics.prepared import Prepared
from empirics.recommend import control_for, measure_tradeoff, recommend
from empirics.results import (
    BehaviorCurves,
    BehaviorResults,
    Coefficients,
    GroupCurves,
    HelpfulnessCurves,
    LinearResponse,
    RandomSweeps,
)
from empirics.settings import CONTROL_GROUP, TARGET_GROUP
from empirics.theory_link import (
    behavior_predictions,
    helpfulness_predictions,
    linear_response_remainder,
)


# ------------------------------------------------------------------------ measured curves
@dataclass(frozen=True)
class MeasuredCurves:
    """Prompt-mean curves with intervals: behavior groups, helpfulness pooled and per group."""

    groups: dict[str, GroupCurves[BehaviorCurves]]
    helpfulness: GroupCurves[HelpfulnessCurves]
    helpfulness_groups: dict[str, GroupCurves[HelpfulnessCurves]]


def _behavior_curves(run: DirectionRun, group: str, n_boot: int, seed: int
                     ) -> GroupCurves[BehaviorCurves]:
    return GroupCurves(group, "behavior", len(run.rows[group]), run.behavior(group).map(
        lambda v: mean_interval(v, n_boot, seed=seed)))


def _helpfulness_curves(run: DirectionRun, group: str, n_boot: int, seed: int
                        ) -> GroupCurves[HelpfulnessCurves]:
    return GroupCurves(group, "helpfulness", len(run.rows[group]), run.helpfulness(group).map(
        lambda v: mean_interval(v, n_boot, seed=seed)))


def measured_curves(run: DirectionRun, n_boot: int, seed: int) -> MeasuredCurves:
    """Every group's mean curves with intervals (the same prompt resamples, ``seed``, for each
    group and measure)."""
    hgroups = run.helpfulness_groups()
    groups = {g: _behavior_curves(run, g, n_boot, seed) for g in run.behavior_groups()}
    per_group = {g: _helpfulness_curves(run, g, n_boot, seed) for g in hgroups}
    pooled = GroupCurves("pooled", "helpfulness", sum(len(run.rows[g]) for g in hgroups),
                         run.pooled_helpfulness().map(
                             lambda v: mean_interval(v, n_boot, seed=seed)))
    return MeasuredCurves(groups, pooled, per_group)


# ------------------------------------------------------------------------ Δ by JVP, estimates
@dataclass(frozen=True)
class JvpPrompts:
    """The prompts with Δ̂ by JVP, their estimates and their measured rows (the same prompts:
    fit-free and measured numbers always compare on them)."""

    rows: list[int]                      # indices into the direction's prompts
    h0: np.ndarray                       # (N, d) final hidden state at r = 0
    delta: np.ndarray                    # (N, d) Δ̂ = dh/dr at 0
    delta2: np.ndarray                   # (N, d) Δ̂₂ = d²h/dr² at 0
    estimates: list[PromptEstimates]     # one per row
    target: list[PromptEstimates]        # the target group's, in row order
    helpfulness: list[PromptEstimates]   # every helpfulness group's, in row order
    target_B: np.ndarray                 # (N_t, C) measured B of ``target``
    help_P: np.ndarray                   # (N_h, C) measured P(correct) of ``helpfulness``
    note: str                            # on which prompts, for the report


def jvp_rows(run: DirectionRun, k: int) -> list[int]:
    """Prompts (indices into ``run.prompts``) that get a JVP: all of them (k = 0), else the
    first ``k`` of each group (prompts were already sampled at random)."""
    return [i for idx in run.rows.values() for i in (idx if k <= 0 else idx[:k])]


def jvp_prompts(p: Prepared, run: DirectionRun) -> JvpPrompts:
    """Δ̂ and Δ̂₂ by nested JVP (cached) and the estimates, with the sweep's r = 0 log-probs as the unsteered
    distribution (so predictions at r = 0 equal the measurement)."""
    target = TARGET_GROUP[run.name]
    hgroups = run.helpfulness_groups()
    order = jvp_rows(run, p.settings.theory_prompts)
    h0, delta, delta2 = cached_delta2_jvp(p.lm, run.vectors,
                                          [list(run.prompts[i].input_ids) for i in order],
                                          p.cache, run.name, p.settings.progress)
    lp0 = np.asarray(run.result.logprobs)[int(np.flatnonzero(run.grid == 0)[0])]
    estimates: list[PromptEstimates] = []
    for j, i in enumerate(order):
        k = len(run.prompts[i].candidate_ids)
        estimates += estimate_prompts(p.lm, [run.prompts[i]], h0[j:j + 1], delta[j:j + 1],
                                      unsteered_logprobs=lp0[i:i + 1, :k],
                                      delta2=delta2[j:j + 1])
    places = [run.place(i) for i in order]            # (group, row in the group) per JVP row
    t_rows = [j for j, (g, _) in enumerate(places) if g == target]
    h_rows = [j for j, (g, _) in enumerate(places) if g in hgroups]
    target_B = run.behavior(target).B[[places[j][1] for j in t_rows]]
    help_P = np.stack([np.asarray(run.helpfulness(places[j][0]).p_correct[places[j][1]])
                       for j in h_rows])
    est_t = [estimates[j] for j in t_rows]
    est_h = [estimates[j] for j in h_rows]
    measured = len(run.rows[target]) + sum(len(run.rows[g]) for g in hgroups)
    every = len(t_rows) + len(h_rows) == measured
    note = (f"Δ̂ by JVP on every measured prompt ({len(est_t)} {target}, {len(est_h)} "
            "helpfulness): fit-free and measured curves use the same prompts" if every else
            f"Δ̂ by JVP on a subset ({len(est_t)} {target}, {len(est_h)} helpfulness); "
            "coefficients and fits compare on that subset")
    return JvpPrompts(order, np.asarray(h0), np.asarray(delta), np.asarray(delta2), estimates,
                      est_t, est_h, target_B, help_P, note)


# ------------------------------------------------------------------------ coefficients at 0
def _mean_value(values: list[float | None], n_boot: int, seed: int) -> Interval[float] | None:
    """Mean over prompts with its bootstrap interval; None when a value is missing."""
    if not values or any(v is None for v in values):
        return None
    return mean_interval(np.asarray(values, float)[:, None], n_boot, seed=seed).at(0)


def _fit_value(fit: FitResult, name: str) -> Interval[float]:
    lo, hi = fit.ci[name]
    return Interval(fit.params[name], lo, hi, fit.level, fit.n_prompts)


def _measured(grid: np.ndarray, values: np.ndarray, window: float, n_boot: int, seed: int
              ) -> Coefficients:
    fit = fit_local_polynomial(grid, values, window, bootstrap=n_boot, seed=seed)
    return Coefficients(f"measured (local quadratic, |r| ≤ {window:g})", "measured",
                        _fit_value(fit, "c1"), _fit_value(fit, "c2"))


def coefficients(jvp: JvpPrompts, grid: np.ndarray, window: float, sigma_pooled: float,
                 sigma_random: float, n_boot: int, seed: int
                 ) -> tuple[AlignmentCoefficients, HelpfulnessCoefficients]:
    """Measured (local quadratic, prompt bootstrap) and fit-free (mean over the same prompts)
    coefficients of r and r² at 0."""

    def mean(values: list[float | None]) -> Interval[float] | None:
        return _mean_value(values, n_boot, seed)

    est_t, est_h = jvp.target, jvp.helpfulness
    zero = Interval(0.0, 0.0, 0.0)
    missing = "no prompt with an estimate"
    alignment = AlignmentCoefficients(
        _measured(grid, jvp.target_B, window, n_boot, seed),
        Coefficients("Theorem 1 γ̂λ̂(1−B₀²)", "fit-free",
                     mean([theorem1_slope(e.B0 or 0.0, e.gamma_lam or 0.0) for e in est_t]), None),
        Coefficients("linear model, actual Δ̂", "fit-free", mean([e.c1_actual for e in est_t]),
                     mean([e.c2_actual for e in est_t]), missing),
        Coefficients("Theorem 2R, actual Δ̂ and Δ̂₂ (w = UΔ̂₂)", "fit-free",
                     mean([e.c1_actual for e in est_t]), mean([e.c2_2r for e in est_t]), missing))
    helpfulness = HelpfulnessCoefficients(
        _measured(grid, jvp.help_P, window, n_boot, seed),
        Coefficients(f"Thm 2 i.i.d. (pooled σ̂ = {sigma_pooled:.3g}, RMS β̂)", "fit-free", zero,
                     mean(list(iid_c2(est_h, sigma_pooled)))),
        Coefficients(f"Thm 2 i.i.d. (σ = 1/√d = {sigma_random:.3g})", "fit-free", zero,
                     mean(list(iid_c2(est_h, sigma_random)))),
        Coefficients("Thm 2 random direction, real geometry U", "fit-free", zero,
                     mean([e.c2_random for e in est_h]), "‖Δ̂‖ = 0 on some prompt"),
        Coefficients("Thm 2 actual Δ̂ (μ = g, Σ = 0)", "fit-free", mean([e.c1_actual for e in est_h]),
                     mean([e.c2_actual for e in est_h]), missing),
        Coefficients("Theorem 2R, actual Δ̂ and Δ̂₂ (w = UΔ̂₂)", "fit-free",
                     mean([e.c1_actual for e in est_h]), mean([e.c2_2r for e in est_h]), missing))
    return alignment, helpfulness


# ------------------------------------------------------------------------ Proposition 1
def linear_response(run: DirectionRun, jvp: JvpPrompts, window: float) -> LinearResponse | None:
    """The remainder ‖h_r − h − rΔ̂‖ on the sweep's final hidden states (None without them)."""
    if run.result.final_hidden is None:
        return None
    grid = run.grid
    near = np.unique(np.abs(grid[(grid != 0) & (np.abs(grid) <= window)]))
    final = np.asarray(run.result.final_hidden)[:, jvp.rows]
    rem = linear_response_remainder(jvp.h0, jvp.delta, final, grid,
                                    exponent_max_abs_r=window if len(near) >= 2 else None)
    return LinearResponse(grid, rem.median_relative, rem.exponent_pooled,
                          float(np.nanmedian(rem.exponent)), rem.linear_range_pooled,
                          rem.threshold, rem.fit_max_abs_r)


# ------------------------------------------------------------------------ the whole analysis
def analyse(p: Prepared, run: DirectionRun, random: RandomSweeps | None = None
            ) -> BehaviorResults:
    """Every step above for the direction ``run`` (one behavior); ``random``: the k random
    directions' sweeps of the helpfulness prompts (Theorem 2's forms), shared by behaviors."""
    s, grid, target = p.settings, run.grid, TARGET_GROUP[run.name]
    curves = measured_curves(run, s.n_boot, s.seed)
    jvp = jvp_prompts(p, run)
    with warnings.catch_warnings():  # ill-conditioned predictions on coarse grids are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        predicted_b = behavior_predictions(jvp.target, grid)
        predicted_h = helpfulness_predictions(jvp.helpfulness, grid, hidden_size=p.lm.hidden_size)
    sigma = pooled_sigma(jvp.helpfulness)
    window = local_window(grid)
    alignment, helpfulness = coefficients(jvp, grid, window, sigma,
                                          float(random_sigma(p.lm.hidden_size)), s.n_boot, s.seed)
    fits = paper_fits(grid, jvp.target_B, jvp.help_P, window, min(s.n_boot, FIT_BOOT), s.seed)
    alignment_curves, helpfulness_curves = plotted_curves(grid, fits, predicted_b, predicted_h)
    control_group = CONTROL_GROUP.get(run.name)
    if control_group not in run.rows:
        control_group = None
    control_B = None if control_group is None else run.behavior(control_group).B
    help_all = np.asarray(run.pooled_helpfulness().p_correct)
    trade = measure_tradeoff(target, run.behavior(target).B, control_group, control_B, help_all,
                             int(np.flatnonzero(grid == 0)[0]), s.recommend_on, s.kappa,
                             s.n_boot, s.seed)
    evidence = Evidence(run.name, target, control_group, grid, jvp.target_B, jvp.help_P,
                        jvp.target, jvp.helpfulness, run.behavior(target).B, help_all, control_B,
                        random, p.lm.hidden_size)
    lin = linear_response(run, jvp, window)
    rec = recommend(p, run, target, control_for(run, s.recommend_on), jvp.estimates,
                    0.0 if lin is None else lin.linear_range)
    return BehaviorResults(
        run.name, target, grid, curves.groups, curves.helpfulness, curves.helpfulness_groups,
        jvp.note, jvp.estimates, sigma, alignment_curves, helpfulness_curves,
        alignment.rows(), helpfulness.rows(), fits, lin, trade.specificity, trade.tradeoff, rec,
        verdicts.judge(evidence, s.kappa, Resampling(max(s.n_boot, 20), seed=s.seed)),
        claim_points(evidence))
