"""Layer-by-layer execution of Llama-like decoders over packed rows (the fast sweep's engine).

Rows of equal length are laid end to end as one ``(tokens, d)`` matrix, so every projection and
MLP runs as a single GEMM over all tokens with no padding; only attention is per length group.
Rows may attend to a shared-prefix KV cache (one cache row per steering coefficient). We call the
layers' own submodules (norms, projections, MLP, rotary embedding) rather than the layer's
``forward``, so the code does not depend on the cache / kwarg API, which changes between
transformers releases (``past_key_values`` in 5.17, ``cache`` in 5.24).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from empirics.models import LoadedModel

# Architectures whose decoder layer is exactly: pre-norm attention with RoPE (q/k/v/o Linear, GQA),
# residual, pre-norm MLP, residual; unscaled embeddings; logits = lm_head(norm(h)).
LLAMA_LIKE = frozenset({"llama", "mistral", "qwen2"})


def manual_support(lm: LoadedModel, max_len: int = 0) -> str | None:
    """``None`` when ``lm`` can run layer by layer here, else the reason it cannot."""
    model = lm.model
    cfg = getattr(model, "config", None)
    mtype = getattr(cfg, "model_type", None)
    if mtype not in LLAMA_LIKE:
        return f"model_type {mtype!r} is not one of {sorted(LLAMA_LIKE)}"
    base = getattr(model, "model", None)
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
        # Dynamic RoPE rescales by the longest position in each call; we call it per segment.
        return f"dynamic RoPE scaling ({rope_type})"
    window = getattr(cfg, "sliding_window", None)
    if window is not None and (mtype == "mistral" or getattr(cfg, "use_sliding_window", False)):
        if max_len > int(window):
            return f"sliding-window attention (window {window}) with prompts of {max_len} tokens"
    for i, layer in enumerate(lm.layers):
        attn = getattr(layer, "self_attn", None)
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            if not isinstance(getattr(attn, name, None), nn.Linear):
                return f"layer {i} self_attn has no Linear {name}"
        if hasattr(attn, "q_norm") or hasattr(attn, "k_norm"):
            return f"layer {i} normalises queries/keys (not Llama-like)"
        for name in ("input_layernorm", "post_attention_layernorm", "mlp"):
            if not isinstance(getattr(layer, name, None), nn.Module):
                return f"layer {i} has no {name}"
    # Weights offloaded by accelerate live on "meta" and only appear inside the module's own
    # forward hooks, which calling submodules directly would bypass.
    if any(p.device.type == "meta" for p in model.parameters()):
        return "some weights are offloaded (meta device)"
    return None


@dataclass
class Runs:
    """A packed batch: ``counts[g]`` rows of ``lengths[g]`` tokens each, groups in order."""

    lengths: list[int]
    counts: list[int]

    @property
    def tokens(self) -> int:
        return sum(s * r for s, r in zip(self.lengths, self.counts, strict=True))

    @property
    def rows(self) -> int:
        return sum(self.counts)

    def last_index(self) -> torch.Tensor:
        """Flat index of each row's last token, rows in order."""
        out: list[int] = []
        off = 0
        for s, r in zip(self.lengths, self.counts, strict=True):
            out.extend(off + s * (j + 1) - 1 for j in range(r))
            off += s * r
        return torch.tensor(out, dtype=torch.long)

    def row_lengths(self) -> torch.Tensor:
        return torch.repeat_interleave(
            torch.tensor(self.lengths, dtype=torch.long), torch.tensor(self.counts, dtype=torch.long)
        )


@dataclass
class KV:
    """Per-layer keys/values of a shared prefix: ``(cache_rows, kv_heads, prefix_len, head_dim)``."""

    keys: dict[int, torch.Tensor] = field(default_factory=dict)
    values: dict[int, torch.Tensor] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return 0 if not self.keys else int(next(iter(self.keys.values())).shape[2])


class PerDevice:
    """Tensors derived from one CPU/host tensor, cached per (device, dtype) (layers may be spread)."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor
        self._cache: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def on(self, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
        key = (device, dtype or self.tensor.dtype)
        if key not in self._cache:
            self._cache[key] = self.tensor.to(device=device, dtype=key[1])
        return self._cache[key]


class LlamaStack:
    """Runs decoder layers of a Llama-like ``LoadedModel`` on packed rows."""

    def __init__(self, lm: LoadedModel) -> None:
        self.lm = lm
        base: Any = lm.model.model
        self.embed_tokens: nn.Module = base.embed_tokens
        self.rotary: nn.Module = base.rotary_emb
        cfg: Any = lm.model.config
        self.heads = int(cfg.num_attention_heads)
        self.kv_heads = int(getattr(cfg, "num_key_value_heads", None) or self.heads)
        attn0: Any = lm.layers[0].self_attn
        self.head_dim = int(getattr(attn0, "head_dim", lm.hidden_size // self.heads))
        self.scaling = float(getattr(attn0, "scaling", self.head_dim**-0.5))
        self._masks: dict[tuple[int, int, torch.device], torch.Tensor] = {}

    def layer_device(self, layer: int) -> torch.device:
        return self.lm.layer_device(layer)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Embeddings of flat token ids ``(T,)`` -> ``(T, d)``."""
        dev = next(self.embed_tokens.parameters()).device
        return self.embed_tokens(ids.to(dev))  # type: ignore[no-any-return]

    def rope(self, positions: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin ``(T, 1, head_dim)`` for flat positions, in ``like``'s dtype/device."""
        cos, sin = self.rotary(like, positions.to(like.device).unsqueeze(0))
        return cos[0].unsqueeze(1), sin[0].unsqueeze(1)

    def _mask(self, s: int, p: int, device: torch.device) -> torch.Tensor:
        """Boolean ``(s, p + s)``: query i sees the whole prefix and suffix keys 0..i."""
        key = (s, p, device)
        if key not in self._masks:
            q = torch.arange(s, device=device).unsqueeze(1)
            k = torch.arange(p + s, device=device).unsqueeze(0)
            self._masks[key] = k <= q + p
        return self._masks[key]

    def run(
        self,
        h: torch.Tensor,
        runs: Runs,
        start_pos: int,
        layers: range,
        prefix: KV | None = None,
        prefix_index: torch.Tensor | None = None,
        vectors: Mapping[int, PerDevice] | None = None,
        coef_rows: torch.Tensor | None = None,
        keep_kv: KV | None = None,
        kv_only_last: bool = False,
        last_only: bool = False,
    ) -> torch.Tensor:
        """Run ``layers`` on packed ``h`` ``(T, d)``; every row's tokens sit at ``start_pos...``.

        ``prefix``/``prefix_index``: row j also attends to ``prefix`` cache row ``prefix_index[j]``.
        ``vectors``/``coef_rows``: steering, layer output += coef of the row * vector.
        ``keep_kv``: store each layer's keys/values here (a prefix pass: one run).
        ``kv_only_last``: the last layer only computes its keys/values (nothing reads its output).
        ``last_only``: the last layer works only at each row's last token and
        ``(rows, d)`` is returned.
        """
        positions = torch.cat([torch.arange(start_pos, start_pos + s).repeat(r)
                               for s, r in zip(runs.lengths, runs.counts, strict=True)])
        lengths = runs.row_lengths()
        last_idx = PerDevice(runs.last_index())
        per_dev: dict[torch.device, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = {}
        pidx_dev = PerDevice(prefix_index) if prefix_index is not None else None
        # One private copy, then residual updates in place (fewer large allocations on CPU).
        h = h.clone()
        for i, li in enumerate(layers):
            dev = self.layer_device(li)
            h = h.to(dev)
            if dev not in per_dev:
                cos, sin = self.rope(positions, h)
                tok_coef = None
                if coef_rows is not None:
                    tok_coef = torch.repeat_interleave(coef_rows, lengths).to(dev, h.dtype)
                per_dev[dev] = (cos, sin, tok_coef)
            cos, sin, tok_coef = per_dev[dev]
            final = i == len(layers) - 1
            layer: Any = self.lm.layers[li]
            x = layer.input_layernorm(h)
            if final and kv_only_last:
                self._attention(layer.self_attn, x, cos, sin, runs, prefix, pidx_dev, keep_kv, li,
                                kv_only=True)
                continue
            if final and last_only:
                idx = last_idx.on(dev)
                a = self._attention(layer.self_attn, x, cos, sin, runs, prefix, pidx_dev, None, li,
                                    queries=idx)
                h = h.index_select(0, idx).add_(a)
                if tok_coef is not None:
                    assert coef_rows is not None
                    tok_coef = coef_rows.to(dev, h.dtype)
            else:
                h.add_(self._attention(layer.self_attn, x, cos, sin, runs, prefix, pidx_dev,
                                       keep_kv, li))
            h.add_(_mlp(layer.mlp, layer.post_attention_layernorm(h)))
            if vectors is not None and li in vectors and tok_coef is not None:
                # Same op order and dtype as steering.steer's hook: h + (coef * v), coef in h's dtype.
                h.add_(tok_coef.unsqueeze(1) * vectors[li].on(dev, h.dtype))
        return h

    def _attention(
        self,
        attn: Any,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        runs: Runs,
        prefix: KV | None,
        pidx: PerDevice | None,
        keep_kv: KV | None,
        li: int,
        queries: torch.Tensor | None = None,
        kv_only: bool = False,
    ) -> torch.Tensor:
        """Self-attention output (after o_proj) for packed ``x``; ``queries`` = flat rows to output."""
        hd, nh, nkv = self.head_dim, self.heads, self.kv_heads
        k = _rotate(attn.k_proj(x).view(-1, nkv, hd), cos, sin)
        v = attn.v_proj(x).view(-1, nkv, hd)
        if queries is None:
            q = _rotate(attn.q_proj(x).view(-1, nh, hd), cos, sin)
        else:
            q = _rotate(attn.q_proj(x.index_select(0, queries)).view(-1, nh, hd),
                        cos.index_select(0, queries), sin.index_select(0, queries))
        p = prefix.length if prefix is not None else 0
        outs: list[torch.Tensor] = []
        tok = row = 0
        for s, r in zip(runs.lengths, runs.counts, strict=True):
            kb = k[tok:tok + s * r].view(r, s, nkv, hd).transpose(1, 2)
            vb = v[tok:tok + s * r].view(r, s, nkv, hd).transpose(1, 2)
            if keep_kv is not None:
                # The prefix pass is one run; store its cache for the suffix rows.
                keep_kv.keys[li], keep_kv.values[li] = kb.contiguous(), vb.contiguous()
            if kv_only:
                tok += s * r
                row += r
                continue
            if prefix is not None and p > 0:
                assert pidx is not None
                sel = pidx.on(kb.device)[row:row + r]
                kb = torch.cat([prefix.keys[li].index_select(0, sel), kb], dim=2)
                vb = torch.cat([prefix.values[li].index_select(0, sel), vb], dim=2)
            if queries is None:
                qb = q[tok:tok + s * r].view(r, s, nh, hd).transpose(1, 2)
                if p > 0:
                    o = F.scaled_dot_product_attention(
                        qb, kb, vb, attn_mask=self._mask(s, p, qb.device), scale=self.scaling,
                        enable_gqa=nh != nkv)
                else:
                    o = F.scaled_dot_product_attention(qb, kb, vb, is_causal=True,
                                                       scale=self.scaling, enable_gqa=nh != nkv)
                outs.append(o.transpose(1, 2).reshape(s * r, nh * hd))
            else:
                # Last token of each row: it sees every key, so no mask.
                qb = q[row:row + r].view(r, 1, nh, hd).transpose(1, 2)
                o = F.scaled_dot_product_attention(qb, kb, vb, scale=self.scaling,
                                                   enable_gqa=nh != nkv)
                outs.append(o.reshape(r, nh * hd))
            tok += s * r
            row += r
        if kv_only:
            return x
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)
        return attn.o_proj(out)  # type: ignore[no-any-return]


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on ``(T, heads, head_dim)``: ``x * cos + rotate_half(x) * sin`` as Llama's
    apply_rotary_pos_emb, without materialising ``rotate_half(x)`` (no cat, no neg)."""
    half = x.shape[-1] // 2
    out = x * cos
    out[..., :half] -= x[..., half:] * sin[..., :half]
    out[..., half:] += x[..., :half] * sin[..., half:]
    return out


def _mlp(mlp: Any, x: torch.Tensor) -> torch.Tensor:
    """Gated MLP ``down(act(gate(x)) * up(x))`` with the activation and product in place."""
    if not all(hasattr(mlp, n) for n in ("gate_proj", "up_proj", "down_proj", "act_fn")):
        return mlp(x)  # type: ignore[no-any-return]
    g = mlp.gate_proj(x)
    if isinstance(mlp.act_fn, nn.SiLU) or type(mlp.act_fn).__name__ == "SiLUActivation":
        F.silu(g, inplace=True)
    else:
        g = mlp.act_fn(g)
    g.mul_(mlp.up_proj(x))
    return mlp.down_proj(g)  # type: ignore[no-any-return]


def common_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """Longest common token prefix, leaving every prompt at least one token of its own."""
    first = prompts[0]
    n = min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        m = 0
        while m < n and p[m] == first[m]:
            m += 1
        n = m
    return max(n, 0)
