"""The first stage: ``prepare(Settings) → Prepared`` — the model, the layers, the measured
prompts and the reading vectors of each behavior, checked before anything is computed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from empirics import prompts
from empirics.cache import ChunkCache, digest
from empirics.data import require_benchmark
from empirics.models import EMBEDDED_NAME, LoadedModel, load_model
from empirics.plan_file import plan_pick
from empirics.reading_vectors import (
    ReadingVectors,
    last_token_hidden_states,
    reading_vectors,
)
from empirics.results import PlanLink, ReadingVectorInfo
from empirics.settings import Settings, model_slug, parse_layers
from empirics.sources import DataSource, resolve_source
from empirics.tasks import ScoredPrompt


@dataclass(frozen=True)
class BehaviorSetup:
    """One behavior's measured prompts (every group) and its reading vectors."""

    name: str
    prompts: list[ScoredPrompt]
    vectors: ReadingVectors
    info: ReadingVectorInfo


@dataclass(frozen=True)
class Prepared:
    """Everything the computation needs, checked: model, prompts, vectors, output paths."""

    settings: Settings
    lm: LoadedModel
    layers: list[int]
    source: DataSource        # the resolved data source; its provenance lists the files read
    out: Path
    behaviors: list[BehaviorSetup]         # in the order of ``settings.behaviors``
    helpfulness_prompts: list[ScoredPrompt]
    cache: ChunkCache
    run_hash: str
    plan_link: PlanLink | None = None   # the steering plan the layers came from

    def behavior(self, name: str) -> BehaviorSetup:
        for b in self.behaviors:
            if b.name == name:
                return b
        raise ValueError(f"behavior {name!r} was not prepared (have "
                         f"{[b.name for b in self.behaviors]})")


def load(s: Settings) -> LoadedModel:
    """The model named by the settings (a seam for tests)."""
    return load_model(s.model, device=s.device, dtype=s.dtype)


def _mean_separation(rv: ReadingVectors) -> float:
    return float(np.mean(list(rv.separation.values()))) if rv.separation else float("nan")


def _cached_vectors(path: Path) -> ReadingVectors | None:
    if Path(f"{path}.json").is_file() and Path(f"{path}.safetensors").is_file():
        try:
            return ReadingVectors.load(path)
        except (OSError, ValueError):
            return None   # unreadable: recompute rather than fail
    return None


def _vectors(lm: LoadedModel, behavior: str, s: Settings, source: DataSource, layers: list[int],
             cache_root: Path, out: Path) -> tuple[ReadingVectors, ReadingVectorInfo]:
    """Reading vectors for ``behavior`` (reused from the run cache); with ``method="auto"`` the
    method with the higher mean held-out separation (on held-out train-split pairs) wins."""
    methods = ("pca", "mean_diff") if s.method == "auto" else (s.method,)
    found: dict[str, ReadingVectors] = {}
    pairs: tuple[list[str], list[str]] | None = None
    states: dict[int, torch.Tensor] | None = None   # shared by the methods: one forward pass
    for method in methods:
        path = cache_root / f"rv-{behavior}-{method}"
        cached = _cached_vectors(path)
        if cached is not None:
            found[method] = cached
            continue
        if pairs is None:
            pairs = prompts.contrast_pairs(lm, behavior, s, source)
        if states is None:
            states = last_token_hidden_states(lm, [*pairs[0], *pairs[1]], layers)
        rv = reading_vectors(lm, pairs[0], pairs[1], layers, method=method, seed=s.seed,
                             states=states)
        rv.save(path)   # the run cache (resuming), not an output
        found[method] = rv
    seps = {m: _mean_separation(rv) for m, rv in found.items()}
    best = max(methods, key=lambda m: (seps[m], m == "pca"))  # ties go to PCA
    chosen_by = ("held-out separation (mean over layers)" if s.method == "auto"
                 else "--method")
    rv = found[best]
    path = out / "reading_vectors" / behavior
    info = ReadingVectorInfo(behavior, best, chosen_by, seps, dict(rv.separation), str(path),
                             rv.data_hash)
    return rv, info


def _layers(s: Settings, lm: LoadedModel) -> tuple[list[int], PlanLink | None]:
    """``--layers``: a spec, or the pick of ``python -m empirics.plan`` for the first behavior
    (docs/planner.md)."""
    if s.layers is not None and s.layers.strip().startswith("plan"):
        link = plan_pick(s.layers.strip(), lm.name, s.behaviors[0], lm.num_layers)
        return list(link.layers), link
    return parse_layers(s.layers, lm.num_layers, embedded=lm.name == EMBEDDED_NAME), None


def prepare(s: Settings) -> Prepared:
    """Load and check everything; raises ``ValueError``/``FileNotFoundError``/``ImportError``
    on bad input before any output is written."""
    source = resolve_source(s.data, s.data_dir)
    require_benchmark(source, s.helpfulness)   # a data error comes before the model loads
    lm = load(s)
    layers, plan_link = _layers(s, lm)
    measured = prompts.behavior_prompts(lm, s, source)
    helpful = prompts.helpfulness_prompts(lm, s, source)
    out = Path(s.out) if s.out else Path("runs") / model_slug(lm.name)
    # The directory key covers what the reading vectors depend on; each chunk's file name adds
    # its exact prompts, vectors and coefficients. So --kappa, --epsilon, --n-boot, ... reuse it.
    run_hash = digest({"model": lm.name, "dtype": str(lm.dtype), "device": str(lm.device),
                       "layers": layers, "seed": s.seed,
                       "pairs": s.contrast_pairs,
                       "data": source.kind, "data_location": source.provenance.location,
                       "data_files": [f.sha256 for f in source.provenance.files]})
    cache = ChunkCache(out / ".cache" / run_hash)
    behaviors = []
    for b in s.behaviors:
        rv, info = _vectors(lm, b, s, source, layers, cache.root, out)
        behaviors.append(BehaviorSetup(b, measured[b], rv, info))
    return Prepared(s, lm, layers, source, out, behaviors, helpful, cache, run_hash, plan_link)
