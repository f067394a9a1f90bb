"""Model loading helpers: generic layer discovery, chat formatting, encoding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from empirics.models import LoadedModel, find_decoder_layers, find_final_norm, load_model


def _tiny_gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(
        GPT2Config(n_layer=3, n_embd=16, n_head=2, vocab_size=50, n_positions=32)
    )


def _tiny_llama() -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        vocab_size=50,
    )
    return LlamaForCausalLM(cfg)


def test_find_decoder_layers_gpt2_and_llama() -> None:
    gpt2 = _tiny_gpt2()
    assert find_decoder_layers(gpt2) is gpt2.transformer.h  # type: ignore[attr-defined,union-attr]
    assert find_final_norm(gpt2) is gpt2.transformer.ln_f  # type: ignore[attr-defined,union-attr]
    llama = _tiny_llama()
    assert find_decoder_layers(llama) is llama.model.layers  # type: ignore[attr-defined,union-attr]
    assert len(find_decoder_layers(llama)) == 2
    assert find_final_norm(llama) is llama.model.norm  # type: ignore[attr-defined,union-attr]


def test_find_decoder_layers_errors() -> None:
    with pytest.raises(ValueError, match="no decoder layers"):
        find_decoder_layers(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    with pytest.raises(ValueError, match="final norm"):
        find_final_norm(nn.Linear(2, 2))


class _NoTemplateTokenizer:
    chat_template = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        ids = [len(w) for w in text.split()]
        return {"input_ids": ([1] if add_special_tokens else []) + ids}


def _loaded(model: nn.Module, tokenizer: object) -> LoadedModel:
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name="tiny",
        layers=find_decoder_layers(model),
        final_norm=find_final_norm(model),
        lm_head=model.get_output_embeddings(),  # type: ignore[operator]
        uses_chat_template=bool(getattr(tokenizer, "chat_template", None)),
    )


def test_format_chat_llama2_fallback_and_encode() -> None:
    lm = _loaded(_tiny_llama(), _NoTemplateTokenizer())
    assert lm.format_chat("  Hello there ") == "[INST] Hello there [/INST]"
    assert lm.format_chat("Hi", assistant_prefix=" No") == "[INST] Hi [/INST] No"
    # no template: the tokenizer adds its BOS
    assert lm.encode("ab c") == [1, 2, 1]
    assert lm.num_layers == 2 and lm.hidden_size == 16
    assert lm.unembedding_rows([0, 3]).shape == (2, 16)
    with pytest.raises(ValueError, match="out of range"):
        lm.unembedding_rows([50])
    assert lm.dtype == torch.float32 and lm.device.type == "cpu"


def test_load_model_bad_arguments() -> None:
    with pytest.raises(ValueError, match="device"):
        load_model(device="tpu")
    with pytest.raises(ValueError, match="dtype"):
        load_model(device="cpu", dtype="float8")


@pytest.mark.model
def test_embedded_model_chat_template_and_encode(lm) -> None:  # type: ignore[no-untyped-def]
    assert lm.uses_chat_template and lm.num_layers == 30 and lm.hidden_size == 576
    text = lm.format_chat("Hi", assistant_prefix="No")
    assert text.endswith("<|im_start|>assistant\nNo")
    ids = lm.encode(text)
    assert ids == lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[-1] == lm.single_token_id("No")


@pytest.mark.parametrize(("make", "missing"), [
    (lambda d: None, "missing config.json and weights"),
    (lambda d: (d / "config.json").write_text("{}"), "missing weights"),
    (lambda d: (d / "model.safetensors").write_bytes(b""), "missing config.json"),
])
def test_load_model_names_what_a_directory_lacks(tmp_path: Path, make: Any, missing: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory without a checkpoint is refused before any loading, naming the path, what
    is missing and the fix."""
    import transformers

    def never(*_a: Any, **_k: Any) -> None:
        raise AssertionError("loading started")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", never)
    make(tmp_path)
    with pytest.raises(ValueError, match=missing) as err:
        load_model(str(tmp_path), device="cpu")
    assert str(tmp_path) in str(err.value) and "Fix: " in str(err.value)
    with pytest.raises(ValueError, match="does not exist"):
        load_model(str(tmp_path / "nope"), device="cpu")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        load_model(str(tmp_path / "f.txt"), device="cpu")


def test_load_model_refuses_a_model_without_decoder_layers(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    class Flat(nn.Module):
        config = type("Config", (), {"num_hidden_layers": 3})()

        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(4, 4)

        def get_output_embeddings(self) -> nn.Module:
            return self.head

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: object())
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **k: Flat())
    with pytest.raises(ValueError, match="cannot be steered.*no decoder layers.*Fix: "):
        load_model(str(tmp_path), device="cpu")
