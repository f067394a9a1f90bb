"""Tiny random models of each engine family and the prompts/vectors the engine tests share."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from empirics.models import LoadedModel, find_decoder_layers, find_final_norm

TOL_P = 1e-5


def wrap(model: Any) -> LoadedModel:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return LoadedModel(model=model, tokenizer=None, name="tiny", layers=find_decoder_layers(model),
                       final_norm=find_final_norm(model), lm_head=model.get_output_embeddings(),
                       uses_chat_template=False)


def _config(layers: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {"vocab_size": 97, "hidden_size": 64, "intermediate_size": 96,
            "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 2,
            "initializer_range": 0.2, "tie_word_embeddings": False,
            "max_position_embeddings": 256, **extra}


def tiny_llama(seed: int = 0, layers: int = 4, **extra: Any) -> LoadedModel:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    return wrap(LlamaForCausalLM(LlamaConfig(**_config(layers, extra))))


def tiny_qwen3(seed: int = 0, layers: int = 4, **extra: Any) -> LoadedModel:
    """A Qwen3 (q/k norms per head); the norms' weights randomised so a missing norm shows."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(Qwen3Config(**_config(layers, {"head_dim": 16, **extra})))
    with torch.no_grad():
        for layer in model.model.layers:
            for norm in (layer.self_attn.q_norm, layer.self_attn.k_norm):
                norm.weight.uniform_(0.5, 1.5)
    return wrap(model)


def tiny_gpt2(seed: int = 0) -> LoadedModel:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=97, n_embd=64, n_layer=4, n_head=4, n_positions=128,
                     initializer_range=0.2)
    return wrap(GPT2LMHeadModel(cfg))


def unit_vectors(d: int, layers: list[int], seed: int = 1) -> dict[int, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {li: torch.nn.functional.normalize(torch.randn(d, generator=g), dim=0) for li in layers}


def prompts_with_prefix(prefix_len: int, lengths: list[int], seed: int = 2,
                        vocab: int = 97) -> list[list[int]]:
    """Random prompts sharing their first ``prefix_len`` tokens, then ``lengths[i]`` own ones."""
    g = torch.Generator().manual_seed(seed)
    head = torch.randint(0, vocab, (prefix_len,), generator=g).tolist()
    return [head + torch.randint(0, vocab, (n,), generator=g).tolist() for n in lengths]


def max_dp(a: Any, b: Any) -> float:
    """Largest probability difference between two sweep results (NaN padding must agree)."""
    assert a.logprobs.shape == b.logprobs.shape
    assert np.array_equal(np.isnan(a.logprobs), np.isnan(b.logprobs))
    return float(np.nanmax(np.abs(np.exp(a.logprobs) - np.exp(b.logprobs))))
