"""Tensors moved once per (device, dtype): under accelerate's ``device_map="auto"`` the layers of
one model sit on several devices, and each layer's inputs must follow it."""

from __future__ import annotations

import torch


class PerDevice:
    """Copies of one host tensor, made on first use per (device, dtype)."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor
        self._copies: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def on(self, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
        key = (device, dtype or self.tensor.dtype)
        if key not in self._copies:
            self._copies[key] = self.tensor.to(device=device, dtype=key[1])
        return self._copies[key]
