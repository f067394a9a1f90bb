"""Qwen3 (dense): the Llama form plus an RMSNorm over each head's queries and keys
(``q_norm``, ``k_norm``), applied before the rotary embedding."""

from __future__ import annotations

from typing import Any

import torch

from empirics.engine.families.llama import LlamaFamily


class Qwen3Family(LlamaFamily):
    """qwen3."""

    model_types = frozenset({"qwen3"})
    qk_norms = True

    def queries(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        return attn.q_norm(super().queries(attn, x))  # type: ignore[no-any-return]

    def keys(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        return attn.k_norm(super().keys(attn, x))  # type: ignore[no-any-return]


FAMILY = Qwen3Family
