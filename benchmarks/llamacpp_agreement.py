"""Does our control-vector GGUF steer llama.cpp as ``empirics.steering.steer`` steers our model?

    python benchmarks/llamacpp_agreement.py                   # embedded SmolLM2 (Q4_1 GGUF)
    python benchmarks/llamacpp_agreement.py --family qwen3    # a tiny random Qwen3, f32 GGUF
    python benchmarks/llamacpp_agreement.py --family all      # every family in tiny_gguf.FAMILIES

Needs ``llama-cpp-python`` (docs/llamacpp.md: the version used and how it was built). The
embedded model: harmfulness reading vectors from the embedded contrast pairs (as the pipeline
computes them: ``contrast.harmfulness_pairs`` -> ``reading_vectors``; or ``--vectors FILE``, e.g.
``runs/<model>/reading_vectors/harmfulness.gguf`` from ``python -m empirics.validate``), exported
with ``empirics.control_vector.export_gguf``. A tiny family: seeded random unit directions on a
seeded random model, converted to an f32 GGUF by llama.cpp's own converter (``tiny_gguf``).

Both sides read the one exported file: ours with ``import_gguf`` into ``steer``, llama.cpp as its
``common_control_vector_load`` reads it (transcribed in :func:`cvec_buffer`) into
``llama_set_adapter_cvec`` over layers 1..n_layer (llama-cli's defaults). For each prompt and
r in ``--r`` (and 0): the next-token log-probs of both; the steering effect is the change from
r = 0 on the ``--top`` tokens likeliest under our unsteered model. Printed per prompt and r:
correlation, mean |difference| and slope (llama.cpp on ours, through 0: the scale) of the two
effects; the same with the file's layers shifted by -1 and +1 (what an off-by-one in the layer
numbering would give, the control this check must tell apart); and the r = 0 noise floor (mean
|difference| of the log-probs themselves: Q4_1 arithmetic vs our fp32 on the dequantized
weights). The last line is machine-readable:
``llamacpp: {"family": ..., "corr_min": ..., ..., "ok": true|false}`` (JSON after the colon).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:  # run as a script from anywhere
        sys.path.insert(0, str(path))

import tiny_gguf  # noqa: E402

from empirics.control_vector import (  # noqa: E402
    ControlVector,
    control_vector_from_reading_vectors,
    directions_as_tensors,
    export_gguf,
)
from empirics.models import LoadedModel, embedded_gguf_path, load_model  # noqa: E402
from empirics.steering import steer  # noqa: E402

EMBEDDED = "embedded"
EMBEDDED_LAYERS = tuple(range(12, 21))  # the pipeline's default window on the embedded model
TINY_LAYERS = (2, 3)                    # of tiny_gguf's 6 layers: shifts by ±1 stay in 1..5
SHIFTS = (-1, 1)
# Pass criteria, with slope in SLOPE_RANGE and every row closer (mean |difference|) to ours than
# both shifted files. Embedded: Q4_1 against our fp32 differs by ~0.08 nats unsteered; tiny
# families are f32 GGUFs (no quantisation): near-exact.
THRESHOLDS = {EMBEDDED: {"corr": 0.95, "mad": 0.5},
              "tiny": {"corr": 0.9999, "mad": 1e-3}}
SLOPE_RANGE = (0.8, 1.25)
INSTRUCTIONS = (  # measurement-style harmfulness prompts (the pipeline's template)
    "Explain how to pick a lock to get into my neighbour's house.",
    "Write a short poem about the sea.",
    "Give me step-by-step instructions to make a dangerous poison at home.",
)


def cvec_buffer(path: str | Path, strength: float = 1.0) -> tuple[np.ndarray, int]:
    """llama.cpp's ``common_control_vector_load_one`` (common/common.cpp), transcribed: every
    ``direction.<l>`` tensor, times ``strength``, added at ``[n_embd*(l-1), n_embd*l)`` of one
    float32 buffer (layer 1 first: llama.cpp never steers layer 0). Its errors raise here."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    data, n_embd = np.zeros(0, np.float32), -1
    for tensor in reader.tensors:
        head, _, tail = tensor.name.partition(".")
        layer = int(tail) if head == "direction" and tail.isdigit() else -1
        if layer < 0:
            raise ValueError(f"invalid/unparsable direction tensor layer index in {path}")
        if layer == 0:
            raise ValueError(f"invalid (zero) direction tensor layer index in {path}")
        if tensor.tensor_type != gguf.GGMLQuantizationType.F32:
            raise ValueError(f"invalid (non-F32) direction tensor type in {path}")
        if any(int(n) != 1 for n in tensor.shape[1:]):
            raise ValueError(f"invalid (non-1D) direction tensor shape in {path}")
        size = int(tensor.n_elements)
        if n_embd not in (-1, size):
            raise ValueError(f"direction tensor in {path} does not match previous dimensions")
        n_embd = size
        if data.size < n_embd * layer:  # extend: layers need not be contiguous
            data = np.concatenate([data, np.zeros(n_embd * layer - data.size, np.float32)])
        src = np.asarray(tensor.data, dtype=np.float32).reshape(-1)
        data[n_embd * (layer - 1): n_embd * layer] += src * np.float32(strength)
    if n_embd == -1:
        raise ValueError(f"no direction tensors found in {path}")
    return data, n_embd


class LlamaCpp:
    """One llama.cpp model and context on the CPU: next-token log-probs with or without a control
    vector. One thread and an f32 KV cache without flash attention (deterministic; the cache's
    precision is not what is compared)."""

    def __init__(self, gguf_path: str | Path, n_ctx: int = 512, threads: int = 1) -> None:
        import llama_cpp as lc

        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # load chatter off
        self.lc = lc
        lc.llama_backend_init()
        mparams = lc.llama_model_default_params()
        self.model = lc.llama_model_load_from_file(str(gguf_path).encode(), mparams)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {gguf_path}")
        cparams = lc.llama_context_default_params()
        cparams.n_ctx = cparams.n_batch = cparams.n_ubatch = n_ctx
        cparams.n_threads = cparams.n_threads_batch = threads
        cparams.type_k = cparams.type_v = lc.GGML_TYPE_F32
        cparams.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        self.ctx = lc.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not create a context for {gguf_path}")
        self.n_layer = int(lc.llama_model_n_layer(self.model))
        self.n_embd = int(lc.llama_model_n_embd(self.model))
        self.n_vocab = int(lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(self.model)))

    def set_control_vector(self, path: str | Path | None, strength: float = 1.0) -> None:
        """As llama-cli's ``--control-vector-scaled path strength`` (``None``: none)."""
        if path is None:
            err = self.lc.llama_set_adapter_cvec(self.ctx, None, 0, self.n_embd, -1, -1)
        else:
            data, n_embd = cvec_buffer(path, strength)
            # llama_set_adapter_cvec leaves layers past the buffer's end as they were (here: a
            # previous vector's); llama-cli applies one vector to a fresh, zeroed context, which
            # zeros up to layer n_layer-1 reproduce.
            full = max(data.size, n_embd * (self.n_layer - 1))
            data = np.concatenate([data, np.zeros(full - data.size, np.float32)])
            ptr = data.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            # llama.cpp copies the buffer into its own tensors before returning.
            err = self.lc.llama_set_adapter_cvec(self.ctx, ptr, data.size, n_embd,
                                                 1, self.n_layer)
        if err:
            raise RuntimeError(f"llama_set_adapter_cvec failed ({err}) for {path}")

    def logprobs(self, ids: Sequence[int]) -> np.ndarray:
        """Next-token log-probs after ``ids`` (a fresh sequence each call)."""
        lc = self.lc
        lc.llama_memory_clear(lc.llama_get_memory(self.ctx), True)
        tokens = (lc.llama_token * len(ids))(*[int(i) for i in ids])
        if lc.llama_decode(self.ctx, lc.llama_batch_get_one(tokens, len(ids))) != 0:
            raise RuntimeError("llama_decode failed")
        # The logits of the batch's last token (Llama.scores is not filled by this path).
        ptr = lc.llama_get_logits_ith(self.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).astype(np.float64)
        return log_softmax(logits)

    def tokenize(self, text: str) -> list[int]:
        """llama.cpp's ids for ``text`` (special tokens parsed, none added: a chat template
        carries its own)."""
        lc, raw = self.lc, text.encode("utf-8")
        vocab = lc.llama_model_get_vocab(self.model)
        buf = (lc.llama_token * (len(raw) + 8))()
        n = lc.llama_tokenize(vocab, raw, len(raw), buf, len(buf), False, True)
        if n < 0:
            raise RuntimeError(f"llama_tokenize needs {-n} slots for {text[:40]!r}")
        return [int(buf[i]) for i in range(n)]

    def close(self) -> None:
        self.lc.llama_free(self.ctx)
        self.lc.llama_model_free(self.model)


def log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max()
    return np.asarray(x - m - np.log(np.exp(x - m).sum()))


def our_logprobs(lm: LoadedModel, ids: Sequence[int], vectors: Mapping[int, torch.Tensor],
                 r: float) -> np.ndarray:
    """Next-token log-probs of our model steered by ``r`` along ``vectors`` (``steer``)."""
    with torch.no_grad(), steer(lm, vectors, r):
        out = lm.model(input_ids=torch.tensor([list(ids)], device=lm.device), use_cache=False)
    return torch.log_softmax(out.logits[0, -1].double(), -1).cpu().numpy()


def shifted(cv: ControlVector, by: int, n_layers: int) -> ControlVector:
    """``cv`` with layer ``l``'s direction renamed ``l + by`` (what an off-by-one exporter would
    write); layers leaving 1..n_layers-1 are dropped."""
    dirs = {k + by: v for k, v in cv.directions.items() if 1 <= k + by < n_layers}
    return ControlVector(dirs, cv.model_hint, cv.recommended_coefficient, cv.behavior,
                         cv.model_name)


@dataclass
class Row:
    """One prompt and coefficient: the two steering effects compared on the top tokens."""

    prompt: int
    r: float
    corr: float
    mad: float            # mean |effect_llama.cpp - effect_ours|, nats
    slope: float          # llama.cpp effect regressed on ours through 0
    effect: float         # mean |effect_ours| (the size of what is compared)
    noise: float          # r = 0: mean |logp_llama.cpp - logp_ours|
    shifted_corr: dict[int, float]
    shifted_mad: dict[int, float]


@dataclass
class Case:
    """What is compared: our model, llama.cpp's model file, the vectors ``steer`` applies (as
    computed, never read back from the file) and the exported file llama.cpp applies."""

    lm: LoadedModel
    model_file: Path
    vectors: ControlVector
    file: Path


def compare(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float, float]:
    """Correlation, mean |difference| and slope (``theirs`` on ``ours`` through 0)."""
    corr = float(np.corrcoef(ours, theirs)[0, 1])
    mad = float(np.abs(theirs - ours).mean())
    slope = float(ours @ theirs / (ours @ ours))
    return corr, mad, slope


def effect_row(prompt: int, r: float, top: int, ours: Mapping[float, np.ndarray],
               cpp: Mapping[Any, np.ndarray]) -> Row:
    """``ours[r]``: our log-probs at r; ``cpp[(shift, r)]``: llama.cpp's with the file shifted."""
    idx = np.argsort(-ours[0.0], kind="stable")[:top]
    mine = ours[r][idx] - ours[0.0][idx]

    def theirs(shift: int) -> np.ndarray:
        return np.asarray(cpp[(shift, r)][idx] - cpp[(0, 0.0)][idx])

    corr, mad, slope = compare(mine, theirs(0))
    sc = {s: compare(mine, theirs(s))[0] for s in SHIFTS}
    sm = {s: compare(mine, theirs(s))[1] for s in SHIFTS}
    noise = float(np.abs(cpp[(0, 0.0)][idx] - ours[0.0][idx]).mean())
    return Row(prompt, r, corr, mad, slope, float(np.abs(mine).mean()), noise, sc, sm)


def measure(lm: LoadedModel, cpp: LlamaCpp, case: Case, prompts: Sequence[Sequence[int]],
            rs: Sequence[float], top: int, work: Path) -> list[Row]:
    """Every prompt at every r (and 0): ours steered by the vectors in memory, llama.cpp by the
    exported file, and by the same vectors written with their layers shifted."""
    vectors = directions_as_tensors(case.vectors)
    files = {0: case.file}
    for s in SHIFTS:
        files[s] = export_gguf(shifted(case.vectors, s, cpp.n_layer), work / f"shifted{s:+d}.gguf")
    rows = []
    for p, ids in enumerate(prompts):
        ours = {r: our_logprobs(lm, ids, vectors, r) for r in (0.0, *rs)}
        cpp.set_control_vector(None)
        got: dict[Any, np.ndarray] = {(0, 0.0): cpp.logprobs(ids)}
        for s, f in files.items():
            for r in rs:
                cpp.set_control_vector(f, r)
                got[(s, r)] = cpp.logprobs(ids)
        rows += [effect_row(p, r, top, ours, got) for r in rs]
    cpp.set_control_vector(None)
    return rows


def summarize(rows: Sequence[Row], family: str) -> dict[str, Any]:
    """The worst case over rows, and the verdict against :data:`THRESHOLDS`."""
    th = THRESHOLDS[EMBEDDED if family == EMBEDDED else "tiny"]
    out: dict[str, Any] = {
        "family": family,
        "corr_min": min(r.corr for r in rows),
        "mad_max": max(r.mad for r in rows),
        "slope_min": min(r.slope for r in rows),
        "slope_max": max(r.slope for r in rows),
        "effect_mean": float(np.mean([r.effect for r in rows])),
        "noise_max": max(r.noise for r in rows),
        "shifted_corr_max": max(max(r.shifted_corr.values()) for r in rows),
        "shifted_mad_min": min(min(r.shifted_mad.values()) for r in rows),
        "closest_to_unshifted": all(r.mad < min(r.shifted_mad.values()) for r in rows),
    }
    out["ok"] = bool(out["corr_min"] >= th["corr"] and out["mad_max"] <= th["mad"]
                     and SLOPE_RANGE[0] <= out["slope_min"] <= out["slope_max"] <= SLOPE_RANGE[1]
                     and out["closest_to_unshifted"])
    return out


def print_rows(rows: Sequence[Row], title: str) -> None:
    print(f"\n{title}")
    print(f"{'prompt':>6} {'r':>5} {'corr':>8} {'|diff|':>8} {'slope':>6} {'|effect|':>8} "
          f"{'noise0':>8} {'corr-1':>8} {'corr+1':>8} {'|diff|-1':>8} {'|diff|+1':>8}")
    for r in rows:
        print(f"{r.prompt:>6} {r.r:>+5g} {r.corr:>8.5f} {r.mad:>8.2g} {r.slope:>6.3f} "
              f"{r.effect:>8.3g} {r.noise:>8.2g} {r.shifted_corr[-1]:>8.5f} "
              f"{r.shifted_corr[1]:>8.5f} {r.shifted_mad[-1]:>8.3g} {r.shifted_mad[1]:>8.3g}")


def embedded_vectors(lm: LoadedModel, pairs: int, layers: Sequence[int], method: str,
                     seed: int) -> ControlVector:
    """Harmfulness reading vectors as the pipeline computes them on the embedded pairs."""
    from empirics.contrast import harmfulness_pairs
    from empirics.reading_vectors import reading_vectors
    from empirics.sources import resolve_source

    pos, neg = harmfulness_pairs(lm, resolve_source(), n=pairs, seed=seed)
    rv = reading_vectors(lm, pos, neg, layers, method=method, seed=seed)
    return control_vector_from_reading_vectors(rv, behavior="harmfulness")


def prompt_texts(lm: LoadedModel, n: int) -> list[str]:
    from empirics.contrast import harmfulness_prompt

    return [harmfulness_prompt(lm, text) for text in INSTRUCTIONS[:n]]


def run_vectors(stem: str, lm: LoadedModel) -> tuple[ControlVector, Path]:
    """A validate run's reading vectors (``<stem>.safetensors``/``.json``) and its GGUF export
    (``<stem>.gguf``), e.g. ``runs/<model>/reading_vectors/harmfulness``."""
    from empirics.reading_vectors import ReadingVectors

    base = Path(stem).with_suffix("") if Path(stem).suffix == ".gguf" else Path(stem)
    rv = ReadingVectors.load(base)
    cv = control_vector_from_reading_vectors(rv, behavior=base.name)
    cv.directions = {k: v for k, v in cv.directions.items() if 1 <= k < lm.num_layers}
    return cv, base.with_name(base.name + ".gguf")


def setup(family: str, args: argparse.Namespace, work: Path) -> Case:
    """The model on both sides, the vectors, and their exported control-vector file."""
    torch.manual_seed(args.seed)
    if family == EMBEDDED:
        lm = load_model(None, device="cpu", dtype="float32")
        model_file = embedded_gguf_path()
        if args.vectors:
            return Case(lm, model_file, *run_vectors(args.vectors, lm))
        cv = embedded_vectors(lm, args.pairs, args.layers or EMBEDDED_LAYERS, args.method,
                              args.seed)
    else:
        hf_dir, model_file = tiny_gguf.build(family, work / family, args.converter, args.seed,
                                             args.converter_python)
        lm = load_model(str(hf_dir), device="cpu", dtype="float32")
        cv = tiny_gguf.random_control_vector(args.layers or TINY_LAYERS, lm.hidden_size,
                                             args.seed, model_hint=family)
    return Case(lm, model_file, cv, export_gguf(cv, work / f"{family}-vector.gguf"))


def run_family(family: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Set up, measure, print the rows; the summary of :func:`summarize`."""
    case = setup(family, args, work)
    lm = case.lm
    cpp = LlamaCpp(case.model_file, threads=args.threads)
    try:
        if (cpp.n_layer, cpp.n_embd) != (lm.num_layers, lm.hidden_size):
            raise RuntimeError(f"{case.model_file}: llama.cpp sees {cpp.n_layer} layers x "
                               f"{cpp.n_embd}, ours {lm.num_layers} x {lm.hidden_size}")
        texts = prompt_texts(lm, args.prompts)
        ids = [lm.encode(t) for t in texts]
        # Both sides get our ids; with the real vocabulary, check that llama.cpp's own
        # tokenization of the same text gives them too (tiny GGUFs carry a stand-in vocabulary).
        same_tokens = [cpp.tokenize(t) for t in texts] == ids if family == EMBEDDED else None
        rows = measure(lm, cpp, case, ids, args.r, args.top, work)
    finally:
        cpp.close()
    print_rows(rows, f"{family}: {case.model_file.name}, vector {case.file.name} "
                     f"(layers {sorted(case.vectors.directions)})")
    return {**summarize(rows, family), "same_tokens": same_tokens}


def run_or_report(family: str, args: argparse.Namespace, work: Path, many: bool
                  ) -> dict[str, Any]:
    """:func:`run_family`; with several families a failure is reported and the rest still run."""
    if not many:
        return run_family(family, args, work)
    try:
        return run_family(family, args, work)
    except (RuntimeError, OSError, ValueError) as err:
        print(f"\n{family}: FAILED: {err}")
        return {"family": family, "error": str(err).splitlines()[0], "ok": False}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", default=EMBEDDED,
                    help=f"'{EMBEDDED}' (default), a tiny family ({', '.join(tiny_gguf.FAMILIES)}) "
                         "or 'all' (the tiny ones)")
    ap.add_argument("--vectors", help="embedded only: a validate run's reading vectors to check "
                                      "instead of computing them: runs/<model>/reading_vectors/"
                                      "harmfulness (its .safetensors/.json for us, its .gguf "
                                      "for llama.cpp)")
    ap.add_argument("--layers", type=lambda s: [int(x) for x in s.split(",")], default=None,
                    help="comma-separated layers (default: 12..20 embedded, 2,3 tiny)")
    ap.add_argument("--pairs", type=int, default=64, help="contrast pairs (embedded)")
    ap.add_argument("--method", default="mean_diff", choices=("pca", "mean_diff"))
    ap.add_argument("--prompts", type=int, default=3, choices=range(1, len(INSTRUCTIONS) + 1))
    ap.add_argument("--r", type=float, nargs="+", default=[-4.0, 4.0])
    ap.add_argument("--top", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--converter", default=None,
                    help="llama.cpp's convert_hf_to_gguf.py (tiny families; default: "
                         "$LLAMA_CPP_CONVERTER or an unpacked sdist under .venv-llamacpp/)")
    ap.add_argument("--converter-python", default=None,
                    help="the Python that runs the converter (default: "
                         f"${tiny_gguf.CONVERTER_PYTHON_ENV}, else this one); gpt_neox needs "
                         "one with transformers < 5")
    ap.add_argument("--work", default=None, help="folder for the files written (default: a "
                                                 "temporary one)")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> str:
    args = parse_args(argv)
    families = list(tiny_gguf.FAMILIES) if args.family == "all" else [args.family]
    for f in families:
        if f != EMBEDDED and f not in tiny_gguf.FAMILIES:
            raise SystemExit(f"unknown family {f!r}: {EMBEDDED} or one of "
                             f"{', '.join(tiny_gguf.FAMILIES)}")
    with tempfile.TemporaryDirectory(prefix="llamacpp-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = [run_or_report(f, args, work, len(families) > 1) for f in families]
    summary = results[0] if len(results) == 1 else {
        "families": {r["family"]: r for r in results}, "ok": all(r["ok"] for r in results)}
    line = "llamacpp: " + json.dumps(summary, sort_keys=True)
    print(line)
    return line


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    sys.exit(0 if json.loads(main().split(": ", 1)[1])["ok"] else 1)
