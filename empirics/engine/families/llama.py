"""Llama-like decoders (llama, mistral, qwen2): pre-norm attention with rotary embeddings
(q/k/v/o Linear, grouped-query heads), residual, pre-norm gated MLP, residual; unscaled
embeddings; logits = lm_head(norm(h)).

We call the layers' own submodules (norms, projections, MLP, rotary embedding) rather than the
layer's ``forward``, so nothing depends on the cache / keyword API that changes between
transformers releases (``past_key_values`` in 5.17, ``cache`` in 5.24).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from empirics.engine.family import AttentionSpec, Family, Projected, Rope
from empirics.engine.workspace import Workspace
from empirics.models import LoadedModel

_NORMS = ("input_layernorm", "post_attention_layernorm", "mlp")


def rotate(x: torch.Tensor, rope: Rope) -> torch.Tensor:
    """RoPE on ``(tokens, heads, head_dim)``: ``x * cos + rotate_half(x) * sin`` as Llama's
    apply_rotary_pos_emb, without materialising ``rotate_half(x)`` (no cat, no neg)."""
    cos, sin = rope
    half = x.shape[-1] // 2
    out = x * cos
    out[..., :half] -= x[..., half:] * sin[..., :half]
    out[..., half:] += x[..., :half] * sin[..., half:]
    return out


def rope_tables(rotary: nn.Module, positions: torch.Tensor, like: torch.Tensor) -> Rope:
    """The model's rotary module's ``(cos, sin)`` at flat ``positions``, shaped ``(tokens, 1,
    rotary_dim)`` for ``rotate``."""
    cos, sin = rotary(like, positions.to(like.device).unsqueeze(0))
    return Rope(cos[0].unsqueeze(1), sin[0].unsqueeze(1))


def gated_mlp(mlp: Any, x: torch.Tensor, workspace: Workspace | None) -> torch.Tensor:
    """Gated MLP ``down(act(gate(x)) * up(x))``. With a ``workspace`` the gate and up products
    are written into its buffers and the SiLU and the product done in place; without one
    (forward mode: on nested duals the in-place forms made Δ₂ ~11 % slower, with the same
    values) everything is out of place."""
    if not all(hasattr(mlp, n) for n in ("gate_proj", "up_proj", "down_proj", "act_fn")):
        return mlp(x)  # type: ignore[no-any-return]
    in_place = workspace is not None
    g = mlp.gate_proj(x) if workspace is None else workspace.linear("gate", mlp.gate_proj, x)
    if isinstance(mlp.act_fn, nn.SiLU) or type(mlp.act_fn).__name__ == "SiLUActivation":
        g = F.silu(g, inplace=in_place)
    else:
        g = mlp.act_fn(g)
    up = mlp.up_proj(x) if workspace is None else workspace.linear("up", mlp.up_proj, x)
    return mlp.down_proj(g.mul_(up) if in_place else g * up)  # type: ignore[no-any-return]


def window_of(lm: LoadedModel, layer: int) -> int | None:
    """Sliding-window size of ``layer``'s attention (``None``: full): the attention's own
    ``sliding_window`` (qwen2, qwen3: per layer type), else the config's (mistral: every layer)."""
    attn: Any = getattr(lm.layers[layer], "self_attn", None)
    if hasattr(attn, "sliding_window"):
        window = attn.sliding_window
    else:
        window = getattr(lm.model.config, "sliding_window", None)
    return int(window) if window else None  # 0: no window (qwen2_moe's config when disabled)


def _window_reason(lm: LoadedModel, max_len: int) -> str | None:
    """Sliding-window layers are computed exactly only while no prompt is longer than the
    window (the engine's attention is full causal)."""
    for i in range(lm.num_layers):
        window = window_of(lm, i)
        if window is not None and max_len > window:
            return (f"sliding-window attention (layer {i}, window {window}) with prompts of "
                    f"{max_len} tokens")
    return None


class LlamaFamily(Family):
    """llama, mistral, qwen2."""

    model_types = frozenset({"llama", "mistral", "qwen2"})
    #: Whether each head's queries and keys are normalised before the rotary embedding.
    qk_norms = False

    def __init__(self, lm: LoadedModel) -> None:
        super().__init__(lm)
        base: Any = lm.model.model
        self.embed_tokens: nn.Module = base.embed_tokens
        self.rotary: nn.Module = base.rotary_emb
        attn0: Any = lm.layers[0].self_attn
        self.head_dim = int(getattr(attn0, "head_dim", self.head_dim))
        self.scale = float(getattr(attn0, "scaling", self.head_dim**-0.5))
        #: Reused buffers of the gated MLP's gate and up products (none under ``forward_mode``).
        self.workspace = Workspace()
        self.mlp_in_place = True

    def gated_mlp(self, mlp: Any, x: torch.Tensor) -> torch.Tensor:
        """``gated_mlp`` with this pass's workspace, none under ``forward_mode``."""
        return gated_mlp(mlp, x, self.workspace if self.mlp_in_place else None)

    def forward_mode(self) -> AbstractContextManager[object]:
        """The gated MLP out of place while derivatives are taken."""
        return self._mlp_out_of_place()

    @contextmanager
    def _mlp_out_of_place(self) -> Iterator[None]:
        self.mlp_in_place = False
        try:
            yield
        finally:
            self.mlp_in_place = True

    @classmethod
    def unsupported(cls, lm: LoadedModel, max_len: int) -> str | None:
        base = getattr(lm.model, "model", None)
        for attr in ("embed_tokens", "layers", "norm", "rotary_emb"):
            if not isinstance(getattr(base, attr, None), nn.Module):
                return f"model.model has no {attr}"
        assert base is not None
        if base.layers is not lm.layers or base.norm is not lm.final_norm:
            return "decoder layers / final norm are not model.model.layers / model.model.norm"
        if not isinstance(lm.lm_head, nn.Linear):
            return "lm_head is not a Linear"
        rope_type = str(getattr(base.rotary_emb, "rope_type", "default"))
        if "dynamic" in rope_type:
            # Dynamic RoPE rescales by the longest position in each call; we call it per part.
            return f"dynamic RoPE scaling ({rope_type})"
        for i, layer in enumerate(lm.layers):
            reason = cls.layer_reason(i, layer)
            if reason is not None:
                return reason
        return _window_reason(lm, max_len)

    @classmethod
    def layer_reason(cls, i: int, layer: nn.Module) -> str | None:
        """Why decoder layer ``i`` is not of this family's form (``None``: it is)."""
        attn = getattr(layer, "self_attn", None)
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            if not isinstance(getattr(attn, name, None), nn.Linear):
                return f"layer {i} self_attn has no Linear {name}"
        present = [hasattr(attn, "q_norm"), hasattr(attn, "k_norm")]
        if (not all(present)) if cls.qk_norms else any(present):
            has = "lacks" if cls.qk_norms else "has"
            return f"layer {i} self_attn {has} q_norm/k_norm (not of the {cls.__name__} form)"
        for name in _NORMS:
            if not isinstance(getattr(layer, name, None), nn.Module):
                return f"layer {i} has no {name}"
        return None

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        dev = next(self.embed_tokens.parameters()).device
        return self.embed_tokens(ids.to(dev))  # type: ignore[no-any-return]

    def rope(self, layer: int, positions: torch.Tensor, like: torch.Tensor) -> Rope:
        return rope_tables(self.rotary, positions, like)

    def attention_input(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        return self.lm.layers[layer].input_layernorm(h)  # type: ignore[operator,no-any-return]

    def project(self, layer: int, x: torch.Tensor, rope: Rope | None,
                query_rows: torch.Tensor | None) -> Projected:
        assert rope is not None
        attn: Any = self.lm.layers[layer].self_attn
        k = rotate(self.keys(attn, x), rope)
        v = attn.v_proj(x).view(-1, self.kv_heads, self.head_dim)
        if query_rows is None:
            q = rotate(self.queries(attn, x), rope)
        else:
            q = rotate(self.queries(attn, x.index_select(0, query_rows)), rope.at(query_rows))
        return Projected(q, k, v)

    def queries(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        """Queries ``(tokens, heads, head_dim)`` before the position encoding."""
        return attn.q_proj(x).view(-1, self.heads, self.head_dim)  # type: ignore[no-any-return]

    def keys(self, attn: Any, x: torch.Tensor) -> torch.Tensor:
        """Keys ``(tokens, kv_heads, head_dim)`` before the position encoding."""
        return attn.k_proj(x).view(-1, self.kv_heads, self.head_dim)  # type: ignore[no-any-return]

    def attention_spec(self, layer: int) -> AttentionSpec:
        return AttentionSpec(self.scale)

    def finish(self, layer: int, h: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        block: Any = self.lm.layers[layer]
        h.add_(block.self_attn.o_proj(attended))
        return h.add_(self.gated_mlp(block.mlp, block.post_attention_layernorm(h)))

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


FAMILY = LlamaFamily
