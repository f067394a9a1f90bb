"""One behavior's verdicts from ``empirics.claims`` (docs/claims.md has the rules, their
bands and their calibration).

Consistency checks (the implementation): ``first_order_consistency`` — the JVP slope of each
prompt (c1 of the actual Δ̂) vs the sweep's slope at 0, for B of the target prompts and for
P(correct). Claims (the theory against the model): ``curvature_2r`` (Theorem 2R's r²
coefficient with w = UΔ̂₂, for B and for P(correct)), ``theorem1_departure`` and
``theorem1_curve`` (Theorem 1 on the two-outcome target prompts) and ``efficient_regime``
(with the control group's B when there is one: the specific gain), and, with k seeded random
directions swept (``random_sweeps``), Theorem 2's i.i.d. and random-direction forms and
Theorem 2′ (``theorem2_random_forms``, ``theorem2_prime``). Inputs are per-prompt
matrices, prompts × coefficients ``(N, C)``; no verdict rests on a fitted curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from empirics import formulas
from empirics.claims import (
    ClaimVerdict,
    Curves,
    DirectionSweeps,
    Kind,
    Resampling,
    curvature_2r,
    departure,
    efficient_regime,
    first_order_consistency,
    random_direction_form,
    spread_bound,
    tanh_curve,
)
from empirics.claims.cases import TANH_RADIUS
from empirics.claims.theorem1 import DEPARTURE_THRESHOLD
from empirics.claims.verdict import undecided
from empirics.estimates import PromptEstimates
from empirics.evidence import Evidence
from empirics.results import RandomSweeps


def estimate_values(estimates: Sequence[PromptEstimates], field: str) -> np.ndarray | None:
    """``(N,)`` of one estimate field, None when a prompt lacks it."""
    vals = [getattr(e, field) for e in estimates]
    return None if any(v is None for v in vals) else np.asarray(vals, dtype=float)


@dataclass(frozen=True)
class Theorem1Inputs:
    """Theorem 1's prompts: the two-outcome prompts (those with w_a − w_b) whose certified
    margin γ̂λ̂ is > 0 (its hypothesis), as ``rows`` of the target prompts, with γ̂λ̂, B₀, the
    w gap and the departure radius that Theorem 1 to second order predicts, each ``(N,)``."""

    rows: list[int]
    two_outcome: int               # how many two-outcome prompts there were
    gamma_lam: np.ndarray
    gap: np.ndarray
    radius: np.ndarray


def theorem1_inputs(estimates: Sequence[PromptEstimates]) -> Theorem1Inputs:
    """The prompts and per-prompt numbers both Theorem 1 rules (and the claims figure) read."""
    two = [i for i, e in enumerate(estimates) if e.w_a_minus_w_b is not None]
    rows = [i for i in two if (estimates[i].gamma_lam or 0.0) > 0]
    est = [estimates[i] for i in rows]
    gl = np.array([e.gamma_lam for e in est], dtype=float)
    b0 = np.array([e.B0 for e in est], dtype=float)
    gap = np.array([e.w_a_minus_w_b for e in est], dtype=float)
    return Theorem1Inputs(rows, len(two), gl, gap,
                          formulas.departure_radius(b0, gl, gap, DEPARTURE_THRESHOLD))


def theorem1(subject: str, grid: np.ndarray, B: np.ndarray,
             estimates: Sequence[PromptEstimates], rs: Resampling) -> list[ClaimVerdict]:
    """``theorem1_departure`` and ``theorem1_curve`` on ``theorem1_inputs``' prompts, each from
    its γ̂λ̂ and B₀; the departure radius is Theorem 1 to second order."""
    t1 = theorem1_inputs(estimates)
    if len(t1.rows) < t1.two_outcome:
        subject = f"{subject}, γ̂λ̂ > 0 ({len(t1.rows)} of {t1.two_outcome} prompts)"
    if len(t1.rows) < 2:
        why = "fewer than 2 two-outcome prompts with Δ̂₂ and γ̂λ̂ > 0"
        return [undecided("theorem1_departure", Kind.CLAIM, subject,
                          "where each prompt leaves Theorem 1's bound vs Theorem 1 to second "
                          "order, paired", why),
                undecided("theorem1_curve", Kind.CLAIM, subject,
                          "the parameter-free tanh's error over the validity radius", why)]
    curves = Curves(grid, B[t1.rows])
    return [departure(subject, curves, t1.gamma_lam, t1.radius, np.sign(t1.gap), resampling=rs),
            tanh_curve(subject, curves, t1.gamma_lam, TANH_RADIUS, resampling=rs)]


def judge(e: Evidence, kappa: float, rs: Resampling) -> list[ClaimVerdict]:
    """Every verdict on one behavior: the consistency checks first, then the claims."""
    t_subject = f"B, {e.target_group} prompts"
    h_subject = "P(correct), helpfulness prompts"
    t_curves = Curves(e.grid, e.target_B)
    h_curves = Curves(e.grid, e.help_P)
    out = []
    for name, kind, field in (("first_order_consistency", Kind.CONSISTENCY, "c1_actual"),
                              ("curvature_2r", Kind.CLAIM, "c2_2r")):
        for subject, curves, est in ((t_subject, t_curves, e.target_estimates),
                                     (h_subject, h_curves, e.help_estimates)):
            pred = estimate_values(est, field)
            if pred is None:
                out.append(undecided(name, kind, subject, "", f"{field} is missing on some "
                                     "prompt (no Δ̂₂)"))
            elif kind is Kind.CONSISTENCY:
                out.append(first_order_consistency(subject, curves, pred, resampling=rs))
            else:
                out.append(curvature_2r(subject, curves, pred, resampling=rs))
    out += theorem1(t_subject, e.grid, e.target_B, e.target_estimates, rs)
    control = None if e.control_B is None else Curves(e.grid, e.control_B)
    subject = (f"specific gain ({e.target_group} − {e.control_group}) vs P(correct)"
               if control is not None else f"gain ({e.target_group}) vs P(correct)")
    out.append(efficient_regime(subject, Curves(e.grid, e.all_target_B),
                                Curves(e.grid, e.all_help_P), kappa, control, resampling=rs))
    if e.random is not None:
        out += random_forms(h_subject, e.random, e.help_estimates, e.hidden_size, rs)
    return out



def random_forms(subject: str, sweeps: RandomSweeps, estimates: Sequence[PromptEstimates],
                 hidden_size: int, rs: Resampling) -> list[ClaimVerdict]:
    """Theorem 2's i.i.d. form (σ = 1/√d, s = λσβ̂ with λ the random directions' RMS ‖Δ̂‖),
    its random-direction form (the real answer geometry U) and Theorem 2′'s spread bound, each
    against the k random directions' sweeps on the prompts with an estimate."""
    by_id = {e.item_id: e for e in estimates if e.correct is not None}
    rows = [i for i, item in enumerate(sweeps.item_ids) if item in by_id]
    if len(rows) < 2:
        why = "fewer than 2 helpfulness prompts with both a random sweep and an estimate"
        return [undecided(n, Kind.CLAIM, subject, "", why)
                for n in ("theorem2_random_forms", "theorem2_random_forms", "theorem2_prime")]
    est = [by_id[sweeps.item_ids[i]] for i in rows]
    lam = sweeps.lam[rows]
    sigma = float(formulas.random_sigma(hidden_size))
    s = np.array([formulas.shift_scale(x, sigma, e.beta_hat) for x, e in zip(lam, est, strict=True)],
                 dtype=float)
    iid = np.array([formulas.iid_c2(e.P0 or 0.0, e.alpha_hat or 0.0, float(x))
                    for e, x in zip(est, s, strict=True)])
    geo = [formulas.random_direction_c2(e.p, e.correct or 0, e.U, float(x))
           for e, x in zip(est, lam, strict=True)]
    bound = np.stack([formulas.spread_bound(e.p, e.correct or 0, float(x), sweeps.grid)
                      for e, x in zip(est, s, strict=True)])
    dirs = DirectionSweeps(sweeps.grid, sweeps.values[:, rows])
    return [random_direction_form(subject, "i.i.d.", dirs, iid, resampling=rs),
            undecided("theorem2_random_forms", Kind.CLAIM, f"{subject} (random direction form)",
                      "", "‖Δ̂‖ = 0 on some prompt") if any(g is None for g in geo) else
            random_direction_form(subject, "random direction", dirs, np.asarray(geo, float),
                                  resampling=rs),
            spread_bound(subject, dirs, bound)]
