"""The lower pass: the unsteered layers below the steering, run once per prompt set.

Nothing below the first steered layer depends on the coefficient, so one pass serves every
coefficient chunk of a sweep, the control direction's sweep of the same prompts, the planner's
candidates and generation's prefill. The shared prefix runs once (its keys/values kept for the
prompts' own tokens); the prompts' own tokens run packed, in chunks of ``budget`` tokens.

Each prompt's states do not depend on which other prompts share its chunk (fp32 GEMM rows
are computed alike for any chunk of 16 tokens or more, and attention is per row), which is
what lets a pass of one prompt set serve another (``known``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from empirics.engine.attention import PackedAttention
from empirics.engine.family import Family
from empirics.engine.kv import KVCache
from empirics.engine.layers import run_layers
from empirics.engine.packing import PromptSet, Row, Runs, pack_chunks, runs_of


@dataclass
class LowerPass:
    """Unsteered states of one prompt set at layer boundaries: ``prefix_states[l]`` ``(p, d)``
    and ``own_states[l][i]`` ``(own tokens of prompt i, d)`` are the input of layer ``l`` (the
    embedding at ``l = 0``), for ``l`` in ``kept`` (``top`` always). ``prefix_kv``: the prefix's
    keys/values in layers ``< top``; ``own_kv[i]`` prompt i's (only with ``keep_kv``)."""

    family: Family
    prompts: PromptSet
    top: int
    prefix_states: dict[int, torch.Tensor] = field(default_factory=dict)
    own_states: dict[int, list[torch.Tensor]] = field(default_factory=dict)
    prefix_kv: KVCache = field(default_factory=KVCache)
    own_kv: list[KVCache] | None = None

    @property
    def kept(self) -> list[int]:
        return sorted(self.own_states)

    def inputs(self, layer: int) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
        """The input of ``layer``: the prefix's states (``None`` without a prefix) and each
        prompt's own states."""
        if layer not in self.own_states:
            raise ValueError(f"this lower pass kept the inputs of layers {self.kept}, not of "
                             f"layer {layer}: compute it with lower_pass(..., keep=[{layer}])")
        return self.prefix_states.get(layer), self.own_states[layer]

    def at(self, top: int) -> LowerPass:
        """The same pass seen as ending at kept boundary ``top`` (a planner's pass of every
        layer serves each candidate from its first layer up)."""
        self.inputs(top)  # raises when not kept
        kv = KVCache({k: v for k, v in self.prefix_kv.keys.items() if k < top},
                     {k: v for k, v in self.prefix_kv.values.items() if k < top})
        return LowerPass(self.family, self.prompts, top, self.prefix_states, self.own_states, kv,
                         self.own_kv if top == self.top else None)


def lower_pass(family: Family, prompts: PromptSet, top: int, *, budget: int,
               keep: Iterable[int] = (), keep_kv: bool = False,
               known: Sequence[LowerPass] = ()) -> LowerPass:
    """Layers ``0 .. top - 1`` of ``family``'s model, unsteered, over ``prompts``; the inputs of
    layers ``keep`` (and ``top``) are kept. ``known``: passes of other prompt sets with the same
    prefix and ``top``, whose prompts are not run again."""
    bounds = sorted({top, *keep})
    if bounds[0] < 0 or top > family.lm.num_layers:
        raise ValueError(f"layer boundaries {bounds} must lie in [0, {family.lm.num_layers}]")
    out = LowerPass(family, prompts, top)
    _run_prefix(out, bounds)
    reuse = {} if keep_kv or len(bounds) > 1 else _known_states(out, known)
    missing = [i for i in prompts.order if i not in reuse]
    for b in bounds:
        out.own_states[b] = [torch.empty(0)] * len(prompts)
    if keep_kv:
        out.own_kv = [KVCache() for _ in range(len(prompts))]
    for i, state in reuse.items():
        out.own_states[top][i] = state
    rows = [Row(i) for i in missing]
    for chunk in pack_chunks(rows, prompts.own_length, budget):
        _run_own(out, chunk, bounds, keep_kv)
    return out


def _segments(bounds: Sequence[int]) -> list[range]:
    """Layer ranges between consecutive kept boundaries, from layer 0."""
    out, start = [], 0
    for b in bounds:
        if b > start:
            out.append(range(start, b))
            start = b
    return out


def _run_prefix(out: LowerPass, bounds: Sequence[int]) -> None:
    """The shared prefix through the lower layers, once (keys/values kept)."""
    p, family = out.prompts.prefix_len, out.family
    if p == 0:
        return
    h = family.embed(torch.tensor(out.prompts.prefix, dtype=torch.long))
    if 0 in bounds:
        out.prefix_states[0] = h
    runs = Runs([p], [1])
    for layers in _segments(bounds):
        attention = PackedAttention(family, runs, keep=True)
        states = run_layers(family, h, layers, attention, runs.positions(0), runs=runs)
        assert states is not None and attention.kept is not None
        for layer in layers:
            out.prefix_kv.store(layer, *attention.kept[layer][0])
        h = states
        out.prefix_states[layers.stop] = h


def _run_own(out: LowerPass, chunk: list[Row], bounds: Sequence[int], keep_kv: bool) -> None:
    """One packed chunk of prompts' own tokens through the lower layers."""
    family, prompts = out.family, out.prompts
    runs = runs_of(chunk, prompts.own_length)
    index = torch.zeros(len(chunk), dtype=torch.long)
    h = family.embed(prompts.own_ids(chunk))
    _split_states(out, chunk, 0, h, bounds)
    for layers in _segments(bounds):
        attention = PackedAttention(family, runs, out.prefix_kv if prompts.prefix_len else None,
                                    index, keep=keep_kv)
        states = run_layers(family, h, layers, attention, runs.positions(prompts.prefix_len),
                            runs=runs)
        assert states is not None
        h = states
        _split_states(out, chunk, layers.stop, h, bounds)
        if keep_kv:
            assert out.own_kv is not None
            for row, cache in zip(chunk, attention.row_kv(layers), strict=True):
                out.own_kv[row.prompt].keys.update(cache.keys)
                out.own_kv[row.prompt].values.update(cache.values)


def _split_states(out: LowerPass, chunk: list[Row], layer: int, h: torch.Tensor,
                  bounds: Sequence[int]) -> None:
    if layer not in bounds:
        return
    off = 0
    for row in chunk:
        n = out.prompts.own_length(row)
        out.own_states[layer][row.prompt] = h[off:off + n]
        off += n


def _known_states(out: LowerPass, known: Sequence[LowerPass]) -> dict[int, torch.Tensor]:
    """Own states at ``out.top`` of ``out``'s prompts found in passes of other prompt sets with
    the same prefix (same tokens, same split) and top."""
    found: dict[tuple[int, ...], torch.Tensor] = {}
    for other in known:
        if (other.family.lm is out.family.lm and other.top == out.top
                and other.prompts.prefix_len == out.prompts.prefix_len
                and other.prompts.prefix == out.prompts.prefix and out.top in other.own_states):
            for i, ids in enumerate(other.prompts.ids):
                found.setdefault(tuple(ids), other.own_states[out.top][i])
    return {i: found[tuple(ids)] for i, ids in enumerate(out.prompts.ids) if tuple(ids) in found}
