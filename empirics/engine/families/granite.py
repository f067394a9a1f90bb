"""Granite: the Llama form with four multipliers — the embeddings × ``embedding_multiplier``,
each residual branch × ``residual_multiplier``, attention scores × ``attention_multiplier``
(instead of 1/√head_dim; the attention module's ``scaling``, read by ``LlamaFamily``), and the
logits ÷ ``logits_scaling``."""

from __future__ import annotations

from typing import Any

import torch

from empirics.engine.families.llama import LlamaFamily, gated_mlp
from empirics.models import LoadedModel


class GraniteFamily(LlamaFamily):
    """granite."""

    model_types = frozenset({"granite"})

    def __init__(self, lm: LoadedModel) -> None:
        super().__init__(lm)
        cfg: Any = lm.model.config
        self.embedding_multiplier = float(cfg.embedding_multiplier)
        self.residual_multiplier = float(cfg.residual_multiplier)
        self.logits_scaling = float(cfg.logits_scaling)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return super().embed(ids) * self.embedding_multiplier

    def finish(self, layer: int, h: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        block: Any = self.lm.layers[layer]
        m = self.residual_multiplier
        h.add_(block.self_attn.o_proj(attended), alpha=m)
        return h.add_(gated_mlp(block.mlp, block.post_attention_layernorm(h)), alpha=m)

    def unembed(self, normed: torch.Tensor) -> torch.Tensor:
        return super().unembed(normed) / self.logits_scaling

    @property
    def plain_unembedding(self) -> torch.Tensor | None:
        return None   # the logits are divided: no block-by-block streamed readout


FAMILY = GraniteFamily
