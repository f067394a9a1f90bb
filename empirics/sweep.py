"""Sweep a steering coefficient: log-probs of each prompt's candidate tokens at every coefficient.

``sweep`` is the fast path every caller uses; ``sweep_reference`` the straightforward loop the
tests compare it with. The fast path drives the engine (``empirics.engine``, docs/engine.md):

1. lower pass: the layers below the first steered layer, and that layer itself (its work does
   not depend on the coefficient), run once per prompt set (``sweep_lower_pass``; callers that
   sweep one prompt set many times pass it in as ``lower``);
2. shared prefix: the longest common token prefix runs once per coefficient above the lower
   pass and is kept as a key/value cache that every prompt's own tokens attend to;
3. coefficients in the batch: rows are (prompt, coefficient) pairs, packed without padding
   (grouped by length) and chunked to a token budget;
4. last position only: the top layer and the unembedding run only at each prompt's last token.

Families without an engine adapter take a slower generic path with the same results: steering
hooks with one coefficient per row, rows of equal length (no padding), last-position logits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from empirics.engine import (
    Family,
    LowerPass,
    Output,
    PromptSet,
    Row,
    SteeredPass,
    candidate_logprobs,
    family_for,
    fast_path_reason,
    lower_pass,
    lower_top,
    normed_and_logits,
    pack_chunks,
    split_where_length_changes,
)
from empirics.hooked import capture_final_norm, input_device
from empirics.inputs import check_prompt_ids, check_sweep
from empirics.models import LoadedModel, pad_id_of, pad_token_batch
from empirics.steering import steer

# Fast path: tokens per packed forward = batch_size * TOKENS_PER_ROW (rows are (coef, prompt)).
# 2048 tokens for the default batch: GEMMs near their peak rate on CPU, activations small.
TOKENS_PER_ROW = 128
# On a GPU larger forwards amortise kernel launches (a guess: not measured, no GPU here).
GPU_TOKEN_FACTOR = 4
# Shared-prefix caches of all coefficients in flight at once stay under this many bytes.
PREFIX_CACHE_BYTES = 1 << 30


@dataclass
class SweepResult:
    """Log-probs ``(C, N, K)`` (NaN where a prompt has fewer than K candidates) and, optionally,
    the final-norm output at the last position ``(C, N, d)``."""

    coefficients: np.ndarray
    logprobs: np.ndarray
    final_hidden: np.ndarray | None


def with_unsteered(res: SweepResult, grid: Sequence[float], unsteered: SweepResult) -> SweepResult:
    """``res`` (swept over ``grid`` without 0) with the r = 0 row of ``unsteered``, a sweep of the
    same prompts along any direction (at r = 0 every direction is the unsteered model)."""
    at = list(grid).index(0.0)
    zero = np.flatnonzero(unsteered.coefficients == 0.0)
    if zero.size == 0 or unsteered.logprobs.shape[1:] != res.logprobs.shape[1:]:
        raise ValueError("unsteered must be a sweep of the same prompts that includes r = 0")
    if res.final_hidden is not None and unsteered.final_hidden is None:
        raise ValueError("unsteered has no final hidden states to insert at r = 0")
    z = int(zero[0])
    hidden = (None if res.final_hidden is None or unsteered.final_hidden is None
              else np.insert(res.final_hidden, at, unsteered.final_hidden[z], axis=0))
    return SweepResult(np.asarray(grid, dtype=float),
                       np.insert(res.logprobs, at, unsteered.logprobs[z], axis=0), hidden)


def _empty_result(coefs: np.ndarray, n: int, cands: list[list[int]], d: int,
                  keep_hidden: bool) -> SweepResult:
    k = max(len(c) for c in cands)
    hidden = np.zeros((coefs.size, n, d), np.float32) if keep_hidden else None
    return SweepResult(coefs, np.full((coefs.size, n, k), np.nan), hidden)


def _store(res: SweepResult, chunk: list[Row], logits: torch.Tensor, hidden: torch.Tensor | None,
           cands: list[list[int]]) -> None:
    for j, lp in enumerate(candidate_logprobs(logits, [cands[r.prompt] for r in chunk])):
        res.logprobs[chunk[j].coef, chunk[j].prompt, : lp.size] = lp
    if hidden is not None and res.final_hidden is not None:
        h = hidden.float().cpu().numpy()
        for j, r in enumerate(chunk):
            res.final_hidden[r.coef, r.prompt] = h[j]


def _progress(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch")


# --------------------------------------------------------------------------- reference loops


def sweep_loop(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
               coefficients: Sequence[float], prompts: Sequence[Sequence[int]],
               candidates: Sequence[Sequence[int]], *, batch_size: int = 16,
               keep_hidden: bool = False, progress: bool = False,
               last_only: bool = False) -> SweepResult:
    """Per coefficient: hooks on, padded batches of ``batch_size`` prompts, full forward, hooks off.

    ``last_only=False``: right padding, logits at every position (the reference).
    ``last_only=True``: left padding with explicit position ids and ``logits_to_keep=1``.
    """
    coefs, ids, cands = check_sweep(lm, vectors, coefficients, prompts, candidates, batch_size)
    res = _empty_result(coefs, len(ids), cands, lm.hidden_size, keep_hidden)
    batches = [list(range(i, min(i + batch_size, len(ids)))) for i in range(0, len(ids), batch_size)]
    bar = _progress(len(coefs) * len(batches), progress, "sweep (loop)")
    with torch.inference_mode():
        for ci, c in enumerate(coefs):
            with steer(lm, vectors, float(c)):
                for batch in batches:
                    logits, last = _loop_batch(lm, [ids[i] for i in batch], last_only)
                    rows = [Row(i, ci) for i in batch]
                    _store(res, rows, logits, last if keep_hidden else None, cands)
                    if bar is not None:
                        bar.update(1)
    if bar is not None:
        bar.close()
    return res


def _loop_batch(lm: LoadedModel, batch: list[list[int]],
                last_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One padded forward: the last position's logits and final-norm output per prompt."""
    dev = input_device(lm)
    # Left padding puts every last token at -1 for logits_to_keep=1.
    tok, mask = pad_token_batch(batch, pad_id_of(lm.tokenizer), left=last_only)
    hid: list[torch.Tensor] = []
    with capture_final_norm(lm, hid):
        if last_only:
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            out = lm.model(input_ids=tok.to(dev), attention_mask=mask.to(dev),
                           position_ids=pos.to(dev), use_cache=False, logits_to_keep=1)
            return out.logits[:, -1], hid[-1][:, -1]
        out = lm.model(input_ids=tok.to(dev), attention_mask=mask.to(dev), use_cache=False)
    at = torch.tensor([len(x) - 1 for x in batch], device=out.logits.device)
    rows = torch.arange(len(batch), device=out.logits.device)
    return out.logits[rows, at], hid[-1][rows.to(hid[-1].device), at.to(hid[-1].device)]


def sweep_reference(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                    coefficients: Sequence[float], prompts: Sequence[Sequence[int]],
                    candidates: Sequence[Sequence[int]], *, batch_size: int = 16,
                    keep_hidden: bool = False, progress: bool = False) -> SweepResult:
    """The straightforward loop (full logits, right padding); the fast path is tested against it."""
    return sweep_loop(lm, vectors, coefficients, prompts, candidates, batch_size=batch_size,
                      keep_hidden=keep_hidden, progress=progress, last_only=False)


# --------------------------------------------------------------------------- fast path


def token_budget(lm: LoadedModel, batch_size: int) -> int:
    """Tokens per packed forward pass of the fast path (its memory budget)."""
    factor = GPU_TOKEN_FACTOR if lm.device.type == "cuda" else 1
    return batch_size * TOKENS_PER_ROW * factor


def sweep_lower_pass(lm: LoadedModel, first_layer: int, prompts: Sequence[Sequence[int]], *,
                     batch_size: int = 16, known: Sequence[LowerPass] = (),
                     keep_kv: bool = False) -> LowerPass | None:
    """The lower pass ``sweep`` runs for these prompts when the first steered layer is
    ``first_layer`` (``None`` for models the engine has no adapter for). Give it to every
    ``sweep`` of the same prompts and first layer; ``known`` passes of other prompt sets
    supply the prompts they share. ``keep_kv``: also keep every prompt's keys/values, so that
    ``generate.steered_generate(lower=...)`` can start from the same pass (first layer below
    the top one)."""
    ids = check_prompt_ids(lm, prompts)
    if fast_path_reason(lm, max(len(x) for x in ids)) is not None:
        return None
    family = family_for(lm)
    with torch.inference_mode():
        return lower_pass(family, PromptSet.of(ids), lower_top(first_layer, lm.num_layers),
                          budget=token_budget(lm, batch_size), known=known, keep_kv=keep_kv)


def layer_inputs(lm: LoadedModel, prompts: Sequence[Sequence[int]], *,
                 batch_size: int = 16) -> LowerPass:
    """One unsteered pass over ``prompts`` keeping every layer's input, so sweeps from any first
    steered layer can start there (``sweep(lower=...)``); engine families only."""
    ids = check_prompt_ids(lm, prompts)
    reason = fast_path_reason(lm, max(len(x) for x in ids))
    if reason is not None:
        raise ValueError(f"layer_inputs needs the engine's fast path: {reason}")
    top = lm.num_layers - 1
    with torch.inference_mode():
        return lower_pass(family_for(lm), PromptSet.of(ids), top, keep=range(top),
                          budget=token_budget(lm, batch_size))


def last_token_outputs(lm: LoadedModel, prompts: Sequence[Sequence[int]], layers: Sequence[int],
                       *, batch_size: int = 16) -> dict[int, torch.Tensor] | None:
    """Output of each decoder layer in ``layers`` at every prompt's last token, ``{layer: (n, d)
    float32 CPU}``, by one unsteered lower pass (shared prefix once, no padding); ``None`` for
    models the engine has no adapter for."""
    ids = check_prompt_ids(lm, prompts)
    if fast_path_reason(lm, max(len(x) for x in ids)) is not None:
        return None
    bounds = sorted({int(layer) + 1 for layer in layers})   # layer l's output: layer l+1's input
    with torch.inference_mode():
        lower = lower_pass(family_for(lm), PromptSet.of(ids), bounds[-1], keep=bounds,
                           budget=token_budget(lm, batch_size))
    return {int(layer): torch.stack([s[-1] for s in lower.own_states[int(layer) + 1]])
            .to("cpu", torch.float32) for layer in layers}


def sweep(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], coefficients: Sequence[float],
          prompts: Sequence[Sequence[int]], candidates: Sequence[Sequence[int]], *,
          batch_size: int = 16, keep_hidden: bool = False, progress: bool = False,
          lower: LowerPass | None = None) -> SweepResult:
    """Log-probs of ``candidates[i]`` after ``prompts[i]`` with ``r * vectors[l]`` added to the
    output of each layer ``l``, for each ``r`` in ``coefficients`` (sorted ascending, unique).

    ``token_budget(lm, batch_size)`` tokens go through the model per forward pass. ``lower``:
    the lower pass of these very prompts (``sweep_lower_pass`` or ``layer_inputs``), so many
    sweeps of one prompt set run the unsteered layers once.
    """
    coefs, ids, cands = check_sweep(lm, vectors, coefficients, prompts, candidates, batch_size)
    budget = token_budget(lm, batch_size)
    reason = fast_path_reason(lm, max(len(p) for p in ids))
    if lower is not None:
        if reason is not None:
            raise ValueError(f"lower (a lower pass) needs the engine's fast path: {reason}")
        if lower.prompts.ids != ids:
            raise ValueError("lower (a lower pass) was computed for other prompts")
    with torch.inference_mode():
        if reason is not None:
            return _sweep_generic(lm, vectors, coefs, ids, cands, budget, keep_hidden, progress)
        family = family_for(lm)
        first = min(vectors)
        if lower is None:
            lower = lower_pass(family, PromptSet.of(ids), lower_top(first, lm.num_layers),
                               budget=budget)
        return _sweep_engine(family, vectors, coefs, _lower_from(lower, first), cands, budget,
                             keep_hidden, progress)


def _lower_from(lower: LowerPass, first: int) -> LowerPass:
    """``lower`` seen at the boundary the sweep steering from ``first`` starts at."""
    for top in (lower_top(first, lower.family.lm.num_layers), first):
        if top in lower.kept:
            return lower.at(top)
    raise ValueError(f"lower (a lower pass) kept layers {lower.kept}; steering from layer "
                     f"{first} needs layer {first} or {first + 1}: use sweep_lower_pass")


def _sweep_generic(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], coefs: np.ndarray,
                   ids: list[list[int]], cands: list[list[int]], budget: int, keep_hidden: bool,
                   progress: bool) -> SweepResult:
    """Any architecture: hooks with one coefficient per row, equal-length rows, last logits."""
    res = _empty_result(coefs, len(ids), cands, lm.hidden_size, keep_hidden)

    def length(r: Row) -> int:
        return len(ids[r.prompt])

    rows = sorted((Row(p, c) for c in range(coefs.size) for p in range(len(ids))),
                  key=lambda r: (length(r), r.coef, r.prompt))
    # Equal lengths per forward (no padding, no mask): split chunks at length changes.
    chunks = [ch for group in split_where_length_changes(rows, length)
              for ch in pack_chunks(group, length, budget)]
    dev = input_device(lm)
    coef_t = torch.tensor(coefs, dtype=torch.float32)
    bar = _progress(len(chunks), progress, "sweep (generic)")
    for chunk in chunks:
        tok = torch.tensor([ids[r.prompt] for r in chunk], dtype=torch.long, device=dev)
        hid: list[torch.Tensor] = []
        with steer(lm, vectors, coef_t[[r.coef for r in chunk]]), capture_final_norm(lm, hid):
            try:
                logits = lm.model(input_ids=tok, use_cache=False, logits_to_keep=1).logits[:, -1]
            except TypeError:  # architectures without logits_to_keep
                logits = lm.model(input_ids=tok, use_cache=False).logits[:, -1]
        _store(res, chunk, logits, hid[-1][:, -1] if keep_hidden else None, cands)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return res


def _coefficient_groups(family: Family, n_coefs: int, n_layers: int,
                        prefix_len: int) -> list[list[int]]:
    """Coefficient groups whose prefix caches fit ``PREFIX_CACHE_BYTES`` together."""
    per_coef = 2 * n_layers * family.kv_heads * family.head_dim * max(prefix_len, 1)
    per_coef *= torch.finfo(family.lm.dtype).bits // 8
    size = max(1, min(n_coefs, PREFIX_CACHE_BYTES // max(per_coef, 1)))
    return [list(range(i, min(i + size, n_coefs))) for i in range(0, n_coefs, size)]


def _sweep_engine(family: Family, vectors: Mapping[int, torch.Tensor], coefs: np.ndarray,
                  lower: LowerPass, cands: list[list[int]], budget: int, keep_hidden: bool,
                  progress: bool) -> SweepResult:
    """Per coefficient group: the prefix cache, then packed (prompt, coefficient) rows from the
    lower pass's states up, read at the last position."""
    prompts = lower.prompts
    res = _empty_result(coefs, len(prompts), cands, family.lm.hidden_size, keep_hidden)
    steered = SteeredPass.of(lower, vectors)
    groups = _coefficient_groups(family, coefs.size, len(steered.layers), prompts.prefix_len)
    plan = [pack_chunks([Row(i, c) for i in prompts.order for c in g], prompts.own_length, budget)
            for g in groups]
    bar = _progress(sum(len(chunks) + bool(prompts.prefix_len) for chunks in plan), progress,
                    "sweep")
    coef_t = torch.tensor(coefs, dtype=torch.float32)
    for g, chunks in zip(groups, plan, strict=True):
        prefix = steered.prefix_cache(coef_t[g])
        if bar is not None and prompts.prefix_len:
            bar.update(1)
        local = {c: j for j, c in enumerate(g)}
        for chunk in chunks:
            index = torch.tensor([local[r.coef] for r in chunk], dtype=torch.long)
            h = steered.run_rows(chunk, coef_t[[r.coef for r in chunk]], prefix, index,
                                 Output.LAST)
            normed, logits = normed_and_logits(family, h)
            _store(res, chunk, logits, normed if keep_hidden else None, cands)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return res


# --------------------------------------------------------------------------- cost model


def sweep_cost(lm: LoadedModel, first_layer: int, n_coefficients: int,
               prompts: Sequence[Sequence[int]]) -> float:
    """Multiply-adds of the projections and MLPs in one fast-path ``sweep`` whose first steered
    layer is ``first_layer``, following its structure: the shared prefix and every prompt's own
    tokens once through the lower pass (``lower_top``); per coefficient, the prefix and the own
    tokens through the layers above it (the top layer and the unembedding at the last token
    only). Attention scores (quadratic in length, small for short prompts) are left out. Used
    to extrapolate measured sweep times to unmeasured candidates of other depths."""
    n_layers = lm.num_layers
    if not 0 <= first_layer < n_layers:
        raise ValueError(f"first_layer {first_layer} must be in [0, {n_layers})")
    if n_coefficients < 1:
        raise ValueError(f"n_coefficients must be >= 1, got {n_coefficients}")
    ids = [list(p) for p in prompts]
    if not ids:
        raise ValueError("prompts is empty")
    per_layer = [sum(m.weight.numel() for m in layer.modules() if isinstance(m, torch.nn.Linear))
                 for layer in lm.layers]
    head = lm.lm_head.weight.numel()  # type: ignore[union-attr,operator]
    p = PromptSet.of(ids).prefix_len
    own = sum(len(x) - p for x in ids)
    top = lower_top(first_layer, n_layers)
    below = sum(per_layer[:top])
    above = sum(per_layer[top:-1])
    lower = (p + own) * below
    upper = p * (above + per_layer[-1]) + own * above + len(ids) * (per_layer[-1] + head)
    return float(lower + n_coefficients * upper)
