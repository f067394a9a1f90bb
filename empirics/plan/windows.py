"""Candidate steering windows: sets of consecutive layers spread over the depth."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from empirics.plan_file import window_name


@dataclass(frozen=True)
class Candidate:
    """A set of consecutive steered layers."""

    layers: tuple[int, ...]

    @property
    def name(self) -> str:
        return window_name(self.layers)

    @property
    def centre(self) -> float:
        return (self.layers[0] + self.layers[-1]) / 2

    @property
    def width(self) -> int:
        return len(self.layers)


def candidates(num_layers: int, widths: Sequence[int] | None = None,
               per_width: int | None = None) -> list[Candidate]:
    """Windows of consecutive layers over the depth: for each width, ``per_width`` windows with
    evenly spaced starts (first at 0, last ending at the top), single layers included.

    Defaults scale with depth: widths 1, ⌈n/10⌉, ⌈n/5⌉, ⌈n/3⌉ (distinct, ≤ n) and 8 single layers
    / 5 windows per other width (at most as many as fit). 30 layers: 8 + 5 + 5 + 5 = 23.
    """
    if num_layers < 1:
        raise ValueError(f"num_layers {num_layers} must be >= 1")
    if widths is None:
        widths = sorted({1, *(max(1, math.ceil(num_layers / k)) for k in (10, 5, 3))})
    out: list[Candidate] = []
    seen: set[tuple[int, ...]] = set()
    for w in widths:
        if not 1 <= w <= num_layers:
            raise ValueError(f"window width {w} must be in [1, {num_layers}]")
        n = per_width if per_width is not None else (8 if w == 1 else 5)
        slots = num_layers - w + 1
        starts = sorted({int(round(x)) for x in np.linspace(0, slots - 1, min(n, slots))})
        for s in starts:
            layers = tuple(range(s, s + w))
            if layers not in seen:
                seen.add(layers)
                out.append(Candidate(layers))
    return out
