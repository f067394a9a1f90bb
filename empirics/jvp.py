"""Δ(q) = dh_r(q)/dr and Δ₂(q) = d²h_r(q)/dr² at r = 0, h the final-norm output at the last
position (Proposition 1 and its second-order remainder), cached per prompt set and vectors.

Fast path (engine families, ``empirics.engine.derivatives``): prompts packed without padding as
in the sweep; the shared prefix and the layers below the first steered layer run once as plain
inference (their tangent is zero), and one forward-mode JVP per chunk of prompts runs the
steered layers with every row's coefficient tied to one scalar r (nested for Δ₂).
``method="reference"`` is the straightforward check: per prompt through the Hugging Face model
under :func:`forward_mode`. ``method="fd"`` gives central finite differences (another check).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from empirics.cache import ChunkCache, digest, vectors_hash
from empirics.engine import (
    Derivatives,
    LowerPass,
    Output,
    PromptSet,
    Readout,
    common_prefix_length,
    family_for,
    fast_path_reason,
    jvp_orders,
    lower_pass,
    lower_top,
    packed_derivatives,
    packed_first_along,
)
from empirics.hooked import final_state_fn, forward_mode
from empirics.models import LoadedModel
from empirics.steering import validate_vectors
from empirics.sweep import token_budget

JVP_STEP = 32  # prompts per progress update
JVP_METHODS = ("jvp", "reference", "fd")
# Cache path of Δ along several directions: their primal is shared, and the rounding differs
# from one direction's pass (~1e-7).
ALONG_PATH = "packed, one prefix, directions together"



def _checked_ids(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                 input_ids: Sequence[Sequence[int]], method: str, fd_step: float) -> list[list[int]]:
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
    return [[int(t) for t in seq] for seq in input_ids]


def packed_jvp(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], ids: list[list[int]],
               readout: Readout, *, last_only: bool, budget: int, prefix_len: int | None = None,
               fd_step: float | None = None, order: int = 1,
               known: Sequence[LowerPass] = ()) -> Derivatives:
    """Value and r-derivatives at r = 0 of ``readout`` per prompt of ``ids`` (engine families):
    the lower pass (the layers below the first steered layer and that layer itself, whose work
    does not depend on r) once, then ``engine.packed_derivatives``. ``prefix_len``: tokens
    treated as the shared prefix (default: the longest common prefix); ``known``: lower passes of
    other prompt sets with the same prefix (a sweep's), whose prompts are not run below the
    steering again; ``last_only``: the top layer works at each row's last token only."""
    lower = _lower(lm, min(vectors), ids, budget, prefix_len, known)
    with torch.no_grad():
        return packed_derivatives(lower, vectors, readout,
                                  output=Output.LAST if last_only else Output.ALL,
                                  budget=budget, order=order, fd_step=fd_step)


def packed_jvp_along(lm: LoadedModel, directions: Sequence[Mapping[int, torch.Tensor]],
                     ids: list[list[int]], readout: Readout, *, last_only: bool, budget: int,
                     prefix_len: int | None = None,
                     known: Sequence[LowerPass] = ()) -> list[Derivatives]:
    """``packed_jvp`` (first order) along each of ``directions`` (the same steered layers): one
    lower pass, and the unsteered primal above it once for several directions."""
    lower = _lower(lm, min(directions[0]), ids, budget, prefix_len, known)
    with torch.no_grad():
        return packed_first_along(lower, directions, readout,
                                  output=Output.LAST if last_only else Output.ALL, budget=budget)


def _lower(lm: LoadedModel, first_steered: int, ids: list[list[int]], budget: int,
           prefix_len: int | None, known: Sequence[LowerPass]) -> LowerPass:
    """The unsteered lower pass of the JVPs: the layers below ``first_steered`` and that layer
    itself (its work does not depend on r)."""
    with torch.no_grad():
        return lower_pass(family_for(lm), PromptSet.of(ids, prefix_len),
                          lower_top(first_steered, lm.num_layers), budget=budget, known=known)


def known_prefix(ids: list[list[int]], known: Sequence[LowerPass]) -> int:
    """The longest prefix shared by ``ids`` that is the prefix of a ``known`` pass, else their
    longest common prefix."""
    longest = common_prefix_length(ids)
    fits = [k.prompts.prefix_len for k in known
            if k.prompts.prefix_len <= longest and ids[0][:k.prompts.prefix_len] == k.prompts.prefix]
    return max(fits, default=longest)


def final_state_readout(lm: LoadedModel) -> Readout:
    """The readout of Δ: the final norm's output at each row's last token."""
    family = family_for(lm)

    def final(out: torch.Tensor, _members: list[int]) -> torch.Tensor:
        return family.final_norm(out)

    return final


def _per_prompt(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], ids: list[list[int]],
                derivative: Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor],
                                     tuple[torch.Tensor, ...]]) -> list[torch.Tensor]:
    """``derivative(f, 0)`` of each prompt's r ↦ h_r through the Hugging Face model, stacked."""
    rows: list[tuple[torch.Tensor, ...]] = []
    for seq in ids:
        f = final_state_fn(lm, vectors, torch.as_tensor([seq], dtype=torch.long, device=lm.device))
        zero = torch.zeros((), dtype=lm.dtype, device=lm.device)
        rows.append(tuple(t.detach().float().cpu() for t in derivative(f, zero)))
    return [torch.stack(part) for part in zip(*rows, strict=True)]


def _differences(step: float, order: int) -> Callable[[Callable[[torch.Tensor], torch.Tensor],
                                                       torch.Tensor], tuple[torch.Tensor, ...]]:
    def derivative(f: Callable[[torch.Tensor], torch.Tensor],
                   zero: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h, hi, lo = f(zero), f(zero + step), f(zero - step)
        slope = (hi - lo) / (2 * step)
        return (h, slope) if order == 1 else (h, slope, (hi - 2 * h + lo) / step**2)

    return derivative


def _derivatives(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], ids: list[list[int]],
                 method: str, fd_step: float, order: int, prefix_len: int | None = None,
                 known: Sequence[LowerPass] = ()) -> list[torch.Tensor]:
    if method == "jvp" and fast_path_reason(lm, max(len(x) for x in ids)) is None:
        got = packed_jvp(lm, vectors, ids, final_state_readout(lm), last_only=True,
                         budget=token_budget(lm, 16), order=order, prefix_len=prefix_len,
                         known=known)
        parts = [got.values, got.first] + ([got.second] if got.second is not None else [])
        return [torch.stack(p).float().cpu() for p in parts]
    with torch.no_grad():
        if method == "fd":
            return _per_prompt(lm, vectors, ids, _differences(fd_step, order))
        with forward_mode(lm):
            return _per_prompt(lm, vectors, ids, lambda f, zero: jvp_orders(f, zero, order))


def delta_jvp(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
              input_ids: Sequence[Sequence[int]], *, method: str = "jvp",
              fd_step: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h0, delta)``, each (N, d) float32 CPU: h(q) and Δ(q) = d h_r(q)/dr at r = 0.

    ``method="jvp"`` (default): exact JVP, packed prompts on engine families (else as
    ``"reference"``). ``"reference"``: one exact JVP per prompt through the Hugging Face model
    under eager attention. ``"fd"``: central differences ``(h(+step) − h(−step)) / (2 step)``
    with the model's own attention (fp32 rounding in the model dominates below step ≈ 1e-2).
    """
    ids = _checked_ids(lm, vectors, input_ids, method, fd_step)
    h, d = _derivatives(lm, vectors, ids, method, fd_step, order=1)
    return h, d


def delta2_jvp(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
               input_ids: Sequence[Sequence[int]], *, method: str = "jvp",
               fd_step: float = 5e-2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(h0, delta, delta2)``, each (N, d) float32 CPU: h(q), Δ(q) and Δ₂(q) = d²h_r(q)/dr² at
    r = 0 (Proposition 1's second-order term: h_r = h0 + rΔ + (r²/2)Δ₂ + O(r³)).

    ``"jvp"`` (default): nested forward mode, packed on engine families (else as
    ``"reference"``). ``"reference"``: nested ``torch.func.jvp`` per prompt through the Hugging
    Face model. ``"fd"``: second differences ``(h(+s) − 2h(0) + h(−s)) / s²`` (rounding grows
    as 1/s²: a check, not a method)."""
    ids = _checked_ids(lm, vectors, input_ids, method, fd_step)
    h, d, d2 = _derivatives(lm, vectors, ids, method, fd_step, order=2)
    return h, d, d2


def final_hidden_states(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                        input_ids: Sequence[Sequence[int]], grid: Sequence[float]) -> np.ndarray:
    """(C, N, d) float32 final-norm outputs at the last position, one plain steered forward per
    prompt and coefficient (a slow reference; the sweep's ``final_hidden`` is the fast path)."""
    out = np.zeros((len(grid), len(input_ids), lm.hidden_size), dtype=np.float32)
    for n, seq in enumerate(input_ids):
        f = final_state_fn(lm, vectors, torch.as_tensor([list(seq)], dtype=torch.long,
                                                        device=lm.device))
        with torch.no_grad():
            for c, r in enumerate(grid):
                state = f(torch.tensor(float(r), dtype=lm.dtype, device=lm.device))
                out[c, n] = state.float().cpu().numpy()
    return out


def _cache_key(ids: Sequence[Sequence[int]], vectors: Mapping[int, torch.Tensor], path: str,
               order: int) -> str:
    """The cache entry of Δ (``order=1``) or Δ, Δ₂ (``order=2``) of ``ids`` along ``vectors``
    computed by ``path`` (paths round differently)."""
    key: dict[str, object] = {"ids": [list(x) for x in ids], "vec": vectors_hash(vectors),
                              "path": path}
    if order == 2:
        key["order"] = 2
    return ("jvp-" if order == 1 else "jvp2-") + digest(key)


def _cached(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
            input_ids: Sequence[Sequence[int]], cache: ChunkCache, tag: str, progress: bool,
            order: int) -> list[np.ndarray]:
    """``delta_jvp`` / ``delta2_jvp`` ``JVP_STEP`` prompts at a time, cached in ``cache``."""
    names = ("h0", "delta", "delta2")[: order + 1]
    # "path": the packed fast path rounds differently from the per-prompt one (~1e-6).
    key = _cache_key(input_ids, vectors, "packed, one prefix", order)
    got = cache.get(key, count=False)
    label = "Δ" if order == 1 else "Δ, Δ₂"
    if got is not None:
        print(f"  [{tag}] {label} reused from cache", file=sys.stderr)
        return [got[n] for n in names]
    # One prefix for every step, a sweep's where one holds these prompts (cache.lower_passes,
    # which then serve them), else the prompt set's: the sweep of the same set splits it alike.
    prefix_len = known_prefix([list(x) for x in input_ids], cache.lower_passes)

    def derived(step: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        ids = _checked_ids(lm, vectors, step, "jvp", 1.0)
        return _derivatives(lm, vectors, ids, "jvp", 1.0, order, prefix_len,
                            known=cache.lower_passes)

    arrays = _stepped(input_ids, f"JVP {tag}", progress, derived)
    print(f"  [{tag}] {label} by JVP for {len(input_ids)} prompts", file=sys.stderr)
    cache.put(key, dict(zip(names, arrays, strict=True)), count=False)
    return arrays


def _stepped(input_ids: Sequence[Sequence[int]], desc: str, progress: bool,
             compute: Callable[[Sequence[Sequence[int]]], Sequence[torch.Tensor]]
             ) -> list[np.ndarray]:
    """``compute`` on ``JVP_STEP`` prompts at a time under a progress bar; each of its
    float32 CPU outputs concatenated over the steps, as numpy."""
    parts: list[list[torch.Tensor]] = []
    with tqdm(total=len(input_ids), desc=desc, unit="prompt", disable=not progress) as bar:
        for k in range(0, len(input_ids), JVP_STEP):
            step = input_ids[k:k + JVP_STEP]
            got = compute(step)
            parts = parts or [[] for _ in got]
            for part, t in zip(parts, got, strict=True):
                part.append(t)
            bar.update(len(step))
    return [torch.cat(p).numpy() for p in parts]


def cached_delta_jvp(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                     input_ids: Sequence[Sequence[int]], cache: ChunkCache, tag: str,
                     progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """``delta_jvp`` ``JVP_STEP`` prompts at a time under a progress bar, cached beside the
    sweep chunks so a resumed run skips it. Returns float32 numpy arrays ``(h0, delta)``."""
    h0, delta = _cached(lm, vectors, input_ids, cache, tag, progress, order=1)
    return h0, delta


def cached_delta2_jvp(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                      input_ids: Sequence[Sequence[int]], cache: ChunkCache, tag: str,
                      progress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``delta2_jvp`` as ``cached_delta_jvp`` does it: ``(h0, delta, delta2)`` float32 numpy."""
    h0, delta, delta2 = _cached(lm, vectors, input_ids, cache, tag, progress, order=2)
    return h0, delta, delta2


def cached_delta_jvps(lm: LoadedModel, directions: Sequence[Mapping[int, torch.Tensor]],
                      input_ids: Sequence[Sequence[int]], cache: ChunkCache, tags: Sequence[str],
                      progress: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """``cached_delta_jvp`` for each of ``directions`` (tagged ``tags``) on the same prompts;
    those not cached computed together (``packed_jvp_along``: one primal for all of them) on
    engine families, one by one elsewhere."""
    if len(tags) != len(directions):
        raise ValueError(f"{len(tags)} tags for {len(directions)} directions: give one tag each")
    if not directions:
        return []
    ids = _checked_ids(lm, directions[0], input_ids, "jvp", 1.0)
    for v in directions[1:]:
        validate_vectors(lm, v)
    if fast_path_reason(lm, max(len(x) for x in ids)) is not None:
        return [cached_delta_jvp(lm, v, ids, cache, t, progress)
                for v, t in zip(directions, tags, strict=True)]
    keys = [_cache_key(ids, v, ALONG_PATH, order=1) for v in directions]
    found = [cache.get(k, count=False) for k in keys]
    todo = [j for j, got in enumerate(found) if got is None]
    if todo:
        parts = _along(lm, [directions[j] for j in todo], ids, cache, progress)
        for j, (h0, delta) in zip(todo, parts, strict=True):
            arrays = {"h0": h0, "delta": delta}
            cache.put(keys[j], arrays, count=False)
            found[j] = arrays
    print(f"  [{', '.join(tags)}] Δ by JVP for {len(ids)} prompts "
          f"({len(todo)} computed together, {len(tags) - len(todo)} reused from cache)",
          file=sys.stderr)
    return [(got["h0"], got["delta"]) for got in found if got is not None]


def _along(lm: LoadedModel, directions: Sequence[Mapping[int, torch.Tensor]], ids: list[list[int]],
           cache: ChunkCache, progress: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(h0, delta)`` float32 numpy per direction, ``JVP_STEP`` prompts at a time."""
    prefix_len = known_prefix(ids, cache.lower_passes)

    def derived(step: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        got = packed_jvp_along(lm, directions, [list(x) for x in step], final_state_readout(lm),
                               last_only=True, budget=token_budget(lm, 16),
                               prefix_len=prefix_len, known=cache.lower_passes)
        return [torch.stack(t).float().cpu() for g in got for t in (g.values, g.first)]

    flat = _stepped(ids, f"JVP {len(directions)} directions", progress, derived)
    return [(flat[2 * j], flat[2 * j + 1]) for j in range(len(directions))]
