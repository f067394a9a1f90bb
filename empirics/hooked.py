"""The reference path: the Hugging Face forward with steering hooks (``steering.steer``), which
every fast driver is tested against, and the generic path for families the engine has no
adapter for."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
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
def forward_mode(lm: LoadedModel) -> Iterator[str | None]:
    """What forward AD needs, for the block: eager attention, eager experts in mixture-of-experts
    models (grouped matrix products have no forward derivative) and layer norms composed of
    elementary operations (PyTorch's fused ``layer_norm`` gets forward-over-forward wrong: Δ₂ off
    by ~20% on GPT-2; tests/empirics/test_families.py); yields the previous attention name."""
    with (eager_implementation(lm, "attn") as previous, eager_implementation(lm, "experts"),
          composite_layer_norms(lm)):
        yield previous


def composite_layer_norm(x: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    """``norm(x)`` by mean, variance and division (exact under nested forward AD)."""
    dims = tuple(range(-len(norm.normalized_shape), 0))
    centred = x - x.mean(dim=dims, keepdim=True)
    out = centred * torch.rsqrt((centred * centred).mean(dim=dims, keepdim=True) + norm.eps)
    if norm.weight is not None:
        out = out * norm.weight
    if norm.bias is not None:
        out = out + norm.bias
    return out


@contextmanager
def composite_layer_norms(lm: LoadedModel) -> Iterator[None]:
    """Every ``nn.LayerNorm`` of ``lm`` computed by ``composite_layer_norm`` in the block."""
    norms = [m for m in lm.model.modules() if isinstance(m, torch.nn.LayerNorm)]
    for m in norms:
        m.forward = functools.partial(composite_layer_norm, norm=m)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m in norms:
            del m.forward


@contextmanager
def eager_implementation(lm: LoadedModel, what: str) -> Iterator[str | None]:
    """``model.set_{what}_implementation("eager")`` for the block (the config field on older
    transformers), restored after; nothing when already eager or absent."""
    model = lm.model
    config = getattr(model, "config", None)
    field = f"_{what}_implementation"
    previous = getattr(config, field, None)
    if previous in (None, "eager"):
        yield previous
        return
    setter = getattr(model, f"set_{what}_implementation", None)
    if callable(setter):
        setter("eager")
    else:  # older transformers: the config field is read at every forward
        setattr(config, field, "eager")
    try:
        yield previous
    finally:
        if callable(setter):
            setter(previous)
        else:
            setattr(config, field, previous)


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
