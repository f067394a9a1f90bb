"""Per-prompt estimates at r_e = 0 that the fit-free predictions need (no fitted parameter):
the unsteered distribution ``p`` (B_0 or P_0, α̂), the logit shifts ``g = UΔ̂`` of the actual
direction, the answer geometry ``U`` and ‖Δ̂‖, σ̂, β̂, the certified margin γ̂λ̂, and the three
forms of Theorem 2's coefficients. Every formula is a call into ``empirics.formulas``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy.special import logsumexp

from empirics import formulas
from empirics.models import LoadedModel
from empirics.tasks import ScoredPrompt


@dataclass
class PromptEstimates:
    """What the theory needs of one prompt, measured at r_e = 0.

    Behavior prompts fill ``B0`` and ``gamma_lam`` (the certified margin γ̂λ̂; ≤ 0 means
    Theorem 1's precondition fails for this prompt, kept as is); helpfulness prompts fill
    ``P0``, ``alpha_hat``. ``c1_actual``/``c2_actual``: the coefficients of r_e and r_e² the
    exact linear model with the actual shifts gives (theory v2's ``second_order(p, c, mean=g)``;
    for behavior prompts summed over the outcomes with their scores); ``c2_random``: theory v2's
    random-direction c2 with the real geometry ``U``. ``None`` where theory v2 is not merged.
    """

    kind: str                  # "behavior" | "helpfulness"
    item_id: str
    group: str
    z: np.ndarray              # (K,) candidate log-probs (any common offset) at r = 0
    p: np.ndarray              # (K,) unsteered probabilities normalised over the candidates
    g: np.ndarray              # (K,) logit shifts <u_a, Δ>
    cosines: np.ndarray        # (K,) cos(Δ, u_a)
    answer_norms: np.ndarray   # (K,) ‖u_a‖
    U: np.ndarray              # (K, d) answer representations (unembedding rows)
    delta_norm: float          # λ̂ = ‖Δ̂‖
    sigma_hat: float           # std (ddof=1) of the cosines; NaN when K < 2
    beta_hat: float            # RMS of ‖u_a‖
    s: float                   # s = λ̂σ̂β̂ with this prompt's σ̂ (NaN when σ̂ is)
    c1_actual: float | None = None
    c2_actual: float | None = None
    c2_random: float | None = None
    scores: np.ndarray | None = None   # (K,) ±1
    correct: int | None = None
    B0: float | None = None
    gamma_lam: float | None = None
    margin_positive: bool | None = None
    P0: float | None = None
    alpha_hat: float | None = None
    w: np.ndarray | None = None        # (K,) second-order shifts <u_a, Δ₂> (None without Δ₂)
    c2_2r: float | None = None         # Theorem 2R's r² coefficient of B or P(correct) with w
    w_a_minus_w_b: float | None = None  # w of the S+ answer minus the S− one (two outcomes)

    def shift_scale(self, sigma: float) -> float:
        """s = λ̂σβ̂ of this prompt with a given σ (theory's; NaN when σ is)."""
        return _shift_scale(self.delta_norm, sigma, self.beta_hat)

    @property
    def gamma_hat(self) -> float | None:
        """γ̂ = margin per unit ‖Δ̂‖."""
        if self.gamma_lam is None or not self.delta_norm > 0:
            return None
        return self.gamma_lam / self.delta_norm


CSV_FIELDS = ("delta_norm", "gamma_lam", "B0", "P0", "alpha_hat", "sigma_hat", "beta_hat", "s",
              "c1_actual", "c2_actual", "c2_random", "c2_2r", "w_a_minus_w_b")


def _shift_scale(delta_norm: float, sigma: float, beta: float) -> float:
    """``formulas.shift_scale``; NaN where σ is undefined (a prompt with one candidate)."""
    if not math.isfinite(sigma):
        return float("nan")
    return float(formulas.shift_scale(delta_norm, sigma, beta))


def prompt_estimates(prompt: ScoredPrompt, z: np.ndarray, g: np.ndarray, cosines: np.ndarray,
                     answer_norms: np.ndarray, delta_norm: float,
                     U: np.ndarray | None = None, w: np.ndarray | None = None) -> PromptEstimates:
    """Estimates of one prompt from its candidate logits ``z``, shifts ``g`` and geometry;
    ``w`` (K,) = UΔ̂₂ adds Theorem 2R's r² coefficient ``c2_2r``."""
    z = np.asarray(z, dtype=float)
    g = np.asarray(g, dtype=float)
    k = len(prompt.candidate_ids)
    for name, arr in (("z", z), ("g", g), ("cosines", cosines), ("answer_norms", answer_norms)):
        if np.shape(arr) != (k,):
            raise ValueError(f"{name} has shape {np.shape(arr)}, expected ({k},) for {prompt.item_id}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} of prompt {prompt.item_id} contains NaN or inf")
    cos = np.asarray(cosines, dtype=float)
    norms = np.asarray(answer_norms, dtype=float)
    geometry = np.zeros((k, 0)) if U is None else np.asarray(U, dtype=float)
    p = np.exp(z - logsumexp(z))   # the unsteered distribution over the candidates
    sigma = float(np.std(cos, ddof=1)) if k >= 2 else float("nan")
    beta = float(np.sqrt(np.mean(norms**2)))
    base = PromptEstimates(
        kind=prompt.kind, item_id=prompt.item_id, group=prompt.group, z=z, p=p, g=g,
        cosines=cos, answer_norms=norms, U=geometry, delta_norm=float(delta_norm),
        sigma_hat=sigma, beta_hat=beta, s=_shift_scale(float(delta_norm), sigma, beta))
    if prompt.scores is not None:
        scores = np.asarray(prompt.scores, dtype=float)
        if scores.shape != (k,) or not np.all(np.abs(scores) == 1):
            raise ValueError(f"scores of {prompt.item_id} must be ±1 per candidate, got {prompt.scores}")
        if not (scores > 0).any() or not (scores < 0).any():
            raise ValueError(f"prompt {prompt.item_id} needs both S+ and S− candidates")
        gl = formulas.margin(g, scores > 0)
        b0 = formulas.behavior(z, scores > 0)  # theory's B: the linear model's curve at r = 0
        c1, c2 = formulas.behavior_coefficients(p, scores, g)
        return _with_second_order(replace(base, scores=scores, B0=b0, gamma_lam=gl,
                                          margin_positive=gl > 0, c1_actual=c1, c2_actual=c2),
                                  prompt, w)
    if prompt.correct is None or not 0 <= prompt.correct < k:
        raise ValueError(f"prompt {prompt.item_id} has neither scores nor a valid correct index")
    c = int(prompt.correct)
    c1, c2 = formulas.actual_coefficients(p, c, g)
    c2_rand = (formulas.random_direction_c2(p, c, geometry, float(delta_norm))
               if geometry.shape[1] > 0 else None)
    return _with_second_order(replace(base, correct=c, P0=float(p[c]), alpha_hat=formulas.alpha(p, c),
                                      c1_actual=c1, c2_actual=c2, c2_random=c2_rand), prompt, w)


def _with_second_order(e: PromptEstimates, prompt: ScoredPrompt,
                       w: np.ndarray | None) -> PromptEstimates:
    """Theorem 2R's r² coefficient of the prompt's readout with w = UΔ̂₂ (and w_a − w_b on
    two-outcome prompts); unchanged without ``w``."""
    if w is None:
        return e
    w = np.asarray(w, dtype=float)
    if w.shape != e.g.shape or not np.all(np.isfinite(w)):
        raise ValueError(f"w of {prompt.item_id} must be finite with shape {e.g.shape}, got {w.shape}")
    if e.scores is not None:
        scores = e.scores
        _, c2 = formulas.behavior_response_coefficients_2r(e.p, scores, e.g, w)
        gap = float(w[scores > 0][0] - w[scores < 0][0]) if len(scores) == 2 else None
        return replace(e, w=w, c2_2r=float(c2), w_a_minus_w_b=gap)
    assert e.correct is not None
    _, c2 = formulas.helpfulness_response_coefficients(e.p, e.correct, e.g, w)
    return replace(e, w=w, c2_2r=float(c2))


def estimate_prompts(lm: LoadedModel, prompts: Sequence[ScoredPrompt], h0: np.ndarray | torch.Tensor,
                     delta: np.ndarray | torch.Tensor,
                     unsteered_logprobs: np.ndarray | None = None,
                     delta2: np.ndarray | torch.Tensor | None = None) -> list[PromptEstimates]:
    """Per-prompt estimates (the function the planner reuses). With ``unsteered_logprobs``
    ((N, K) sweep log-probs at r = 0, NaN padded) the unsteered distribution is the measured
    one, so predictions at r = 0 equal the measurement exactly; otherwise ``lm_head(h0)``.
    ``delta2`` ``(N, d)``: Δ̂₂ = d²h/dr² at 0, giving w = UΔ̂₂ and Theorem 2R's ``c2_2r``."""
    h0_t = torch.as_tensor(np.asarray(h0)) if not isinstance(h0, torch.Tensor) else h0
    d_t = torch.as_tensor(np.asarray(delta)) if not isinstance(delta, torch.Tensor) else delta
    n = len(prompts)
    if tuple(h0_t.shape[:1]) != (n,) or tuple(d_t.shape) != tuple(h0_t.shape):
        raise ValueError(f"h0 {tuple(h0_t.shape)} and delta {tuple(d_t.shape)} must be ({n}, d)")
    if unsteered_logprobs is not None and np.shape(unsteered_logprobs)[0] != n:
        raise ValueError(f"unsteered_logprobs has {np.shape(unsteered_logprobs)[0]} rows, expected {n}")
    bias = getattr(lm.lm_head, "bias", None)
    out = []
    for i, prompt in enumerate(prompts):
        ids = list(prompt.candidate_ids)
        u = lm.unembedding_rows(ids).double()
        d = d_t[i].double()
        g = (u @ d).numpy()
        norms = u.norm(dim=1).numpy()
        dn = float(d.norm())
        cos = g / (norms * dn) if dn > 0 else np.zeros(len(ids))
        if unsteered_logprobs is not None:
            z = np.asarray(unsteered_logprobs[i][: len(ids)], dtype=float)
        else:
            z = (u @ h0_t[i].double()).numpy()
            if bias is not None:
                z = z + bias.detach().double().cpu().numpy()[ids]
        w = None if delta2 is None else (u @ torch.as_tensor(np.asarray(delta2[i])).double()).numpy()
        out.append(prompt_estimates(prompt, z, g, cos, norms, dn, U=u.numpy(), w=w))
    return out


def pooled_sigma(estimates: Sequence[PromptEstimates]) -> float:
    """Pooled within-prompt std of cosines: sqrt(Σ_i Σ_a (c_ia − c̄_i)² / Σ_i (K_i − 1))."""
    ss, dof = 0.0, 0
    for e in estimates:
        if len(e.cosines) >= 2:
            ss += float(((e.cosines - e.cosines.mean()) ** 2).sum())
            dof += len(e.cosines) - 1
    if dof == 0:
        raise ValueError("no prompt has two or more candidates: σ̂ is undefined")
    return math.sqrt(ss / dof)


def iid_c2(estimates: Sequence[PromptEstimates], sigma: float) -> np.ndarray:
    """Per-prompt i.i.d. Theorem 2 c2 = −α̂P_0(λ̂σβ̂)² with a common σ (theory's expansion)."""
    return np.array([formulas.iid_c2(e.P0 or 0.0, e.alpha_hat or 0.0, e.shift_scale(sigma))
                     for e in estimates])
