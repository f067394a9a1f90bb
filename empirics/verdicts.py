"""One behavior's verdicts from ``empirics.claims`` (docs/claims.md has the rules, their
bands and their calibration).

Consistency checks (the implementation): ``first_order_consistency`` — the JVP slope of each
prompt (c1 of the actual Δ̂) vs the sweep's slope at 0, for B of the target prompts and for
P(correct). Claims (the theory against the model): ``curvature_2r`` (Theorem 2R's r²
coefficient with w = UΔ̂₂, for B and for P(correct)), ``theorem1_departure`` and
``theorem1_curve`` (Theorem 1 on the two-outcome target prompts) and ``efficient_regime``
(with the control group's B when there is one: the specific gain). Inputs are per-prompt
matrices, prompts × coefficients ``(N, C)``; no verdict rests on a fitted curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from empirics import formulas
from empirics.claims import (
    ClaimVerdict,
    Curves,
    Kind,
    Resampling,
    curvature_2r,
    departure,
    efficient_regime,
    first_order_consistency,
    tanh_curve,
)
from empirics.claims.cases import TANH_RADIUS
from empirics.claims.theorem1 import DEPARTURE_THRESHOLD
from empirics.claims.verdict import undecided
from empirics.estimates import PromptEstimates
from empirics.evidence import Evidence


def _values(estimates: Sequence[PromptEstimates], field: str) -> np.ndarray | None:
    """``(N,)`` of one estimate field, None when a prompt lacks it."""
    vals = [getattr(e, field) for e in estimates]
    return None if any(v is None for v in vals) else np.asarray(vals, dtype=float)


def theorem1(subject: str, grid: np.ndarray, B: np.ndarray,
             estimates: Sequence[PromptEstimates], rs: Resampling) -> list[ClaimVerdict]:
    """``theorem1_departure`` and ``theorem1_curve`` on the two-outcome prompts (those with
    w_a − w_b), each from its γ̂λ̂ and B₀; the departure radius is Theorem 1 to second order."""
    rows = [i for i, e in enumerate(estimates) if e.w_a_minus_w_b is not None]
    if len(rows) < 2:
        why = "fewer than 2 two-outcome prompts with Δ̂₂"
        return [undecided("theorem1_departure", Kind.CLAIM, subject, "", why),
                undecided("theorem1_curve", Kind.CLAIM, subject, "", why)]
    est = [estimates[i] for i in rows]
    gl = np.array([e.gamma_lam for e in est], dtype=float)
    b0 = np.array([e.B0 for e in est], dtype=float)
    gap = np.array([e.w_a_minus_w_b for e in est], dtype=float)
    radius = formulas.departure_radius(b0, gl, gap, DEPARTURE_THRESHOLD)
    curves = Curves(grid, B[rows])
    return [departure(subject, curves, gl, radius, np.sign(gap), resampling=rs),
            tanh_curve(subject, curves, gl, TANH_RADIUS, resampling=rs)]


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
            pred = _values(est, field)
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
    return out

