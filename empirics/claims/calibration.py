"""Error rates of every rule on synthetic data with known truth.

Per case: the false-fail rate (the rule says "fails" although the claim holds in the synthetic
world), the share of trials where it holds and where it is undecided, and per mutation the
power (the share of trials where it says "fails" on the mutated prediction). Seeded: trial t of
case c draws from ``default_rng([seed, c, t])``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from empirics.claims.cases import Case, Mutation

#: Targets of the calibration (issue: false-fail ≤ 0.05, power ≥ 0.9).
MAX_FALSE_FAIL = 0.05
MIN_POWER = 0.9


@dataclass(frozen=True)
class Rates:
    """One case's rates over ``trials``; ``power`` in the order of ``mutations``."""

    rule: str
    data: str
    trials: int
    false_fail: float
    holds: float
    undecided: float
    mutations: tuple[Mutation, ...]
    power: tuple[float, ...]

    @property
    def target_power(self) -> tuple[float, ...]:
        """Power against the target mutations (×0.5, ×2 or the rule's counterparts)."""
        return tuple(p for m, p in zip(self.mutations, self.power, strict=True) if m.target)

    @property
    def meets_targets(self) -> bool:
        return self.false_fail <= MAX_FALSE_FAIL and all(p >= MIN_POWER
                                                         for p in self.target_power)


def run_case(case: Case, index: int, trials: int, seed: int,
             bar: tqdm | None = None) -> Rates:
    """``trials`` seeded trials of ``case``."""
    outcomes = []
    for t in range(trials):
        outcomes.append(case.trial(np.random.default_rng([seed, index, t])))
        if bar is not None:
            bar.update(1)
    truth = [o[0] for o in outcomes]
    power = tuple(float(np.mean([o[m + 1] is False for o in outcomes]))
                  for m in range(len(case.mutations)))
    return Rates(case.rule, case.data, trials, float(np.mean([h is False for h in truth])),
                 float(np.mean([h is True for h in truth])),
                 float(np.mean([h is None for h in truth])), case.mutations, power)


def calibrate(cases: Sequence[Case], trials: int, seed: int = 0,
              progress: bool = True) -> list[Rates]:
    """Rates of every case (one progress bar over all trials)."""
    with tqdm(total=trials * len(cases), disable=not progress, desc="calibrate",
              unit="trial") as bar:
        return [run_case(c, i, trials, seed, bar) for i, c in enumerate(cases)]


def table(rates: Sequence[Rates]) -> str:
    """A Markdown table of the rates (one row per case)."""
    lines = ["| rule | synthetic data | trials | false-fail | holds | undecided | power |",
             "|---|---|---|---|---|---|---|"]
    for r in rates:
        power = ", ".join(f"{m.label}{'' if m.target else ' (extra)'}: {p:.2f}"
                          for m, p in zip(r.mutations, r.power, strict=True))
        lines.append(f"| {r.rule} | {r.data} | {r.trials} | {r.false_fail:.3f} | {r.holds:.2f} | "
                     f"{r.undecided:.2f} | {power} |")
    return "\n".join(lines)


def summary_line(rates: Sequence[Rates]) -> str:
    """The machine-readable last line: worst false-fail, least power against the target
    mutations, number of rules."""
    ff = max((r.false_fail for r in rates), default=math.nan)
    pw = min((p for r in rates for p in r.target_power), default=math.nan)
    rules = len({r.rule for r in rates})
    return f"calibrate: false_fail_max={ff:.3f} power_min={pw:.3f} rules={rules}"
