"""Machine rates for the benchmarks' limits, measured in the same process as the timed runs.

A limit is a bound only if the rate it divides by is the fastest the machine shows for that
work: a rate measured during a slow spell of a shared machine (or in a single short window)
makes the limit too long and ``limit_frac`` can exceed 1. So every rate here is the best of
several timed rounds, and a ``Meter`` is measured several times around the runs (before, after)
keeping the best of all; ``--quick`` runs measure the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from empirics.models import LoadedModel

ROUNDS = 7  # timed rounds per measurement (after one warm-up)


def _sync(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def layer_matrices(lm: LoadedModel) -> list[torch.Tensor]:
    """The weight matrices of the model's last decoder layer (its projections and MLP)."""
    layer: Any = lm.layers[-1]
    return [m.weight for m in layer.modules() if isinstance(m, torch.nn.Linear)]


def best_seconds(fn: Callable[[], object], device: torch.device, rounds: int = ROUNDS) -> float:
    """The fastest of ``rounds`` timed calls of ``fn`` (after one untimed call)."""
    sync = _sync(device)
    fn()
    best = float("inf")
    for _ in range(rounds):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


def layer_products(lm: LoadedModel, rows: int) -> tuple[Callable[[], None], int]:
    """A call of every layer matrix product at ``rows`` rows (``F.linear``, the model's dtype and
    device, random inputs made once) and its FLOPs."""
    mats = layer_matrices(lm)
    x = {w.shape[1]: torch.randn(rows, w.shape[1], dtype=w.dtype, device=w.device) for w in mats}

    def products() -> None:
        for w in mats:
            torch.nn.functional.linear(x[w.shape[1]], w)

    return products, sum(2 * rows * w.shape[0] * w.shape[1] for w in mats)


def gemm_rate(lm: LoadedModel, rows: int, rounds: int = ROUNDS) -> float:
    """FLOP/s of the model's own layer matrix products at ``rows`` rows, the fastest of
    ``rounds`` rounds over all the matrices."""
    products, flops = layer_products(lm, rows)
    with torch.inference_mode():
        return flops / best_seconds(products, lm.device, rounds)


def gemm_replay(lm: LoadedModel, flops: float, rows: int) -> float:
    """Seconds of one run of ``flops`` FLOPs done as the model's own layer matrix products at
    ``rows`` rows, and nothing else: a program with the limit's work at the limit's shapes,
    timed once as the runs it is compared with are. ``limit / replay`` is the fraction of its
    best GEMM rate the machine sustained over such a run (the machine's share of a
    ``limit_frac`` below 1; the rest is the program's)."""
    products, per_round = layer_products(lm, rows)
    rounds = max(1, round(flops / per_round))
    sync = _sync(lm.device)
    with torch.inference_mode():
        products()  # warm-up, as every timed run has one
        sync()
        start = time.perf_counter()
        for _ in range(rounds):
            products()
        sync()
        seconds = time.perf_counter() - start
    return seconds * flops / (rounds * per_round)


def copy_bandwidth(device: torch.device, rounds: int = ROUNDS) -> float:
    """Bytes/s of a 256 MiB tensor copy (read + write), the fastest of ``rounds`` copies."""
    src = torch.empty(64 << 20, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / best_seconds(lambda: dst.copy_(src), device, rounds)


@dataclass
class Meter:
    """The best of every measurement so far of ``rate()``; call ``measure`` around the runs."""

    rate: Callable[[], float]
    seen: list[float] = field(default_factory=list)

    def measure(self) -> float:
        self.seen.append(self.rate())
        return self.seen[-1]

    @property
    def best(self) -> float:
        return max(self.seen)

    def describe(self, unit: float, name: str) -> str:
        return (f"{self.best / unit:.1f} {name} (best of {len(self.seen)} measurements of "
                f"{ROUNDS} rounds: {', '.join(f'{x / unit:.1f}' for x in self.seen)})")


def gemm_meter(lm: LoadedModel, rows: Sequence[int]) -> Meter:
    """A meter of the fastest GEMM rate over the row counts the limit's products run at."""
    return Meter(lambda: max(gemm_rate(lm, m) for m in rows))
