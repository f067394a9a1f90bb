"""Gemma 3 (text): Gemma 2's form (scaled embedding, norm sandwich, windows on sliding layers)
with per-head q/k RMSNorms before the rotary embedding, rotary tables per layer type (local
layers have their own base: ``rotary_emb(x, positions, layer_type)``) and, by default, no
soft-caps."""

from __future__ import annotations

import inspect
from collections.abc import Hashable
from typing import Any

import torch

from empirics.engine.families.gemma2 import Gemma2Family
from empirics.engine.family import Rope
from empirics.models import LoadedModel


class Gemma3Family(Gemma2Family):
    """gemma3_text."""

    model_types = frozenset({"gemma3_text"})
    qk_norms = True

    @classmethod
    def unsupported(cls, lm: LoadedModel, max_len: int) -> str | None:
        if not getattr(lm.model.config, "layer_types", None):
            return "the config has no layer_types (rotary tables per layer type)"
        rotary = getattr(getattr(lm.model, "model", None), "rotary_emb", None)
        if "layer_type" not in inspect.signature(getattr(rotary, "forward", lambda: None)).parameters:
            return "the rotary embedding takes no layer_type (older transformers)"
        return super().unsupported(lm, max_len)

    def layer_type(self, layer: int) -> str:
        return str(self.lm.model.config.layer_types[layer])  # type: ignore[union-attr,index]

    def rope(self, layer: int, positions: torch.Tensor, like: torch.Tensor) -> Rope:
        cos, sin = self.rotary(like, positions.to(like.device).unsqueeze(0), self.layer_type(layer))
        return Rope(cos[0].unsqueeze(1), sin[0].unsqueeze(1))

    def rope_key(self, layer: int) -> Hashable:
        return self.layer_type(layer)

    def queries(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        return attn.q_norm(super().queries(attn, x))  # type: ignore[no-any-return]

    def keys(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        return attn.k_norm(super().keys(attn, x))  # type: ignore[no-any-return]


FAMILY = Gemma3Family
