"""OLMo 2: no pre-norms; the attention's and the MLP's outputs are normed before each residual
sum (``post_attention_layernorm``, ``post_feedforward_layernorm``), and an RMSNorm over the
whole query and key projections (``q_norm``, ``k_norm``, before the heads are split and before
the rotary embedding)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from empirics.engine.families.llama import LlamaFamily, gated_mlp


class Olmo2Family(LlamaFamily):
    """olmo2."""

    model_types = frozenset({"olmo2"})
    qk_norms = True

    @classmethod
    def layer_reason(cls, i: int, layer: nn.Module) -> str | None:
        attn = getattr(layer, "self_attn", None)
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            if not isinstance(getattr(attn, name, None), nn.Linear):
                return f"layer {i} self_attn has no Linear {name}"
        for owner, name in ((attn, "q_norm"), (attn, "k_norm"), (layer, "mlp"),
                            (layer, "post_attention_layernorm"),
                            (layer, "post_feedforward_layernorm")):
            if not isinstance(getattr(owner, name, None), nn.Module):
                return f"layer {i} has no {name} (not of the OLMo 2 form)"
        if hasattr(layer, "input_layernorm"):
            return f"layer {i} has an input_layernorm (not of the OLMo 2 form)"
        return None

    def attention_input(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        return h

    def queries(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        return attn.q_norm(attn.q_proj(x)).view(-1, self.heads, self.head_dim)  # type: ignore[no-any-return]

    def keys(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        return attn.k_norm(attn.k_proj(x)).view(-1, self.kv_heads, self.head_dim)  # type: ignore[no-any-return]

    def finish(self, layer: int, h: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        block: Any = self.lm.layers[layer]
        h.add_(block.post_attention_layernorm(block.self_attn.o_proj(attended)))
        return h.add_(block.post_feedforward_layernorm(gated_mlp(block.mlp, h)))


FAMILY = Olmo2Family
