"""The generation stage of the main job: steered replies at a few coefficients, judged, with the
sequence-level fit-free predictions from the samples at r_e = 0; returns ``GenerationResults``.

Defaults (``settings.GenerationSettings``; ~1.5 minutes on 2 CPU cores for the embedded model, see
docs/performance.md): per behavior 12 prompts x 5
coefficients x 4 samples x 24 new tokens (temperature 1), one greedy reply per prompt and
coefficient, δ(y) by central difference for the 48 samples at r_e = 0. Finished parts are cached (resumable).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from empirics.cache import vectors_hash
from empirics.generate import steered_generate
from empirics.judges import Judge, default_judge, judge_all
from empirics.measures import MeanCI, behavior_measures
from empirics.results import BehaviorGeneration, Example, GenerationResults
from empirics.sequence import (
    generation_measures,
    nan_bootstrap,
    sequence_deltas,
    sequence_predictions,
)
from empirics.settings import GenerationSettings
from empirics.sweep import sweep

if TYPE_CHECKING:
    from empirics.pipeline import Prepared


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


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


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


def run_behavior(lm: Any, behavior: str, vectors: dict[int, Any], prompt_texts: Sequence[str],
                 judge_texts: Sequence[str], grid: Sequence[float], gs: GenerationSettings,
                 cache: Any, vec_hash: str, token_b: Callable[[list[float]], MeanCI | None],
                 judge: Judge | None = None, progress: bool = False) -> BehaviorGeneration:
    """Generate (cached), judge, measure and predict for one behavior."""
    t0 = time.time()
    judge = judge or default_judge(behavior)
    texts = list(prompt_texts)[: gs.prompts]
    asked = list(judge_texts)[: gs.prompts]
    ids = [lm.encode(t) for t in texts]
    coefs = pick_coefficients(grid, gs.coefficients)
    base = _hash({"ids": ids, "vec": vec_hash, "coefs": coefs, "gs": asdict(gs)})
    n, c, s = len(ids), len(coefs), gs.samples

    def cached(tag: str, fn: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        key = f"gen-{behavior}-{tag}-{base}"
        got = cache.get(key, count=False)
        if got is None:
            got = fn()
            cache.put(key, got, count=False)
        return got

    def gen_sampled() -> dict[str, np.ndarray]:
        return _flat(steered_generate(lm, vectors, coefs, ids, max_new_tokens=gs.max_new_tokens,
                                      samples=s, temperature=gs.temperature, seed=gs.seed,
                                      progress=progress).tokens)

    def gen_greedy() -> dict[str, np.ndarray]:
        return _flat(steered_generate(lm, vectors, coefs, ids, max_new_tokens=gs.max_new_tokens,
                                      progress=progress).tokens)

    sampled = _unflat(cached("sampled", gen_sampled))
    greedy = _unflat(cached("greedy", gen_greedy))
    decode = lm.tokenizer.decode
    s_text = [decode(t, skip_special_tokens=True) for t in sampled]
    g_text = [decode(t, skip_special_tokens=True) for t in greedy]
    row_prompt = np.tile(np.repeat(np.arange(n), s), c)
    verdicts = judge_all(judge, [asked[i] for i in row_prompt], s_text).reshape(c, n, s)
    g_verdicts = judge_all(judge, [asked[i] for i in np.tile(np.arange(n), c)],
                           g_text).reshape(c, n)
    m = generation_measures(coefs, verdicts, g_verdicts, n_boot=gs.n_boot, seed=gs.seed)
    zero = coefs.index(0.0)
    rows0 = list(range(zero * n * s, (zero + 1) * n * s))
    deltas = cached("deltas", lambda: {"delta": sequence_deltas(
        lm, vectors, [ids[i] for i in row_prompt[rows0]], [sampled[r] for r in rows0],
        method=gs.delta_method)})["delta"]
    pred = sequence_predictions(coefs, verdicts[zero], deltas.reshape(n, s), m.per_prompt,
                                n_boot=gs.n_boot, seed=gs.seed)
    assert m.b_greedy is not None and m.greedy_undecided is not None
    examples = [Example(coefs[ci], asked[0][-200:], g_text[ci * n], int(g_verdicts[ci, 0]))
                for ci in range(c)]
    return BehaviorGeneration(behavior, judge.name, np.asarray(coefs), m.b_gen, m.undecided,
                              m.b_greedy, m.greedy_undecided, token_b(coefs), pred, examples,
                              time.time() - t0)


def token_b_at(coefficients: Sequence[float], grid: Sequence[float],
               per_prompt_b: np.ndarray | None, n_boot: int, seed: int) -> MeanCI | None:
    """The next-token B ``(C_grid, N)`` of the sweep, pooled, at the chosen coefficients."""
    if per_prompt_b is None:
        return None
    g = [float(x) for x in grid]
    idx = [g.index(float(x)) for x in coefficients]
    return nan_bootstrap(np.asarray(per_prompt_b)[idx], n_boot=n_boot, seed=seed)


# --------------------------------------------------------------------------- the main job


def generation_inputs(p: Prepared, behavior: str) -> tuple[list[str], list[str], list[Any]]:
    """(chat-formatted generation prompts, what the judge reads as the prompt, the yes/no
    prompts the next-token B is measured on), same items in the same order."""
    prompts = p.behavior_prompts[behavior]
    if behavior == "harmfulness":
        items = [q for q in prompts if q.group == "harmful"]
        # The authors' setting: the request itself, the reply judged refusing vs complying.
        texts = [p.lm.format_chat(q.meta["instruction"]) for q in items]
        asked = [q.meta["instruction"] for q in items]
    else:
        items = list(prompts)
        texts = [q.text for q in items]  # "Do you agree ...? Answer with Yes or No."
        asked = [q.meta.get("statement", q.text) for q in items]
    return texts, asked, items


def run_generation(p: Prepared) -> GenerationResults:
    """The generation stage for every behavior of ``p.settings`` (its ``generation`` sizes)."""
    s = p.settings
    gs = s.generation
    res = GenerationResults(gs)
    for behavior in s.behaviors:
        vectors = p.vectors[behavior].vectors
        texts, asked, items = generation_inputs(p, behavior)
        items = items[: gs.prompts]
        print(f"Generating {behavior} replies ({len(items)} prompts, {gs.samples} samples, "
              f"{gs.max_new_tokens} tokens)", file=sys.stderr)

        def token_b(coefs: list[float], vectors: Any = vectors, items: list[Any] = items) -> Any:
            sw = sweep(p.lm, vectors, coefs, [list(q.input_ids) for q in items],
                       [list(q.candidate_ids) for q in items], batch_size=s.batch_size)
            b = behavior_measures(np.asarray(sw.logprobs), items)["B"].T  # (C, N)
            return token_b_at(coefs, coefs, b, gs.n_boot, gs.seed)

        res.behaviors.append(run_behavior(p.lm, behavior, vectors, texts, asked, s.grid, gs,
                                          p.cache, vectors_hash(vectors), token_b,
                                          progress=s.progress))
    return res
