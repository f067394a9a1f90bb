"""The generation stage of the main job: steered replies at a few coefficients, judged, with the
sequence-level fit-free predictions from the samples at r_e = 0; returns ``GenerationResults``.

Input: one ``GenerationInput`` per behavior (the pipeline builds it; its next-token B comes from
the token stage's sweep when that ran). Defaults (``settings.GenerationSettings``; ~1.5 minutes on
2 CPU cores for the embedded model, see docs/performance.md): per behavior 12 prompts x 5
coefficients x 4 samples x 24 new tokens (temperature 1), one greedy reply per prompt and
coefficient, δ(y) by central difference for the 48 samples at r_e = 0. Finished parts are
cached (resumable).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from empirics.cache import ChunkCache, digest, vectors_hash
from empirics.claims import (
    ClaimVerdict,
    ProxyBehavior,
    Resampling,
    proxy_vs_behavior,
    sequence_curve,
)
from empirics.generate import steered_generate
from empirics.intervals import Interval, mean_interval
from empirics.judges import Judge, default_judge, judge_all
from empirics.models import LoadedModel
from empirics.results import BehaviorGeneration, Example, GenerationResults
from empirics.sequence import (
    SequencePredictions,
    generation_measures,
    sequence_deltas,
    sequence_predictions,
)
from empirics.settings import GenerationSettings


@dataclass(frozen=True)
class NextTokenB:
    """The next-token B of the generation prompts' yes/no questions: ``values`` prompts ×
    coefficients ``(N, C)`` on ``grid`` ``(C,)``."""

    grid: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class GenerationInput:
    """One behavior's generation job: the chat-formatted prompts, what the judge reads as each
    prompt, the steering vectors, and the next-token B of the same items (None: not measured)."""

    behavior: str
    vectors: dict[int, torch.Tensor]
    prompts: list[str]
    asked: list[str]
    token_b: NextTokenB | None


def pick_coefficients(grid: Sequence[float], k: int) -> list[float]:
    """``k`` grid points spread over the grid, 0 included (the predictions' base point)."""
    g = sorted(float(x) for x in grid)
    if 0.0 not in g:
        g = sorted([*g, 0.0])
    if k >= len(g):
        return g
    targets = np.linspace(g[0], g[-1], k)
    arr = np.asarray(g)
    picked = {float(arr[np.argmin(np.abs(arr - t))]) for t in targets} | {0.0}
    return sorted(picked)


def _flat(tokens: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    flat = np.array([x for t in tokens for x in t], dtype=np.int64)
    return {"lengths": lengths, "flat": flat}


def _unflat(d: dict[str, np.ndarray]) -> list[list[int]]:
    out, off = [], 0
    for n in d["lengths"].tolist():
        out.append(d["flat"][off:off + n].tolist())
        off += n
    return out


def run_behavior(lm: LoadedModel, job: GenerationInput, grid: Sequence[float],
                 gs: GenerationSettings, cache: ChunkCache, judge: Judge | None = None,
                 progress: bool = False) -> BehaviorGeneration:
    """Generate (cached), judge, measure and predict for one behavior."""
    t0 = time.time()
    judge = judge or default_judge(job.behavior)
    ids = [lm.encode(t) for t in job.prompts]
    coefs = pick_coefficients(grid, gs.coefficients)
    base = digest({"ids": ids, "vec": vectors_hash(job.vectors), "coefs": coefs,
                   "gs": asdict(gs)})
    n, c, s = len(ids), len(coefs), gs.samples

    def cached(tag: str, fn: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        key = f"gen-{job.behavior}-{tag}-{base}"
        got = cache.get(key, count=False)
        if got is None:
            got = fn()
            cache.put(key, got, count=False)
        return got

    def gen_sampled() -> dict[str, np.ndarray]:
        return _flat(steered_generate(lm, job.vectors, coefs, ids,
                                      max_new_tokens=gs.max_new_tokens, samples=s,
                                      temperature=gs.temperature, seed=gs.seed,
                                      progress=progress).tokens)

    def gen_greedy() -> dict[str, np.ndarray]:
        return _flat(steered_generate(lm, job.vectors, coefs, ids,
                                      max_new_tokens=gs.max_new_tokens, progress=progress).tokens)

    sampled = _unflat(cached("sampled", gen_sampled))
    greedy = _unflat(cached("greedy", gen_greedy))
    decode = lm.tokenizer.decode  # type: ignore[attr-defined]  # a HF tokenizer
    s_text = [decode(t, skip_special_tokens=True) for t in sampled]
    g_text = [decode(t, skip_special_tokens=True) for t in greedy]
    row_prompt = np.tile(np.repeat(np.arange(n), s), c)
    verdicts = judge_all(judge, [job.asked[i] for i in row_prompt], s_text).reshape(c, n, s)
    g_verdicts = judge_all(judge, [job.asked[i] for i in np.tile(np.arange(n), c)],
                           g_text).reshape(c, n)
    m = generation_measures(coefs, verdicts, g_verdicts, n_boot=gs.n_boot, seed=gs.seed)
    zero = coefs.index(0.0)
    rows0 = list(range(zero * n * s, (zero + 1) * n * s))
    deltas = cached("deltas", lambda: {"delta": sequence_deltas(
        lm, job.vectors, [ids[i] for i in row_prompt[rows0]], [sampled[r] for r in rows0],
        method=gs.delta_method)})["delta"]
    pred = sequence_predictions(coefs, verdicts[zero], deltas.reshape(n, s), m.per_prompt,
                                n_boot=gs.n_boot, seed=gs.seed)
    assert m.b_greedy is not None and m.greedy_undecided is not None
    examples = [Example(coefs[ci], job.asked[0][-200:], g_text[ci * n], int(g_verdicts[ci, 0]))
                for ci in range(c)]
    seq, proxy = generation_claims(job, coefs, verdicts[zero], pred, m.per_prompt, gs)
    return BehaviorGeneration(job.behavior, judge.name, np.asarray(coefs), m.b_gen, m.undecided,
                              m.b_greedy, m.greedy_undecided,
                              token_b_at(coefs, job.token_b, gs.n_boot, gs.seed), pred, examples,
                              time.time() - t0, seq, proxy, np.asarray(m.per_prompt, dtype=float))


def generation_claims(job: GenerationInput, coefficients: Sequence[float], scores0: np.ndarray,
                      pred: SequencePredictions, measured: np.ndarray, gs: GenerationSettings
                      ) -> tuple[ClaimVerdict, ProxyBehavior | None]:
    """``claims.sequence_curve`` (the fit-free curve from the r = 0 samples ``scores0`` (N, S)
    vs the measured B_gen per prompt, ``measured`` (C, N); prompts without a decided reply at
    some coefficient left out) and ``claims.proxy_vs_behavior`` (next-token B of the same
    prompts vs B_gen; None when the next-token B was not measured)."""
    rs = Resampling(max(gs.n_boot, 20), seed=gs.seed)
    coefs = np.asarray(coefficients, dtype=float)
    meas = np.asarray(measured, dtype=float).T
    keep = np.isfinite(meas).all(1)
    seq = sequence_curve(f"B_gen, {job.behavior}", coefs, np.asarray(scores0)[keep],
                         np.asarray(pred.per_prompt_curve, dtype=float).T[keep], meas[keep],
                         resampling=rs)
    if job.token_b is None:
        return seq, None
    grid = [float(x) for x in job.token_b.grid]
    proxy = np.asarray(job.token_b.values, dtype=float)[:, [grid.index(float(x)) for x in coefs]]
    return seq, proxy_vs_behavior(coefs, proxy, meas, resampling=rs)


def token_b_at(coefficients: Sequence[float], token_b: NextTokenB | None, n_boot: int,
               seed: int) -> Interval[np.ndarray] | None:
    """The next-token B at the chosen coefficients, pooled over prompts."""
    if token_b is None:
        return None
    g = [float(x) for x in token_b.grid]
    missing = [float(x) for x in coefficients if float(x) not in g]
    if missing:
        raise ValueError(f"next-token B was not measured at r_e = {missing}: the generation "
                         "coefficients must lie on the token grid")
    idx = [g.index(float(x)) for x in coefficients]
    return mean_interval(np.asarray(token_b.values)[:, idx], n_boot, seed=seed)


def run_generation(lm: LoadedModel, jobs: Sequence[GenerationInput], grid: Sequence[float],
                   gs: GenerationSettings, cache: ChunkCache, progress: bool = False
                   ) -> GenerationResults:
    """The generation stage for every behavior's job."""
    res = GenerationResults(gs)
    for job in jobs:
        print(f"Generating {job.behavior} replies ({len(job.prompts)} prompts, {gs.samples} "
              f"samples, {gs.max_new_tokens} tokens)", file=sys.stderr)
        res.behaviors.append(run_behavior(lm, job, grid, gs, cache, progress=progress))
    return res
