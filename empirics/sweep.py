"""Sweep a steering coefficient: log-probs of each prompt's candidate tokens at every coefficient.

``sweep`` is the fast path every caller uses; ``sweep_reference`` the straightforward loop the
tests compare it with. The fast path, for Llama-like models (``empirics.forward``):

1. shared prefix: the longest common token prefix of all prompts is run once (unsteered below the
   first steered layer, once per coefficient above it) and kept as a KV cache that every
   prompt's own tokens attend to: exact, because attention is causal;
2. layer split: layers below the first steered layer run once per prompt, not per coefficient;
3. coefficients in the batch: rows are (coefficient, prompt) pairs, packed without padding
   (grouped by length) and chunked to a token budget;
4. last position only: the last layer and the unembedding run only at each prompt's last token.

Other architectures (e.g. GPT-2) take a slower generic path with the same results: steering hooks
with one coefficient per row, rows of equal length (no padding), last-position logits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from empirics.forward import (
    KV,
    LlamaStack,
    PerDevice,
    Runs,
    common_prefix_length,
    manual_support,
)
from empirics.models import LoadedModel, pad_id_of, pad_token_batch
from empirics.steering import steer, validate_vectors

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


# --------------------------------------------------------------------------- validation


def check_coefficients(coefficients: Sequence[float]) -> np.ndarray:
    """The coefficient grid as a float64 array: non-empty and finite (``ValueError`` otherwise)."""
    coefs = np.asarray(list(coefficients), dtype=np.float64)
    if coefs.ndim != 1 or coefs.size == 0:
        raise ValueError("coefficients is empty: give at least one coefficient")
    if not np.isfinite(coefs).all():
        raise ValueError(f"coefficients contain NaN or inf: {coefs.tolist()}")
    return coefs


def check_prompt_ids(lm: LoadedModel, prompts: Sequence[Sequence[int]]) -> list[list[int]]:
    """Tokenized prompts as lists of ints: at least one, none empty, every id in the embedding."""
    if len(prompts) == 0:
        raise ValueError("prompts is empty: give at least one tokenized prompt")
    n_embed = int(lm.model.get_input_embeddings().weight.shape[0])  # type: ignore[operator]
    ids = [[int(t) for t in p] for p in prompts]
    for i, p in enumerate(ids):
        if not p:
            raise ValueError(f"prompts[{i}] is empty")
        if min(p) < 0 or max(p) >= n_embed:
            raise ValueError(f"prompts[{i}] has a token id outside [0, {n_embed})")
    return ids


def _check(
    lm: LoadedModel,
    vectors: Mapping[int, torch.Tensor],
    coefficients: Sequence[float],
    prompts: Sequence[Sequence[int]],
    candidates: Sequence[Sequence[int]],
    batch_size: int,
) -> tuple[np.ndarray, list[list[int]], list[list[int]]]:
    """Validated copies of the inputs; ``ValueError`` naming the problem otherwise."""
    validate_vectors(lm, vectors)
    coefs = check_coefficients(coefficients)
    if coefs.size > 1 and not (np.diff(coefs) > 0).all():
        raise ValueError(f"coefficients must be sorted ascending and unique, got {coefs.tolist()}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    ids = check_prompt_ids(lm, prompts)
    if len(candidates) != len(prompts):
        raise ValueError(f"candidates has {len(candidates)} entries for {len(prompts)} prompts")
    vocab = int(lm.lm_head.weight.shape[0])  # type: ignore[union-attr,index]
    cands = [[int(t) for t in c] for c in candidates]
    for i, c in enumerate(cands):
        if not c:
            raise ValueError(f"candidates[{i}] is empty: give at least one candidate token id")
        bad = [t for t in c if not 0 <= t < vocab]
        if bad:
            raise ValueError(f"candidates[{i}] has token ids {bad} outside the vocabulary [0, {vocab})")
    return coefs, ids, cands


def _empty_result(coefs: np.ndarray, n: int, cands: list[list[int]], d: int,
                  keep_hidden: bool) -> SweepResult:
    k = max(len(c) for c in cands)
    hidden = np.zeros((coefs.size, n, d), np.float32) if keep_hidden else None
    return SweepResult(coefs, np.full((coefs.size, n, k), np.nan), hidden)


def _score(logits: torch.Tensor, cands: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Full-vocabulary float32 log-softmax, candidates' values as float64."""
    logp = torch.log_softmax(logits.float(), dim=-1).cpu()
    return [logp[j, list(c)].double().numpy() for j, c in enumerate(cands)]


@contextmanager
def capture_final_norm(lm: LoadedModel, store: list[torch.Tensor]) -> Iterator[None]:
    """Record the final norm's output (the hidden state the unembedding reads)."""

    def hook(_m: torch.nn.Module, _i: Any, out: Any) -> None:
        store.append(out[0] if isinstance(out, tuple) else out)

    handle = lm.final_norm.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _input_device(lm: LoadedModel) -> torch.device:
    """Where input ids go: the embedding's device (CPU when accelerate offloads it to meta; its
    hooks move inputs to the execution device)."""
    dev = lm.model.get_input_embeddings().weight.device  # type: ignore[operator]
    return torch.device("cpu") if dev.type == "meta" else dev  # type: ignore[union-attr]


def _progress(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch")


# --------------------------------------------------------------------------- reference loops


def sweep_loop(
    lm: LoadedModel,
    vectors: Mapping[int, torch.Tensor],
    coefficients: Sequence[float],
    prompts: Sequence[Sequence[int]],
    candidates: Sequence[Sequence[int]],
    *,
    batch_size: int = 16,
    keep_hidden: bool = False,
    progress: bool = False,
    last_only: bool = False,
) -> SweepResult:
    """Per coefficient: hooks on, padded batches of ``batch_size`` prompts, full forward, hooks off.

    ``last_only=False``: right padding, logits at every position (the reference).
    ``last_only=True``: left padding with explicit position ids and ``logits_to_keep=1``.
    """
    coefs, ids, cands = _check(lm, vectors, coefficients, prompts, candidates, batch_size)
    res = _empty_result(coefs, len(ids), cands, lm.hidden_size, keep_hidden)
    batches = [list(range(i, min(i + batch_size, len(ids)))) for i in range(0, len(ids), batch_size)]
    bar = _progress(len(coefs) * len(batches), progress, "sweep (loop)")
    pad = pad_id_of(lm.tokenizer)
    dev = _input_device(lm)
    with torch.inference_mode():
        for ci, c in enumerate(coefs):
            with steer(lm, vectors, float(c)):
                for batch in batches:
                    lens = [len(ids[i]) for i in batch]
                    # Left padding puts every last token at -1 for logits_to_keep=1.
                    tok, mask = pad_token_batch([ids[i] for i in batch], pad, left=last_only)
                    hid: list[torch.Tensor] = []
                    with capture_final_norm(lm, hid):
                        if last_only:
                            pos = (mask.cumsum(-1) - 1).clamp(min=0)
                            out = lm.model(input_ids=tok.to(dev), attention_mask=mask.to(dev),
                                           position_ids=pos.to(dev), use_cache=False,
                                           logits_to_keep=1)
                            logits = out.logits[:, -1]
                            last = hid[-1][:, -1]
                        else:
                            out = lm.model(input_ids=tok.to(dev), attention_mask=mask.to(dev),
                                           use_cache=False)
                            at = torch.tensor([n - 1 for n in lens], device=out.logits.device)
                            rows = torch.arange(len(batch), device=out.logits.device)
                            logits = out.logits[rows, at]
                            last = hid[-1][rows.to(hid[-1].device), at.to(hid[-1].device)]
                    for j, lp in enumerate(_score(logits, [cands[i] for i in batch])):
                        res.logprobs[ci, batch[j], : lp.size] = lp
                    if res.final_hidden is not None:
                        res.final_hidden[ci, batch] = last.float().cpu().numpy()
                    if bar is not None:
                        bar.update(1)
    if bar is not None:
        bar.close()
    return res


def sweep_reference(
    lm: LoadedModel,
    vectors: Mapping[int, torch.Tensor],
    coefficients: Sequence[float],
    prompts: Sequence[Sequence[int]],
    candidates: Sequence[Sequence[int]],
    *,
    batch_size: int = 16,
    keep_hidden: bool = False,
    progress: bool = False,
) -> SweepResult:
    """The straightforward loop (full logits, right padding); the fast path is tested against it."""
    return sweep_loop(lm, vectors, coefficients, prompts, candidates, batch_size=batch_size,
                      keep_hidden=keep_hidden, progress=progress, last_only=False)


# --------------------------------------------------------------------------- fast path


@dataclass
class _Row:
    coef: int  # index into the coefficient grid
    prompt: int


def _chunks(rows: list[_Row], length: Callable[[_Row], int], budget: int) -> list[list[_Row]]:
    """Consecutive rows grouped so that each group's tokens stay within ``budget`` (>= 1 row)."""
    out: list[list[_Row]] = []
    cur: list[_Row] = []
    used = 0
    for row in rows:
        n = length(row)
        if cur and used + n > budget:
            out.append(cur)
            cur, used = [], 0
        cur.append(row)
        used += n
    if cur:
        out.append(cur)
    return out


def _runs(rows: list[_Row], length: Callable[[_Row], int]) -> Runs:
    """Run-length groups of equal-length consecutive rows."""
    lengths: list[int] = []
    counts: list[int] = []
    for row in rows:
        n = length(row)
        if lengths and lengths[-1] == n:
            counts[-1] += 1
        else:
            lengths.append(n)
            counts.append(1)
    return Runs(lengths, counts)


def sweep(
    lm: LoadedModel,
    vectors: Mapping[int, torch.Tensor],
    coefficients: Sequence[float],
    prompts: Sequence[Sequence[int]],
    candidates: Sequence[Sequence[int]],
    *,
    batch_size: int = 16,
    keep_hidden: bool = False,
    progress: bool = False,
    lower: LayerInputs | None = None,
) -> SweepResult:
    """Log-probs of ``candidates[i]`` after ``prompts[i]`` with ``r * vectors[l]`` added to the
    output of each layer ``l``, for each ``r`` in ``coefficients`` (sorted ascending, unique).

    ``token_budget(lm, batch_size)`` tokens (``batch_size * TOKENS_PER_ROW`` on CPU) go through
    the model per forward pass. ``lower``: the unsteered inputs of every layer for these very
    prompts (``layer_inputs``), so the layers below the first steered one are not run again
    (many sweeps of one prompt set, e.g. the planner's ±h forwards); Llama-like models only.
    """
    coefs, ids, cands = _check(lm, vectors, coefficients, prompts, candidates, batch_size)
    budget = token_budget(lm, batch_size)
    reason = manual_support(lm, max(len(p) for p in ids))
    if lower is not None:
        if reason is not None:
            raise ValueError(f"lower (cached layer inputs) needs the Llama-like fast path: {reason}")
        if lower.ids != ids:
            raise ValueError("lower (cached layer inputs) was computed for other prompts")
    with torch.inference_mode():
        if reason is None:
            return _sweep_llama(lm, vectors, coefs, ids, cands, budget, keep_hidden, progress,
                                lower)
        return _sweep_generic(lm, vectors, coefs, ids, cands, budget, keep_hidden, progress)


def token_budget(lm: LoadedModel, batch_size: int) -> int:
    """Tokens per packed forward pass of the fast path (its memory budget)."""
    factor = GPU_TOKEN_FACTOR if lm.device.type == "cuda" else 1
    return batch_size * TOKENS_PER_ROW * factor


def _sweep_generic(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], coefs: np.ndarray,
                   ids: list[list[int]], cands: list[list[int]], budget: int, keep_hidden: bool,
                   progress: bool) -> SweepResult:
    """Any architecture: hooks with one coefficient per row, equal-length rows, last logits."""
    res = _empty_result(coefs, len(ids), cands, lm.hidden_size, keep_hidden)
    rows = sorted((_Row(c, p) for c in range(coefs.size) for p in range(len(ids))),
                  key=lambda r: (len(ids[r.prompt]), r.coef, r.prompt))
    # Equal lengths per forward (no padding, no mask): split chunks at length changes.
    chunks = [ch for group in _split_by(rows, lambda r: len(ids[r.prompt]))
              for ch in _chunks(group, lambda r: len(ids[r.prompt]), budget)]
    dev = _input_device(lm)
    coef_t = torch.tensor(coefs, dtype=torch.float32)
    bar = _progress(len(chunks), progress, "sweep (generic)")
    for chunk in chunks:
        tok = torch.tensor([ids[r.prompt] for r in chunk], dtype=torch.long, device=dev)
        row_coef = coef_t[[r.coef for r in chunk]]
        hid: list[torch.Tensor] = []
        with steer(lm, vectors, row_coef), capture_final_norm(lm, hid):
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


def _split_by(rows: list[_Row], key: Callable[[_Row], int]) -> list[list[_Row]]:
    out: list[list[_Row]] = []
    for row in rows:
        if out and key(out[-1][-1]) == key(row):
            out[-1].append(row)
        else:
            out.append([row])
    return out


def _store(res: SweepResult, chunk: list[_Row], logits: torch.Tensor, hidden: torch.Tensor | None,
           cands: list[list[int]]) -> None:
    for j, lp in enumerate(_score(logits, [cands[r.prompt] for r in chunk])):
        res.logprobs[chunk[j].coef, chunk[j].prompt, : lp.size] = lp
    if hidden is not None and res.final_hidden is not None:
        h = hidden.float().cpu().numpy()
        for j, r in enumerate(chunk):
            res.final_hidden[r.coef, r.prompt] = h[j]


def _sweep_llama(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], coefs: np.ndarray,
                 ids: list[list[int]], cands: list[list[int]], budget: int, keep_hidden: bool,
                 progress: bool, cached: LayerInputs | None = None) -> SweepResult:
    """Shared-prefix KV cache + layer split + packed (coefficient, prompt) rows + last position;
    with ``cached``, the unsteered states at the first steered layer come from it."""
    res = _empty_result(coefs, len(ids), cands, lm.hidden_size, keep_hidden)
    stack = LlamaStack(lm)
    n_layers = lm.num_layers
    first = min(vectors)
    vecs = {li: PerDevice(v.detach().float().cpu()) for li, v in vectors.items()}
    p = common_prefix_length(ids)
    suffix = [x[p:] for x in ids]

    def slen(r: _Row) -> int:
        return len(suffix[r.prompt])

    # Coefficient groups whose prefix caches fit PREFIX_CACHE_BYTES together.
    per_coef = 2 * (n_layers - first) * stack.kv_heads * stack.head_dim * max(p, 1)
    per_coef *= torch.finfo(lm.dtype).bits // 8
    group = max(1, min(coefs.size, PREFIX_CACHE_BYTES // per_coef))
    groups = [list(range(i, min(i + group, coefs.size))) for i in range(0, coefs.size, group)]
    order = sorted(range(len(ids)), key=lambda i: (len(suffix[i]), i))
    lower_rows = [_Row(0, i) for i in order]
    lower_chunks = _chunks(lower_rows, slen, budget) if first > 0 and cached is None else []
    n_steps = len(lower_chunks) + sum(
        len(_chunks(_suffix_rows(g, order), slen, budget)) + (1 if p else 0) for g in groups)
    bar = _progress(n_steps, progress, "sweep")

    def tick() -> None:
        if bar is not None:
            bar.update(1)

    # Unsteered prefix below the first steered layer: once.
    lower_kv: KV | None = None
    h_prefix: torch.Tensor | None = None
    if cached is not None:
        assert cached.prefix_len == p
        h_prefix = cached.prefix[first] if p else None
    elif p:
        h_prefix = stack.embed(torch.tensor(ids[0][:p]))
        if first > 0:
            lower_kv = KV()
            h_prefix = stack.run(h_prefix, Runs([p], [1]), 0, range(first), keep_kv=lower_kv)
    # Prompts' own tokens below the first steered layer: once per prompt.
    lower: dict[int, torch.Tensor] = {}
    zero = torch.zeros(len(ids), dtype=torch.long)
    for chunk in lower_chunks:
        runs = _runs(chunk, slen)
        h = stack.embed(torch.tensor([t for r in chunk for t in suffix[r.prompt]]))
        h = stack.run(h, runs, p, range(first), prefix=lower_kv, prefix_index=zero[: len(chunk)])
        off = 0
        for r in chunk:
            lower[r.prompt] = h[off:off + slen(r)]
            off += slen(r)
        tick()
    if cached is not None:
        lower = cached.suffix[first]
    elif first == 0:
        lower = {i: stack.embed(torch.tensor(suffix[i])) for i in range(len(ids))}
    coef_t = torch.tensor(coefs, dtype=torch.float32)
    steered = range(first, n_layers)
    for g in groups:
        gcoef = coef_t[g]
        prefix_kv: KV | None = None
        if p:
            assert h_prefix is not None
            prefix_kv = KV()
            h = h_prefix.repeat(len(g), 1)
            stack.run(h, Runs([p], [len(g)]), 0, steered, vectors=vecs, coef_rows=gcoef,
                      keep_kv=prefix_kv, kv_only_last=True)
            tick()
        local = {c: j for j, c in enumerate(g)}
        for chunk in _chunks(_suffix_rows(g, order), slen, budget):
            runs = _runs(chunk, slen)
            h = torch.cat([lower[r.prompt] for r in chunk])
            pidx = torch.tensor([local[r.coef] for r in chunk], dtype=torch.long)
            h = stack.run(h, runs, p, steered, prefix=prefix_kv, prefix_index=pidx, vectors=vecs,
                          coef_rows=coef_t[[r.coef for r in chunk]], last_only=True)
            h = h.to(lm.final_norm.weight.device)  # type: ignore[union-attr,arg-type]
            normed = lm.final_norm(h)
            logits = lm.lm_head(normed.to(lm.lm_head.weight.device))  # type: ignore[union-attr]
            _store(res, chunk, logits, normed if keep_hidden else None, cands)
            tick()
    if bar is not None:
        bar.close()
    return res


def _suffix_rows(g: list[int], order: list[int]) -> list[_Row]:
    """Rows of one coefficient group, grouped by suffix length (``order`` is sorted by it)."""
    return [_Row(c, i) for i in order for c in g]


# --------------------------------------------------------------------- cached layer inputs


@dataclass
class LayerInputs:
    """Unsteered input of every decoder layer for one prompt set, as the fast path splits it:
    ``prefix[l]`` ``(p, d)`` for the shared prefix and ``suffix[l][i]`` ``(len_i - p, d)`` for
    prompt i's own tokens (``l = 0`` is the embedding). Lets many sweeps of the same prompts
    with different steered layers start at their first steered layer (``sweep(lower=...)``)."""

    ids: list[list[int]]
    prefix_len: int
    prefix: list[torch.Tensor]
    suffix: list[dict[int, torch.Tensor]]


def layer_inputs(lm: LoadedModel, prompts: Sequence[Sequence[int]], *,
                 batch_size: int = 16) -> LayerInputs:
    """One unsteered pass over ``prompts`` keeping every layer's input (the same chunks, prefix
    cache and layer code as ``sweep``'s lower layers, one layer at a time). Llama-like only."""
    ids = check_prompt_ids(lm, prompts)
    reason = manual_support(lm, max(len(x) for x in ids))
    if reason is not None:
        raise ValueError(f"layer_inputs needs the Llama-like fast path: {reason}")
    budget = token_budget(lm, batch_size)
    stack = LlamaStack(lm)
    n_layers = lm.num_layers
    p = common_prefix_length(ids)
    suffix_ids = [x[p:] for x in ids]

    def slen(r: _Row) -> int:
        return len(suffix_ids[r.prompt])

    prefix: list[torch.Tensor] = []
    suffix: list[dict[int, torch.Tensor]] = [{} for _ in range(n_layers)]
    with torch.inference_mode():
        kv = KV()
        if p:
            h = stack.embed(torch.tensor(ids[0][:p]))
            for li in range(n_layers):
                prefix.append(h)
                if li < n_layers - 1:
                    h = stack.run(h, Runs([p], [1]), 0, range(li, li + 1), keep_kv=kv)
        order = sorted(range(len(ids)), key=lambda i: (len(suffix_ids[i]), i))
        zero = torch.zeros(len(ids), dtype=torch.long)
        for chunk in _chunks([_Row(0, i) for i in order], slen, budget):
            runs = _runs(chunk, slen)
            h = stack.embed(torch.tensor([t for r in chunk for t in suffix_ids[r.prompt]]))
            for li in range(n_layers):
                off = 0
                for r in chunk:
                    suffix[li][r.prompt] = h[off:off + slen(r)]
                    off += slen(r)
                if li < n_layers - 1:
                    h = stack.run(h, runs, p, range(li, li + 1), prefix=kv if p else None,
                                  prefix_index=zero[: len(chunk)])
    return LayerInputs(ids, p, prefix, suffix)


# --------------------------------------------------------------------------- cost model


def sweep_cost(lm: LoadedModel, first_layer: int, n_coefficients: int,
               prompts: Sequence[Sequence[int]]) -> float:
    """Multiply-adds of the projections and MLPs in one fast-path ``sweep`` whose first steered
    layer is ``first_layer``, following its structure: the shared prefix and every prompt's own
    tokens once below ``first_layer``; per coefficient, the prefix and the own tokens through the
    layers from ``first_layer`` up (the last layer and the unembedding at the last token only).
    Attention scores (quadratic in length, small for short prompts) are left out. Used to
    extrapolate measured sweep times to unmeasured candidates of other depths."""
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
    p = common_prefix_length(ids)
    own = sum(len(x) - p for x in ids)
    below = sum(per_layer[:first_layer])
    above = sum(per_layer[first_layer:-1])
    lower = (p + own) * below
    upper = p * (above + per_layer[-1]) + own * above + len(ids) * (per_layer[-1] + head)
    return float(lower + n_coefficients * upper)
