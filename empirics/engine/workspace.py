"""Reused output buffers for the widest products of a pass (the gated MLP's gate and up).

Why: a fresh ``(tokens, intermediate)`` output per layer and chunk (12.6 MB at 2048 tokens on
the embedded model) is new memory the allocator often takes from the kernel, so the product
that writes it pays the page faults. Written into one buffer reused by every layer, the gate
and up products ran at the rate of the layers' other products (186–193 against 166–177
GFLOP/s, docs/performance.md), with bitwise the same outputs (``torch.mm`` with ``out=`` is the
kernel ``F.linear`` calls).
"""

from __future__ import annotations

import torch
from torch import nn


def plain_linear(module: nn.Module, x: torch.Tensor) -> nn.Linear | None:
    """``module`` when calling it is exactly ``x @ weight.T``: a ``torch.nn.Linear`` (not a
    subclass: LoRA and quantised layers are) with no bias and no hooks (accelerate's offloading
    and anyone's instrumentation run only through the module's call), its weight on ``x``'s
    device in ``x``'s dtype, and no gradient to record (``out=`` has none); else ``None``."""
    if type(module) is not nn.Linear or module.bias is not None:
        return None
    if module._forward_hooks or module._forward_pre_hooks or hasattr(module, "_hf_hook"):
        return None
    w = module.weight
    if w.is_meta or w.device != x.device or w.dtype != x.dtype:
        return None
    if torch.is_grad_enabled() and (w.requires_grad or x.requires_grad):
        return None
    return module


class Workspace:
    """Named output buffers, one per (name, device, dtype), grown to the most rows asked for.

    A result of ``linear`` is a view of its buffer: it is overwritten by the next call with the
    same name, so a caller uses it before that and never hands it on."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, torch.device, torch.dtype], torch.Tensor] = {}

    def rows(self, name: str, rows: int, columns: int, like: torch.Tensor) -> torch.Tensor:
        """The first ``rows`` rows of buffer ``name`` (``columns`` wide, ``like``'s device and
        dtype), reallocated when it is too short or of another width."""
        key = (name, like.device, like.dtype)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.shape[0] < rows or buffer.shape[1] != columns:
            buffer = torch.empty(rows, columns, device=like.device, dtype=like.dtype)
            self._buffers[key] = buffer
        return buffer[:rows]

    def linear(self, name: str, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``module(x)`` for 2-d ``x``, written into buffer ``name`` when ``module`` is a plain
        Linear (``plain_linear``); otherwise the module's own call (a fresh tensor)."""
        linear = plain_linear(module, x)
        if linear is None or x.dim() != 2:
            return module(x)  # type: ignore[no-any-return]
        out = self.rows(name, x.shape[0], linear.out_features, x)
        return torch.mm(x, linear.weight.t(), out=out)
