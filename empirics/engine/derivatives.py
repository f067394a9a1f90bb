"""Derivatives in the steering coefficient r of any readout of the steered pass, per packed row.

One prompt per row, all rows of a chunk tied to one scalar r; the lower pass carries no
tangent (it does not depend on r). Forward mode (``torch.func.jvp``) gives the first
derivative exactly, nested forward mode the second; with ``fd_step`` central differences of
plain passes at r ± h replace them (inference kernels, O(h²) error). The math SDPA kernel is
used under ``jvp``: PyTorch's CPU flash-attention kernel has no forward-AD rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from empirics.engine.attention import Output
from empirics.engine.lower import LowerPass
from empirics.engine.packing import Row, pack_chunks
from empirics.engine.steered import SteeredPass

#: Readout of the steered pass: (top layer's output of a chunk, the chunk's prompt indices in
#: packing order) -> per-row values ``(rows, ...)``. Differentiated in r with everything before it.
Readout = Callable[[torch.Tensor, list[int]], torch.Tensor]


@dataclass
class Derivatives:
    """Per prompt (list index): the readout's value, first and (with ``order=2``) second
    derivative in r at the base point."""

    values: list[torch.Tensor]
    first: list[torch.Tensor]
    second: list[torch.Tensor] | None


def jvp_orders(f: Callable[[torch.Tensor], torch.Tensor], at: torch.Tensor,
                order: int) -> tuple[torch.Tensor, ...]:
    """``(f, f')`` (``order=1``) or ``(f, f', f'')`` (``order=2``, nested forward mode) at ``at``."""
    one = torch.ones_like(at)
    with sdpa_kernel(SDPBackend.MATH):
        if order == 1:
            return tuple(torch.func.jvp(f, (at,), (one,)))

        def value_and_slope(r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = torch.func.jvp(f, (r,), (one,))
            return out[0], out[1]

        # Grad mode on: under no_grad, silu's forward-mode rule has no second order (torch 2.13);
        # nothing requires grad, so no graph is recorded.
        with torch.enable_grad():
            out = torch.func.jvp(value_and_slope, (at,), (one,))
    return out[0][0], out[0][1], out[1][1]


def _differences(f: Callable[[torch.Tensor], torch.Tensor], at: torch.Tensor, step: float,
                 order: int) -> tuple[torch.Tensor, ...]:
    """Central differences: value (the mean of f(at ± h) for ``order=1``, f(at) for 2),
    first and second difference quotients."""
    hi, lo = f(at + step), f(at - step)
    slope = (hi - lo) / (2 * step)
    if order == 1:
        return (hi + lo) / 2, slope
    mid = f(at)
    return mid, slope, (hi - 2 * mid + lo) / step**2


def packed_derivatives(lower: LowerPass, vectors: Mapping[int, torch.Tensor], readout: Readout, *,
                       output: Output, budget: int, order: int = 1, at: float = 0.0,
                       fd_step: float | None = None) -> Derivatives:
    """Value and derivatives of ``readout`` in r at ``r = at`` for every prompt of ``lower``,
    rows packed (sorted by length) in chunks of ``budget`` tokens. ``output``: what the top
    layer computes (``Output.LAST``: the readout gets ``(rows, d)``; ``Output.ALL``: every own
    token ``(tokens, d)``)."""
    if order not in (1, 2):
        raise ValueError(f"order {order} must be 1 or 2")
    steered = SteeredPass.of(lower, vectors)
    prompts = lower.prompts
    n = len(prompts)
    values: list[torch.Tensor] = [torch.empty(0)] * n
    first: list[torch.Tensor] = [torch.empty(0)] * n
    second: list[torch.Tensor] = [torch.empty(0)] * n
    base = torch.tensor(float(at), dtype=lower.family.lm.dtype)
    for chunk in pack_chunks([Row(i) for i in prompts.order], prompts.own_length, budget):
        index = torch.zeros(len(chunk), dtype=torch.long)
        members = [r.prompt for r in chunk]

        def f(r: torch.Tensor, chunk: list[Row] = chunk, index: torch.Tensor = index,
              members: list[int] = members) -> torch.Tensor:
            prefix = steered.prefix_cache(r.reshape(1))
            out = steered.run_rows(chunk, r.expand(len(chunk)), prefix, index, output)
            return readout(out, members)

        if fd_step is None:
            with lower.family.forward_mode():
                got = jvp_orders(f, base, order)
        else:
            got = _differences(f, base, fd_step, order)
        for j, i in enumerate(members):
            values[i], first[i] = got[0][j], got[1][j]
            if order == 2:
                second[i] = got[2][j]
    return Derivatives(values, first, second if order == 2 else None)
