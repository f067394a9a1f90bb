"""The protocol's own command-line options (``python -m empirics.validate --protocol wolf2024``)
and the typed settings every stage reads. Bad values raise ``ValueError`` before any work."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass

from empirics.sources import SOURCES
from empirics.wolf import protocol
from empirics.wolf.items import DEFAULT_SUBJECTS
from empirics.wolf.keywords import BEHAVIORS
from empirics.wolf.templates import KINDS

PROTOCOLS = ("ours", "wolf2024", "both")
# Default sizes: the paper's grids at sizes that keep the embedded model's run within 15 min on
# 2 shared CPU cores (docs/reproduction.md); the authors' own runs used 96 prompts per set.
DEFAULT_SIZES = {"behavior_prompts": 8, "samples": 1, "helpfulness_prompts": 4, "pairs": 64,
                 "n_boot": 500}
QUICK_SIZES = {"behavior_prompts": 3, "samples": 1, "helpfulness_prompts": 3, "pairs": 16,
               "n_boot": 50}


@dataclass(frozen=True)
class WolfSettings:
    """Everything that shapes a run of the authors' protocol."""

    protocol: str
    model: str | None
    data: str | None
    data_dir: str | None
    out: str | None
    seed: int
    device: str | None
    dtype: str | None
    threads: int | None
    progress: bool
    quick: bool
    behaviors: tuple[str, ...]
    subjects: tuple[str, ...]
    kind: str
    layers: str | None
    behavior_prompts: int
    samples: int
    helpfulness_prompts: int
    pairs: int
    n_boot: int
    kappa: float
    behavior_grid: tuple[float, ...]
    helpfulness_grid: tuple[float, ...]


def split_protocol(argv: Sequence[str]) -> tuple[str, list[str]]:
    """``--protocol X`` (or ``--protocol=X``) taken out of ``argv``; ``ours`` when absent."""
    rest: list[str] = []
    chosen = "ours"
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--protocol":
            if i + 1 >= len(args):
                raise ValueError(f"--protocol needs a value: one of {', '.join(PROTOCOLS)}")
            chosen, i = args[i + 1], i + 2
            continue
        if arg.startswith("--protocol="):
            chosen = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    if chosen not in PROTOCOLS:
        raise ValueError(f"--protocol {chosen!r} must be one of {', '.join(PROTOCOLS)}")
    return chosen, rest


def build_parser(protocol_name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m empirics.validate --protocol {protocol_name}",
        description="Wolf et al.'s protocol: RepE vectors at their layers, generated-text "
                    "behavior with their keyword rule, MMLU first-token helpfulness, their grids "
                    "and fits, beside this project's fit-free predictions.")
    p.add_argument("--model", help="HF id or local path (default: embedded SmolLM2-135M-Instruct)")
    p.add_argument("--data", choices=SOURCES, help="embedded (default), dir or hub")
    p.add_argument("--data-dir", help="data directory for --data dir (else $STEERING_DATA_DIR)")
    p.add_argument("--out", help="output directory (default runs/<model-slug>/<protocol>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")
    p.add_argument("--dtype", help="float32, float16, bfloat16 (the authors: float16)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="coarse grids (9 / 11 coefficients) and few prompts: a smoke run")
    p.add_argument("--behaviors", default=",".join(BEHAVIORS), help="harmfulness,fairness")
    p.add_argument("--mmlu-subjects", default=",".join(DEFAULT_SUBJECTS))
    p.add_argument("--kind", default="auto", choices=KINDS,
                   help="chat or base model (auto: 'chat'/'instruct' in the name, the authors' rule)")
    p.add_argument("--layers", help="override the injection layers, e.g. '9-13' (0-based)")
    p.add_argument("--behavior-prompts", type=int, help="measured behavior prompts (default 8)")
    p.add_argument("--samples", type=int, help="sampled replies per prompt and coefficient (default 1, as the authors)")
    p.add_argument("--helpfulness-prompts", type=int, help="questions per subject (default 4)")
    p.add_argument("--pairs", type=int, help="contrast pairs per reading vector (default 64)")
    p.add_argument("--n-boot", type=int, help="bootstrap resamples (default 500)")
    p.add_argument("--kappa", type=float, default=1.0, help="U = G − κL for the recommendation")
    return p


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def parse_options(protocol_name: str, argv: Sequence[str]) -> WolfSettings:
    """The protocol's settings from its flags; ``ValueError`` naming the bad one."""
    if protocol_name not in PROTOCOLS[1:]:
        raise ValueError(f"protocol {protocol_name!r} is not one of {PROTOCOLS[1:]}")
    a = build_parser(protocol_name).parse_args(list(argv))
    behaviors = tuple("fairness" if b == "bias" else b for b in _csv(a.behaviors))
    if not behaviors or any(b not in BEHAVIORS for b in behaviors):
        raise ValueError(f"--behaviors {a.behaviors!r}: choose from {','.join(BEHAVIORS)}")
    sizes = dict(QUICK_SIZES if a.quick else DEFAULT_SIZES)
    for key in sizes:
        value = getattr(a, key)
        if value is not None:
            least = 2 if key in ("behavior_prompts", "helpfulness_prompts", "pairs") else 1
            if value < least or (key == "n_boot" and value < 10):
                raise ValueError(f"--{key.replace('_', '-')} {value} is too small "
                                 f"(at least {10 if key == 'n_boot' else least})")
            sizes[key] = value
    if not (math.isfinite(a.kappa) and a.kappa >= 0):
        raise ValueError(f"--kappa {a.kappa} must be a finite number >= 0")
    if a.threads is not None and a.threads < 1:
        raise ValueError(f"--threads {a.threads} must be >= 1")
    subjects = _csv(a.mmlu_subjects)
    if not subjects:
        raise ValueError("--mmlu-subjects is empty")
    return WolfSettings(
        protocol=protocol_name, model=a.model, data=a.data, data_dir=a.data_dir, out=a.out,
        seed=a.seed, device=a.device, dtype=a.dtype, threads=a.threads,
        progress=not a.no_progress, quick=a.quick, behaviors=behaviors, subjects=subjects,
        kind=a.kind, layers=a.layers, kappa=a.kappa,
        behavior_grid=protocol.behavior_grid(a.quick),
        helpfulness_grid=protocol.helpfulness_grid(a.quick),
        behavior_prompts=sizes["behavior_prompts"], samples=sizes["samples"],
        helpfulness_prompts=sizes["helpfulness_prompts"], pairs=sizes["pairs"],
        n_boot=sizes["n_boot"])
