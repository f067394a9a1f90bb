"""Wall time of the default job, stage by stage, against issue 23's target (≤ 260 s with the
model cached).

    python benchmarks/validate_job.py [--runs 2] [--target 260] [-- VALIDATE_ARGS...]

Each run is ``python -m empirics.validate --no-progress`` in a fresh output directory (nothing
reused from an earlier run's cache; the model conversion is cached, as the target assumes), in
its own process. The stage times are the job's own lines ("sweeps done (N s)", ...). The host's
speed drifts between runs, so the behavior sweeps' time, whose code the other stages do not
touch, is printed beside the rest of the job. The last line is machine-readable:
``validate_job: runs=<n> wall=<s1,...> job=<s1,...> target=<t> met=<k> of <n>`` (met: the
process's wall time, interpreter start and imports included, at most the target).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: The job's stage lines on stderr (pipeline, random_sweeps, validate) and their table columns.
STAGES = {"sweeps": r"^sweeps done \((\d+) s\)", "random directions": r"^random directions done \((\d+) s\)",
          "theory link, fits, verdicts": r"^theory link, fits and verdicts done \((\d+) s\)",
          "job": r"^Done in (\d+) s\."}


@dataclass(frozen=True)
class JobTimes:
    """One run: the job's stage times (s; None: the stage did not run) and its wall time."""

    stages: dict[str, float | None]
    wall: float

    @property
    def outside_sweeps(self) -> float | None:
        job, sweeps = self.stages["job"], self.stages["sweeps"]
        return None if job is None or sweeps is None else job - sweeps


def parse_stages(log: str) -> dict[str, float | None]:
    """The stage times in the job's output; raises when the job did not finish."""
    found: dict[str, float | None] = {}
    for name, pattern in STAGES.items():
        match = re.search(pattern, log, flags=re.MULTILINE)
        found[name] = float(match.group(1)) if match else None
    if found["job"] is None:
        raise ValueError("the job printed no 'Done in N s.' line: it did not finish "
                         f"(its output ends: {log[-300:]!r})")
    return found


def run_job(args: Sequence[str]) -> JobTimes:
    with tempfile.TemporaryDirectory(prefix="validate-job-") as out:
        cmd = [sys.executable, "-m", "empirics.validate", "--no-progress", "--out", out, *args]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-500:]}")
    return JobTimes(parse_stages(done.stdout + done.stderr), wall)


def table(runs: Sequence[JobTimes], target: float) -> list[str]:
    cols = ["run", *STAGES, "job outside the sweeps", "wall (process)", "job / target"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for i, r in enumerate(runs, 1):
        cells = [str(i)] + [f"{r.stages[s]:.0f} s" if r.stages[s] is not None else "n/a"
                            for s in STAGES]
        outside = r.outside_sweeps
        job = r.stages["job"]
        assert job is not None
        cells += [f"{outside:.0f} s" if outside is not None else "n/a", f"{r.wall:.1f} s",
                  f"{job / target:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary(runs: Sequence[JobTimes], target: float) -> str:
    """The last line; a run meets the target when its process's wall time (what ``make
    validate`` costs, interpreter start and imports included) is at most ``target``."""
    job = [r.stages["job"] or float("nan") for r in runs]
    met = sum(r.wall <= target for r in runs)
    return (f"validate_job: runs={len(runs)} wall={','.join(f'{r.wall:.0f}' for r in runs)} "
            f"job={','.join(f'{s:.0f}' for s in job)} target={target:g} met={met} of {len(runs)}")


def main(argv: Sequence[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--target", type=float, default=260.0)
    p.add_argument("validate_args", nargs="*", help="after --: flags for empirics.validate")
    args = p.parse_args(argv)
    runs = []
    for i in range(args.runs):
        runs.append(run_job(args.validate_args))
        print(f"  run {i + 1}: job {runs[-1].stages['job']:.0f} s", file=sys.stderr)
    for line in table(runs, args.target):
        print(line)
    line = summary(runs, args.target)
    print(line)
    return line


if __name__ == "__main__":
    main()
