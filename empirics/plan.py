"""The steering planner's computation: candidates, per-layer logit shifts, predictions, checks.

Which layers, and how strong? For a candidate set of consecutive layers ``W`` the theory needs
only the response at r_e = 0. Proposition 1 makes the linear part additive over layers,
``Δ_W(q) = Σ_{l∈W} J_{L←l}(q) v_l``, so the behavior prompts' logit shifts ``g_a = <u_a, Δ_W>`` of
*every* candidate are sums of per-layer shifts ``G[l, a] = <u_a, J_{L←l} v_l>``, from one forward
and K backward passes per prompt (reverse mode: ``∂z_a/∂r_l`` for all layers at once).

Helpfulness needs more than the linear part: the measured loss is mostly second-order response
(reading vectors are nearly neutral to answer tokens to first order). Per candidate, two
forwards per helpfulness prompt at r = ±h (``sweep.sweep``, the verification's own path) and one
shared forward at r = 0 give Δ and Δ₂ = d²h/dr² at 0 by central differences; Δ₂ is not additive
over layers, so this is per candidate. All formulas come through ``empirics.formulas``:

* gain slope ``γ̂λ̂(1 − B_0²)`` (Theorem 1's r_e coefficient; γ̂λ̂ the certified margin of the
  shifts), mean over the behavior prompts;
* helpfulness terms by ``estimates.estimate_prompts`` (Theorem 2 with the actual Δ: c1, c2;
  random direction of ‖Δ‖ with the real geometry), plus the response form
  ``c2 = ½gᵀHc g + ½∇ᵀ(UΔ₂)`` (``formulas.response_coefficients``); loss curvature ``ℓ₂ = −c2``;
* U(r) = exact linear-model gain − κ·loss, loss quadratic ``−c1 r + ℓ₂ r²`` (Corollary) or the
  exact softmax of the second-order logits; maximised over r > 0; ``tradeoff.general`` for the
  second-order r* and its validity (``s r* ≤ 0.5``).
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from empirics import formulas
from empirics.jvp import delta_jvp
from empirics.models import LoadedModel, pad_id_of, pad_token_batch
from empirics.results import PlanLink
from empirics.sources import resolve_source
from empirics.steering import steer
from empirics.sweep import LayerInputs, sweep_cost
from empirics.tasks import ScoredPrompt


# ------------------------------------------------------------------------------- candidates
@dataclass(frozen=True)
class Candidate:
    """A set of consecutive steered layers."""

    layers: tuple[int, ...]

    @property
    def name(self) -> str:
        lo, hi = self.layers[0], self.layers[-1]
        return f"{lo}" if lo == hi else f"{lo}-{hi}"

    @property
    def centre(self) -> float:
        return (self.layers[0] + self.layers[-1]) / 2

    @property
    def width(self) -> int:
        return len(self.layers)


def candidates(num_layers: int, widths: Sequence[int] | None = None,
               per_width: int | None = None) -> list[Candidate]:
    """Windows of consecutive layers over the depth: for each width, ``per_width`` windows with
    evenly spaced starts (first at 0, last ending at the top), single layers included.

    Defaults scale with depth: widths 1, ⌈n/10⌉, ⌈n/5⌉, ⌈n/3⌉ (distinct, ≤ n) and 8 single layers
    / 5 windows per other width (at most as many as fit). 30 layers: 8 + 5 + 5 + 5 = 23.
    """
    if num_layers < 1:
        raise ValueError(f"num_layers {num_layers} must be >= 1")
    if widths is None:
        widths = sorted({1, *(max(1, math.ceil(num_layers / k)) for k in (10, 5, 3))})
    out: list[Candidate] = []
    seen: set[tuple[int, ...]] = set()
    for w in widths:
        if not 1 <= w <= num_layers:
            raise ValueError(f"window width {w} must be in [1, {num_layers}]")
        n = per_width if per_width is not None else (8 if w == 1 else 5)
        slots = num_layers - w + 1
        starts = sorted({int(round(x)) for x in np.linspace(0, slots - 1, min(n, slots))})
        for s in starts:
            layers = tuple(range(s, s + w))
            if layers not in seen:
                seen.add(layers)
                out.append(Candidate(layers))
    return out


# ------------------------------------------------------------------ per-layer logit shifts
@dataclass
class LayerShifts:
    """Per prompt: candidate logits ``z`` (K,) at r = 0 and per-layer shifts ``G`` (L, K) with
    ``G[l, a] = ∂z_a/∂r_l`` for steering layer l alone along its reading vector."""

    layers: tuple[int, ...]
    z: list[np.ndarray]
    G: list[np.ndarray]

    def window(self, i: int, cand: Candidate) -> np.ndarray:
        """Logit shifts of prompt ``i`` for candidate ``cand`` (Proposition 1: Δ is additive)."""
        idx = [self.layers.index(layer) for layer in cand.layers]
        return self.G[i][idx].sum(axis=0)


@contextmanager
def _frozen_parameters(model: torch.nn.Module) -> Iterator[None]:
    """Parameters temporarily out of autograd (only the steering coefficients need gradients)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def layer_shifts(lm: LoadedModel, prompts: Sequence[ScoredPrompt],
                 vectors: Mapping[int, torch.Tensor], *, batch_size: int = 8) -> LayerShifts:
    """Per-layer logit shifts of every prompt by reverse mode: one forward with a zero
    coefficient per (row, layer) and one backward per candidate position."""
    if not prompts:
        raise ValueError("prompts is empty")
    layers = tuple(sorted(int(k) for k in vectors))
    base = getattr(lm.model, "base_model", lm.model)
    weight = lm.lm_head.weight
    assert isinstance(weight, torch.Tensor)
    bias = getattr(lm.lm_head, "bias", None)
    pad = pad_id_of(lm.tokenizer)
    zs: list[np.ndarray] = [np.empty(0)] * len(prompts)
    gs: list[np.ndarray] = [np.empty(0)] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].input_ids))
    captured: list[torch.Tensor] = []

    def grab(_m: torch.nn.Module, _i: object, out: object) -> None:
        captured.append(out[0] if isinstance(out, tuple) else out)  # type: ignore[arg-type]

    with _frozen_parameters(lm.model), torch.enable_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            seqs = [list(prompts[i].input_ids) for i in rows]
            ids, mask = pad_token_batch(seqs, pad)
            n = len(rows)
            coefs = [torch.zeros(n, dtype=lm.dtype, device=lm.device, requires_grad=True)
                     for _ in layers]
            captured.clear()
            with ExitStack() as stack:
                for layer, c in zip(layers, coefs, strict=True):
                    stack.enter_context(steer(lm, {layer: vectors[layer]}, c))
                handle = lm.final_norm.register_forward_hook(grab)
                stack.callback(handle.remove)
                base(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), use_cache=False)
            last = torch.tensor([len(s) - 1 for s in seqs], device=lm.device)
            h = captured[-1][torch.arange(n, device=lm.device), last]          # (n, d)
            k_max = max(len(prompts[i].candidate_ids) for i in rows)
            cand = torch.zeros((n, k_max), dtype=torch.long)
            valid = torch.zeros((n, k_max), dtype=lm.dtype)
            for j, i in enumerate(rows):
                k = len(prompts[i].candidate_ids)
                cand[j, :k] = torch.as_tensor(prompts[i].candidate_ids)
                valid[j, :k] = 1
            cand, valid = cand.to(lm.device), valid.to(lm.device)
            u = weight[cand]                                                      # (n, K, d)
            z = torch.einsum("nkd,nd->nk", u, h)
            if bias is not None:
                z = z + bias[cand]
            grads = np.zeros((n, len(layers), k_max))
            for a in range(k_max):
                out = (z[:, a] * valid[:, a]).sum()
                gr = torch.autograd.grad(out, coefs, retain_graph=a < k_max - 1)
                grads[:, :, a] = torch.stack(gr, dim=1).detach().double().cpu().numpy()
            zn = z.detach().double().cpu().numpy()
            for j, i in enumerate(rows):
                k = len(prompts[i].candidate_ids)
                zs[i] = zn[j, :k]
                gs[i] = grads[j, :, :k]
    return LayerShifts(layers, zs, gs)


# --------------------------------------------------------------------------- per-prompt terms
def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def shift_scale(g: np.ndarray, answer_norms: np.ndarray) -> float:
    """``s = λσ̂β̂`` of one prompt: σ̂ the std (ddof=1) of cos(Δ, u_a), β̂ the RMS ‖u_a‖. λσ̂ is the
    std of g_a/‖u_a‖, so s needs no ‖Δ‖."""
    if len(g) < 2:
        return float("nan")
    return float(np.std(g / answer_norms, ddof=1) * np.sqrt(np.mean(answer_norms**2)))


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
                  batch_size: int, lower: LayerInputs | None = None) -> np.ndarray:
    """(C, N, d) float64 final-norm outputs of ``sweep.sweep`` (the verification's own path;
    ``lower``: its cached unsteered layer inputs of these prompts)."""
    from empirics.sweep import sweep

    if not prompts:
        raise ValueError("prompts is empty")
    res = sweep(lm, vectors, list(coefficients), [list(p.input_ids) for p in prompts],
                [list(p.candidate_ids) for p in prompts], batch_size=batch_size, keep_hidden=True,
                lower=lower)
    assert res.final_hidden is not None
    return res.final_hidden.astype(np.float64)


def help_inputs(lm: LoadedModel, prompts: Sequence[ScoredPrompt], *,
                batch_size: int = 16) -> LayerInputs | None:
    """The unsteered input of every layer for ``prompts`` (``sweep.layer_inputs``: one forward
    shared by all candidates' ±h forwards, which then start at their first steered layer);
    ``None`` for models without the fast sweep path (each sweep then runs every layer)."""
    from empirics.forward import manual_support
    from empirics.sweep import layer_inputs

    ids = [list(p.input_ids) for p in prompts]
    if not ids or manual_support(lm, max(len(x) for x in ids)) is not None:
        return None
    return layer_inputs(lm, ids, batch_size=batch_size)


def unsteered_hidden(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                     prompts: Sequence[ScoredPrompt], *, batch_size: int = 16,
                     lower: LayerInputs | None = None) -> np.ndarray:
    """(N, d) final-norm outputs at r = 0, through the same sweep path as the ±h forwards (so
    the second differences see the same code). With ``lower`` (``help_inputs``) only the last
    layer runs, from the cached input."""
    if lower is not None:
        top = lm.num_layers - 1
        vectors = {top: vectors[top]}
    return _final_hidden(lm, vectors, prompts, [0.0], batch_size, lower)[0]


def second_response(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                    prompts: Sequence[ScoredPrompt], step: float, h0: np.ndarray, *,
                    batch_size: int = 16, lower: LayerInputs | None = None) -> SecondResponse:
    """Central first and second differences of the final hidden state at r = 0 with step h;
    ``h0`` (N, d) from ``unsteered_hidden``: two forwards per prompt per candidate, from the
    candidate's first steered layer up when ``lower`` (``help_inputs``) is given."""
    import time

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


# ----------------------------------------------------------------------------- predictions
@dataclass
class Interval:
    """A value with its 95% interval."""

    value: float
    lo: float
    hi: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "lo": self.lo, "hi": self.hi}


#: Loss-curvature forms: Theorem 2 with the actual Δ plus the second-order response ∇ᵀΔ₂/2
#: ("response"), a random direction of each prompt's ‖Δ‖ with the real geometry ("random"),
#: the actual Δ alone, ½gᵀHc g ("actual").
CURVATURE_FORMS = ("response", "random", "actual")


@dataclass(frozen=True)
class PerForm:
    """One number per curvature form, in CURVATURE_FORMS order (e.g. a candidate's U*)."""

    response: float
    random: float
    actual: float

    def of(self, form: str) -> float:
        if form not in CURVATURE_FORMS:
            raise ValueError(f"curvature form {form!r} must be one of {CURVATURE_FORMS}")
        return float(getattr(self, form))


@dataclass
class Prediction:
    """Predicted tradeoff of one candidate for one behavior (means over the prompt sample, 95%
    percentile-bootstrap CIs over prompts, behavior and helpfulness prompts resampled apart).

    ``utility`` / ``r_star``: the maximum over r > 0 of U(r) = mean gain of the exact linear model
    (``alignment.behavior(z + r g)`` − B_0, = Theorem 1's tanh at equality for two outcomes)
    − κ (−c1 r + ℓ₂ r²), ℓ₂ from the form named by ``curvature_form``. ``r_star_second_order`` /
    ``valid`` / ``note``: ``tradeoff.general`` with ``s`` (its validity s·r* ≤ 0.5);
    ``r_star_valid`` = min(r*, 0.5/s)."""

    candidate: Candidate
    gain_slope: Interval          # γ̂λ̂(1 − B_0²)
    help_slope: Interval          # c1 of P(correct), actual Δ
    curvature: Interval           # ℓ₂ = −c2, actual Δ
    curvature_random: Interval    # ℓ₂ of the random-direction form (each prompt's λ)
    curvature_response: Interval  # ℓ₂ of the actual Δ plus the second-order response
    curvature_form: str           # the one U uses (CURVATURE_FORMS)
    loss_form: str                # LOSS_FORMS: quadratic in r, or softmax of second-order logits
    s: float                      # λ̄ β̄/√d: the random-direction shift scale (validity)
    gain_scale: float             # 1/mean γ̂λ̂: where the gain leaves its linear regime
    efficiency: float             # (g1 + κc1)²/ℓ₂ = 4κ U*₂ (scale-free)
    r_star: float
    r_star_valid: float
    r_star_second_order: float
    valid: bool
    utility: Interval
    utilities: PerForm            # U* with each curvature form and the quadratic loss
    utility_softmax: float        # U* with the softmax loss
    note: str
    step: float                   # finite-difference step h of the second-order response
    jvp_check: float              # worst relative difference to the JVP (NaN without checks)
    lam: float                    # mean ‖Δ_W‖ over the helpfulness prompts
    rank: int = 0

    def curvature_of(self, form: str) -> Interval:
        return {"response": self.curvature_response, "random": self.curvature_random,
                "actual": self.curvature}[form]


def _ci(samples: np.ndarray, value: float) -> Interval:
    ok = samples[np.isfinite(samples)]
    if ok.size == 0:
        return Interval(value, float("nan"), float("nan"))
    lo, hi = np.quantile(ok, [0.025, 0.975])
    return Interval(value, float(lo), float(hi))


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
                    batch_size: int = 16, lower: LayerInputs | None = None) -> CandidateTerms:
    """Per-prompt terms: behavior terms from the reverse-mode shifts; helpfulness terms from
    ``estimates.estimate_prompts`` with ``second_response``'s Δ, plus its Δ₂. ``n_check``
    prompts of each kind also get ``delta_jvp``: the exact Δ checks the reverse-mode shifts
    (behavior) and the central-difference Δ (helpfulness); ``jvp_check`` is the worst relative
    difference (NaN when ``n_check`` is 0)."""
    from empirics.estimates import estimate_prompts

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


def gain_curves(t: CandidateTerms, r: np.ndarray) -> np.ndarray:
    """(Nb, R): B(r) − B_0 of the exact linear model, ``alignment.behavior(z + r g)``."""
    return np.stack([formulas.behavior_values(z[None] + r[:, None] * g[None], m) - b
                     for z, g, m, b in zip(t.zb, t.gb, t.pos, t.B0, strict=True)])


def softmax_loss_curves(t: CandidateTerms, r: np.ndarray) -> np.ndarray:
    """(Nh, R): P_0 − P(c) with P the exact softmax of the second-order logit path
    z + r g + (r²/2) g2 (``formulas.response_curve``): the helpfulness twin of the gain's exact
    linear model; its r and r² coefficients are c1 and c2_response."""
    return np.stack([formulas.response_curve(z, c, g, g2, np.zeros(1))[0]
                     - formulas.response_curve(z, c, g, g2, r)
                     for z, c, g, g2 in zip(t.zh, t.correct, t.gh, t.g2h, strict=True)])


def _optimum(gain: np.ndarray, c1: float, l2: float, kappa: float, r: np.ndarray) -> tuple[float, float]:
    """``(r*, U*)`` of U(r) = gain(r) − κ(−c1 r + ℓ₂ r²) on the grid ``r`` (0 if U ≤ 0 throughout)."""
    # The exact gain plus the second-order helpfulness terms: U = G + (κc1 r − κℓ₂ r²), the
    # latter the Corollary's general utility with slope κc1.
    return _best(gain + formulas.general_utility(kappa * c1, l2, kappa, r), r)


def _best(u: np.ndarray, r: np.ndarray) -> tuple[float, float]:
    i = int(np.argmax(u))
    return (float(r[i]), float(u[i])) if u[i] > 0 else (0.0, 0.0)


#: How U's helpfulness loss is modelled: the exact softmax of the second-order logits
#: ("softmax", bounded by P_0 like the real loss; its curvature at 0 is the response form's) or
#: the Corollary's quadratic −c1 r + ℓ₂ r² ("quadratic", ℓ₂ from the curvature form; unbounded
#: in r, and without a maximum where ℓ₂ ≤ 0, as for SmolLM2's earliest layers).
LOSS_FORMS = ("softmax", "quadratic")


def predict(cand: Candidate, t: CandidateTerms, kappa: float, *, curvature: str = "response",
            loss: str = "softmax", n_boot: int = 500, seed: int = 0) -> Prediction:
    """Candidate-level prediction from its per-prompt terms."""
    if curvature not in CURVATURE_FORMS:
        raise ValueError(f"curvature form {curvature!r} must be one of {CURVATURE_FORMS}")
    if loss not in LOSS_FORMS:
        raise ValueError(f"loss form {loss!r} must be one of {LOSS_FORMS}")
    if loss == "softmax" and curvature != "response":
        raise ValueError("the softmax loss is the response form's: use curvature 'response'")
    gl = np.abs(t.slope / np.maximum(1 - t.B0**2, 1e-12))
    scale = 1.0 / max(float(gl.mean()), 1e-12)
    r = np.geomspace(1e-3, 1e2, 321) * scale
    gain = gain_curves(t, r)
    soft = softmax_loss_curves(t, r)
    forms = {"response": -t.c2_response, "random": -t.c2_random, "actual": -t.c2}
    use = forms[curvature]
    if not np.all(np.isfinite(use)):
        raise ValueError(f"candidate {cand.name}: the {curvature} curvature is not finite "
                         "on every helpfulness prompt")
    c1 = float(t.c1.mean())
    g1 = float(t.slope.mean() + kappa * c1)

    def optimum(ib: np.ndarray | slice, ih: np.ndarray | slice) -> tuple[float, float]:
        if loss == "softmax":
            return _best(gain[ib].mean(0) - kappa * soft[ih].mean(0), r)
        return _optimum(gain[ib].mean(0), float(t.c1[ih].mean()), float(use[ih].mean()), kappa, r)

    everything = slice(None)
    r_star, u_star = optimum(everything, everything)
    each = {f: (_optimum(gain.mean(0), c1, float(v.mean()), kappa, r)[1]
                if np.all(np.isfinite(v)) else float("nan")) for f, v in forms.items()}
    u_soft = _best(gain.mean(0) - kappa * soft.mean(0), r)[1]
    lam_bar = float(t.lam.mean()) if t.lam.size else float("nan")
    s = lam_bar * float(t.beta.mean()) / math.sqrt(t.hidden_size)
    so = formulas.second_order_optimum(g1, float(use.mean()), kappa,
                                       s if math.isfinite(s) else None)
    edge = formulas.VALID_LIMIT / s if math.isfinite(s) and s > 0 else math.inf
    rng = np.random.default_rng(seed)
    nb, nh = len(t.slope), len(t.c1)
    boot = np.full((n_boot, 6), np.nan)
    for k in range(n_boot):
        ib, ih = rng.integers(0, nb, nb), rng.integers(0, nh, nh)
        boot[k] = (t.slope[ib].mean(), t.c1[ih].mean(), forms["actual"][ih].mean(),
                   forms["random"][ih].mean(), forms["response"][ih].mean(), optimum(ib, ih)[1])
    l2u = float(use.mean())
    eff = g1 * g1 / l2u if l2u > 0 and g1 > 0 else (math.inf if g1 > 0 else 0.0)
    return Prediction(
        candidate=cand, gain_slope=_ci(boot[:, 0], float(t.slope.mean())),
        help_slope=_ci(boot[:, 1], c1),
        curvature=_ci(boot[:, 2], float(forms["actual"].mean())),
        curvature_random=_ci(boot[:, 3], float(forms["random"].mean())),
        curvature_response=_ci(boot[:, 4], float(forms["response"].mean())),
        curvature_form=curvature, loss_form=loss, s=s, gain_scale=scale, efficiency=eff,
        r_star=r_star, r_star_valid=min(r_star, edge),
        r_star_second_order=so.r_star if so is not None else float("nan"),
        valid=r_star <= edge, utility=_ci(boot[:, 5], u_star),
        utilities=PerForm(each["response"], each["random"], each["actual"]),
        utility_softmax=u_soft,
        note=so.note if so is not None else "second-order optimum undefined (non-finite input)",
        step=t.step, jvp_check=t.jvp_check, lam=lam_bar)


def rank(predictions: Sequence[Prediction]) -> list[Prediction]:
    """Highest predicted U (within validity) first; ties broken by efficiency, then name."""
    out = sorted(predictions, key=lambda p: (-p.utility.value, -p.efficiency, p.candidate.name))
    for i, p in enumerate(out):
        p.rank = i + 1
    return out


# ----------------------------------------------------------------------------- verification
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
    extra: dict[str, float] = field(default_factory=dict)


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
    from empirics.fits import fit_local_polynomial

    r = np.asarray(coefficients, dtype=float)
    zero = int(np.flatnonzero(r == 0)[0])
    fb = fit_local_polynomial(r, b_curves, slope_window, bootstrap=n_boot, seed=seed)
    fp = fit_local_polynomial(r, p_curves, curvature_window, bootstrap=n_boot, seed=seed)

    def util(b: np.ndarray, p: np.ndarray) -> np.ndarray:
        gain = b.mean(0) - b.mean(0)[zero]
        loss = p.mean(0)[zero] - p.mean(0)
        return gain - kappa * loss

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
        r_star=float(r[best]), utility=_ci(boots, float(u[best])),
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
    from scipy.stats import spearmanr

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
        spearman_u=_ci(np.array(bu), _spearman(pu, mu)),
        spearman_slope=_ci(np.array(bs), _spearman(ps, ms)),
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


# ------------------------------------------------------------------------------ data access
def plan_prompts(lm: LoadedModel, behavior: str, n: int, seed: int,
                 data_dir: str | None) -> tuple[list[ScoredPrompt], tuple[list[str], list[str]]]:
    """``(measurement prompts, (positive, negative) contrast prompts)`` of ``behavior``, from the
    project's data functions (the one place to switch the data source). Measurement prompts
    are disjoint from the contrast prompts (val/test splits; the other side of the StereoSet
    target split), as in ``validate``."""
    from empirics import contrast, data, tasks

    root = resolve_source(None, data_dir)  # embedded data unless a directory is given
    rng = np.random.default_rng(seed)

    def sample(items: Sequence[object], k: int) -> list[object]:
        if k >= len(items):
            return list(items)
        return [items[i] for i in sorted(rng.choice(len(items), size=k, replace=False).tolist())]

    if behavior == "harmfulness":
        harmful = data.harmful_instructions(root, "val") + data.harmful_instructions(root, "test")
        prompts = tasks.harmfulness_prompts(lm, [str(x) for x in sample(harmful, n)], "harmful")
        pairs = contrast.harmfulness_pairs(lm, root, n=PAIRS, seed=seed)
    elif behavior == "bias":
        _, measured = contrast.stereoset_split(root, seed=seed)
        prompts = tasks.bias_prompts(lm, sample(measured, n))
        pairs = contrast.bias_pairs(lm, root, n=PAIRS, seed=seed, split_seed=seed)
    else:
        raise ValueError(f"behavior {behavior!r} must be 'harmfulness' or 'bias'")
    return prompts, (list(pairs[0]), list(pairs[1]))


def plan_helpfulness(lm: LoadedModel, n: int, seed: int) -> list[ScoredPrompt]:
    """Helpfulness prompts: the package's knowledge questions (options hidden)."""
    from empirics import data, tasks

    qs = data.knowledge_questions()
    idx = sorted(np.random.default_rng(seed + 3).choice(len(qs), size=min(n, len(qs)),
                                                         replace=False).tolist())
    return tasks.helpfulness_prompts(lm, [qs[i] for i in idx], "knowledge")


PAIRS = 64  # contrast pairs per behavior (validate's default)
SWEEP_BATCH = 16  # rows per forward of the planner's ±h forwards and of the verification sweeps


# ----------------------------------------------------------------------------------- runner
@dataclass
class PlanSettings:
    behaviors: tuple[str, ...] = ("harmfulness", "bias")
    n_behavior: int = 16
    n_help: int = 16
    n_check: int = 0
    method: str = "pca"
    kappa: float = 1.0
    seed: int = 0
    verify: int = 0
    widths: tuple[int, ...] | None = None
    n_boot: int = 500
    batch_size: int = 8
    progress: bool = True
    data_dir: str | None = None
    curvature: str = "response"
    loss: str = "softmax"


@dataclass
class BehaviorPlan:
    behavior: str
    ranked: list[Prediction]
    vector_seconds: float          # reading vectors: one hidden-state pass (shared with sweeping)
    plan_seconds: float            # shifts (reverse mode) + per-candidate terms + scoring
    shift_seconds: float           # reverse-mode shifts of all layers + the r = 0 forwards
    terms_seconds: float           # per-candidate terms (±h forwards, JVP checks, estimates)
    response_seconds: float        # of which the ±h forwards
    n_behavior: int
    n_help: int
    vectors: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)  # layer -> v_l
    verified: list[Prediction] = field(default_factory=list)
    measured: list[Measured] = field(default_factory=list)
    agreement: Agreement | None = None
    sweep_seconds_per_candidate: float | None = None
    # Sweeping all candidates, extrapolated from the measured sweeps by their multiply-adds
    # (``sweep.sweep_cost``: depth and grid of every candidate), and the planning share of it.
    sweep_all_seconds: float | None = None
    cost_ratio: float | None = None
    # The earlier extrapolation, mean measured time × candidates (biased low when the verified
    # candidates are shallower sweeps than the average candidate), and its ratio.
    sweep_all_seconds_mean: float | None = None
    cost_ratio_mean: float | None = None
    sweep_cost_fit: float | None = None   # worst |measured/modelled − 1| over the verified sweeps
    # The same ratio in process CPU seconds (planning and the verified sweeps): on a shared
    # machine wall seconds depend on the other load at the moment, CPU seconds much less.
    plan_cpu_seconds: float | None = None
    cost_ratio_cpu: float | None = None

    @property
    def pick(self) -> Prediction:
        return self.ranked[0]


@dataclass
class PlanResult:
    model: str
    num_layers: int
    settings: PlanSettings
    candidates: list[Candidate]
    behaviors: list[BehaviorPlan]


def _bar(items: Sequence[Candidate], enabled: bool, desc: str) -> Sequence[Candidate]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="cand")  # type: ignore[no-any-return]


def plan_behavior(lm: LoadedModel, behavior: str, cands: Sequence[Candidate],
                  prompts: Sequence[ScoredPrompt], help_prompts: Sequence[ScoredPrompt],
                  pairs: tuple[list[str], list[str]], s: PlanSettings) -> BehaviorPlan:
    """Reading vectors for every layer (one pass), per-layer shifts, per-candidate predictions."""
    import time

    from empirics.reading_vectors import reading_vectors

    t0 = time.perf_counter()
    rv = reading_vectors(lm, pairs[0], pairs[1], list(range(lm.num_layers)), method=s.method,
                         seed=s.seed)
    t1, c1 = time.perf_counter(), time.process_time()
    vec = rv.vectors
    shifts_b = layer_shifts(lm, prompts, vec, batch_size=s.batch_size)
    lower = help_inputs(lm, help_prompts, batch_size=SWEEP_BATCH)
    help_h0 = unsteered_hidden(lm, vec, help_prompts, batch_size=SWEEP_BATCH, lower=lower)
    t2 = time.perf_counter()
    terms_time = response_time = 0.0
    preds = []
    for cand in _bar(cands, s.progress, f"plan {behavior}"):
        tj = time.perf_counter()
        terms = candidate_terms(lm, cand, vec, prompts, help_prompts, shifts_b, help_h0,
                                s.n_check, batch_size=SWEEP_BATCH, lower=lower)
        terms_time += time.perf_counter() - tj
        response_time += terms.response_seconds
        preds.append(predict(cand, terms, s.kappa, curvature=s.curvature, loss=s.loss,
                             n_boot=s.n_boot, seed=s.seed))
    t3, c3 = time.perf_counter(), time.process_time()
    return BehaviorPlan(behavior, rank(preds), t1 - t0, t3 - t1, t2 - t1, terms_time, response_time,
                        len(prompts), len(help_prompts), dict(vec), plan_cpu_seconds=c3 - c1)


def verify_behavior(lm: LoadedModel, bp: BehaviorPlan, vectors: Mapping[int, torch.Tensor],
                    prompts: Sequence[ScoredPrompt], help_prompts: Sequence[ScoredPrompt],
                    s: PlanSettings, n_candidates: int) -> None:
    """Real sweeps of the verification set; fills ``bp``'s measured fields in place."""
    import time

    from empirics.measures import behavior_measures, helpfulness_measures
    from empirics.sweep import sweep

    chosen = verification_set(bp.ranked, s.verify)
    everything = list(prompts) + list(help_prompts)
    ids = [list(p.input_ids) for p in everything]
    # Modelled cost of sweeping each candidate of the plan on its own verification grid.
    work = {p.candidate: sweep_cost(lm, p.candidate.layers[0], len(verification_grid(p)[0]), ids)
            for p in bp.ranked}
    cands = [list(p.candidate_ids) for p in everything]
    nb = len(prompts)
    times, cpu = [], []
    for pred in _bar([p.candidate for p in chosen], s.progress, f"verify {bp.behavior}"):
        p = next(x for x in chosen if x.candidate == pred)
        grid, win_b, win_h = verification_grid(p)
        t0, c0 = time.perf_counter(), time.process_time()
        res = sweep(lm, {layer: vectors[layer] for layer in pred.layers}, grid.tolist(), ids,
                    cands, batch_size=SWEEP_BATCH)
        dt = time.perf_counter() - t0
        times.append(dt)
        cpu.append(time.process_time() - c0)
        kb = max(len(q.candidate_ids) for q in prompts)
        kh = max(len(q.candidate_ids) for q in help_prompts)
        b = behavior_measures(res.logprobs[:, :nb, :kb], prompts)["B"]
        h = helpfulness_measures(res.logprobs[:, nb:, :kh], help_prompts)["p_correct"]
        bp.measured.append(measure_candidate(pred, grid, b, h, s.kappa, win_b, win_h, dt,
                                             n_boot=s.n_boot, seed=s.seed))
        bp.verified.append(p)
    bp.agreement = agreement(bp.verified, bp.measured, seed=s.seed)
    bp.sweep_seconds_per_candidate = float(np.mean(times))
    done = np.array([work[p.candidate] for p in bp.verified])
    rate = float(np.sum(times)) / float(done.sum())          # seconds per multiply-add
    bp.sweep_cost_fit = float(np.max(np.abs(np.array(times) / (rate * done) - 1)))
    if n_candidates == len(work):
        bp.sweep_all_seconds = rate * float(sum(work.values()))
    else:  # candidates outside the ranking: their cost is unknown, fall back to the mean
        bp.sweep_all_seconds = bp.sweep_seconds_per_candidate * n_candidates
    bp.cost_ratio = bp.plan_seconds / bp.sweep_all_seconds
    bp.sweep_all_seconds_mean = bp.sweep_seconds_per_candidate * n_candidates
    bp.cost_ratio_mean = bp.plan_seconds / bp.sweep_all_seconds_mean
    if bp.plan_cpu_seconds is not None and n_candidates == len(work) and sum(cpu) > 0:
        bp.cost_ratio_cpu = bp.plan_cpu_seconds / (sum(cpu) / float(done.sum())
                                                   * float(sum(work.values())))


def run(lm: LoadedModel, s: PlanSettings) -> PlanResult:
    """Plan (and with ``s.verify`` verify) every behavior in ``s.behaviors``."""
    cands = candidates(lm.num_layers, s.widths)
    help_prompts = plan_helpfulness(lm, s.n_help, s.seed)
    out = []
    for behavior in s.behaviors:
        prompts, pairs = plan_prompts(lm, behavior, s.n_behavior, s.seed, s.data_dir)
        bp = plan_behavior(lm, behavior, cands, prompts, help_prompts, pairs, s)
        if s.verify:
            verify_behavior(lm, bp, bp.vectors, prompts, help_prompts, s, len(cands))
        out.append(bp)
    return PlanResult(lm.name, lm.num_layers, s, cands, out)


# ------------------------------------------------------------------ the pick, for validate
def plan_pick(spec: str, model_name: str, behavior: str, num_layers: int) -> PlanLink:
    """The planner's pick for ``validate --layers plan`` (``plan`` reads
    ``runs/plan/<model-slug>/plan.json``; ``plan:PATH`` reads PATH, a plan.json or its folder),
    with the plan's path for the report's link."""
    import json
    from pathlib import Path

    from empirics.settings import model_slug

    path = Path(spec.split(":", 1)[1]) if ":" in spec else Path("runs") / "plan" / model_slug(model_name)
    if path.is_dir():
        path = path / "plan.json"
    if not path.is_file():
        raise ValueError(f"--layers {spec}: no plan at {path}; run `python -m empirics.plan` first "
                         "(or give --layers plan:PATH)")
    d = json.loads(path.read_text(encoding="utf-8"))
    plans = d.get("behaviors", {})
    if behavior not in plans:
        raise ValueError(f"--layers {spec}: the plan at {path} has no behavior {behavior!r} "
                         f"(has {sorted(plans)})")
    pick = plans[behavior]["pick"]
    layers = [int(x) for x in pick["layers"]]
    if int(d.get("num_layers", num_layers)) != num_layers or max(layers) >= num_layers:
        raise ValueError(f"--layers {spec}: the plan at {path} is for a {d.get('num_layers')}-layer "
                         f"model, this one has {num_layers}")
    r_star = pick.get("r_star")
    name = str(pick.get("name") or Candidate(tuple(layers)).name)
    # Absolute: report.md lives in another folder, so a cwd-relative link would break.
    return PlanLink(str(path.resolve()), behavior, tuple(layers), name,
                    None if r_star is None else float(r_star))


def pick_layers(spec: str, model_name: str, behavior: str, num_layers: int) -> list[int]:
    """Layers of the planner's pick (``plan_pick``)."""
    return list(plan_pick(spec, model_name, behavior, num_layers).layers)


# ------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m empirics.plan",
        description="Choose steering layers and coefficient from JVPs at r_e = 0 "
                    "(and, with --verify K, prove the choice against real sweeps).")
    p.add_argument("--model", default=None, help="HF id or local path (default: embedded SmolLM2)")
    p.add_argument("--behaviors", default="harmfulness,bias")
    p.add_argument("--n-prompts", type=int, default=16, help="behavior prompts per behavior")
    p.add_argument("--n-help", type=int, default=16, help="helpfulness prompts")
    p.add_argument("--n-check", type=int, default=0,
                   help="prompts of each kind per candidate whose JVP checks the reverse-mode "
                        "shifts and the central-difference Δ (costs ~1 s each)")
    p.add_argument("--widths", default=None, help="window widths, e.g. 1,3,6,10 (default by depth)")
    p.add_argument("--method", default="pca", choices=("pca", "mean_diff"))
    p.add_argument("--kappa", type=float, default=1.0)
    p.add_argument("--curvature", default="response", choices=CURVATURE_FORMS,
                   help="loss curvature the ranking uses: actual Δ plus the second-order "
                        "response (default), random direction, or actual Δ alone")
    p.add_argument("--loss", default="softmax", choices=LOSS_FORMS,
                   help="helpfulness loss in U: the exact softmax of the second-order logits "
                        "(default; bounded like the real loss) or quadratic in r (Corollary)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verify", type=int, default=0, metavar="K",
                   help="sweep the top K and K others spread over the ranking")
    p.add_argument("--data-dir", default=None, help="default $STEERING_DATA_DIR")
    p.add_argument("--out", default=None, help="default runs/plan/<model-slug>")
    p.add_argument("--n-boot", type=int, default=500)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--no-progress", action="store_true")
    return p


def settings_from_args(a: argparse.Namespace) -> PlanSettings:
    behaviors = tuple(b.strip() for b in a.behaviors.split(",") if b.strip())
    for b in behaviors:
        if b not in ("harmfulness", "bias"):
            raise ValueError(f"behavior {b!r} must be 'harmfulness' or 'bias' (--behaviors)")
    for name in ("n_prompts", "n_help"):
        if getattr(a, name) < 2:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 2 (CIs need two prompts)")
    if a.n_check < 0 or a.verify < 0 or a.kappa <= 0:
        raise ValueError("--n-check and --verify must be >= 0 and --kappa > 0")
    if a.loss == "softmax" and a.curvature != "response":
        raise ValueError("--loss softmax needs --curvature response (it is that form's curve)")
    widths = None
    if a.widths:
        try:
            widths = tuple(int(x) for x in a.widths.split(","))
        except ValueError as err:
            raise ValueError(f"--widths {a.widths!r} must be a comma list of integers") from err
    return PlanSettings(behaviors=behaviors, n_behavior=a.n_prompts, n_help=a.n_help,
                        n_check=a.n_check, method=a.method, kappa=a.kappa, loss=a.loss,
                        seed=a.seed, verify=a.verify, widths=widths, n_boot=a.n_boot,
                        progress=not a.no_progress, data_dir=a.data_dir, curvature=a.curvature)


def main(argv: Sequence[str] | None = None) -> int:
    import sys
    import time
    from pathlib import Path

    from empirics import plan_report
    from empirics.models import load_model
    from empirics.settings import model_slug

    t0 = time.time()
    try:
        a = build_parser().parse_args(argv)
        s = settings_from_args(a)
        if a.threads:
            torch.set_num_threads(a.threads)
        torch.manual_seed(s.seed)
        lm = load_model(a.model, device=a.device) if a.model else load_model(device=a.device)
        cands = candidates(lm.num_layers, s.widths)
    except SystemExit as err:
        return int(err.code or 0)
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    out = Path(a.out) if a.out else Path("runs") / "plan" / model_slug(lm.name)
    print(f"Planning {len(cands)} candidates on {lm.name} ({lm.num_layers} layers)", file=sys.stderr)
    result = run(lm, s)
    paths = plan_report.write(result, out)
    print(f"Done in {time.time() - t0:.0f} s. Outputs: {', '.join(str(p) for p in paths)}")
    for bp in result.behaviors:
        pk = bp.pick
        print(f"{bp.behavior}: pick layers {pk.candidate.name}, r = {pk.r_star:.4g} "
              f"(predicted U {pk.utility.value:.4g}; planning {bp.plan_seconds:.1f} s)")
    for bp in result.behaviors:
        if bp.agreement is not None:
            print(plan_report.summary_line(bp))
    return 0


if __name__ == "__main__":
    import os
    import sys

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
