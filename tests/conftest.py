"""Shared fixtures: the real embedded model (loaded once per session) and the data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def lm():  # type: ignore[no-untyped-def]
    """The embedded SmolLM2-135M-Instruct, fp32 on CPU."""
    import torch

    from empirics.models import load_model

    torch.manual_seed(0)
    return load_model(device="cpu")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """$STEERING_DATA_DIR, else ../shared/data beside the repository; skip when neither exists."""
    env = os.environ.get("STEERING_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path
    pytest.skip("no data directory: set STEERING_DATA_DIR (CI points it at ../shared/data)")
