"""``python -m empirics.validate --protocol wolf2024|both``: the authors' protocol on any model,
and (``both``) the default protocol beside it on the same model with one set of reading vectors.

``empirics.validate`` hands over the arguments and a callable that runs the default protocol; this
module never imports it (no cycle). User errors exit with code 2 and one ``error:`` line before
any work.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from empirics.wolf import report, run, sensitivity
from empirics.wolf.options import PROTOCOLS, WolfSettings, parse_options, split_protocol

__all__ = ["PROTOCOLS", "main", "split_protocol"]

RunOurs = Callable[[Sequence[str]], int]


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def ours_argv(s: WolfSettings, out: Path, source_kind: str) -> list[str]:
    """The default protocol's flags for ``--protocol both``: the same model, data, seed and
    device; MMLU letters where the data have MMLU, else the embedded knowledge set."""
    argv = ["--out", str(out), "--seed", str(s.seed), "--behaviors", "harmfulness,bias"]
    for flag, value in (("--model", s.model), ("--data", s.data), ("--data-dir", s.data_dir),
                        ("--device", s.device), ("--dtype", s.dtype),
                        ("--threads", None if s.threads is None else str(s.threads))):
        if value is not None:
            argv += [flag, value]
    if source_kind != "embedded":
        argv += ["--helpfulness", "mmlu", "--mmlu-subjects", ",".join(s.subjects)]
    return argv + (["--quick"] if s.quick else []) + ([] if s.progress else ["--no-progress"])


def _summary(results: run.WolfResults, out: Path, t0: float) -> None:
    print(f"\nDone in {time.time() - t0:.0f} s. Outputs in {out}: report.md, report.json, "
          "fits.csv, fits.md, curves.csv, fig4_behavior.png, fig5_helpfulness_*.png")
    for b in results.behaviors:
        for v in b.verdicts:
            print(f"  - {b.behavior}: {v.name}: {v.label.upper()} ({v.summary[:100]})")
        print(f"  Recommended coefficient ({b.behavior}): {b.recommendation.r:g}")
    if results.cost is not None:
        print(f"  {results.cost.gpu_estimate}")


def main(protocol_name: str, argv: Sequence[str], run_ours: RunOurs) -> int:
    """Run ``wolf2024`` or ``both``; returns the exit code (0 ok, 2 user error)."""
    t0 = time.time()
    one, five, fifteen = os.getloadavg()
    load = f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} at the start"
    try:
        s = parse_options(protocol_name, argv)
        prepared = run.prepare(s)
        # --protocol both: the default protocol loads its own copy first (one model in memory
        # at a time: what a 13B model on one GPU needs).
        lm = None if s.protocol == "both" else run.load(s)
    except SystemExit as err:
        return int(err.code or 0)
    except (ValueError, FileNotFoundError, ImportError) as err:
        return _fail(str(err).splitlines()[0] if str(err) else type(err).__name__)
    shared = None
    if lm is None:
        ours_out = prepared.out.parent / "ours"
        code = run_ours(ours_argv(s, ours_out, prepared.source.kind))
        if code != 0:
            return code
        summary = sensitivity.read_ours(ours_out / "report.json")
        shared = sensitivity.shared_vectors(summary, ours_out)
        lm = run.load(s)
    results = run.run(prepared, lm, shared)
    results.load = load
    report.write(results, prepared.out)
    if shared is not None:
        rows = sensitivity.table(summary, results)
        sensitivity.write(rows, prepared.out.parent, summary, results)
        print(f"Sensitivity table: {prepared.out.parent / 'sensitivity.md'}")
    _summary(results, prepared.out, t0)
    return 0
