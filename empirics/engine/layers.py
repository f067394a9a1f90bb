"""One decoder-layer step, and a pass of steps over a range of layers with steering.

The same step serves packed prefill (``PackedAttention``), one-token decoding
(``DecodeAttention``) and forward-mode derivatives (the steering coefficient a dual number under
``torch.func.jvp``, nested for second derivatives): it is plain tensor code, so the family's
adapter and the attention object decide everything that differs.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

import torch

from empirics.engine.attention import Attention, Output
from empirics.engine.devices import PerDevice
from empirics.engine.family import Family, Rope
from empirics.engine.packing import Runs


def layer_step(family: Family, layer: int, h: torch.Tensor, rope: Rope | None,
               attention: Attention, output: Output,
               query_rows: torch.Tensor | None = None) -> torch.Tensor | None:
    """Decoder layer ``layer`` on states ``h`` ``(tokens, d)`` (updated in place). With
    ``query_rows`` only those tokens' outputs are computed and returned; ``Output.KV`` computes
    only the keys/values (into the attention's cache) and returns ``None``."""
    x = family.attention_input(layer, h)
    attended = attention(layer, family.project(layer, x, rope, query_rows), output)
    if attended is None:
        return None
    if query_rows is not None:
        h = h.index_select(0, query_rows)
    return family.finish(layer, h, attended)


@dataclass
class Steering:
    """``row_coefficients[j] * vectors[l]`` added to every token of row ``j`` at the output of
    each layer ``l`` in ``vectors``. The coefficients may be forward-mode duals (never read as
    numbers); the product is formed in the states' dtype, as ``steering.steer``'s hook does."""

    vectors: Mapping[int, PerDevice]
    row_coefficients: torch.Tensor
    _rows: dict[Hashable, torch.Tensor] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, vectors: Mapping[int, torch.Tensor], row_coefficients: torch.Tensor) -> Steering:
        return cls(host_vectors(vectors), row_coefficients)

    def add(self, layer: int, h: torch.Tensor, runs: Runs | None) -> None:
        """``h`` += coefficient * vector: ``h`` ``(tokens, d)`` holds the packed ``runs`` (``None``:
        one token per row). The product is formed once per row and broadcast over its tokens."""
        key = (h.device, h.dtype)
        if key not in self._rows:
            self._rows[key] = self.row_coefficients.to(h.device, h.dtype).unsqueeze(1)
        shift = self._rows[key] * self.vectors[layer].on(h.device, h.dtype)   # (rows, d)
        if runs is None:
            h.add_(shift)
            return
        tok = row = 0
        for s, r in zip(runs.lengths, runs.counts, strict=True):
            h[tok:tok + s * r].view(r, s, -1).add_(shift[row:row + r].unsqueeze(1))
            tok += s * r
            row += r


def host_vectors(vectors: Mapping[int, torch.Tensor]) -> dict[int, PerDevice]:
    """Steering vectors as float32 host copies, moved per device on use."""
    return {layer: PerDevice(v.detach().float().cpu()) for layer, v in vectors.items()}


def run_layers(family: Family, h: torch.Tensor, layers: range, attention: Attention,
               positions: torch.Tensor, *, runs: Runs | None = None,
               steering: Steering | None = None,
               output: Output = Output.ALL) -> torch.Tensor | None:
    """``layers`` on states ``h`` ``(tokens, d)`` whose tokens sit at ``positions``; ``runs``
    describes packed rows (``None``: one token per row). ``output`` applies to the top layer:
    ``Output.LAST`` returns ``(rows, d)`` at each row's last token, ``Output.KV`` only fills the
    attention's cache. Each layer's input follows that layer's device."""
    h = h.clone()  # one private copy, then residual updates in place
    last_rows = PerDevice(runs.last_index()) if runs is not None else None
    ropes: dict[Hashable, Rope | None] = {}
    for i, layer in enumerate(layers):
        dev = family.layer_device(layer)
        h = h.to(dev)
        key = (dev, family.rope_key(layer))
        if key not in ropes:
            ropes[key] = family.rope(layer, positions, h)
        out = output if i == len(layers) - 1 else Output.ALL
        rows = None
        if out is Output.LAST:
            assert last_rows is not None, "Output.LAST needs the runs of packed rows"
            rows = last_rows.on(dev)
        elif out is Output.KV:  # nothing reads the queries
            rows = torch.empty(0, dtype=torch.long, device=dev)
        stepped = layer_step(family, layer, h, ropes[key], attention, out, rows)
        if stepped is None:
            return None
        h = stepped
        if steering is not None and layer in steering.vectors:
            steering.add(layer, h, None if rows is not None else runs)
    return h
