"""Δ(q) = d h_{r_e}(q)/d r_e at r_e = 0 by forward-mode Jacobian–vector products through the
steering and the final norm (Proposition 1), cached per prompt set and vectors.

Fast path (Llama-like models, ``empirics.forward``): prompts packed without padding as in the
sweep; the shared token prefix and the layers below the first steered layer run once as plain
inference (their tangent is zero), and one JVP per chunk of prompts runs the steered layers with
every row's coefficient tied to one scalar r. ``method="reference"`` is the straightforward
check: one JVP per prompt through the Hugging Face model under :func:`eager_attention` (PyTorch's
CPU flash-attention kernel has no forward-AD rule; the fast path uses the math SDPA kernel).
``method="fd"`` gives central finite differences instead (another check).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm.auto import tqdm

from empirics.cache import ChunkCache, digest, vectors_hash
from empirics.forward import KV, LlamaStack, PerDevice, Runs, common_prefix_length, manual_support
from empirics.models import LoadedModel
from empirics.steering import steer, validate_vectors
from empirics.sweep import _chunks, _Row, _runs, capture_final_norm, token_budget

JVP_STEP = 32  # prompts per progress update (and per shared-prefix group)
JVP_METHODS = ("jvp", "reference", "fd")


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


def _final_state_fn(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                    ids: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """r ↦ final-norm output at the last position, with steering coefficient r."""
    # The decoder stack without the LM head; the final norm's output is captured by a hook so
    # any architecture whose base model applies `final_norm` works.
    base = getattr(lm.model, "base_model", lm.model)

    def f(r: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        with capture_final_norm(lm, captured), steer(lm, vectors, r):
            base(input_ids=ids, use_cache=False)
        if not captured:
            raise ValueError(f"the final norm of {lm.name} was not run by its base model")
        return captured[-1][0, -1]

    return f


def delta_jvp(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
              input_ids: Sequence[Sequence[int]], *, method: str = "jvp",
              fd_step: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h0, delta)``, each (N, d) float32 CPU: h(q) and Δ(q) = d h_r(q)/dr at r = 0.

    ``method="jvp"`` (default): exact JVP, packed prompts on Llama-like models (else as
    ``"reference"``). ``"reference"``: one exact JVP per prompt through the Hugging Face model
    under eager attention. ``"fd"``: central differences ``(h(+step) − h(−step)) / (2 step)``
    with the model's own attention (fp32 rounding in the model dominates below step ≈ 1e-2).
    """
    if method not in JVP_METHODS:
        raise ValueError(f"method {method!r} must be one of {JVP_METHODS}")
    if not fd_step > 0:
        raise ValueError(f"fd_step {fd_step} must be > 0")
    if len(input_ids) == 0:
        raise ValueError("input_ids is empty: give at least one prompt")
    for n, seq in enumerate(input_ids):
        if len(seq) == 0:
            raise ValueError(f"input_ids[{n}] is empty")
    validate_vectors(lm, vectors)
    ids = [[int(t) for t in seq] for seq in input_ids]
    if method == "jvp" and manual_support(lm, max(len(x) for x in ids)) is None:
        return _delta_packed(lm, vectors, ids, token_budget(lm, 16))
    dtype = lm.dtype
    h_rows, d_rows = [], []
    for seq in ids:
        f = _final_state_fn(lm, vectors, torch.as_tensor([seq], dtype=torch.long, device=lm.device))
        zero = torch.zeros((), dtype=dtype, device=lm.device)
        if method == "fd":
            with torch.no_grad():
                h = f(zero)
                d = (f(zero + fd_step) - f(zero - fd_step)) / (2 * fd_step)
        else:
            with eager_attention(lm), torch.no_grad():
                out = torch.func.jvp(f, (zero,), (torch.ones_like(zero),))
                h, d = out[0], out[1]
        h_rows.append(h.detach().float().cpu())
        d_rows.append(d.detach().float().cpu())
    return torch.stack(h_rows), torch.stack(d_rows)


def _steered_prefix_kv(stack: LlamaStack, h_prefix: torch.Tensor, steered: range,
                       vecs: Mapping[int, PerDevice], r: torch.Tensor) -> KV:
    """Keys/values of the shared prefix in the steered layers at coefficient ``r`` (dual)."""
    kv = KV()
    stack.run(h_prefix, Runs([h_prefix.shape[0]], [1]), 0, steered, vectors=vecs,
              coef_rows=r.reshape(1), keep_kv=kv, kv_only_last=True)
    return kv


#: Readout of the packed JVP: (final-layer output of a chunk, the chunk's row indices in packing
#: order) -> per-row values (rows, ...). Differentiated in r with everything before it.
Readout = Callable[[torch.Tensor, list[int]], torch.Tensor]


def packed_jvp(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], ids: list[list[int]],
               readout: Readout, *, last_only: bool, budget: int, shared: int | None = None,
               fd_step: float | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Value and r-derivative at r = 0 of ``readout`` per row of ``ids`` (Llama-like ``lm``).

    Rows are packed without padding in chunks of ``budget`` tokens (sorted by length); the
    shared prefix (``shared`` tokens, default the longest common prefix) and every layer below
    the first steered one run once as plain inference (no tangent); one forward-mode JVP per
    chunk runs the steered layers, all rows' coefficients tied to one scalar r. ``last_only``:
    the final layer works at each row's last token only (``readout`` gets ``(rows, d)``); else
    it gets every own token ``(tokens, d)``. Returns per-row values and tangents, rows in order.
    ``fd_step=h``: the steered layers run at ±h instead (fast inference kernels), the tangent is
    the central difference and the value the mean of the two (r = 0 up to O(h²)).
    """
    stack = LlamaStack(lm)
    first = min(vectors)
    steered = range(first, lm.num_layers)
    vecs = {li: PerDevice(v.detach().float().cpu()) for li, v in vectors.items()}
    p = common_prefix_length(ids) if shared is None else shared
    suffix = [x[p:] for x in ids]

    def slen(r: _Row) -> int:
        return len(suffix[r.prompt])

    order = sorted(range(len(ids)), key=lambda i: (len(suffix[i]), i))
    # Consecutive rows (sorted by length) up to ``budget`` tokens a chunk, as the sweep packs.
    row_chunks = _chunks([_Row(0, i) for i in order], slen, budget)
    values: list[torch.Tensor] = [torch.empty(0)] * len(ids)
    tangents: list[torch.Tensor] = [torch.empty(0)] * len(ids)
    with torch.no_grad():
        lower_kv: KV | None = None
        h_prefix: torch.Tensor | None = None
        if p:
            h_prefix = stack.embed(torch.tensor(ids[0][:p]))
            if first > 0:
                lower_kv = KV()
                h_prefix = stack.run(h_prefix, Runs([p], [1]), 0, range(first), keep_kv=lower_kv)
        for rows in row_chunks:
            chunk = [r.prompt for r in rows]
            runs = _runs(rows, slen)
            pidx = torch.zeros(len(chunk), dtype=torch.long)
            h = stack.embed(torch.tensor([t for i in chunk for t in suffix[i]]))
            if first > 0:  # below the steering: no tangent, plain inference once
                h = stack.run(h, runs, p, range(first), prefix=lower_kv, prefix_index=pidx)

            def f(r: torch.Tensor, h: torch.Tensor = h, runs: Runs = runs,
                  pidx: torch.Tensor = pidx, chunk: list[int] = chunk) -> torch.Tensor:
                prefix = (_steered_prefix_kv(stack, h_prefix, steered, vecs, r)
                          if h_prefix is not None else None)
                out = stack.run(h, runs, p, steered, prefix=prefix, prefix_index=pidx,
                                vectors=vecs, coef_rows=r.expand(pidx.shape[0]),
                                last_only=last_only)
                return readout(out, chunk)

            zero = torch.zeros((), dtype=lm.dtype)
            if fd_step is not None:
                hi = f(zero + fd_step)
                lo = f(zero - fd_step)
                value, tangent = (hi + lo) / 2, (hi - lo) / (2 * fd_step)
            else:
                # The math SDPA kernel has a forward-AD rule; the CPU flash kernel has none.
                with sdpa_kernel(SDPBackend.MATH):
                    primal_tangent = torch.func.jvp(f, (zero,), (torch.ones_like(zero),))
                value, tangent = primal_tangent[0], primal_tangent[1]
            for j, i in enumerate(chunk):
                values[i] = value[j]
                tangents[i] = tangent[j]
    return values, tangents


def _delta_packed(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], ids: list[list[int]],
                  budget: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fast path of :func:`delta_jvp`: the final norm's output at each last token."""
    norm_dev: torch.device = lm.final_norm.weight.device  # type: ignore[union-attr,assignment]

    def final(out: torch.Tensor, _chunk: list[int]) -> torch.Tensor:
        return lm.final_norm(out.to(norm_dev))  # type: ignore[no-any-return]

    h, d = packed_jvp(lm, vectors, ids, final, last_only=True, budget=budget)
    return torch.stack(h).float().cpu(), torch.stack(d).float().cpu()


def final_hidden_states(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                        input_ids: Sequence[Sequence[int]], grid: Sequence[float]) -> np.ndarray:
    """(C, N, d) float32 final-norm outputs at the last position, one plain steered forward per
    prompt and coefficient (a slow reference; the sweep's ``final_hidden`` is the fast path)."""
    out = np.zeros((len(grid), len(input_ids), lm.hidden_size), dtype=np.float32)
    for n, seq in enumerate(input_ids):
        f = _final_state_fn(lm, vectors, torch.as_tensor([list(seq)], dtype=torch.long, device=lm.device))
        with torch.no_grad():
            for c, r in enumerate(grid):
                out[c, n] = f(torch.tensor(float(r), dtype=lm.dtype, device=lm.device)).float().cpu().numpy()
    return out


def cached_delta_jvp(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                     input_ids: Sequence[Sequence[int]], cache: ChunkCache, tag: str,
                     progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """``delta_jvp`` ``JVP_STEP`` prompts at a time under a progress bar,
    cached beside the sweep chunks so a resumed run skips it. Returns float32 numpy arrays."""
    # "path": the packed fast path rounds differently from the per-prompt one (~1e-6).
    key = "jvp-" + digest({"ids": [list(x) for x in input_ids], "vec": vectors_hash(vectors),
                           "path": "packed"})
    got = cache.get(key, count=False)
    if got is not None:
        print(f"  [{tag}] Δ reused from cache", file=sys.stderr)
        return got["h0"], got["delta"]
    hs, ds = [], []
    with tqdm(total=len(input_ids), desc=f"JVP {tag}", unit="prompt", disable=not progress) as bar:
        for k in range(0, len(input_ids), JVP_STEP):
            part = input_ids[k:k + JVP_STEP]
            h, d = delta_jvp(lm, vectors, part)
            hs.append(h)
            ds.append(d)
            bar.update(len(part))
    print(f"  [{tag}] Δ by JVP for {len(input_ids)} prompts", file=sys.stderr)
    h0, delta = torch.cat(hs).numpy(), torch.cat(ds).numpy()
    cache.put(key, {"h0": h0, "delta": delta}, count=False)
    return h0, delta
