"""The main job: steer a real model, sweep the coefficient, measure, check the theory, report.

``python -m empirics.validate --help`` lists the flags; docs/empirics.md documents them and the
report schema. User errors (bad flags, missing data or model package) exit with code 2 and a
one-line message; results are written atomically and finished coefficient chunks are cached
under ``OUT/.cache/<hash>/`` so a rerun with the same arguments resumes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDED_DEFAULT_LAYERS = (12, 20)  # inclusive, for the 30-layer embedded SmolLM2-135M
QUICK_GRID = (-4.0, -1.0, 0.0, 1.0, 4.0)
CHUNK = 6  # coefficients per sweep call: enough to batch, small enough to checkpoint often
BEHAVIORS = ("harmfulness", "bias")
HELPFULNESS_SETS = ("knowledge", "mmlu", "arc")
DEFAULT_MMLU = ("international_law", "medical_genetics", "high_school_computer_science")
# Prompt counts per group: default run (≤ 10 min on 2 CPU cores) and --quick (< 60 s).
DEFAULT_COUNTS = {"harmful": 32, "harmless": 16, "bias": 32, "helpfulness": 48}
QUICK_COUNTS = {"harmful": 4, "harmless": 2, "bias": 4, "helpfulness": 6}
CONTRAST_PAIRS = {"default": 64, "quick": 16}
# Prompts per pool (target group, helpfulness) that get a JVP: ~1 s each on CPU.
THEORY_PROMPTS = {"default": 16, "quick": 4}


class UserError(Exception):
    """Bad input the user can fix; reported as one line with exit code 2."""


# ---------------------------------------------------------------------------- argument parsing


def parse_layers(spec: str | None, num_layers: int, embedded: bool) -> list[int]:
    """``"12-20"`` (inclusive) or ``"12,14,16"``; default 12–20 for the embedded model, the middle
    third of the layers otherwise. ``ValueError`` for an index outside ``0..num_layers-1``."""
    if spec is None or spec.strip() == "":
        if embedded and num_layers > EMBEDDED_DEFAULT_LAYERS[1]:
            lo, hi = EMBEDDED_DEFAULT_LAYERS
        else:
            lo, hi = num_layers // 3, max(num_layers // 3, (2 * num_layers) // 3 - 1)
        return list(range(lo, hi + 1))
    layers: list[int] = []
    try:
        for part in spec.split(","):
            part = part.strip()
            if re.fullmatch(r"\d+\s*-\s*\d+", part):
                a, b = (int(x) for x in part.split("-"))
                if b < a:
                    raise ValueError(f"--layers range {part!r} is decreasing")
                layers.extend(range(a, b + 1))
            else:
                layers.append(int(part))
    except ValueError as err:
        raise ValueError(f"--layers {spec!r}: expected e.g. '12-20' or '12,14,16' ({err})") from err
    bad = [layer for layer in layers if not 0 <= layer < num_layers]
    if bad:
        raise ValueError(f"--layers {spec!r}: layer {bad[0]} out of range; the model has layers "
                         f"0..{num_layers - 1}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"--layers {spec!r} repeats a layer")
    return sorted(layers)


def default_grid() -> list[float]:
    """−10..10 step 1, plus the half steps within ±3 (where the linear theory should hold)."""
    base = {float(x) for x in range(-10, 11)} | {x / 2 for x in range(-6, 7)}
    return sorted(base)


def parse_grid(spec: str | None) -> list[float]:
    """``"-10:10:1"`` (inclusive start:stop:step) or an explicit increasing list ``"-2,0,2"``."""
    if spec is None:
        return default_grid()
    text = spec.strip()
    try:
        if ":" in text:
            parts = [float(x) for x in text.split(":")]
            if len(parts) != 3:
                raise ValueError("need start:stop:step")
            start, stop, step = parts
            if not all(math.isfinite(x) for x in parts):
                raise ValueError("non-finite value")
            if step <= 0 or stop < start:
                raise ValueError("need step > 0 and stop >= start")
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            if n > 10_000:
                raise ValueError(f"{n} coefficients is too many")
            grid = [round(start + i * step, 10) for i in range(n)]
        else:
            grid = [float(x) for x in text.split(",") if x.strip() != ""]
    except ValueError as err:
        raise ValueError(f"--grid {spec!r}: expected e.g. '-10:10:1' or '-2,-1,0,1,2' ({err})") from err
    if not grid:
        raise ValueError(f"--grid {spec!r} is empty")
    if not all(math.isfinite(x) for x in grid):
        raise ValueError(f"--grid {spec!r} has a non-finite coefficient")
    if any(b <= a for a, b in zip(grid, grid[1:], strict=False)):
        raise ValueError(f"--grid {spec!r} must be strictly increasing")
    return grid


def model_slug(name: str) -> str:
    """A directory-safe name for ``runs/<model-slug>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "model"


@dataclass
class Settings:
    """Every argument that shapes the results (hashed into the cache key)."""

    model: str | None
    layers: str | None
    grid: list[float]
    behaviors: list[str]
    helpfulness: str
    mmlu_subjects: list[str]
    few_shot: int
    harm_format: str
    data_dir: str | None
    out: str | None
    seed: int
    device: str | None
    dtype: str | None
    method: str
    n_prompts: int | None
    kappa: float
    epsilon: float
    quick: bool
    control: bool
    batch_size: int
    n_boot: int
    theory_prompts: int
    progress: bool = True
    counts: dict[str, int] = field(default_factory=dict)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m empirics.validate",
        description="Steer a model along reading vectors, sweep the coefficient r_e, measure "
                    "alignment and helpfulness, and check the theory of Wolf et al. (2401.16332).")
    p.add_argument("--model", help="HF id or local path (default: embedded SmolLM2-135M-Instruct)")
    p.add_argument("--layers", help="steered layers, e.g. '12-20' or '12,14,16' (default: 12-20 "
                                    "for the embedded model, the middle third otherwise); 'plan' or "
                                    "'plan:PATH': the pick of python -m empirics.plan for the "
                                    "first behavior")
    p.add_argument("--grid", help="coefficients, '-10:10:1' or '-2,0,2' (default: -10..10 step 1 "
                                  "plus 0.5 steps within ±3)")
    p.add_argument("--behaviors", default="harmfulness,bias", help="comma list of harmfulness,bias")
    p.add_argument("--helpfulness", default="knowledge", choices=HELPFULNESS_SETS)
    p.add_argument("--mmlu-subjects", default=",".join(DEFAULT_MMLU))
    p.add_argument("--few-shot", type=int, default=0, choices=(0, 5),
                   help="MMLU exemplars from mmlu/dev (0 or 5)")
    p.add_argument("--harm-format", default="yesno", choices=("yesno", "first_token"),
                   help="harmfulness outcome: Yes/No to 'Will you help?' or the reply's first token")
    p.add_argument("--data-dir", help="data directory (else $STEERING_DATA_DIR)")
    p.add_argument("--out", help="output directory (default runs/<model-slug>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:N, mps (default: cuda when available)")
    p.add_argument("--dtype", help="float32, bfloat16, float16 (default: fp32 on CPU, bf16 on GPU)")
    p.add_argument("--method", default="pca", choices=("pca", "mean_diff"))
    p.add_argument("--n-prompts", type=int, help="prompts per group (default: 32 harmful, 16 "
                                                 "harmless, 32 bias, 48 helpfulness)")
    p.add_argument("--kappa", type=float, default=1.0, help="weight of helpfulness loss in U=G-κL")
    p.add_argument("--epsilon", type=float, default=0.05,
                   help="tolerated helpfulness loss for the 'max alignment with loss <= ε' "
                        "recommendation; also reports the smallest r with B >= 1-ε")
    p.add_argument("--quick", action="store_true", help="few prompts, five coefficients")
    p.add_argument("--no-control", action="store_true", help="skip the random-direction control")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--n-boot", type=int, help="bootstrap resamples (default 1000; 200 with --quick)")
    p.add_argument("--theory-prompts", type=int,
                   help="prompts per pool that get Δ by JVP (default 16; 4 with --quick)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int,
                   help="CPU threads for torch (default: torch's; 1 is far faster on a busy "
                        "machine, where threads contend)")
    return p


def settings_from_args(argv: Sequence[str] | None) -> Settings:
    """Parse and check the flags (``ValueError`` for bad values; layers are checked later)."""
    a = build_parser().parse_args(argv)
    behaviors = [b.strip() for b in a.behaviors.split(",") if b.strip()]
    unknown = [b for b in behaviors if b not in BEHAVIORS]
    if unknown or not behaviors:
        raise ValueError(f"--behaviors {a.behaviors!r}: choose from {','.join(BEHAVIORS)}")
    grid = list(QUICK_GRID) if a.quick and a.grid is None else parse_grid(a.grid)
    if 0.0 not in grid:  # r_e = 0 is the unsteered baseline every measure is relative to
        grid = sorted([*grid, 0.0])
        print("note: added r_e = 0 (the unsteered baseline) to the grid", file=sys.stderr)
    if a.n_prompts is not None and a.n_prompts < 2:
        raise ValueError(f"--n-prompts {a.n_prompts} must be at least 2")
    if not a.kappa >= 0 or not math.isfinite(a.kappa):
        raise ValueError(f"--kappa {a.kappa} must be a finite number >= 0")
    if not 0 < a.epsilon < 1:
        raise ValueError(f"--epsilon {a.epsilon} must be in (0, 1)")
    n_boot = a.n_boot if a.n_boot is not None else (200 if a.quick else 1000)
    theory_prompts = (a.theory_prompts if a.theory_prompts is not None
                      else THEORY_PROMPTS["quick" if a.quick else "default"])
    if a.threads is not None:
        if a.threads < 1:
            raise ValueError(f"--threads {a.threads} must be >= 1")
        import torch
        torch.set_num_threads(a.threads)
    if a.batch_size < 1 or n_boot < 10 or theory_prompts < 2:
        raise ValueError("--batch-size must be >= 1, --n-boot >= 10, --theory-prompts >= 2")
    counts = dict(QUICK_COUNTS if a.quick else DEFAULT_COUNTS)
    if a.n_prompts is not None:
        counts = {k: a.n_prompts for k in counts}
    subjects = [s.strip() for s in a.mmlu_subjects.split(",") if s.strip()]
    return Settings(
        model=a.model, layers=a.layers, grid=grid, behaviors=behaviors, helpfulness=a.helpfulness,
        mmlu_subjects=subjects, few_shot=a.few_shot, harm_format=a.harm_format,
        data_dir=a.data_dir, out=a.out, seed=a.seed, device=a.device, dtype=a.dtype,
        method=a.method, n_prompts=a.n_prompts, kappa=a.kappa, epsilon=a.epsilon, quick=a.quick,
        control=not a.no_control, batch_size=a.batch_size, n_boot=n_boot,
        theory_prompts=theory_prompts,
        progress=not a.no_progress, counts=counts)


# ---------------------------------------------------------------------------- cache


def digest(obj: Any) -> str:
    """Stable short hash of JSON-able data (settings, token ids, vector bytes' hashes)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class ChunkCache:
    """Finished sweep chunks as atomic ``.npz`` files under ``root``; counts hits and misses."""

    root: Path
    reused: int = 0
    computed: int = 0

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def get(self, key: str, count: bool = True) -> dict[str, np.ndarray] | None:
        """The cached arrays, or ``None``; ``count=False`` for non-sweep entries (JVPs)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError):  # unreadable: recompute rather than fail
            return None
        self.reused += int(count)
        return data

    def put(self, key: str, arrays: dict[str, np.ndarray], count: bool = True) -> None:
        from empirics.io import atomic_write

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]

        atomic_write(self.path(key), write)
        self.computed += int(count)


def vectors_hash(vectors: dict[int, Any]) -> str:
    """Hash of the exact steering vectors (layer and float32 bytes)."""
    return digest([(int(k), hashlib.sha256(np.asarray(v.cpu().float()).tobytes()).hexdigest())
                   for k, v in sorted(vectors.items())])


def chunked_sweep(lm: Any, vectors: dict[int, Any], grid: Sequence[float], prompts: Sequence[Any],
                  cache: ChunkCache, tag: str, batch_size: int, keep_hidden: bool,
                  progress: bool, sweep_fn: Callable[..., Any] | None = None) -> Any:
    """Sweep ``grid`` in chunks of ``CHUNK`` coefficients, reusing cached chunks."""
    from empirics.sweep import SweepResult, sweep
    run_sweep = sweep if sweep_fn is None else sweep_fn
    ids = [list(p.input_ids) for p in prompts]
    cands = [list(p.candidate_ids) for p in prompts]
    vec_hash = vectors_hash(vectors)
    base = digest({"ids": ids, "cands": cands, "vec": vec_hash, "hidden": keep_hidden})
    logprobs, hidden = [], []
    chunks = [list(grid[i:i + CHUNK]) for i in range(0, len(grid), CHUNK)]
    for k, coefs in enumerate(chunks):
        key = f"{tag}-{base}-{digest(coefs)}"
        got = cache.get(key)
        if got is None:
            res = run_sweep(lm, vectors, coefs, ids, cands, batch_size=batch_size,
                           keep_hidden=keep_hidden, progress=progress)
            got = {"logprobs": np.asarray(res.logprobs, dtype=np.float64)}
            if keep_hidden and res.final_hidden is not None:
                got["final_hidden"] = np.asarray(res.final_hidden, dtype=np.float32)
            cache.put(key, got)
            print(f"  [{tag}] chunk {k + 1}/{len(chunks)} computed", file=sys.stderr)
        else:
            print(f"  [{tag}] chunk {k + 1}/{len(chunks)} reused from cache", file=sys.stderr)
        logprobs.append(got["logprobs"])
        if "final_hidden" in got:
            hidden.append(got["final_hidden"])
    return SweepResult(coefficients=np.asarray(grid, dtype=float),
                       logprobs=np.concatenate(logprobs, axis=0),
                       final_hidden=np.concatenate(hidden, axis=0) if hidden else None)


# ---------------------------------------------------------------------------- preparation


@dataclass
class Prepared:
    """Everything the computation needs, checked: model, prompts, vectors, output paths."""

    settings: Settings
    lm: Any
    layers: list[int]
    data_dir: Path
    out: Path
    behavior_prompts: dict[str, list[Any]]   # behavior -> its measured prompts (several groups)
    helpfulness_prompts: list[Any]
    vectors: dict[str, Any]                  # behavior -> ReadingVectors
    control: dict[int, Any] | None
    cache: ChunkCache
    run_hash: str


def _sample(items: Sequence[Any], n: int, seed: int) -> list[Any]:
    """A seeded subset of ``n`` items in their original order."""
    if n >= len(items):
        return list(items)
    idx = sorted(np.random.default_rng(seed).choice(len(items), size=n, replace=False).tolist())
    return [items[i] for i in idx]


def _load_model(s: Settings) -> Any:
    from empirics.models import load_model
    return load_model(s.model, device=s.device, dtype=s.dtype)


def build_behavior_prompts(lm: Any, s: Settings, data_dir: Path) -> dict[str, list[Any]]:
    """Held-out measurement prompts, disjoint from the reading vectors' training prompts."""
    from empirics import data, tasks
    out: dict[str, list[Any]] = {}
    if "harmfulness" in s.behaviors:
        # harmful_val + harmful_test are disjoint from harmful_train (reading vectors).
        harmful = data.harmful_instructions(data_dir, "val") + data.harmful_instructions(data_dir, "test")
        harmless = data.harmless_instructions(data_dir, "val")
        out["harmfulness"] = (
            tasks.harmfulness_prompts(lm, _sample(harmful, s.counts["harmful"], s.seed), "harmful",
                                      fmt=s.harm_format)
            + tasks.harmfulness_prompts(lm, _sample(harmless, s.counts["harmless"], s.seed + 1),
                                        "harmless", fmt=s.harm_format))
    if "bias" in s.behaviors:
        from empirics.contrast import stereoset_split
        # Split by target: the bias vector never sees a measured target.
        _, measured = stereoset_split(data_dir, seed=s.seed)
        out["bias"] = tasks.bias_prompts(lm, _sample(measured, s.counts["bias"], s.seed + 2))
    return out


def build_helpfulness_prompts(lm: Any, s: Settings, data_dir: Path) -> list[Any]:
    from empirics import data, tasks
    n = s.counts["helpfulness"]
    if s.helpfulness == "knowledge":
        qs = data.knowledge_questions()
        return tasks.helpfulness_prompts(lm, _sample(qs, n, s.seed + 3), "knowledge")
    if s.helpfulness == "mmlu":
        prompts: list[Any] = []
        per = max(1, n // len(s.mmlu_subjects))
        for subject in s.mmlu_subjects:
            qs = data.mmlu(data_dir, [subject])
            subj_shots = (data.mmlu(data_dir, [subject], split="dev")[: s.few_shot]
                          if s.few_shot else [])
            prompts += tasks.helpfulness_prompts(lm, _sample(qs, per, s.seed + 3), f"mmlu:{subject}",
                                                 fmt="letters", few_shot=subj_shots)
        return prompts
    qs = data.arc(data_dir, "ARC-Easy", "Test")
    return tasks.helpfulness_prompts(lm, _sample(qs, n, s.seed + 3), "arc", fmt="letters")


def contrast_pairs(lm: Any, behavior: str, s: Settings, data_dir: Path) -> tuple[list[str], list[str]]:
    """Paired (positive = aligned, negative) prompts for the reading vector of ``behavior``."""
    from empirics import contrast
    n = CONTRAST_PAIRS["quick" if s.quick else "default"]
    if behavior == "harmfulness":  # harmful_train vs harmless_train: disjoint from measurement
        pos, neg = contrast.harmfulness_pairs(lm, data_dir, n=n, seed=s.seed)
    else:
        pos, neg = contrast.bias_pairs(lm, data_dir, n=n, seed=s.seed)
    return list(pos), list(neg)


def prepare(s: Settings) -> Prepared:
    """Load and check everything; raises ``ValueError``/``FileNotFoundError``/``ImportError``
    on bad input before anything is written."""
    from empirics.data import resolve_data_dir
    data_dir = resolve_data_dir(s.data_dir)
    lm = _load_model(s)
    from empirics.models import EMBEDDED_NAME
    if s.layers and s.layers.strip().startswith("plan"):
        # The planner's pick (python -m empirics.plan) for the first behavior.
        from empirics.plan import pick_layers
        layers = pick_layers(s.layers.strip(), lm.name, s.behaviors[0], lm.num_layers)
    else:
        layers = parse_layers(s.layers, lm.num_layers, embedded=lm.name == EMBEDDED_NAME)
    behavior_prompts = build_behavior_prompts(lm, s, data_dir)
    helpfulness = build_helpfulness_prompts(lm, s, data_dir)
    out = Path(s.out) if s.out else Path("runs") / model_slug(lm.name)
    # The directory key covers what the reading vectors depend on; each chunk's file name adds
    # its exact prompts, vectors and coefficients. So --kappa, --epsilon, --n-boot, ... reuse it.
    run_hash = digest({"model": lm.name, "dtype": str(lm.dtype), "device": str(lm.device),
                       "layers": layers, "method": s.method, "seed": s.seed,
                       "pairs": CONTRAST_PAIRS["quick" if s.quick else "default"],
                       "data_dir": str(data_dir.resolve())})
    cache = ChunkCache(out / ".cache" / run_hash)
    vectors: dict[str, Any] = {}
    for behavior in s.behaviors:
        vectors[behavior] = _reading_vectors(lm, behavior, s, data_dir, layers, cache.root)
    control = None
    if s.control:
        from empirics.reading_vectors import random_directions
        control = random_directions(layers, lm.hidden_size, s.seed + 1000)
    return Prepared(s, lm, layers, data_dir, out, behavior_prompts, helpfulness, vectors,
                    control, cache, run_hash)


def _reading_vectors(lm: Any, behavior: str, s: Settings, data_dir: Path, layers: list[int],
                     cache_root: Path) -> Any:
    """Reading vectors for ``behavior``, reused from the run cache when present."""
    from empirics.reading_vectors import ReadingVectors, reading_vectors
    path = cache_root / f"rv-{behavior}"
    if Path(f"{path}.json").is_file() and Path(f"{path}.safetensors").is_file():
        try:
            return ReadingVectors.load(path)
        except (OSError, ValueError):
            pass
    pos, neg = contrast_pairs(lm, behavior, s, data_dir)
    rv = reading_vectors(lm, pos, neg, layers, method=s.method, seed=s.seed)
    rv.save(path)
    return rv


# ---------------------------------------------------------------------------- computation


@dataclass
class DirectionRun:
    """One steering direction's sweep, split back into its prompt groups."""

    name: str                                     # behavior name or "control"
    vectors: dict[int, Any]
    prompts: list[Any]
    result: Any                                   # SweepResult over all of ``prompts``
    groups: dict[str, list[int]]                  # group -> prompt indices
    measures: dict[str, dict[str, np.ndarray]]    # group -> measure -> (C, N_group)

    def group_prompts(self, group: str) -> list[Any]:
        return [self.prompts[i] for i in self.groups[group]]

    def group_logprobs(self, group: str) -> np.ndarray:
        idx = self.groups[group]
        k = max(len(self.prompts[i].candidate_ids) for i in idx)
        return np.asarray(self.result.logprobs)[:, idx, :k]


def run_direction(p: Prepared, name: str, vectors: dict[int, Any], prompts: list[Any],
                  keep_hidden: bool) -> DirectionRun:
    """Sweep ``prompts`` along ``vectors`` over the grid (cached chunks) and measure each group."""
    from empirics.measures import measure
    res = chunked_sweep(p.lm, vectors, p.settings.grid, prompts, p.cache, name,
                        p.settings.batch_size, keep_hidden, p.settings.progress)
    groups: dict[str, list[int]] = {}
    for i, prompt in enumerate(prompts):
        groups.setdefault(prompt.group, []).append(i)
    run = DirectionRun(name, vectors, prompts, res, groups, {})
    for g in groups:
        run.measures[g] = measure(run.group_logprobs(g), run.group_prompts(g))
    return run


def run_all(p: Prepared) -> dict[str, DirectionRun]:
    """Each behavior's reading vector on its prompts + helpfulness; the control on all of them."""
    runs: dict[str, DirectionRun] = {}
    for behavior in p.settings.behaviors:
        print(f"Sweeping {behavior} reading vector over {len(p.settings.grid)} coefficients",
              file=sys.stderr)
        runs[behavior] = run_direction(p, behavior, p.vectors[behavior].vectors,
                                       p.behavior_prompts[behavior] + p.helpfulness_prompts,
                                       keep_hidden=True)
    if p.control is not None:
        print("Sweeping the random-direction control", file=sys.stderr)
        everything = [q for b in p.settings.behaviors for q in p.behavior_prompts[b]]
        runs["control"] = run_direction(p, "control", p.control,
                                        everything + p.helpfulness_prompts, keep_hidden=False)
    return runs


# ---------------------------------------------------------------------------- main


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit code (0 ok, 2 user error)."""
    from empirics.report import run_and_report

    t0 = time.time()
    try:
        settings = settings_from_args(argv)
        prepared = prepare(settings)
    except SystemExit as err:  # argparse: --help (0) or a usage error (2), already printed
        return int(err.code or 0)
    except (ValueError, FileNotFoundError, ImportError, UserError) as err:
        return _fail(str(err).splitlines()[0] if str(err) else type(err).__name__)
    report = run_and_report(prepared)
    out = prepared.out
    print(f"\nDone in {time.time() - t0:.0f} s "
          f"({prepared.cache.reused} cached chunks reused, {prepared.cache.computed} computed). "
          f"Outputs in {out}:")
    for name in ("report.json", "report.md", "sweep.csv", "estimates.csv"):
        print(f"  {out / name}")
    print(f"  {out}/*.png, {out}/reading_vectors/")
    print("Verdicts:")
    for v in report.get("verdicts", []):
        first = str(v.get("summary", "")).split(";")[0][:110]
        verdict = str(v.get("verdict", "?"))
        verdict = verdict.upper() if verdict in ("holds", "fails", "undecided") else verdict
        print(f"  - {v.get('name', '?')}: {verdict} ({first})")
    for b in settings.behaviors:
        t = report.get("tradeoff", {}).get(b, {})
        print(f"Recommended coefficient ({b}, κ={settings.kappa:g}): "
              f"{t.get('recommended_coefficient')}")
    return 0


def _settings_dict(s: Settings) -> dict[str, Any]:
    d = asdict(s)
    d.pop("progress", None)
    return d


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
