"""Mixtures of experts of the Llama form (mixtral, qwen2_moe): the block's sparse MLP module
(router, experts, Qwen2-MoE's gated shared expert) is called on the rows as one sequence; the
routing is per token, so packing does not change it. transformers 5's experts use grouped
matrix products, which have no forward-mode rule: ``forward_mode`` switches the model to eager
experts while derivatives are taken."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch

from empirics.engine.families.llama import LlamaFamily
from empirics.hooked import eager_implementation


class MoeFamily(LlamaFamily):
    """mixtral, qwen2_moe."""

    model_types = frozenset({"mixtral", "qwen2_moe"})

    def finish(self, layer: int, h: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        block: Any = self.lm.layers[layer]
        h.add_(block.self_attn.o_proj(attended))
        out = block.mlp(block.post_attention_layernorm(h).unsqueeze(0))
        if isinstance(out, tuple):  # older releases also return the router logits
            out = out[0]
        return h.add_(out.squeeze(0))

    def forward_mode(self) -> AbstractContextManager[object]:
        """Eager experts: grouped matrix products have no forward derivative."""
        return eager_implementation(self.lm, "experts")

FAMILY = MoeFamily
