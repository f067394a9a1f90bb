"""``python -m empirics.calibrate``: every claim rule's false-fail rate and power on synthetic
sweeps with known truth, with the spreads, prompt counts and grid of a real run (the default
run of the embedded model unless ``--from-run OUT``). The last line is machine-readable:
``calibrate: false_fail_max=<x> power_min=<y> rules=<n>``. See docs/claims.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from empirics.claims.calibration import calibrate, summary_line, table
from empirics.claims.cases import Setup, default_cases
from empirics.claims.population import default_population, read_run
from empirics.claims.stats import Resampling


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m empirics.calibrate", description=__doc__)
    ap.add_argument("--trials", type=int, default=200, help="synthetic data sets per rule")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples per verdict")
    ap.add_argument("--directions", type=int, default=128,
                    help="random directions k of the Theorem 2 / 2′ cases")
    ap.add_argument("--noise", type=float, default=0.0, help="logit noise (sd) of the sweeps")
    ap.add_argument("--cubic", type=float, default=1.0,
                    help="scale the run's cubic term (a stress test of the bands)")
    ap.add_argument("--gen-prompts", type=int, default=32, help="generation: prompts")
    ap.add_argument("--gen-samples", type=int, default=8, help="generation: samples per prompt")
    ap.add_argument("--from-run", type=Path, default=None,
                    help="take the prompt population from this run's --out directory")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.trials < 1:
        print("error: --trials must be ≥ 1", file=sys.stderr)
        return 2
    try:
        pop = default_population() if args.from_run is None else read_run(args.from_run)
        Resampling(args.n_boot)   # a bad --n-boot is an error before any work
        setup = Setup(pop, args.n_boot, args.noise, args.directions, args.gen_prompts,
                      args.gen_samples, args.cubic)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    t0 = time.time()
    rates = calibrate(default_cases(setup, args.seed), args.trials, args.seed,
                      progress=not args.no_progress)
    print(table(rates))
    print(f"\n{args.trials} trials per rule, seed {args.seed}, {time.time() - t0:.0f} s")
    print(summary_line(rates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
