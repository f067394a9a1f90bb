"""Phi-3: the Llama form with fused projections — ``qkv_proj`` (queries, keys, values stacked
in that order) and ``gate_up_proj`` (the MLP's, run by the model's own MLP module). Rotary
embeddings over the whole head only (a partial rotary factor takes the generic path)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from empirics.engine.families.llama import LlamaFamily, rotate
from empirics.engine.family import Projected, Rope
from empirics.models import LoadedModel


class Phi3Family(LlamaFamily):
    """phi3."""

    model_types = frozenset({"phi3"})

    @classmethod
    def unsupported(cls, lm: LoadedModel, max_len: int) -> str | None:
        rope = getattr(lm.model.config, "rope_parameters", None) or {}
        factor = float(rope.get("partial_rotary_factor", 1.0)) if isinstance(rope, dict) else 1.0
        if factor != 1.0:
            return f"partial rotary embeddings (factor {factor})"
        return super().unsupported(lm, max_len)

    @classmethod
    def layer_reason(cls, i: int, layer: nn.Module) -> str | None:
        attn = getattr(layer, "self_attn", None)
        for owner, name in ((attn, "qkv_proj"), (attn, "o_proj")):
            if not isinstance(getattr(owner, name, None), nn.Linear):
                return f"layer {i} self_attn has no Linear {name}"
        for name in ("input_layernorm", "post_attention_layernorm", "mlp"):
            if not isinstance(getattr(layer, name, None), nn.Module):
                return f"layer {i} has no {name}"
        return None

    def _part(self, attn: Any, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` of the fused projection applied to ``x``."""
        return F.linear(x, attn.qkv_proj.weight[start:stop],
                        None if attn.qkv_proj.bias is None else attn.qkv_proj.bias[start:stop])

    def queries(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        q = self.heads * self.head_dim
        return self._part(attn, x, 0, q).view(-1, self.heads, self.head_dim)

    def keys(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        q, k = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return self._part(attn, x, q, q + k).view(-1, self.kv_heads, self.head_dim)

    def project(self, layer: int, x: torch.Tensor, rope: Rope | None,
                query_rows: torch.Tensor | None) -> Projected:
        assert rope is not None
        attn: Any = self.lm.layers[layer].self_attn
        q, k = self.heads * self.head_dim, self.kv_heads * self.head_dim
        values = self._part(attn, x, q + k, q + 2 * k).view(-1, self.kv_heads, self.head_dim)
        keys = rotate(self.keys(attn, x), rope)
        if query_rows is None:
            return Projected(rotate(self.queries(attn, x), rope), keys, values)
        picked = Rope(rope.cos.index_select(0, query_rows), rope.sin.index_select(0, query_rows))
        return Projected(rotate(self.queries(attn, x.index_select(0, query_rows)), picked), keys,
                         values)


FAMILY = Phi3Family
