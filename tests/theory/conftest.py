"""Hypothesis profiles for the theory property tests, and a tally of non-vacuous examples.

``ci`` (default): derandomized, no database, ``max_examples = 100`` as the unit each test scales
(``scaled(base)``: base examples in ci). ``deep`` (``STEERING_HYPOTHESIS_PROFILE=deep``, used by
``make deep-test``): random seeds, a database under ``.hypothesis/deep``, ``DEEP_FACTOR`` times
as many examples. Property tests count, per test, how many examples actually exercised the claim
(``tally``); the counts are printed at the end and, with ``STEERING_TALLY_JSON=path``, written
as JSON.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

DEEP_FACTOR = 160
_REPO = Path(__file__).resolve().parents[2]
settings.register_profile("ci", max_examples=100, derandomize=True, database=None, deadline=None,
                          print_blob=True)
settings.register_profile(
    "deep", max_examples=100 * DEEP_FACTOR, derandomize=False, deadline=None, print_blob=True,
    database=DirectoryBasedExampleDatabase(str(_REPO / ".hypothesis" / "deep")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
PROFILE = os.environ.get("STEERING_HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "deep"):
    raise ValueError(f"STEERING_HYPOTHESIS_PROFILE must be 'ci' or 'deep', got {PROFILE!r}")
settings.load_profile(PROFILE)

#: test name -> Counter({"examples": tried, "nonvacuous": exercised the claim})
TALLY: dict[str, Counter[str]] = {}
_T0 = time.time()


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if not TALLY:
        return
    tw = terminalreporter
    tw.section(f"theory property tests (hypothesis profile {PROFILE})")
    tot_e = tot_n = 0
    for name, c in sorted(TALLY.items()):
        tw.line(f"{name:<60} examples {c['examples']:>8}  non-vacuous {c['nonvacuous']:>8}")
        tot_e += c["examples"]
        tot_n += c["nonvacuous"]
    tw.line(f"{'total':<60} examples {tot_e:>8}  non-vacuous {tot_n:>8}")
    out = os.environ.get("STEERING_TALLY_JSON")
    if out:
        data = {"profile": PROFILE, "seconds": time.time() - _T0, "exitstatus": int(exitstatus),
                "total_examples": tot_e, "total_nonvacuous": tot_n,
                "tests": {k: dict(v) for k, v in TALLY.items()}}
        tmp = Path(out).with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(out)


class Tally:
    """Counts one property test's examples and the non-vacuous ones among them."""

    def __init__(self, counter: Counter[str]) -> None:
        self.counter = counter

    def example(self) -> None:
        self.counter["examples"] += 1

    def hit(self) -> None:
        self.counter["nonvacuous"] += 1

    @property
    def nonvacuous(self) -> int:
        return self.counter["nonvacuous"]


@pytest.fixture
def tally(request) -> Tally:  # type: ignore[no-untyped-def]
    TALLY[request.node.name] = Counter()
    return Tally(TALLY[request.node.name])
