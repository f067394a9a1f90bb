"""Tiny random models of each family, saved for transformers and converted to an f32 GGUF by
llama.cpp's own ``convert_hf_to_gguf.py`` (never copied here: found at run time in an unpacked
llama-cpp-python sdist, ``--converter`` or ``$LLAMA_CPP_CONVERTER``).

Every model has the embedded SmolLM2 tokenizer's vocabulary (49152 ids) and 6 layers of width 64;
its weights are redrawn from a seeded normal of variance 1/fan-in (1-D weights: their default plus
N(0, 0.1^2)) so that every layer changes the residual stream (at the libraries' tiny default
initialisation the layers are near identities and a layer off-by-one could not show). The checks
feed token ids, so the text of the GGUF's vocabulary does not matter; the converter only needs one
it can write: the SmolLM2 ``tokenizer.json``, and a small seeded SentencePiece ``tokenizer.model``
for the families whose converter reads one (Gemma, Phi-3, Qwen2: padded to the vocabulary size).
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from empirics.control_vector import ControlVector
from empirics.models import embedded_checkpoint
from empirics.reading_vectors import random_directions

REPO = Path(__file__).resolve().parents[1]
CONVERTER_ENV = "LLAMA_CPP_CONVERTER"
# The Python that runs the converter; it pins transformers 4.57.6, and for GPT-NeoX it must be
# < 5 (it reads ``rotary_pct`` from AutoConfig, which transformers 5 folds into rope_parameters).
CONVERTER_PYTHON_ENV = "LLAMA_CPP_CONVERTER_PYTHON"
CONVERTER_GLOB = ".venv-llamacpp/sdist/*/vendor/llama.cpp/convert_hf_to_gguf.py"
BASE: dict[str, Any] = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=6, num_attention_heads=4,
    num_key_value_heads=2, head_dim=16, max_position_embeddings=512, tie_word_embeddings=False)
MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=64)
# Per family (transformers' model_type): what differs from BASE. Sliding windows are shorter
# than the prompts, and Granite's multipliers are not 1, so those code paths are compared too.
FAMILIES: dict[str, dict[str, Any]] = {
    "llama": {},
    "mistral": {"sliding_window": None},
    "mixtral": {"num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": None},
    "qwen2": {},
    "qwen2_moe": {**MOE, "shared_expert_intermediate_size": 128, "decoder_sparse_step": 1},
    "qwen3": {},
    "qwen3_moe": {**MOE, "decoder_sparse_step": 1, "norm_topk_prob": True},
    "gemma": {"tie_word_embeddings": True},
    "gemma2": {"sliding_window": 16, "tie_word_embeddings": True, "query_pre_attn_scalar": 16},
    "gemma3_text": {"sliding_window": 16, "tie_word_embeddings": True,
                    "query_pre_attn_scalar": 16},
    "phi3": {},
    "olmo2": {},
    "granite": {"residual_multiplier": 0.5, "embedding_multiplier": 2.0,
                "logits_scaling": 4.0, "attention_multiplier": 0.25},
    "gpt2": {"n_ctx": 512, "n_positions": 512},
    "gpt_neox": {},  # converts only under transformers < 5 (CONVERTER_PYTHON_ENV)
}


def find_converter(explicit: str | Path | None = None) -> Path:
    """llama.cpp's ``convert_hf_to_gguf.py``: ``explicit``, ``$LLAMA_CPP_CONVERTER``, or one in
    an unpacked llama-cpp-python sdist under ``.venv-llamacpp/sdist/``."""
    for cand in (explicit, os.environ.get(CONVERTER_ENV)):
        if cand:
            if not Path(cand).is_file():
                raise FileNotFoundError(f"llama.cpp converter {cand} not found")
            return Path(cand)
    found = sorted(REPO.glob(CONVERTER_GLOB))
    if found:
        return found[-1]
    raise FileNotFoundError(
        "the tiny families need llama.cpp's convert_hf_to_gguf.py, which the llama-cpp-python "
        "wheel does not install. Unpack its sdist (pip download --no-binary :all: --no-deps "
        "llama-cpp-python==0.3.36; tar xzf it under .venv-llamacpp/sdist/) or pass --converter "
        f"PATH/vendor/llama.cpp/convert_hf_to_gguf.py (or set ${CONVERTER_ENV}); it also needs "
        "sentencepiece")


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Weights redrawn: N(0, 1/fan-in) matrices, default + N(0, 0.1^2) vectors (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype)
            if p.dim() >= 2:
                p.copy_(noise / math.sqrt(p.shape[-1]))
            else:
                p.add_(0.1 * noise)


def sentencepiece_model() -> bytes:
    """A small SentencePiece model trained on the embedded instructions (for the converter)."""
    import sentencepiece as spm

    path = Path(__file__).resolve().parents[1] / "empirics" / "datasets" / "instructions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    text = sorted({v for r in rows for v in r.values() if isinstance(v, str) and len(v) > 20})
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(text), model_writer=buf,
                                   vocab_size=400, model_type="bpe", num_threads=1,
                                   minloglevel=2)  # BPE training: deterministic
    return buf.getvalue()


def save_model(family: str, folder: Path, seed: int) -> Path:
    """``folder/hf``: the random model of ``family`` with the embedded tokenizer."""
    from transformers import AutoConfig, AutoModelForCausalLM

    tok_dir = embedded_checkpoint()
    tok = json.loads((tok_dir / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = len(tok["model"]["vocab"]) + sum(
        1 for t in tok["added_tokens"] if t["content"] not in tok["model"]["vocab"])
    config = AutoConfig.for_model(family, vocab_size=vocab, bos_token_id=1, eos_token_id=2,
                                  pad_token_id=2, **{**BASE, **FAMILIES[family]})
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    randomize(model, seed)
    out = folder / "hf"
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (tok_dir / name).is_file():
            shutil.copy(tok_dir / name, out / name)
    return out


def convert(hf_dir: Path, out: Path, converter: Path, python: str | None = None) -> Path:
    """``out``: ``hf_dir`` as an f32 GGUF written by llama.cpp's converter, run by ``python``
    (default ``$LLAMA_CPP_CONVERTER_PYTHON``, else this interpreter)."""
    src = out.parent / "convert"
    shutil.copytree(hf_dir, src, dirs_exist_ok=True)
    (src / "tokenizer.model").write_bytes(sentencepiece_model())
    # A class name transformers 4 knows too (the same tokenizer.json either way).
    config = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    (src / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    python = python or os.environ.get(CONVERTER_PYTHON_ENV) or sys.executable
    proc = subprocess.run([python, str(converter), str(src), "--outtype", "f32",
                           "--outfile", str(out)], capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-8:])
        hint = (f"\n(the converter needs transformers < 5 here: give a Python that has it with "
                f"--converter-python or ${CONVERTER_PYTHON_ENV})" if "rotary_pct" in tail else "")
        raise RuntimeError(f"{converter} failed on {hf_dir} (exit {proc.returncode}):\n"
                           f"{tail}{hint}")
    return out


def build(family: str, folder: Path, converter: str | Path | None, seed: int,
          python: str | None = None) -> tuple[Path, Path]:
    """The tiny ``family`` model: its transformers folder and its f32 GGUF (built once)."""
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} not one of {', '.join(FAMILIES)}")
    conv = find_converter(converter)
    gguf_path = folder / f"{family}-f32.gguf"
    hf_dir = folder / "hf"
    if not (gguf_path.is_file() and (hf_dir / "config.json").is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        hf_dir = save_model(family, folder, seed)
        convert(hf_dir, gguf_path, conv, python)
    return hf_dir, gguf_path


def random_control_vector(layers: Any, hidden_size: int, seed: int,
                          model_hint: str = "llama") -> ControlVector:
    """Seeded random unit directions (the project's control vectors) as a ControlVector."""
    dirs = random_directions(list(layers), hidden_size, seed)
    return ControlVector({k: np.asarray(v.numpy(), np.float32) for k, v in dirs.items()},
                         model_hint, behavior="random")
