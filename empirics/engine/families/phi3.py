"""Phi-3: the Llama form with fused projections: one ``qkv_proj`` (queries, keys, values in
that order along its output) and a fused ``gate_up_proj`` MLP (the model's own MLP module is
called, as for any MLP without separate gate/up projections). Partial rotary and LongRoPE (whose
tables depend on the sequence length) are left to the generic path."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from empirics.engine.families.llama import LlamaFamily, rotate
from empirics.engine.family import Projected, Rope
from empirics.models import LoadedModel


class Phi3Family(LlamaFamily):
    """phi3."""

    model_types = frozenset({"phi3"})

    @classmethod
    def unsupported(cls, lm: LoadedModel, max_len: int) -> str | None:
        config: Any = lm.model.config
        if float(getattr(config, "partial_rotary_factor", 1.0) or 1.0) != 1.0:
            return "partial rotary embedding"
        rope = getattr(getattr(getattr(lm.model, "model", None), "rotary_emb", None), "rope_type", "")
        if "longrope" in str(rope):
            return "LongRoPE (tables depend on the sequence length)"
        return super().unsupported(lm, max_len)

    @classmethod
    def layer_reason(cls, i: int, layer: nn.Module) -> str | None:
        attn = getattr(layer, "self_attn", None)
        for name in ("qkv_proj", "o_proj"):
            if not isinstance(getattr(attn, name, None), nn.Linear):
                return f"layer {i} self_attn has no Linear {name}"
        for name in ("input_layernorm", "post_attention_layernorm", "mlp"):
            if not isinstance(getattr(layer, name, None), nn.Module):
                return f"layer {i} has no {name}"
        return None

    def project(self, layer: int, x: torch.Tensor, rope: Rope | None,
                query_rows: torch.Tensor | None) -> Projected:
        assert rope is not None
        attn: Any = self.lm.layers[layer].self_attn
        qkv = attn.qkv_proj(x)
        nq, nk = self.heads * self.head_dim, self.kv_heads * self.head_dim
        q = qkv[:, :nq].reshape(-1, self.heads, self.head_dim)
        k = rotate(qkv[:, nq:nq + nk].reshape(-1, self.kv_heads, self.head_dim), rope)
        v = qkv[:, nq + nk:].reshape(-1, self.kv_heads, self.head_dim)
        if query_rows is None:
            return Projected(rotate(q, rope), k, v)
        return Projected(rotate(q.index_select(0, query_rows), rope.at(query_rows)), k, v)


FAMILY = Phi3Family
