"""``python -m theory.verify``: check every statement of THEORY.md (v3) on simulated models.

Prints one row per check (draws, max violation, Monte Carlo error) and exits 1 if any check is
violated, 0 otherwise (see ``theory.simulate.verify_all``). With ``--mutants`` it instead runs
every check under each wrong statement or implementation of ``theory.simulate.MUTANTS``, prints
which checks caught it, and exits 1 unless every mutant was caught.
"""

from __future__ import annotations

import argparse
import sys

from theory.simulate import VerifyReport, run_mutants, verify_all


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m theory.verify", description=__doc__)
    ap.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
    ap.add_argument("--n", type=int, default=10_000,
                    help="random models per check (default 10000; --mutants uses at most 400)")
    ap.add_argument("--mutants", action="store_true",
                    help="run the checks on each mutated (wrong) statement; all must be caught")
    args = ap.parse_args(argv)
    if args.mutants:
        results = run_mutants(seed=args.seed, n=min(args.n, 400))
        width = max(len(r.mutant) for r in results)
        for r in results:
            status = "caught" if r.caught else "NOT CAUGHT"
            print(f"{r.mutant:<{width}}  {status:<10}  failing checks: {', '.join(r.failed) or '-'}")
        ok = all(r.caught for r in results)
        print(f"{sum(r.caught for r in results)}/{len(results)} mutants caught")
        return 0 if ok else 1
    report: VerifyReport = verify_all(seed=args.seed, n=args.n)
    print(report.table())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
