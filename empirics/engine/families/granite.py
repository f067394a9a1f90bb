"""Granite: the Llama form with four multipliers: the embedding's
(``embedding_multiplier``), the attention scale (``attention_multiplier``, read from the
attention's ``scaling`` as for every Llama-like family), each block's two residual branches
(``residual_multiplier``) and the logits (divided by ``logits_scaling``)."""

from __future__ import annotations

from typing import Any

import torch

from empirics.engine.families.llama import LlamaFamily
from empirics.models import LoadedModel


class GraniteFamily(LlamaFamily):
    """granite."""

    model_types = frozenset({"granite"})

    def __init__(self, lm: LoadedModel) -> None:
        super().__init__(lm)
        config: Any = lm.model.config
        self.embedding_multiplier = float(config.embedding_multiplier)
        self.residual_multiplier = float(config.residual_multiplier)
        self.logits_scaling = float(config.logits_scaling)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return super().embed(ids) * self.embedding_multiplier

    def finish(self, layer: int, h: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        block: Any = self.lm.layers[layer]
        h.add_(block.self_attn.o_proj(attended), alpha=self.residual_multiplier)
        mlp = self.gated_mlp(block.mlp, block.post_attention_layernorm(h))
        return h.add_(mlp, alpha=self.residual_multiplier)

    def unembed(self, normed: torch.Tensor) -> torch.Tensor:
        return self.lm.lm_head(normed) / self.logits_scaling  # type: ignore[no-any-return]

    @property
    def plain_unembedding(self) -> torch.Tensor | None:
        return None  # the logits are scaled: no streamed plain product


FAMILY = GraniteFamily
