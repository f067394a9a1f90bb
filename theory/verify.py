"""``python -m theory.verify``: check every statement of THEORY.md on simulated random models.

Prints one row per statement (draws, max violation, Monte Carlo error) and exits 1 if any
statement is violated, 0 otherwise (see ``theory.simulate.verify_all``).
"""

from __future__ import annotations

import argparse
import sys

from theory.simulate import VerifyReport, verify_all


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m theory.verify", description=__doc__)
    ap.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
    ap.add_argument("--n", type=int, default=10_000, help="random models per statement (default 10000)")
    args = ap.parse_args(argv)
    report: VerifyReport = verify_all(seed=args.seed, n=args.n)
    print(report.table())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
