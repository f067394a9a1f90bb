"""What a model family must tell the engine: the interface every adapter implements.

One adapter per family (``empirics/engine/families/<family>.py``, found there by
``families.family_for``) turns the family's modules into the engine's few steps, so the engine's
passes (packed prefill, one-token decoding, forward-mode derivatives) are written once. Where
each difference between families lives (issue 25's list):

- embedding scale (Gemma, Granite's multiplier), learned positions (GPT-2): ``embed``;
- rotary tables per layer (Gemma 3's local/global bases), none (GPT-2), partial (NeoX): ``rope``;
- norm form ((1 + w) RMSNorm, LayerNorm) and pre/post-norm sandwiches: the family's own norm
  modules, called by ``attention_input`` and ``finish``;
- q/k norms (Qwen3, OLMo 2), fused qkv projections (Phi-3, NeoX): ``project``;
- attention scale, logit soft-cap and sliding window per layer: ``attention_spec``;
- fused gate/up, MoE routing per token, residual multipliers (Granite), parallel residual
  (NeoX): ``finish``;
- final norm, logit multiplier or soft-cap (Granite, Gemma 2): ``final_norm`` and ``unembed``.

Steering always adds ``r * v_l`` to the output of decoder layer ``l`` (the residual stream after
the whole block), whatever the family.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from empirics.models import LoadedModel


class Rope(NamedTuple):
    """Rotary tables ``(tokens, 1, rotary_dim)`` for one call's flat positions."""

    cos: torch.Tensor
    sin: torch.Tensor

    def at(self, rows: torch.Tensor) -> Rope:
        """The tables of the tokens ``rows`` (e.g. the queries of ``Output.LAST``)."""
        return Rope(self.cos.index_select(0, rows), self.sin.index_select(0, rows))


class Projected(NamedTuple):
    """Queries ``(query tokens, heads, head_dim)``, keys and values ``(tokens, kv_heads,
    head_dim)`` of one layer, position encoding applied."""

    queries: torch.Tensor
    keys: torch.Tensor
    values: torch.Tensor


@dataclass(frozen=True)
class AttentionSpec:
    """How one layer's attention scores are formed: ``scale`` multiplies q·k; ``softcap``
    bounds the scores as ``c * tanh(s / c)`` (``None``: not capped); ``window`` is the
    sliding-window size in tokens (``None``: full causal attention)."""

    scale: float
    softcap: float | None = None
    window: int | None = None


class Family(ABC):
    """A model family's decoder, seen as the engine's steps. Subclasses name the
    ``model_types`` they serve and check the model's structure in ``unsupported``."""

    model_types: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, lm: LoadedModel) -> None:
        self.lm = lm
        cfg = lm.model.config
        self.heads = int(cfg.num_attention_heads)  # type: ignore[union-attr,arg-type]
        kv_heads = getattr(cfg, "num_key_value_heads", None)
        self.kv_heads = int(kv_heads or self.heads)
        head_dim = getattr(cfg, "head_dim", None)
        self.head_dim = int(head_dim or lm.hidden_size // self.heads)

    @classmethod
    @abstractmethod
    def unsupported(cls, lm: LoadedModel, max_len: int) -> str | None:
        """``None`` when this family's steps compute ``lm`` exactly for prompts of up to
        ``max_len`` tokens, else why not (the caller then takes the generic hook path)."""

    def layer_device(self, layer: int) -> torch.device:
        return self.lm.layer_device(layer)

    def forward_mode(self) -> AbstractContextManager[object]:
        """Entered around forward-mode derivatives (``engine.derivatives``): a family whose
        modules have kernels without forward-AD rules switches them here (mixtures of experts:
        grouped matrix products)."""
        return nullcontext()

    # ---- embedding and positions

    @abstractmethod
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids ``(tokens,)`` -> the input of layer 0, ``(tokens, d)``."""

    @abstractmethod
    def rope(self, layer: int, positions: torch.Tensor, like: torch.Tensor) -> Rope | None:
        """Rotary tables of ``layer`` at flat ``positions`` in ``like``'s dtype and device
        (``None`` for families without rotary embeddings)."""

    def rope_key(self, layer: int) -> Hashable:
        """Layers with equal keys share one set of tables (computed once per pass)."""
        return 0

    # ---- one decoder layer: attention_input -> project -> attention -> finish

    @abstractmethod
    def attention_input(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        """The normed residual stream the attention reads."""

    @abstractmethod
    def project(self, layer: int, x: torch.Tensor, rope: Rope | None,
                query_rows: torch.Tensor | None) -> Projected:
        """Queries, keys and values of ``x``; queries only at ``query_rows`` when given."""

    @abstractmethod
    def attention_spec(self, layer: int) -> AttentionSpec:
        """Scale, soft-cap and window of ``layer``'s attention."""

    @abstractmethod
    def finish(self, layer: int, h: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        """The rest of the block from the heads' output ``attended`` ``(tokens, heads *
        head_dim)``: output projection, residual, MLP, residual; may update ``h`` in place."""

    # ---- readout

    @abstractmethod
    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        """The final norm of states ``h`` ``(rows, d)``, on the unembedding's device."""

    @abstractmethod
    def unembed(self, normed: torch.Tensor) -> torch.Tensor:
        """Logits of final-normed states ``(rows, d)`` -> ``(rows, vocab)``."""

    @property
    def plain_unembedding(self) -> torch.Tensor | None:
        """The unembedding matrix ``(vocab, d)`` when the logits are exactly ``normed @ Wᵀ``
        (no bias, multiplier or soft-cap): streamed readouts may then work block by block."""
        return None
