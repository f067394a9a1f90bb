"""The reference path: the Hugging Face forward with steering hooks (``steering.steer``), which
every fast driver is tested against, and the generic path for families the engine has no
adapter for."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from empirics.models import LoadedModel
from empirics.steering import steer


@contextmanager
def capture_final_norm(lm: LoadedModel, store: list[torch.Tensor]) -> Iterator[None]:
    """Record the final norm's output (the hidden state the unembedding reads)."""

    def hook(_m: torch.nn.Module, _i: Any, out: Any) -> None:
        store.append(out[0] if isinstance(out, tuple) else out)

    handle = lm.final_norm.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def input_device(lm: LoadedModel) -> torch.device:
    """Where input ids go: the embedding's device (CPU when accelerate offloads it to meta; its
    hooks move inputs to the execution device)."""
    dev = lm.model.get_input_embeddings().weight.device  # type: ignore[operator]
    return torch.device("cpu") if dev.type == "meta" else dev  # type: ignore[union-attr]


@contextmanager
def eager_attention(lm: LoadedModel) -> Iterator[str | None]:
    """Temporarily use eager attention (forward AD needs it on CPU); yields the previous name."""
    model = lm.model
    config = getattr(model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    if previous in (None, "eager"):
        yield previous
        return
    setter = getattr(model, "set_attn_implementation", None)
    if callable(setter):
        setter("eager")
    else:  # older transformers: the config field is read at every forward
        config._attn_implementation = "eager"  # type: ignore[union-attr]
    try:
        yield previous
    finally:
        if callable(setter):
            setter(previous)
        else:
            config._attn_implementation = previous  # type: ignore[union-attr]


@contextmanager
def eager_experts(lm: LoadedModel) -> Iterator[None]:
    """Temporarily run mixture-of-experts blocks by their eager loop over experts: forward AD has
    no rule for the grouped matrix product transformers uses by default (torch 2.13)."""
    configs = {id(c): c for m in lm.model.modules()
               if (c := getattr(m, "config", None)) is not None
               and getattr(c, "_experts_implementation", None) not in (None, "eager")}
    previous = {k: c._experts_implementation for k, c in configs.items()}
    for c in configs.values():
        c._experts_implementation = "eager"
    try:
        yield
    finally:
        for k, c in configs.items():
            c._experts_implementation = previous[k]


def _layer_norm(x: torch.Tensor, normalized_shape: Sequence[int], weight: torch.Tensor | None = None,
                bias: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """``F.layer_norm`` written out in elementary ops (same value)."""
    dims = tuple(range(-len(normalized_shape), 0))
    mean = x.mean(dim=dims, keepdim=True)
    var = (x - mean).pow(2).mean(dim=dims, keepdim=True)
    y = (x - mean) * torch.rsqrt(var + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


@contextmanager
def elementary_layer_norm() -> Iterator[None]:
    """Temporarily compute ``F.layer_norm`` from elementary ops: nested forward mode through the
    fused op gives wrong second derivatives (torch 2.13; Δ₂ of GPT-2 and GPT-NeoX off by ~12%
    against second differences), the elementary form's are exact."""
    fused = torch.nn.functional.layer_norm
    torch.nn.functional.layer_norm = _layer_norm  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.nn.functional.layer_norm = fused


def final_state_fn(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                   ids: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """r ↦ final-norm output at the last position of the one prompt ``ids`` ``(1, n)``, with
    steering coefficient r (a 0-d tensor; may be a forward-mode dual)."""
    # The decoder stack without the LM head; the final norm's output is captured by a hook so
    # any architecture whose base model applies `final_norm` works.
    base = getattr(lm.model, "base_model", lm.model)

    def f(r: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        with capture_final_norm(lm, captured), steer(lm, vectors, r):
            base(input_ids=ids, use_cache=False)
        if not captured:
            raise ValueError(f"the final norm of {lm.name} was not run by its base model")
        return captured[-1][0, -1]

    return f
