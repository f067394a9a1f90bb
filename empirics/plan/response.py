"""The helpfulness prompts' second-order response at r = 0, per candidate.

The measured loss is mostly second-order response (reading vectors are nearly neutral to answer
tokens to first order). Per candidate, two forwards per helpfulness prompt at r = ±h
(``sweep.sweep``, the verification's own path, from the candidate's first steered layer up: one
lower pass of every layer serves all candidates) and one shared forward at r = 0 give Δ and
Δ₂ = d²h/dr² at 0 by central differences; Δ₂ is not additive over layers, so this is per
candidate. ``jvp.delta2_jvp`` gives both exactly (nested forward mode, about 2.5 JVPs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from empirics import formulas
from empirics.engine import LowerPass, fast_path_reason
from empirics.models import LoadedModel
from empirics.plan.shifts import LayerShifts
from empirics.plan.windows import Candidate
from empirics.sweep import layer_inputs, sweep
from empirics.tasks import ScoredPrompt


def shift_scale(g: np.ndarray, answer_norms: np.ndarray) -> float:
    """``s = λσ̂β̂`` of one prompt (``formulas.shift_scale``): σ̂ the std (ddof=1) of
    cos(Δ, u_a), β̂ the RMS ‖u_a‖. λσ̂ is estimated at once as the std of g_a/‖u_a‖, so s needs
    no ‖Δ‖."""
    if len(g) < 2:
        return float("nan")
    lam_sigma = float(np.std(g / answer_norms, ddof=1))
    beta = float(np.sqrt(np.mean(answer_norms**2)))
    return float(formulas.shift_scale(1.0, lam_sigma, beta))


# ------------------------------------------------------------- second-order response at r = 0
#: The finite-difference step puts the candidate's answer-logit spread (on the behavior prompts,
#: from the reverse-mode shifts) at s·h = RESPONSE_STEP, a tenth of the second-order model's
#: validity limit s·r ≤ 0.5: small enough for the O(h²) error of central differences, large
#: enough that fp32 rounding divided by h² stays below the curvatures that matter. (On SmolLM2
#: the predicted curvatures change by < 1% between 0.25× and 4× this step.)
RESPONSE_STEP = 0.05


@dataclass
class SecondResponse:
    """Per prompt (rows), the final-norm output at the last position from forwards at r = ±h
    along the candidate's vectors (``sweep.sweep``) and at r = 0 (shared by all candidates):
    central differences ``delta`` ≈ Δ = dh/dr and ``delta2`` ≈ Δ₂ = d²h/dr² at 0 (Proposition
    1's remainder, to second order)."""

    step: float
    h0: np.ndarray        # (N, d)
    delta: np.ndarray     # (N, d)
    delta2: np.ndarray    # (N, d)
    seconds: float


def _final_hidden(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                  prompts: Sequence[ScoredPrompt], coefficients: Sequence[float],
                  batch_size: int, lower: LowerPass | None = None) -> np.ndarray:
    """(C, N, d) float64 final-norm outputs of ``sweep.sweep`` (the verification's own path;
    ``lower``: its lower pass of these prompts)."""
    if not prompts:
        raise ValueError("prompts is empty")
    res = sweep(lm, vectors, list(coefficients), [list(p.input_ids) for p in prompts],
                [list(p.candidate_ids) for p in prompts], batch_size=batch_size, keep_hidden=True,
                lower=lower)
    assert res.final_hidden is not None
    return res.final_hidden.astype(np.float64)


def help_inputs(lm: LoadedModel, prompts: Sequence[ScoredPrompt], *,
                batch_size: int = 16) -> LowerPass | None:
    """The unsteered input of every layer for ``prompts`` (``sweep.layer_inputs``: one lower
    pass shared by all candidates' ±h forwards, which then start at their first steered layer);
    ``None`` for models the engine has no adapter for (each sweep then runs every layer)."""
    ids = [list(p.input_ids) for p in prompts]
    if not ids or fast_path_reason(lm, max(len(x) for x in ids)) is not None:
        return None
    return layer_inputs(lm, ids, batch_size=batch_size)


def unsteered_hidden(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                     prompts: Sequence[ScoredPrompt], *, batch_size: int = 16,
                     lower: LowerPass | None = None) -> np.ndarray:
    """(N, d) final-norm outputs at r = 0, through the same sweep path as the ±h forwards (so
    the second differences see the same code). With ``lower`` (``help_inputs``) only the last
    layer runs, from the cached input."""
    if lower is not None:
        top = lm.num_layers - 1
        vectors = {top: vectors[top]}
    return _final_hidden(lm, vectors, prompts, [0.0], batch_size, lower)[0]


def second_response(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                    prompts: Sequence[ScoredPrompt], step: float, h0: np.ndarray, *,
                    batch_size: int = 16, lower: LowerPass | None = None) -> SecondResponse:
    """Central first and second differences of the final hidden state at r = 0 with step h;
    ``h0`` (N, d) from ``unsteered_hidden``: two forwards per prompt per candidate, from the
    candidate's first steered layer up when ``lower`` (``help_inputs``) is given."""
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step {step} must be finite and > 0")
    if np.shape(h0) != (len(prompts), lm.hidden_size):
        raise ValueError(f"h0 has shape {np.shape(h0)}, expected ({len(prompts)}, {lm.hidden_size})")
    t0 = time.perf_counter()
    lo, hi = _final_hidden(lm, vectors, prompts, [-step, step], batch_size, lower)
    h0 = np.asarray(h0, dtype=np.float64)
    return SecondResponse(step, h0, (hi - lo) / (2 * step), (hi - 2 * h0 + lo) / step**2,
                          time.perf_counter() - t0)


def response_step(shifts: LayerShifts, cand: Candidate, norms: Sequence[np.ndarray]) -> float:
    """h = RESPONSE_STEP / s̄, s̄ the mean actual shift scale λσ̂β̂ of the prompts of ``shifts``
    (reverse mode; ``norms[i]`` the answer norms of prompt i)."""
    s = np.array([shift_scale(shifts.window(i, cand), n) for i, n in enumerate(norms)])
    s = s[np.isfinite(s)]
    if s.size == 0 or not float(s.mean()) > 0:
        raise ValueError(f"candidate {cand.name}: the steering shifts no answer logit "
                         "(zero shift scale), so no finite-difference step can be chosen")
    return RESPONSE_STEP / float(s.mean())
