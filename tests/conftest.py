"""Shared fixtures: the real embedded model (loaded once per session) and the data directory.

Tests that need a real benchmark take the ``data_dir`` fixture, which skips when
``$STEERING_DATA_DIR`` is unset (so ``make test`` passes on a fresh clone). With
``STEERING_REQUIRE_DATA=1`` (set by ``.ci/run``) such a skip is reported as a failure instead.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Property tests outside tests/theory run derandomized too (tests/theory/conftest.py loads its
# own profiles): a run of CI must not depend on which random examples it drew (fp32 rounding
# differs between kernels, and a random search once found an example at the tolerance's edge).
settings.register_profile("repository", derandomize=True, database=None, deadline=None)
settings.load_profile("repository")

REPO = Path(__file__).resolve().parents[1]
DATA_SKIP_REASON = (
    "needs a real benchmark: set STEERING_DATA_DIR to a directory of the upstream files "
    "(layout in docs/data.md) to run it"
)
REQUIRE_ENV = "STEERING_REQUIRE_DATA"


@pytest.fixture(scope="session")
def lm():  # type: ignore[no-untyped-def]
    """The embedded SmolLM2-135M-Instruct, fp32 on CPU."""
    import torch

    from empirics.models import load_model

    torch.manual_seed(0)
    return load_model(device="cpu")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """$STEERING_DATA_DIR; skip (see :data:`DATA_SKIP_REASON`) when unset or missing."""
    env = os.environ.get("STEERING_DATA_DIR")
    if env and Path(env).is_dir():
        return Path(env)
    pytest.skip(DATA_SKIP_REASON)


def require_data() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    """Under ``STEERING_REQUIRE_DATA=1`` a data skip fails the test: CI has the data."""
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and require_data() and DATA_SKIP_REASON in str(rep.longrepr):
        rep.outcome = "failed"
        rep.longrepr = (f"{REQUIRE_ENV}=1 but this test was skipped for missing data "
                        f"({DATA_SKIP_REASON}); is STEERING_DATA_DIR set to the data directory?")
