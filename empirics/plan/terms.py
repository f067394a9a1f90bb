"""Per-prompt terms of one candidate: the behavior prompts' from the reverse-mode shifts, the
helpfulness prompts' from ``estimates.estimate_prompts`` with the second-order response."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from empirics import formulas
from empirics.engine import LowerPass
from empirics.estimates import estimate_prompts
from empirics.jvp import delta_jvp
from empirics.models import LoadedModel
from empirics.plan.response import response_step, second_response
from empirics.plan.shifts import LayerShifts
from empirics.plan.windows import Candidate
from empirics.tasks import ScoredPrompt


@dataclass
class CandidateTerms:
    """Per-prompt terms of one candidate."""

    B0: np.ndarray          # (Nb,)
    slope: np.ndarray       # (Nb,) γ̂λ̂(1 − B_0²)
    zb: list[np.ndarray]    # behavior prompts' candidate logits and shifts, for the gain curve
    gb: list[np.ndarray]
    pos: list[np.ndarray]
    c1: np.ndarray          # (Nh,) actual Δ
    c2: np.ndarray          # (Nh,) actual Δ
    c2_random: np.ndarray   # (Nh,) random direction of the prompt's ‖Δ‖ with its geometry
    c2_response: np.ndarray  # (Nh,) actual Δ plus ½∇ᵀΔ₂ (second-order response)
    beta: np.ndarray        # (Nh,) RMS answer norm
    lam: np.ndarray         # (Nh,) ‖Δ_W‖ by central differences
    zh: list[np.ndarray]    # helpfulness prompts' candidate logits, shifts g = UΔ, g2 = UΔ₂
    gh: list[np.ndarray]
    g2h: list[np.ndarray]
    correct: list[int]
    curl: np.ndarray        # (Nh,) ‖Δ₂‖/‖Δ‖: 1/r where the second-order term ½r²Δ₂ is ½ of rΔ
    step: float
    jvp_check: float
    hidden_size: int
    response_seconds: float = 0.0   # time of the ±h forwards


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-12))


def candidate_terms(lm: LoadedModel, cand: Candidate, vectors: Mapping[int, torch.Tensor],
                    behavior: Sequence[ScoredPrompt], help_prompts: Sequence[ScoredPrompt],
                    shifts_b: LayerShifts, help_h0: np.ndarray, n_check: int = 0, *,
                    batch_size: int = 16, lower: LowerPass | None = None) -> CandidateTerms:
    """Per-prompt terms: behavior terms from the reverse-mode shifts; helpfulness terms from
    ``estimates.estimate_prompts`` with ``second_response``'s Δ, plus its Δ₂. ``n_check``
    prompts of each kind also get ``delta_jvp``: the exact Δ checks the reverse-mode shifts
    (behavior) and the central-difference Δ (helpfulness); ``jvp_check`` is the worst relative
    difference (NaN when ``n_check`` is 0)."""
    zb = [shifts_b.z[i] for i in range(len(behavior))]
    gb = [shifts_b.window(i, cand) for i in range(len(behavior))]
    pos = []
    for p in behavior:
        if p.scores is None:
            raise ValueError(f"prompt {p.item_id} has no behavior scores")
        pos.append(np.asarray(p.scores) > 0)
    b0 = np.array([formulas.behavior(z, m) for z, m in zip(zb, pos, strict=True)])
    gl = np.array([formulas.margin(g, m) for g, m in zip(gb, pos, strict=True)])
    slope = formulas.gain_slopes(b0, gl)
    sub = {layer: vectors[layer] for layer in cand.layers}
    ub = [lm.unembedding_rows(list(p.candidate_ids)).double().numpy() for p in behavior]
    step = response_step(shifts_b, cand, [np.linalg.norm(u, axis=1) for u in ub])
    resp = second_response(lm, sub, help_prompts, step, help_h0, batch_size=batch_size,
                           lower=lower)
    est = estimate_prompts(lm, help_prompts, resp.h0, resp.delta)
    checks = []
    for i in range(min(n_check, len(behavior), len(help_prompts))):
        _, db = delta_jvp(lm, sub, [list(behavior[i].input_ids)])
        checks.append(_rel(gb[i], ub[i] @ db[0].double().numpy()))
        _, dh = delta_jvp(lm, sub, [list(help_prompts[i].input_ids)])
        checks.append(_rel(resp.delta[i], dh[0].double().numpy()))
    c1, c2, c2r, c2s, g2h, correct = [], [], [], [], [], []
    for i, e in enumerate(est):
        assert e.c1_actual is not None and e.c2_actual is not None and e.correct is not None
        g2 = e.U @ resp.delta2[i]
        c1.append(e.c1_actual)
        c2.append(e.c2_actual)
        c2r.append(e.c2_random if e.c2_random is not None else float("nan"))
        c2s.append(formulas.response_coefficients(e.p, e.correct, e.g, g2)[1])
        g2h.append(g2)
        correct.append(e.correct)
    return CandidateTerms(
        b0, slope, zb, gb, pos, np.array(c1), np.array(c2), np.array(c2r), np.array(c2s),
        np.array([e.beta_hat for e in est]), np.array([e.delta_norm for e in est]),
        [e.z for e in est], [e.g for e in est], g2h, correct,
        np.linalg.norm(resp.delta2, axis=1) / np.maximum(np.linalg.norm(resp.delta, axis=1), 1e-30),
        step,
        max(checks) if checks else float("nan"), lm.hidden_size, resp.seconds)
