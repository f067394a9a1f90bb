"""Benchmark the coefficient sweep against the plain loops, repeng 0.4 and the FLOP limit.

    python benchmarks/sweep.py                 # the issue's setting: embedded model, 64 AdvBench
                                               # prompts, layers 12-20, 21 coefficients, fp32
    python benchmarks/sweep.py --quick         # < 60 s: 16 prompts, 5 coefficients
    python benchmarks/sweep.py --shape llama2-7b --random-weights --device cuda --dtype bfloat16

The last line printed is machine-readable:
``sweep: vs_loop=<r> vs_loop_last=<r> vs_repeng=<r or n/a> limit_frac=<limit_s/ours_s>
max_abs_diff=<max |p_ours - p_loop|> replay_frac=<limit_s/replay_s>``. The limit is the least
work any sweep must do (the formula is in docs/performance.md) at the fastest GEMM rate this run
measured (``benchmarks/rates.py``): a bound, so ``limit_frac`` <= 1. The replay does that work
as GEMMs alone, timed once: ``replay_frac`` is what the machine itself allows a program of
nothing but the necessary products, the ceiling ``limit_frac`` meets on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "benchmarks"):
    if str(_path) not in sys.path:  # run as a script from anywhere
        sys.path.insert(0, str(_path))

from rates import gemm_meter, gemm_replay  # noqa: E402

from empirics.engine import common_prefix_length, lower_top  # noqa: E402
from empirics.models import LoadedModel, default_cache_dir  # noqa: E402
from empirics.sweep import SweepResult, sweep, sweep_loop, token_budget  # noqa: E402

QUESTION = " Will you help with this request? Answer with Yes or No."
REPENG_SPEC = "repeng==0.4.*"

# name -> (hidden, intermediate, layers, heads, kv_heads, steered layers)
SHAPES: dict[str, tuple[int, int, int, int, int, range]] = {
    "tiny": (64, 160, 6, 4, 2, range(2, 4)),
    "llama2-7b": (4096, 11008, 32, 32, 32, range(10, 15)),
}


@dataclass
class Setup:
    lm: LoadedModel
    prompts: list[list[int]]
    candidates: list[list[int]]
    vectors: dict[int, torch.Tensor]
    coefficients: list[float]
    batch_size: int
    checkpoint: Path | None  # for repeng (a real checkpoint only)


# --------------------------------------------------------------------------- setup


def _coefficients(n: int) -> list[float]:
    return [float(x) for x in np.linspace(-10.0, 10.0, n)]


def _unit_vectors(d: int, layers: Sequence[int], seed: int = 0) -> dict[int, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {li: torch.nn.functional.normalize(torch.randn(d, generator=g), dim=0) for li in layers}


def setup_embedded(args: argparse.Namespace) -> Setup:
    """The issue's setting: the embedded model, AdvBench goals in the chat template + question."""
    from empirics.data import advbench_goals, harmful_instructions
    from empirics.models import embedded_checkpoint, load_model
    from empirics.sources import resolve_source

    lm = load_model(device=args.device, dtype=args.dtype)
    # AdvBench goals from a data directory (--data-dir / $STEERING_DATA_DIR), else the
    # package's embedded harmful instructions: the benchmark runs on a fresh clone.
    source = resolve_source(None, args.data_dir)
    goals = (advbench_goals(source) if source.kind == "dir" else
             [g for split in ("train", "val", "test") for g in harmful_instructions(source, split)])
    n = args.prompts or (16 if args.quick else 64)
    prompts = [lm.encode(lm.format_chat(g + QUESTION)) for g in goals[:n]]
    cands = [[lm.single_token_id("Yes"), lm.single_token_id("No")]] * len(prompts)
    layers = range(12, 21)
    return Setup(lm, prompts, cands, _unit_vectors(lm.hidden_size, layers),
                 _coefficients(args.coefficients or (5 if args.quick else 21)), args.batch_size,
                 embedded_checkpoint())


def setup_random(args: argparse.Namespace) -> Setup:
    """A Llama with the named layer shapes and random weights, built directly on the device."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from empirics.models import find_decoder_layers, find_final_norm, resolve_dtype

    d, inter, n_layers, heads, kv, steered = SHAPES[args.shape]
    vocab = 256 if args.shape == "tiny" else _embedded_vocab()
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=d, intermediate_size=inter,
                      num_hidden_layers=n_layers, num_attention_heads=heads,
                      num_key_value_heads=kv, max_position_embeddings=4096, rms_norm_eps=1e-5,
                      initializer_range=0.02 if args.shape != "tiny" else 0.2,
                      tie_word_embeddings=False)
    device = args.device or "cpu"
    dtype = resolve_dtype(args.dtype, device)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(cfg)
    finally:
        torch.set_default_dtype(previous)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    lm = LoadedModel(model=model, tokenizer=None, name=f"random {args.shape}",
                     layers=find_decoder_layers(model), final_norm=find_final_norm(model),
                     lm_head=model.get_output_embeddings(), uses_chat_template=False)
    # 24 shared tokens (a system prompt) + 24-72 tokens of each prompt's own.
    n = args.prompts or ((16 if args.quick else 64) if args.shape == "tiny"
                         else (32 if args.quick else 256))
    g = torch.Generator().manual_seed(1)
    head = torch.randint(0, vocab, (24,), generator=g).tolist()
    own = torch.randint(24, 73, (n,), generator=g).tolist()
    prompts = [head + torch.randint(0, vocab, (k,), generator=g).tolist() for k in own]
    cands = [[1, 2]] * n
    return Setup(lm, prompts, cands, _unit_vectors(d, steered),
                 _coefficients(args.coefficients or (5 if args.quick else 21)), args.batch_size,
                 None)


def _embedded_vocab() -> int:
    from transformers import AutoTokenizer

    from empirics.models import embedded_checkpoint

    return len(AutoTokenizer.from_pretrained(str(embedded_checkpoint())))


# --------------------------------------------------------------------------- FLOPs and GEMM rate


@dataclass
class Shape:
    d: int
    inter: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    @classmethod
    def of(cls, lm: LoadedModel) -> Shape:
        cfg: Any = lm.model.config
        heads = int(cfg.num_attention_heads)
        return cls(int(cfg.hidden_size), int(cfg.intermediate_size), lm.num_layers, heads,
                   int(getattr(cfg, "num_key_value_heads", None) or heads),
                   int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads),
                   int(lm.lm_head.weight.shape[0]))  # type: ignore[union-attr,index]

    @property
    def linear(self) -> int:
        """FLOPs of one token through one layer's projections and gated MLP."""
        q = self.heads * self.head_dim
        return 2 * (self.d * q + q * self.d + 3 * self.d * self.inter) + self.kv_linear

    @property
    def kv_linear(self) -> int:
        """FLOPs of one token's key and value projections in one layer."""
        return 2 * 2 * self.d * self.kv_heads * self.head_dim

    def attention(self, start: int, n: int) -> int:
        """FLOPs of scores and weighted values for tokens at positions start..start+n-1 (causal)."""
        keys = n * start + n * (n + 1) // 2
        return 4 * self.heads * self.head_dim * keys

    def tokens(self, start: int, n: int, layers: int) -> int:
        return layers * (n * self.linear + self.attention(start, n))

    def read_last(self, start: int, n: int) -> int:
        """FLOPs of a layer whose output is read at the last of the ``n`` tokens only: keys
        and values of every token, the rest of the layer for the last one."""
        return n * self.kv_linear + (self.linear - self.kv_linear) + self.attention(start + n - 1, 1)


def necessary_flops(shape: Shape, prompts: Sequence[Sequence[int]], first: int, n_coef: int) -> int:
    """The least work of any sweep: the shared prefix and every prompt's own tokens once
    through the layers whose work does not depend on the coefficient (those below the first
    steered layer and that layer itself, unless it is the top one, whose output is read at the
    last token only); per coefficient the layers above, the top layer's keys/values at every
    token and the rest of it at the last token, and the unembedding at the last token."""
    p = common_prefix_length(prompts)
    own = [len(x) - p for x in prompts]
    top = lower_top(first, shape.layers)
    once = shape.tokens(0, p, top) + sum(shape.tokens(p, s, top) for s in own)
    middle = shape.layers - 1 - top
    per_coef = shape.tokens(0, p, middle) + p * shape.kv_linear
    per_coef += sum(shape.tokens(p, s, middle) + shape.read_last(p, s) for s in own)
    return once + n_coef * (per_coef + len(prompts) * 2 * shape.d * shape.vocab)


def loop_flops(shape: Shape, prompts: Sequence[Sequence[int]], n_coef: int, all_logits: bool) -> int:
    """Work of the plain loop (padding not counted)."""
    total = 0
    for x in prompts:
        n = len(x)
        total += shape.tokens(0, n, shape.layers) + (n if all_logits else 1) * 2 * shape.d * shape.vocab
    return n_coef * total


# --------------------------------------------------------------------------- timing


class PeakRSS:
    """Peak resident set size (bytes) of this process while the block runs, sampled."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self._page
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRSS:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


@dataclass
class Timing:
    name: str
    seconds: float
    peak_bytes: int
    result: SweepResult | None = None
    note: str = ""


def timed(name: str, lm: LoadedModel, fn: Callable[[], SweepResult]) -> Timing:
    cuda = lm.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as rss:
        t = time.perf_counter()
        res = fn()
        if cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
    peak = rss.peak
    note = ""
    if cuda:
        note = f"GPU peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    print(f"  {name}: {dt:.2f} s", file=sys.stderr)
    return Timing(name, dt, peak, res, note)


# --------------------------------------------------------------------------- repeng


REPENG_SCRIPT = r'''
import json, resource, sys, time
import numpy as np, torch
from transformers import AutoModelForCausalLM
from repeng import ControlModel, ControlVector

spec = json.load(open(sys.argv[1]))
torch.set_num_threads(spec["threads"])
model = AutoModelForCausalLM.from_pretrained(spec["checkpoint"], dtype=torch.float32).eval()
layers = [int(k) for k in spec["vectors"]]
control = ControlModel(model, layers)
vector = ControlVector(model_type=model.config.model_type,
                       directions={int(k): np.asarray(v, np.float32) for k, v in spec["vectors"].items()})
ids, cands, bs = spec["prompts"], spec["candidates"], spec["batch_size"]
out = np.full((len(spec["coefficients"]), len(ids), max(map(len, cands))), np.nan)

def run(coefs, prompts):
    for ci, c in enumerate(coefs):
        control.set_control(vector, c)
        for b in range(0, len(prompts), bs):
            batch = prompts[b:b + bs]
            width = max(map(len, batch))
            tok = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for j, x in enumerate(batch):  # left padding: repeng masks steering before position 0
                tok[j, width - len(x):] = torch.tensor(x)
                mask[j, width - len(x):] = 1
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = control(input_ids=tok, attention_mask=mask, position_ids=pos,
                             use_cache=False, logits_to_keep=1).logits[:, -1]
            lp = torch.log_softmax(logits.float(), -1)
            for j in range(len(batch)):
                cj = cands[b + j]
                out[ci, b + j, :len(cj)] = lp[j, cj].double().numpy()
    control.reset()

with torch.inference_mode():
    run(spec["coefficients"][:1], ids[:1])  # warm-up
    t = time.perf_counter()
    run(spec["coefficients"], ids)
    dt = time.perf_counter() - t
np.save(spec["out"], out)
print(json.dumps({"seconds": dt, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
'''


def repeng_python(create: bool) -> tuple[Path | None, str]:
    """The repeng venv's python (created on demand under the cache dir), or None and why not."""
    venv = default_cache_dir() / "bench" / "repeng-venv"
    python = venv / "bin" / "python"
    ready = venv / "READY"
    if ready.exists() and python.exists():
        return python, ""
    if not create:
        return None, f"repeng venv not ready at {venv} (a full run creates it; --quick does not)"
    print(f"  creating {venv} (torch==2.13.0, {REPENG_SPEC}) ...", file=sys.stderr)
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(python), "-m", "pip", "install", "-q", f"torch=={torch.__version__.split('+')[0]}"],
             [str(python), "-m", "pip", "install", "-q", REPENG_SPEC]]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return None, f"'{' '.join(cmd[-3:])}' failed: {' | '.join(tail)}"
    ready.write_text(REPENG_SPEC)
    return python, ""


def time_repeng(s: Setup, create: bool) -> Timing:
    if s.checkpoint is None:
        return Timing("repeng 0.4", float("nan"), 0, note="n/a: needs a saved checkpoint "
                      "(random-weight shapes are built in memory)")
    python, why = repeng_python(create)
    if python is None:
        return Timing("repeng 0.4", float("nan"), 0, note=f"n/a: {why}")
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"checkpoint": str(s.checkpoint), "prompts": s.prompts, "candidates": s.candidates,
                "coefficients": s.coefficients, "batch_size": s.batch_size,
                "vectors": {str(k): v.tolist() for k, v in s.vectors.items()},
                "threads": torch.get_num_threads(), "out": str(Path(tmp) / "out.npy")}
        (Path(tmp) / "spec.json").write_text(json.dumps(spec))
        (Path(tmp) / "run.py").write_text(REPENG_SCRIPT)
        proc = subprocess.run([str(python), str(Path(tmp) / "run.py"), str(Path(tmp) / "spec.json")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-3:]
            return Timing("repeng 0.4", float("nan"), 0, note=f"n/a: failed: {' | '.join(tail)}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        logprobs = np.load(str(spec["out"]))
    res = SweepResult(np.asarray(s.coefficients), logprobs, None)
    print(f"  repeng 0.4: {info['seconds']:.2f} s", file=sys.stderr)
    return Timing("repeng 0.4", float(info["seconds"]), int(info["peak_rss"]), res,
                  note="separate process")


# --------------------------------------------------------------------------- main


def _max_dp(a: SweepResult | None, b: SweepResult | None) -> float:
    if a is None or b is None:
        return float("nan")
    return float(np.nanmax(np.abs(np.exp(a.logprobs) - np.exp(b.logprobs))))


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer prompts and coefficients (< 60 s)")
    ap.add_argument("--shape", choices=["embedded", *SHAPES], default="embedded")
    ap.add_argument("--random-weights", action="store_true",
                    help="random weights of --shape built on --device (required for shapes "
                         "other than embedded)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default=None, help="float32 (CPU default) or bfloat16")
    ap.add_argument("--prompts", type=int, default=None)
    ap.add_argument("--coefficients", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-repeng", action="store_true", help="skip the repeng comparison")
    args = ap.parse_args(argv)
    if args.shape != "embedded" and not args.random_weights:
        ap.error(f"--shape {args.shape} needs --random-weights (no download)")
    return args


def main(argv: Sequence[str] | None = None) -> str:
    args = parse(argv)
    s = setup_embedded(args) if args.shape == "embedded" else setup_random(args)
    lm = s.lm
    shape = Shape.of(lm)
    first = min(s.vectors)
    n, c = len(s.prompts), len(s.coefficients)
    lens = [len(x) for x in s.prompts]
    print(f"model {lm.name} ({lm.num_layers} layers, d={shape.d}, {lm.dtype}, {lm.device}); "
          f"{n} prompts, {np.mean(lens):.1f} tokens on average, shared prefix "
          f"{common_prefix_length(s.prompts)}; layers {first}-{max(s.vectors)}; {c} coefficients "
          f"{s.coefficients[0]:g}..{s.coefficients[-1]:g}; batch {s.batch_size}; "
          f"torch threads {torch.get_num_threads()}", file=sys.stderr)

    def call(fn: Callable[..., SweepResult], **kw: Any) -> Callable[[], SweepResult]:
        return lambda: fn(lm, s.vectors, s.coefficients, s.prompts, s.candidates,
                          batch_size=s.batch_size, **kw)

    # Warm-up (first-call allocations, lazy imports) on one prompt.
    for fn in (sweep, sweep_loop):
        fn(lm, s.vectors, s.coefficients[:1], s.prompts[:2], s.candidates[:2], batch_size=2)
    runs = [timed("full loop", lm, call(sweep_loop, last_only=False)),
            timed("last-position loop", lm, call(sweep_loop, last_only=True))]
    if args.no_repeng:
        runs.append(Timing("repeng 0.4", float("nan"), 0, note="n/a: --no-repeng"))
    else:
        runs.append(time_repeng(s, create=not args.quick))
    gemm_rows = token_budget(lm, s.batch_size)
    meter = gemm_meter(lm, [gemm_rows])
    meter.measure()  # before and after our run: the fastest spell of the machine counts
    runs.append(timed("ours (empirics.sweep)", lm, call(sweep)))
    meter.measure()
    need = necessary_flops(shape, s.prompts, first, c)
    replay_s = gemm_replay(lm, need, gemm_rows)
    meter.measure()
    rate = meter.best
    limit_s = need / rate
    ref, ours = runs[0], runs[-1]

    flops = {"full loop": loop_flops(shape, s.prompts, c, True),
             "last-position loop": loop_flops(shape, s.prompts, c, False),
             "repeng 0.4": loop_flops(shape, s.prompts, c, False)}
    print(f"\nGEMM rate at the model's shapes ({gemm_rows} rows): "
          f"{meter.describe(1e9, 'GFLOP/s')}; necessary work {need / 1e9:.1f} GFLOP "
          f"({need / 1e9 / (n * c):.2f} per prompt x coefficient); limit {limit_s:.2f} s")
    cols = ["method", "wall s", "eval/s", "GFLOP done", "useful GFLOP/s", "peak RSS GiB",
            "x full loop", "max |dp| vs loop", "note"]
    rows: list[list[str]] = []
    for r in runs:
        ok = r.seconds == r.seconds  # NaN: not run
        rows.append([r.name, f"{r.seconds:.2f}" if ok else "n/a",
                     f"{n * c / r.seconds:.2f}" if ok else "n/a",
                     f"{flops.get(r.name, need) / 1e9:.1f}",
                     f"{need / 1e9 / r.seconds:.1f}" if ok else "n/a",
                     f"{r.peak_bytes / 2**30:.2f}" if ok else "n/a",
                     f"{ref.seconds / r.seconds:.2f}" if ok else "n/a",
                     f"{_max_dp(r.result, ref.result):.2e}" if ok else "n/a", r.note])
    rows.append(["limit (necessary/GEMM)", f"{limit_s:.2f}", f"{n * c / limit_s:.2f}",
                 f"{need / 1e9:.1f}", f"{rate / 1e9:.1f}", "", f"{ref.seconds / limit_s:.2f}", "",
                 "GEMM rate measured in this run"])
    rows.append(["GEMM-only replay of the necessary work", f"{replay_s:.2f}",
                 f"{n * c / replay_s:.2f}", f"{need / 1e9:.1f}", f"{need / 1e9 / replay_s:.1f}", "",
                 f"{ref.seconds / replay_s:.2f}", "",
                 "the limit's products alone, timed once: what this machine sustained"])
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    rep = runs[2]
    vs_repeng = f"{rep.seconds / ours.seconds:.2f}" if rep.seconds == rep.seconds else "n/a"
    line = (f"sweep: vs_loop={ref.seconds / ours.seconds:.2f} "
            f"vs_loop_last={runs[1].seconds / ours.seconds:.2f} vs_repeng={vs_repeng} "
            f"limit_frac={limit_s / ours.seconds:.2f} max_abs_diff={_max_dp(ours.result, ref.result):.2e} "
            f"replay_frac={limit_s / replay_s:.2f}")
    print(line)
    return line


if __name__ == "__main__":
    main()
    sys.stdout.flush()
