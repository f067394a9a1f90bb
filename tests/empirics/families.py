"""Tiny random models of every family the matrix tests (fp32, CPU), built from transformers'
config classes by ``model_type``, and a word tokenizer that makes them runnable end to end
(reading vectors encode strings)."""

from __future__ import annotations

import re
import zlib
from typing import Any

import torch
import transformers

from empirics.models import LoadedModel, find_decoder_layers, find_final_norm

_BASE: dict[str, Any] = {"vocab_size": 97, "hidden_size": 64, "intermediate_size": 96,
                         "num_hidden_layers": 4, "num_attention_heads": 4,
                         "num_key_value_heads": 2, "initializer_range": 0.2,
                         "tie_word_embeddings": False, "max_position_embeddings": 256,
                         "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
_MOE = {"num_experts_per_tok": 2, "moe_intermediate_size": 32}

# model_type -> config fields over the base (head_dim 16 throughout).
FAMILIES: dict[str, dict[str, Any]] = {
    "llama": {},
    "mistral": {"sliding_window": None},
    "mixtral": {"num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": None},
    "qwen2": {},
    "qwen2_moe": {**_MOE, "num_experts": 4, "shared_expert_intermediate_size": 48,
                  "decoder_sparse_step": 1},
    "qwen3": {"head_dim": 16},
    "qwen3_moe": {**_MOE, "num_experts": 4, "head_dim": 16, "decoder_sparse_step": 1},
    "gemma": {"head_dim": 16},
    "gemma2": {"head_dim": 16, "sliding_window": 6, "query_pre_attn_scalar": 16,
               "attn_logit_softcapping": 1.0, "final_logit_softcapping": 2.0},  # caps that bite
    "gemma3_text": {"head_dim": 16, "sliding_window": 6, "query_pre_attn_scalar": 16,
                    "layer_types": ["sliding_attention", "full_attention"] * 2},
    "phi3": {},
    "olmo2": {},
    "granite": {"embedding_multiplier": 2.0, "residual_multiplier": 0.5,
                "attention_multiplier": 0.25, "logits_scaling": 2.0},
    "gpt_neox": {"rotary_pct": 0.5},
    "gpt2": {"n_embd": 64, "n_layer": 4, "n_head": 4, "n_positions": 256},
}


class WordTokenizer:
    """Words (and punctuation marks) to ids ``1 + crc32 % 96``; id 0 pads; no chat template."""

    chat_template = None
    pad_token_id = 0
    eos_token_id = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        words = re.findall(r"\w+|[^\w\s]", text)
        return {"input_ids": [1 + zlib.crc32(w.encode()) % 96 for w in words]}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return " ".join(f"w{i}" for i in ids)


def tiny_family(model_type: str, seed: int = 0) -> LoadedModel:
    """A tiny random model of ``model_type``; ``pytest.skip`` naming the installed transformers
    version when that version lacks the family."""
    import pytest

    try:
        config = transformers.AutoConfig.for_model(model_type, **_BASE, **FAMILIES[model_type])
    except (ValueError, KeyError) as err:
        pytest.skip(f"transformers {transformers.__version__} has no {model_type!r} ({err})")
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config).float()
    with torch.no_grad():  # randomise the norms' weights, so a missing or misplaced norm shows
        for name, p in model.named_parameters():
            if "norm" in name and p.dim() == 1:
                p.uniform_(0.5, 1.5) if "weight" in name else p.uniform_(-0.2, 0.2)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return LoadedModel(model=model, tokenizer=WordTokenizer(), name=f"tiny-{model_type}",
                       layers=find_decoder_layers(model), final_norm=find_final_norm(model),
                       lm_head=model.get_output_embeddings(), uses_chat_template=False)
