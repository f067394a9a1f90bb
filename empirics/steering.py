"""Steering hooks: add ``r_e * v_l`` to the output of chosen decoder layers, always removed after."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from empirics.models import LoadedModel


def validate_vectors(lm: LoadedModel, vectors: Mapping[int, torch.Tensor]) -> None:
    """``ValueError`` for an unknown layer, a wrongly shaped or non-finite vector."""
    if not vectors:
        raise ValueError("vectors is empty: give at least one layer to steer")
    for layer, vec in vectors.items():
        if not isinstance(layer, int) or not 0 <= layer < lm.num_layers:
            raise ValueError(f"layer {layer!r} out of range: valid layers are 0..{lm.num_layers - 1}")
        if tuple(vec.shape) != (lm.hidden_size,):
            raise ValueError(
                f"vector for layer {layer} has shape {tuple(vec.shape)}, expected ({lm.hidden_size},)"
            )
        if not torch.isfinite(vec).all():
            raise ValueError(f"vector for layer {layer} contains NaN or inf")


def _coefficient_view(coefficient: float | torch.Tensor, hidden: torch.Tensor) -> float | torch.Tensor:
    if not isinstance(coefficient, torch.Tensor):
        return float(coefficient)
    coef = coefficient.to(device=hidden.device, dtype=hidden.dtype)
    if coef.dim() == 0:
        return coef
    if coef.dim() == 1 and coef.shape[0] == hidden.shape[0]:
        return coef.view(-1, *([1] * (hidden.dim() - 1)))
    raise ValueError(
        f"coefficient tensor of shape {tuple(coef.shape)} must be 0-d or (batch={hidden.shape[0]},)"
    )


def _position_mask(positions: slice | Sequence[int], seq_len: int, like: torch.Tensor) -> torch.Tensor:
    mask = torch.zeros(seq_len, dtype=like.dtype, device=like.device)
    if isinstance(positions, slice):
        mask[positions] = 1
    else:
        idx = torch.as_tensor(list(positions), dtype=torch.long, device=like.device)
        if idx.numel() and (idx.min() < -seq_len or idx.max() >= seq_len):
            raise ValueError(f"positions {list(positions)} out of range for sequence length {seq_len}")
        mask[idx] = 1
    return mask.view(1, seq_len, 1)


@contextmanager
def steer(
    lm: LoadedModel,
    vectors: Mapping[int, torch.Tensor],
    coefficient: float | torch.Tensor,
    positions: slice | Sequence[int] | None = None,
) -> Iterator[None]:
    """Within the block, decoder layer ``l`` outputs ``h + coefficient * vectors[l]``.

    ``coefficient``: a float, a 0-d tensor (may be a forward-mode dual: never read as a number),
    or one coefficient per batch row, shape ``(batch,)``. ``positions``: all when ``None``.
    """
    validate_vectors(lm, vectors)
    if not isinstance(coefficient, torch.Tensor) and not torch.isfinite(torch.tensor(coefficient)):
        raise ValueError(f"coefficient {coefficient!r} is not finite")
    handles = []

    def make_hook(vec_cpu: torch.Tensor) -> Any:
        cache: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

        def hook(_module: torch.nn.Module, _inputs: Any, output: Any) -> Any:
            hidden = output[0] if isinstance(output, tuple) else output
            key = (hidden.device, hidden.dtype)
            if key not in cache:  # move once per device/dtype (layers may sit on several GPUs)
                cache[key] = vec_cpu.to(device=hidden.device, dtype=hidden.dtype)
            shift = _coefficient_view(coefficient, hidden) * cache[key]
            if positions is not None:
                shift = shift * _position_mask(positions, hidden.shape[-2], hidden)
            steered = hidden + shift  # out of place: never mutate tensors the model may reuse
            if isinstance(output, tuple):
                return (steered, *output[1:])
            return steered

        return hook

    try:
        for layer, vec in vectors.items():
            handles.append(lm.layers[layer].register_forward_hook(make_hook(vec.detach().float().cpu())))
        yield
    finally:
        for handle in handles:
            handle.remove()
