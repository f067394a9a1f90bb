"""Gemma (v1): the Llama form with embeddings scaled by √d, (1 + w) RMSNorms and a GELU-tanh
gated MLP. The norms and the MLP's activation are the model's own modules (called as in Llama);
the embedding scale is applied inside ``embed_tokens`` by transformers ≥ 5 (a scaled embedding
module with ``embed_scale``) and by the model's forward before that, so ``embed`` applies it
only where the module does not."""

from __future__ import annotations

import torch

from empirics.engine.families.llama import LlamaFamily


class GemmaFamily(LlamaFamily):
    """gemma."""

    model_types = frozenset({"gemma"})

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        e = super().embed(ids)
        if hasattr(self.embed_tokens, "embed_scale"):   # scaled inside the module
            return e
        return e * torch.tensor(self.lm.hidden_size**0.5, dtype=e.dtype)


FAMILY = GemmaFamily
