"""GPT-NeoX (Pythia): LayerNorms with biases; one fused ``query_key_value`` projection laid out
per head as (queries, keys, values); rotary embedding on the first ``rotary_ndims`` dimensions
of each head only; the parallel residual ``h + attn(ln1(h)) + mlp(ln2(h))`` (or, with
``use_parallel_residual=False``, the sequential one); untied ``embed_out``."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn

from empirics.engine.families.llama import rope_tables, rotate
from empirics.engine.family import AttentionSpec, Family, Projected, Rope
from empirics.hooked import composite_layer_norms
from empirics.models import LoadedModel


def rotate_partial(x: torch.Tensor, rope: Rope) -> torch.Tensor:
    """RoPE on the first ``rope``-width dimensions of ``(tokens, heads, head_dim)``."""
    width = rope.cos.shape[-1]
    if width == x.shape[-1]:
        return rotate(x, rope)
    return torch.cat([rotate(x[..., :width], rope), x[..., width:]], dim=-1)


class GPTNeoXFamily(Family):
    """gpt_neox."""

    model_types = frozenset({"gpt_neox"})

    def __init__(self, lm: LoadedModel) -> None:
        super().__init__(lm)
        base: Any = lm.model.gpt_neox  # type: ignore[union-attr]
        self.embed_in: nn.Module = base.embed_in
        self.rotary: nn.Module = base.rotary_emb
        attn0: Any = lm.layers[0].attention
        self.scale = float(attn0.scaling)
        self.parallel = bool(lm.model.config.use_parallel_residual)  # type: ignore[union-attr]
        self.kv_heads = self.heads  # no grouped-query attention (a stray config field aside)

    def forward_mode(self) -> AbstractContextManager[object]:
        """LayerNorms composed of elementary operations: PyTorch's fused one gets the second
        forward derivative wrong (``hooked.composite_layer_norm``)."""
        return composite_layer_norms(self.lm)

    @classmethod
    def unsupported(cls, lm: LoadedModel, max_len: int) -> str | None:
        base: Any = getattr(lm.model, "gpt_neox", None)
        for attr in ("embed_in", "layers", "final_layer_norm", "rotary_emb"):
            if not isinstance(getattr(base, attr, None), nn.Module):
                return f"gpt_neox has no {attr}"
        if "dynamic" in str(getattr(base.rotary_emb, "rope_type", "default")):
            return "dynamic RoPE scaling"
        if not isinstance(lm.lm_head, nn.Linear):
            return "embed_out is not a Linear"
        for i, layer in enumerate(lm.layers):
            for name in ("input_layernorm", "post_attention_layernorm", "attention", "mlp"):
                if not isinstance(getattr(layer, name, None), nn.Module):
                    return f"layer {i} has no {name}"
            attn = layer.attention
            if not hasattr(attn, "scaling"):
                return f"layer {i} attention has no scaling (older transformers)"
            for name in ("query_key_value", "dense"):
                if not isinstance(getattr(attn, name, None), nn.Linear):
                    return f"layer {i} attention has no Linear {name}"
        return None

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        dev = next(self.embed_in.parameters()).device
        return self.embed_in(ids.to(dev))  # type: ignore[no-any-return]

    def rope(self, layer: int, positions: torch.Tensor, like: torch.Tensor) -> Rope:
        return rope_tables(self.rotary, positions, like)

    def attention_input(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        return self.lm.layers[layer].input_layernorm(h)  # type: ignore[operator,no-any-return]

    def project(self, layer: int, x: torch.Tensor, rope: Rope | None,
                query_rows: torch.Tensor | None) -> Projected:
        assert rope is not None
        attn: Any = self.lm.layers[layer].attention
        qkv = attn.query_key_value(x).view(-1, self.heads, 3 * self.head_dim)
        q, k, v = qkv.chunk(3, dim=-1)
        k = rotate_partial(k, rope)
        if query_rows is None:
            return Projected(rotate_partial(q, rope), k, v)
        return Projected(rotate_partial(q.index_select(0, query_rows), rope.at(query_rows)), k, v)

    def attention_spec(self, layer: int) -> AttentionSpec:
        return AttentionSpec(self.scale)

    def finish(self, layer: int, h: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        block: Any = self.lm.layers[layer]
        attn_out = block.attention.dense(attended)
        if self.parallel:
            return h + attn_out + block.mlp(block.post_attention_layernorm(h))
        h = h + attn_out
        return h + block.mlp(block.post_attention_layernorm(h))

    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        lm = self.lm
        h = h.to(lm.final_norm.weight.device)  # type: ignore[union-attr,arg-type]
        return lm.final_norm(h).to(lm.lm_head.weight.device)  # type: ignore[no-any-return,union-attr,arg-type]

    def unembed(self, normed: torch.Tensor) -> torch.Tensor:
        return self.lm.lm_head(normed)  # type: ignore[no-any-return]

    @property
    def plain_unembedding(self) -> torch.Tensor | None:
        head: Any = self.lm.lm_head
        return None if getattr(head, "bias", None) is not None else head.weight  # type: ignore[no-any-return]


FAMILY = GPTNeoXFamily
