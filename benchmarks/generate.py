"""Benchmark steered generation over a coefficient grid against per-coefficient ``generate`` loops
(Hugging Face with steering hooks, repeng's ``ControlModel``) and against the hardware limit.

    python benchmarks/generate.py            # the issue's setting: embedded model, 64 AdvBench
                                             # goals (chat template), layers 12-20, 11
                                             # coefficients -10..10, 32 new tokens, greedy, fp32
    python benchmarks/generate.py --quick    # < 2 min: 16 prompts, 3 coefficients, 16 tokens

Every method runs the same prompts and settings in this one process. The limit is the necessary
work (the prefill as in the sweep's limit; per decoding step one token per distinct reply so far
through the layers that do not depend on the coefficient and one per row through the layers above
them, attending to its cache; the unembedding of every generated token) at the fastest GEMM
rate this run measured (``benchmarks/rates.py``: best of several rounds, before and after our
run, at the prefill's and the decoding steps' row counts), next to a memory-traffic bound (every
weight read once per decoding step of each chunk of rows) at the fastest copy bandwidth measured
likewise; the limit is the larger of the two, and a bound (``limit_frac`` <= 1), in ``--quick``
too. The last line printed is machine-readable:
``generate: vs_loop=<r> vs_repeng=<r or n/a> limit_frac=<limit_s/ours_s> same_greedy=<true|false>``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:  # run as a script from anywhere
        sys.path.insert(0, str(path))

from rates import Meter, copy_bandwidth, gemm_meter  # noqa: E402
from sweep import SHAPES, PeakRSS, Shape, _unit_vectors, setup_random  # noqa: E402

from empirics.engine import common_prefix_length  # noqa: E402
from empirics.generate import Generation, generate_loop, steered_generate  # noqa: E402
from empirics.models import LoadedModel  # noqa: E402

LAYERS = range(12, 21)


def setup(args: argparse.Namespace) -> tuple[LoadedModel, list[list[int]], list[float],
                                            dict[int, torch.Tensor]]:
    """The model, prompts, coefficients and steering vectors: the embedded model on AdvBench
    goals in the chat template, or a random-weight Llama of ``--shape`` on random prompts (a
    24-token shared head + 24-72 own tokens, as in benchmarks/sweep.py)."""
    c = args.coefficients or (3 if args.quick else 11)
    coefs = [float(x) for x in np.linspace(-10.0, 10.0, c)]
    if args.shape != "embedded":
        if args.prompts is None:  # the 64 prompts on every shape
            args.prompts = 16 if args.quick else 64
        s = setup_random(args)
        return s.lm, s.prompts, coefs, s.vectors
    from empirics.data import advbench_goals, harmful_instructions
    from empirics.models import load_model
    from empirics.sources import resolve_source

    lm = load_model(device=args.device, dtype=args.dtype or "float32")
    # AdvBench goals from a data directory (--data-dir / $STEERING_DATA_DIR), else the
    # package's embedded harmful instructions: the benchmark runs on a fresh clone.
    source = resolve_source(None, args.data_dir)
    goals = (advbench_goals(source) if source.kind == "dir" else
             [g for split in ("train", "val", "test") for g in harmful_instructions(source, split)])
    n = args.prompts or (16 if args.quick else 64)
    prompts = [lm.encode(lm.format_chat(g)) for g in goals[:n]]
    return lm, prompts, coefs, _unit_vectors(lm.hidden_size, LAYERS)


# --------------------------------------------------------------------------- limits


def necessary_flops(shape: Shape, prompts: Sequence[Sequence[int]], first: int, n_coef: int,
                    out: Generation, literal: bool = False) -> int:
    """Work no implementation can skip. The shared layers (those below the first steered layer
    and that layer itself, whose vector is added to its output) do not depend on the
    coefficient. Prefill: the shared prefix once through the shared layers and once per
    coefficient above them, each prompt's own tokens likewise. Decoding: each fed-back token
    through the shared layers once per distinct (prompt, reply so far), and through the layers
    above them once per row, attending to its cache; the unembedding of every generated token.
    ``literal``: the issue's wording instead, decoded tokens through the layers from ``first``
    only (every distinct history still has to run below ``first``, so this is not a bound)."""
    p = common_prefix_length(prompts)
    own = [len(x) - p for x in prompts]
    shared = first + 1
    once = shape.tokens(0, p, shared) + sum(shape.tokens(p, s, shared) for s in own)
    upper = shape.layers - shared
    per_coef = shape.tokens(0, p, upper) + sum(shape.tokens(p, s, upper) for s in own)
    total = once + n_coef * per_coef
    lens = [len(prompts[i]) for i in out.prompt_index]
    histories: set[tuple[int, tuple[int, ...]]] = set()
    for pi, n_prompt, toks in zip(out.prompt_index, lens, out.tokens, strict=True):
        for t in range(len(toks) - 1):  # the last token is never fed back
            if literal:
                total += shape.tokens(n_prompt + t, 1, shape.layers - first)
                continue
            total += shape.tokens(n_prompt + t, 1, upper)
            node = (int(pi), tuple(toks[:t + 1]))
            if node not in histories:
                histories.add(node)
                total += shape.tokens(n_prompt + t, 1, shared)
        total += len(toks) * 2 * shape.d * shape.vocab
    return total


def loop_flops(shape: Shape, prompts: Sequence[Sequence[int]], out: Generation) -> int:
    """Work of a per-coefficient loop over the same replies (padding and finished rows not counted)."""
    total = 0
    for i, toks in zip(out.prompt_index, out.tokens, strict=True):
        n = len(prompts[i])
        total += shape.tokens(0, n, shape.layers) + 2 * shape.d * shape.vocab
        for t in range(len(toks) - 1):
            total += shape.tokens(n + t, 1, shape.layers) + 2 * shape.d * shape.vocab
    return total


def decode_steps(out: Generation, rows_per_chunk: int) -> int:
    """Decoding steps summed over chunks (each chunk runs until its longest row ends)."""
    steps = 0
    lengths = [len(t) for t in out.tokens]
    for i in range(0, len(lengths), rows_per_chunk):
        steps += max(lengths[i:i + rows_per_chunk]) - 1
    return steps


# --------------------------------------------------------------------------- repeng


def _repeng_control() -> Any:
    """repeng's ``control`` module, loaded from its file: ``import repeng`` also imports
    ``extract`` (scikit-learn), which generation does not use."""
    spec = importlib.util.find_spec("repeng")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("repeng is not installed (pip install --no-deps repeng)")
    path = Path(next(iter(spec.submodule_search_locations))) / "control.py"
    mspec = importlib.util.spec_from_file_location("_repeng_control", path)
    assert mspec is not None and mspec.loader is not None
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module


def repeng_loop(vectors: dict[int, torch.Tensor], coefs: Sequence[float],
                prompts: Sequence[Sequence[int]], max_new_tokens: int,
                batch_size: int) -> tuple[Callable[[], list[list[int]]], str]:
    """A greedy ``ControlModel.generate`` loop per coefficient on its own copy of the model."""
    from transformers import GenerationConfig

    from empirics.generate import eos_ids_of
    from empirics.models import load_model, pad_id_of, pad_token_batch

    control_mod = _repeng_control()
    lm2 = load_model(device="cpu", dtype="float32")  # repeng wraps layers in place: a copy
    control = control_mod.ControlModel(lm2.model, list(vectors))
    eos = eos_ids_of(lm2)
    pad = pad_id_of(lm2.tokenizer)
    config = GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=eos,
                              pad_token_id=pad)
    version = "repeng (installed)"
    try:
        from importlib.metadata import version as pkg_version

        version = f"repeng {pkg_version('repeng')}"
    except Exception:  # noqa: BLE001 (metadata is optional)
        pass

    def run() -> list[list[int]]:
        out: list[list[int]] = []
        with torch.inference_mode():
            for c in coefs:
                control.set_raw_control({li: float(c) * v for li, v in vectors.items()})
                for b in range(0, len(prompts), batch_size):
                    tok, mask = pad_token_batch(prompts[b:b + batch_size], pad, left=True)
                    seqs = control.generate(input_ids=tok, attention_mask=mask,
                                            generation_config=config)[:, tok.shape[1]:]
                    for row in seqs.tolist():
                        kept: list[int] = []
                        for t in row:
                            kept.append(int(t))
                            if t in eos:
                                break
                        out.append(kept)
            control.reset()
        return out

    return run, version


# --------------------------------------------------------------------------- main


def timed(name: str, fn: Callable[[], Any]) -> tuple[Any, float, int]:
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as rss:
        t = time.perf_counter()
        res = fn()
        if cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
    gpu = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if cuda else ""
    print(f"  {name}: {dt:.2f} s{gpu}", file=sys.stderr)
    return res, dt, rss.peak


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="16 prompts, 3 coefficients, 16 tokens")
    ap.add_argument("--prompts", type=int, default=None)
    ap.add_argument("--coefficients", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=16, help="the loops' batch size")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-repeng", action="store_true", help="skip the repeng comparison")
    ap.add_argument("--shape", choices=["embedded", *SHAPES], default="embedded")
    ap.add_argument("--random-weights", action="store_true",
                    help="random weights of --shape built on --device (required for shapes "
                         "other than embedded)")
    ap.add_argument("--device", default=None, help="cpu (default) or cuda")
    ap.add_argument("--dtype", default=None, help="float32 (default on CPU), bfloat16, float16")
    args = ap.parse_args(argv)
    if args.shape != "embedded" and not args.random_weights:
        ap.error(f"--shape {args.shape} needs --random-weights (no download)")
    return args


def main(argv: Sequence[str] | None = None) -> str:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    lm, prompts, coefs, vectors = setup(args)
    max_new = args.max_new_tokens or (16 if args.quick else 32)
    shape = Shape.of(lm)
    layers = sorted(vectors)
    n, c = len(prompts), len(coefs)
    print(f"model {lm.name} ({lm.num_layers} layers, d={shape.d}, {lm.dtype}, {lm.device}); {n} "
          f"prompts, {np.mean([len(x) for x in prompts]):.1f} tokens on average, shared prefix "
          f"{common_prefix_length(prompts)}; layers {layers[0]}-{layers[-1]}; {c} "
          f"coefficients {coefs[0]:g}..{coefs[-1]:g}; {max_new} new tokens, greedy; loops in "
          f"batches of {args.batch_size}; torch threads {torch.get_num_threads()}",
          file=sys.stderr)
    # Warm-up on two prompts.
    steered_generate(lm, vectors, coefs[:1], prompts[:2], max_new_tokens=2)
    generate_loop(lm, vectors, coefs[:1], prompts[:2], max_new_tokens=2, batch_size=2,
                  with_logprobs=False)

    loop, t_loop, m_loop = timed("HF generate loop + hooks", lambda: generate_loop(
        lm, vectors, coefs, prompts, max_new_tokens=max_new, batch_size=args.batch_size,
        with_logprobs=False))
    rep_tokens: list[list[int]] | None = None
    t_rep, m_rep, rep_note = float("nan"), 0, "n/a: --no-repeng"
    if args.shape != "embedded":
        rep_note = "n/a: repeng loads a checkpoint; random-weight shapes are built in memory"
    elif not args.no_repeng:
        try:
            run_rep, rep_note = repeng_loop(vectors, coefs, prompts, max_new, args.batch_size)
            run_rep_warm, _ = run_rep, None
            rep_tokens, t_rep, m_rep = timed(rep_note, run_rep_warm)
        except Exception as err:  # noqa: BLE001 (any failure: report n/a with the reason)
            rep_note = f"n/a: {type(err).__name__}: {err}"
            print(f"  repeng: {rep_note}", file=sys.stderr)
    # Rates measured right around our run, the fastest kept: a slow spell of a shared machine
    # during one measurement cannot make the limit look easier.
    rows_gemm = 2048
    before = gemm_meter(lm, [rows_gemm])
    band = Meter(lambda: copy_bandwidth(lm.device))
    before.measure()
    band.measure()
    ours, t_ours, m_ours = timed("ours (steered_generate)", lambda: steered_generate(
        lm, vectors, coefs, prompts, max_new_tokens=max_new))
    rows_per_chunk = int(ours.settings["rows_per_chunk"])  # as steered_generate chunked them
    after = gemm_meter(lm, [rows_gemm, rows_per_chunk])
    after.measure()
    band.measure()
    rate = max(before.best, after.best)

    same = ours.tokens == loop.tokens
    same_rep = rep_tokens == ours.tokens if rep_tokens is not None else None
    diff_rows = sum(a != b for a, b in zip(ours.tokens, loop.tokens, strict=True))
    gen_tokens = sum(len(t) for t in ours.tokens)
    first = min(vectors)
    bw = band.best
    need = necessary_flops(shape, prompts, first, c, ours)
    limit_flop = need / rate
    weight_bytes = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    steps = decode_steps(ours, rows_per_chunk)
    limit_mem = steps * weight_bytes / bw
    limit_s = max(limit_flop, limit_mem)
    # The wording counts decoded tokens "through the steered layers" only; below the
    # first steered layer a token still has to be run once per distinct history, so that
    # reading is not a bound, but it is printed for comparison.
    literal_s = max(necessary_flops(shape, prompts, first, c, ours, literal=True) / rate,
                    limit_mem)
    loop_need = loop_flops(shape, prompts, ours)

    print(f"\nGEMM rate at the model's shapes ({rows_gemm} and {rows_per_chunk} rows): "
          f"{rate / 1e9:.1f} GFLOP/s (before our run {before.describe(1e9, 'GFLOP/s')}; after "
          f"{after.describe(1e9, 'GFLOP/s')}); copy bandwidth {band.describe(1e9, 'GB/s')}; necessary work {need / 1e9:.1f} GFLOP -> "
          f"{limit_flop:.2f} s; weights {weight_bytes / 2**20:.0f} MiB x {steps} decoding steps "
          f"-> {limit_mem:.2f} s; limit {limit_s:.2f} s; {gen_tokens} generated tokens "
          f"({n * c} rows, chunks of {rows_per_chunk} rows); load average {load0:.2f} at the "
          f"start, {os.getloadavg()[0]:.2f} at the end (above ~{torch.get_num_threads()}: other "
          f"work shared the cores); decoding through the steered layers only (the issue's "
          f"literal wording, not a bound): {literal_s:.2f} s, limit_frac {literal_s / t_ours:.2f}")
    cols = ["method", "wall s", "generated tok/s", "GFLOP done", "useful GFLOP/s",
            "peak RSS GiB", "x loop", "same greedy text", "note"]
    table = [
        ["HF generate loop + hooks", t_loop, loop_need, m_loop, True, f"batches of {args.batch_size}"],
        [rep_note.split(":")[0] if rep_tokens is None else rep_note, t_rep, loop_need, m_rep,
         same_rep, "" if rep_tokens is not None else rep_note],
        ["ours (steered_generate)", t_ours, need, m_ours, same, f"{diff_rows} rows differ"],
    ]
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for name, secs, work, mem, sm, note in table:
        ok = secs == secs
        print("| " + " | ".join([
            str(name), f"{secs:.2f}" if ok else "n/a", f"{gen_tokens / secs:.1f}" if ok else "n/a",
            f"{work / 1e9:.1f}", f"{need / 1e9 / secs:.1f}" if ok else "n/a",
            f"{mem / 2**30:.2f}" if ok else "n/a", f"{t_loop / secs:.2f}" if ok else "n/a",
            "n/a" if sm is None else str(sm).lower(), str(note)]) + " |")
    print(f"| limit (max of FLOP and memory bounds) | {limit_s:.2f} | {gen_tokens / limit_s:.1f} | "
          f"{need / 1e9:.1f} | {rate / 1e9:.1f} |  | {t_loop / limit_s:.2f} |  | measured in this run |")
    vs_rep = f"{t_rep / t_ours:.2f}" if t_rep == t_rep else "n/a"
    line = (f"generate: vs_loop={t_loop / t_ours:.2f} vs_repeng={vs_rep} "
            f"limit_frac={limit_s / t_ours:.2f} same_greedy={str(same).lower()}")
    print(line)
    return line


if __name__ == "__main__":
    main()
    sys.stdout.flush()
