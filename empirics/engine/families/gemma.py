"""Gemma (1): the Llama form with a scaled embedding (``sqrt(hidden_size)``, applied by the
embedding module itself, ``GemmaTextScaledWordEmbedding``), (1 + w) RMSNorms (the model's own
norm modules) and a GELU-gated MLP (``gated_mlp`` calls its activation)."""

from __future__ import annotations

from typing import Any

from empirics.engine.families.llama import LlamaFamily
from empirics.models import LoadedModel


class GemmaFamily(LlamaFamily):
    """gemma."""

    model_types = frozenset({"gemma"})

    @classmethod
    def unsupported(cls, lm: LoadedModel, max_len: int) -> str | None:
        embed: Any = getattr(getattr(lm.model, "model", None), "embed_tokens", None)
        if not hasattr(embed, "embed_scale"):
            # Older transformers scaled the embedding in the model's forward, not the module.
            return "the embedding module does not scale its output (no embed_scale)"
        return super().unsupported(lm, max_len)


FAMILY = GemmaFamily
