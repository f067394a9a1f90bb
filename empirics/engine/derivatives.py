"""Derivatives in the steering coefficient r of any readout of the steered pass, per packed row.

One prompt per row, all rows of a chunk tied to one scalar r; the lower pass carries no
tangent (it does not depend on r). Forward mode (``torch.func.jvp``) gives the first
derivative exactly, nested forward mode the second; with ``fd_step`` central differences of
plain passes at r ± h replace them (inference kernels, O(h²) error). The math SDPA kernel is
used under ``jvp``: PyTorch's CPU flash-attention kernel has no forward-AD rule.

Δ along several directions at once (``packed_first_along``): at r = 0 every direction is the
unsteered model, so one primal serves them all; ``vmap`` over the tangents of one ``jvp`` (the
shifts themselves differentiated at zero) computes it once and every direction's tangent
beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from empirics.engine.attention import Output
from empirics.engine.devices import PerDevice
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
    for chunk, members in _chunks(lower, budget):

        def f(r: torch.Tensor, chunk: list[Row] = chunk, members: list[int] = members
              ) -> torch.Tensor:
            return _read(steered, chunk, members, r.reshape(1), readout, output)

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


def _chunks(lower: LowerPass, budget: int) -> list[tuple[list[Row], list[int]]]:
    """The prompts of ``lower`` packed (sorted by length) in chunks of ``budget`` tokens, each
    with its prompt indices in packing order."""
    prompts = lower.prompts
    chunks = pack_chunks([Row(i) for i in prompts.order], prompts.own_length, budget)
    return [(chunk, [r.prompt for r in chunk]) for chunk in chunks]


def _read(steered: SteeredPass, chunk: list[Row], members: list[int], r: torch.Tensor,
          readout: Readout, output: Output) -> torch.Tensor:
    """``readout`` of the chunk's rows, every row and the prefix at the one coefficient ``r``
    ``(1,)`` (a dual under ``jvp``)."""
    prefix = steered.prefix_cache(r)
    index = torch.zeros(len(chunk), dtype=torch.long)
    return readout(steered.run_rows(chunk, r.expand(len(chunk)), prefix, index, output), members)


#: Directions per ``vmap`` of ``packed_first_along``: their tangents are held together.
DIRECTIONS_PER_PASS = 8


def packed_first_along(lower: LowerPass, directions: Sequence[Mapping[int, torch.Tensor]],
                       readout: Readout, *, output: Output, budget: int) -> list[Derivatives]:
    """``packed_derivatives(lower, v, readout, order=1)`` for each ``v`` of ``directions``
    (all steering the same layers), the unsteered primal computed once per chunk for up to
    ``DIRECTIONS_PER_PASS`` of them. Equal to the one-direction path up to fp32 rounding."""
    if not directions:
        raise ValueError("directions is empty: give at least one")
    layers = sorted(directions[0])
    for j, v in enumerate(directions):
        if sorted(v) != layers:
            raise ValueError(f"directions[{j}] steers layers {sorted(v)}, directions[0] {layers}: "
                             "give directions of the same layers (or call packed_derivatives)")
    SteeredPass.of(lower, directions[0])  # the same checks as one direction's pass
    out: list[Derivatives] = []
    for k in range(0, len(directions), DIRECTIONS_PER_PASS):
        out += _first_along(lower, directions[k:k + DIRECTIONS_PER_PASS], layers, readout,
                            output, budget)
    return out


def _first_along(lower: LowerPass, directions: Sequence[Mapping[int, torch.Tensor]],
                 layers: list[int], readout: Readout, output: Output,
                 budget: int) -> list[Derivatives]:
    family, dtype = lower.family, lower.family.lm.dtype
    # Shift of layer l = 1 * s_l, differentiated at s = 0 along s_l = v_l (the direction's
    # vector in the model's dtype, as r * v is formed there): the tangent of r * v at r = 0.
    tangents = torch.stack([torch.stack([v[layer].detach().cpu().to(dtype) for layer in layers])
                            for v in directions])
    zero = torch.zeros_like(tangents[0])
    n = len(lower.prompts)
    values = [[torch.empty(0)] * n for _ in directions]
    first = [[torch.empty(0)] * n for _ in directions]
    one = torch.ones(1, dtype=dtype)
    for chunk, members in _chunks(lower, budget):

        def f(shifts: torch.Tensor, chunk: list[Row] = chunk, members: list[int] = members
              ) -> torch.Tensor:
            steered = SteeredPass(family, lower,
                                  {layer: PerDevice(shifts[i]) for i, layer in enumerate(layers)})
            return _read(steered, chunk, members, one, readout, output)

        def along(tangent: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor] = f
                  ) -> tuple[torch.Tensor, torch.Tensor]:
            out = torch.func.jvp(f, (zero,), (tangent,))
            return out[0], out[1]

        with family.forward_mode(), sdpa_kernel(SDPBackend.MATH):
            value, slope = torch.func.vmap(along)(tangents)
        for j in range(len(directions)):
            for row, i in enumerate(members):
                values[j][i], first[j][i] = value[j][row], slope[j][row]
    return [Derivatives(v, d, None) for v, d in zip(values, first, strict=True)]
