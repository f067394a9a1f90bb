"""Resumable runs: finished sweep chunks (and JVPs) as atomic ``.npz`` files under
``OUT/.cache/<run hash>/``, keyed by a hash of exactly what produced them; and, in memory for
the run, the sweeps' lower passes (the unsteered layers below the steering), computed once per
prompt and reused by every coefficient chunk and every direction that sweeps the prompt."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from empirics.engine import LowerPass
from empirics.io import atomic_write
from empirics.models import LoadedModel
from empirics.sweep import SweepResult, sweep, sweep_lower_pass
from empirics.tasks import ScoredPrompt

CHUNK = 6  # coefficients per sweep call: enough to batch, small enough to checkpoint often


def digest(obj: Any) -> str:
    """Stable short hash of JSON-able data (settings, token ids, vector bytes' hashes)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def vectors_hash(vectors: Mapping[int, torch.Tensor]) -> str:
    """Hash of the exact steering vectors (layer and float32 bytes)."""
    return digest([(int(k), hashlib.sha256(np.asarray(v.cpu().float()).tobytes()).hexdigest())
                   for k, v in sorted(vectors.items())])


@dataclass
class ChunkCache:
    """Finished chunks as atomic ``.npz`` files under ``root``; counts hits and misses."""

    root: Path
    reused: int = 0
    computed: int = 0
    # This run's lower passes (in memory): their prompts are not run below the steering again.
    lower_passes: list[LowerPass] = field(default_factory=list, repr=False, compare=False)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def get(self, key: str, count: bool = True) -> dict[str, np.ndarray] | None:
        """The cached arrays, or ``None``; ``count=False`` for non-sweep entries (JVPs)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError):  # unreadable: recompute rather than fail
            return None
        self.reused += int(count)
        return data

    def put(self, key: str, arrays: dict[str, np.ndarray], count: bool = True) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]

        atomic_write(self.path(key), write)
        self.computed += int(count)


SweepFn = Callable[..., SweepResult]


def chunked_sweep(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                  grid: Sequence[float], prompts: Sequence[ScoredPrompt], cache: ChunkCache,
                  tag: str, batch_size: int, keep_hidden: bool, progress: bool,
                  sweep_fn: SweepFn | None = None) -> SweepResult:
    """Sweep ``grid`` in chunks of ``CHUNK`` coefficients, reusing cached chunks; the chunks
    computed share one lower pass (``cache.lower_passes``)."""
    ids = [list(p.input_ids) for p in prompts]
    cands = [list(p.candidate_ids) for p in prompts]
    base = digest({"ids": ids, "cands": cands, "vec": vectors_hash(vectors), "hidden": keep_hidden})
    logprobs, hidden = [], []
    chunks = [list(grid[i:i + CHUNK]) for i in range(0, len(grid), CHUNK)]
    lower: list[LowerPass | None] = []  # computed on the first chunk not in the cache

    def run_sweep(part: list[float]) -> SweepResult:
        if sweep_fn is not None:
            return sweep_fn(lm, vectors, part, ids, cands, batch_size=batch_size,
                            keep_hidden=keep_hidden, progress=progress)
        if not lower:
            lower.append(sweep_lower_pass(lm, min(vectors), ids, batch_size=batch_size,
                                          known=cache.lower_passes))
            if lower[0] is not None:
                cache.lower_passes.append(lower[0])
        return sweep(lm, vectors, part, ids, cands, batch_size=batch_size,
                     keep_hidden=keep_hidden, progress=progress, lower=lower[0])

    for k, part in enumerate(chunks):
        key = f"{tag}-{base}-{digest(part)}"
        got = cache.get(key)
        if got is None:
            res = run_sweep(part)
            got = {"logprobs": np.asarray(res.logprobs, dtype=np.float64)}
            if keep_hidden and res.final_hidden is not None:
                got["final_hidden"] = np.asarray(res.final_hidden, dtype=np.float32)
            cache.put(key, got)
            print(f"  [{tag}] chunk {k + 1}/{len(chunks)} computed", file=sys.stderr)
        else:
            print(f"  [{tag}] chunk {k + 1}/{len(chunks)} reused from cache", file=sys.stderr)
        logprobs.append(got["logprobs"])
        if "final_hidden" in got:
            hidden.append(got["final_hidden"])
    return SweepResult(coefficients=np.asarray(grid, dtype=float),
                       logprobs=np.concatenate(logprobs, axis=0),
                       final_hidden=np.concatenate(hidden, axis=0) if hidden else None)
