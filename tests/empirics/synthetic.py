"""A synthetic run without a model: a linear-softmax 'model' whose final hidden state responds
to steering as h + rΔ + r²W, so the pipeline's stages and the report run on known ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from empirics import analysis, directions, pipeline, random_sweeps
from empirics.cache import ChunkCache
from empirics.prepared import BehaviorSetup, Prepared
from empirics.results import ReadingVectorInfo, Results
from empirics.settings import Settings
from empirics.sources import DataSource
from empirics.sweep import SweepResult
from empirics.tasks import ScoredPrompt

D, VOCAB = 8, 6
GRID = [-4.0, -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0]
RANDOM_NORM = 0.5   # ‖Δ‖ of a random unit steering direction in the synthetic world


class FakeLM:
    """The parts of ``LoadedModel`` the analysis stage reads (no network, no weights)."""

    name = "fake-linear-softmax"
    num_layers = 4
    hidden_size = D
    dtype = torch.float32
    device = torch.device("cpu")

    def __init__(self, w: torch.Tensor) -> None:
        self.lm_head = torch.nn.Linear(D, VOCAB, bias=False)
        with torch.no_grad():
            self.lm_head.weight.copy_(w)

    def unembedding_rows(self, ids: Any) -> torch.Tensor:
        return self.lm_head.weight.detach()[list(ids)].float()


@dataclass
class World:
    """Ground truth: per prompt h0, Δ and the quadratic term W of the last layer."""

    lm: FakeLM
    prompts: list[ScoredPrompt]
    h0: np.ndarray
    delta: np.ndarray
    curve: np.ndarray

    def hidden(self, idx: int, r: float, delta: np.ndarray | None = None) -> np.ndarray:
        """h0 + rΔ + r²W; ``delta``: another direction's Δ (no curvature: a random one)."""
        h0, d, w = (x[idx].astype(np.float64) for x in (self.h0, self.delta, self.curve))
        if delta is not None:
            return h0 + r * delta
        return h0 + r * d + r**2 * w


def make_world(seed: int = 0, bend: float = 0.0) -> World:
    rng = np.random.default_rng(seed)
    w = torch.tensor(rng.normal(0, 1, (VOCAB, D)), dtype=torch.float32)
    prompts: list[ScoredPrompt] = []
    for i in range(6):
        prompts.append(ScoredPrompt("t", (100 + i,), (0, 1), "harmful", f"harmful:{i}", scores=(1, -1)))
    for i in range(4):
        prompts.append(ScoredPrompt("t", (200 + i,), (0, 1), "harmless", f"harmless:{i}", scores=(1, -1)))
    for i in range(8):
        prompts.append(ScoredPrompt("t", (300 + i,), (2, 3, 4), "knowledge", f"k:{i}", correct=0))
    n = len(prompts)
    h0 = rng.normal(0, 0.5, (n, D))
    h0[10:] += 0.8 * w[2].numpy() / float(w[2].norm())   # helpfulness: the correct answer leads
    direction = (w[0] - w[1]).numpy()
    delta = 0.12 * direction / np.linalg.norm(direction) + rng.normal(0, 0.01, (n, D))
    curve = bend * rng.normal(0, 0.02, (n, D))
    return World(FakeLM(w), prompts, h0.astype(np.float32), delta.astype(np.float32),
                 curve.astype(np.float32))


class _Vectors:
    """Stands in for ``ReadingVectors`` (only ``vectors`` and ``save`` are used downstream)."""

    vectors = {1: torch.ones(D) / np.sqrt(D)}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)


def install(monkeypatch: pytest.MonkeyPatch, world: World, jvp_factors: tuple[float, float] = (1, 1)
            ) -> None:
    """Route the pipeline's sweep and JVP to the synthetic world; ``jvp_factors`` scale the
    Δ and Δ₂ the JVP returns (a wrong JVP, for tests that must see a verdict fail)."""
    index = {p.input_ids: i for i, p in enumerate(world.prompts)}
    u = world.lm.lm_head.weight.detach().double().numpy()

    def random_delta(vectors: Any) -> np.ndarray | None:
        """A seeded random unit direction (not the reading vector) moves h by RANDOM_NORM·v."""
        if vectors is _Vectors.vectors:
            return None
        return RANDOM_NORM * next(iter(vectors.values())).double().numpy()

    def fake_sweep(lm: Any, vectors: Any, grid: Any, items: Any, cache: Any, tag: str,
                   batch: int, keep_hidden: bool, progress: bool) -> SweepResult:
        k = max(len(p.candidate_ids) for p in items)
        lp = np.full((len(grid), len(items), k), np.nan)
        fh = np.zeros((len(grid), len(items), D), np.float32)
        for c, r in enumerate(grid):
            for j, p in enumerate(items):
                h = world.hidden(index[p.input_ids], r, random_delta(vectors))
                logits = u @ h
                full = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
                lp[c, j, :len(p.candidate_ids)] = full[list(p.candidate_ids)]
                fh[c, j] = h
        return SweepResult(np.asarray(grid, float), lp, fh if keep_hidden else None)

    def fake_jvp(lm: Any, vectors: Any, ids: Any, cache: Any, tag: str,
                 progress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = [index[tuple(x)] for x in ids]   # h = h0 + rΔ + r²W: Δ₂ = 2W
        f1, f2 = jvp_factors
        return world.h0[rows], f1 * world.delta[rows], f2 * 2 * world.curve[rows]

    def fake_random_jvps(lm: Any, directions: Any, ids: Any, cache: Any, tags: Any,
                         progress: bool) -> list[tuple[np.ndarray, np.ndarray]]:
        rows = [index[tuple(x)] for x in ids]
        out = []
        for vectors in directions:
            d = random_delta(vectors)
            assert d is not None
            out.append((world.h0[rows], np.tile(d, (len(rows), 1)).astype(np.float32)))
        return out

    monkeypatch.setattr(directions, "chunked_sweep", fake_sweep)
    monkeypatch.setattr(random_sweeps, "cached_delta_jvps", fake_random_jvps)
    monkeypatch.setattr(analysis, "cached_delta2_jvp", fake_jvp)


def prepared(world: World, tmp: Path, **settings: Any) -> Prepared:
    s = Settings(grid=list(GRID), behaviors=["harmfulness"], n_boot=60, progress=False,
                 **settings)
    harm = [p for p in world.prompts if p.kind == "behavior"]
    helpful = [p for p in world.prompts if p.kind == "helpfulness"]
    info = ReadingVectorInfo("harmfulness", "pca", "--method", {"pca": 0.9}, {1: 0.9},
                             str(tmp / "reading_vectors" / "harmfulness"), "hash")
    vectors: Any = _Vectors()
    lm: Any = world.lm
    return Prepared(s, lm, [1], DataSource("dir", tmp), tmp,
                    [BehaviorSetup("harmfulness", harm, vectors, info)], helpful,
                    ChunkCache(tmp / ".cache"), "hash")


def run(monkeypatch: pytest.MonkeyPatch, tmp: Path, bend: float = 0.0,
        jvp_factors: tuple[float, float] = (1, 1), **settings: Any) -> Results:
    world = make_world(bend=bend)
    install(monkeypatch, world, jvp_factors)
    return pipeline.run(prepared(world, tmp, **settings))
