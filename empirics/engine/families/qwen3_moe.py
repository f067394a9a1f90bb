"""Qwen3-MoE: Qwen3's per-head q/k norms with the mixture-of-experts block of ``moe``."""

from __future__ import annotations

from empirics.engine.families.moe import MoeFamily
from empirics.engine.families.qwen3 import Qwen3Family


class Qwen3MoeFamily(MoeFamily, Qwen3Family):
    """qwen3_moe."""

    model_types = frozenset({"qwen3_moe"})


FAMILY = Qwen3MoeFamily
