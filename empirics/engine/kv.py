"""The key/value cache: per layer, keys and values ``(rows, kv_heads, length, head_dim)``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch


@dataclass
class KVCache:
    """Keys and values per decoder layer. A *prefix cache* holds one row per coefficient (or
    one row) of a shared prefix; a *decoding cache* holds one row per generated sequence,
    allocated to its final width and written one column per step."""

    keys: dict[int, torch.Tensor] = field(default_factory=dict)
    values: dict[int, torch.Tensor] = field(default_factory=dict)

    @property
    def length(self) -> int:
        """Columns of the cache (0 when empty)."""
        return 0 if not self.keys else int(next(iter(self.keys.values())).shape[2])

    def store(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        self.keys[layer], self.values[layer] = keys, values

    @classmethod
    def allocate(cls, layers: Iterable[int], rows: int, kv_heads: int, width: int,
                 head_dim: int, dtype: torch.dtype,
                 device_of: dict[int, torch.device]) -> KVCache:
        """Empty buffers of ``width`` columns for ``rows`` rows, each layer on its device."""
        cache = cls()
        for layer in layers:
            k = torch.empty(rows, kv_heads, width, head_dim, dtype=dtype, device=device_of[layer])
            cache.store(layer, k, torch.empty_like(k))
        return cache

    def select_rows(self, rows: torch.Tensor) -> None:
        """Keep only cache rows ``rows`` (in that order), every layer."""
        for layer in list(self.keys):
            self.keys[layer] = self.keys[layer].index_select(0, rows.to(self.keys[layer].device))
            self.values[layer] = self.values[layer].index_select(
                0, rows.to(self.values[layer].device))

    def copy_rows(self, into: slice, source: torch.Tensor, columns: int) -> None:
        """Rows ``into`` take the first ``columns`` columns of rows ``source`` (a fork)."""
        for layer in self.keys:
            idx = source.to(self.keys[layer].device)
            self.keys[layer][into, :, :columns] = self.keys[layer][idx, :, :columns]
            self.values[layer][into, :, :columns] = self.values[layer][idx, :, :columns]

    def zero_columns(self, columns: int) -> None:
        """Zero the first ``columns`` columns of every row (columns a row never writes must
        hold finite numbers: a masked score or value that is NaN still poisons the softmax)."""
        for buf in (*self.keys.values(), *self.values.values()):
            buf[:, :, :columns].zero_()
