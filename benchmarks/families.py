"""Sweep speed per model family: ``empirics.sweep.sweep`` (the engine's fast path where the family
has an adapter, else the generic hook path) against the per-coefficient Hugging Face loop, on
random models of each family (no download), in one process.

    python benchmarks/families.py [--quick] [--families llama,qwen3,...] [--threads N]

Every family has the same layer shapes (``--hidden``, ``--layers``; the per-family differences of
``tiny_gguf.FAMILIES``: MoE experts, sliding windows, Granite's multipliers, ...) and the same
prompts, vectors and coefficients, so the rows compare paths, not sizes. The ratio is what a
user of that family can expect from the engine over the loop at these shapes; absolute times at
such small widths are dominated by per-call overhead, not by the products. The last line is
machine-readable: ``families: n=<families> max_abs_diff=<x> fast=<names>``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:  # run as a script from anywhere
        sys.path.insert(0, str(path))

import tiny_gguf  # noqa: E402

from empirics.engine import fast_path_reason  # noqa: E402
from empirics.models import LoadedModel, find_decoder_layers, find_final_norm  # noqa: E402
from empirics.sweep import SweepResult, sweep, sweep_loop  # noqa: E402

VOCAB = 4096


@dataclass(frozen=True)
class Row:
    """One family's timings (best of ``repeats``) and agreement."""

    family: str
    path: str           # "fast" or "generic: <why>"
    ours_s: float
    loop_s: float
    max_abs_diff: float

    @property
    def vs_loop(self) -> float:
        return self.loop_s / self.ours_s


def build(family: str, hidden: int, layers: int, seed: int) -> LoadedModel:
    """A random model of ``family`` with ``tiny_gguf``'s per-family settings at these shapes."""
    from transformers import AutoConfig, AutoModelForCausalLM

    base = {**tiny_gguf.BASE, "hidden_size": hidden, "intermediate_size": 2 * hidden,
            "num_hidden_layers": layers, "head_dim": hidden // 4}
    config = AutoConfig.for_model(family, vocab_size=VOCAB, bos_token_id=1, eos_token_id=2,
                                  pad_token_id=2, **{**base, **tiny_gguf.FAMILIES[family]})
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tiny_gguf.randomize(model, seed)
    model.eval()
    return LoadedModel(model=model, tokenizer=None, name=f"random {family}",
                       layers=find_decoder_layers(model), final_norm=find_final_norm(model),
                       lm_head=model.get_output_embeddings(), uses_chat_template=False)


def _best(fn: Callable[[], SweepResult], repeats: int) -> tuple[float, SweepResult]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    assert out is not None
    return min(times), out


def measure(family: str, args: argparse.Namespace) -> Row:
    lm = build(family, args.hidden, args.layers, args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    head = torch.randint(3, VOCAB, (args.prefix,), generator=gen).tolist()
    prompts = [head + torch.randint(3, VOCAB, (int(n),), generator=gen).tolist()
               for n in torch.randint(args.own // 2, args.own + 1, (args.prompts,), generator=gen)]
    cands = [[5, 6, 7, 8]] * len(prompts)
    steered = list(range(args.layers // 3, args.layers - 1))
    vectors = {li: torch.nn.functional.normalize(torch.randn(args.hidden, generator=gen), dim=0)
               for li in steered}
    coefs = np.linspace(-4, 4, args.coefficients).tolist()
    reason = fast_path_reason(lm, max(len(p) for p in prompts))
    ours_s, ours = _best(lambda: sweep(lm, vectors, coefs, prompts, cands), args.repeats)
    loop_s, loop = _best(lambda: sweep_loop(lm, vectors, coefs, prompts, cands, last_only=True),
                         args.repeats)
    diff = float(np.nanmax(np.abs(np.exp(ours.logprobs) - np.exp(loop.logprobs))))
    path = ("fast" if reason is None else "generic (no adapter)"
            if reason.startswith("model_type") else f"generic ({reason})")
    return Row(family, path, ours_s, loop_s, diff)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default=",".join(tiny_gguf.FAMILIES),
                    help="comma-separated model_types (default: every family of tiny_gguf)")
    ap.add_argument("--quick", action="store_true", help="small shapes, one repeat")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--prefix", type=int, default=16, help="tokens every prompt shares")
    ap.add_argument("--own", type=int, default=32, help="most own tokens per prompt")
    ap.add_argument("--coefficients", type=int, default=9)
    ap.add_argument("--repeats", type=int, default=2, help="best of this many calls")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    unknown = sorted(set(args.families.split(",")) - set(tiny_gguf.FAMILIES))
    if unknown:
        ap.error(f"unknown families {unknown}; known: {', '.join(tiny_gguf.FAMILIES)}")
    if args.quick:
        args.hidden, args.layers, args.prompts, args.own, args.coefficients = 64, 4, 8, 8, 3
        args.repeats = 1
    return args


def main(argv: Sequence[str] | None = None) -> str:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{args.prompts} prompts (shared prefix {args.prefix}, ≤ {args.own} own tokens), "
          f"{args.coefficients} coefficients, d={args.hidden}, {args.layers} layers, vocab "
          f"{VOCAB}, fp32 CPU, torch threads {torch.get_num_threads()}, best of {args.repeats}")
    rows = []
    with torch.inference_mode():
        for family in args.families.split(","):
            rows.append(measure(family, args))
            print(f"  {family}: {rows[-1].ours_s:.2f} s vs loop {rows[-1].loop_s:.2f} s",
                  file=sys.stderr)
    print("| family | path | ours s | HF loop s | × loop | max \\|Δp\\| vs loop |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.family} | {r.path} | {r.ours_s:.3f} | {r.loop_s:.3f} | {r.vs_loop:.2f} | "
              f"{r.max_abs_diff:.2e} |")
    fast = ",".join(r.family for r in rows if r.path == "fast") or "none"
    line = (f"families: n={len(rows)} max_abs_diff={max(r.max_abs_diff for r in rows):.2e} "
            f"fast={fast}")
    print(line)
    return line


if __name__ == "__main__":
    main()
