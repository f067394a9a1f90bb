"""The command line: ``python -m empirics.validate`` steers a real model, sweeps r_e, measures,
checks the theory and writes the report.

Flags → ``Settings`` (``settings_from_args``) → ``prepared.prepare`` → ``pipeline.run`` →
``report.write``. User errors (bad flags, missing data or model package) exit with code 2 and a
one-line message; results are written atomically and finished chunks are cached under
``OUT/.cache/<hash>/`` so a rerun with the same arguments resumes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

import torch

from empirics import pipeline, prepared, report
from empirics.claims import Kind
from empirics.settings import (
    BEHAVIORS,
    DEFAULT_COUNTS,
    DEFAULT_MMLU,
    HELPFULNESS_SETS,
    MEASURES,
    METHODS,
    QUICK_COUNTS,
    QUICK_GENERATION,
    QUICK_GRID,
    RECOMMEND_ON,
    GenerationSettings,
    PromptCounts,
    Settings,
    parse_grid,
)
from empirics.sources import SOURCES
from empirics.wolf import cli as wolf_cli


class UserError(Exception):
    """Bad input the user can fix; reported as one line with exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m empirics.validate",
        description="Steer a model along reading vectors, sweep the coefficient r_e, measure "
                    "alignment and helpfulness, and check the theory of Wolf et al. (2401.16332).")
    p.add_argument("--protocol", default="ours", choices=wolf_cli.PROTOCOLS,
                   help="ours (default); wolf2024: Wolf et al.'s protocol (its own flags: "
                        "--protocol wolf2024 --help); both: the two side by side")
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
    p.add_argument("--data", choices=SOURCES,
                   help="data source: embedded (default: sets shipped with the package), dir "
                        "(upstream benchmark files in --data-dir or $STEERING_DATA_DIR; the "
                        "default when one is given), hub (Hugging Face, needs 'datasets')")
    p.add_argument("--data-dir", help="data directory for --data dir (else $STEERING_DATA_DIR)")
    p.add_argument("--out", help="output directory (default runs/<model-slug>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:N, mps (default: cuda when available)")
    p.add_argument("--dtype", help="float32, bfloat16, float16 (default: fp32 on CPU, bf16 on GPU)")
    p.add_argument("--method", default="auto", choices=METHODS,
                   help="reading-vector method; auto: the one with the higher held-out "
                        "separation on the train split")
    p.add_argument("--n-prompts", type=int, help="prompts per group (default: 32 harmful, 16 "
                                                 "harmless, 32 bias, 48 helpfulness)")
    p.add_argument("--kappa", type=float, default=1.0, help="weight of helpfulness loss in U=G-κL")
    p.add_argument("--epsilon", type=float, default=0.05,
                   help="tolerated helpfulness loss for the 'most gain with loss <= ε' "
                        "alternative; B >= 1-ε also stops the grid extension (saturated)")
    p.add_argument("--recommend-on", default="specific", choices=RECOMMEND_ON,
                   help="gain the recommendation maximises: specific (target minus control "
                        "gain, where a control group is measured: harmfulness) or the target's")
    p.add_argument("--quick", action="store_true", help="few prompts, seven coefficients (−4, −2, −1, 0, 1, 2, 4)")
    p.add_argument("--random-directions", type=int, default=8,
                   help="k seeded random directions swept at 0, ±h, ±2h over the helpfulness "
                        "prompts for Theorem 2's i.i.d./random-direction forms (0: none)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--n-boot", type=int, help="bootstrap resamples (default 1000; 200 with --quick)")
    p.add_argument("--theory-prompts", type=int, default=0,
                   help="prompts per group that get Δ by JVP (default 0: every measured prompt)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _generation_flags(p)
    p.add_argument("--threads", type=int,
                   help="CPU threads for torch (default: torch's; 1 is far faster on a busy "
                        "machine, where threads contend)")
    return p


def _generation_flags(p: argparse.ArgumentParser) -> None:
    """``--measure`` and the generation stage's sizes."""
    p.add_argument("--measure", default="token", choices=MEASURES,
                   help="next-token B (default), behavior of generated text, or both")
    p.add_argument("--gen-prompts", type=int, help="generation: prompts per behavior (default 12; 4 "
                   "with --quick)")
    p.add_argument("--gen-samples", type=int, help="generation: samples per prompt and "
                   "coefficient (default 4)")
    p.add_argument("--gen-tokens", type=int, help="generation: new tokens per reply (default 24; "
                   "16 with --quick)")
    p.add_argument("--gen-coefficients", type=int, help="generation: coefficients taken from the "
                   "grid, 0 included (default 5; 3 with --quick)")


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
    if len(grid) < 3:
        raise ValueError(f"--grid has {len(grid)} coefficients: at least 3 are needed for a "
                         "quadratic fit at 0")
    if a.n_prompts is not None and a.n_prompts < 2:
        raise ValueError(f"--n-prompts {a.n_prompts} must be at least 2")
    if not a.kappa >= 0 or not math.isfinite(a.kappa):
        raise ValueError(f"--kappa {a.kappa} must be a finite number >= 0")
    if not 0 < a.epsilon < 1:
        raise ValueError(f"--epsilon {a.epsilon} must be in (0, 1)")
    n_boot = a.n_boot if a.n_boot is not None else (200 if a.quick else 1000)
    if a.threads is not None:
        if a.threads < 1:
            raise ValueError(f"--threads {a.threads} must be >= 1")
        torch.set_num_threads(a.threads)
    if (a.batch_size < 1 or n_boot < 10 or a.theory_prompts < 0 or a.theory_prompts == 1
            or a.random_directions < 0):
        raise ValueError("--batch-size must be >= 1, --n-boot >= 10, --theory-prompts 0 (all) "
                         "or >= 2, --random-directions >= 0")
    counts = QUICK_COUNTS if a.quick else DEFAULT_COUNTS
    if a.n_prompts is not None:
        counts = PromptCounts.every(a.n_prompts)
    subjects = [s.strip() for s in a.mmlu_subjects.split(",") if s.strip()]
    return Settings(
        model=a.model, layers=a.layers, grid=grid, behaviors=behaviors, helpfulness=a.helpfulness,
        mmlu_subjects=subjects, few_shot=a.few_shot, harm_format=a.harm_format,
        data_dir=a.data_dir, data=a.data, out=a.out, seed=a.seed, device=a.device, dtype=a.dtype,
        method=a.method, n_prompts=a.n_prompts, kappa=a.kappa, epsilon=a.epsilon, quick=a.quick,
        random_directions=a.random_directions, batch_size=a.batch_size, n_boot=n_boot,
        theory_prompts=a.theory_prompts, recommend_on=a.recommend_on,
        progress=not a.no_progress, counts=counts, measure=a.measure,
        generation=generation_settings(a, n_boot))


def generation_settings(a: argparse.Namespace, n_boot: int) -> GenerationSettings:
    """The ``--gen-*`` flags over the default (or ``--quick``) generation sizes."""
    gs = replace(QUICK_GENERATION if a.quick else GenerationSettings(), seed=a.seed, n_boot=n_boot)
    for flag, value, least in (("--gen-prompts", a.gen_prompts, 1),
                               ("--gen-samples", a.gen_samples, 2),
                               ("--gen-tokens", a.gen_tokens, 1),
                               ("--gen-coefficients", a.gen_coefficients, 2)):
        if value is not None and value < least:
            raise ValueError(f"{flag} {value} must be at least {least}")
    return replace(gs, prompts=a.gen_prompts or gs.prompts,
                   samples=a.gen_samples or gs.samples,
                   max_new_tokens=a.gen_tokens or gs.max_new_tokens,
                   coefficients=a.gen_coefficients or gs.coefficients)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job (``--protocol`` picks ours, wolf2024 or both); returns the exit code."""
    try:
        protocol, rest = wolf_cli.split_protocol(sys.argv[1:] if argv is None else argv)
    except ValueError as err:
        return _fail(str(err))
    return run_ours(rest) if protocol == "ours" else wolf_cli.main(protocol, rest, run_ours)


def run_ours(argv: Sequence[str] | None = None) -> int:
    """The default protocol; returns the exit code (0 ok, 2 user error)."""
    t0 = time.time()
    try:
        settings = settings_from_args(argv)
        setup = prepared.prepare(settings)
    except SystemExit as err:  # argparse: --help (0) or a usage error (2), already printed
        return int(err.code or 0)
    except (ValueError, FileNotFoundError, ImportError, UserError) as err:
        return _fail(str(err).splitlines()[0] if str(err) else type(err).__name__)
    out = setup.out
    results = pipeline.run(setup)
    written = report.write(results, out)
    print(f"\nDone in {time.time() - t0:.0f} s. Outputs in {out}:")
    names = ["report.json", "report.md"] + (["sweep.csv", "estimates.csv"] if results.behaviors
                                            else [])
    for name in names:
        print(f"  {out / name}")
    print(f"  ({results.chunks_reused} cached chunks reused, {results.chunks_computed} computed)")
    print(f"  {out}/*.png ({len(written['figures'])} figures), {out}/reading_vectors/")
    for kind, title in ((Kind.CONSISTENCY, "Consistency checks (the implementation):"),
                        (Kind.CLAIM, "Claims (the theory against the model):")):
        if results.behaviors:
            print(title)
        for b in results.behaviors:
            for v in (v for v in b.verdicts if v.kind is kind):
                print(report.console_line(b.behavior, v))
    for b in results.behaviors:
        print(report.recommendation_line(b.behavior, settings.kappa, b.recommendation))
    for g in results.generation.behaviors if results.generation else []:
        pr = g.predicted
        measured = f"{pr.measured_slope.value[0]:+.3f}" if pr.measured_slope else "n/a"
        print(f"Generated text ({g.behavior}, {g.judge}): B_gen {g.b_gen.value[0]:+.2f} at r_e = "
              f"{g.coefficients[0]:g} .. {g.b_gen.value[-1]:+.2f} at {g.coefficients[-1]:g}; slope "
              f"at 0 fit-free {pr.slope.value[0]:+.3f} vs measured {measured}")
        if g.sequence is not None:
            print(report.console_line(g.behavior, g.sequence))
        if g.proxy is not None:
            print(f"  - {g.behavior}: proxy_vs_behavior: {g.proxy.summary}")
        if g.recommendation is not None:
            print(report.recommendation_line(g.behavior, settings.kappa, g.recommendation))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
