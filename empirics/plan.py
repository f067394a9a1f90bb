"""The steering planner's computation: candidates, per-layer logit shifts, predictions, checks.

Which layers, and how strong? For a candidate set of consecutive layers ``W`` the theory needs
only the linear response at r_e = 0. Proposition 1 makes it additive over layers,
``Δ_W(q) = Σ_{l∈W} J_{L←l}(q) v_l``, so the logit shifts ``g_a = <u_a, Δ_W>`` of *every* candidate
are sums of the per-layer shifts ``G[l, a] = <u_a, J_{L←l} v_l>``. Those come from one forward
and K backward passes per prompt (reverse mode: ``∂z_a/∂r_l`` for all layers at once), instead
of one JVP per prompt per candidate. ``‖Δ_W‖`` (needed only by Theorem 2's random-direction form)
is not a sum of per-layer numbers: it comes from ``theory_link.delta_jvp`` on a few helpfulness
prompts per candidate, and those JVPs also check the reverse-mode shifts (``jvp_check``).

Per candidate and behavior, with formulas from ``theory``:

* gain slope ``γ̂λ̂(1 − B_0²)`` (``alignment.linear_gain``'s r_e coefficient; γ̂λ̂ =
  ``alignment.margin`` of the shifts), mean over the behavior prompts;
* helpfulness ``(c1, c2)`` of the actual Δ (``helpfulness.second_order(p, c, mean=g)``) and the
  random-direction curvature (``helpfulness.random_direction_second_order``); loss curvature
  ``ℓ₂ = −c2``;
* ``tradeoff.general(g1 + κ c1, ℓ₂, κ, s)``: r*, U*, validity (``s r* ≤ 0.5``); an invalid r* is
  clipped to the validity edge ``0.5/s`` and U evaluated there (``tradeoff.general_utility``).
  ``c1`` (the actual Δ's first-order helpfulness change) enters the utility's slope: U = G − κL.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
import torch

from empirics.jvp import delta_jvp
from empirics.models import LoadedModel, pad_id_of, pad_token_batch
from empirics.sources import resolve_source
from empirics.steering import steer
from empirics.tasks import ScoredPrompt
from theory import alignment, helpfulness, tradeoff
from theory import symbols as sym

# r_e coefficient of Theorem 1's linear gain: γλ(1 − B_0²), from the theory object itself.
_gain_slope = sp.lambdify((sym.B_0, sym.gamma, sym.lam),
                          sp.diff(alignment.linear_gain, sym.r_e), "numpy")
# U(r) = g₁ r − κ ℓ₂ r² (general form of the Corollary).
_general_u = sp.lambdify((sym.g_1, sym.ell_2, sym.kappa, sym.r_e), tradeoff.general_utility, "numpy")


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


def behavior_terms(prompt: ScoredPrompt, z: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """``(B_0, gain slope γ̂λ̂(1 − B_0²))`` of one behavior prompt."""
    if prompt.scores is None:
        raise ValueError(f"prompt {prompt.item_id} has no behavior scores")
    pos = np.asarray(prompt.scores) > 0
    b0 = float(alignment.behavior(z, pos))
    gl = float(alignment.margin(g, pos))  # γ̂λ̂: the margin per unit r_e the shifts certify
    return b0, float(_gain_slope(b0, gl, 1.0))


def shift_scale(g: np.ndarray, answer_norms: np.ndarray) -> float:
    """``s = λσ̂β̂`` of one prompt: σ̂ the std (ddof=1) of cos(Δ, u_a), β̂ the RMS ‖u_a‖. λσ̂ is the
    std of g_a/‖u_a‖, so s needs no ‖Δ‖."""
    if len(g) < 2:
        return float("nan")
    return float(np.std(g / answer_norms, ddof=1) * np.sqrt(np.mean(answer_norms**2)))


@dataclass
class HelpTerms:
    c1: float       # first-order coefficient of P(correct) (actual Δ)
    c2: float       # second-order coefficient (actual Δ)
    s: float        # λσ̂β̂


def helpfulness_terms(prompt: ScoredPrompt, z: np.ndarray, g: np.ndarray,
                      answer_norms: np.ndarray) -> HelpTerms:
    """Theorem 2 with the actual Δ: ``(c1, c2)`` for shifts with mean g and no spread."""
    if prompt.correct is None:
        raise ValueError(f"prompt {prompt.item_id} names no correct candidate")
    c1, c2 = helpfulness.second_order(_softmax(z), int(prompt.correct), mean=g)
    return HelpTerms(c1, c2, shift_scale(g, answer_norms))


# ----------------------------------------------------------------------------- predictions
@dataclass
class Interval:
    """A value with its 95% interval."""

    value: float
    lo: float
    hi: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "lo": self.lo, "hi": self.hi}


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
    curvature_random: Interval    # ℓ₂ of the random-direction form (λ from JVPs)
    curvature_form: str           # "random" | "actual": the one U uses
    s: float                      # λ̄ β̄/√d: the random-direction shift scale (validity)
    gain_scale: float             # 1/mean γ̂λ̂: where the gain leaves its linear regime
    efficiency: float             # (g1 + κc1)²/ℓ₂ = 4κ U*₂ (scale-free)
    r_star: float
    r_star_valid: float
    r_star_second_order: float
    valid: bool
    utility: Interval
    utility_other: float          # U* with the other curvature form
    note: str
    jvp_check: float              # max relative |g_reverse − g_jvp| on the λ prompts
    lam: float                    # mean ‖Δ_W‖ over the λ prompts
    rank: int = 0


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
    c2_random: np.ndarray   # (Nh,) random direction of norm λ̄ with each prompt's geometry
    beta: np.ndarray        # (Nh,) RMS answer norm
    lam: np.ndarray         # (Nλ,) ‖Δ_W‖ by JVP
    jvp_check: float
    hidden_size: int


def candidate_terms(lm: LoadedModel, cand: Candidate, vectors: Mapping[int, torch.Tensor],
                    behavior: Sequence[ScoredPrompt], help_prompts: Sequence[ScoredPrompt],
                    shifts_b: LayerShifts, shifts_h: LayerShifts, n_lambda: int) -> CandidateTerms:
    """Per-prompt terms; ``n_lambda`` helpfulness prompts get ``delta_jvp`` (‖Δ_W‖, and a check of
    the reverse-mode shifts against the JVP's)."""
    b0, slope, zb, gb, pos = [], [], [], [], []
    for i, p in enumerate(behavior):
        g = shifts_b.window(i, cand)
        b, sl = behavior_terms(p, shifts_b.z[i], g)
        b0.append(b)
        slope.append(sl)
        zb.append(shifts_b.z[i])
        gb.append(g)
        pos.append(np.asarray(p.scores) > 0)
    sub = {layer: vectors[layer] for layer in cand.layers}
    lams, worst = [], 0.0
    for i, p in enumerate(help_prompts[:n_lambda]):
        _, delta = delta_jvp(lm, sub, [list(p.input_ids)])
        ut = lm.unembedding_rows(list(p.candidate_ids)).double()
        d = delta[0].double()
        g_jvp = (ut @ d).numpy()
        g_rev = shifts_h.window(i, cand)
        worst = max(worst, float(np.abs(g_jvp - g_rev).max() / max(np.abs(g_jvp).max(), 1e-12)))
        lams.append(float(d.norm()))
    lam_bar = float(np.mean(lams)) if lams else float("nan")
    c1, c2, c2r, beta = [], [], [], []
    for i, p in enumerate(help_prompts):
        assert p.correct is not None
        u = lm.unembedding_rows(list(p.candidate_ids)).double().numpy()
        norms = np.linalg.norm(u, axis=1)
        h = helpfulness_terms(p, shifts_h.z[i], shifts_h.window(i, cand), norms)
        c1.append(h.c1)
        c2.append(h.c2)
        beta.append(float(np.sqrt(np.mean(norms**2))))
        c2r.append(helpfulness.random_direction_second_order(_softmax(shifts_h.z[i]), int(p.correct),
                                                             u, lam_bar)
                   if math.isfinite(lam_bar) and lam_bar > 0 else float("nan"))
    return CandidateTerms(np.array(b0), np.array(slope), zb, gb, pos, np.array(c1), np.array(c2),
                          np.array(c2r), np.array(beta), np.array(lams), worst, lm.hidden_size)


def gain_curves(t: CandidateTerms, r: np.ndarray) -> np.ndarray:
    """(Nb, R): B(r) − B_0 of the exact linear model, ``alignment.behavior(z + r g)``."""
    return np.stack([alignment.behavior(z[None] + r[:, None] * g[None], m) - b
                     for z, g, m, b in zip(t.zb, t.gb, t.pos, t.B0, strict=True)])


def _optimum(gain: np.ndarray, c1: float, l2: float, kappa: float, r: np.ndarray) -> tuple[float, float]:
    """``(r*, U*)`` of U(r) = gain(r) − κ(−c1 r + ℓ₂ r²) on the grid ``r`` (0 if U ≤ 0 throughout)."""
    # The exact gain plus the second-order helpfulness terms: U = G + (κc1 r − κℓ₂ r²), the
    # latter the Corollary's general utility with slope κc1.
    u = gain + np.asarray(_general_u(kappa * c1, l2, kappa, r))
    i = int(np.argmax(u))
    return (float(r[i]), float(u[i])) if u[i] > 0 else (0.0, 0.0)


CURVATURE_FORMS = ("random", "actual")


def predict(cand: Candidate, t: CandidateTerms, kappa: float, *, curvature: str = "random",
            n_boot: int = 500, seed: int = 0) -> Prediction:
    """Candidate-level prediction from its per-prompt terms."""
    if curvature not in CURVATURE_FORMS:
        raise ValueError(f"curvature form {curvature!r} must be one of {CURVATURE_FORMS}")
    gl = np.abs(t.slope / np.maximum(1 - t.B0**2, 1e-12))
    scale = 1.0 / max(float(gl.mean()), 1e-12)
    r = np.geomspace(1e-3, 1e2, 321) * scale
    gain = gain_curves(t, r)
    l2_act = -t.c2
    l2_rd = -t.c2_random
    use, other = (l2_rd, l2_act) if curvature == "random" else (l2_act, l2_rd)
    if not np.all(np.isfinite(use)):
        use, other = l2_act, l2_rd   # no JVP prompt: only the actual-Δ form is available
        curvature = "actual"
    g1 = float(t.slope.mean() + kappa * t.c1.mean())
    r_star, u_star = _optimum(gain.mean(0), float(t.c1.mean()), float(use.mean()), kappa, r)
    u_other = (_optimum(gain.mean(0), float(t.c1.mean()), float(other.mean()), kappa, r)[1]
               if np.all(np.isfinite(other)) else float("nan"))
    lam_bar = float(t.lam.mean()) if t.lam.size else float("nan")
    s = lam_bar * float(t.beta.mean()) / math.sqrt(t.hidden_size)
    tr = tradeoff.general(g1, float(use.mean()), kappa, s=s if math.isfinite(s) else None)
    edge = tradeoff.VALID_LIMIT / s if math.isfinite(s) and s > 0 else math.inf
    rng = np.random.default_rng(seed)
    nb, nh = len(t.slope), len(t.c1)
    boot = np.full((n_boot, 5), np.nan)
    for k in range(n_boot):
        ib, ih = rng.integers(0, nb, nb), rng.integers(0, nh, nh)
        ub = _optimum(gain[ib].mean(0), float(t.c1[ih].mean()), float(use[ih].mean()), kappa, r)[1]
        boot[k] = (t.slope[ib].mean(), t.c1[ih].mean(), l2_act[ih].mean(), l2_rd[ih].mean(), ub)
    l2u = float(use.mean())
    eff = g1 * g1 / l2u if l2u > 0 and g1 > 0 else (math.inf if g1 > 0 else 0.0)
    return Prediction(
        candidate=cand, gain_slope=_ci(boot[:, 0], float(t.slope.mean())),
        help_slope=_ci(boot[:, 1], float(t.c1.mean())),
        curvature=_ci(boot[:, 2], float(l2_act.mean())),
        curvature_random=_ci(boot[:, 3], float(l2_rd.mean())), curvature_form=curvature,
        s=s, gain_scale=scale, efficiency=eff, r_star=r_star, r_star_valid=min(r_star, edge),
        r_star_second_order=tr.r_star, valid=r_star <= edge, utility=_ci(boot[:, 4], u_star),
        utility_other=u_other, note=tr.note, jvp_check=t.jvp_check, lam=lam_bar)


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
    spearman_u_other: float   # with the other curvature form
    pick: str
    pick_utility: float
    best: str
    best_utility: float
    pick_vs_best: float
    slope_ratio: float       # median predicted / measured gain slope
    curvature_ratio: float   # median predicted / measured loss curvature


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
    pr = np.array([p.utility_other for p in pred])
    rng = np.random.default_rng(seed)
    n = len(pred)
    bu, bs = [], []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        bu.append(_spearman(pu[i], mu[i]))
        bs.append(_spearman(ps[i], ms[i]))
    pick = int(np.argmin([p.rank for p in pred]))
    best = int(np.argmax(mu))
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = float(np.median(ps / ms))
        cr = float(np.median(np.array([p.curvature.value for p in pred])
                             / np.array([m.curvature.value for m in meas])))
    return Agreement(
        spearman_u=_ci(np.array(bu), _spearman(pu, mu)),
        spearman_slope=_ci(np.array(bs), _spearman(ps, ms)),
        spearman_u_other=_spearman(pr, mu),
        pick=pred[pick].candidate.name, pick_utility=float(mu[pick]),
        best=pred[best].candidate.name, best_utility=float(mu[best]),
        pick_vs_best=float(mu[pick] / mu[best]) if mu[best] > 0 else float("nan"),
        slope_ratio=sr, curvature_ratio=cr)


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


# ----------------------------------------------------------------------------------- runner
@dataclass
class PlanSettings:
    behaviors: tuple[str, ...] = ("harmfulness", "bias")
    n_behavior: int = 16
    n_help: int = 16
    n_lambda: int = 2
    method: str = "pca"
    kappa: float = 1.0
    seed: int = 0
    verify: int = 0
    widths: tuple[int, ...] | None = None
    n_boot: int = 500
    batch_size: int = 8
    progress: bool = True
    data_dir: str | None = None
    curvature: str = "random"


@dataclass
class BehaviorPlan:
    behavior: str
    ranked: list[Prediction]
    vector_seconds: float          # reading vectors: one hidden-state pass (shared with sweeping)
    plan_seconds: float            # shifts (reverse mode) + λ JVPs + scoring
    shift_seconds: float
    jvp_seconds: float
    n_behavior: int
    n_help: int
    vectors: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)  # layer -> v_l
    verified: list[Prediction] = field(default_factory=list)
    measured: list[Measured] = field(default_factory=list)
    agreement: Agreement | None = None
    sweep_seconds_per_candidate: float | None = None
    sweep_all_seconds: float | None = None   # extrapolated: per-candidate time × candidates
    cost_ratio: float | None = None

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
    t1 = time.perf_counter()
    vec = rv.vectors
    shifts_b = layer_shifts(lm, prompts, vec, batch_size=s.batch_size)
    shifts_h = layer_shifts(lm, help_prompts, vec, batch_size=s.batch_size)
    t2 = time.perf_counter()
    jvp_time = 0.0
    preds = []
    for cand in _bar(cands, s.progress, f"plan {behavior}"):
        tj = time.perf_counter()
        terms = candidate_terms(lm, cand, vec, prompts, help_prompts, shifts_b, shifts_h,
                                s.n_lambda)
        jvp_time += time.perf_counter() - tj
        preds.append(predict(cand, terms, s.kappa, curvature=s.curvature, n_boot=s.n_boot,
                             seed=s.seed))
    t3 = time.perf_counter()
    return BehaviorPlan(behavior, rank(preds), t1 - t0, t3 - t1, t2 - t1, jvp_time,
                        len(prompts), len(help_prompts), dict(vec))


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
    cands = [list(p.candidate_ids) for p in everything]
    nb = len(prompts)
    times = []
    for pred in _bar([p.candidate for p in chosen], s.progress, f"verify {bp.behavior}"):
        p = next(x for x in chosen if x.candidate == pred)
        grid, win_b, win_h = verification_grid(p)
        t0 = time.perf_counter()
        res = sweep(lm, {layer: vectors[layer] for layer in pred.layers}, grid.tolist(), ids,
                    cands, batch_size=16)
        dt = time.perf_counter() - t0
        times.append(dt)
        kb = max(len(q.candidate_ids) for q in prompts)
        kh = max(len(q.candidate_ids) for q in help_prompts)
        b = behavior_measures(res.logprobs[:, :nb, :kb], prompts)["B"]
        h = helpfulness_measures(res.logprobs[:, nb:, :kh], help_prompts)["p_correct"]
        bp.measured.append(measure_candidate(pred, grid, b, h, s.kappa, win_b, win_h, dt,
                                             n_boot=s.n_boot, seed=s.seed))
        bp.verified.append(p)
    bp.agreement = agreement(bp.verified, bp.measured, seed=s.seed)
    bp.sweep_seconds_per_candidate = float(np.mean(times))
    bp.sweep_all_seconds = bp.sweep_seconds_per_candidate * n_candidates
    bp.cost_ratio = bp.plan_seconds / bp.sweep_all_seconds


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
    p.add_argument("--n-lambda", type=int, default=2,
                   help="helpfulness prompts per candidate with a JVP (‖Δ‖, random-direction form)")
    p.add_argument("--widths", default=None, help="window widths, e.g. 1,3,6,10 (default by depth)")
    p.add_argument("--method", default="pca", choices=("pca", "mean_diff"))
    p.add_argument("--kappa", type=float, default=1.0)
    p.add_argument("--curvature", default="random", choices=CURVATURE_FORMS,
                   help="Theorem 2 form the ranking uses: random direction (default) or actual Δ")
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
    if a.n_lambda < 0 or a.verify < 0 or a.kappa <= 0:
        raise ValueError("--n-lambda and --verify must be >= 0 and --kappa > 0")
    widths = None
    if a.widths:
        try:
            widths = tuple(int(x) for x in a.widths.split(","))
        except ValueError as err:
            raise ValueError(f"--widths {a.widths!r} must be a comma list of integers") from err
    return PlanSettings(behaviors=behaviors, n_behavior=a.n_prompts, n_help=a.n_help,
                        n_lambda=min(a.n_lambda, a.n_help), method=a.method, kappa=a.kappa,
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


def pick_layers(spec: str, model_name: str, behavior: str, num_layers: int) -> list[int]:
    """Layers of the planner's pick for ``validate --layers plan`` (``plan`` reads
    ``runs/plan/<model-slug>/plan.json``; ``plan:PATH`` reads PATH, a plan.json or its folder)."""
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
    layers = [int(x) for x in plans[behavior]["pick"]["layers"]]
    if int(d.get("num_layers", num_layers)) != num_layers or max(layers) >= num_layers:
        raise ValueError(f"--layers {spec}: the plan at {path} is for a {d.get('num_layers')}-layer "
                         f"model, this one has {num_layers}")
    return layers
