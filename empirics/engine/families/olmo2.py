"""OLMo 2: the Llama form with norms moved: no norm before attention or MLP; an RMSNorm on
each branch's output before the residual (``post_attention_layernorm``,
``post_feedforward_layernorm``); q/k RMSNorms over the whole projection (all heads at once),
before the rotary embedding."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from empirics.engine.families.llama import LlamaFamily

_PARTS = ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm")


class Olmo2Family(LlamaFamily):
    """olmo2."""

    model_types = frozenset({"olmo2"})

    @classmethod
    def layer_reason(cls, i: int, layer: nn.Module) -> str | None:
        attn = getattr(layer, "self_attn", None)
        for name in _PARTS:
            if not isinstance(getattr(attn, name, None), nn.Module):
                return f"layer {i} self_attn has no {name}"
        for name in ("post_attention_layernorm", "post_feedforward_layernorm", "mlp"):
            if not isinstance(getattr(layer, name, None), nn.Module):
                return f"layer {i} has no {name}"
        if hasattr(layer, "input_layernorm"):
            return f"layer {i} has an input_layernorm (not of the OLMo 2 form)"
        return None

    def attention_input(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        return h  # no norm before attention

    def queries(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        return attn.q_norm(attn.q_proj(x)).view(-1, self.heads, self.head_dim)  # type: ignore[no-any-return]

    def keys(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        return attn.k_norm(attn.k_proj(x)).view(-1, self.kv_heads, self.head_dim)  # type: ignore[no-any-return]

    def finish(self, layer: int, h: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        block: Any = self.lm.layers[layer]
        h = h + block.post_attention_layernorm(block.self_attn.o_proj(attended))
        return h.add_(block.post_feedforward_layernorm(self.gated_mlp(block.mlp, h)))


FAMILY = Olmo2Family
