"""Gemma 2: Gemma's scaled embedding and (1 + w) norms, plus a norm sandwich around both
branches (``input_layernorm`` / ``post_attention_layernorm`` around attention,
``pre_feedforward_layernorm`` / ``post_feedforward_layernorm`` around the MLP), attention scaled
by ``query_pre_attn_scalar``, soft-capped scores and sliding windows on alternate layers
(``AttentionSpec``), and soft-capped logits."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from empirics.engine.families.gemma import GemmaFamily
from empirics.engine.family import AttentionSpec
from empirics.models import LoadedModel

_NORMS = ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
          "post_feedforward_layernorm", "mlp")


class Gemma2Family(GemmaFamily):
    """gemma2."""

    model_types = frozenset({"gemma2"})

    def __init__(self, lm: LoadedModel) -> None:
        super().__init__(lm)
        self.final_softcap = getattr(lm.model.config, "final_logit_softcapping", None)

    @classmethod
    def unsupported(cls, lm: LoadedModel, max_len: int) -> str | None:
        # Windows are part of the attention spec here: any prompt length is exact.
        return super().unsupported(lm, 0)

    @classmethod
    def layer_reason(cls, i: int, layer: nn.Module) -> str | None:
        for name in _NORMS:
            if not isinstance(getattr(layer, name, None), nn.Module):
                return f"layer {i} has no {name}"
        return super().layer_reason(i, layer)

    def attention_spec(self, layer: int) -> AttentionSpec:
        attn: Any = self.lm.layers[layer].self_attn
        softcap = getattr(attn, "attn_logit_softcapping", None)
        window = getattr(attn, "sliding_window", None)
        return AttentionSpec(float(attn.scaling), None if softcap is None else float(softcap),
                             None if not window else int(window))

    def finish(self, layer: int, h: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        block: Any = self.lm.layers[layer]
        h = h + block.post_attention_layernorm(block.self_attn.o_proj(attended))
        mlp = self.gated_mlp(block.mlp, block.pre_feedforward_layernorm(h))
        return h.add_(block.post_feedforward_layernorm(mlp))

    def unembed(self, normed: torch.Tensor) -> torch.Tensor:
        logits = self.lm.lm_head(normed)
        if self.final_softcap is None:
            return logits  # type: ignore[no-any-return]
        c = float(self.final_softcap)
        return torch.tanh(logits / c) * c

    @property
    def plain_unembedding(self) -> torch.Tensor | None:
        return None if self.final_softcap is not None else super().plain_unembedding


FAMILY = Gemma2Family
