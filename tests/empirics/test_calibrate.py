"""``python -m empirics.calibrate``: a small calibration runs, is seeded, meets the targets on the
rules' own synthetic truth, and ends with the machine-readable line; bad flags exit 2."""

from __future__ import annotations

import re

import numpy as np
import pytest

from empirics import calibrate as cli
from empirics.claims.calibration import Rates, calibrate, run_case, summary_line, table
from empirics.claims.cases import Case, Mutation, Setup, curvature_case, default_cases
from empirics.claims.population import default_population

POP = default_population()
SMALL = Setup(POP, n_boot=200, directions=128, gen_prompts=32, gen_samples=8)


def test_small_calibration_meets_targets() -> None:
    rates = calibrate(default_cases(SMALL), trials=3, seed=0, progress=False)
    assert {r.rule for r in rates} >= {"first_order_consistency", "curvature_2r",
                                       "theorem1_departure", "theorem1_curve",
                                       "theorem2_random_forms", "theorem2_prime",
                                       "efficient_regime", "sequence_curve", "proxy_vs_behavior"}
    assert max(r.false_fail for r in rates) == 0.0
    # every rule fails its ×0.5 / ×2 mutation in most of 3 trials (full power: docs/claims.md)
    assert min(p for r in rates for p in r.target_power) >= 2 / 3
    line = summary_line(rates)
    assert re.fullmatch(r"calibrate: false_fail_max=[0-9.]+ power_min=[0-9.]+ rules=9", line)
    assert "| curvature_2r |" in table(rates)


def test_calibration_is_seeded() -> None:
    case = curvature_case(SMALL, "harmfulness/knowledge", False)
    assert run_case(case, 0, 2, seed=5) == run_case(case, 0, 2, seed=5)


def test_rates_catch_a_rule_that_cannot_fail() -> None:
    """A rule that always holds has power 0: the table shows it and the targets are missed."""
    never = Case("always_holds", "any", (Mutation("×2"),), lambda rng: (True, True))
    rates = run_case(never, 0, 4, seed=0)
    assert rates.power == (0.0,) and not rates.meets_targets
    always_fails = Case("always_fails", "any", (Mutation("×2"),), lambda rng: (False, False))
    assert run_case(always_fails, 0, 4, seed=0).false_fail == 1.0
    extra = Rates("r", "d", 1, 0.0, 1.0, 0.0, (Mutation("a"), Mutation("b", False)), (1.0, 0.0))
    assert extra.target_power == (1.0,) and extra.meets_targets


def test_cli_prints_the_machine_readable_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--trials", "1", "--n-boot", "100", "--no-progress",
                     "--directions", "16", "--gen-prompts", "12"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("calibrate: false_fail_max=")


@pytest.mark.parametrize("args", [["--trials", "0"], ["--n-boot", "5"],
                                  ["--from-run", "/nonexistent/run"]])
def test_cli_bad_input_exits_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*args, "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_population_matches_the_default_run() -> None:
    """The embedded population has the default run's grid and prompt counts."""
    assert POP.grid.size == 27 and POP.grid.min() == -10 and 0.5 in POP.grid
    assert POP.behavior("harmfulness/harmful").B0.size == 32
    assert POP.behavior("harmfulness/harmless").B0.size == 16
    assert POP.helpful("harmfulness/knowledge").P0.size == 47
    assert np.all(np.isfinite(POP.helpful("bias/knowledge").path))
    assert 0 < POP.random.c2_sd < POP.random.c1_sd
