"""Link a real model to the theory: Δ by a Jacobian–vector product, the per-prompt estimates
λ̂ σ̂ β̂ α̂ B_0 P_0, fit-free predicted curves, and the Proposition 1 remainder.

API (arrays are numpy float64 unless said otherwise)::

    delta_jvp(lm, vectors, input_ids, *, method="jvp", fd_step=1e-2)
        -> (h0, delta)                       # torch float32 (N, d) each
    final_hidden_states(lm, vectors, input_ids, coefficients) -> (C, N, d) float32
    estimate_prompts(lm, prompts, h0, delta, unsteered_logprobs=None)
        -> list[PromptEstimates]             # unsteered_logprobs: (N, K) sweep row at r = 0
    prompt_estimates(prompt, z, g, cosines, answer_norms, delta_norm) -> PromptEstimates
    pooled_sigma(estimates) -> float         # pooled within-prompt std of cosines
    predicted_curves(estimates, coefficients, *, sigma="pooled", hidden_size=None)
        -> Predictions                       # per-prompt (N, C) curves and their means (C,)
    linear_model_curves(estimates, coefficients) -> (N, C)   # softmax(z + r g): B or P(correct)
    expected_curve(p, correct, s, r) -> (value, error)       # theory.helpfulness.expected
    spread_bound(p, correct, s, r) -> (C,)                   # Theorem 2′, best ε, NaN if m < 0
    linear_response_remainder(h0, delta, final_hidden_by_coef, coefficients, *, threshold=0.1,
                              exponent_max_abs_r=None, exponent_min_abs_r=0.0) -> Remainder

Δ is exact forward-mode AD (``torch.func.jvp``) through the steering hooks and the final norm.
PyTorch's CPU SDPA kernel has no forward-AD rule, so the JVP runs under
:func:`eager_attention`, which switches the model to eager attention and restores the previous
implementation afterwards. ``method="fd"`` gives central finite differences instead (a check).

``σ̂``: a prompt has only 2–4 answer tokens, so its own std of cosines is very noisy. The
default for predictions is the *pooled* within-prompt std across prompts (``sigma="pooled"``);
``sigma="prompt"`` uses each prompt's own, ``sigma="random"`` the random-direction value
``1/√d``; :class:`Predictions` records the pooled and the random value either way.

Formulas come from the ``theory`` package: ``theory.alignment.margin`` (λ̂) and ``evaluate``
(Theorem 1 bound), ``theory.helpfulness.alpha``, ``expected``, ``theorem2_prime``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp

from empirics.models import LoadedModel
from empirics.steering import steer
from empirics.tasks import ScoredPrompt
from theory import alignment as theory_alignment
from theory import helpfulness as theory_helpfulness


# --------------------------------------------------------------------------------------------
# Δ by forward-mode AD
# --------------------------------------------------------------------------------------------
@contextmanager
def eager_attention(lm: LoadedModel) -> Iterator[str | None]:
    """Temporarily use eager attention (forward AD needs it on CPU); yields the previous name."""
    model = lm.model
    config = getattr(model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    if previous in (None, "eager"):
        yield previous
        return
    setter = getattr(model, "set_attn_implementation", None)
    if callable(setter):
        setter("eager")
    else:  # older transformers: the config field is read at every forward
        config._attn_implementation = "eager"  # type: ignore[union-attr]
    try:
        yield previous
    finally:
        if callable(setter):
            setter(previous)
        else:
            config._attn_implementation = previous  # type: ignore[union-attr]


def _final_state_fn(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], ids: torch.Tensor) -> Any:
    """r ↦ final-norm output at the last position, with steering coefficient r."""
    # The decoder stack without the LM head; the final norm's output is captured by a hook so
    # any architecture whose base model applies `final_norm` works.
    base = getattr(lm.model, "base_model", lm.model)

    def f(r: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []

        def grab(_m: torch.nn.Module, _i: Any, out: Any) -> None:
            captured.append(out[0] if isinstance(out, tuple) else out)

        handle = lm.final_norm.register_forward_hook(grab)
        try:
            with steer(lm, vectors, r):
                base(input_ids=ids, use_cache=False)
        finally:
            handle.remove()
        if not captured:
            raise ValueError(f"the final norm of {lm.name} was not run by its base model")
        return captured[-1][0, -1]

    return f


def delta_jvp(
    lm: LoadedModel,
    vectors: Mapping[int, torch.Tensor],
    input_ids: Sequence[Sequence[int]],
    *,
    method: str = "jvp",
    fd_step: float = 1e-2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h0, delta)``, each (N, d) float32 CPU: h(q) and Δ(q) = d h_r(q)/dr at r = 0.

    ``method="jvp"`` (default): exact JVP under eager attention. ``"fd"``: central differences
    ``(h(+step) − h(−step)) / (2 step)`` with the model's own attention (a check; fp32 rounding
    in the model dominates below step ≈ 1e-2).
    """
    if method not in ("jvp", "fd"):
        raise ValueError(f"method {method!r} must be 'jvp' or 'fd'")
    if not fd_step > 0:
        raise ValueError(f"fd_step {fd_step} must be > 0")
    if len(input_ids) == 0:
        raise ValueError("input_ids is empty: give at least one prompt")
    dtype = lm.dtype
    h_rows, d_rows = [], []
    for n, seq in enumerate(input_ids):
        if len(seq) == 0:
            raise ValueError(f"input_ids[{n}] is empty")
        ids = torch.as_tensor([list(seq)], dtype=torch.long, device=lm.device)
        f = _final_state_fn(lm, vectors, ids)
        zero = torch.zeros((), dtype=dtype, device=lm.device)
        if method == "jvp":
            with eager_attention(lm), torch.no_grad():
                primal_tangent = torch.func.jvp(f, (zero,), (torch.ones_like(zero),))
            h, d = primal_tangent[0], primal_tangent[1]
        else:
            with torch.no_grad():
                h = f(zero)
                d = (f(zero + fd_step) - f(zero - fd_step)) / (2 * fd_step)
        h_rows.append(h.detach().float().cpu())
        d_rows.append(d.detach().float().cpu())
    return torch.stack(h_rows), torch.stack(d_rows)


def final_hidden_states(
    lm: LoadedModel,
    vectors: Mapping[int, torch.Tensor],
    input_ids: Sequence[Sequence[int]],
    coefficients: Sequence[float],
) -> np.ndarray:
    """(C, N, d) float32 final-norm outputs at the last position, one plain steered forward per
    prompt and coefficient (a slow reference for ``linear_response_remainder``; the sweep's
    ``final_hidden`` is the fast path)."""
    out = np.zeros((len(coefficients), len(input_ids), lm.hidden_size), dtype=np.float32)
    for n, seq in enumerate(input_ids):
        f = _final_state_fn(lm, vectors, torch.as_tensor([list(seq)], dtype=torch.long, device=lm.device))
        with torch.no_grad():
            for c, r in enumerate(coefficients):
                out[c, n] = f(torch.tensor(float(r), dtype=lm.dtype, device=lm.device)).float().cpu().numpy()
    return out


# --------------------------------------------------------------------------------------------
# Per-prompt estimates
# --------------------------------------------------------------------------------------------
@dataclass
class PromptEstimates:
    """What the theory needs of one prompt, measured at r_e = 0 (no fitted parameter).

    Behavior prompts fill ``B0``, ``lam_hat`` (the margin; ≤ 0 means Theorem 1's precondition
    fails for this prompt, kept as is); helpfulness prompts fill ``P0``, ``alpha_hat``.
    ``slope_linear`` is the exact first-order slope the linear model gives with the actual
    shifts: dB/dr = Cov_p(score, g) or dP_c/dr = P_0 (g_c − Σ p_a g_a).
    """

    kind: str                  # "behavior" | "helpfulness"
    item_id: str
    group: str
    z: np.ndarray              # (K,) candidate log-probs (any common offset) at r = 0
    p: np.ndarray              # (K,) unsteered probabilities normalised over the candidates
    g: np.ndarray              # (K,) logit shifts <u_a, Δ>
    cosines: np.ndarray        # (K,) cos(Δ, u_a)
    answer_norms: np.ndarray   # (K,) ‖u_a‖
    delta_norm: float          # ‖Δ‖
    sigma_hat: float           # std (ddof=1) of the cosines; NaN when K < 2
    beta_hat: float            # RMS of ‖u_a‖
    s: float                   # ‖Δ‖ σ̂ β̂ with this prompt's σ̂
    slope_linear: float
    scores: np.ndarray | None = None   # (K,) ±1
    correct: int | None = None
    B0: float | None = None
    lam_hat: float | None = None
    margin_positive: bool | None = None
    P0: float | None = None
    alpha_hat: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, val in self.__dict__.items():
            out[key] = to_jsonable(val)
        return out


def to_jsonable(val: Any) -> Any:
    """numpy → Python, NaN/inf → None, recursively (for json.dumps)."""
    if isinstance(val, np.ndarray):
        return [to_jsonable(x) for x in val.tolist()]
    if isinstance(val, (list, tuple)):
        return [to_jsonable(x) for x in val]
    if isinstance(val, dict):
        return {str(k): to_jsonable(v) for k, v in val.items()}
    if isinstance(val, (np.floating, float)):
        f = float(val)
        return f if math.isfinite(f) else None
    if isinstance(val, (np.integer,)):
        return int(val)
    if isinstance(val, np.bool_):
        return bool(val)
    if hasattr(val, "to_dict"):
        return to_jsonable(val.to_dict())
    return val


def _normalise(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax; one routine for p and the linear-model curves, so that the prediction
    at r = 0 reproduces the unsteered values bit for bit."""
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def alpha_of(p: np.ndarray, correct: int) -> float:
    """α = P_0(1 − P_0) − Σ_{a≠c} p_a² (Theorem 2; ``theory.helpfulness.alpha``)."""
    return theory_helpfulness.alpha(np.asarray(p, dtype=float), int(correct))


def prompt_estimates(
    prompt: ScoredPrompt,
    z: np.ndarray,
    g: np.ndarray,
    cosines: np.ndarray,
    answer_norms: np.ndarray,
    delta_norm: float,
) -> PromptEstimates:
    """Estimates of one prompt from its candidate logits ``z``, shifts ``g`` and geometry."""
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
    p = _normalise(z[None])[0]
    sigma = float(np.std(cos, ddof=1)) if k >= 2 else float("nan")
    beta = float(np.sqrt(np.mean(norms**2)))
    common: dict[str, Any] = dict(
        item_id=prompt.item_id, group=prompt.group, z=z, p=p, g=g, cosines=cos,
        answer_norms=norms, delta_norm=float(delta_norm), sigma_hat=sigma, beta_hat=beta,
        s=float(delta_norm) * sigma * beta,
    )
    gbar = float(p @ g)
    if prompt.scores is not None:
        scores = np.asarray(prompt.scores, dtype=float)
        if scores.shape != (k,) or not np.all(np.abs(scores) == 1):
            raise ValueError(f"scores of {prompt.item_id} must be ±1 per candidate, got {prompt.scores}")
        if not (scores > 0).any() or not (scores < 0).any():
            raise ValueError(f"prompt {prompt.item_id} needs both S+ and S− candidates")
        lam = float(theory_alignment.margin(g, scores > 0))
        b0 = float((p * scores).sum())  # same reduction as the predicted curves
        return PromptEstimates(
            kind="behavior", scores=scores, B0=b0, lam_hat=lam, margin_positive=lam > 0,
            slope_linear=float(p @ (scores * (g - gbar))), **common,
        )
    if prompt.correct is None or not 0 <= prompt.correct < k:
        raise ValueError(f"prompt {prompt.item_id} has neither scores nor a valid correct index")
    c = int(prompt.correct)
    p0 = float(p[c])
    return PromptEstimates(
        kind="helpfulness", correct=c, P0=p0, alpha_hat=alpha_of(p, c),
        slope_linear=p0 * (float(g[c]) - gbar), **common,
    )


def estimate_prompts(
    lm: LoadedModel,
    prompts: Sequence[ScoredPrompt],
    h0: torch.Tensor,
    delta: torch.Tensor,
    unsteered_logprobs: np.ndarray | None = None,
) -> list[PromptEstimates]:
    """Per-prompt estimates. With ``unsteered_logprobs`` ((N, K) sweep log-probs at r = 0, NaN
    padded) the unsteered distribution is the measured one, so predictions at r = 0 equal the
    measurement exactly; otherwise it comes from ``lm_head(h0)``."""
    n = len(prompts)
    if tuple(h0.shape[:1]) != (n,) or tuple(delta.shape) != tuple(h0.shape):
        raise ValueError(f"h0 {tuple(h0.shape)} and delta {tuple(delta.shape)} must be ({n}, d)")
    if unsteered_logprobs is not None and np.shape(unsteered_logprobs)[0] != n:
        raise ValueError(f"unsteered_logprobs has {np.shape(unsteered_logprobs)[0]} rows, expected {n}")
    bias = getattr(lm.lm_head, "bias", None)
    out = []
    for i, prompt in enumerate(prompts):
        ids = list(prompt.candidate_ids)
        u = lm.unembedding_rows(ids).double()
        d = delta[i].double()
        g = (u @ d).numpy()
        norms = u.norm(dim=1).numpy()
        dn = float(d.norm())
        cos = g / (norms * dn) if dn > 0 else np.zeros(len(ids))
        if unsteered_logprobs is not None:
            z = np.asarray(unsteered_logprobs[i][: len(ids)], dtype=float)
        else:
            z = (u @ h0[i].double()).numpy()
            if bias is not None:
                z = z + bias.detach().double().cpu().numpy()[ids]
        out.append(prompt_estimates(prompt, z, g, cos, norms, dn))
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


# --------------------------------------------------------------------------------------------
# Theory formulas (numbers from the theory package)
# --------------------------------------------------------------------------------------------
def expected_curve(p: np.ndarray, correct: int, s: float, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact E[P_r(c)] under i.i.d. N(0, s²) shifts at every r (``theory.helpfulness.expected``),
    with its error: the Monte Carlo stderr, or the quadrature error estimate."""
    res = theory_helpfulness.expected(p, int(correct), float(s), np.asarray(r, dtype=float))
    err = np.where(np.isfinite(res.error_estimate), res.error_estimate, 0.0)
    return np.asarray(res.value, dtype=float), np.maximum(np.asarray(res.stderr, dtype=float), err)


EPSILON_GRID = np.linspace(0.01, 0.99, 99)


def spread_bound(p: np.ndarray, correct: int, s: float, r: np.ndarray) -> np.ndarray:
    """Theorem 2′ (``theory.helpfulness.theorem2_prime``): sigmoid(m) + δ minimised over ε in
    ``EPSILON_GRID`` among the ε with m ≥ 0 (each is a valid bound, so their minimum is);
    NaN where no ε gives m ≥ 0 or P_0 ∈ {0, 1}."""
    r = np.asarray(r, dtype=float)
    p0 = float(p[correct])
    if not 0 < p0 < 1 or not math.isfinite(s):
        return np.full(r.shape, np.nan)
    best = np.full(r.shape, np.inf)
    for eps in EPSILON_GRID:
        sb = theory_helpfulness.theorem2_prime(p, int(correct), float(s), r, float(eps))
        best = np.where(sb.applies, np.minimum(best, sb.bound), best)
    return np.where(np.isfinite(best), np.minimum(best, 1.0), np.nan)


# --------------------------------------------------------------------------------------------
# Predicted curves
# --------------------------------------------------------------------------------------------
@dataclass
class Predictions:
    """Fit-free predicted curves on ``coefficients``; per-prompt arrays are (N, C), means (C,).

    Behavior: ``tanh_bound`` (Theorem 1, NaN where λ̂ ≤ 0), ``linear_B`` (softmax of z + r g).
    Helpfulness: ``linear_P``, ``expansion`` (Theorem 2), ``expected`` (+ ``expected_stderr``,
    exact random-direction expectation), ``spread_bound`` (Theorem 2′, sigmoid(m)+δ minimised
    over ε, NaN where no ε gives m ≥ 0), ``spread_bound_quadratic`` (the paper's fitted form).
    """

    coefficients: np.ndarray
    sigma_mode: str
    sigma_pooled: float
    sigma_random: float | None
    curves: dict[str, np.ndarray]        # name -> (N, C)
    means: dict[str, np.ndarray]         # name -> (C,) nan-mean over prompts
    n_defined: dict[str, np.ndarray]     # name -> (C,) prompts with a finite value

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "coefficients": self.coefficients, "sigma_mode": self.sigma_mode,
            "sigma_pooled": self.sigma_pooled, "sigma_random": self.sigma_random,
            "means": self.means, "n_defined": self.n_defined,
        })


def linear_model_curves(estimates: Sequence[PromptEstimates], coefficients: Sequence[float] | np.ndarray) -> np.ndarray:
    """(N, C): B (behavior) or P(correct) (helpfulness) of softmax(z + r g) over the candidates —
    what exact linear response predicts with the actual shifts."""
    r = np.asarray(coefficients, dtype=float)
    out = np.empty((len(estimates), len(r)))
    for i, e in enumerate(estimates):
        probs = _normalise(e.z[None] + r[:, None] * e.g[None])
        if e.scores is not None:
            out[i] = (probs * e.scores[None]).sum(axis=1)
        else:
            out[i] = probs[:, e.correct]
    return out


def _nanmean_cols(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.isfinite(a).sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.where(n > 0, np.nansum(np.where(np.isfinite(a), a, 0.0), axis=0) / np.maximum(n, 1), np.nan)
    return mean, n


def predicted_curves(
    estimates: Sequence[PromptEstimates],
    coefficients: Sequence[float] | np.ndarray,
    *,
    sigma: str | float = "pooled",
    hidden_size: int | None = None,
) -> Predictions:
    """Fit-free curves for one kind of prompts (all behavior or all helpfulness).

    ``sigma``: "pooled" (default), "prompt", "random" (needs ``hidden_size``: σ = 1/√d), or a
    number. Only the helpfulness curves use σ.
    """
    r = np.asarray(coefficients, dtype=float)
    if r.ndim != 1 or len(r) == 0 or not np.all(np.isfinite(r)):
        raise ValueError("coefficients must be a non-empty 1-D finite array")
    if not estimates:
        raise ValueError("estimates is empty")
    kinds = {e.kind for e in estimates}
    if len(kinds) != 1:
        raise ValueError(f"estimates mix kinds {sorted(kinds)}; predict each kind separately")
    kind = kinds.pop()
    sig_pooled = pooled_sigma(estimates)
    sig_random = 1 / math.sqrt(hidden_size) if hidden_size else None
    if isinstance(sigma, str):
        if sigma not in ("pooled", "prompt", "random"):
            raise ValueError(f"sigma {sigma!r} must be 'pooled', 'prompt', 'random' or a number")
        if sigma == "random" and sig_random is None:
            raise ValueError("sigma='random' needs hidden_size")
    elif not (isinstance(sigma, (int, float)) and sigma >= 0):
        raise ValueError(f"sigma {sigma!r} must be a non-negative number")
    n, c = len(estimates), len(r)
    curves: dict[str, np.ndarray] = {}

    if kind == "behavior":
        tb = np.full((n, c), np.nan)
        lb = linear_model_curves(estimates, r)
        for i, e in enumerate(estimates):
            assert e.scores is not None and e.B0 is not None and e.lam_hat is not None
            if e.lam_hat > 0 and abs(e.B0) < 1:
                tb[i] = theory_alignment.evaluate(r, e.B0, 1.0, e.lam_hat)  # γλ = λ̂ (v2 signature)
        curves = {"tanh_bound": tb, "linear_B": lb}
    else:
        names = ("linear_P", "expansion", "expected", "expected_stderr", "spread_bound",
                 "spread_bound_quadratic")
        curves = {k: np.full((n, c), np.nan) for k in names}
        curves["linear_P"] = linear_model_curves(estimates, r)
        for i, e in enumerate(estimates):
            assert e.correct is not None and e.P0 is not None and e.alpha_hat is not None
            if sigma == "pooled":
                sg = sig_pooled
            elif sigma == "prompt":
                sg = e.sigma_hat
            elif sigma == "random":
                sg = float(sig_random)  # type: ignore[arg-type]
            else:
                sg = float(sigma)
            s = e.delta_norm * sg * e.beta_hat
            p0 = e.P0
            curves["expansion"][i] = p0 - e.alpha_hat * p0 * s**2 * r**2
            if math.isfinite(s):
                curves["expected"][i], curves["expected_stderr"][i] = expected_curve(e.p, e.correct, s, r)
                curves["spread_bound"][i] = spread_bound(e.p, e.correct, s, r)
            if 0 < p0:
                curves["spread_bound_quadratic"][i] = 1 / (1 + ((1 - p0) / p0) * (1 + (s * r) ** 2 / 2))
    means, counts = {}, {}
    for k, v in curves.items():
        means[k], counts[k] = _nanmean_cols(v)
    return Predictions(r, str(sigma), sig_pooled, sig_random, curves, means, counts)


# --------------------------------------------------------------------------------------------
# Proposition 1 remainder
# --------------------------------------------------------------------------------------------
@dataclass
class Remainder:
    """‖h_r − h − rΔ‖ per coefficient and prompt, its size relative to ‖rΔ‖, the log-log
    scaling exponent near 0 (≈ 2 where Proposition 1 holds), and the linear-response range."""

    coefficients: np.ndarray    # (C,)
    remainder: np.ndarray       # (C, N)
    relative: np.ndarray        # (C, N), NaN at r = 0
    exponent: np.ndarray        # (N,) slope of log remainder vs log |r|
    exponent_pooled: float      # the same for the mean remainder over prompts
    fit_max_abs_r: float
    threshold: float
    linear_range: np.ndarray    # (N,) largest |r| with relative ≤ threshold for all smaller |r|
    linear_range_pooled: float  # the same for the median relative remainder

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self.__dict__)


def _loglog_slope(r: np.ndarray, y: np.ndarray) -> float:
    ok = (r > 0) & (y > 0) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(r[ok]), np.log(y[ok]), 1)[0])


def _linear_range(abs_r: np.ndarray, rel: np.ndarray, threshold: float) -> float:
    order = np.argsort(abs_r, kind="stable")
    best = 0.0
    for j in order:
        if abs_r[j] == 0:
            continue
        if not (rel[j] <= threshold):
            break
        best = float(abs_r[j])
    return best


def linear_response_remainder(
    h0: np.ndarray | torch.Tensor,
    delta: np.ndarray | torch.Tensor,
    final_hidden_by_coef: np.ndarray,
    coefficients: Sequence[float] | np.ndarray,
    *,
    threshold: float = 0.1,
    exponent_max_abs_r: float | None = None,
    exponent_min_abs_r: float = 0.0,
) -> Remainder:
    """Proposition 1's remainder on a sweep (``final_hidden_by_coef``: (C, N, d)).

    When r = 0 is on the grid, the sweep's own r = 0 row is used as h (instead of ``h0``) so
    both terms come from the same code path; differences between attention kernels (~1e-6)
    would otherwise put a floor under the remainder at small r. The exponent is fitted on the
    |r| in [``exponent_min_abs_r``, ``exponent_max_abs_r``] (default: all nonzero), both signs
    pooled. fp32 rounding through the stack puts a floor of about 1e-6 ‖h‖ under the remainder
    (≈ r = 0.05 for unit vectors on SmolLM2): keep the fit above it.
    """
    h = np.asarray(h0, dtype=np.float64)
    d = np.asarray(delta, dtype=np.float64)
    fh = np.asarray(final_hidden_by_coef, dtype=np.float64)
    r = np.asarray(coefficients, dtype=np.float64)
    if h.ndim != 2 or d.shape != h.shape:
        raise ValueError(f"h0 {h.shape} and delta {d.shape} must both be (N, d)")
    if r.ndim != 1 or fh.shape != (len(r), *h.shape):
        raise ValueError(f"final_hidden_by_coef has shape {fh.shape}, expected {(len(r), *h.shape)}")
    for name, arr in (("h0", h), ("delta", d), ("final_hidden_by_coef", fh), ("coefficients", r)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf")
    if not threshold > 0:
        raise ValueError(f"threshold {threshold} must be > 0")
    zero = np.flatnonzero(r == 0)
    if len(zero):
        h = fh[zero[0]]
    rem = np.linalg.norm(fh - h[None] - r[:, None, None] * d[None], axis=-1)
    lin = np.abs(r)[:, None] * np.linalg.norm(d, axis=-1)[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(lin > 0, rem / lin, np.nan)
    a = np.abs(r)
    cap = float(a.max()) if exponent_max_abs_r is None else float(exponent_max_abs_r)
    sel = (a > 0) & (a <= cap) & (a >= exponent_min_abs_r)
    exps = np.array([_loglog_slope(a[sel], rem[sel, i]) for i in range(h.shape[0])])
    pooled = _loglog_slope(a[sel], rem[sel].mean(axis=1))
    ranges = np.array([_linear_range(a, rel[:, i], threshold) for i in range(h.shape[0])])
    with warnings.catch_warnings():  # the r = 0 row is all NaN by construction
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(np.where(a[:, None] > 0, rel, np.nan), axis=1)
    return Remainder(r, rem, rel, exps, pooled, cap, threshold, ranges,
                     _linear_range(a, med, threshold))
