"""Δ(q) = d h_{r_e}(q)/d r_e at r_e = 0 by one forward-mode Jacobian–vector product through the
steering hooks and the final norm (Proposition 1), cached per prompt set and vectors.

PyTorch's CPU SDPA kernel has no forward-AD rule, so the JVP runs under :func:`eager_attention`,
which switches the model to eager attention and restores the previous implementation afterwards.
``method="fd"`` gives central finite differences instead (a check).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from tqdm.auto import tqdm

from empirics.cache import ChunkCache, digest, vectors_hash
from empirics.models import LoadedModel
from empirics.steering import steer
from empirics.sweep import capture_final_norm

JVP_STEP = 4  # prompts per progress update


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
    """``delta_jvp`` a few prompts at a time under a progress bar (~1 s per prompt on CPU),
    cached beside the sweep chunks so a resumed run skips it. Returns float32 numpy arrays."""
    key = "jvp-" + digest({"ids": [list(x) for x in input_ids], "vec": vectors_hash(vectors)})
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
