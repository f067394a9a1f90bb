"""How much of its best GEMM rate this host sustains: the ceiling of a ``limit_frac``.

    python benchmarks/sustained.py [--seconds 16] [--rows 2040] [--threads 1 2]

The benchmarks' limits divide the necessary FLOPs by the best GEMM rate seen (``rates.py``), as
a bound must. A run lasts tens of seconds, and a host may not hold its best rate that long
(clock boost, a neighbour on the physical cores). This script runs the embedded model's own
layer matrix products at ``rows`` rows without pause for ``seconds`` per thread count and
prints, per 2-second window, the rate held; ``mean / best`` is what a program of nothing but
those products would score as ``limit_frac``. The last line is machine-readable:
``sustained: threads=<t> best=<GFLOP/s> mean=<GFLOP/s> mean_over_best=<f> window_min=<GFLOP/s>``
for the last thread count.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:  # run as a script from anywhere
        sys.path.insert(0, str(path))

from rates import layer_products  # noqa: E402

from empirics.models import load_model  # noqa: E402

WINDOW_S = 2.0


@dataclass(frozen=True)
class Held:
    """Rates (GFLOP/s) of one thread count: the fastest call, the whole run, each window."""

    threads: int
    best: float
    mean: float
    windows: list[float]

    @property
    def mean_over_best(self) -> float:
        return self.mean / self.best


def hold(products: Callable[[], None], flops: int, seconds: float, threads: int) -> Held:
    """``products`` called without pause for ``seconds`` on ``threads`` threads (torch's thread
    count restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        calls, windows = _call_for(products, flops, seconds)
    finally:
        torch.set_num_threads(before)
    return Held(threads, flops / min(calls) / 1e9, flops * len(calls) / sum(calls) / 1e9, windows)


def _call_for(products: Callable[[], None], flops: int,
              seconds: float) -> tuple[list[float], list[float]]:
    """Each call's seconds, and each window's rate (GFLOP/s)."""
    calls: list[float] = []
    windows: list[float] = []
    with torch.inference_mode():
        products()  # warm-up
        start = window_start = time.perf_counter()
        in_window: list[float] = []
        while time.perf_counter() - start < seconds:
            t = time.perf_counter()
            products()
            calls.append(time.perf_counter() - t)
            in_window.append(calls[-1])
            if time.perf_counter() - window_start >= WINDOW_S:
                windows.append(flops * len(in_window) / sum(in_window) / 1e9)
                in_window, window_start = [], time.perf_counter()
    return calls, windows


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=16.0, help="per thread count")
    p.add_argument("--rows", type=int, default=2040, help="rows of each product (the sweep's "
                   "packed chunks hold ~2040 tokens)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args(argv)
    if args.seconds < WINDOW_S or args.rows < 1 or min(args.threads) < 1:
        p.error(f"--seconds must be at least {WINDOW_S}, --rows and --threads positive")
    return args


def main(argv: Sequence[str] | None = None) -> str:
    args = parse(argv)
    products, flops = layer_products(load_model(device="cpu"), args.rows)
    print(f"{'threads':>7} {'best':>8} {'mean':>8} {'mean/best':>9}  per {WINDOW_S:.0f} s (GFLOP/s)")
    held = []
    for threads in args.threads:
        held.append(hold(products, flops, args.seconds, threads))
        h = held[-1]
        spread = " ".join(f"{w:.0f}" for w in h.windows)
        print(f"{h.threads:>7} {h.best:>8.1f} {h.mean:>8.1f} {h.mean_over_best:>9.2f}  {spread}")
    last = held[-1]
    line = (f"sustained: threads={last.threads} best={last.best:.1f} mean={last.mean:.1f} "
            f"mean_over_best={last.mean_over_best:.2f} window_min={min(last.windows, default=math.nan):.1f}")
    print(line)
    return line


if __name__ == "__main__":
    main()
