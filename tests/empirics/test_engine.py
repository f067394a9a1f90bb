"""The engine's parts on their own: packing, the key/value cache, attention forms, steering,
the lower pass's checks, the family registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from empirics.engine import (
    AttentionSpec,
    KVCache,
    PromptSet,
    Row,
    Runs,
    Steering,
    family_for,
    fast_path_reason,
    lower_pass,
    pack_chunks,
    runs_of,
)
from empirics.engine.attention import scores_attention
from tests.empirics.tiny import prompts_with_prefix, tiny_gpt2, tiny_llama, unit_vectors


def test_packing_chunks_runs_and_positions() -> None:
    prompts = PromptSet.of([[1, 2, 3, 4], [1, 2, 5], [1, 2, 6, 7, 8], [1, 2, 9, 9]])
    assert prompts.prefix_len == 2 and prompts.order == [1, 0, 3, 2]
    rows = [Row(i) for i in prompts.order]
    chunks = pack_chunks(rows, prompts.own_length, budget=4)
    assert [[r.prompt for r in c] for c in chunks] == [[1, 0], [3], [2]]  # 1+2, 2, 3 tokens
    assert pack_chunks([Row(2)], prompts.own_length, budget=1) == [[Row(2)]]  # >= one row
    runs = runs_of(rows, prompts.own_length)
    assert (runs.lengths, runs.counts, runs.tokens, runs.rows) == ([1, 2, 3], [1, 2, 1], 8, 4)
    assert runs.last_index().tolist() == [0, 2, 4, 7]
    assert runs.positions(2).tolist() == [2, 2, 3, 2, 3, 2, 3, 4]
    assert prompts.own_ids(rows[:2]).tolist() == [5, 3, 4]
    with pytest.raises(ValueError, match="one own token"):
        PromptSet.of([[1, 2], [1, 3]], prefix_len=2)
    with pytest.raises(ValueError, match="do not share"):
        PromptSet.of([[1, 2, 3], [4, 2, 3]], prefix_len=1)


def test_kv_cache_rows_and_columns() -> None:
    cache = KVCache.allocate([0, 1], rows=3, kv_heads=2, width=5, head_dim=4, dtype=torch.float32,
                             device_of={0: torch.device("cpu"), 1: torch.device("cpu")})
    for layer in (0, 1):
        cache.keys[layer].copy_(torch.arange(3.0).view(3, 1, 1, 1).expand(3, 2, 5, 4))
        cache.values[layer].fill_(float("nan"))
    cache.zero_columns(2)
    assert torch.equal(cache.values[0][:, :, :2], torch.zeros(3, 2, 2, 4))
    assert cache.values[0][:, :, 2:].isnan().all()
    cache.copy_rows(slice(2, 3), torch.tensor([0]), columns=3)
    assert cache.keys[1][2, :, :3].eq(0).all() and cache.keys[1][2, :, 3:].eq(2).all()
    cache.select_rows(torch.tensor([2, 1]))
    assert cache.keys[0].shape == (2, 2, 5, 4) and cache.keys[0][1, :, 2:].eq(1).all()
    assert cache.length == 5


def test_scores_attention_equals_sdpa_and_caps_and_windows() -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(3, 4, 6, 8, generator=g) * 3
    k, v = torch.randn(3, 2, 9, 8, generator=g) * 3, torch.randn(3, 2, 9, 8, generator=g)
    allowed = torch.arange(9)[None] <= torch.arange(6)[:, None] + 3
    spec = AttentionSpec(scale=8**-0.5)
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=spec.scale,
                                          enable_gqa=True)
    torch.testing.assert_close(scores_attention(q, k, v, allowed, spec), want)
    # a soft cap bounds the scores: c * tanh(s / c)
    capped = AttentionSpec(scale=spec.scale, softcap=0.5)
    kk = k.repeat_interleave(2, dim=1)
    s = torch.tanh(q @ kk.transpose(-1, -2) * spec.scale / 0.5) * 0.5
    manual = torch.softmax(s.masked_fill(~allowed, float("-inf")), -1) @ v.repeat_interleave(2, 1)
    torch.testing.assert_close(scores_attention(q, k, v, allowed, capped), manual)
    assert not torch.allclose(manual, want, atol=1e-3)


def test_packed_attention_window_masks_old_keys() -> None:
    """A windowed family (a Llama told its window is 2) attends only to the last 2 keys:
    with every value equal to its key position, each output is the mean of allowed positions
    weighted by the scores; with zero queries it is the plain mean."""
    from empirics.engine import PackedAttention, Projected
    from empirics.engine.families.llama import LlamaFamily

    class Windowed(LlamaFamily):
        def attention_spec(self, layer: int) -> AttentionSpec:
            return AttentionSpec(scale=1.0, window=2)

    family = Windowed(tiny_llama(layers=1))
    runs = Runs([4], [1])
    q = torch.zeros(4, family.heads, family.head_dim)
    k = torch.zeros(4, family.kv_heads, family.head_dim)
    v = torch.arange(4.0).view(4, 1, 1).expand(4, family.kv_heads, family.head_dim)
    from empirics.engine import Output

    out = PackedAttention(family, runs)(0, Projected(q, k, v), Output.ALL)
    assert out is not None
    means = out.view(4, family.heads, family.head_dim)[:, 0, 0]
    torch.testing.assert_close(means, torch.tensor([0.0, 0.5, 1.5, 2.5]))


def test_steering_broadcast_equals_the_per_token_product() -> None:
    """The shift formed once per row and broadcast over its tokens is bit for bit the
    per-token product ``coefficient * vector`` that ``steering.steer`` adds."""
    g = torch.Generator().manual_seed(1)
    runs = Runs([3, 1, 2], [2, 1, 1])
    h = torch.randn(runs.tokens, 16, generator=g)
    v = torch.randn(16, generator=g)
    coefs = torch.tensor([-3.7, 0.1, 2.9, 11.0])
    steering = Steering.of({5: v}, coefs)
    got = h.clone()
    steering.add(5, got, runs)
    per_token = torch.repeat_interleave(coefs, runs.row_lengths())
    assert torch.equal(got, h + per_token.unsqueeze(1) * v)
    rows = h[:4].clone()
    steering.add(5, rows, None)  # one token per row (decoding)
    assert torch.equal(rows, h[:4] + coefs.unsqueeze(1) * v)


def test_lower_pass_checks_and_reasons() -> None:
    lm = tiny_llama(layers=3)
    family = family_for(lm)
    prompts = PromptSet.of(prompts_with_prefix(2, [3, 4]))
    low = lower_pass(family, prompts, 2, budget=16)
    assert low.kept == [2] and low.prefix_states[2].shape == (2, 64)
    with pytest.raises(ValueError, match=r"inputs of layers \[2\], not of layer 1"):
        low.inputs(1)
    with pytest.raises(ValueError, match="boundaries"):
        lower_pass(family, prompts, 4, budget=16)
    from empirics.engine import SteeredPass

    with pytest.raises(ValueError, match="layer 0 is steered"):
        SteeredPass.of(low, unit_vectors(64, [0]))
    gpt2 = tiny_gpt2()
    assert "model_type 'gpt2'" in str(fast_path_reason(gpt2))
    with pytest.raises(ValueError, match="cannot run"):
        family_for(gpt2)
    window = tiny_llama(layers=2, sliding_window=4)
    window.model.config.model_type = "mistral"
    assert fast_path_reason(window, max_len=4) is None
    assert "sliding-window" in str(fast_path_reason(window, max_len=5))


def test_gated_mlp_out_of_place_only_under_forward_mode() -> None:
    """In place in inference, out of place while derivatives are taken (restored after an
    error too); the two forms give the same values."""
    from empirics.engine import family_for
    from empirics.engine.families.llama import gated_mlp
    from empirics.engine.workspace import Workspace

    family = family_for(tiny_llama())
    assert family.mlp_in_place  # type: ignore[attr-defined]
    with family.forward_mode():
        assert not family.mlp_in_place  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="inside"), family.forward_mode():
        raise RuntimeError("inside")
    assert family.mlp_in_place  # type: ignore[attr-defined]
    mlp = family.lm.layers[0].mlp
    x = torch.randn(5, family.lm.hidden_size, generator=torch.Generator().manual_seed(0))
    assert torch.equal(gated_mlp(mlp, x, Workspace()), gated_mlp(mlp, x, None))
