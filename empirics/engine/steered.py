"""The steered pass: from a lower pass's states up through the steered layers, with one
steering coefficient per packed row, as the sweep, the JVPs and generation's prefill run it.

The lower pass ends at layer ``top``. When it also ran the first steered layer (``top`` =
first + 1; that layer's work does not depend on the coefficient, only its output's shift does),
the shift of that layer is added to the lower states here ("entry steering"), and the layers
from ``top`` up run per coefficient. The shared prefix runs once per coefficient and is kept
as a cache that every row of that coefficient attends to (exact: attention is causal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from empirics.engine.attention import Output, PackedAttention
from empirics.engine.devices import PerDevice
from empirics.engine.family import Family
from empirics.engine.kv import KVCache
from empirics.engine.layers import Steering, host_vectors, run_layers
from empirics.engine.lower import LowerPass
from empirics.engine.packing import Row, Runs, runs_of


def lower_top(first_steered: int, num_layers: int) -> int:
    """Where a lower pass for steering from ``first_steered`` up should stop: after that layer
    (its work is the same at every coefficient), except when it is the top layer, whose work
    the sweep limits to the last token."""
    return first_steered + 1 if first_steered < num_layers - 1 else first_steered


@dataclass
class SteeredPass:
    """Steering ``vectors`` from ``lower.top`` up (and the entry steering of layer
    ``lower.top - 1`` when it is steered)."""

    family: Family
    lower: LowerPass
    vectors: dict[int, PerDevice]

    @classmethod
    def of(cls, lower: LowerPass, vectors: Mapping[int, torch.Tensor]) -> SteeredPass:
        if not vectors:
            raise ValueError("vectors is empty: give at least one layer to steer")
        if min(vectors) < lower.top - 1:
            raise ValueError(f"the lower pass ran layers 0..{lower.top - 1} unsteered, but layer "
                             f"{min(vectors)} is steered: compute it to a lower top")
        return cls(lower.family, lower, host_vectors(vectors))

    @property
    def layers(self) -> range:
        return range(self.lower.top, self.family.lm.num_layers)

    @property
    def entry(self) -> int | None:
        """The steered layer the lower pass ran (its shift is added on entry), if any."""
        layer = self.lower.top - 1
        return layer if layer in self.vectors else None

    def enter(self, h: torch.Tensor, token_coefficients: torch.Tensor) -> torch.Tensor:
        """``h`` plus the entry layer's shift (same op order and dtype as ``steering.steer``)."""
        if self.entry is None:
            return h
        v = self.vectors[self.entry].on(h.device, h.dtype)
        return h + token_coefficients.to(h.device, h.dtype).unsqueeze(1) * v

    def steering(self, row_coefficients: torch.Tensor) -> Steering:
        return Steering(self.vectors, row_coefficients)

    def prefix_cache(self, coefficients: torch.Tensor) -> KVCache | None:
        """The shared prefix through the steered layers at each coefficient: keys/values,
        one cache row per coefficient (``None`` without a prefix)."""
        p = self.lower.prompts.prefix_len
        state = self.lower.prefix_states.get(self.lower.top)
        if p == 0 or state is None or not self.layers:
            return None
        n = int(coefficients.shape[0])
        runs = Runs([p], [n])
        h = self.enter(state.repeat(n, 1), coefficients.repeat_interleave(p))
        attention = PackedAttention(self.family, runs, keep=True)
        run_layers(self.family, h, self.layers, attention, runs.positions(0), runs=runs,
                   steering=self.steering(coefficients), output=Output.KV)
        assert attention.kept is not None
        cache = KVCache()
        for layer in self.layers:
            cache.store(layer, *attention.kept[layer][0])
        return cache

    def rows(self, chunk: list[Row], row_coefficients: torch.Tensor, prefix: KVCache | None,
             prefix_index: torch.Tensor, output: Output,
             keep_kv: bool = False) -> tuple[torch.Tensor | None, PackedAttention]:
        """Packed ``chunk`` (own tokens, prompts from the lower pass) through the steered
        layers; row ``j`` at coefficient ``row_coefficients[j]``, attending to ``prefix`` row
        ``prefix_index[j]``. Returns the top layer's output and the attention (its kept
        keys/values with ``keep_kv``)."""
        prompts = self.lower.prompts
        runs = runs_of(chunk, prompts.own_length)
        own = self.lower.own_states[self.lower.top]
        h = torch.cat([own[r.prompt] for r in chunk])
        h = self.enter(h, torch.repeat_interleave(row_coefficients, runs.row_lengths()))
        attention = PackedAttention(self.family, runs, prefix, prefix_index, keep=keep_kv)
        out = run_layers(self.family, h, self.layers, attention, runs.positions(prompts.prefix_len),
                         runs=runs, steering=self.steering(row_coefficients), output=output)
        return out, attention

    def run_rows(self, chunk: list[Row], row_coefficients: torch.Tensor, prefix: KVCache | None,
                 prefix_index: torch.Tensor, output: Output) -> torch.Tensor:
        """``rows`` without the attention: the top layer's output."""
        out, _ = self.rows(chunk, row_coefficients, prefix, prefix_index, output)
        assert out is not None
        return out
