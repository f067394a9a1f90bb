"""The stages of a run after ``prepared.prepare``: per behavior, the sweep of its reading vector
(``directions.sweep_direction``) and its analysis (``analysis.analyse``), the random-direction
control beside them, and the generation stage on the same sweep's next-token B; ``run`` chains
them into the typed ``Results`` that ``report.write`` renders."""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import numpy as np

from empirics import recommend
from empirics.analysis import analyse
from empirics.directions import DirectionRun, sweep_direction
from empirics.generation_stage import (
    GenerationInput,
    NextTokenB,
    pick_coefficients,
    run_generation,
)
from empirics.models import LoadedModel
from empirics.prepared import BehaviorSetup, Prepared
from empirics.random_sweeps import random_sweeps
from empirics.results import (
    BehaviorResults,
    DirectionSweep,
    GenerationResults,
    ModelInfo,
    RandomSweeps,
    Results,
    VectorExport,
)
from empirics.tasks import ScoredPrompt


def run(p: Prepared) -> Results:
    """The stages ``p.settings.measure`` asks for: the sweeps and their analysis per behavior
    (next-token B), the generation stage, or both; returns the typed ``Results``."""
    t0 = time.time()
    s = p.settings
    runs: dict[str, DirectionRun] = {}
    behaviors: list[BehaviorResults] = []
    sweeps: list[DirectionSweep] = []
    if s.measures_tokens:
        runs = sweep_directions(p)
        random = random_sweeps(p, s.random_directions)
        behaviors = analyse_all(p, runs, random)
        sweeps = [r.sweep for r in runs.values()] + (random.sweeps if random else [])
    generation = generation_stage(p, runs) if s.measures_generation else None
    if generation is not None:   # with both measured the recommendation rests on B_gen
        generation.behaviors[:] = [
            replace(g, recommendation=recommend.generated(
                p, runs[g.behavior], g, recommend.control_for(runs[g.behavior], s.recommend_on)))
            if g.behavior in runs else g for g in generation.behaviors]
    chosen = {g.behavior: g.recommendation.r for g in (generation.behaviors if generation else [])
              if g.recommendation is not None}
    lm, prov = p.lm, p.source.provenance
    model = ModelInfo(lm.name, lm.num_layers, lm.hidden_size,
                      str(lm.dtype).replace("torch.", ""), str(lm.device))
    exports = [VectorExport(b.behavior, p.behavior(b.behavior).vectors,
                            p.behavior(b.behavior).info.path,
                            chosen.get(b.behavior, b.recommendation.r), model_type(lm))
               for b in behaviors]
    return Results(s, model, p.layers, prov.location, prov.source, str(p.out), p.run_hash,
                   [b.info for b in p.behaviors], behaviors, sweeps, round(time.time() - t0, 1),
                   p.cache.reused, p.cache.computed, prov, exports, generation, plan=p.plan_link)


def sweep_directions(p: Prepared) -> dict[str, DirectionRun]:
    """Each behavior's reading vector over its prompts and the helpfulness prompts (with the
    final hidden states, for Proposition 1)."""
    t0 = time.time()
    s = p.settings
    runs: dict[str, DirectionRun] = {}
    for b in p.behaviors:
        print(f"Sweeping {b.name} reading vector over {len(s.grid)} coefficients",
              file=sys.stderr)
        runs[b.name] = sweep_direction(p, b.name, b.vectors.vectors,
                                       b.prompts + p.helpfulness_prompts, keep_hidden=True)
    print(f"sweeps done ({time.time() - t0:.0f} s)", file=sys.stderr)
    return runs


def analyse_all(p: Prepared, runs: dict[str, DirectionRun], random: RandomSweeps | None
                ) -> list[BehaviorResults]:
    t0 = time.time()
    behaviors = [analyse(p, runs[b.name], random) for b in p.behaviors]
    print(f"theory link, fits and verdicts done ({time.time() - t0:.0f} s)", file=sys.stderr)
    return behaviors


# ---------------------------------------------------------------------------- generation
def generation_items(p: Prepared, b: BehaviorSetup) -> tuple[list[ScoredPrompt], list[str],
                                                             list[str]]:
    """(the yes/no prompts whose next-token B is compared, the chat-formatted generation
    prompts, what the judge reads as the prompt), the same items in the same order, at most
    ``generation.prompts`` of them."""
    n = p.settings.generation.prompts
    if b.name == "harmfulness":
        items = [q for q in b.prompts if q.group == "harmful"][:n]
        # The authors' setting: the request itself, the reply judged refusing vs complying.
        return (items, [p.lm.format_chat(q.meta["instruction"]) for q in items],
                [q.meta["instruction"] for q in items])
    items = b.prompts[:n]
    # "Do you agree ...? Answer with Yes or No.", judged on the statement
    return items, [q.text for q in items], [q.meta.get("statement", q.text) for q in items]


def next_token_b(p: Prepared, b: BehaviorSetup, items: list[ScoredPrompt],
                 run: DirectionRun | None) -> NextTokenB:
    """The items' next-token B: rows of the token stage's sweep when it ran, else a sweep of
    the items at the generation coefficients alone."""
    if run is None:
        coefs = pick_coefficients(p.settings.grid, p.settings.generation.coefficients)
        run = sweep_direction(p, b.name, b.vectors.vectors, items, keep_hidden=False, grid=coefs)
    index = {q: i for i, q in enumerate(run.prompts)}
    places = [run.place(index[q]) for q in items]
    return NextTokenB(run.grid, np.stack([run.behavior(g).B[row] for g, row in places]))


def generation_stage(p: Prepared, runs: dict[str, DirectionRun]) -> GenerationResults:
    jobs = []
    for b in p.behaviors:
        items, texts, asked = generation_items(p, b)
        jobs.append(GenerationInput(b.name, b.vectors.vectors, texts, asked,
                                    next_token_b(p, b, items, runs.get(b.name))))
    return run_generation(p.lm, jobs, p.settings.grid, p.settings.generation, p.cache,
                          progress=p.settings.progress)


def model_type(lm: LoadedModel) -> str:
    """The HF ``config.model_type`` (repeng's / llama.cpp's model hint), ``llama`` if unknown."""
    config = getattr(getattr(lm, "model", None), "config", None)
    return str(getattr(config, "model_type", "") or "llama")
