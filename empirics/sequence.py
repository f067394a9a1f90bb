"""Behavior of generated text and the theory at sequence level (THEORY.md v2, "Sequence level").

* ``reply_logprob`` / ``sequence_deltas``: ``log P_r(y | q)`` of whole replies by teacher forcing,
  and ``δ(y) = d/dr log P_r(y | q)`` at ``r = 0`` by a forward-mode JVP (exact) or a central
  difference.
* ``generation_measures``: judged replies -> per-prompt ``B_gen(r)`` over the decided replies
  (``P(aligned) − P(misaligned)``), the undecided rate beside it, greedy ``B``, bootstrap CIs over
  prompts.
* ``sequence_predictions``: from the samples at ``r = 0`` alone, per prompt the fit-free slope and
  the importance-weighted curve (``theory.alignment.sequence_slope_value`` /
  ``importance_curve``, through ``empirics.formulas``), pooled over prompts with bootstrap CIs.

Undecided replies: the measured B is over a prompt's decided replies (NaN when it has none); the
importance weights of the decided ``r = 0`` samples estimate exactly that conditional behavior.
The undecided rate is reported with every curve.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from empirics import formulas
from empirics.engine import common_prefix_length, family_for, fast_path_reason
from empirics.hooked import forward_mode
from empirics.jvp import packed_jvp
from empirics.measures import MeanCI
from empirics.models import LoadedModel, pad_id_of, pad_token_batch
from empirics.steering import steer, validate_vectors
from empirics.sweep import token_budget

DELTA_METHODS = ("jvp", "reference", "fd")

# --------------------------------------------------------------------------- δ(y)


def _batch_logprob(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                   coefficient: float | torch.Tensor, prompts: Sequence[Sequence[int]],
                   replies: Sequence[Sequence[int]]) -> torch.Tensor:
    """Summed reply log-probabilities ``(B,)``; rows right-padded (causal: the tail is inert)."""
    seqs = [list(p) + list(r) for p, r in zip(prompts, replies, strict=True)]
    ids, _ = pad_token_batch(seqs, pad_id_of(lm.tokenizer))
    ids = ids.to(lm.device)
    with steer(lm, vectors, coefficient):
        logits = lm.model(input_ids=ids, use_cache=False).logits  # type: ignore[operator]
    logp = torch.log_softmax(logits.float(), dim=-1)
    out = []
    for j, (p, r) in enumerate(zip(prompts, replies, strict=True)):
        if not r:
            out.append(logp.new_zeros(()))
            continue
        pos = torch.arange(len(p) - 1, len(p) - 1 + len(r), device=logp.device)
        tgt = torch.as_tensor(list(r), dtype=torch.long, device=logp.device)
        out.append(logp[j, pos, tgt].sum())
    return torch.stack(out)


def _check_pairs(prompts: Sequence[Sequence[int]], replies: Sequence[Sequence[int]],
                 batch_size: int) -> None:
    if len(prompts) != len(replies):
        raise ValueError(f"{len(prompts)} prompts for {len(replies)} replies: pair them one to one")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("a prompt is empty: every reply needs its prompt's tokens")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def reply_logprob(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], coefficient: float,
                  prompts: Sequence[Sequence[int]], replies: Sequence[Sequence[int]], *,
                  batch_size: int = 8) -> np.ndarray:
    """``log P_r(y_i | q_i)`` ``(n,)`` at steering coefficient ``r`` by teacher forcing."""
    _check_pairs(prompts, replies, batch_size)
    out = []
    with torch.inference_mode():
        for i in range(0, len(prompts), batch_size):
            out.append(_batch_logprob(lm, vectors, float(coefficient), prompts[i:i + batch_size],
                                      replies[i:i + batch_size]).double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


def sequence_deltas(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                    prompts: Sequence[Sequence[int]], replies: Sequence[Sequence[int]], *,
                    method: str = "jvp", fd_step: float = 1e-2, batch_size: int = 8) -> np.ndarray:
    """``δ(y_i) = d/dr log P_r(y_i | q_i)`` at ``r = 0``, ``(n,)``.

    ``"jvp"``: exact forward-mode derivative; on Llama-like models packed (``jvp.packed_jvp``:
    no padding, shared prefix and unsteered layers once, logits only at the reply's positions),
    else as ``"reference"``. ``"reference"``: the JVP through the Hugging Face model in padded
    batches of ``batch_size`` under eager attention. ``"fd"``: ``(L(+h) − L(−h)) / 2h``, packed
    likewise on Llama-like models (about half the time of the packed JVP: inference kernels).
    """
    if method not in DELTA_METHODS:
        raise ValueError(f"method {method!r} must be one of {DELTA_METHODS}")
    if not fd_step > 0:
        raise ValueError(f"fd_step {fd_step} must be > 0")
    _check_pairs(prompts, replies, batch_size)
    validate_vectors(lm, vectors)
    seq_len = max((len(q) + len(y) for q, y in zip(prompts, replies, strict=True)), default=0)
    packed = fast_path_reason(lm, seq_len) is None
    if method == "fd" and packed:
        return _deltas_packed(lm, vectors, prompts, replies, fd_step)
    if method == "fd":
        hi = reply_logprob(lm, vectors, fd_step, prompts, replies, batch_size=batch_size)
        lo = reply_logprob(lm, vectors, -fd_step, prompts, replies, batch_size=batch_size)
        return (hi - lo) / (2 * fd_step)
    if method == "jvp" and packed:
        return _deltas_packed(lm, vectors, prompts, replies, None)
    out = []
    with forward_mode(lm), torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            p, r = prompts[i:i + batch_size], replies[i:i + batch_size]
            zero = torch.zeros((), dtype=lm.dtype, device=lm.device)

            def f(c: torch.Tensor, p: Sequence[Sequence[int]] = p,
                  r: Sequence[Sequence[int]] = r) -> torch.Tensor:
                return _batch_logprob(lm, vectors, c, p, r)

            tangent = torch.func.jvp(f, (zero,), (torch.ones_like(zero),))[1]
            out.append(tangent.double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


def _deltas_packed(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                   prompts: Sequence[Sequence[int]], replies: Sequence[Sequence[int]],
                   fd_step: float | None) -> np.ndarray:
    """The fast path of :func:`sequence_deltas` (rows with an empty reply: δ = 0); ``fd_step``
    ``None``: the exact JVP, else central differences with that step."""
    rows = [i for i, y in enumerate(replies) if len(y) > 0]
    out = np.zeros(len(prompts))
    if not rows:
        return out
    seqs = [[int(t) for t in prompts[i]] + [int(t) for t in replies[i]] for i in rows]
    # The shared prefix must end before every reply's first predicting position.
    prefix_len = min(common_prefix_length(seqs), min(len(prompts[i]) for i in rows) - 1)
    family = family_for(lm)

    def readout(h: torch.Tensor, chunk: list[int]) -> torch.Tensor:
        pos: list[int] = []
        tgt: list[int] = []
        off = 0
        for j in chunk:
            q, y = prompts[rows[j]], replies[rows[j]]
            start = off + len(q) - 1 - prefix_len   # own-token index predicting y[0]
            pos.extend(range(start, start + len(y)))
            tgt.extend(int(t) for t in y)
            off += len(seqs[j]) - prefix_len
        idx = torch.tensor(pos, dtype=torch.long, device=h.device)
        normed = family.final_norm(h.index_select(0, idx))
        logp = torch.log_softmax(family.unembed(normed).float(), dim=-1)
        lp = logp.gather(1, torch.tensor(tgt, dtype=torch.long, device=logp.device).unsqueeze(1))
        parts = lp.squeeze(1).split([len(replies[rows[j]]) for j in chunk])
        return torch.stack([part.sum() for part in parts])

    got = packed_jvp(lm, vectors, seqs, readout, last_only=False, budget=token_budget(lm, 16),
                     prefix_len=prefix_len, fd_step=fd_step)
    for j, i in enumerate(rows):
        out[i] = float(got.first[j])
    return out


# --------------------------------------------------------------------------- measures


def nan_bootstrap(values: np.ndarray, n_boot: int = 1000, level: float = 0.95,
                  seed: int = 0) -> MeanCI:
    """Mean over prompts (last axis) ignoring NaN, with a seeded percentile bootstrap CI over
    prompts (the same resamples for every row, so curves stay paired). ``n`` = prompts."""
    v = np.atleast_2d(np.asarray(values, dtype=float))
    n = v.shape[-1]
    if n == 0:
        raise ValueError("no prompts to average")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN is the answer
        mean = np.nanmean(v, axis=-1)
        boots = np.nanmean(v[:, idx], axis=-1)
        alpha = (1 - level) / 2
        lo, hi = np.nanquantile(boots, [alpha, 1 - alpha], axis=-1)
    return MeanCI(mean, lo, hi, level, n)


def decided_behavior(verdicts: np.ndarray) -> np.ndarray:
    """``P(aligned) − P(misaligned)`` over the decided (non-zero) verdicts of the last axis;
    NaN where none is decided."""
    v = np.asarray(verdicts, dtype=float)
    decided = (v != 0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(decided > 0, v.sum(-1) / np.maximum(decided, 1), np.nan)


@dataclass(frozen=True)
class GenerationMeasures:
    """Measured behavior of generated replies at each coefficient.

    ``verdicts`` ``(C, N, S)`` in {+1, -1, 0}; ``per_prompt`` ``(C, N)`` decided B per prompt;
    ``b_gen`` pooled over prompts with CI; ``undecided`` ``(C,)`` rate over all replies;
    ``greedy_*`` the same for one greedy reply per prompt (``None`` when not generated).
    """

    coefficients: np.ndarray
    verdicts: np.ndarray
    per_prompt: np.ndarray
    b_gen: MeanCI
    undecided: np.ndarray
    greedy_verdicts: np.ndarray | None
    b_greedy: MeanCI | None
    greedy_undecided: np.ndarray | None


def generation_measures(coefficients: Sequence[float], verdicts: np.ndarray,
                        greedy_verdicts: np.ndarray | None = None, *, n_boot: int = 1000,
                        seed: int = 0) -> GenerationMeasures:
    """Measures from judged sampled replies ``(C, N, S)`` and, optionally, greedy ``(C, N)``."""
    coefs = np.asarray(list(coefficients), dtype=float)
    v = np.asarray(verdicts)
    if v.ndim != 3 or v.shape[0] != coefs.size:
        raise ValueError(f"verdicts must be (C={coefs.size}, prompts, samples), got {v.shape}")
    if not np.isin(v, (-1, 0, 1)).all():
        raise ValueError("verdicts must be +1, -1 or 0 (undecided)")
    per = decided_behavior(v)
    g_ci = g_und = None
    g = None
    if greedy_verdicts is not None:
        g = np.asarray(greedy_verdicts)
        if g.shape != v.shape[:2]:
            raise ValueError(f"greedy verdicts must be (C, prompts) = {v.shape[:2]}, got {g.shape}")
        g_ci = nan_bootstrap(np.where(g != 0, g, np.nan), n_boot=n_boot, seed=seed)
        g_und = (g == 0).mean(-1)
    return GenerationMeasures(coefs, v, per, nan_bootstrap(per, n_boot=n_boot, seed=seed),
                              (v == 0).mean(axis=(1, 2)), g, g_ci, g_und)


# --------------------------------------------------------------------------- predictions


@dataclass(frozen=True)
class SequencePredictions:
    """Fit-free predictions from samples at ``r = 0``.

    ``slope``: pooled ``dB/dr`` at 0 (``value``, CI ``lo``/``hi``); ``curve``: the pooled
    importance-weighted curve at ``coefficients``; ``per_prompt_slope`` ``(N,)`` and
    ``per_prompt_curve`` ``(C, N)`` (NaN for prompts with fewer than 2 decided samples);
    ``used`` prompts with a prediction; ``measured_slope`` the central difference of the measured
    curve at the grid points nearest 0 (with CI), for the comparison.
    """

    coefficients: np.ndarray
    slope: MeanCI
    curve: MeanCI
    per_prompt_slope: np.ndarray
    per_prompt_curve: np.ndarray
    deltas: np.ndarray
    used: int
    measured_slope: MeanCI | None


def sequence_predictions(coefficients: Sequence[float], scores0: np.ndarray, deltas0: np.ndarray,
                         measured_per_prompt: np.ndarray | None = None, *, n_boot: int = 1000,
                         seed: int = 0) -> SequencePredictions:
    """Per prompt ``n``: verdicts ``scores0[n]`` (S,) in {+1, -1, 0} of its samples at r = 0 and
    their ``deltas0[n]`` (S,). Undecided samples are left out (the prediction is of the decided
    behavior, as measured)."""
    coefs = np.asarray(list(coefficients), dtype=float)
    sc = np.asarray(scores0)
    de = np.asarray(deltas0, dtype=float)
    if sc.shape != de.shape or sc.ndim != 2:
        raise ValueError(f"scores0 and deltas0 must both be (prompts, samples), got {sc.shape}, "
                         f"{de.shape}")
    n = sc.shape[0]
    slopes = np.full(n, np.nan)
    curves = np.full((coefs.size, n), np.nan)
    for i in range(n):
        keep = sc[i] != 0
        if keep.sum() < 2:
            continue
        slopes[i] = formulas.sequence_slope(sc[i, keep], de[i, keep])
        curves[:, i] = formulas.importance_curve(sc[i, keep], de[i, keep], coefs)
    measured = None
    if measured_per_prompt is not None and coefs.size >= 2:
        above = np.where(coefs > 0)[0]
        below = np.where(coefs < 0)[0]
        if above.size and below.size:
            a, b = above[np.argmin(coefs[above])], below[np.argmax(coefs[below])]
            diff = (measured_per_prompt[a] - measured_per_prompt[b]) / (coefs[a] - coefs[b])
            measured = nan_bootstrap(diff[None], n_boot=n_boot, seed=seed)
    return SequencePredictions(coefs, nan_bootstrap(slopes[None], n_boot=n_boot, seed=seed),
                               nan_bootstrap(curves, n_boot=n_boot, seed=seed), slopes, curves, de,
                               int(np.isfinite(slopes).sum()), measured)
